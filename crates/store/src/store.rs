//! Opening the store and its sweeps.
//!
//! One SQLite file (`./isoflop.db` by default) in WAL mode with `synchronous = FULL`: every
//! committed transaction survives the process being killed at any instant, and readers (say
//! `isoflop runs` in another terminal) never block the sweep that writes.

use crate::owner;
use crate::schema::{self, SCHEMA_VERSION};
use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A handle on the run store.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    /// Who this handle claims runs as (see `owner.rs`).
    pub(crate) owner: String,
}

/// One sweep: a named family of runs made from one spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sweep {
    /// Row id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The resolved spec that planned the runs, as JSON.
    pub spec: serde_json::Value,
    /// Unix seconds of creation.
    pub created_at: f64,
}

/// How long a statement waits for another process's lock before failing.
const BUSY: Duration = Duration::from_secs(30);

fn too_new(path: &Path, found: u32) -> Error {
    Error::SchemaTooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION }
}

/// Refuses, before anything is written, a file of a newer schema or one that holds tables
/// but not isoflop's (an empty file or a fresh database may become a store).
fn check_ours(conn: &Connection, path: &Path) -> Result<()> {
    let err = |source| Error::Sqlite {
        path: path.to_path_buf(),
        context: "cannot read schema".into(),
        source,
    };
    let found = schema::version(conn).map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => Error::NotAStore(path.to_path_buf()),
        _ => err(e),
    })?;
    if found > SCHEMA_VERSION {
        return Err(too_new(path, found));
    }
    let (any, sweeps) = schema::tables(conn).map_err(err)?;
    if any && !sweeps {
        return Err(Error::NotAStore(path.to_path_buf()));
    }
    Ok(())
}

/// Switches to WAL. Changing the journal mode needs an exclusive lock and SQLite does not
/// apply the busy timeout to it, so a process that opens a new store while another migrates
/// it retries here.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let t0 = std::time::Instant::now();
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && t0.elapsed() < BUSY =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Seconds since the Unix epoch, as stored in the `*_at` columns.
pub(crate) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Store {
    /// Opens the store at `path` for writing, creating it and migrating it to the newest
    /// schema. A file that is not isoflop's store, or one of a newer schema, is refused
    /// before anything is written to it.
    pub fn open(path: &Path) -> Result<Self> {
        let err = |context: &str| {
            let path = path.to_path_buf();
            let context = context.to_string();
            move |source| Error::Sqlite { path, context, source }
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::Sqlite {
                path: path.to_path_buf(),
                context: format!("cannot create directory {}", dir.display()),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let mut conn = Connection::open(path).map_err(err("cannot open"))?;
        // The busy timeout comes first: every later statement may meet another process's lock.
        conn.busy_timeout(BUSY).map_err(err("cannot set busy timeout"))?;
        check_ours(&conn, path)?;
        set_wal(&conn).map_err(err("cannot enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err("cannot set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err("cannot enable foreign keys"))?;
        let found = schema::migrate(&mut conn).map_err(err("cannot migrate schema"))?;
        if found > SCHEMA_VERSION {
            return Err(too_new(path, found));
        }
        Ok(Self { conn, path: path.to_path_buf(), owner: owner::new_owner() })
    }

    /// Opens an existing store read-only (`SQLITE_OPEN_READ_ONLY`): no WAL change, no
    /// migration, nothing written, so a store in a read-only directory can be listed. Refuses a
    /// missing file ([`Error::Missing`]: commands that only read never create one), a file that
    /// is not isoflop's store ([`Error::NotAStore`]) and a newer schema, untouched.
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        let err = |context: &str| {
            let path = path.to_path_buf();
            let context = context.to_string();
            move |source| Error::Sqlite { path, context, source }
        };
        let open = |flags: OpenFlags, target: &str| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(target, flags)?;
            conn.busy_timeout(BUSY)?;
            schema::version(&conn)?;
            Ok(conn)
        };
        let ro = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match open(ro, &path.to_string_lossy()) {
            Ok(c) => c,
            // A WAL store in a directory we cannot write has no -shm to share: read the file as
            // immutable (no other process can be writing where we cannot create a file).
            Err(_) => {
                let uri = format!("file:{}?immutable=1", path.to_string_lossy());
                open(ro | OpenFlags::SQLITE_OPEN_URI, &uri).map_err(|e| {
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
                        Error::NotAStore(path.to_path_buf())
                    } else {
                        err("cannot open read-only")(e)
                    }
                })?
            }
        };
        check_ours(&conn, path)?;
        let found = schema::version(&conn).map_err(err("cannot read schema version"))?;
        if found == 0 {
            return Err(Error::NotAStore(path.to_path_buf()));
        }
        Ok(Self { conn, path: path.to_path_buf(), owner: owner::new_owner() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<u32> {
        schema::version(&self.conn).map_err(self.err("cannot read schema version"))
    }

    pub(crate) fn err(&self, context: &str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        let path = self.path.clone();
        let context = context.to_string();
        move |source| Error::Sqlite { path, context, source }
    }

    /// Creates the sweep `name`, or updates its spec if it exists; returns it.
    pub fn upsert_sweep(&self, name: &str, spec: &serde_json::Value) -> Result<Sweep> {
        let t = now();
        self.conn
            .execute(
                "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
                params![name, spec.to_string(), t],
            )
            .map_err(self.err("cannot save sweep"))?;
        self.sweep(name)
    }

    /// The sweep `name` for a run of `spec`, in one `BEGIN IMMEDIATE` transaction: created if
    /// new; its spec updated if it has no runs yet or only keys in `ignore` (dotted, e.g.
    /// `train.threads_per_run`: settings that do not change what a run measures) differ.
    /// Otherwise a changed spec is refused with [`Error::SpecChanged`] naming each changed key
    /// (old → new), so old runs never pass for runs of the new settings, unless `new_version`:
    /// then the old sweep and its runs are kept under `name@v1` (`@v2`, …) and a fresh sweep
    /// `name` starts.
    pub fn sweep_for_spec(
        &mut self,
        name: &str,
        spec: &serde_json::Value,
        ignore: &[&str],
        new_version: bool,
    ) -> Result<Sweep> {
        let t = now();
        let path = self.path.clone();
        let err = |source| Error::Sqlite {
            path: path.clone(),
            context: format!("cannot save sweep {name:?}"),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let old: Option<(i64, String, i64)> = tx
            .query_row(
                "SELECT id, spec, (SELECT COUNT(*) FROM runs WHERE sweep_id = sweeps.id)
                 FROM sweeps WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(err)?;
        if let Some((id, old_spec, n_runs)) = old {
            let old_spec: serde_json::Value =
                serde_json::from_str(&old_spec).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    what: "sweeps.spec".into(),
                    message: e.to_string(),
                })?;
            let changes = crate::spec_diff::diff(&old_spec, spec, ignore);
            if n_runs > 0 && !changes.is_empty() {
                if !new_version {
                    return Err(Error::SpecChanged {
                        path: path.clone(),
                        sweep: name.to_string(),
                        changes: crate::spec_diff::describe(&changes),
                    });
                }
                let mut v = 1;
                let renamed = loop {
                    let candidate = format!("{name}@v{v}");
                    let taken: bool = tx
                        .query_row(
                            "SELECT COUNT(*) > 0 FROM sweeps WHERE name = ?1",
                            [&candidate],
                            |r| r.get(0),
                        )
                        .map_err(err)?;
                    if !taken {
                        break candidate;
                    }
                    v += 1;
                };
                tx.execute(
                    "UPDATE sweeps SET name = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, renamed, t],
                )
                .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
            params![name, spec.to_string(), t],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        self.sweep(name)
    }

    /// The sweep `name`, or [`Error::UnknownSweep`] naming the sweeps that exist.
    pub fn sweep(&self, name: &str) -> Result<Sweep> {
        let row = self
            .conn
            .query_row(
                "SELECT id, name, spec, created_at FROM sweeps WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(self.err("cannot read sweeps"))?;
        match row {
            Some((id, name, spec, created_at)) => {
                Ok(Sweep { id, name, spec: self.parse_json("sweeps.spec", &spec)?, created_at })
            }
            None => {
                let known: Vec<String> = self.sweeps()?.into_iter().map(|s| s.name).collect();
                Err(Error::UnknownSweep {
                    path: self.path.clone(),
                    name: name.to_string(),
                    known: if known.is_empty() { "none".into() } else { known.join(", ") },
                })
            }
        }
    }

    /// Every sweep, oldest first.
    pub fn sweeps(&self) -> Result<Vec<Sweep>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, spec, created_at FROM sweeps ORDER BY id")
            .map_err(self.err("cannot read sweeps"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?)))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<(i64, String, String, f64)>>>())
            .map_err(self.err("cannot read sweeps"))?;
        rows.into_iter()
            .map(|(id, name, spec, created_at)| {
                Ok(Sweep { id, name, spec: self.parse_json("sweeps.spec", &spec)?, created_at })
            })
            .collect()
    }

    pub(crate) fn parse_json(&self, what: &str, text: &str) -> Result<serde_json::Value> {
        serde_json::from_str(text).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            what: what.to_string(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/isoflop.db");
        assert!(matches!(Store::open_existing(&path), Err(Error::Missing(_))));
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = store.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let s = store.upsert_sweep("a", &serde_json::json!({"x": 1})).unwrap();
        drop(store);
        let store = Store::open_existing(&path).unwrap();
        assert_eq!(store.sweep("a").unwrap(), s);
        // A read-only handle writes nothing.
        assert!(store.upsert_sweep("a", &serde_json::json!({"x": 2})).is_err());
        let store = Store::open(&path).unwrap();
        let again = store.upsert_sweep("a", &serde_json::json!({"x": 2})).unwrap();
        assert_eq!(again.id, s.id);
        assert_eq!(again.spec["x"], 2);
        let e = store.sweep("b").unwrap_err().to_string();
        assert!(e.contains("\"b\"") && e.contains("known: a"), "{e}");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("isoflop.db");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, Error::SchemaTooNew { .. }), "{e}");
        let e = Store::open_existing(&path).unwrap_err();
        assert!(matches!(e, Error::SchemaTooNew { .. }), "{e}");
        // Refused untouched: no WAL switch, no tables added.
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!dir.path().join("isoflop.db-wal").exists());
    }
}
