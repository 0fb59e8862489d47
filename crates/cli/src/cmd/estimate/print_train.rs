//! The training half of the default report: the model, parameters, FLOPs, memory per GPU and
//! time.

use isoflop_cost::{self as cost, ModelEstimate, Recompute};

use crate::format::{bytes_both, dur, flops_rate, sci, sig3};
use crate::output::thousands;

/// Prints the model line and the parameters, FLOPs, training memory and time sections.
pub fn print(e: &ModelEstimate) {
    let s = &e.model.shape;
    let p = &e.params;
    println!(
        "model {}: {}, {} layers, d_model {}, {} heads ({} KV) of {}, d_ff {}, vocab {}, context {}, {} embeddings",
        e.model.name,
        s.family,
        s.n_layer,
        s.d_model,
        s.n_head,
        s.n_kv_heads,
        s.head_dim,
        s.d_ff,
        s.vocab,
        s.context,
        if s.tied_embeddings { "tied" } else { "untied" }
    );
    println!();
    println!("parameters");
    println!("  total          {:>18}", thousands(p.total));
    println!("  embedding      {:>18}", thousands(p.embedding));
    println!("  non-embedding  {:>18}", thousands(p.non_embedding));
    println!();
    let f = &e.flops;
    println!("FLOPs ({}: {})", f.convention, f.formula);
    println!("  per token, forward            {}", sci(f.per_token_forward));
    println!("  per token, forward+backward   {}", sci(f.per_token_train));
    println!("  tokens                        {} ({})", sci(f.tokens), f.tokens_source);
    println!("  training total                {} FLOPs", sci(f.train_total));
    let l = &e.layout.layout;
    if l.recompute != Recompute::None {
        println!(
            "  {:<29} {} FLOPs (hardware; MFU counts the line above)",
            format!("with {} recomputation", l.recompute),
            sci(f.train_total_with_recompute)
        );
    }
    println!();
    memory(e);
    println!();
    time(e);
}

fn memory(e: &ModelEstimate) {
    let l = &e.layout.layout;
    let m = &e.memory;
    println!(
        "training memory per GPU ({}; tp {} × pp {} × dp {} = {} GPU(s), ZeRO-{}, micro-batch {} × {} tokens, {} micro-batches, recompute {}{}{})",
        m.recipe,
        l.tp,
        l.pp,
        l.dp,
        l.gpus(),
        l.zero,
        l.micro_batch,
        l.seq,
        e.layout.micro_batches,
        l.recompute,
        if l.sequence_parallel { ", sequence parallel" } else { "" },
        if l.flash_attention { ", flash attention" } else { "" },
    );
    let parts = &m.parts;
    for (part, bytes) in [
        ("weights", parts.weights),
        ("gradients", parts.gradients),
        ("optimizer", parts.optimizer),
        ("activations", parts.activations),
        ("total", m.per_gpu_bytes),
    ] {
        println!("  {part:<12} {}", bytes_both(bytes));
    }
    println!(
        "  {} on {} ({} capacity, {:.0}% usable)",
        if m.fits { "fits" } else { "DOES NOT FIT" },
        e.hardware.name,
        bytes_both(m.capacity_bytes),
        cost::USABLE_MEMORY * 100.0
    );
}

fn time(e: &ModelEstimate) {
    let t = &e.time;
    println!(
        "training time on {} × {} at {:.1}% MFU ({}; {} peak {})",
        t.gpus,
        e.hardware.name,
        t.mfu * 100.0,
        t.mfu_source,
        e.memory.recipe.compute_precision(),
        flops_rate(t.peak_flops_per_gpu)
    );
    println!(
        "  {} days ({} s), {} GPU-hours",
        sig3(t.train_days),
        sci(t.train_seconds),
        sig3(t.gpu_hours)
    );
    let st = &t.layout_model;
    println!(
        "  layout model, per step: compute {}, bubble {}, tensor-parallel comm {}, data-parallel comm {}, pipeline comm {}: {} × {} steps = {} days (no overlap: an upper bound)",
        dur(st.compute_seconds),
        dur(st.bubble_seconds),
        dur(st.comm_seconds.tensor_parallel),
        dur(st.comm_seconds.data_parallel),
        dur(st.comm_seconds.pipeline),
        dur(st.step_seconds),
        sci(st.steps),
        sig3(st.train_seconds / cost::DAY)
    );
}
