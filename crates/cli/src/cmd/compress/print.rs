//! What `isoflop compress` prints for one compression.

use isoflop_train::compress::CompressReport;

fn opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.4}"))
}

pub(super) fn print_report(r: &CompressReport) {
    println!(
        "method        {}{}",
        r.method,
        r.scheme.map_or(String::new(), |s| format!(
            " ({} bits, {}, {})",
            s.bits,
            s.group_size.map_or("per channel".into(), |g| format!("groups of {g}")),
            if s.asymmetric { "asymmetric" } else { "symmetric" }
        ))
    );
    println!("source        {}", r.source);
    println!(
        "val loss      {:.4} → {:.4} (Δ {:+.4} nats/token)",
        r.loss_original, r.loss, r.loss_delta
    );
    println!(
        "OOD loss      {} → {} (Δ {})",
        opt(r.ood_loss_original),
        opt(r.ood_loss),
        r.ood_loss_delta.map_or("–".into(), |d| format!("{d:+.4}"))
    );
    if let Some(s) = &r.scratch {
        println!(
            "scratch       {:.4} val loss for the same student trained alone ({:+.4} vs distilled)",
            s.loss,
            s.loss - r.loss
        );
    }
    println!(
        "size          {} → {} bytes ({:.2}×) · {:.2} bits/param{}",
        r.bytes_original,
        r.bytes,
        r.bytes_original as f64 / r.bytes.max(1) as f64,
        r.bits_per_param,
        r.compressed_bits_per_weight
            .map_or(String::new(), |b| format!(" ({b:.2} in the compressed matrices)"))
    );
    if r.sparsity > 0.0 {
        println!("sparsity      {:.1}% of the block weights", 100.0 * r.sparsity);
    }
    println!(
        "time          {:.1} s: calibration {:.1}, compression {:.1}, recovery {:.1}, evaluation {:.1}",
        r.wall_seconds,
        r.calibration_seconds,
        r.compress_seconds,
        r.recover_seconds,
        r.eval_seconds
    );
    println!("evaluation    {}", r.evaluation);
    println!("file          {}", r.path.display());
}
