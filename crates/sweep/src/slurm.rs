//! The Slurm executor: a sweep's runs as job arrays of workers (`isoflop sweep worker`), each
//! task claiming one ready run from the shared store.
//!
//! - **One script, kept.** `sweep submit` writes `<runs>/<sweep>/slurm/worker.sbatch`, a
//!   readable batch script that `exec`s the worker, so Slurm's signals reach it directly.
//! - **Stages.** Runs that read other runs (fine-tunes, compressions, distillations) are
//!   submitted as a later array per stage with `--dependency=afterany:<previous array>`:
//!   `afterany`, not `afterok`, because a failed run must not hold back the others (a worker
//!   fails a run whose input failed, with that reason). Workers of a stage claim only that
//!   stage's runs, whose inputs are then final.
//! - **Time limits and preemption.** `--signal=B:USR1@S` asks Slurm for USR1 S seconds before
//!   the limit; the worker saves a checkpoint, puts its run back to `pending`, and requeues its
//!   own task (`scontrol requeue`), which on restart takes the same run first and resumes it.
//!   `--requeue` lets Slurm requeue it on preemption too.
//! - **Records.** Each submitted array is appended to `slurm/jobs.json`, which `sweep status`
//!   joins with `squeue` and `sweep cancel` hands to `scancel`.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What every array task asks Slurm for.
#[derive(Debug, Clone, Serialize)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// GPUs per run (`--gres=gpu:N`); 0 for CPU runs.
    pub gpus_per_run: u32,
    /// CPUs per run (`--cpus-per-task`); the worker computes on as many threads.
    pub cpus_per_run: usize,
    /// `--mem` (e.g. `8G`).
    pub mem: Option<String>,
    /// `--time` (`HH:MM:SS`).
    pub time: Option<String>,
    /// Array tasks running at once (`--array=…%M`).
    pub max_parallel: Option<usize>,
    /// `--account`.
    pub account: Option<String>,
    /// Further `#SBATCH` lines, verbatim (`--qos=high`, `--constraint=a100`).
    pub sbatch_args: Vec<String>,
    /// Seconds before the time limit at which Slurm sends USR1 (`--signal=B:USR1@S`).
    pub signal_seconds: u32,
    /// Seconds between a worker's heartbeats.
    pub heartbeat_seconds: u32,
}

/// What the script runs.
#[derive(Debug, Clone)]
pub struct ScriptInputs<'a> {
    /// The sweep's name.
    pub sweep: &'a str,
    /// The spec file, absolute.
    pub spec: &'a Path,
    /// The isoflop binary, absolute.
    pub exe: &'a Path,
    /// The `--db` argument as written in the script: the URL, or `"$ISOFLOP_DB"` when the URL
    /// holds a password (the script then keeps no secret; sbatch passes the variable).
    pub db: &'a str,
    /// Where run directories go (a directory every node sees).
    pub runs_dir: &'a Path,
    /// The sweep's `slurm/` directory (script, logs, task records).
    pub slurm_dir: &'a Path,
}

/// Quotes a word for the shell when it needs it.
fn sh(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:=@%+,".contains(c));
    // `"$VAR"`: a variable the shell expands, already quoted.
    let variable = word.starts_with("\"$") && word.ends_with('"');
    if plain || variable { word.to_string() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// The batch script: `#SBATCH` lines from `opts`, then the worker for the stage given as the
/// script's first argument.
pub fn script(opts: &SlurmOptions, i: &ScriptInputs<'_>) -> String {
    let mut s = String::new();
    s += "#!/bin/bash\n";
    s += &format!(
        "# isoflop sweep worker for sweep {:?}, written by `isoflop sweep submit`.\n",
        i.sweep
    );
    s += "# Each task of the job array claims one ready run of the stage given as $1 from the\n";
    s += "# shared run store and trains it; USR1 before the time limit checkpoints and requeues.\n";
    s += &format!(
        "#SBATCH --job-name=isoflop-{}\n",
        i.sweep.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    );
    if let Some(p) = &opts.partition {
        s += &format!("#SBATCH --partition={p}\n");
    }
    if let Some(a) = &opts.account {
        s += &format!("#SBATCH --account={a}\n");
    }
    s += "#SBATCH --ntasks=1\n";
    s += &format!("#SBATCH --cpus-per-task={}\n", opts.cpus_per_run);
    if opts.gpus_per_run > 0 {
        s += &format!("#SBATCH --gres=gpu:{}\n", opts.gpus_per_run);
    }
    if let Some(m) = &opts.mem {
        s += &format!("#SBATCH --mem={m}\n");
    }
    if let Some(t) = &opts.time {
        s += &format!("#SBATCH --time={t}\n");
    }
    s += &format!("#SBATCH --signal=B:USR1@{}\n", opts.signal_seconds);
    s += "#SBATCH --requeue\n";
    s += "#SBATCH --open-mode=append\n";
    s += &format!("#SBATCH --output={}/logs/%A_%a.out\n", i.slurm_dir.display());
    s += &format!("#SBATCH --chdir={}\n", i.runs_dir.display());
    for a in &opts.sbatch_args {
        s += &format!("#SBATCH {a}\n");
    }
    s += "set -euo pipefail\n";
    s += "stage=${1:?usage: sbatch --array=… worker.sbatch STAGE}\n";
    s += "# exec: the worker is the batch step's process, so USR1 (B:) reaches it.\n";
    s += &format!(
        "exec {} sweep worker {} \\\n    --db {} \\\n    --runs-dir {} \\\n    --stage \"$stage\" --threads {} --heartbeat {}\n",
        sh(&i.exe.display().to_string()),
        sh(&i.spec.display().to_string()),
        sh(i.db),
        sh(&i.runs_dir.display().to_string()),
        opts.cpus_per_run,
        opts.heartbeat_seconds,
    );
    s
}

/// One submitted job array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubmittedArray {
    /// Slurm's job id of the array.
    pub job: String,
    /// The stage its workers train.
    pub stage: usize,
    /// Array tasks.
    pub tasks: usize,
    /// The array it waits for (`afterany`), if any.
    pub after: Option<String>,
    /// Unix seconds of submission.
    pub submitted_at: f64,
}

/// Runs a Slurm command; a missing command is [`Error::MissingCommand`], a failing one
/// [`Error::Command`] with its stderr.
pub fn slurm_command(
    program: &str,
    args: &[String],
    env: &[(&str, &str)],
    purpose: &str,
) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::MissingCommand { command: program.to_string(), purpose: purpose.to_string() }
        }
        _ => Error::Command {
            command: format!("{program} {}", args.join(" ")),
            status: "could not start".into(),
            stderr: e.to_string(),
        },
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Submits `tasks` array tasks of `script` for `stage`, after `after` (afterany), throttled
/// to `max_parallel`; returns the array's job id.
pub fn sbatch(
    script: &Path,
    stage: usize,
    tasks: usize,
    max_parallel: Option<usize>,
    after: Option<&str>,
    env: &[(&str, &str)],
) -> Result<String> {
    let mut array = format!("--array=0-{}", tasks.saturating_sub(1));
    if let Some(m) = max_parallel {
        array += &format!("%{m}");
    }
    let mut args = vec!["--parsable".to_string(), array];
    if let Some(a) = after {
        args.push(format!("--dependency=afterany:{a}"));
    }
    args.push(script.display().to_string());
    args.push(stage.to_string());
    let out = slurm_command("sbatch", &args, env, "sbatch submits the job arrays")?;
    // `--parsable` prints `jobid` or `jobid;cluster`.
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Error::Command {
            command: format!("sbatch {}", args.join(" ")),
            status: "unexpected output".into(),
            stderr: out.trim().to_string(),
        });
    }
    Ok(id)
}

/// The arrays submitted for a sweep so far (`slurm/jobs.json`), oldest first.
pub fn recorded(slurm_dir: &Path) -> Result<Vec<SubmittedArray>> {
    let path = slurm_dir.join("jobs.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Io {
            context: "corrupt job record",
            path: path.clone(),
            source: std::io::Error::other(e),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(source) => Err(Error::Io { context: "cannot read job record", path, source }),
    }
}

/// Appends submitted arrays to `slurm/jobs.json` (written whole, atomically).
pub fn record(slurm_dir: &Path, arrays: &[SubmittedArray]) -> Result<()> {
    let mut all = recorded(slurm_dir)?;
    all.extend_from_slice(arrays);
    let text = serde_json::to_string_pretty(&all).expect("records serialise");
    isoflop_atomic::write(&slurm_dir.join("jobs.json"), text.as_bytes())?;
    Ok(())
}

/// One array task as `squeue` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskState {
    /// `jobid_task` (or `jobid_[0-9%2]` for tasks not started yet).
    pub job: String,
    /// Slurm's state: PENDING, RUNNING, REQUEUED, …
    pub state: String,
    /// Elapsed time as Slurm prints it.
    pub elapsed: String,
    /// Slurm's reason (why pending).
    pub reason: String,
}

/// The queued and running tasks of the given arrays (finished tasks leave `squeue`).
pub fn squeue(jobs: &[String]) -> Result<Vec<TaskState>> {
    if jobs.is_empty() {
        return Ok(vec![]);
    }
    let args = vec![
        "--noheader".to_string(),
        format!("--jobs={}", jobs.join(",")),
        "--format=%i|%T|%M|%r".to_string(),
    ];
    let out = match slurm_command("squeue", &args, &[], "squeue shows the arrays' tasks") {
        Ok(o) => o,
        // squeue refuses ids it no longer knows (all finished and purged): nothing queued.
        Err(Error::Command { stderr, .. }) if stderr.contains("Invalid job id") => String::new(),
        Err(e) => return Err(e),
    };
    Ok(out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            (f.len() == 4).then(|| TaskState {
                job: f[0].into(),
                state: f[1].into(),
                elapsed: f[2].into(),
                reason: f[3].into(),
            })
        })
        .collect())
}

/// Cancels the arrays (`scancel`); their workers get TERM, save a checkpoint and put their
/// runs back to `pending`.
pub fn scancel(jobs: &[String]) -> Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    slurm_command("scancel", jobs, &[], "scancel cancels the arrays").map(|_| ())
}

/// Requeues this task (`scontrol requeue $SLURM_JOB_ID`): Slurm ends the process and runs the
/// task again, with `SLURM_RESTART_COUNT` raised.
pub fn requeue(job_id: &str) -> Result<()> {
    slurm_command(
        "scontrol",
        &["requeue".to_string(), job_id.to_string()],
        &[],
        "scontrol requeues a task stopped before its time limit",
    )
    .map(|_| ())
}

/// Where a task notes the run it trains (`slurm/tasks/<array>_<task>`), so that the task,
/// requeued, takes the same run first.
pub fn task_record(slurm_dir: &Path, array_job: &str, task: &str) -> PathBuf {
    slurm_dir.join("tasks").join(format!("{array_job}_{task}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> SlurmOptions {
        SlurmOptions {
            partition: Some("gpu".into()),
            gpus_per_run: 1,
            cpus_per_run: 8,
            mem: Some("32G".into()),
            time: Some("04:00:00".into()),
            max_parallel: Some(4),
            account: None,
            sbatch_args: vec!["--qos=high".into()],
            signal_seconds: 300,
            heartbeat_seconds: 30,
        }
    }

    #[test]
    fn the_script_asks_for_what_was_given_and_execs_the_worker() {
        let s = script(
            &opts(),
            &ScriptInputs {
                sweep: "my sweep",
                spec: Path::new("/shared/specs/a b.toml"),
                exe: Path::new("/opt/isoflop/bin/isoflop"),
                db: "\"$ISOFLOP_DB\"",
                runs_dir: Path::new("/shared/runs"),
                slurm_dir: Path::new("/shared/runs/my sweep/slurm"),
            },
        );
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --mem=32G",
            "#SBATCH --time=04:00:00",
            "#SBATCH --signal=B:USR1@300",
            "#SBATCH --requeue",
            "#SBATCH --qos=high",
            "#SBATCH --job-name=isoflop-my_sweep",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line}:\n{s}");
        }
        assert!(
            s.contains("exec /opt/isoflop/bin/isoflop sweep worker '/shared/specs/a b.toml'"),
            "{s}"
        );
        assert!(s.contains("--db \"$ISOFLOP_DB\""), "{s}");
        assert!(s.contains("--threads 8 --heartbeat 30"), "{s}");
        assert!(!s.contains("--account"), "{s}");
    }

    #[test]
    fn quoting_keeps_words_whole() {
        assert_eq!(sh("/a/b-c.toml"), "/a/b-c.toml");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("postgres://u@h:5432/db"), "postgres://u@h:5432/db");
    }
}
