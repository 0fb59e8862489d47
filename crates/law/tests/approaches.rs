//! Approaches 1 and 2 recover the compute-optimal exponents of a known law:
//! with Hoffmann's α = 0.34, β = 0.28, a = β/(α+β) = 0.4516 and b = α/(α+β) = 0.5484.

use isoflop_law::synthetic::{HOFFMANN, Sweep, chinchilla_loss};
use isoflop_law::{Observation, approaches};

const A_TRUE: f64 = 0.28 / 0.62;

#[test]
fn isoflop_profiles_recover_the_exponents_and_refuse_unbracketed_budgets() {
    // Ratios 1 to 2,000 tokens/param bracket the optimum (20 to 120) at every budget below.
    let mut sweep = Sweep::log_even(1e18, 1e22, 9, 15);
    sweep.r_min = 1.0;
    sweep.r_max = 2000.0;
    let obs = sweep.observe(|n, d| chinchilla_loss(&HOFFMANN, n, d));
    let iso = approaches::isoflop(&obs, 0.1, 50, 3).unwrap();
    assert!(iso.warnings.is_empty(), "{:?}", iso.warnings);
    assert_eq!(iso.budgets.len(), 9);
    assert!((iso.n_opt.exponent - A_TRUE).abs() < 0.02, "a = {}", iso.n_opt.exponent);
    assert!((iso.n_opt.exponent + iso.d_opt.exponent - 1.0).abs() < 1e-9);
    let [lo, hi] = iso.n_opt.exponent_interval.unwrap();
    assert!(lo <= iso.n_opt.exponent && iso.n_opt.exponent <= hi);
    // Only very long-trained models at the top budget: its vertex lies below the sampled N.
    let mut skewed = obs.clone();
    skewed.extend((0..6).map(|k| {
        let n = 1e8 * 1.5f64.powi(k);
        let d = 1e23 / (6.0 * n);
        Observation { c: Some(1e23), ..Observation::new(n, d, chinchilla_loss(&HOFFMANN, n, d)) }
    }));
    let iso = approaches::isoflop(&skewed, 0.1, 0, 0).unwrap();
    assert_eq!(iso.warnings.len(), 1, "{:?}", iso.warnings);
    assert!(
        iso.warnings[0].starts_with("budget 1.000e23 FLOPs (6 runs) refused: the vertex N"),
        "{}",
        iso.warnings[0]
    );
}

#[test]
fn envelope_of_training_curves_recovers_the_exponent() {
    // 25 model sizes, each a curve of 40 checkpoints; the loss at a checkpoint is the law's
    // loss at that many tokens (as if each checkpoint were a finished run).
    let mut obs = Vec::new();
    for i in 0..25 {
        let n = 1e7 * 10f64.powf(i as f64 / 8.0);
        for k in 1..=40 {
            let t = n * 10f64.powf(k as f64 / 10.0 - 0.5);
            let mut o = Observation::new(n, t, chinchilla_loss(&HOFFMANN, n, t));
            o.run = Some(format!("m{i}"));
            o.tokens = Some(t);
            obs.push(o);
        }
    }
    let env = approaches::envelope(&obs, 200, 0, 0).unwrap();
    // The envelope hops between 25 discrete sizes, so its slope is a coarse estimate.
    assert!((env.n_opt.exponent - A_TRUE).abs() < 0.05, "a = {}", env.n_opt.exponent);
    assert!(env.n_opt.exponent_interval.is_none());

    // The bootstrap over runs brackets the estimate, and the interval is reproducible by seed.
    let boot = approaches::envelope(&obs, 200, 200, 7).unwrap();
    assert_eq!(boot.n_opt.exponent, env.n_opt.exponent);
    let [lo, hi] = boot.n_opt.exponent_interval.expect("an interval");
    assert!(lo < env.n_opt.exponent && env.n_opt.exponent < hi, "[{lo}, {hi}]");
    assert!(hi - lo < 0.2, "[{lo}, {hi}] is too wide for exact data");
    let [dlo, dhi] = boot.d_opt.exponent_interval.expect("an interval");
    assert!(dlo < boot.d_opt.exponent && boot.d_opt.exponent < dhi);
    let again = approaches::envelope(&obs, 200, 200, 7).unwrap();
    assert_eq!(again.n_opt.exponent_interval, boot.n_opt.exponent_interval);

    // Noise widens it: the same sweep with 2% noise on every loss.
    let mut rng = 1u64;
    let noisy: Vec<Observation> = obs
        .iter()
        .map(|o| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = (rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let mut o = o.clone();
            o.loss *= 1.0 + 0.04 * u;
            o
        })
        .collect();
    let wide = approaches::envelope(&noisy, 200, 200, 7).unwrap();
    let [wlo, whi] = wide.n_opt.exponent_interval.expect("an interval");
    assert!(whi - wlo > hi - lo, "noisy [{wlo}, {whi}] vs exact [{lo}, {hi}]");
}
