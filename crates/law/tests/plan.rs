//! Planning: the closed form equals a numeric minimisation, the variants invert each other,
//! and paying for inference makes the model smaller and longer-trained.

use crate::{close, small_sweep};
use isoflop_law::synthetic::{HOFFMANN, chinchilla_loss};
use isoflop_law::{Fit, FitOptions, Form, fit, plan};

fn hoffmann_fit() -> Fit {
    let obs = small_sweep().observe(|n, d| chinchilla_loss(&HOFFMANN, n, d));
    fit(&obs, &FitOptions { grid_stride: 9, bootstrap: 20, seed: 1, ..FitOptions::default() })
        .unwrap()
}

#[test]
fn closed_form_equals_numeric_minimisation() {
    let f = hoffmann_fit();
    for c in [1e19, 5.76e23, 1e26] {
        let p = plan::compute_optimal(&f, c).unwrap();
        assert_eq!(p.method, "closed-form");
        assert!(p.numeric_check.unwrap() < 1e-6, "closed vs numeric at {c}: {:?}", p.numeric_check);
        // Brute force: no N on a fine grid along C = 6ND does better than N_opt.
        let loss = |n: f64| f.predict(n, c / (6.0 * n));
        for k in -50..=50 {
            let n = p.n_opt * (1.0 + 0.002 * f64::from(k));
            assert!(loss(n) >= p.loss - 1e-12, "N = {n} beats N_opt = {} at C = {c}", p.n_opt);
        }
        close("C = 6ND", 6.0 * p.n_opt * p.d_opt, c, 1e-12);
        // Noise-free data: the bootstrap refits agree with the point estimate to the optimiser's
        // precision, so the interval is a sliver around it.
        let [lo, hi] = p.loss_interval.unwrap();
        assert!(lo - 1e-6 <= p.loss && p.loss <= hi + 1e-6, "{lo} {} {hi}", p.loss);
    }
    // With Hoffmann's parameters, G = (αA/(βB))^(1/(α+β)) and a = β/(α+β) = 0.28/0.62.
    let g: f64 = (0.34f64 * 406.4 / (0.28 * 410.7)).powf(1.0 / 0.62);
    let p = plan::compute_optimal(&f, 6e24).unwrap();
    close("N_opt", p.n_opt, g * 1e24f64.powf(0.28 / 0.62), 2e-2);
}

#[test]
fn variants_invert_each_other() {
    let f = hoffmann_fit();
    let p = plan::compute_optimal(&f, 1e23).unwrap();
    let t = plan::for_target_loss(&f, p.loss).unwrap();
    close("compute for target loss", t.compute, 1e23, 1e-6);
    let q = plan::for_params(&f, p.n_opt).unwrap();
    close("compute for params", q.compute, 1e23, 1e-6);
    close("D for params", q.d_opt, p.d_opt, 1e-6);
    assert!(plan::for_target_loss(&f, 1.0).unwrap_err().to_string().contains("out of reach"));
}

#[test]
fn inference_makes_the_model_smaller_and_longer_trained() {
    let f = hoffmann_fit();
    let none = plan::inference_aware(&f, 1e23, 0.0).unwrap();
    close("no inference: N", none.n, none.chinchilla.n_opt, 1e-4);
    let p = plan::inference_aware(&f, 1e23, 1e13).unwrap();
    assert!(p.n_ratio < 0.9 && p.d_ratio > 1.1, "{p:?}");
    close("same loss", f.predict(p.n, p.d), p.loss, 1e-9);
    assert!(p.flops_saved > 0.0);
    // A target loss with inference demand is the same question asked from the loss side.
    let q = plan::inference_aware_for_loss(&f, p.loss, 1e13).unwrap();
    close("same N from the loss", q.n, p.n, 1e-5);
    close("same D from the loss", q.d, p.d, 1e-5);
    assert!(plan::inference_aware_for_loss(&f, 1.0, 1e13).is_err());
}

#[test]
fn forms_without_n_and_d_are_refused_and_kaplan_nd_plans_numerically() {
    let obs = small_sweep().observe(|n, _| (8.8e13 / n).powf(0.076));
    let kn = fit(
        &obs,
        &FitOptions { grid_stride: 4, ..FitOptions::for_form("kaplan-n".parse().unwrap()) },
    )
    .unwrap();
    let e = plan::compute_optimal(&kn, 1e21).unwrap_err().to_string();
    assert!(e.contains("form kaplan-n cannot be planned"), "{e}");
    let obs =
        small_sweep().observe(|n, d| ((6.4e13 / n).powf(0.076 / 0.103) + 1.8e13 / d).powf(0.103));
    let nd =
        fit(&obs, &FitOptions { grid_stride: 4, ..FitOptions::for_form(Form::KaplanNd) }).unwrap();
    let p = plan::compute_optimal(&nd, 1e21).unwrap();
    assert_eq!(p.method, "numeric");
    let loss = |n: f64| nd.predict(n, 1e21 / (6.0 * n));
    assert!(loss(p.n_opt * 1.01) >= p.loss && loss(p.n_opt * 0.99) >= p.loss);
}

#[test]
fn a_model_average_plans_with_its_weighted_mean_loss() {
    use isoflop_law::{AVERAGE_SCHEME, Average, AverageMember};
    // Two laws that part at large budgets: Hoffmann's (α = 0.34, β = 0.28) and one with β =
    // 0.34, each fitted (with a bootstrap) on its own noise-free sweep.
    let law = |beta: f64| move |n: f64, d: f64| 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(beta);
    let opts = FitOptions { grid_stride: 9, bootstrap: 10, seed: 1, ..FitOptions::default() };
    let a = fit(&small_sweep().observe(law(0.28)), &opts).unwrap();
    let b = fit(&small_sweep().observe(law(0.34)), &opts).unwrap();
    let member = |name: &str, weight: f64, fit: &Fit| AverageMember {
        name: name.into(),
        weight,
        z: 0.0,
        fit: fit.clone(),
    };
    let avg = Average {
        scheme: AVERAGE_SCHEME.into(),
        members: vec![member("a", 0.7, &a), member("b", 0.3, &b)],
    };
    let c = 1e24;
    let p = plan::compute_optimal_average(&avg, c).unwrap();
    assert_eq!(p.method, "average");
    let (pa, pb) = (plan::compute_optimal(&a, c).unwrap(), plan::compute_optimal(&b, c).unwrap());
    // The average's optimum lies between its members' and minimises the weighted mean: no N
    // on a grid of 1e-3 nats along C = 6ND does better.
    let (lo, hi) = (pa.n_opt.min(pb.n_opt), pa.n_opt.max(pb.n_opt));
    assert!(lo < p.n_opt && p.n_opt < hi, "{} not in [{lo}, {hi}]", p.n_opt);
    let mean = |n: f64| avg.predict(n, c / (6.0 * n));
    close("loss", p.loss, mean(p.n_opt), 1e-12);
    for k in -2000..=2000 {
        let n = p.n_opt * (1e-3 * f64::from(k)).exp();
        assert!(mean(n) >= p.loss - 1e-12, "N = {n} beats N_opt = {}", p.n_opt);
    }
    let members = p.average.as_ref().unwrap();
    close("member a's own N_opt", members[0].n_opt, pa.n_opt, 1e-12);
    assert!(p.n_opt_interval.is_some_and(|[l, h]| l <= lo * 1.01 && h >= hi * 0.99));
    // A target loss inverts the budget; a size, the same budget.
    let t = plan::for_target_loss_average(&avg, p.loss).unwrap();
    close("compute for the plan's loss", t.compute, c, 1e-6);
    let s = plan::for_params_average(&avg, p.n_opt).unwrap();
    close("compute at which N_opt is optimal", s.compute, c, 1e-6);
    // One member of weight 1 plans as its fit's closed form does, to the precision of a
    // search on a surface this flat at its minimum (as `numeric_check`, within 1e-6).
    let one = Average { scheme: AVERAGE_SCHEME.into(), members: vec![member("a", 1.0, &a)] };
    close("N_opt", plan::compute_optimal_average(&one, c).unwrap().n_opt, pa.n_opt, 1e-6);
}
