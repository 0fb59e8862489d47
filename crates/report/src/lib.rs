//! isoflop-report: the charts and the self-contained HTML report of a scaling-law sweep.
//!
//! - [`ReportInput`]: everything the report shows, precomputed by the caller: runs, curves,
//!   the frontier, IsoFLOP profiles, the fitted law's curves and bands, N_opt(C) and
//!   D_opt(C), residuals, the extrapolation table and the plan.
//! - [`write_report`]: one HTML file with every chart inline as SVG (no network, no script,
//!   every user string escaped) and a PNG of each chart beside it, drawn with `plotters`.
//! - [`render_html`]: the same page as a string, without files.
//! - [`escape_html`]: the escaping every user-supplied string goes through.
//!
//! ```
//! use isoflop_report::{ReportInput, RunRow, render_html};
//! let run = |key: &str, n: f64, loss: f64| RunRow {
//!     key: key.into(), status: "done".into(), reason: None, n, d: 1e12 / (6.0 * n),
//!     c: 1e12, budget: Some(1e12), loss: Some(loss), wall_seconds: None,
//!     tokens_per_second: None, fitted: true, held_out: false,
//! };
//! let input = ReportInput {
//!     title: "<demo>".into(),
//!     runs: vec![run("a", 1e5, 2.1), run("b", 2e5, 2.0)],
//!     ..ReportInput::default()
//! };
//! let html = render_html(&input).unwrap();
//! assert!(html.contains("Scaling-law report: &lt;demo&gt;"));
//! assert!(html.contains("<svg") && !html.contains("<script"));
//! ```
#![deny(missing_docs)]

mod chart;
mod charts;
mod data;
mod error;
mod escape;
mod font;
mod html;
mod write;

pub use chart::fmt_sci;
pub use data::{
    CompressionSeries, CurveSeries, DistillSeries, DownstreamLawSeries, DownstreamSeries,
    Extrapolation, IsoflopProfile, LawCurve, OptimalScaling, PackedModel, PlanRow, ReportInput,
    Residual, RunRow, SparsitySeries,
};
pub use error::{Error, Result};
pub use escape::escape_html;
pub use write::{Written, render_html, write_report};
