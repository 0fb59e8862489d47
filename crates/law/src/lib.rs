//! isoflop-law: scaling-law forms, robust multi-start fitting, bootstrap intervals,
//! Chinchilla's approaches 1 and 2, and compute-optimal planning.
//!
//! - [`Observation`], [`read_observations`]: (N, D, loss) rows from CSV or JSONL, validated.
//! - [`Form`]: chinchilla, kaplan-n/d/c (± irreducible E), kaplan-nd, data-constrained,
//!   sigmoid; each in its own file with its formula and paper.
//! - [`fit()`] with [`FitOptions`] → [`Fit`]: summed Huber on log-loss, L-BFGS from every start
//!   of Hoffmann et al.'s grid in parallel; [`bootstrap()`] for percentile intervals.
//! - [`plan`]: compute-optimal N and D for a budget, a target loss, a fixed N, or with
//!   inference in the bill.
//! - [`fit_two_step`] → [`Downstream`]: a task metric from N and D through the loss (Bhagia et
//!   al. 2024), with bootstrap intervals through both steps and plans by a target metric.
//! - [`approaches`]: approach 1 (envelope of training curves) and 2 (IsoFLOP parabolas).
//! - [`calibrate`] → [`IntervalCalibration`]: prediction intervals that widen with the distance
//!   beyond the fitted range, calibrated on leave-largest-out refits.
//! - [`select()`]: leave-largest-out (or rolling-origin) choice among candidate forms, with
//!   tied exponents (α = β), fixed parameters and bounds available to every fit, candidates
//!   with E held to a prior ([`EPrior`]) and a held-out-weighted [`Average`] of them.
//! - [`fit_curve_law`] → [`CurveLaw`]: whole loss curves with the learning-rate [`Schedule`]
//!   as a feature, L(s) = L0 + A·S1^(−α) − C·S2 (Tissue et al. 2024, arXiv 2408.11029), fitted
//!   on several runs at once and predicting the loss of any step under another schedule.
//! - [`fastmath`]: the vectorisable exp and ln (≤ 1 ulp) the fit's objective runs on, built
//!   for SSE2, AVX2 and AVX-512 and chosen at run time.
//!
//! ```
//! use isoflop_law::{fit, FitOptions, Form, Observation};
//! // Ten runs of a law with E = 1.7, A = 400, B = 400, α = 0.34, β = 0.28.
//! let law = |n: f64, d: f64| 1.7 + 400.0 / n.powf(0.34) + 400.0 / d.powf(0.28);
//! let obs: Vec<Observation> = (0..12)
//!     .map(|i| {
//!         let n = 1e7 * 2f64.powi(i / 3);
//!         let d = 20.0 * n * 2f64.powi(i % 3 - 1);
//!         Observation::new(n, d, law(n, d))
//!     })
//!     .collect();
//! let opts = FitOptions { grid_stride: 7, ..FitOptions::for_form(Form::Chinchilla) };
//! let f = fit(&obs, &opts).unwrap();
//! assert!((f.params["alpha"] - 0.34).abs() < 0.02);
//! assert!((f.predict(1e9, 2e10) - law(1e9, 2e10)).abs() < 1e-3);
//! ```
#![deny(missing_docs)]

pub mod approaches;
mod average;
mod bootstrap;
mod calibration;
pub mod curve_law;
mod downstream;
mod e_prior;
mod error;
pub mod fastmath;
mod fit;
mod fit_file;
mod forms;
mod holdout;
mod huber;
mod identify;
mod layout;
mod objective;
mod observation;
mod optimizer;
pub mod plan;
pub mod schedule;
mod select;
mod simd;
pub mod synthetic;

pub use average::{AVERAGE_SCHEME, Average, AverageMember};
pub use bootstrap::{bootstrap, bootstrap_with_progress, intervals_of, percentile_interval};
pub use calibration::{INTERVAL_LEVEL, IntervalCalibration, calibrate};
pub use curve_law::{
    CURVE_PARAM_NAMES, Curve, CurveLaw, CurveLawOptions, CurveParams, TISSUE_LAMBDA, fit_curve_law,
};
pub use downstream::{
    ComputeForMetric, Downstream, DownstreamOptions, DownstreamPrediction, METRIC_HUBER_DELTA,
    TWO_STEP, TargetPlan, compute_for_metric, fit_metric_step, fit_two_step,
};
pub use e_prior::{E_PARAM, EPrior};
pub use error::{Error, Result};
pub use fit::{
    BootstrapSamples, Bounds, Fit, FitOptions, FitStage, Progress, fit, fit_with_progress,
};
pub use forms::{
    Form, KaplanVar, ParamSpec, R_D_STAR, R_N_STAR, SigmoidAxis, Transform, UNIQUE_TOKENS_PER_PARAM,
};
pub use holdout::{HeldOut, Holdout, evaluate_holdout, holdout_coverage, split_holdout};
pub use huber::{HOFFMANN_DELTA, huber, huber_grad};
pub use objective::Reduction;
pub use observation::{
    ColumnNames, Observation, ObservationFile, read_observation_file, read_observations,
};
pub use plan::Plan;
pub use schedule::{Areas, Decay, Schedule, Shape};
pub use select::{Candidate, CandidateScore, SelectOptions, SelectRule, Selection, select};
