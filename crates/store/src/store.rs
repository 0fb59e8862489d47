//! Opening the store and its sweeps.
//!
//! Two backends behind one API ([`Backend`]): one SQLite file (`./isoflop.db` by default) in
//! WAL mode with `synchronous = FULL`, for one machine; or a PostgreSQL database, given as
//! `--db postgres://user@host/dbname`, for a sweep whose workers run on many nodes (SQLite's
//! own documentation: WAL does not work over a network filesystem). Every committed
//! transaction survives the process being killed at any instant, and readers never block the
//! sweep that writes.

use crate::db::{Backend, Conn, Db, DbError, Tx, connect_postgres, vals};
use crate::owner;
use crate::schema::{self, SCHEMA_VERSION};
use crate::{Error, Result};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A handle on the run store.
#[derive(Debug)]
pub struct Store {
    pub(crate) db: Db,
    /// Where the store is, as shown to people (a PostgreSQL URL without its password).
    pub(crate) path: PathBuf,
    /// Where the store is, as given (to open another handle on it).
    pub(crate) location: PathBuf,
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

/// Whether `--db` names a PostgreSQL database (`postgres://…` or `postgresql://…`) rather than
/// a SQLite file.
pub fn is_postgres(db: &Path) -> bool {
    db.to_str().is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// The backend `--db` names.
pub fn backend_of(db: &Path) -> Backend {
    if is_postgres(db) { Backend::Postgres } else { Backend::Sqlite }
}

/// `--db` as it may be shown: a PostgreSQL URL loses its password (`user:***@host`).
pub fn display_location(db: &Path) -> String {
    let s = db.to_string_lossy();
    if !is_postgres(db) {
        return s.into_owned();
    }
    let (scheme, rest) = s.split_once("://").unwrap_or(("postgres", &s));
    let (auth, host) = match rest.rfind('@') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => return s.into_owned(),
    };
    let user = auth.split_once(':').map_or(auth, |(u, _)| u);
    let masked = if auth.contains(':') { format!("{user}:***") } else { user.to_string() };
    format!("{scheme}://{masked}@{host}")
}

fn too_new(path: &Path, found: u32) -> Error {
    Error::SchemaTooNew { path: path.to_path_buf(), found, supported: SCHEMA_VERSION }
}

fn db_err(path: &Path, context: &str) -> impl FnOnce(DbError) -> Error + use<> {
    let path = path.to_path_buf();
    let context = context.to_string();
    move |source| Error::Database { path, context, source }
}

/// Refuses, before anything is written, a store of a newer schema or a database that holds
/// tables but not isoflop's (an empty file or a fresh database may become a store).
fn check_ours(conn: &mut Conn, path: &Path) -> Result<()> {
    let found = schema::version(conn).map_err(|e| match e.sqlite_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => Error::NotAStore(path.to_path_buf()),
        _ => db_err(path, "cannot read schema")(e),
    })?;
    if found > SCHEMA_VERSION {
        return Err(too_new(path, found));
    }
    let (any, sweeps) = schema::tables(conn).map_err(db_err(path, "cannot read schema"))?;
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

/// Seconds since the Unix epoch, as stored in the `*_at` and `heartbeat` columns (what a run's
/// times are compared with).
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A sweep's row, read under the write lock of the caller's transaction.
pub(crate) struct LockedSweep {
    /// Row id.
    pub(crate) id: i64,
    /// What differs between its stored spec and the one at hand (keys in `ignore` left out),
    /// `(key, old, new)`; empty when it has no runs yet (its spec is then free to change).
    pub(crate) changes: Vec<(String, String, String)>,
}

/// The sweep `name`, locked for the caller's write transaction (`FOR UPDATE` on PostgreSQL;
/// SQLite's `BEGIN IMMEDIATE` already holds the file), with how `spec` differs from its own;
/// `None` if there is no such sweep.
pub(crate) fn locked_sweep(
    c: &mut Conn,
    path: &Path,
    name: &str,
    spec: &serde_json::Value,
    ignore: &[&str],
) -> std::result::Result<Option<LockedSweep>, Tx> {
    let lock = c.for_update();
    let row = c.query_opt(
        &format!(
            "SELECT id, spec, (SELECT COUNT(*) FROM runs WHERE sweep_id = sweeps.id)
             FROM sweeps WHERE name = ?1{lock}"
        ),
        vals![name],
    )?;
    let Some(row) = row else { return Ok(None) };
    let old: serde_json::Value =
        serde_json::from_str(&row.text(1)?).map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            what: "sweeps.spec".into(),
            message: e.to_string(),
        })?;
    let changes =
        if row.int(2)? > 0 { crate::spec_diff::diff(&old, spec, ignore) } else { Vec::new() };
    Ok(Some(LockedSweep { id: row.int(0)?, changes }))
}

impl Store {
    /// Opens the store `db` for writing, creating it and migrating it to the newest schema:
    /// a SQLite file, or a PostgreSQL database when `db` is a `postgres://` URL (the database
    /// must exist; its tables are created). A file or database that is not isoflop's store,
    /// or one of a newer schema, is refused before anything is written to it.
    pub fn open(db: &Path) -> Result<Self> {
        if is_postgres(db) {
            return Self::open_postgres(db, true);
        }
        let path = db;
        let err = |context: &str| {
            let path = path.to_path_buf();
            let context = context.to_string();
            move |source: rusqlite::Error| Error::Database { path, context, source: source.into() }
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::Database {
                path: path.to_path_buf(),
                context: format!("cannot create directory {}", dir.display()),
                source: DbError::Decode(e.to_string()),
            })?;
        }
        let conn = Connection::open(path).map_err(err("cannot open"))?;
        // The busy timeout comes first: every later statement may meet another process's lock.
        conn.busy_timeout(BUSY).map_err(err("cannot set busy timeout"))?;
        let mut conn = Conn::Sqlite(conn);
        check_ours(&mut conn, path)?;
        let Conn::Sqlite(c) = &conn else { unreachable!() };
        set_wal(c).map_err(err("cannot enable WAL"))?;
        c.pragma_update(None, "synchronous", "FULL").map_err(err("cannot set synchronous"))?;
        c.pragma_update(None, "foreign_keys", "ON").map_err(err("cannot enable foreign keys"))?;
        let found = schema::migrate(&mut conn).map_err(db_err(path, "cannot migrate schema"))?;
        if found > SCHEMA_VERSION {
            return Err(too_new(path, found));
        }
        Ok(Self {
            db: Db::new(conn),
            path: path.to_path_buf(),
            location: path.to_path_buf(),
            owner: owner::new_owner(),
        })
    }

    fn open_postgres(db: &Path, create: bool) -> Result<Self> {
        let shown = PathBuf::from(display_location(db));
        let url = db.to_string_lossy().into_owned();
        let client = connect_postgres(&url).map_err(db_err(&shown, "cannot connect"))?;
        let mut conn = Conn::Postgres { client, url };
        check_ours(&mut conn, &shown)?;
        if create {
            let found =
                schema::migrate(&mut conn).map_err(db_err(&shown, "cannot migrate schema"))?;
            if found > SCHEMA_VERSION {
                return Err(too_new(&shown, found));
            }
        } else if schema::version(&mut conn).map_err(db_err(&shown, "cannot read schema"))? == 0 {
            return Err(Error::Missing(shown));
        }
        Ok(Self {
            db: Db::new(conn),
            path: shown,
            location: db.to_path_buf(),
            owner: owner::new_owner(),
        })
    }

    /// Opens an existing store without changing it. SQLite: read-only
    /// (`SQLITE_OPEN_READ_ONLY`): no WAL change, no migration, nothing written, so a store in
    /// a read-only directory can be listed. PostgreSQL: a database without isoflop's tables is
    /// refused. Refuses a missing store ([`Error::Missing`]: commands that only read never
    /// create one), a file that is not isoflop's store ([`Error::NotAStore`]) and a newer
    /// schema, untouched.
    pub fn open_existing(db: &Path) -> Result<Self> {
        if is_postgres(db) {
            return Self::open_postgres(db, false);
        }
        let path = db;
        if !path.exists() {
            return Err(Error::Missing(path.to_path_buf()));
        }
        let err = |context: &str| {
            let path = path.to_path_buf();
            let context = context.to_string();
            move |source: rusqlite::Error| Error::Database { path, context, source: source.into() }
        };
        let open = |flags: OpenFlags, target: &str| -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(target, flags)?;
            conn.busy_timeout(BUSY)?;
            conn.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))?;
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
        let mut conn = Conn::Sqlite(conn);
        check_ours(&mut conn, path)?;
        let found =
            schema::version(&mut conn).map_err(db_err(path, "cannot read schema version"))?;
        if found == 0 {
            return Err(Error::NotAStore(path.to_path_buf()));
        }
        Ok(Self {
            db: Db::new(conn),
            path: path.to_path_buf(),
            location: path.to_path_buf(),
            owner: owner::new_owner(),
        })
    }

    /// Where the store is, as it may be shown (a PostgreSQL URL without its password).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the store is, as given to [`Store::open`] (to open another handle on it).
    pub fn location(&self) -> &Path {
        &self.location
    }

    /// Which engine holds the store.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// The owner this handle claims runs as (`host pid start-time token`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<u32> {
        self.db.with(schema::version).map_err(self.err("cannot read schema version"))
    }

    pub(crate) fn err(&self, context: &str) -> impl FnOnce(DbError) -> Error + use<> {
        db_err(&self.path, context)
    }

    /// A transaction's outcome as the store's error (`context` for the database's failures).
    pub(crate) fn tx_err(&self, context: &str) -> impl FnOnce(Tx) -> Error + use<> {
        let f = self.err(context);
        move |e| match e {
            Tx::Db(e) => f(e),
            Tx::Store(e) => e,
        }
    }
    /// Creates the sweep `name`, or updates its spec if it exists; returns it.
    pub fn upsert_sweep(&self, name: &str, spec: &serde_json::Value) -> Result<Sweep> {
        let t = now();
        self.db
            .with(|c| {
                c.execute(
                    "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
                    vals![name, spec.to_string(), t],
                )
            })
            .map_err(self.err("cannot save sweep"))?;
        self.sweep(name)
    }

    /// The sweep `name` for a run of `spec`, in one write transaction: created if new; its
    /// spec updated if it has no runs yet or only keys in `ignore` (dotted, e.g.
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
        self.db
            .tx(true, |c| {
                if let Some(old) = locked_sweep(c, &path, name, spec, ignore)? {
                    let (id, changes) = (old.id, old.changes);
                    if !changes.is_empty() {
                        if !new_version {
                            return Err(Error::SpecChanged {
                                path: path.clone(),
                                sweep: name.to_string(),
                                changes: crate::spec_diff::describe(&changes),
                            }
                            .into());
                        }
                        let mut v = 1;
                        let renamed = loop {
                            let candidate = format!("{name}@v{v}");
                            let taken = c
                                .query_opt("SELECT 1 FROM sweeps WHERE name = ?1", vals![&candidate])?
                                .is_some();
                            if !taken {
                                break candidate;
                            }
                            v += 1;
                        };
                        c.execute(
                            "UPDATE sweeps SET name = ?2, updated_at = ?3 WHERE id = ?1",
                            vals![id, renamed, t],
                        )?;
                    }
                }
                c.execute(
                    "INSERT INTO sweeps (name, spec, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
                    vals![name, spec.to_string(), t],
                )?;
                Ok(())
            })
            .map_err(self.tx_err(&format!("cannot save sweep {name:?}")))?;
        self.sweep(name)
    }

    /// The sweep `name`, or [`Error::UnknownSweep`] naming the sweeps that exist.
    pub fn sweep(&self, name: &str) -> Result<Sweep> {
        let row = self
            .db
            .with(|c| {
                c.query_opt(
                    "SELECT id, name, spec, created_at FROM sweeps WHERE name = ?1",
                    vals![name],
                )
            })
            .map_err(self.err("cannot read sweeps"))?;
        match row {
            Some(r) => self.decode_sweep(&r),
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

    fn decode_sweep(&self, r: &crate::db::Row) -> Result<Sweep> {
        let f = || -> std::result::Result<_, DbError> {
            Ok((r.int(0)?, r.text(1)?, r.text(2)?, r.real(3)?))
        };
        let (id, name, spec, created_at) = f().map_err(self.err("cannot read sweeps"))?;
        Ok(Sweep { id, name, spec: self.parse_json("sweeps.spec", &spec)?, created_at })
    }

    /// Every sweep, oldest first.
    pub fn sweeps(&self) -> Result<Vec<Sweep>> {
        let rows = self
            .db
            .with(|c| c.query("SELECT id, name, spec, created_at FROM sweeps ORDER BY id", vals![]))
            .map_err(self.err("cannot read sweeps"))?;
        rows.iter().map(|r| self.decode_sweep(r)).collect()
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
        let mode: String = store
            .db
            .with_sqlite(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap())
            .unwrap();
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
