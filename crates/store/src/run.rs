//! Runs: planning, claiming, finishing, listing.
//!
//! Every state change is one database transaction, so a process killed at any instant leaves
//! each run either before or after the change, never between: a finished run's metrics and
//! its whole loss curve land together with `status = done`, or not at all.

use crate::db::{Conn, DbError, Row, Value, vals};
use crate::store::now;
use crate::{CurvePoint, Error, Result, RunStatus, Store};
use serde::Serialize;

/// A run to plan: what the sweep spec asks for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewRun {
    /// Stable name within the sweep (e.g. `c3e12-n1.2e5-s0`).
    pub key: String,
    /// The resolved training config as JSON.
    pub config: serde_json::Value,
    /// Parameters N of the model.
    pub params: f64,
    /// Training tokens D.
    pub tokens: f64,
    /// Training FLOPs C of the run.
    pub flops: f64,
    /// The IsoFLOP budget the run belongs to, if the design has budgets.
    pub budget: Option<f64>,
    /// Training seed.
    pub seed: u64,
    /// Engine that will train it.
    pub engine: Option<String>,
}

/// What a finished (or failed) run measured. All losses in nats per token.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Final validation loss: the loss a fit uses.
    pub loss: Option<f64>,
    /// Final training loss.
    pub train_loss: Option<f64>,
    /// Final out-of-distribution loss.
    pub ood_loss: Option<f64>,
    /// Validation loss in bits per byte.
    pub bits_per_byte: Option<f64>,
    /// Training throughput.
    pub tokens_per_second: Option<f64>,
    /// Model FLOPs utilisation against the machine's measured peak.
    pub mfu: Option<f64>,
    /// Wall time of the run, seconds (summed over resumed attempts).
    pub wall_seconds: Option<f64>,
}

/// One stored run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// Row id.
    pub id: i64,
    /// Sweep name.
    pub sweep: String,
    /// Key within the sweep.
    pub key: String,
    /// Status.
    pub status: RunStatus,
    /// Why it failed, diverged or was interrupted.
    pub reason: Option<String>,
    /// Resolved training config.
    pub config: serde_json::Value,
    /// Parameters N.
    pub params: f64,
    /// Training tokens D.
    pub tokens: f64,
    /// Training FLOPs C.
    pub flops: f64,
    /// IsoFLOP budget, if any.
    pub budget: Option<f64>,
    /// Seed.
    pub seed: u64,
    /// Measurements (all `None` until the run finishes).
    pub metrics: Metrics,
    /// Directory of the run's checkpoint.
    pub checkpoint: Option<String>,
    /// Engine that trained it.
    pub engine: Option<String>,
    /// Host that trained it.
    pub host: Option<String>,
    /// isoflop version that trained it.
    pub version: Option<String>,
    /// `isoflop` for runs trained here, `import` for imported ones.
    pub source: String,
    /// How many times a process claimed it (1 for a run trained in one go).
    pub attempts: u32,
    /// Unix seconds of the first claim.
    pub started_at: Option<f64>,
    /// Unix seconds of the final status.
    pub finished_at: Option<f64>,
    /// Unix seconds of the last sign of life of the process training it (its claim, then a
    /// heartbeat every few seconds while it trains).
    pub heartbeat: Option<f64>,
    /// The scheduler's job that trains (or last trained) it: `12345_7` for task 7 of a Slurm
    /// job array.
    pub job: Option<String>,
}

impl Run {
    /// What the run is, from its config's `kind`: `pretrain`, `compress`, …; runs planned
    /// before runs had kinds, and imported runs, are pretraining runs.
    pub fn kind(&self) -> &str {
        self.config.get("kind").and_then(|k| k.as_str()).unwrap_or("pretrain")
    }

    /// Whether it pretrained a model (a point of the sweep's scaling law).
    pub fn is_pretrain(&self) -> bool {
        self.kind() == "pretrain"
    }
}

/// Which runs to list.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this sweep.
    pub sweep: Option<String>,
    /// Only these statuses (all when empty).
    pub statuses: Vec<RunStatus>,
}

const RUN_COLUMNS: &str = "r.id, s.name, r.key, r.status, r.reason, r.config, r.params, r.tokens,
    r.flops, r.budget, r.seed, r.loss, r.train_loss, r.ood_loss, r.bits_per_byte,
    r.tokens_per_second, r.mfu, r.wall_seconds, r.checkpoint, r.engine, r.host, r.version,
    r.source, r.attempts, r.started_at, r.finished_at, r.heartbeat, r.job";

type RawRun = (Run, String, String);

fn read_row(r: &Row) -> std::result::Result<RawRun, DbError> {
    let run = Run {
        id: r.int(0)?,
        sweep: r.text(1)?,
        key: r.text(2)?,
        status: RunStatus::Pending,
        reason: r.opt_text(4)?,
        config: serde_json::Value::Null,
        params: r.real(6)?,
        tokens: r.real(7)?,
        flops: r.real(8)?,
        budget: r.opt_real(9)?,
        seed: r.int(10)? as u64,
        metrics: Metrics {
            loss: r.opt_real(11)?,
            train_loss: r.opt_real(12)?,
            ood_loss: r.opt_real(13)?,
            bits_per_byte: r.opt_real(14)?,
            tokens_per_second: r.opt_real(15)?,
            mfu: r.opt_real(16)?,
            wall_seconds: r.opt_real(17)?,
        },
        checkpoint: r.opt_text(18)?,
        engine: r.opt_text(19)?,
        host: r.opt_text(20)?,
        version: r.opt_text(21)?,
        source: r.text(22)?,
        attempts: r.int(23)? as u32,
        started_at: r.opt_real(24)?,
        finished_at: r.opt_real(25)?,
        heartbeat: r.opt_real(26)?,
        job: r.opt_text(27)?,
    };
    Ok((run, r.text(3)?, r.text(5)?))
}

impl Store {
    fn decode(&self, raw: RawRun) -> Result<Run> {
        let (mut run, status, config) = raw;
        run.status = status.parse().map_err(|message| Error::Corrupt {
            path: self.path.clone(),
            what: format!("runs.status of run {}", run.id),
            message,
        })?;
        run.config = self.parse_json("runs.config", &config)?;
        Ok(run)
    }

    /// Adds the planned runs to a sweep in one transaction. A key that already exists is
    /// left untouched (its status, metrics and curve stay), so planning twice is harmless.
    /// Returns how many runs were new.
    pub fn plan_runs(&mut self, sweep_id: i64, runs: &[NewRun]) -> Result<usize> {
        let t = now();
        self.db
            .tx(true, |c| {
                let mut added = 0;
                for r in runs {
                    added += c.execute(
                        "INSERT INTO runs (sweep_id, key, status, config, params, tokens, flops,
                            budget, seed, engine, updated_at)
                         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                         ON CONFLICT(sweep_id, key) DO NOTHING",
                        vals![
                            sweep_id,
                            &r.key,
                            r.config.to_string(),
                            r.params,
                            r.tokens,
                            r.flops,
                            r.budget,
                            r.seed as i64,
                            r.engine.as_deref(),
                            t
                        ],
                    )?;
                }
                Ok(added as usize)
            })
            .map_err(self.tx_err("cannot plan runs"))
    }

    /// Runs matching `filter`, by sweep then id.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE 1 = 1"
        );
        let mut args: Vec<Value> = Vec::new();
        if let Some(sweep) = &filter.sweep {
            self.sweep(sweep)?;
            args.push(sweep.into());
            sql += &format!(" AND s.name = ?{}", args.len());
        }
        if !filter.statuses.is_empty() {
            let marks: Vec<String> = filter
                .statuses
                .iter()
                .map(|st| {
                    args.push(st.as_str().into());
                    format!("?{}", args.len())
                })
                .collect();
            sql += &format!(" AND r.status IN ({})", marks.join(", "));
        }
        sql += " ORDER BY s.id, r.id";
        let rows = self.db.with(|c| c.query(&sql, &args)).map_err(self.err("cannot list runs"))?;
        rows.iter()
            .map(|r| {
                read_row(r).map_err(self.err("cannot list runs")).and_then(|raw| self.decode(raw))
            })
            .collect()
    }

    /// One run by id.
    pub fn run(&self, id: i64) -> Result<Run> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE r.id = ?1"
        );
        let row = self
            .db
            .with(|c| c.query_opt(&sql, vals![id]))
            .map_err(self.err("cannot read run"))?
            .ok_or(Error::UnknownRun(id))?;
        let raw = read_row(&row).map_err(self.err("cannot read run"))?;
        self.decode(raw)
    }

    /// Claims a pending (or interrupted `running`) run for training: sets `running`, the
    /// host, version, checkpoint directory and this handle's owner, and counts the attempt.
    /// Final runs are refused with [`Error::BadTransition`], which is what keeps a finished run
    /// from being trained twice; a run `running` under another live owner (a process on this
    /// host that still exists, or any process on another host) is refused with
    /// [`Error::Claimed`], whatever run directories the two processes use. A run whose owner
    /// is dead (killed, say) is recovered. Check and update are one transaction holding the
    /// run's write lock (SQLite's `BEGIN IMMEDIATE`; PostgreSQL's `FOR UPDATE SKIP LOCKED`, so
    /// a worker never waits on a run another worker is claiming: it is [`Error::Claimed`]), so
    /// two claimers, on any nodes, never both win.
    pub fn claim(&self, id: i64, host: &str, version: &str, checkpoint: &str) -> Result<Run> {
        self.claim_as(id, host, version, checkpoint, None)
    }

    /// [`Store::claim`], recording the scheduler's job that trains the run (`sweep status`
    /// shows it beside the scheduler's state).
    pub fn claim_as(
        &self,
        id: i64,
        host: &str,
        version: &str,
        checkpoint: &str,
        job: Option<&str>,
    ) -> Result<Run> {
        let t = now();
        self.db
            .tx(true, |c| {
                let skip = if c.for_update().is_empty() { "" } else { " FOR UPDATE SKIP LOCKED" };
                let row = c.query_opt(
                    &format!("SELECT key, status, owner FROM runs WHERE id = ?1{skip}"),
                    vals![id],
                )?;
                let Some(row) = row else {
                    // Locked by a claimer on PostgreSQL, or no such run.
                    return match c.query_opt("SELECT key FROM runs WHERE id = ?1", vals![id])? {
                        Some(r) => Err(Error::Claimed {
                            id,
                            key: r.text(0)?,
                            owner: "another worker claiming it at this moment".into(),
                        }
                        .into()),
                        None => Err(Error::UnknownRun(id).into()),
                    };
                };
                let (key, status, owner) = (row.text(0)?, row.text(1)?, row.opt_text(2)?);
                let ours = owner.as_deref() == Some(self.owner.as_str());
                if status == "running" && !ours && crate::owner::is_alive(owner.as_deref()) {
                    return Err(Error::Claimed { id, key, owner: owner.unwrap_or_default() }.into());
                }
                if status != "pending" && status != "running" {
                    return Err(Error::BadTransition {
                        id,
                        key,
                        status,
                        action: "claim it for training",
                    }
                    .into());
                }
                c.execute(
                    "UPDATE runs SET status = 'running', reason = NULL, host = ?2, version = ?3,
                        checkpoint = ?4, attempts = attempts + 1, owner = ?6, heartbeat = ?5,
                        started_at = COALESCE(started_at, ?5), updated_at = ?5, job = ?7
                     WHERE id = ?1",
                    vals![id, host, version, checkpoint, t, self.owner.as_str(), job],
                )?;
                Ok(())
            })
            .map_err(self.tx_err("cannot claim run"))?;
        self.run(id)
    }

    /// Records a sign of life of `owner`, the process training run `id` (a heartbeat thread
    /// calls this every few seconds through its own handle). Returns false when the run is no
    /// longer `running` under `owner` (released, finished, or reset as stale).
    pub fn heartbeat(&self, id: i64, owner: &str) -> Result<bool> {
        let n = self
            .db
            .with(|c| {
                c.execute(
                    "UPDATE runs SET heartbeat = ?3 WHERE id = ?1 AND owner = ?2 AND status = 'running'",
                    vals![id, owner, now()],
                )
            })
            .map_err(self.err("cannot record heartbeat"))?;
        Ok(n > 0)
    }

    /// The sweep's `running` runs whose trainer is gone: its owner is a dead process of this
    /// host, or its last heartbeat is older than `stale_after` seconds (a node that failed, a
    /// task killed without warning).
    pub fn stale_runs(&self, sweep_id: i64, stale_after: f64) -> Result<Vec<Run>> {
        let t = now();
        let rows = self
            .db
            .with(|c| {
                c.query(
                    "SELECT id, owner, heartbeat FROM runs WHERE sweep_id = ?1 AND status = 'running'",
                    vals![sweep_id],
                )
            })
            .map_err(self.err("cannot list running runs"))?;
        let mut out = Vec::new();
        for r in rows {
            let f = || -> std::result::Result<_, DbError> {
                Ok((r.int(0)?, r.opt_text(1)?, r.opt_real(2)?))
            };
            let (id, owner, beat) = f().map_err(self.err("cannot list running runs"))?;
            let silent = beat.is_none_or(|b| t - b > stale_after);
            if silent || !crate::owner::is_alive(owner.as_deref()) {
                out.push(self.run(id)?);
            }
        }
        Ok(out)
    }

    /// Puts the sweep's stale runs ([`Store::stale_runs`]) back to `pending`, each in one
    /// transaction that checks it is still the same stale claim (a heartbeat that came in since
    /// keeps the run). Their checkpoints stay, so they resume. Returns the runs reset.
    pub fn reset_stale(&self, sweep_id: i64, stale_after: f64) -> Result<Vec<Run>> {
        let mut reset = Vec::new();
        for run in self.stale_runs(sweep_id, stale_after)? {
            let n = self
                .db
                .with(|c| {
                    c.execute(
                        "UPDATE runs SET status = 'pending', owner = NULL, updated_at = ?4,
                            reason = 'its trainer stopped without a word (stale heartbeat); reset to pending'
                         WHERE id = ?1 AND status = 'running' AND attempts = ?2
                           AND COALESCE(heartbeat, 0) = ?3",
                        vals![run.id, i64::from(run.attempts), run.heartbeat.unwrap_or(0.0), now()],
                    )
                })
                .map_err(self.err("cannot reset stale run"))?;
            if n > 0 {
                reset.push(self.run(run.id)?);
            }
        }
        Ok(reset)
    }

    /// Puts the sweep's `failed` runs back to `pending` so the next `sweep run` trains them
    /// again (from their checkpoints where they have one). Returns how many.
    pub fn retry_failed(&self, sweep_id: i64) -> Result<usize> {
        self.db
            .with(|c| {
                c.execute(
                    "UPDATE runs SET status = 'pending', updated_at = ?2
                     WHERE sweep_id = ?1 AND status = 'failed'",
                    vals![sweep_id, now()],
                )
            })
            .map(|n| n as usize)
            .map_err(self.err("cannot retry failed runs"))
    }

    /// Puts a running run back to `pending` (interrupted cleanly; it resumes from its
    /// checkpoint next time), recording why and the wall time spent so far.
    pub fn release(&self, id: i64, reason: &str, wall_seconds: f64) -> Result<()> {
        self.transition(
            id,
            "UPDATE runs SET status = 'pending', reason = ?2,
                wall_seconds = COALESCE(wall_seconds, 0) + ?3, updated_at = ?4
             WHERE id = ?1 AND status = 'running'",
            vals![id, reason, wall_seconds, now()],
            "release it",
        )
    }

    /// Finishes a running run: `done`, its metrics and its whole curve, in one transaction.
    /// `metrics.wall_seconds` is the run's whole wall time (the trainer sums resumed
    /// segments); when it is `None` the time recorded by earlier releases is kept.
    pub fn finish(&mut self, id: i64, metrics: &Metrics, curve: &[CurvePoint]) -> Result<()> {
        self.close(id, RunStatus::Done, None, metrics, curve)
    }

    /// Closes a running run as `failed` or `diverged` with its reason (and whatever it
    /// measured before it stopped).
    pub fn fail(
        &mut self,
        id: i64,
        status: RunStatus,
        reason: &str,
        metrics: &Metrics,
        curve: &[CurvePoint],
    ) -> Result<()> {
        assert!(
            matches!(status, RunStatus::Failed | RunStatus::Diverged),
            "fail() takes a failure"
        );
        self.close(id, status, Some(reason), metrics, curve)
    }

    fn close(
        &mut self,
        id: i64,
        status: RunStatus,
        reason: Option<&str>,
        m: &Metrics,
        curve: &[CurvePoint],
    ) -> Result<()> {
        let t = now();
        let closed = self
            .db
            .tx(true, |c| {
                let n = c.execute(
                    "UPDATE runs SET status = ?2, reason = ?3, loss = ?4, train_loss = ?5,
                        ood_loss = ?6, bits_per_byte = ?7, tokens_per_second = ?8, mfu = ?9,
                        wall_seconds = COALESCE(?10, wall_seconds),
                        finished_at = ?11, updated_at = ?11
                     WHERE id = ?1 AND status = 'running'",
                    vals![
                        id,
                        status.as_str(),
                        reason,
                        m.loss,
                        m.train_loss,
                        m.ood_loss,
                        m.bits_per_byte,
                        m.tokens_per_second,
                        m.mfu,
                        m.wall_seconds,
                        t
                    ],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                c.execute("DELETE FROM curve_points WHERE run_id = ?1", vals![id])?;
                insert_curve(c, id, curve)?;
                Ok(true)
            })
            .map_err(self.tx_err(&format!("cannot close run {id}")))?;
        if !closed {
            let run = self.run(id)?;
            return Err(Error::BadTransition {
                id,
                key: run.key,
                status: run.status.to_string(),
                action: "close it",
            });
        }
        Ok(())
    }

    fn transition(&self, id: i64, sql: &str, args: &[Value], action: &'static str) -> Result<()> {
        let n = self.db.with(|c| c.execute(sql, args)).map_err(self.err("cannot update run"))?;
        if n == 0 {
            let run = self.run(id)?;
            return Err(Error::BadTransition {
                id,
                key: run.key,
                status: run.status.to_string(),
                action,
            });
        }
        Ok(())
    }

    /// Stores runs made elsewhere as finished runs of sweep `sweep` (created if needed), with
    /// their curves, all in one transaction (the sweep's spec included). A key already
    /// imported into the sweep is replaced, so importing the same file twice leaves one copy of
    /// each run. A key of a run trained here is refused with [`Error::ImportClash`] naming the
    /// keys, unless `replace_trained`; the spec of a sweep with trained runs is kept (it is
    /// what planned them) unless `replace_trained`. Returns the number of runs stored.
    pub fn import(
        &mut self,
        sweep: &str,
        spec: &serde_json::Value,
        runs: &[(NewRun, Metrics, Vec<CurvePoint>)],
        replace_trained: bool,
    ) -> Result<usize> {
        let t = now();
        let path = self.path.clone();
        self.db
            .tx(true, |c| {
                c.execute(
                    "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT(name) DO NOTHING",
                    vals![sweep, spec.to_string(), t],
                )?;
                let lock = c.for_update();
                let sweep_id = c
                    .query(&format!("SELECT id FROM sweeps WHERE name = ?1{lock}"), vals![sweep])?
                    .remove(0)
                    .int(0)?;
                let trained: Vec<String> = c
                    .query(
                        "SELECT key FROM runs WHERE sweep_id = ?1 AND source != 'import'",
                        vals![sweep_id],
                    )?
                    .iter()
                    .map(|r| r.text(0))
                    .collect::<std::result::Result<_, _>>()?;
                let clash: Vec<&str> = runs
                    .iter()
                    .map(|r| r.0.key.as_str())
                    .filter(|k| trained.iter().any(|t| t == k))
                    .collect();
                if !clash.is_empty() && !replace_trained {
                    return Err(Error::ImportClash {
                        path: path.clone(),
                        sweep: sweep.to_string(),
                        keys: clash.join(", "),
                    }
                    .into());
                }
                if trained.is_empty() || replace_trained {
                    c.execute(
                        "UPDATE sweeps SET spec = ?2, updated_at = ?3 WHERE id = ?1",
                        vals![sweep_id, spec.to_string(), t],
                    )?;
                }
                for (r, m, curve) in runs {
                    c.execute(
                        "DELETE FROM runs WHERE sweep_id = ?1 AND key = ?2",
                        vals![sweep_id, &r.key],
                    )?;
                    let id = c
                        .query(
                            "INSERT INTO runs (sweep_id, key, status, config, params, tokens, flops,
                                budget, seed, engine, loss, train_loss, ood_loss, bits_per_byte,
                                tokens_per_second, mfu, wall_seconds, source, finished_at, updated_at)
                             VALUES (?1, ?2, 'done', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,
                                ?14, ?15, ?16, 'import', ?17, ?17)
                             RETURNING id",
                            vals![
                                sweep_id,
                                &r.key,
                                r.config.to_string(),
                                r.params,
                                r.tokens,
                                r.flops,
                                r.budget,
                                r.seed as i64,
                                r.engine.as_deref(),
                                m.loss,
                                m.train_loss,
                                m.ood_loss,
                                m.bits_per_byte,
                                m.tokens_per_second,
                                m.mfu,
                                m.wall_seconds,
                                t
                            ],
                        )?
                        .remove(0)
                        .int(0)?;
                    insert_curve(c, id, curve)?;
                }
                Ok(runs.len())
            })
            .map_err(self.tx_err("cannot import runs"))
    }
}

/// Writes a run's curve points inside the caller's transaction (a point at the same token count
/// replaces the earlier one, so a resumed run never duplicates a point).
pub(crate) fn insert_curve(
    c: &mut Conn,
    id: i64,
    curve: &[CurvePoint],
) -> std::result::Result<(), DbError> {
    for p in curve {
        c.execute(
            "INSERT INTO curve_points (run_id, tokens, step, train_loss, val_loss)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(run_id, tokens) DO UPDATE SET step = excluded.step,
                train_loss = excluded.train_loss, val_loss = excluded.val_loss",
            vals![id, p.tokens, p.step.map(|s| s as i64), p.train_loss, p.val_loss],
        )?;
    }
    Ok(())
}
