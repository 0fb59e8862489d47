//! The two database backends behind one small interface: SQLite for one machine, PostgreSQL
//! for a store that many nodes share.
//!
//! The store writes its SQL once, in the dialect both engines accept (`ON CONFLICT … DO`,
//! `RETURNING`, `?N` placeholders, which become `$N` for PostgreSQL), and passes dynamically
//! typed [`Value`]s. Where the engines differ the difference is named here and nowhere else:
//! how a write transaction begins (SQLite's `BEGIN IMMEDIATE` takes the file's write lock up
//! front; PostgreSQL locks rows as it reads them `FOR UPDATE`), and the DDL of the schema
//! (`schema.rs`).

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// A value bound to or read from a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `vals![a, b, c]`: the statement's arguments as [`Value`]s.
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*][..] };
}
pub(crate) use vals;

/// What a backend reported, before the store adds which store and what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// SQLite's own error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's own error (from the server or the connection), with its causes.
    #[error("{}", chain(.0))]
    Postgres(#[from] postgres::Error),
    /// A value of a type the store never writes.
    #[error("{0}")]
    Decode(String),
    /// The PostgreSQL server stayed unreachable through every retry.
    #[error(
        "lost the connection and could not reconnect in {tries} tries over {seconds:.0} s: {last}"
    )]
    Unreachable {
        /// How many connection attempts were made.
        tries: u32,
        /// Seconds spent retrying.
        seconds: f64,
        /// The last attempt's error.
        last: String,
    },
}

/// An error and its causes, `outer: inner: …` (postgres' own text for a refused connection
/// is only "error connecting to server"; the cause says why).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !s.contains(&t) {
            s += &format!(": {t}");
        }
        cause = c.source();
    }
    s
}

impl DbError {
    /// Whether the server is gone (closed connection, refused, reset) or ended the session
    /// (SQLSTATE class 08, connection exception; class 57, operator intervention: a restart,
    /// `pg_terminate_backend`, a failover): worth reconnecting.
    fn is_connection(&self) -> bool {
        match self {
            DbError::Postgres(e) => {
                let class = e.code().map(|c| &c.code()[..2]);
                e.is_closed()
                    || matches!(class, Some("08" | "57"))
                    || class.is_none()
                        && std::error::Error::source(e)
                            .is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some())
            }
            _ => false,
        }
    }

    /// SQLite's error code, if SQLite raised it.
    pub(crate) fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match self {
            DbError::Sqlite(e) => e.sqlite_error_code(),
            _ => None,
        }
    }
}

/// One row read back: its values by column position.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, DbError> {
        self.0.get(i).ok_or_else(|| DbError::Decode(format!("no column {i}")))
    }
    pub(crate) fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?.ok_or_else(|| DbError::Decode(format!("column {i} is NULL")))
    }
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            v => Err(DbError::Decode(format!("column {i}: expected an integer, found {v:?}"))),
        }
    }
    pub(crate) fn real(&self, i: usize) -> Result<f64, DbError> {
        self.opt_real(i)?.ok_or_else(|| DbError::Decode(format!("column {i} is NULL")))
    }
    pub(crate) fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Real(v) => Ok(Some(*v)),
            // SQLite keeps a REAL that is a whole number as written (an import may bind 1e12
            // as an integer); both read back as numbers.
            Value::Int(v) => Ok(Some(*v as f64)),
            v => Err(DbError::Decode(format!("column {i}: expected a number, found {v:?}"))),
        }
    }
    pub(crate) fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?.ok_or_else(|| DbError::Decode(format!("column {i} is NULL")))
    }
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            Value::Text(v) => Ok(Some(v.clone())),
            v => Err(DbError::Decode(format!("column {i}: expected text, found {v:?}"))),
        }
    }
    pub(crate) fn flag(&self, i: usize) -> Result<bool, DbError> {
        Ok(self.int(i)? != 0)
    }
}

/// Which engine a store lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file, for one machine.
    Sqlite,
    /// A PostgreSQL database, shared by every node that reaches it.
    Postgres,
}

/// An open connection.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres { client: postgres::Client, url: String },
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conn::Sqlite(_) => f.write_str("Conn::Sqlite"),
            Conn::Postgres { .. } => f.write_str("Conn::Postgres"),
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V};
        Ok(ToSqlOutput::Owned(match self {
            Value::Null => V::Null,
            Value::Int(v) => V::Integer(*v),
            Value::Real(v) => V::Real(*v),
            Value::Text(v) => V::Text(v.clone()),
        }))
    }
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        // PostgreSQL types each parameter from its use in the statement; the value follows.
        match (self, ty) {
            (Value::Null, _) => Ok(postgres::types::IsNull::Yes),
            (Value::Int(v), &Type::INT8) => v.to_sql(ty, out),
            (Value::Int(v), &Type::INT4) => i32::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::INT2) => i16::try_from(*v)?.to_sql(ty, out),
            (Value::Int(v), &Type::FLOAT8) => (*v as f64).to_sql(ty, out),
            (Value::Int(v), &Type::BOOL) => (*v != 0).to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT8) => v.to_sql(ty, out),
            (Value::Real(v), &Type::FLOAT4) => (*v as f32).to_sql(ty, out),
            (Value::Text(v), _) => v.as_str().to_sql(ty, out),
            (v, ty) => Err(format!("cannot bind {v:?} to a parameter of type {ty}").into()),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

fn pg_value(row: &postgres::Row, i: usize) -> Result<Value, DbError> {
    use postgres::types::Type;
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(|v| Value::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::NAME | Type::BPCHAR => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        ty => return Err(DbError::Decode(format!("column {i} has unexpected type {ty}"))),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// `?N` placeholders as PostgreSQL's `$N` (the store's SQL never holds `?` in a literal).
fn pg_sql(sql: &str) -> String {
    sql.replace('?', "$")
}

/// How long, in all, a lost PostgreSQL connection is retried before the store gives up.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// Connects to PostgreSQL, retrying with doubling waits (0.25 s up to 8 s) while the server
/// cannot be reached, for at most [`RECONNECT_FOR`]: a database restarting or a network blip
/// delays a worker instead of failing its run. A refusal by the server (bad password,
/// missing database) is final at once.
pub(crate) fn connect_postgres(url: &str) -> Result<postgres::Client, DbError> {
    let t0 = Instant::now();
    let mut wait = Duration::from_millis(250);
    let mut tries = 0;
    loop {
        tries += 1;
        match postgres::Client::connect(url, postgres::NoTls) {
            Ok(c) => return Ok(c),
            // A refusal by the server is final, except "starting up / shutting down" (57P03).
            Err(e) if e.code().is_some_and(|c| c.code() != "57P03") => return Err(e.into()),
            Err(e) if t0.elapsed() + wait > RECONNECT_FOR => {
                return Err(DbError::Unreachable {
                    tries,
                    seconds: t0.elapsed().as_secs_f64(),
                    last: e.to_string(),
                });
            }
            Err(e) => {
                if tries == 1 {
                    eprintln!("isoflop: run store unreachable ({e}); retrying");
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(8));
            }
        }
    }
}

impl Conn {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Runs one statement; returns the rows it changed.
    pub(crate) fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(args.iter()))? as u64)
            }
            Conn::Postgres { client, .. } => {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                Ok(client.execute(pg_sql(sql).as_str(), &refs)?)
            }
        }
    }

    /// Runs one query; returns its rows.
    pub(crate) fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let n = stmt.column_count();
                let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    (0..n)
                        .map(|i| {
                            Ok(match r.get_ref(i)? {
                                rusqlite::types::ValueRef::Null => Value::Null,
                                rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                                rusqlite::types::ValueRef::Real(v) => Value::Real(v),
                                rusqlite::types::ValueRef::Text(t) => {
                                    Value::Text(String::from_utf8_lossy(t).into_owned())
                                }
                                rusqlite::types::ValueRef::Blob(_) => Value::Null,
                            })
                        })
                        .collect::<rusqlite::Result<Vec<Value>>>()
                        .map(Row)
                })?;
                Ok(rows.collect::<rusqlite::Result<Vec<Row>>>()?)
            }
            Conn::Postgres { client, .. } => {
                let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    args.iter().map(|a| a as _).collect();
                let rows = client.query(pg_sql(sql).as_str(), &refs)?;
                rows.iter()
                    .map(|r| {
                        (0..r.len()).map(|i| pg_value(r, i)).collect::<Result<_, _>>().map(Row)
                    })
                    .collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub(crate) fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// Runs several statements without arguments.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres { client, .. } => Ok(client.batch_execute(sql)?),
        }
    }

    /// `FOR UPDATE` where the engine locks rows (PostgreSQL); SQLite's `BEGIN IMMEDIATE`
    /// already holds the whole file's write lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self {
            Conn::Sqlite(_) => "",
            Conn::Postgres { .. } => " FOR UPDATE",
        }
    }

    fn begin(&mut self, write: bool) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => {
                Ok(c.execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN DEFERRED" })?)
            }
            Conn::Postgres { client, .. } => Ok(client.batch_execute("BEGIN")?),
        }
    }

    fn reconnect(&mut self) -> Result<(), DbError> {
        if let Conn::Postgres { client, url } = self {
            *client = connect_postgres(url)?;
        }
        Ok(())
    }
}

/// The connection of one store handle. Methods take `&self` (a store is read through shared
/// references); statements borrow the connection one at a time.
#[derive(Debug)]
pub(crate) struct Db(RefCell<Conn>);

impl Db {
    pub(crate) fn new(conn: Conn) -> Self {
        Db(RefCell::new(conn))
    }

    pub(crate) fn backend(&self) -> Backend {
        self.0.borrow().backend()
    }

    /// Runs `f` on the connection; on PostgreSQL a lost connection is reconnected (with
    /// backoff) and `f` run again: `f` is one statement or one whole transaction, which the
    /// server rolled back when the connection dropped, so running it again is safe.
    pub(crate) fn with<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut conn = self.0.borrow_mut();
        match f(&mut conn) {
            Err(e) if e.is_connection() => {
                eprintln!("isoflop: lost the run store's connection ({e}); reconnecting");
                conn.reconnect()?;
                f(&mut conn)
            }
            r => r,
        }
    }

    /// Runs `f` inside one transaction (a write transaction when `write`): committed when `f`
    /// returns `Ok`, rolled back otherwise.
    pub(crate) fn tx<T>(
        &self,
        write: bool,
        mut f: impl FnMut(&mut Conn) -> Result<T, Tx>,
    ) -> Result<T, Tx> {
        let mut attempt = |conn: &mut Conn| -> Result<T, Tx> {
            conn.begin(write)?;
            match f(conn) {
                Ok(v) => {
                    conn.batch("COMMIT")?;
                    Ok(v)
                }
                Err(e) => {
                    // The rollback's own failure (a dead connection) changes nothing: the
                    // server rolls back an unfinished transaction.
                    let _ = conn.batch("ROLLBACK");
                    Err(e)
                }
            }
        };
        let mut conn = self.0.borrow_mut();
        match attempt(&mut conn) {
            Err(Tx::Db(e)) if e.is_connection() => {
                eprintln!("isoflop: lost the run store's connection ({e}); reconnecting");
                conn.reconnect()?;
                attempt(&mut conn)
            }
            r => r,
        }
    }

    /// The SQLite connection, for SQLite-only statements (pragmas in tests).
    #[cfg(test)]
    pub(crate) fn with_sqlite<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> T) -> Option<T> {
        match &*self.0.borrow() {
            Conn::Sqlite(c) => Some(f(c)),
            Conn::Postgres { .. } => None,
        }
    }
}

/// Why a transaction stopped: the database, or the store's own refusal (a run already
/// claimed, a bad transition) which rolls it back.
#[derive(Debug)]
pub(crate) enum Tx {
    Db(DbError),
    Store(crate::Error),
}

impl From<DbError> for Tx {
    fn from(e: DbError) -> Self {
        Tx::Db(e)
    }
}
impl From<rusqlite::Error> for Tx {
    fn from(e: rusqlite::Error) -> Self {
        Tx::Db(e.into())
    }
}
impl From<crate::Error> for Tx {
    fn from(e: crate::Error) -> Self {
        Tx::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            pg_sql("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?3)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
        );
    }

    #[test]
    fn rows_decode_numbers_and_refuse_wrong_types() {
        let r = Row(vec![Value::Int(3), Value::Real(2.5), Value::Text("x".into()), Value::Null]);
        assert_eq!(r.int(0).unwrap(), 3);
        assert_eq!(r.real(0).unwrap(), 3.0);
        assert_eq!(r.real(1).unwrap(), 2.5);
        assert!(r.int(1).is_err());
        assert_eq!(r.text(2).unwrap(), "x");
        assert_eq!(r.opt_real(3).unwrap(), None);
        assert!(r.real(3).is_err());
        assert!(r.text(9).is_err());
    }
}
