//! Sweeps as a library: the spec of a family of training runs (a TOML file), the plan that
//! turns it into a graph of runs, the executors that train them into the run store, and the
//! analysis of what they measured.
//!
//! ```
//! use isoflop_sweep::{RunGraph, SweepSpec, plan};
//!
//! let spec = SweepSpec::parse(
//!     "name = \"demo\"\n[design]\nkind = \"isoflop\"\nbudgets = [1e12]\nsizes = 3\n",
//!     "demo.toml",
//! )?;
//! let runs = plan(&spec)?;
//! assert_eq!(runs.len(), 3);
//! assert!(runs.iter().all(|r| (r.flops / 1e12 - 1.0).abs() < 1e-3)); // C = 6·N·D
//! let graph = RunGraph::pretrain(runs); // pretraining runs need no other run first
//! assert!(graph.nodes().iter().all(|n| n.after.is_empty()));
//! # Ok::<(), isoflop_sweep::Error>(())
//! ```
//!
//! Training them: `LocalExecutor::new(Arc::new(Pretrainer::new(&spec, dataset, &threads)?),
//! options).execute(&spec, &graph, &events, stop)` (the `sweep run` verb does this), then
//! `analyse(&store, &spec.name, &AnalysisOptions::default())` for the fit, the IsoFLOP
//! vertices and the report's data.
//!
//! | module | owns |
//! |---|---|
//! | `spec` | the TOML spec, checked field by field |
//! | `plan` | shapes from the model ladder, tokens from the budgets |
//! | `graph` | runs, their kinds and the runs each reads |
//! | `layout` | runs side by side and each run's threads |
//! | `executor` | the [`Executor`] trait, [`Events`], [`SweepOutcome`] |
//! | `local` | [`LocalExecutor`]: this machine's cores, resumable, kill -9 safe |
//! | `record` | the store's bookkeeping shared by executors |
//! | `worker`, `slurm` | one worker claiming one ready run from a shared store; the Slurm executor's scripts and commands |
//! | `trainer`, `pretrain`, `compress`, `distill`, `finetune`, `stages` | the [`RunTrainer`] trait, the trainers of pretraining, compression, distillation and fine-tuning runs, and the dispatcher by kind |
//! | `data`, `calibrate` | the sweep's dataset; time estimates from measured speed |
//! | `analysis` | fit, held-out check, IsoFLOP profiles and frontier (isoflop-law's) |

pub mod analysis;
pub mod calibrate;
pub mod compress;
pub mod curve_check;
pub mod data;
pub mod distill;
pub mod downstream_law;
mod error;
pub mod executor;
pub mod finetune;
pub mod graph;
pub mod layout;
pub mod local;
pub mod plan;
pub mod pretrain;
pub mod record;
pub mod slurm;
pub mod spec;
pub mod stage_cost;
pub mod stages;
pub mod trainer;
pub mod worker;

pub use analysis::{Analysis, AnalysisOptions, CompressionRow, DistillRow, analyse};
pub use compress::Compressor;
pub use distill::Distiller;
pub use error::{Error, Result};
pub use executor::{Events, Executor, Silent, SweepOutcome};
pub use finetune::Finetuner;
pub use graph::{RunGraph, RunKind, RunNode};
pub use layout::{LayoutOptions, SweepLayout, layout};
pub use local::{LocalExecutor, LocalOptions};
pub use plan::{PlannedRun, plan, short};
pub use pretrain::Pretrainer;
pub use spec::{CorpusSpec, Design, DistillSpec, SweepSpec, Teacher, TrainSpec};
pub use stages::Stages;
pub use trainer::{Job, Outcome, RunTrainer};
pub use worker::{WorkerOptions, WorkerOutcome, stages, work};
