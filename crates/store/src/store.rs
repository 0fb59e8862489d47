//! Opening the store and its sweeps.
//!
//! One SQLite file (`./isoflop.db` by default) in WAL mode with `synchronous = FULL`: every
//! committed transaction survives the process being killed at any instant, and readers (say
//! `isoflop runs` in another terminal) never block the sweep that writes.

use crate::schema::{self, SCHEMA_VERSION};
use crate::{Error, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A handle on the run store.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
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

/// Seconds since the Unix epoch, as stored in the `*_at` columns.
pub(crate) fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Store {
    /// Opens the store at `path`, creating it and migrating it to the newest schema.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_inner(path, true)
    }

    /// Opens an existing store; [`Error::Missing`] when there is no file (commands that only
    /// read should not leave an empty database behind a typo).
    pub fn open_existing(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        Self::open_inner(path, false)
    }

    fn open_inner(path: &Path, create: bool) -> Result<Self> {
        let err = |context: &str| {
            let path = path.to_path_buf();
            let context = context.to_string();
            move |source| Error::Sqlite { path, context, source }
        };
        if create
            && let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::Sqlite {
                path: path.to_path_buf(),
                context: format!("cannot create directory {}", dir.display()),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        }
        let mut conn = Connection::open(path).map_err(err("cannot open"))?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(err("cannot set busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err("cannot enable WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(err("cannot set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err("cannot enable foreign keys"))?;
        let found = schema::version(&conn).map_err(err("cannot read schema version"))?;
        if found > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        schema::migrate(&mut conn, found).map_err(err("cannot migrate schema"))?;
        Ok(Self { conn, path: path.to_path_buf() })
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
        let e = Store::open(&path).unwrap_err();
        assert!(matches!(e, Error::SchemaTooNew { .. }), "{e}");
    }
}
