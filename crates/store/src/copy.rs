//! Moving sweeps between stores: a cluster's PostgreSQL results brought home into a SQLite
//! file, or a local sweep shared on a server (`isoflop store copy`).
//!
//! Runs are matched by sweep name and key. A run the destination lacks is copied whole (its
//! status, metrics, curve, attempts, times and provenance); a run the destination holds is
//! replaced only when the source's is final and the destination's is not (results arriving
//! where the runs were planned), so copying twice, or both ways, changes nothing. A run
//! `running` in the source arrives `pending` (its trainer lives on the source's side; its
//! checkpoint path is kept, so a worker that sees that directory resumes it).

use crate::db::{DbError, vals};
use crate::run::insert_curve;
use crate::store::{locked_sweep, now};
use crate::{Error, Result, Run, RunFilter, RunStatus, Store};
use serde::Serialize;

/// What a copy did, per sweep.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopySummary {
    /// Sweeps copied.
    pub sweeps: Vec<String>,
    /// Runs the destination did not have.
    pub added: usize,
    /// Unfinished runs of the destination replaced by the source's final ones.
    pub replaced: usize,
    /// Runs left as they were (already final in the destination, or as far along).
    pub kept: usize,
}

impl Store {
    /// Copies the sweeps named in `only` (every sweep when empty) from `src` into this store,
    /// each sweep in one transaction. A sweep whose spec differs from the destination's, where
    /// the destination has runs of it, is refused with [`Error::SpecChanged`] (the runs would
    /// not be runs of one design).
    pub fn copy_from(&mut self, src: &Store, only: &[String]) -> Result<CopySummary> {
        let sweeps = if only.is_empty() {
            src.sweeps()?
        } else {
            only.iter().map(|n| src.sweep(n)).collect::<Result<Vec<_>>>()?
        };
        let mut summary = CopySummary::default();
        for sweep in sweeps {
            let runs =
                src.runs(&RunFilter { sweep: Some(sweep.name.clone()), ..Default::default() })?;
            let curves = runs.iter().map(|r| src.curve(r.id)).collect::<Result<Vec<_>>>()?;
            let (added, replaced, kept) = self.copy_sweep(&sweep, &runs, &curves)?;
            summary.sweeps.push(sweep.name);
            summary.added += added;
            summary.replaced += replaced;
            summary.kept += kept;
        }
        Ok(summary)
    }

    fn copy_sweep(
        &mut self,
        sweep: &crate::Sweep,
        runs: &[Run],
        curves: &[Vec<crate::CurvePoint>],
    ) -> Result<(usize, usize, usize)> {
        let t = now();
        let path = self.path.clone();
        self.db
            .tx(true, |c| {
                let sweep_id = match locked_sweep(c, &path, &sweep.name, &sweep.spec, &[])? {
                    Some(old) if !old.changes.is_empty() => {
                        return Err(Error::SpecChanged {
                            path: path.clone(),
                            sweep: sweep.name.clone(),
                            changes: crate::spec_diff::describe(&old.changes),
                        }
                        .into());
                    }
                    Some(old) => old.id,
                    None => c
                        .query(
                            "INSERT INTO sweeps (name, spec, created_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4) RETURNING id",
                            vals![&sweep.name, sweep.spec.to_string(), sweep.created_at, t],
                        )?
                        .remove(0)
                        .int(0)?,
                };
                let (mut added, mut replaced, mut kept) = (0, 0, 0);
                for (run, curve) in runs.iter().zip(curves) {
                    let here = c.query_opt(
                        "SELECT id, status FROM runs WHERE sweep_id = ?1 AND key = ?2",
                        vals![sweep_id, &run.key],
                    )?;
                    if let Some(row) = &here {
                        let status: RunStatus = row.text(1)?.parse().map_err(DbError::Decode)?;
                        if status.is_final() || !run.status.is_final() {
                            kept += 1;
                            continue;
                        }
                        c.execute("DELETE FROM runs WHERE id = ?1", vals![row.int(0)?])?;
                        replaced += 1;
                    } else {
                        added += 1;
                    }
                    // A run training on the source's side arrives pending, with no owner.
                    let status = match run.status {
                        RunStatus::Running => RunStatus::Pending,
                        s => s,
                    };
                    let m = &run.metrics;
                    let id = c
                        .query(
                            "INSERT INTO runs (sweep_id, key, status, reason, config, params,
                                tokens, flops, budget, seed, loss, train_loss, ood_loss,
                                bits_per_byte, tokens_per_second, mfu, wall_seconds, checkpoint,
                                engine, host, version, source, attempts, started_at, finished_at,
                                heartbeat, job, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                                ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27,
                                ?28)
                             RETURNING id",
                            vals![
                                sweep_id,
                                &run.key,
                                status.as_str(),
                                run.reason.as_deref(),
                                run.config.to_string(),
                                run.params,
                                run.tokens,
                                run.flops,
                                run.budget,
                                run.seed as i64,
                                m.loss,
                                m.train_loss,
                                m.ood_loss,
                                m.bits_per_byte,
                                m.tokens_per_second,
                                m.mfu,
                                m.wall_seconds,
                                run.checkpoint.as_deref(),
                                run.engine.as_deref(),
                                run.host.as_deref(),
                                run.version.as_deref(),
                                run.source.as_str(),
                                i64::from(run.attempts),
                                run.started_at,
                                run.finished_at,
                                run.heartbeat,
                                run.job.as_deref(),
                                t
                            ],
                        )?
                        .remove(0)
                        .int(0)?;
                    insert_curve(c, id, curve)?;
                }
                Ok((added, replaced, kept))
            })
            .map_err(self.tx_err(&format!("cannot copy sweep {:?}", sweep.name)))
    }
}
