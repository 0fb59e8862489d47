//! Loss curves: the evaluations a run made along the way.
//!
//! One point per evaluation (the trainer evaluates at log-spaced token counts and at the
//! end). Losses are mean cross-entropy in nats per token. Approach 1 of Hoffmann et al. 2022
//! (the envelope of all curves against FLOPs) reads these points.

use crate::{Result, Store};
use serde::{Deserialize, Serialize};

/// One evaluation of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Tokens trained so far.
    pub tokens: f64,
    /// Optimizer steps so far.
    pub step: Option<u64>,
    /// Training loss at this point.
    pub train_loss: Option<f64>,
    /// Validation loss at this point.
    pub val_loss: Option<f64>,
}

impl Store {
    /// The curve of run `id`, by tokens.
    pub fn curve(&self, id: i64) -> Result<Vec<CurvePoint>> {
        let rows = self
            .db
            .with(|c| {
                c.query(
                    "SELECT tokens, step, train_loss, val_loss FROM curve_points
                     WHERE run_id = ?1 ORDER BY tokens",
                    crate::db::vals![id],
                )
            })
            .map_err(self.err("cannot read curve"))?;
        rows.iter()
            .map(|r| {
                Ok(CurvePoint {
                    tokens: r.real(0)?,
                    step: r.opt_int(1)?.map(|s| s as u64),
                    train_loss: r.opt_real(2)?,
                    val_loss: r.opt_real(3)?,
                })
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(self.err("cannot read curve"))
    }
}
