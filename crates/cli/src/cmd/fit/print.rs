//! What `isoflop fit` prints: the fitted law's table, warnings about what the data cannot
//! identify, and the progress bar of a long fit.

use crate::format::num;
use isoflop_law::{Fit, approaches};
use std::path::Path;

pub(super) struct FitBar {
    bar: indicatif::ProgressBar,
}

impl FitBar {
    pub(super) fn new(json: bool) -> Self {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let target =
            if json { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr_with_hz(4) };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:<20} [{bar:30}] {pos}/{len} · {elapsed} · {eta} left",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        Self { bar }
    }

    pub(super) fn update(&self, stage: isoflop_law::FitStage, done: usize, total: usize) {
        let msg = match stage {
            isoflop_law::FitStage::Starts => "fit: starts",
            isoflop_law::FitStage::Bootstrap => "bootstrap: resamples",
        };
        if self.bar.message() != msg {
            self.bar.set_message(msg);
            self.bar.reset();
            self.bar.set_length(total as u64);
        }
        // Workers report out of order: the bar only moves forward.
        self.bar.set_position(self.bar.position().max(done as u64));
    }

    pub(super) fn done(&self) {
        self.bar.finish_and_clear();
    }
}

/// The human table of a fit.
pub(super) fn print_fit(f: &Fit, data: &Path, saved: Option<&Path>) {
    let mut constraints = Vec::new();
    if f.options.tie_exponents {
        constraints.push("exponents tied".to_string());
    }
    if !f.options.bounds.is_empty() {
        constraints.push(format!("{} bounded", f.options.bounds.len()));
    }
    let note = if constraints.is_empty() {
        String::new()
    } else {
        format!(" ({})", constraints.join(", "))
    };
    println!("{} fit{note} of {} rows from {}", f.form, f.n_rows, data.display());
    println!("  {:<10} {:>14}   95% interval", "parameter", "value");
    let mut names = f.param_order.clone();
    names.extend(f.derived.keys().cloned());
    for name in &names {
        let v = f.params.get(name).or_else(|| f.derived.get(name)).copied().unwrap_or(f64::NAN);
        let iv = match f.intervals.get(name) {
            Some([lo, hi]) => format!("[{}, {}]", num(*lo), num(*hi)),
            None if f.fixed.contains(name) => "(fixed)".into(),
            None => String::new(),
        };
        println!("  {:<10} {:>14}   {}", name, num(v), iv);
    }
    println!("  objective  {:.6e} (summed Huber, δ = {})", f.objective, f.options.huber_delta);
    println!("  rmse_log   {:.5}", f.rmse_log);
    println!("  r2         {:.5}", f.r2);
    println!("  starts     {} reached the best objective of {}", f.starts_at_best, f.starts);
    if let Some(b) = &f.bootstrap {
        println!("  bootstrap  {} resamples, seed {}, {} failed", b.resamples, b.seed, b.failed);
    }
    if let Some(c) = &f.calibration {
        println!(
            "  intervals  widen by e^±{:.4} per unit of ln-distance beyond the fitted range \
             (calibrated on {} runs held out of {} leave-largest-out refits: {} inside before \
             widening, {} after; held out up to distance {:.2})",
            c.growth,
            c.heldout,
            c.splits,
            c.inside_uncalibrated,
            c.inside_calibrated,
            c.max_distance
        );
    }
    if let Some(h) = &f.holdout {
        println!("held-out runs (fitted without them):");
        println!(
            "  {:>12} {:>12} {:>12} {:>9} {:>9} {:>9}",
            "N", "D", "C", "actual", "predicted", "rel err"
        );
        for r in h {
            println!(
                "  {:>12.4e} {:>12.4e} {:>12.4e} {:>9.4} {:>9.4} {:>8.2}%",
                r.n,
                r.d,
                r.compute,
                r.actual,
                r.predicted,
                100.0 * r.rel_err
            );
        }
        let mean = h.iter().map(|r| r.rel_err.abs()).sum::<f64>() / h.len() as f64;
        println!("  mean |rel err| {:.2}%", 100.0 * mean);
        match isoflop_law::holdout_coverage(h) {
            (_, _, 0) => {}
            (inside, Some(before), total) => println!(
                "  inside their 95% prediction interval: {inside} of {total} (calibrated), \
                 {before} of {total} (in-sample, before widening)"
            ),
            (inside, None, total) => println!(
                "  inside their 95% prediction interval: {inside} of {total} (in-sample; \
                 --calibrate-intervals widens it beyond the fitted range)"
            ),
        }
    }
    if let Some(p) = saved {
        println!("saved {}", p.display());
    }
}

/// Says on stderr which parameters the rows cannot identify (the fit keeps them in
/// `warnings`): the numbers are an optimum, not the optimum.
pub(super) fn warn_unidentified(f: &Fit) {
    for w in &f.warnings {
        eprintln!("warning: the data cannot identify {w}");
    }
}

/// `  95% [lo, hi]` for a power law's exponent, when a bootstrap gave one.
pub(super) fn interval(p: &approaches::PowerLaw) -> String {
    p.exponent_interval.map(|[lo, hi]| format!("  95% [{lo:.4}, {hi:.4}]")).unwrap_or_default()
}
