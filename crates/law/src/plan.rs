//! From a fitted law to a training plan: the compute-optimal model size N and token count D.
//!
//! For Chinchilla's law L = E + A/N^α + B/D^β under C = 6ND (Hoffmann et al. 2022, eq. 4):
//!
//! G = (αA / (βB))^(1/(α+β)),  a = β/(α+β),  b = α/(α+β),
//! N_opt(C) = G · (C/6)^a,      D_opt(C) = G⁻¹ · (C/6)^b.
//!
//! Every other loss law in N and D (kaplan-nd, data-constrained with U = D) is planned
//! numerically: a golden-section search over ln N along the budget line D = C/(6N). The closed
//! form is always cross-checked against that search ([`Plan::numeric_check`]).
//!
//! Variants: the least compute reaching a target loss ([`for_target_loss`]), the compute at
//! which a given N is optimal and its D ([`for_params`]), and the N, D that minimise training
//! plus inference FLOPs 6ND + 2NT for T inference tokens at the same loss ([`inference_aware`];
//! Sardana et al. 2023, "Beyond Chinchilla-Optimal", section 2). C in FLOPs, N in parameters,
//! D and T in tokens, loss in nats per token.
//!
//! A model average (`fit --select --select-average`, [`Average`]) plans with its weighted-mean
//! loss L̄(N, D) = Σ w_i L_i(N, D) ([`compute_optimal_average`], [`for_target_loss_average`],
//! [`for_params_average`]): N_opt(C) minimises L̄(N, C/(6N)), by golden section over ln N
//! bracketed by the members' own optima (each L_i is convex in ln N along the budget line for
//! Chinchilla's form, so the sum's minimum lies between theirs). Its intervals are percentiles
//! of the weighted mixture of the members' bootstrap plans, as `predict`'s are of their
//! predictions ([`Average::predict_interval_obs`]).

use crate::average::weighted_interval;
use crate::{Average, Error, Fit, Form, Observation, Result, percentile_interval};
use serde::{Deserialize, Serialize};

/// A compute-optimal plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Training FLOPs C.
    pub compute: f64,
    /// Compute-optimal parameters.
    pub n_opt: f64,
    /// Compute-optimal tokens.
    pub d_opt: f64,
    /// D_opt / N_opt.
    pub tokens_per_param: f64,
    /// Predicted loss at (N_opt, D_opt).
    pub loss: f64,
    /// Bootstrap 95% interval of the loss (when the fit has samples).
    pub loss_interval: Option<[f64; 2]>,
    /// Bootstrap 95% interval of N_opt.
    pub n_opt_interval: Option<[f64; 2]>,
    /// Bootstrap 95% interval of D_opt.
    pub d_opt_interval: Option<[f64; 2]>,
    /// `closed-form` or `numeric`.
    pub method: String,
    /// |N_opt(closed form) − N_opt(numeric)| / N_opt, when the closed form applies.
    pub numeric_check: Option<f64>,
    /// For a model average (`method` = `average`): each member's weight, its own optimum at
    /// the same compute and its loss at the average's (N_opt, D_opt). Plans of one law have
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average: Option<Vec<PlanMember>>,
}

/// One member of an averaged plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMember {
    /// The candidate's name.
    pub name: String,
    /// Its weight in the average.
    pub weight: f64,
    /// Its own compute-optimal N at the plan's compute.
    pub n_opt: f64,
    /// Its loss at the average's (N_opt, D_opt).
    pub loss: f64,
}

/// A plan that pays for inference too (Sardana et al. 2023).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferencePlan {
    /// Inference tokens T over the model's life.
    pub inference_tokens: f64,
    /// The loss both plans reach.
    pub loss: f64,
    /// Parameters minimising 6ND + 2NT at that loss.
    pub n: f64,
    /// Its training tokens.
    pub d: f64,
    /// Its tokens per parameter.
    pub tokens_per_param: f64,
    /// Its training FLOPs 6ND.
    pub train_flops: f64,
    /// Its inference FLOPs 2NT.
    pub inference_flops: f64,
    /// The compute-optimal (training-only) plan at the same loss.
    pub chinchilla: Plan,
    /// Training plus inference FLOPs of the Chinchilla plan.
    pub chinchilla_total_flops: f64,
    /// n / chinchilla.n_opt (below 1: a smaller model).
    pub n_ratio: f64,
    /// d / chinchilla.d_opt (above 1: trained longer).
    pub d_ratio: f64,
    /// 1 − total / chinchilla_total: the share of lifetime FLOPs saved.
    pub flops_saved: f64,
}

/// A loss surface L(N, D) that can be planned with: one law, or a model average.
trait Surface {
    fn loss(&self, n: f64, d: f64) -> f64;

    /// (N_opt, D_opt) at compute C.
    fn optimum(&self, c: f64) -> (f64, f64);

    /// How the optimum is found: `closed-form`, `numeric` or `average`.
    fn method(&self) -> &'static str;

    /// |N_opt(closed form) − N_opt(numeric)| / N_opt at C, when a closed form applies.
    fn numeric_check(&self, c: f64, n: f64) -> Option<f64>;

    fn optimal_loss(&self, c: f64) -> f64 {
        let (n, d) = self.optimum(c);
        self.loss(n, d)
    }
}

/// A law with a fixed parameter vector (the point estimate or one bootstrap sample).
struct Law<'a> {
    fit: &'a Fit,
    p: Vec<f64>,
}

impl Law<'_> {
    /// Whether the form has a closed-form optimum (Chinchilla's, eq. 4).
    fn closed_form(&self) -> bool {
        self.fit.form.closed_optimum(&self.p, 1.0).is_some()
    }

    /// (N_opt, D_opt) at C by golden section over ln N on D = C/(6N), tokens per parameter
    /// between 1e-4 and 1e8.
    fn numeric(&self, c: f64) -> (f64, f64) {
        let half = (c / 6.0).ln() / 2.0;
        along_budget(self, c, half - 0.5 * 1e8f64.ln(), half + 0.5 * 1e4f64.ln())
    }
}

impl Surface for Law<'_> {
    fn loss(&self, n: f64, d: f64) -> f64 {
        self.fit.predict_with(&self.p, &Observation::new(n, d, 1.0))
    }

    fn optimum(&self, c: f64) -> (f64, f64) {
        self.fit.form.closed_optimum(&self.p, c).unwrap_or_else(|| self.numeric(c))
    }

    fn method(&self) -> &'static str {
        if self.closed_form() { "closed-form" } else { "numeric" }
    }

    fn numeric_check(&self, c: f64, n: f64) -> Option<f64> {
        self.closed_form().then(|| (self.numeric(c).0 - n).abs() / n)
    }
}

/// A model average's weighted-mean loss, each member at its point estimate.
struct Mixed<'a> {
    members: Vec<(f64, Law<'a>)>,
}

impl<'a> Mixed<'a> {
    fn of(avg: &'a Average) -> Self {
        Self { members: avg.members.iter().map(|m| (m.weight, point_law(&m.fit))).collect() }
    }
}

impl Surface for Mixed<'_> {
    fn loss(&self, n: f64, d: f64) -> f64 {
        self.members.iter().map(|(w, l)| w * l.loss(n, d)).sum()
    }

    /// Golden section over ln N on D = C/(6N), bracketed by the members' own optima (widened
    /// by half a nat, so that members agreeing on one N still leave a bracket).
    fn optimum(&self, c: f64) -> (f64, f64) {
        let xs = self.members.iter().map(|(_, l)| l.optimum(c).0.ln());
        let (lo, hi) =
            xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
        along_budget(self, c, lo - 0.5, hi + 0.5)
    }

    fn method(&self) -> &'static str {
        "average"
    }

    fn numeric_check(&self, _: f64, _: f64) -> Option<f64> {
        None
    }
}

/// (N, D) minimising `law` on D = C/(6N) with ln N in [lo, hi].
fn along_budget(law: &impl Surface, c: f64, lo: f64, hi: f64) -> (f64, f64) {
    let x = golden(lo, hi, |x| {
        let n = x.exp();
        law.loss(n, c / (6.0 * n))
    });
    let n = x.exp();
    (n, c / (6.0 * n))
}

/// Minimiser of a unimodal `f` on [lo, hi] by golden-section search to 1e-10 in x.
fn golden(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut x1, mut x2) = (hi - r * (hi - lo), lo + r * (hi - lo));
    let (mut f1, mut f2) = (f(x1), f(x2));
    while hi - lo > 1e-10 {
        if f1 <= f2 {
            hi = x2;
            x2 = x1;
            f2 = f1;
            x1 = hi - r * (hi - lo);
            f1 = f(x1);
        } else {
            lo = x1;
            x1 = x2;
            f1 = f2;
            x2 = lo + r * (hi - lo);
            f2 = f(x2);
        }
    }
    (lo + hi) / 2.0
}

/// Root of an increasing `f` on [lo, hi] by bisection (f(lo) < 0 < f(hi) assumed).
fn bisect(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) < 0.0 {
            lo = mid
        } else {
            hi = mid
        }
        if hi - lo < 1e-12 * (1.0 + mid.abs()) {
            break;
        }
    }
    0.5 * (lo + hi)
}

fn check_plannable(fit: &Fit) -> Result<()> {
    if fit.form.plannable() {
        return Ok(());
    }
    let can: Vec<&str> = Form::ALL.iter().filter(|f| f.plannable()).map(|f| f.name()).collect();
    Err(Error::InvalidOption(format!(
        "form {} cannot be planned with: it does not predict loss from both N and D \
         (fit one of {})",
        fit.form,
        can.join(", ")
    )))
}

fn check_positive(what: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidOption(format!("{what} must be > 0, got {v}")))
    }
}

/// The plan at compute `c` for one law or an average; bootstrap intervals added by the callers.
fn plan_at(law: &impl Surface, c: f64) -> Plan {
    let (n, d) = law.optimum(c);
    Plan {
        compute: c,
        n_opt: n,
        d_opt: d,
        tokens_per_param: d / n,
        loss: law.loss(n, d),
        loss_interval: None,
        n_opt_interval: None,
        d_opt_interval: None,
        method: law.method().into(),
        numeric_check: law.numeric_check(c, n),
        average: None,
    }
}

/// One plan per bootstrap sample of `fit` (`at` maps a sample's law to its plan; a sample
/// without one is left out), or `None` without a bootstrap.
fn sample_plans(fit: &Fit, at: &(impl Fn(&Law<'_>) -> Option<Plan> + Sync)) -> Option<Vec<Plan>> {
    use rayon::prelude::*;
    let b = fit.bootstrap.as_ref().filter(|b| !b.samples.is_empty())?;
    Some(b.samples.par_iter().filter_map(|s| at(&Law { fit, p: s.clone() })).collect())
}

/// Adds bootstrap intervals: `at` maps one sample's law to its plan.
fn with_intervals(fit: &Fit, mut plan: Plan, at: impl Fn(&Law<'_>) -> Option<Plan> + Sync) -> Plan {
    let Some(plans) = sample_plans(fit, &at) else { return plan };
    let col =
        |f: fn(&Plan) -> f64| percentile_interval(&plans.iter().map(f).collect::<Vec<_>>(), 0.95);
    plan.loss_interval = col(|p| p.loss);
    plan.n_opt_interval = col(|p| p.n_opt);
    plan.d_opt_interval = col(|p| p.d_opt);
    plan
}

/// An averaged plan's intervals and members: percentiles of the weighted mixture of every
/// member's bootstrap plans (a member without a bootstrap adds its point plan; no intervals
/// when no member has one), as [`Average::predict_interval_obs`] mixes predictions. `at`
/// maps one member's law to its plan.
fn with_mixture(
    avg: &Average,
    mut plan: Plan,
    at: impl Fn(&Law<'_>) -> Option<Plan> + Sync,
) -> Plan {
    let mut draws: Vec<(Plan, f64)> = Vec::new();
    let mut any_bootstrap = false;
    let mut members = Vec::new();
    for m in &avg.members {
        let own = at(&point_law(&m.fit));
        let plans = match sample_plans(&m.fit, &at) {
            Some(p) => {
                any_bootstrap = true;
                p
            }
            None => own.iter().cloned().collect(),
        };
        let w = m.weight / plans.len().max(1) as f64;
        draws.extend(plans.into_iter().map(|p| (p, w)));
        members.push(PlanMember {
            name: m.name.clone(),
            weight: m.weight,
            n_opt: own.map_or(f64::NAN, |p| p.n_opt),
            loss: point_law(&m.fit).loss(plan.n_opt, plan.d_opt),
        });
    }
    if any_bootstrap {
        let col = |f: fn(&Plan) -> f64| {
            weighted_interval(&mut draws.iter().map(|(p, w)| (f(p), *w)).collect(), 0.95)
        };
        plan.loss_interval = col(|p| p.loss);
        plan.n_opt_interval = col(|p| p.n_opt);
        plan.d_opt_interval = col(|p| p.d_opt);
    }
    plan.average = Some(members);
    plan
}

fn check_average(avg: &Average) -> Result<()> {
    avg.members.iter().try_for_each(|m| {
        check_plannable(&m.fit)
            .map_err(|e| Error::InvalidOption(format!("average member `{}`: {e}", m.name)))
    })
}

fn point_law(fit: &Fit) -> Law<'_> {
    Law { fit, p: fit.param_vector() }
}

/// The compute-optimal N and D for `compute` FLOPs.
pub fn compute_optimal(fit: &Fit, compute: f64) -> Result<Plan> {
    check_plannable(fit)?;
    check_positive("compute", compute)?;
    let plan = plan_at(&point_law(fit), compute);
    Ok(with_intervals(fit, plan, |law| Some(plan_at(law, compute))))
}

/// Least compute whose optimal loss is `target` (bisection on ln C over 1 to 1e40 FLOPs).
fn compute_for_loss(law: &impl Surface, target: f64) -> Option<f64> {
    let (lo, hi) = (1.0f64.ln(), 1e40f64.ln());
    if law.optimal_loss(hi.exp()) > target || law.optimal_loss(lo.exp()) < target {
        return None;
    }
    Some(bisect(lo, hi, |x| target - law.optimal_loss(x.exp())).exp())
}

/// The least-compute plan reaching `target` under one parameter vector (a bootstrap
/// sample, in reported units), or `None` when no budget between 1 and 1e40 FLOPs does.
pub(crate) fn target_loss_plan_with(fit: &Fit, p: Vec<f64>, target: f64) -> Option<Plan> {
    let law = Law { fit, p };
    compute_for_loss(&law, target).map(|c| plan_at(&law, c))
}

/// The least compute (and its N, D) that reaches `target` loss.
pub fn for_target_loss(fit: &Fit, target: f64) -> Result<Plan> {
    check_plannable(fit)?;
    check_positive("target loss", target)?;
    let law = point_law(fit);
    let c = compute_for_loss(&law, target).ok_or_else(|| {
        let floor = fit
            .params
            .get("E")
            .map(|e| format!(" (irreducible loss E = {e:.4})"))
            .unwrap_or_default();
        Error::InvalidOption(format!(
            "target loss {target} is out of reach between 1 and 1e40 FLOPs{floor}"
        ))
    })?;
    let plan = plan_at(&law, c);
    Ok(with_intervals(fit, plan, |l| compute_for_loss(l, target).map(|c| plan_at(l, c))))
}

fn compute_for_params(law: &impl Surface, n: f64) -> Option<f64> {
    let (lo, hi) = (1.0f64.ln(), 1e40f64.ln());
    let f = |x: f64| law.optimum(x.exp()).0.ln() - n.ln();
    if f(lo) > 0.0 || f(hi) < 0.0 {
        return None;
    }
    Some(bisect(lo, hi, f).exp())
}

/// The budget at which `n` parameters is compute-optimal, and its D.
pub fn for_params(fit: &Fit, n: f64) -> Result<Plan> {
    check_plannable(fit)?;
    check_positive("params", n)?;
    let law = point_law(fit);
    let c = compute_for_params(&law, n).ok_or_else(|| {
        Error::InvalidOption(format!(
            "no budget between 1 and 1e40 FLOPs makes {n} parameters optimal"
        ))
    })?;
    let plan = plan_at(&law, c);
    Ok(with_intervals(fit, plan, |l| compute_for_params(l, n).map(|c| plan_at(l, c))))
}

/// The compute-optimal N and D for `compute` FLOPs under a model average's weighted-mean loss
/// (see the module docs), with the members' own optima beside it.
pub fn compute_optimal_average(avg: &Average, compute: f64) -> Result<Plan> {
    check_average(avg)?;
    check_positive("compute", compute)?;
    let plan = plan_at(&Mixed::of(avg), compute);
    Ok(with_mixture(avg, plan, |law| Some(plan_at(law, compute))))
}

/// The least compute (and its N, D) at which a model average's compute-optimal loss reaches
/// `target`.
pub fn for_target_loss_average(avg: &Average, target: f64) -> Result<Plan> {
    check_average(avg)?;
    check_positive("target loss", target)?;
    let c = compute_for_loss(&Mixed::of(avg), target).ok_or_else(|| {
        Error::InvalidOption(format!(
            "target loss {target} is out of reach of the model average between 1 and 1e40 FLOPs"
        ))
    })?;
    let plan = plan_at(&Mixed::of(avg), c);
    Ok(with_mixture(avg, plan, |l| compute_for_loss(l, target).map(|c| plan_at(l, c))))
}

/// The budget at which `n` parameters is compute-optimal under a model average, and its D.
pub fn for_params_average(avg: &Average, n: f64) -> Result<Plan> {
    check_average(avg)?;
    check_positive("params", n)?;
    let c = compute_for_params(&Mixed::of(avg), n).ok_or_else(|| {
        Error::InvalidOption(format!(
            "no budget between 1 and 1e40 FLOPs makes {n} parameters optimal for the model average"
        ))
    })?;
    let plan = plan_at(&Mixed::of(avg), c);
    Ok(with_mixture(avg, plan, |l| compute_for_params(l, n).map(|c| plan_at(l, c))))
}

/// Tokens D with L(n, D) = target, or `None` if n is too small to reach it at any D ≤ 1e40.
fn tokens_for_loss(law: &impl Surface, n: f64, target: f64) -> Option<f64> {
    let (lo, hi) = (0.0f64, 1e40f64.ln());
    if law.loss(n, hi.exp()) > target {
        return None;
    }
    if law.loss(n, lo.exp()) < target {
        return Some(1.0);
    }
    Some(bisect(lo, hi, |x| target - law.loss(n, x.exp())).exp())
}

/// The N, D minimising 6ND + 2NT among models reaching the loss of the compute-optimal plan
/// at `compute` FLOPs, for `inference_tokens` T.
pub fn inference_aware(fit: &Fit, compute: f64, inference_tokens: f64) -> Result<InferencePlan> {
    check_plannable(fit)?;
    check_positive("compute", compute)?;
    check_inference_tokens(inference_tokens)?;
    let chin = compute_optimal(fit, compute)?;
    Ok(cheapest_at_loss(fit, chin, inference_tokens))
}

/// The N, D minimising 6ND + 2NT among models reaching `target` loss, for `inference_tokens`
/// T: Sardana et al. 2023's own question (section 2: a quality target and an expected
/// inference demand), compared with the least-compute plan for the same loss.
pub fn inference_aware_for_loss(
    fit: &Fit,
    target: f64,
    inference_tokens: f64,
) -> Result<InferencePlan> {
    check_inference_tokens(inference_tokens)?;
    let chin = for_target_loss(fit, target)?;
    Ok(cheapest_at_loss(fit, chin, inference_tokens))
}

fn check_inference_tokens(t: f64) -> Result<()> {
    if !(t >= 0.0 && t.is_finite()) {
        return Err(Error::InvalidOption(format!("inference tokens must be >= 0, got {t}")));
    }
    Ok(())
}

/// The search behind both inference-aware plans, at the loss `chin` reaches.
fn cheapest_at_loss(fit: &Fit, chin: Plan, inference_tokens: f64) -> InferencePlan {
    let law = point_law(fit);
    let target = chin.loss;
    let t = inference_tokens;
    let total = |ln_n: f64| {
        let n = ln_n.exp();
        match tokens_for_loss(&law, n, target) {
            Some(d) => 6.0 * n * d + 2.0 * n * t,
            None => f64::INFINITY,
        }
    };
    // Coarse scan for the basin (the feasible set is N above some minimum), then golden section.
    let centre = chin.n_opt.ln();
    let xs: Vec<f64> = (0..=300).map(|i| centre - 12.0 + 15.0 * i as f64 / 300.0).collect();
    let k = (0..xs.len()).min_by(|&i, &j| total(xs[i]).total_cmp(&total(xs[j]))).unwrap();
    let (lo, hi) = (xs[k.saturating_sub(1)], xs[(k + 1).min(xs.len() - 1)]);
    let x = golden(lo, hi, total);
    let n = x.exp();
    let d = tokens_for_loss(&law, n, target).unwrap_or(f64::NAN);
    let chin_total = 6.0 * chin.n_opt * chin.d_opt + 2.0 * chin.n_opt * t;
    let mine = 6.0 * n * d + 2.0 * n * t;
    InferencePlan {
        inference_tokens: t,
        loss: target,
        n,
        d,
        tokens_per_param: d / n,
        train_flops: 6.0 * n * d,
        inference_flops: 2.0 * n * t,
        n_ratio: n / chin.n_opt,
        d_ratio: d / chin.d_opt,
        flops_saved: 1.0 - mine / chin_total,
        chinchilla_total_flops: chin_total,
        chinchilla: chin,
    }
}
