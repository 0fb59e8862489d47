//! The averaged-Huber pitfall (Besiroglu et al. 2024, section 3): with L-BFGS's absolute
//! stopping rules, averaging the Huber loss over points makes the objective and its changes
//! 1/n as large, so the optimiser stops almost where it starts. Started from Hoffmann et al.'s
//! published values (eq. 10: E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28) on data whose
//! truth is Besiroglu et al.'s refit (E = 1.8172, A = 477.8, B = 2143, α = 0.3473,
//! β = 0.3672), the summed objective must still reach the grid search's optimum.

use isoflop_law::synthetic::{Sweep, chinchilla_loss};
use isoflop_law::{FitOptions, Reduction, fit};
use std::collections::BTreeMap;

#[test]
fn summed_huber_reaches_the_optimum_from_hoffmanns_values_and_averaged_does_not() {
    let truth = [1.8172, 477.8, 2143.0, 0.3473, 0.3672];
    let obs = Sweep::log_even(1e18, 1e22, 9, 20)
        .with_noise(0.01, 5)
        .observe(|n, d| chinchilla_loss(&truth, n, d));
    let grid = fit(&obs, &FitOptions { grid_stride: 2, ..FitOptions::default() }).unwrap();
    let hoffmann: BTreeMap<String, f64> =
        [("E", 1.69), ("A", 406.4), ("B", 410.7), ("alpha", 0.34), ("beta", 0.28)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    let from = |reduction| {
        fit(
            &obs,
            &FitOptions { starts: vec![hoffmann.clone()], reduction, ..FitOptions::default() },
        )
        .unwrap()
    };
    let summed = from(Reduction::Sum);
    let averaged = from(Reduction::Mean);
    // The summed fit from Hoffmann's values matches the grid search's optimum.
    assert!(
        (summed.objective - grid.objective).abs() <= 1e-4 * grid.objective,
        "{} vs {}",
        summed.objective,
        grid.objective
    );
    for k in ["alpha", "beta"] {
        assert!(
            (summed.params[k] - grid.params[k]).abs() < 2e-3,
            "{k}: {} vs {}",
            summed.params[k],
            grid.params[k]
        );
    }
    // The averaged fit stops near the start: β stays far below the optimum's.
    let n = obs.len() as f64;
    println!(
        "grid {:?}\nsummed {:?}\naveraged {:?} (objective x n = {})",
        grid.params,
        summed.params,
        averaged.params,
        averaged.objective * n
    );
    assert!(
        averaged.objective * n > 1.05 * grid.objective,
        "averaged reached {} vs {}",
        averaged.objective * n,
        grid.objective
    );
    assert!(
        (averaged.params["beta"] - grid.params["beta"]).abs() > 0.02,
        "averaged beta {}",
        averaged.params["beta"]
    );
}

/// Loss that grows with N at fixed D has no Chinchilla law with α > 0: the fit's best α is
/// negative, the compute-optimal split is not a number, and the error names the exponent
/// rather than only the derived value it broke (seen on Porian et al.'s OWT2 tuned sweep).
#[test]
fn a_negative_exponent_is_named_in_the_error() {
    let obs = Sweep::log_even(1e15, 1e18, 6, 8)
        .observe(|n, d| 1.5 + 0.02 * n.powf(0.15) + 400.0 / d.powf(0.3));
    let err = fit(&obs, &FitOptions::default()).unwrap_err().to_string();
    assert!(err.contains("unusable law"), "{err}");
    assert!(err.contains("`alpha` = -") && err.contains("bound it above 0"), "{err}");
}
