//! `--search`: the fastest layouts that fit, as a table.

use isoflop_cost::{self as cost, ModelEstimate, SearchResult};

use crate::format::bytes_both;

/// Prints the search's table under the default report.
pub fn print(r: &SearchResult, e: &ModelEstimate) {
    println!();
    println!(
        "layout search on {} × {}: {} layouts enumerated, {} fit in {:.0}% of {}; fastest {} (step time modelled without overlap)",
        e.layout.gpus,
        e.hardware.name,
        r.enumerated,
        r.fitting,
        cost::USABLE_MEMORY * 100.0,
        bytes_both(e.hardware.memory_bytes),
        r.best.len()
    );
    if r.best.is_empty() {
        println!(
            "  nothing fits: add GPUs, use a larger GPU, or a lighter recipe (--recipe adam8bit)"
        );
        return;
    }
    println!(
        "  {:>3} {:>3} {:>4} {:>4} {:>9} {:>5} {:>11} {:>11} {:>9} {:>8} {:>8} {:>10}",
        "tp",
        "pp",
        "dp",
        "zero",
        "recompute",
        "mb",
        "memory GiB",
        "step s",
        "bubble %",
        "comm %",
        "days",
        "layout MFU"
    );
    for c in &r.best {
        let l = c.layout;
        let step = c.step.total();
        println!(
            "  {:>3} {:>3} {:>4} {:>4} {:>9} {:>5} {:>11.2} {:>11.3} {:>9.1} {:>8.1} {:>8.1} {:>9.1}%",
            l.tp,
            l.pp,
            l.dp,
            l.zero,
            l.recompute.to_string(),
            l.micro_batch,
            cost::gib(c.memory.total()),
            step,
            c.step.bubble / step * 100.0,
            c.step.comm.total() / step * 100.0,
            c.train_seconds / cost::DAY,
            e.layout_mfu(c) * 100.0,
        );
    }
}
