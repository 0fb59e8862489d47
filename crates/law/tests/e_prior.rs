//! Issue 14: E held to a prior. On sweeps of small models only, where a free fit's E wanders
//! by ±0.2 nats between seeds, an interval around the true E keeps the fitted E inside it and
//! extrapolates far beyond the sweep at least as well as the free fit; selection with the
//! `-eprior` candidates chooses one or finds it within the noise of the best.

use isoflop_law::synthetic::{HOFFMANN, Sweep, chinchilla_loss};
use isoflop_law::{
    Candidate, EPrior, FitOptions, Observation, SelectOptions, SelectRule, fit, select,
};

/// Hoffmann et al.'s law (E = 1.69) on 7 budgets from 1e15 to 1e18 FLOPs, 8 models each
/// (N from 6e5 to 3e8), 1% noise: the loss still falls steeply there and E is poorly pinned.
pub fn small_models(seed: u64) -> Vec<Observation> {
    Sweep::log_even(1e15, 1e18, 7, 8)
        .with_noise(0.01, seed)
        .observe(|n, d| chinchilla_loss(&HOFFMANN, n, d))
}

/// Mean |relative error| at N = 1e9, 7e9, 7e10 with 20 tokens per parameter: 3 to 250 times
/// the largest model fitted.
pub fn far_error(predict: impl Fn(f64, f64) -> f64) -> f64 {
    let targets = [1e9, 7e9, 7e10];
    targets
        .iter()
        .map(|&n| (predict(n, 20.0 * n) / chinchilla_loss(&HOFFMANN, n, 20.0 * n) - 1.0).abs())
        .sum::<f64>()
        / targets.len() as f64
}

pub fn base() -> FitOptions {
    FitOptions { grid_stride: 5, ..FitOptions::default() }
}

#[test]
fn an_e_prior_holds_and_extrapolates_no_worse_where_e_is_poorly_identified() {
    let prior: EPrior = "1.6:1.8".parse().unwrap();
    let bounded = prior.apply(&base()).unwrap();
    let fixed = EPrior::Fixed(HOFFMANN[0]).apply(&base()).unwrap();
    let (mut free_err, mut prior_err, mut fixed_err) = (0.0, 0.0, 0.0);
    let (mut e_lo, mut e_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let seeds = 1..=6u64;
    for seed in seeds.clone() {
        let obs = small_models(seed);
        let free = fit(&obs, &base()).unwrap();
        let with = fit(&obs, &bounded).unwrap();
        let at = fit(&obs, &fixed).unwrap();
        let (e_free, e) = (free.params["E"], with.params["E"]);
        (e_lo, e_hi) = (e_lo.min(e_free), e_hi.max(e_free));
        assert!(prior.contains(e), "seed {seed}: fitted E {e} outside the prior {prior}");
        assert_eq!(at.params["E"], HOFFMANN[0]);
        assert!(at.fixed.contains(&"E".to_string()));
        let errs = [
            far_error(|n, d| free.predict(n, d)),
            far_error(|n, d| with.predict(n, d)),
            far_error(|n, d| at.predict(n, d)),
        ];
        eprintln!("seed {seed}: E free {e_free:.3}, in prior {e:.3}; far errors {errs:.4?}");
        free_err += errs[0];
        prior_err += errs[1];
        fixed_err += errs[2];
    }
    // The premise: the free fit's E is poorly identified by these runs (seeds 1-6 measured
    // 1.53 to 1.96 around the true 1.69).
    assert!(e_hi - e_lo > 0.2, "free E in [{e_lo}, {e_hi}]: not the sweep this test needs");
    let k = seeds.count() as f64;
    let (free_err, prior_err, fixed_err) = (free_err / k, prior_err / k, fixed_err / k);
    eprintln!(
        "mean far error: free {free_err:.4}, E in prior {prior_err:.4}, E fixed {fixed_err:.4}"
    );
    // Measured: free 3.5%, E in [1.6, 1.8] 2.3%, E at the truth 0.3%.
    assert!(prior_err <= free_err, "prior {prior_err} vs free {free_err}");
    assert!(fixed_err < 0.5 * prior_err, "fixed {fixed_err} vs prior {prior_err}");
}

#[test]
fn selection_chooses_the_e_prior_or_finds_it_within_the_noise() {
    let prior: EPrior = "1.6:1.8".parse().unwrap();
    let names = ["chinchilla", "chinchilla-tied", "chinchilla-eprior", "chinchilla-tied-eprior"];
    let candidates: Vec<Candidate> = names
        .iter()
        .map(|n| Candidate::parse_with_prior(n, &base(), Some(&prior)).unwrap())
        .collect();
    // Bounding E keeps its free parameter (fixing it takes one away, below).
    let free: Vec<usize> = candidates.iter().map(|c| c.options.free_params().unwrap()).collect();
    assert_eq!(free, [5, 4, 5, 4]);
    assert!(
        candidates[2].options.bounds.contains_key("E") && candidates[0].options.bounds.is_empty()
    );
    let o = SelectOptions {
        candidates,
        rule: SelectRule::LargestSizes,
        quantile: 0.8,
        average: false,
        calibrate_intervals: false,
    };
    for seed in 1..=6 {
        let f = select(&small_models(seed), &o).unwrap();
        let s = f.selection.unwrap();
        let ep = s.candidates.iter().find(|c| c.name == "chinchilla-eprior").unwrap();
        eprintln!("seed {seed}: {}", s.decision);
        assert_eq!(ep.free_params, 5);
        // Not clearly worse, as `select::picks` reads it: within two standard errors. Where
        // the free fit's E already lies inside the prior the two fits differ by a hair, and
        // so can their paired standard error (seed 3: 0.004% ± 0.0036%).
        assert!(
            s.chosen.ends_with("-eprior")
                || ep.within_noise
                || ep.margin.unwrap() <= 2.0 * ep.margin_se.unwrap(),
            "seed {seed}: chose {} and chinchilla-eprior is worse by {:?} ± {:?}",
            s.chosen,
            ep.margin,
            ep.margin_se
        );
        if s.chosen.ends_with("-eprior") {
            assert!(prior.contains(f.params["E"]), "refit E {} outside {prior}", f.params["E"]);
        }
    }
    let fixed =
        Candidate::parse_with_prior("chinchilla-tied-eprior", &base(), Some(&EPrior::Fixed(1.7)))
            .unwrap();
    assert_eq!(fixed.options.free_params().unwrap(), 3);
    let e = Candidate::parse("chinchilla-eprior", &base()).unwrap_err().to_string();
    assert!(e.contains("candidate `chinchilla-eprior` needs an E prior"), "{e}");
    let e = Candidate::parse_with_prior("kaplan-nd-eprior", &base(), Some(&prior)).unwrap_err();
    assert!(e.to_string().contains("has no irreducible loss E"), "{e}");
}
