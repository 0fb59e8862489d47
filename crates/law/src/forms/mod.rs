//! The law forms: what each predicts, its parameters, and where its optimiser starts.
//!
//! Every form is a function of a fixed-size feature vector (see [`LawForm::point`]) and a raw
//! parameter vector, returning its prediction in *fit space* (the natural log of the loss for
//! every loss law, the metric itself for the sigmoid) together with the gradient with respect
//! to the raw parameters. Raw parameters are the ones the optimiser moves: a scale such as
//! Chinchilla's A is fitted as `ln A` so that a grid over orders of magnitude is a linear grid
//! and positivity comes for free. [`ParamSpec`] maps each raw parameter to its reported
//! (natural) value.
//!
//! A form is one type implementing [`LawForm`], in its own file with its formula and paper,
//! and one line in [`Form::ALL`] (the registry). Nothing else in the crate names a form: the
//! fit, the layout of fixed and tied parameters, the bootstrap, selection and planning ask
//! the form through the trait. What a form must give is its name, its parameters, how an
//! observation becomes features and a target, its prediction with gradient, and its grid of
//! starts; the rest (a vectorised objective, fixed defaults, tied exponents, derived
//! quantities, a closed-form optimum for planning) has defaults.

mod chinchilla;
mod chunked;
mod data_constrained;
mod kaplan;
mod kaplan_nd;
mod sigmoid;

pub use data_constrained::{R_D_STAR, R_N_STAR, UNIQUE_TOKENS_PER_PARAM};
pub use kaplan::KaplanVar;
pub use sigmoid::SigmoidAxis;

use crate::objective::MAX_PARAMS;
use crate::{Error, Observation, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Number of features a form reads from one observation.
pub(crate) const N_FEATURES: usize = 6;

/// One observation reduced to what a form needs: features and the fit-space target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: [f64; N_FEATURES],
    pub target: f64,
}

impl Point {
    /// A loss law's point: the given features and ln(loss) as the target.
    pub(crate) fn log_loss(x: [f64; N_FEATURES], o: &Observation) -> Self {
        Self { x, target: o.loss.ln() }
    }
}

/// How a raw (optimised) parameter maps to the reported one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// Reported = raw.
    Identity,
    /// Reported = exp(raw): the raw parameter is a log-scale.
    Log,
}

impl Transform {
    /// Raw → reported.
    pub fn to_natural(self, raw: f64) -> f64 {
        match self {
            Transform::Identity => raw,
            Transform::Log => raw.exp(),
        }
    }
    /// Reported → raw; `None` when the value is out of the transform's domain.
    pub fn to_raw(self, natural: f64) -> Option<f64> {
        match self {
            Transform::Identity => natural.is_finite().then_some(natural),
            Transform::Log => (natural > 0.0 && natural.is_finite()).then(|| natural.ln()),
        }
    }
}

/// One parameter of a form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamSpec {
    /// Reported name (`E`, `A`, `alpha`, ...), used in fit.json and by `--fix`.
    pub name: &'static str,
    /// How the raw value maps to the reported one.
    pub transform: Transform,
}

/// A parameter spec, for the forms' tables.
pub(crate) const fn p(name: &'static str, transform: Transform) -> ParamSpec {
    ParamSpec { name, transform }
}

/// What one law form is. Implemented once per form, in the form's own file; the crate reaches
/// a form only through this trait (see the module docs).
pub(crate) trait LawForm: Sync + Send {
    /// The text name the CLI takes and fit.json stores (`chinchilla`, `kaplan-n+E`, ...).
    fn name(&self) -> &'static str;

    /// The formula in one line, for help texts.
    fn formula(&self) -> &'static str;

    /// The form's parameters, in raw-vector order.
    fn params(&self) -> &'static [ParamSpec];

    /// Reduces an observation to the form's features and fit-space target.
    fn point(&self, o: &Observation) -> Result<Point>;

    /// Fit-space prediction at `x`; writes ∂/∂raw into `grad` when given.
    fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64;

    /// The optimiser's starting points (raw vectors), which may depend on the data's range.
    fn grid(&self, points: &[Point]) -> Vec<Vec<f64>>;

    /// Σ H_δ(f(θ; x_i) − y_i) over `points` at raw vector `raw`, with its raw gradient
    /// written into `g_raw`: the hot loop of every fit. The default is the plain per-point
    /// sum through [`LawForm::eval`]; forms fitted on large data override it with a chunked,
    /// vectorised loop (`chunked.rs`) or a per-point loop with the parameter count known.
    fn huber_sum(&self, raw: &[f64], points: &[Point], delta: f64, g_raw: &mut [f64]) -> f64 {
        huber_sum_dyn(raw, points, delta, g_raw, |r, x, g| self.eval(r, x, g))
    }

    /// Whether the fit-space prediction is ln(loss) (loss laws) or a metric itself.
    fn predicts_loss(&self) -> bool {
        true
    }

    /// Whether the form predicts loss from N and D, so that compute-optimal plans exist.
    fn plannable(&self) -> bool {
        false
    }

    /// The compute-optimal (N, D) at `c` FLOPs in closed form, from the parameters in
    /// reported units and the form's order; `None` where the plan is found numerically.
    fn closed_optimum(&self, _params: &[f64], _c: f64) -> Option<(f64, f64)> {
        None
    }

    /// Parameters held fixed unless the user frees them, with their values (reported units).
    fn default_fixed(&self) -> &'static [(&'static str, f64)] {
        &[]
    }

    /// The pair of exponents `--tie-exponents` makes equal, if the form has one.
    fn tied_exponents(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Picks one of several equivalent parameter sets (`is_free(i)`: raw parameter i was
    /// fitted, not fixed).
    fn canonicalize(&self, _raw: &mut [f64], _is_free: &dyn Fn(usize) -> bool) {}

    /// Quantities derived from the parameters (reported units, by name).
    fn derived(&self, _params: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        BTreeMap::new()
    }
}

/// A law form. Its text name (`chinchilla`, `kaplan-n`, `kaplan-n+E`, `kaplan-nd`,
/// `data-constrained`, `sigmoid`, `sigmoid-loss`) is what the CLI takes and fit.json stores;
/// [`Form::ALL`] lists them all. Two forms are equal when their names are.
#[derive(Clone, Copy)]
pub struct Form(&'static dyn LawForm);

impl Form {
    /// Every form, in the order help texts list them: the registry. Adding a form is one
    /// file implementing `LawForm` and one line here.
    pub const ALL: &'static [Form] = &[
        chinchilla::FORM,
        kaplan::N,
        kaplan::D,
        kaplan::C,
        kaplan::N_E,
        kaplan::D_E,
        kaplan::C_E,
        kaplan_nd::FORM,
        data_constrained::FORM,
        sigmoid::COMPUTE,
        sigmoid::LOSS,
    ];
}

/// The forms by their former enum names, so that code written against them reads unchanged.
#[allow(non_upper_case_globals)]
impl Form {
    /// L = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2).
    pub const Chinchilla: Form = chinchilla::FORM;
    /// L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020, eq. 1.5).
    pub const KaplanNd: Form = kaplan_nd::FORM;
    /// Chinchilla with effective data and parameters under repetition (Muennighoff et al. 2023).
    pub const DataConstrained: Form = data_constrained::FORM;
}

impl Form {
    /// L = (X_c/X)^α_X, plus E when `irreducible` (Kaplan et al. 2020, eqs. 1.1–1.3).
    pub const fn kaplan(var: KaplanVar, irreducible: bool) -> Form {
        kaplan::form(var, irreducible)
    }

    /// y = floor + (ceiling − floor)·σ(k(x − x0)) for a downstream metric.
    pub const fn sigmoid(axis: SigmoidAxis) -> Form {
        sigmoid::form(axis)
    }

    /// The form's text name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The formula in one line.
    pub fn formula(&self) -> &'static str {
        self.0.formula()
    }

    /// The form's parameters, in raw-vector order.
    pub fn params(&self) -> &'static [ParamSpec] {
        self.0.params()
    }

    /// Index of a parameter by its reported name.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params().iter().position(|s| s.name == name)
    }

    /// Parameters held fixed unless the user frees them, with their values (reported units).
    /// The data-constrained law fixes R_N* and R_D* at Muennighoff et al.'s fitted values.
    pub fn default_fixed(&self) -> &'static [(&'static str, f64)] {
        self.0.default_fixed()
    }

    /// The pair of exponents `--tie-exponents` makes equal, if the form has one.
    pub fn tied_exponents(&self) -> Option<(&'static str, &'static str)> {
        self.0.tied_exponents()
    }

    /// Whether the fit-space prediction is ln(loss) (all laws) or the value itself (sigmoid).
    pub fn log_space(&self) -> bool {
        self.0.predicts_loss()
    }

    /// Whether the form predicts loss (as opposed to a downstream metric).
    pub fn is_loss_law(&self) -> bool {
        self.0.predicts_loss()
    }

    /// Whether the form predicts loss from both N and D, so that it can be planned with.
    pub fn plannable(&self) -> bool {
        self.0.plannable()
    }

    /// The same law with an irreducible loss E added (`kaplan-n` → `kaplan-n+E`), if the
    /// registry has one.
    pub fn with_irreducible(&self) -> Option<Form> {
        let name = format!("{}+E", self.name());
        Form::ALL.iter().copied().find(|f| f.name() == name)
    }

    pub(crate) fn point(&self, o: &Observation) -> Result<Point> {
        self.0.point(o)
    }

    #[inline]
    pub(crate) fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
        self.0.eval(raw, x, grad)
    }

    pub(crate) fn grid(&self, points: &[Point]) -> Vec<Vec<f64>> {
        self.0.grid(points)
    }

    /// See [`LawForm::huber_sum`]: one dynamic call per evaluation of the objective, each
    /// form's loop compiled with its parameter count known.
    pub(crate) fn huber_sum(
        &self,
        raw: &[f64],
        points: &[Point],
        delta: f64,
        g_raw: &mut [f64],
    ) -> f64 {
        self.0.huber_sum(raw, points, delta, g_raw)
    }

    pub(crate) fn canonicalize(&self, raw: &mut [f64], layout: &crate::layout::Layout) {
        self.0.canonicalize(raw, &|i| layout.is_free(i))
    }

    pub(crate) fn derived(&self, params: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
        self.0.derived(params)
    }

    pub(crate) fn closed_optimum(&self, params: &[f64], c: f64) -> Option<(f64, f64)> {
        self.0.closed_optimum(params, c)
    }

    /// A prediction in natural units (loss, or the metric) for one observation.
    pub(crate) fn predict_raw(&self, raw: &[f64], o: &Observation) -> Result<f64> {
        let mut o = o.clone();
        if !self.log_space() && o.metric.is_none() {
            // A metric law's point wants its target; the prediction does not use it.
            o.metric = Some(0.0);
        }
        let pt = self.point(&o)?;
        let f = self.eval(raw, &pt.x, None);
        Ok(if self.log_space() { f.exp() } else { f })
    }
}

/// Cartesian product of per-parameter grids, in order.
pub(crate) fn product(axes: &[&[f64]]) -> Vec<Vec<f64>> {
    let mut out = vec![Vec::with_capacity(axes.len())];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.iter().map(move |&v| {
                    let mut p = prefix.clone();
                    p.push(v);
                    p
                })
            })
            .collect();
    }
    out
}

/// Numerically careful ln(Σ exp(t_i)) and the softmax weights exp(t_i − lse), in place.
///
/// Fast path: sum the exps directly, which is exact whenever the sum is a finite normal
/// number (every t_i below ~709 and not all below ~−708); it avoids the data-dependent branch
/// of finding the largest term, which mispredicts on about every other point of a sweep whose
/// dominant term changes with N and D. Otherwise fall back to factoring out the largest term.
#[inline(always)]
pub(crate) fn log_sum_exp<const K: usize>(t: [f64; K], w: &mut [f64; K]) -> f64 {
    let mut s = 0.0;
    for i in 0..K {
        w[i] = t[i].exp();
        s += w[i];
    }
    if s.is_finite() && s >= f64::MIN_POSITIVE {
        let inv = 1.0 / s;
        for wi in w.iter_mut() {
            *wi *= inv;
        }
        return s.ln();
    }
    log_sum_exp_shifted(t, w)
}

#[cold]
fn log_sum_exp_shifted<const K: usize>(t: [f64; K], w: &mut [f64; K]) -> f64 {
    let m = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        w.iter_mut().for_each(|x| *x = f64::NAN);
        return m;
    }
    let mut s = 0.0;
    for i in 0..K {
        w[i] = (t[i] - m).exp();
        s += w[i];
    }
    for wi in w.iter_mut() {
        *wi /= s;
    }
    m + s.ln()
}

#[cfg(test)]
#[test]
fn log_sum_exp_survives_extremes() {
    let mut w = [0.0; 3];
    // ln(e^800 + e^799 + 1) = 800 + ln(1 + e^-1).
    let f = log_sum_exp([800.0, 799.0, 0.0], &mut w);
    assert!((f - (800.0 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-12);
    assert!((w[0] + w[1] - 1.0).abs() < 1e-15);
    let f = log_sum_exp([-800.0, -801.0, -900.0], &mut w);
    assert!((f - (-800.0 + (1.0 + (-1.0f64).exp()).ln())).abs() < 1e-12);
    let f = log_sum_exp([0.5, -1.0, 2.0], &mut w);
    let direct = (0.5f64.exp() + (-1.0f64).exp() + 2.0f64.exp()).ln();
    assert!((f - direct).abs() < 1e-15);
}

/// Σ H_δ over the points through a per-point `eval`, with the parameter count `NP` known at
/// compile time (forms without a chunked loop call this from their `huber_sum`).
#[inline(always)]
pub(crate) fn huber_sum_per_point<const NP: usize>(
    raw: &[f64],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
    eval: impl Fn(&[f64], &[f64; N_FEATURES], Option<&mut [f64]>) -> f64,
) -> f64 {
    let raw: &[f64; NP] = raw.try_into().expect("raw vector length matches the form");
    let mut g = [0.0; NP];
    let mut gp = [0.0; NP];
    let mut total = 0.0;
    for p in points {
        let r = eval(raw, &p.x, Some(&mut gp)) - p.target;
        total += crate::huber::huber(r, delta);
        let h = crate::huber::huber_grad(r, delta);
        for k in 0..NP {
            g[k] += h * gp[k];
        }
    }
    g_raw[..NP].copy_from_slice(&g);
    total
}

/// [`huber_sum_per_point`] for any parameter count (the trait's default).
fn huber_sum_dyn(
    raw: &[f64],
    points: &[Point],
    delta: f64,
    g_raw: &mut [f64],
    eval: impl Fn(&[f64], &[f64; N_FEATURES], Option<&mut [f64]>) -> f64,
) -> f64 {
    let np = raw.len();
    let mut g = [0.0; MAX_PARAMS];
    let mut gp = [0.0; MAX_PARAMS];
    let mut total = 0.0;
    for p in points {
        let r = eval(raw, &p.x, Some(&mut gp[..np])) - p.target;
        total += crate::huber::huber(r, delta);
        let h = crate::huber::huber_grad(r, delta);
        for k in 0..np {
            g[k] += h * gp[k];
        }
    }
    g_raw[..np].copy_from_slice(&g[..np]);
    total
}

impl PartialEq for Form {
    fn eq(&self, other: &Form) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Form {}

impl std::hash::Hash for Form {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl fmt::Debug for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Form({})", self.name())
    }
}

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Form {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Form::ALL.iter().copied().find(|f| f.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<&str> = Form::ALL.iter().map(|f| f.name()).collect();
            Error::InvalidOption(format!(
                "unknown form `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl Serialize for Form {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Form {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered form's analytic gradient against central differences, at starts
    /// from across its own grid (so a new form is checked without touching this test).
    #[test]
    fn gradients_match_finite_differences() {
        let mut o = Observation::new(3.0e8, 5.0e9, 2.9);
        o.u = Some(1.0e9);
        o.metric = Some(0.4);
        for &form in Form::ALL {
            let pt = form.point(&o).unwrap();
            let grid = form.grid(&[pt]);
            for raw in [&grid[grid.len() / 3], &grid[grid.len() / 2], &grid[2 * grid.len() / 3]] {
                // Off the grid's round values, where some terms would cancel exactly.
                let raw: Vec<f64> = raw.iter().map(|v| v * 0.93 + 0.011).collect();
                let mut g = vec![0.0; raw.len()];
                form.eval(&raw, &pt.x, Some(&mut g));
                for i in 0..raw.len() {
                    let h = 1e-6 * raw[i].abs().max(1.0);
                    let (mut up, mut dn) = (raw.clone(), raw.clone());
                    up[i] += h;
                    dn[i] -= h;
                    let fd =
                        (form.eval(&up, &pt.x, None) - form.eval(&dn, &pt.x, None)) / (2.0 * h);
                    assert!(
                        (fd - g[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                        "{form} at {raw:?} d/d{}: {} vs {fd}",
                        form.params()[i].name,
                        g[i]
                    );
                }
                // The form's objective agrees with the plain per-point sum through its eval.
                let pts = [pt, Point { target: pt.target + 0.01, ..pt }];
                let (mut g1, mut g2) = (vec![0.0; raw.len()], vec![0.0; raw.len()]);
                let v1 = form.huber_sum(&raw, &pts, 1e-3, &mut g1);
                let v2 = huber_sum_dyn(&raw, &pts, 1e-3, &mut g2, |r, x, g| form.eval(r, x, g));
                assert!((v1 - v2).abs() <= 1e-12 * (1.0 + v2.abs()), "{form}: {v1} vs {v2}");
                for (a, b) in g1.iter().zip(&g2) {
                    assert!((a - b).abs() <= 1e-10 * (1.0 + b.abs()), "{form}: {g1:?} vs {g2:?}");
                }
            }
        }
    }

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &form in Form::ALL {
            assert_eq!(form.to_string().parse::<Form>().unwrap(), form);
            assert!(seen.insert(form.name()), "two forms are named {form}");
            assert!(form.params().len() <= MAX_PARAMS, "{form} has too many parameters");
            for (name, _) in form.default_fixed() {
                assert!(form.param_index(name).is_some(), "{form} fixes unknown `{name}`");
            }
            if let Some((a, b)) = form.tied_exponents() {
                assert!(form.param_index(a).is_some() && form.param_index(b).is_some());
            }
        }
        assert!("chinchila".parse::<Form>().unwrap_err().to_string().contains("unknown form"));
        assert_eq!(
            Form::kaplan(KaplanVar::N, false).with_irreducible().unwrap().name(),
            "kaplan-n+E"
        );
        assert_eq!(Form::Chinchilla.with_irreducible(), None);
    }
}
