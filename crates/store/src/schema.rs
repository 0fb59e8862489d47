//! Versioned migrations of the store's schema.
//!
//! The schema version lives in SQLite's `PRAGMA user_version`. Each entry of [`MIGRATIONS`]
//! moves the file from version `i` to `i + 1` inside one transaction, so a process killed
//! mid-migration leaves the old version intact. Migrations are append-only: never edit a
//! shipped one, add the next.

use rusqlite::Connection;

/// The schema, one step per version. Index `i` upgrades version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: sweeps, runs, curve points.
    r#"
    CREATE TABLE sweeps (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        -- The resolved sweep spec as JSON (what made these runs).
        spec        TEXT NOT NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        sweep_id          INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
        -- Stable name of the run within its sweep; a sweep never holds two runs of one key.
        key               TEXT NOT NULL,
        status            TEXT NOT NULL
                          CHECK (status IN ('pending','running','done','failed','diverged')),
        reason            TEXT,
        -- The resolved training config as JSON.
        config            TEXT NOT NULL,
        params            REAL NOT NULL,
        tokens            REAL NOT NULL,
        flops             REAL NOT NULL,
        budget            REAL,
        seed              INTEGER NOT NULL DEFAULT 0,
        loss              REAL,
        train_loss        REAL,
        ood_loss          REAL,
        bits_per_byte     REAL,
        tokens_per_second REAL,
        mfu               REAL,
        wall_seconds      REAL,
        checkpoint        TEXT,
        engine            TEXT,
        host              TEXT,
        version           TEXT,
        source            TEXT NOT NULL DEFAULT 'isoflop',
        attempts          INTEGER NOT NULL DEFAULT 0,
        started_at        REAL,
        finished_at       REAL,
        updated_at        REAL NOT NULL,
        UNIQUE (sweep_id, key)
    );
    CREATE INDEX runs_by_status ON runs(sweep_id, status);
    CREATE TABLE curve_points (
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        tokens      REAL NOT NULL,
        step        INTEGER,
        train_loss  REAL,
        val_loss    REAL,
        PRIMARY KEY (run_id, tokens)
    );
    "#,
    // Version 2: who trains a running run. `owner` is `host pid start-time token` of the
    // claiming process (see `owner.rs`), `heartbeat` the Unix seconds of its last claim; a run
    // that is `running` under a live owner cannot be claimed by another process.
    r#"
    ALTER TABLE runs ADD COLUMN owner TEXT;
    ALTER TABLE runs ADD COLUMN heartbeat REAL;
    "#,
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Reads `PRAGMA user_version`.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Whether the file holds isoflop's tables (or nothing at all, so it can become a store).
/// Returns `(has_any_table, has_sweeps_table)`.
pub(crate) fn tables(conn: &Connection) -> rusqlite::Result<(bool, bool)> {
    conn.query_row(
        "SELECT COUNT(*) > 0, COALESCE(SUM(name = 'sweeps'), 0) > 0 FROM sqlite_master
         WHERE type = 'table'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Applies every migration above the file's version inside one `BEGIN IMMEDIATE`
/// transaction that re-reads the version first: of two processes opening a new store at
/// once, the second waits for the first's write lock and then finds nothing left to do.
/// Returns the version found under the lock (the caller refuses one that is too new).
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<u32> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found >= SCHEMA_VERSION {
        return Ok(found);
    }
    for sql in &MIGRATIONS[found as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(found)
}
