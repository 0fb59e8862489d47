//! The law forms: what each predicts, its parameters, and where its optimiser starts.
//!
//! Every form is a function of a fixed-size feature vector (see [`Form::point`]) and a raw
//! parameter vector, returning its prediction in *fit space* (the natural log of the loss for
//! every loss law, the metric itself for the sigmoid) together with the gradient with respect
//! to the raw parameters. Raw parameters are the ones the optimiser moves: a scale such as
//! Chinchilla's A is fitted as `ln A` so that a grid over orders of magnitude is a linear grid
//! and positivity comes for free. [`ParamSpec`] maps each raw parameter to its reported
//! (natural) value.

mod chinchilla;
mod chunked;
mod data_constrained;
mod kaplan;
mod kaplan_nd;
mod sigmoid;

pub use data_constrained::{R_D_STAR, R_N_STAR, UNIQUE_TOKENS_PER_PARAM};

use crate::{Error, Observation, Result};
use serde::{Deserialize, Serialize};
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

const fn p(name: &'static str, transform: Transform) -> ParamSpec {
    ParamSpec { name, transform }
}
use Transform::{Identity as Id, Log};

/// What the sigmoid form uses as its predictor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigmoidAxis {
    /// ln C, C in FLOPs.
    Compute,
    /// The loss column.
    Loss,
}

/// Which variable a single-variable Kaplan law is a power of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KaplanVar {
    /// Parameters N.
    N,
    /// Tokens D.
    D,
    /// FLOPs C.
    C,
}

/// A law form. Its text name (`chinchilla`, `kaplan-n`, `kaplan-n+E`, `kaplan-nd`,
/// `data-constrained`, `sigmoid`, `sigmoid-loss`) is what the CLI takes and fit.json stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Form {
    /// L = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2).
    Chinchilla,
    /// L = (X_c/X)^α_X, plus E when `irreducible` (Kaplan et al. 2020, eqs. 1.1–1.3).
    Kaplan {
        /// The variable X.
        var: KaplanVar,
        /// Whether an irreducible loss E is added.
        irreducible: bool,
    },
    /// L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020, eq. 1.5).
    KaplanNd,
    /// Chinchilla with effective data and parameters under repetition (Muennighoff et al. 2023).
    DataConstrained,
    /// y = floor + (ceiling − floor)·σ(k(x − x0)) for a downstream metric.
    Sigmoid(SigmoidAxis),
}

impl Form {
    /// Every form, for help texts and selection.
    pub const ALL: [Form; 11] = [
        Form::Chinchilla,
        Form::Kaplan { var: KaplanVar::N, irreducible: false },
        Form::Kaplan { var: KaplanVar::D, irreducible: false },
        Form::Kaplan { var: KaplanVar::C, irreducible: false },
        Form::Kaplan { var: KaplanVar::N, irreducible: true },
        Form::Kaplan { var: KaplanVar::D, irreducible: true },
        Form::Kaplan { var: KaplanVar::C, irreducible: true },
        Form::KaplanNd,
        Form::DataConstrained,
        Form::Sigmoid(SigmoidAxis::Compute),
        Form::Sigmoid(SigmoidAxis::Loss),
    ];

    /// The form's parameters, in raw-vector order.
    pub fn params(&self) -> &'static [ParamSpec] {
        const CHIN: [ParamSpec; 5] =
            [p("E", Log), p("A", Log), p("B", Log), p("alpha", Id), p("beta", Id)];
        const KN: [ParamSpec; 2] = [p("alpha_N", Id), p("N_c", Log)];
        const KD: [ParamSpec; 2] = [p("alpha_D", Id), p("D_c", Log)];
        const KC: [ParamSpec; 2] = [p("alpha_C", Id), p("C_c", Log)];
        const KNE: [ParamSpec; 3] = [p("alpha_N", Id), p("N_c", Log), p("E", Log)];
        const KDE: [ParamSpec; 3] = [p("alpha_D", Id), p("D_c", Log), p("E", Log)];
        const KCE: [ParamSpec; 3] = [p("alpha_C", Id), p("C_c", Log), p("E", Log)];
        const KND: [ParamSpec; 4] =
            [p("alpha_N", Id), p("alpha_D", Id), p("N_c", Log), p("D_c", Log)];
        const DC: [ParamSpec; 7] = [
            p("E", Log),
            p("A", Log),
            p("B", Log),
            p("alpha", Id),
            p("beta", Id),
            p("R_N_star", Log),
            p("R_D_star", Log),
        ];
        const SIG: [ParamSpec; 4] = [p("floor", Id), p("ceiling", Id), p("k", Id), p("x0", Id)];
        match self {
            Form::Chinchilla => &CHIN,
            Form::Kaplan { var, irreducible } => match (var, irreducible) {
                (KaplanVar::N, false) => &KN,
                (KaplanVar::D, false) => &KD,
                (KaplanVar::C, false) => &KC,
                (KaplanVar::N, true) => &KNE,
                (KaplanVar::D, true) => &KDE,
                (KaplanVar::C, true) => &KCE,
            },
            Form::KaplanNd => &KND,
            Form::DataConstrained => &DC,
            Form::Sigmoid(_) => &SIG,
        }
    }

    /// Index of a parameter by its reported name.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.params().iter().position(|s| s.name == name)
    }

    /// Parameters held fixed unless the user frees them, with their values (reported units).
    /// The data-constrained law fixes R_N* and R_D* at Muennighoff et al.'s fitted values.
    pub fn default_fixed(&self) -> &'static [(&'static str, f64)] {
        match self {
            Form::DataConstrained => &[("R_N_star", R_N_STAR), ("R_D_star", R_D_STAR)],
            _ => &[],
        }
    }

    /// The pair of exponents `--tie-exponents` makes equal, if the form has one.
    pub fn tied_exponents(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Form::Chinchilla | Form::DataConstrained => Some(("alpha", "beta")),
            _ => None,
        }
    }

    /// Whether the fit-space prediction is ln(loss) (all laws) or the value itself (sigmoid).
    pub fn log_space(&self) -> bool {
        !matches!(self, Form::Sigmoid(_))
    }

    /// Whether the form predicts loss from (N, D) (and so can be planned with).
    pub fn is_loss_law(&self) -> bool {
        self.log_space()
    }

    /// Reduces an observation to the form's features and target.
    pub(crate) fn point(&self, o: &Observation) -> Result<Point> {
        let mut x = [0.0; N_FEATURES];
        let (ln_n, ln_d) = (o.n.ln(), o.d.ln());
        match self {
            Form::Chinchilla | Form::KaplanNd => {
                x[0] = ln_n;
                x[1] = ln_d;
            }
            Form::Kaplan { var, .. } => {
                x[0] = match var {
                    KaplanVar::N => ln_n,
                    KaplanVar::D => ln_d,
                    KaplanVar::C => o.compute().ln(),
                }
            }
            Form::DataConstrained => x = data_constrained::features(o),
            Form::Sigmoid(axis) => {
                x[0] = match axis {
                    SigmoidAxis::Compute => o.compute().ln(),
                    SigmoidAxis::Loss => o.loss,
                };
                let y = o.metric.ok_or_else(|| {
                    Error::InvalidData(
                        "the sigmoid form needs a `metric` column (e.g. accuracy) on every row"
                            .into(),
                    )
                })?;
                return Ok(Point { x, target: y });
            }
        }
        Ok(Point { x, target: o.loss.ln() })
    }

    /// Fit-space prediction at `x`; adds ∂/∂raw into `grad` when given (which it overwrites).
    #[inline]
    pub(crate) fn eval(&self, raw: &[f64], x: &[f64; N_FEATURES], grad: Option<&mut [f64]>) -> f64 {
        match self {
            Form::Chinchilla => chinchilla::eval(raw, x, grad),
            Form::Kaplan { irreducible, .. } => kaplan::eval(raw, x, *irreducible, grad),
            Form::KaplanNd => kaplan_nd::eval(raw, x, grad),
            Form::DataConstrained => data_constrained::eval(raw, x, grad),
            Form::Sigmoid(_) => sigmoid::eval(raw, x, grad),
        }
    }

    /// Picks one of a form's equivalent parameter sets: the sigmoid is unchanged by swapping
    /// floor and ceiling and negating k, so the fit reports floor ≤ ceiling (when both are free).
    pub(crate) fn canonicalize(&self, raw: &mut [f64], layout: &crate::layout::Layout) {
        if matches!(self, Form::Sigmoid(_))
            && layout.is_free(0)
            && layout.is_free(1)
            && raw[0] > raw[1]
        {
            raw.swap(0, 1);
            raw[2] = -raw[2];
        }
    }

    /// The optimiser's starting points (raw vectors), some of which depend on the data's range.
    pub(crate) fn grid(&self, points: &[Point]) -> Vec<Vec<f64>> {
        match self {
            Form::Chinchilla => chinchilla::grid(),
            Form::Kaplan { irreducible, .. } => kaplan::grid(points, *irreducible),
            Form::KaplanNd => kaplan_nd::grid(),
            Form::DataConstrained => data_constrained::grid(),
            Form::Sigmoid(_) => sigmoid::grid(points),
        }
    }

    /// A prediction in natural units (loss, or the metric for the sigmoid) for one observation.
    pub(crate) fn predict_raw(&self, raw: &[f64], o: &Observation) -> Result<f64> {
        let mut o = o.clone();
        if matches!(self, Form::Sigmoid(_)) && o.metric.is_none() {
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

impl Form {
    /// Σ H_δ(f(θ; x_i) − y_i) over `points` at raw vector `raw`, with its raw gradient written
    /// into `g_raw`. Dispatches on the form once, so that each form's loop is compiled with its
    /// parameter count known (the hot loop of every fit).
    pub(crate) fn huber_sum(
        &self,
        raw: &[f64],
        points: &[Point],
        delta: f64,
        g_raw: &mut [f64],
    ) -> f64 {
        match *self {
            Form::Chinchilla => chinchilla::huber_sum(raw, points, delta, g_raw),
            Form::Kaplan { irreducible: false, .. } => {
                huber_sum::<2>(raw, points, delta, g_raw, |r, x, g| kaplan::eval(r, x, false, g))
            }
            Form::Kaplan { irreducible: true, .. } => {
                huber_sum::<3>(raw, points, delta, g_raw, |r, x, g| kaplan::eval(r, x, true, g))
            }
            Form::KaplanNd => kaplan_nd::huber_sum(raw, points, delta, g_raw),
            Form::DataConstrained => data_constrained::huber_sum(raw, points, delta, g_raw),
            Form::Sigmoid(_) => huber_sum::<4>(raw, points, delta, g_raw, sigmoid::eval),
        }
    }
}

#[inline(always)]
fn huber_sum<const NP: usize>(
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

impl fmt::Display for Form {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Form::Chinchilla => "chinchilla",
            Form::Kaplan { var, irreducible } => match (var, irreducible) {
                (KaplanVar::N, false) => "kaplan-n",
                (KaplanVar::D, false) => "kaplan-d",
                (KaplanVar::C, false) => "kaplan-c",
                (KaplanVar::N, true) => "kaplan-n+E",
                (KaplanVar::D, true) => "kaplan-d+E",
                (KaplanVar::C, true) => "kaplan-c+E",
            },
            Form::KaplanNd => "kaplan-nd",
            Form::DataConstrained => "data-constrained",
            Form::Sigmoid(SigmoidAxis::Compute) => "sigmoid",
            Form::Sigmoid(SigmoidAxis::Loss) => "sigmoid-loss",
        };
        f.write_str(s)
    }
}

impl FromStr for Form {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Form::ALL.iter().copied().find(|f| f.to_string().eq_ignore_ascii_case(s)).ok_or_else(|| {
            let names: Vec<String> = Form::ALL.iter().map(|f| f.to_string()).collect();
            Error::InvalidOption(format!(
                "unknown form `{s}`: expected one of {}",
                names.join(", ")
            ))
        })
    }
}

impl TryFrom<String> for Form {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Form> for String {
    fn from(f: Form) -> String {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form's analytic gradient against central differences at a generic point.
    #[test]
    fn gradients_match_finite_differences() {
        let mut o = Observation::new(3.0e8, 5.0e9, 2.9);
        o.u = Some(1.0e9);
        o.metric = Some(0.4);
        for form in Form::ALL {
            let pt = form.point(&o).unwrap();
            let raw: Vec<f64> = match form {
                Form::Chinchilla => vec![0.5, 6.0, 7.0, 0.34, 0.28],
                Form::Kaplan { irreducible: false, .. } => vec![0.08, 32.0],
                Form::Kaplan { irreducible: true, .. } => vec![0.3, 22.0, 0.5],
                Form::KaplanNd => vec![0.076, 0.095, 32.0, 31.0],
                Form::DataConstrained => vec![0.5, 6.0, 7.0, 0.34, 0.28, 1.7, 2.7],
                Form::Sigmoid(_) => vec![0.25, 0.9, 0.7, pt.x[0] + 0.3],
            };
            let mut g = vec![0.0; raw.len()];
            form.eval(&raw, &pt.x, Some(&mut g));
            for i in 0..raw.len() {
                let h = 1e-6 * raw[i].abs().max(1.0);
                let (mut up, mut dn) = (raw.clone(), raw.clone());
                up[i] += h;
                dn[i] -= h;
                let fd = (form.eval(&up, &pt.x, None) - form.eval(&dn, &pt.x, None)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                    "{form} d/d{}: {} vs {fd}",
                    form.params()[i].name,
                    g[i]
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for form in Form::ALL {
            assert_eq!(form.to_string().parse::<Form>().unwrap(), form);
        }
        assert!("chinchila".parse::<Form>().unwrap_err().to_string().contains("unknown form"));
    }
}
