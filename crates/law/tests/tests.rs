//! Public behaviour of isoflop-law, one topic per module. Every fitter test uses data made
//! from known parameters; expected numbers are justified where they appear.

mod approaches;
mod average;
mod bootstrap;
mod e_prior;
mod example;
mod forms;
mod intervals;
mod pitfall;
mod plan;
mod real_data;
mod select;

use isoflop_law::synthetic::Sweep;

/// 60 runs: 6 budgets from 1e17 to 1e21 FLOPs, 10 models each with 2 to 500 tokens/param.
pub fn small_sweep() -> Sweep {
    Sweep::log_even(1e17, 1e21, 6, 10)
}

/// |got − want| ≤ rel · |want|, with a message naming the quantity.
#[track_caller]
pub fn close(what: &str, got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "{what}: got {got}, want {want} (±{:.2}%)",
        100.0 * rel
    );
}
