//! Runs: planning, claiming, finishing, listing.
//!
//! Every state change is one SQLite transaction, so a process killed at any instant leaves
//! each run either before or after the change, never between: a finished run's metrics and
//! its whole loss curve land together with `status = done`, or not at all.

use crate::store::now;
use crate::{CurvePoint, Error, Result, RunStatus, Store};
use rusqlite::{OptionalExtension, Row, params};
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
    r.source, r.attempts, r.started_at, r.finished_at";

type RawRun = (Run, String, String);

fn read_row(r: &Row<'_>) -> rusqlite::Result<RawRun> {
    let status: String = r.get(3)?;
    let config: String = r.get(5)?;
    let run = Run {
        id: r.get(0)?,
        sweep: r.get(1)?,
        key: r.get(2)?,
        status: RunStatus::Pending,
        reason: r.get(4)?,
        config: serde_json::Value::Null,
        params: r.get(6)?,
        tokens: r.get(7)?,
        flops: r.get(8)?,
        budget: r.get(9)?,
        seed: r.get::<_, i64>(10)? as u64,
        metrics: Metrics {
            loss: r.get(11)?,
            train_loss: r.get(12)?,
            ood_loss: r.get(13)?,
            bits_per_byte: r.get(14)?,
            tokens_per_second: r.get(15)?,
            mfu: r.get(16)?,
            wall_seconds: r.get(17)?,
        },
        checkpoint: r.get(18)?,
        engine: r.get(19)?,
        host: r.get(20)?,
        version: r.get(21)?,
        source: r.get(22)?,
        attempts: r.get(23)?,
        started_at: r.get(24)?,
        finished_at: r.get(25)?,
    };
    Ok((run, status, config))
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
        let path = self.path.clone();
        let err = |source| Error::Sqlite {
            path: path.clone(),
            context: "cannot plan runs".into(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut added = 0;
        {
            let mut stmt = tx
                .prepare(
                    "INSERT INTO runs (sweep_id, key, status, config, params, tokens, flops,
                        budget, seed, engine, updated_at)
                     VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(sweep_id, key) DO NOTHING",
                )
                .map_err(err)?;
            for r in runs {
                added += stmt
                    .execute(params![
                        sweep_id,
                        r.key,
                        r.config.to_string(),
                        r.params,
                        r.tokens,
                        r.flops,
                        r.budget,
                        r.seed as i64,
                        r.engine,
                        t
                    ])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    /// Runs matching `filter`, by sweep then id.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>> {
        let mut sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE 1 = 1"
        );
        let mut args: Vec<String> = Vec::new();
        if let Some(sweep) = &filter.sweep {
            self.sweep(sweep)?;
            args.push(sweep.clone());
            sql += &format!(" AND s.name = ?{}", args.len());
        }
        if !filter.statuses.is_empty() {
            let marks: Vec<String> = filter
                .statuses
                .iter()
                .map(|st| {
                    args.push(st.as_str().to_string());
                    format!("?{}", args.len())
                })
                .collect();
            sql += &format!(" AND r.status IN ({})", marks.join(", "));
        }
        sql += " ORDER BY s.id, r.id";
        let mut stmt = self.conn.prepare(&sql).map_err(self.err("cannot list runs"))?;
        let raws = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), read_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err("cannot list runs"))?;
        raws.into_iter().map(|raw| self.decode(raw)).collect()
    }

    /// One run by id.
    pub fn run(&self, id: i64) -> Result<Run> {
        let sql = format!(
            "SELECT {RUN_COLUMNS} FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE r.id = ?1"
        );
        let raw = self
            .conn
            .query_row(&sql, [id], read_row)
            .optional()
            .map_err(self.err("cannot read run"))?
            .ok_or(Error::UnknownRun(id))?;
        self.decode(raw)
    }

    /// Claims a pending (or interrupted `running`) run for training: sets `running`, the
    /// host, version, checkpoint directory and this handle's owner, and counts the attempt.
    /// Final runs are refused with [`Error::BadTransition`], which is what keeps a finished run
    /// from being trained twice; a run `running` under another live owner (a process on this
    /// host that still exists, or any process on another host) is refused with
    /// [`Error::Claimed`], whatever run directories the two processes use. A run whose owner
    /// is dead (killed, say) is recovered. Check and update are one `BEGIN IMMEDIATE`
    /// transaction, so two claimers never both win.
    pub fn claim(&self, id: i64, host: &str, version: &str, checkpoint: &str) -> Result<Run> {
        let t = now();
        let err = self.err("cannot claim run");
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(self.err("cannot claim run"))?;
        let row: Option<(String, String, Option<String>)> = tx
            .query_row("SELECT key, status, owner FROM runs WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(self.err("cannot claim run"))?;
        let (key, status, owner) = row.ok_or(Error::UnknownRun(id))?;
        let ours = owner.as_deref() == Some(self.owner.as_str());
        if status == "running" && !ours && crate::owner::is_alive(owner.as_deref()) {
            return Err(Error::Claimed { id, key, owner: owner.unwrap_or_default() });
        }
        if status != "pending" && status != "running" {
            return Err(Error::BadTransition { id, key, status, action: "claim it for training" });
        }
        tx.execute(
            "UPDATE runs SET status = 'running', reason = NULL, host = ?2, version = ?3,
                checkpoint = ?4, attempts = attempts + 1, owner = ?6, heartbeat = ?5,
                started_at = COALESCE(started_at, ?5), updated_at = ?5
             WHERE id = ?1",
            params![id, host, version, checkpoint, t, self.owner],
        )
        .map_err(self.err("cannot claim run"))?;
        tx.commit().map_err(err)?;
        self.run(id)
    }

    /// Puts the sweep's `failed` runs back to `pending` so the next `sweep run` trains them
    /// again (from their checkpoints where they have one). Returns how many.
    pub fn retry_failed(&self, sweep_id: i64) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'pending', updated_at = ?2
                 WHERE sweep_id = ?1 AND status = 'failed'",
                params![sweep_id, now()],
            )
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
            params![id, reason, wall_seconds, now()],
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
        let path = self.path.clone();
        let err = |source| Error::Sqlite {
            path: path.clone(),
            context: format!("cannot close run {id}"),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let n = tx
            .execute(
                "UPDATE runs SET status = ?2, reason = ?3, loss = ?4, train_loss = ?5,
                    ood_loss = ?6, bits_per_byte = ?7, tokens_per_second = ?8, mfu = ?9,
                    wall_seconds = COALESCE(?10, wall_seconds),
                    finished_at = ?11, updated_at = ?11
                 WHERE id = ?1 AND status = 'running'",
                params![
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
            )
            .map_err(err)?;
        if n == 0 {
            drop(tx);
            let run = self.run(id)?;
            return Err(Error::BadTransition {
                id,
                key: run.key,
                status: run.status.to_string(),
                action: "close it",
            });
        }
        tx.execute("DELETE FROM curve_points WHERE run_id = ?1", [id]).map_err(err)?;
        insert_curve(&tx, id, curve, &err)?;
        tx.commit().map_err(err)
    }

    fn transition(
        &self,
        id: i64,
        sql: &str,
        args: impl rusqlite::Params,
        action: &'static str,
    ) -> Result<()> {
        let n = self.conn.execute(sql, args).map_err(self.err("cannot update run"))?;
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
        let err = |source| Error::Sqlite {
            path: path.clone(),
            context: "cannot import runs".into(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(name) DO NOTHING",
            params![sweep, spec.to_string(), t],
        )
        .map_err(err)?;
        let sweep_id: i64 = tx
            .query_row("SELECT id FROM sweeps WHERE name = ?1", [sweep], |r| r.get(0))
            .map_err(err)?;
        let trained: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT key FROM runs WHERE sweep_id = ?1 AND source != 'import'")
                .map_err(err)?;
            stmt.query_map([sweep_id], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                .map_err(err)?
        };
        let clash: Vec<&str> = runs
            .iter()
            .map(|r| r.0.key.as_str())
            .filter(|k| trained.iter().any(|t| t == k))
            .collect();
        if !clash.is_empty() && !replace_trained {
            return Err(Error::ImportClash {
                path: self.path.clone(),
                sweep: sweep.to_string(),
                keys: clash.join(", "),
            });
        }
        if trained.is_empty() || replace_trained {
            tx.execute(
                "UPDATE sweeps SET spec = ?2, updated_at = ?3 WHERE id = ?1",
                params![sweep_id, spec.to_string(), t],
            )
            .map_err(err)?;
        }
        for (r, m, curve) in runs {
            tx.execute(
                "DELETE FROM runs WHERE sweep_id = ?1 AND key = ?2",
                params![sweep_id, r.key],
            )
            .map_err(err)?;
            tx.execute(
                "INSERT INTO runs (sweep_id, key, status, config, params, tokens, flops, budget,
                    seed, engine, loss, train_loss, ood_loss, bits_per_byte, tokens_per_second,
                    mfu, wall_seconds, source, finished_at, updated_at)
                 VALUES (?1, ?2, 'done', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                    ?15, ?16, 'import', ?17, ?17)",
                params![
                    sweep_id,
                    r.key,
                    r.config.to_string(),
                    r.params,
                    r.tokens,
                    r.flops,
                    r.budget,
                    r.seed as i64,
                    r.engine,
                    m.loss,
                    m.train_loss,
                    m.ood_loss,
                    m.bits_per_byte,
                    m.tokens_per_second,
                    m.mfu,
                    m.wall_seconds,
                    t
                ],
            )
            .map_err(err)?;
            let id = tx.last_insert_rowid();
            insert_curve(&tx, id, curve, &err)?;
        }
        tx.commit().map_err(err)?;
        Ok(runs.len())
    }
}

/// Writes a run's curve points inside the caller's transaction (a point at the same token count
/// replaces the earlier one, so a resumed run never duplicates a point).
fn insert_curve(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    curve: &[CurvePoint],
    err: &impl Fn(rusqlite::Error) -> Error,
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO curve_points (run_id, tokens, step, train_loss, val_loss)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(err)?;
    for p in curve {
        stmt.execute(params![id, p.tokens, p.step.map(|s| s as i64), p.train_loss, p.val_loss])
            .map_err(err)?;
    }
    Ok(())
}
