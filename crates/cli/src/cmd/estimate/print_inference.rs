//! The serving half of the default report: KV cache, memory, prefill and decode on the
//! roofline, and the checkpoint's size by storage format.

use isoflop_cost::ModelEstimate;

use crate::format::{bytes_both, dur};
use crate::output::thousands;

/// Prints the inference and storage sections.
pub fn print(e: &ModelEstimate) {
    let (inf, su) = (&e.inference.estimate, &e.inference.setup);
    println!();
    println!(
        "inference ({} weights, {} KV cache, batch {}, prompt {} + {} generated, {} × {}; roofline)",
        su.weights.precision,
        su.kv_precision,
        su.batch,
        su.prompt,
        su.generate,
        su.gpus,
        e.hardware.name
    );
    println!("  KV cache per token     {} bytes", thousands(inf.kv_cache_bytes_per_token as u64));
    println!("  weights                {}", bytes_both(inf.weights_bytes));
    println!("  KV cache, whole batch  {}", bytes_both(inf.kv_cache_bytes));
    println!(
        "  total                  {} ({}; largest batch that fits: {})",
        bytes_both(inf.memory_bytes),
        if inf.fits { "fits" } else { "DOES NOT FIT" },
        inf.max_batch
    );
    println!("  prefill                {}", dur(inf.prefill_seconds));
    println!(
        "  decode                 {} per step, {:.1} tokens/s ({})",
        dur(inf.decode_seconds_per_token),
        inf.decode_tokens_per_second,
        if inf.decode_memory_bound { "memory-bound" } else { "compute-bound" }
    );
    println!();
    println!("storage (weights; int formats with one scale per {} weights)", su.weights.group_size);
    for row in &e.storage {
        println!(
            "  {:<5} {:>7.4} B/param  {}",
            row.precision.to_string(),
            row.bytes_per_param,
            bytes_both(row.bytes)
        );
    }
}
