//! What a report shows: plain, precomputed series and tables.
//!
//! The report draws; it does not fit. The caller (the `isoflop` binary) fits the law, runs
//! the bootstrap and the approaches, evaluates every curve and band, and hands the results
//! over in a [`ReportInput`]. This keeps the crate free of fitting code and makes every
//! chart a pure function of data that can be saved (`report.json`) and checked.
//!
//! Units: N in parameters, D in tokens, C in FLOPs, losses in nats per token.

use serde::{Deserialize, Serialize};

/// Everything a report shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportInput {
    /// Title: usually the sweep's name (escaped on output).
    pub title: String,
    /// Who made it, e.g. `isoflop 0.1.0`.
    pub generator: String,
    /// Short facts shown under the title: (label, value).
    pub summary: Vec<(String, String)>,
    /// Warnings worth a reader's attention (excluded runs, refused budgets).
    pub notes: Vec<String>,
    /// Every run of the sweep, whatever its status.
    pub runs: Vec<RunRow>,
    /// Training curves against compute (approach 1's input).
    pub curves: Vec<CurveSeries>,
    /// The compute-optimal frontier: the least loss reached at each compute, ascending C.
    pub frontier: Vec<[f64; 2]>,
    /// IsoFLOP profiles, one per budget (approach 2).
    pub isoflop: Vec<IsoflopProfile>,
    /// The fitted law's curves of loss against D, one per model size.
    pub law_curves: Vec<LawCurve>,
    /// Compute-optimal N and D against C, with intervals.
    pub optimal: Option<OptimalScaling>,
    /// Residuals of the fit, one per fitted run.
    pub residuals: Vec<Residual>,
    /// Held-out runs: predicted against actual.
    pub extrapolation: Vec<Extrapolation>,
    /// The plan for larger budgets.
    pub plan: Vec<PlanRow>,
    /// The fitted law's parameters: (name, value, optional 95% interval).
    pub law_params: Vec<(String, f64, Option<[f64; 2]>)>,
    /// The law's name and formula, e.g. `chinchilla: L = E + A/N^α + B/D^β`.
    pub law_formula: Option<String>,
    /// What each compression method of the sweep costs, by model size.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compression: Vec<CompressionSeries>,
    /// Every model of the sweep as stored (`fp32`) and as each method packed it: its weight
    /// bytes and its loss (the k-bit view).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packed: Vec<PackedModel>,
    /// `[bytes, loss]` of the packed models no other is both smaller and better than,
    /// ascending bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packed_front: Vec<[f64; 2]>,
    /// Loss against sparsity, one series per pruning method and model size (only methods
    /// the sweep pruned at two or more sparsities).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparsity: Vec<SparsitySeries>,
    /// Distilled students against the same shapes trained from scratch, one series per
    /// budget.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distill: Vec<DistillSeries>,
    /// Fine-tuned test accuracy against N, one series per task and method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downstream: Vec<DownstreamSeries>,
    /// Reference accuracies drawn as flat lines: (`task: majority class` or `task: naive
    /// Bayes`, accuracy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downstream_baselines: Vec<(String, f64)>,
    /// Test accuracy against the pretrained model's loss with the fitted sigmoid, one series
    /// per task and method that has a downstream law.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub downstream_laws: Vec<DownstreamLawSeries>,
}

/// One task and method's accuracy against pretraining loss, and step 2 of its law.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamLawSeries {
    /// `task · method`.
    pub label: String,
    /// `[loss, accuracy]` of the fine-tunes the check was fitted on.
    pub points: Vec<[f64; 2]>,
    /// `[loss, accuracy]` of the held-out largest budget's fine-tunes.
    pub held: Vec<[f64; 2]>,
    /// The fitted sigmoid, `[loss, accuracy]`, ascending loss.
    pub curve: Vec<[f64; 2]>,
    /// Its bootstrap 95% band, `[loss, low, high]`, ascending loss (empty without a bootstrap).
    #[serde(default)]
    pub band: Vec<[f64; 3]>,
    /// `[C, accuracy]` of every fine-tune, C = 6ND of its pretrained model.
    #[serde(default)]
    pub by_compute: Vec<[f64; 2]>,
    /// The law through both steps along the compute-optimal frontier: `[C, accuracy, low,
    /// high]` (the band from the paired bootstrap), ascending C.
    #[serde(default)]
    pub frontier: Vec<[f64; 4]>,
    /// Mean |predicted − actual| accuracy of the held-out fine-tunes, predicted from N and D.
    pub held_out_error: Option<f64>,
}

/// Test accuracy of one task and fine-tuning method against model size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamSeries {
    /// `task · method`.
    pub label: String,
    /// `[N, test accuracy]`, ascending N.
    pub points: Vec<[f64; 2]>,
}

/// One model pruned by one method at several sparsities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparsitySeries {
    /// The pruning method (`magnitude`, `wanda`).
    pub method: String,
    /// Parameters N of the model.
    pub n: f64,
    /// `[sparsity, validation loss]`, ascending sparsity; `[0, loss]` is the model as
    /// trained, scored on the same tokens.
    pub points: Vec<[f64; 2]>,
}

/// The students of one compute budget: each distilled from the budget's teacher, and the
/// same shape trained from scratch (the sweep's own pretraining run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistillSeries {
    /// The compute budget, FLOPs.
    pub budget: f64,
    /// Parameters N of the teacher (the budget's largest or best run).
    pub teacher_n: f64,
    /// The teacher's validation loss, scored on the students' windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_loss: Option<f64>,
    /// `[student N, loss]` of the distilled students, ascending N.
    pub distilled: Vec<[f64; 2]>,
    /// `[student N, loss]` of the same shapes from scratch, scored on the same tokens,
    /// ascending N.
    pub scratch: Vec<[f64; 2]>,
}

/// One model at one precision or sparsity: what its weights take and what it scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackedModel {
    /// `fp32` (the trained model) or the method that packed it.
    pub method: String,
    /// Parameters N.
    pub n: f64,
    /// Bytes of its weights file.
    pub bytes: f64,
    /// Validation loss.
    pub loss: f64,
}

/// One compression method's loss deltas against model size, and the power law fitted to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressionSeries {
    /// The method (`int8`, `gptq-int4`, `wanda`, …).
    pub method: String,
    /// `[N, loss delta]` of each compressed model.
    pub points: Vec<[f64; 2]>,
    /// `[a, b]` of Δ = a·N^(−b), fitted to the positive deltas, if it could be.
    pub fit: Option<[f64; 2]>,
}

/// One run in the run table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRow {
    /// Run key.
    pub key: String,
    /// Status (pending, running, done, failed, diverged).
    pub status: String,
    /// Why it failed or diverged.
    pub reason: Option<String>,
    /// Parameters.
    pub n: f64,
    /// Tokens.
    pub d: f64,
    /// FLOPs.
    pub c: f64,
    /// IsoFLOP budget.
    pub budget: Option<f64>,
    /// Final validation loss.
    pub loss: Option<f64>,
    /// Wall seconds.
    pub wall_seconds: Option<f64>,
    /// Tokens per second.
    pub tokens_per_second: Option<f64>,
    /// Whether the fit used it.
    pub fitted: bool,
    /// Whether it was held out of the fit to test extrapolation.
    pub held_out: bool,
}

/// One training curve: (C, loss) points of one run, C = 6·N·tokens so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveSeries {
    /// Run key.
    pub key: String,
    /// The run's parameters (colours the curve).
    pub n: f64,
    /// (compute, loss) points, ascending compute.
    pub points: Vec<[f64; 2]>,
}

/// One IsoFLOP budget: runs of equal compute, a parabola of loss in ln N, its vertex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsoflopProfile {
    /// The budget, FLOPs.
    pub budget: f64,
    /// (N, loss) of the runs.
    pub points: Vec<[f64; 2]>,
    /// Parabola coefficients: loss = c0 + c1·ln N + c2·(ln N)².
    pub parabola: Option<[f64; 3]>,
    /// The vertex (N*, loss*), when it lies inside the sampled N range.
    pub vertex: Option<[f64; 2]>,
}

/// The fitted law's loss against D for one model size, with a bootstrap band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LawCurve {
    /// Parameters.
    pub n: f64,
    /// (D, loss, lo, hi) points, ascending D; lo/hi are the 95% bootstrap band (equal to loss
    /// when there is no bootstrap).
    pub points: Vec<[f64; 4]>,
    /// Observed (D, loss) of runs of this size.
    pub observed: Vec<[f64; 2]>,
}

/// N_opt(C) and D_opt(C) with intervals, the fitted exponents and the IsoFLOP vertices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimalScaling {
    /// (C, N_opt, lo, hi), ascending C.
    pub n_opt: Vec<[f64; 4]>,
    /// (C, D_opt, lo, hi), ascending C.
    pub d_opt: Vec<[f64; 4]>,
    /// IsoFLOP vertices (C, N*) measured by approach 2.
    pub n_vertices: Vec<[f64; 2]>,
    /// IsoFLOP vertices (C, D*) measured by approach 2.
    pub d_vertices: Vec<[f64; 2]>,
    /// Fitted exponent a of N_opt ∝ C^a, with its interval.
    pub a: Option<(f64, Option<[f64; 2]>)>,
    /// Fitted exponent b of D_opt ∝ C^b, with its interval.
    pub b: Option<(f64, Option<[f64; 2]>)>,
}

/// One fitted run's residual.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residual {
    /// Run key.
    pub key: String,
    /// Parameters.
    pub n: f64,
    /// FLOPs.
    pub c: f64,
    /// ln(predicted) − ln(actual).
    pub log_residual: f64,
}

/// A held-out run: what the fit predicted, what the run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extrapolation {
    /// Run key.
    pub key: String,
    /// Parameters.
    pub n: f64,
    /// Tokens.
    pub d: f64,
    /// FLOPs.
    pub c: f64,
    /// Measured loss.
    pub actual: f64,
    /// Predicted loss.
    pub predicted: f64,
    /// 95% interval of the prediction.
    pub interval: Option<[f64; 2]>,
    /// (predicted − actual) / actual.
    pub rel_err: f64,
}

/// The compute-optimal plan for one budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRow {
    /// Budget, FLOPs.
    pub compute: f64,
    /// Compute-optimal parameters.
    pub n_opt: f64,
    /// Its interval.
    pub n_interval: Option<[f64; 2]>,
    /// Compute-optimal tokens.
    pub d_opt: f64,
    /// Its interval.
    pub d_interval: Option<[f64; 2]>,
    /// Predicted loss.
    pub loss: f64,
    /// Its interval.
    pub loss_interval: Option<[f64; 2]>,
}
