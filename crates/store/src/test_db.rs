//! Fresh, empty stores for tests, on each backend: a SQLite file in a temporary directory, and
//! a PostgreSQL database of its own (created from the server named by `ISOFLOP_TEST_PG`, an
//! admin URL such as `postgres://isoflop:isoflop@localhost:5432/postgres`, and dropped when
//! the handle drops).
//!
//! `tools/services.sh` starts that server and sets the variable; `tools/test.sh` also sets
//! `ISOFLOP_REQUIRE_SERVICES=1`, under which a missing server fails the test instead of
//! skipping the PostgreSQL half with a note on stderr.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// One fresh store location; the database (or directory) goes away on drop.
#[derive(Debug)]
pub struct TestDb {
    location: PathBuf,
    _dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// A fresh SQLite store location (the file does not exist yet).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        Self { location: dir.path().join("isoflop.db"), _dir: Some(dir), postgres: None }
    }

    /// A fresh, empty PostgreSQL database, or `None` when `ISOFLOP_TEST_PG` is unset (a
    /// panic instead when `ISOFLOP_REQUIRE_SERVICES` is set: the test suite promised one).
    pub fn postgres() -> Option<Self> {
        let Ok(admin) = std::env::var("ISOFLOP_TEST_PG") else {
            if std::env::var_os("ISOFLOP_REQUIRE_SERVICES").is_some() {
                panic!(
                    "ISOFLOP_TEST_PG is unset but ISOFLOP_REQUIRE_SERVICES is: run the tests through tools/test.sh"
                );
            }
            eprintln!("note: ISOFLOP_TEST_PG unset; the PostgreSQL half of this test is skipped");
            return None;
        };
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "isoflop_t_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            crate::store::now().to_bits() % 1_000_000_007
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap_or_else(|e| {
            let e = crate::DbError::from(e);
            panic!(
                "cannot reach ISOFLOP_TEST_PG ({}): {e}",
                crate::display_location(Path::new(&admin))
            )
        });
        client.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(Self { location: PathBuf::from(url), _dir: None, postgres: Some((admin, name)) })
    }

    /// Every backend this machine offers: SQLite always, PostgreSQL where configured.
    pub fn each() -> Vec<Self> {
        std::iter::once(Self::sqlite()).chain(Self::postgres()).collect()
    }

    /// The `--db` of this store.
    pub fn path(&self) -> &Path {
        &self.location
    }

    /// Which backend it is, for messages.
    pub fn name(&self) -> &'static str {
        if self.postgres.is_some() { "postgres" } else { "sqlite" }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}
