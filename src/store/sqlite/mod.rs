//! SQLite run in the calling thread.
//!
//! sqlx gives every SQLite connection a worker thread of its own, so each
//! statement is a hand-off to that thread and back: two context switches
//! and a wake-up, which profiling showed to be most of the server's CPU per
//! ACME flow (BENCHMARKS.md). An embedded SQLite statement on a warm page
//! cache takes microseconds, so here statements run through rusqlite right
//! where they are awaited, with cached prepared statements. They still speak
//! sqlx's `Any` types (arguments in, `AnyRow` out), so the store's queries
//! and row mappings are the same on SQLite and PostgreSQL.

mod writer;

pub use writer::{Session, Stats, Writer};

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, StatementStatus, ffi};
use sqlx::any::{AnyArguments, AnyQueryResult, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx_core::any::{AnyColumn, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

/// Idle reader connections kept for reuse; more open when needed.
const IDLE_READERS: usize = 16;

/// Statements prepared once per connection: the store has about a hundred.
const STATEMENT_CACHE: usize = 256;

/// Set on every connection, sqlx's (migrations) and ours. `temp_store`:
/// a group commit's savepoint journal outgrows SQLite's 64 KiB spill
/// threshold, and a file-backed one is created and unlinked per group.
/// `synchronous=FULL`: in WAL mode NORMAL leaves the last commits in the
/// page cache, so a power loss forgets certificates clients already hold;
/// FULL fsyncs the WAL at every COMMIT (one per group commit).
pub const PRAGMAS: &str = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
     PRAGMA foreign_keys=ON; PRAGMA busy_timeout=5000; PRAGMA temp_store=MEMORY;";

/// The path inside a `sqlite://path?options` URL.
pub fn path_of(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

pub fn open(path: &str) -> Result<Connection, sqlx::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags).map_err(error)?;
    c.execute_batch(PRAGMAS).map_err(error)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(c)
}

/// Reader connections, each used by one caller at a time. WAL lets them
/// read while the writer writes.
pub struct Readers {
    path: String,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
    writer: Arc<Writer>,
}

/// Rows SQLite stepped through in full table scans, over all of a store's
/// connections. Under steady load it should stay flat: growth means a
/// statement whose cost grows with a table (`/metrics`, and a test).
pub type Scans = AtomicU64;

impl Readers {
    pub fn new(path: &str, writer: Arc<Writer>) -> Readers {
        Readers {
            path: path.to_string(),
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
            writer,
        }
    }

    /// Refuse further reads (shutdown), as a closed sqlx pool does.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn with<T>(
        &self,
        f: impl FnOnce(&Connection, &Scans) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolClosed);
        }
        // A reader's page cache is dropped whenever another connection has
        // written since its last read, so with steady writes every read
        // starts cold. The writer's cache never goes stale: read through it
        // when no one holds it and no group of transactions is waiting on
        // it for its commit (their writes are not committed yet).
        if let Some(w) = self.writer.try_idle() {
            return f(&w, &self.writer.scans);
        }
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let out = f(&conn, &self.writer.scans);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
        out
    }
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("path", &self.path).finish()
    }
}

/// What one statement produced.
pub struct Outcome {
    pub rows_affected: u64,
    pub rows: Vec<AnyRow>,
}

impl Outcome {
    pub fn result(&self) -> AnyQueryResult {
        AnyQueryResult {
            rows_affected: self.rows_affected,
            last_insert_id: None,
        }
    }
}

/// Run one statement (or, without arguments, a script of several) and
/// collect its rows.
pub fn run(
    conn: &Connection,
    scans: &Scans,
    sql: &str,
    args: Option<AnyArguments>,
) -> Result<Outcome, sqlx::Error> {
    let mut rows = Vec::new();
    let rows_affected = each_row(conn, scans, sql, args, |r| {
        rows.push(r);
        Ok::<(), sqlx::Error>(())
    })?;
    Ok(Outcome {
        rows_affected,
        rows,
    })
}

/// Run one statement and hand each row to `f` as it is read, so a large
/// result (a CRL's entries) is never held whole. Returns the rows changed.
pub fn each_row<X: From<sqlx::Error>>(
    conn: &Connection,
    scans: &Scans,
    sql: &str,
    args: Option<AnyArguments>,
    mut f: impl FnMut(AnyRow) -> Result<(), X>,
) -> Result<u64, X> {
    let mut stmt = match conn.prepare_cached(sql) {
        Ok(s) => s,
        Err(rusqlite::Error::MultipleStatement) if args.is_none() => {
            conn.execute_batch(sql).map_err(error)?;
            return Ok(conn.changes());
        }
        Err(e) => return Err(error(e).into()),
    };
    let args = args.map(|a| a.values.0).unwrap_or_default();
    // `$n` is a named parameter to SQLite, numbered by first appearance:
    // bind each by the number in its name, as PostgreSQL reads it.
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(i);
        let v = args.get(n.wrapping_sub(1)).ok_or_else(|| {
            sqlx::Error::Protocol(format!("statement wants ${n}, {} bound", args.len()))
        })?;
        stmt.raw_bind_parameter(i, value_in(v)).map_err(error)?;
    }
    let readonly = stmt.readonly();
    let width = stmt.column_count();
    if width == 0 {
        let n = stmt.raw_execute().map_err(error);
        count_scans(&stmt, scans);
        return Ok(n? as u64);
    }
    let names: Vec<UStr> = stmt.column_names().into_iter().map(UStr::new).collect();
    let index: Arc<sqlx_core::HashMap<UStr, usize>> = Arc::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect(),
    );
    let mut columns: Option<Vec<AnyColumn>> = None;
    let mut rows = stmt.raw_query();
    while let Some(r) = rows.next().map_err(error)? {
        let values: Vec<AnyValue> = (0..width)
            .map(|i| AnyValue {
                kind: value_out(r.get_ref(i).unwrap_or(ValueRef::Null)),
            })
            .collect();
        let columns = columns
            .get_or_insert_with(|| {
                names
                    .iter()
                    .zip(&values)
                    .enumerate()
                    .map(|(ordinal, (name, v))| AnyColumn {
                        ordinal,
                        name: name.clone(),
                        type_info: AnyTypeInfo {
                            kind: kind_of(&v.kind),
                        },
                    })
                    .collect()
            })
            .clone();
        f(AnyRow {
            column_names: index.clone(),
            columns,
            values,
        })?;
    }
    drop(rows);
    count_scans(&stmt, scans);
    Ok(if readonly { 0 } else { conn.changes() })
}

fn count_scans(stmt: &rusqlite::Statement<'_>, scans: &Scans) {
    let n = stmt.reset_status(StatementStatus::FullscanStep);
    if n > 0 {
        scans.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn value_in(v: &AnyValueKind) -> Value {
    match v {
        AnyValueKind::Null(_) => Value::Null,
        AnyValueKind::Bool(b) => Value::Integer(i64::from(*b)),
        AnyValueKind::SmallInt(i) => Value::Integer(i64::from(*i)),
        AnyValueKind::Integer(i) => Value::Integer(i64::from(*i)),
        AnyValueKind::BigInt(i) => Value::Integer(*i),
        AnyValueKind::Real(r) => Value::Real(f64::from(*r)),
        AnyValueKind::Double(d) => Value::Real(*d),
        AnyValueKind::Text(t) => Value::Text(t.to_string()),
        AnyValueKind::TextSlice(t) => Value::Text(t.to_string()),
        AnyValueKind::Blob(b) => Value::Blob(b.to_vec()),
        // `AnyValueKind` is non-exhaustive; the kinds above are all sqlx
        // encodes today.
        _ => Value::Null,
    }
}

fn value_out(v: ValueRef<'_>) -> AnyValueKind {
    match v {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(f) => AnyValueKind::Double(f),
        ValueRef::Text(t) => AnyValueKind::Text(Arc::new(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Blob(b) => AnyValueKind::Blob(Arc::new(b.to_vec())),
    }
}

fn kind_of(v: &AnyValueKind) -> AnyTypeInfoKind {
    match v {
        AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
        AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
        AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
        AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
        _ => AnyTypeInfoKind::Null,
    }
}

/// A SQLite error as sqlx reports one, so constraint violations keep their
/// kind (`StoreError::Conflict`).
#[derive(Debug)]
struct SqliteError {
    code: i32,
    message: String,
}

impl std::fmt::Display for SqliteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SqliteError {}

impl DatabaseError for SqliteError {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

pub fn error(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => sqlx::Error::Database(Box::new(SqliteError {
            code: f.extended_code,
            message: msg.unwrap_or_else(|| f.to_string()),
        })),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[test]
    fn placeholders_bind_by_number_and_rows_decode() {
        let c = Connection::open_in_memory().unwrap();
        let scans = Scans::new(0);
        c.execute_batch("CREATE TABLE t (a TEXT PRIMARY KEY, b INTEGER, c BLOB)")
            .unwrap();
        let mut args = AnyArguments::default();
        use sqlx::Arguments;
        args.add(7i64).unwrap();
        args.add("x".to_string()).unwrap();
        args.add(None::<Vec<u8>>).unwrap();
        // $2 appears first: it must still take the second argument.
        let out = run(
            &c,
            &scans,
            "INSERT INTO t (a, b, c) VALUES ($2, $1, $3)",
            Some(args),
        )
        .unwrap();
        assert_eq!(out.rows_affected, 1);
        let out = run(&c, &scans, "SELECT a, b, c FROM t", None).unwrap();
        let row = &out.rows[0];
        assert_eq!(row.try_get::<String, _>("a").unwrap(), "x");
        assert_eq!(row.try_get::<i64, _>("b").unwrap(), 7);
        assert_eq!(row.try_get::<Option<Vec<u8>>, _>("c").unwrap(), None);
        let mut args = AnyArguments::default();
        args.add(1i64).unwrap();
        args.add("x".to_string()).unwrap();
        // A lookup by key searches an index; a filter on an unindexed column
        // steps through the table, and the counter says so.
        run(
            &c,
            &scans,
            "INSERT INTO t (a, b) VALUES ('y', 8), ('z', 9)",
            None,
        )
        .unwrap();
        let before = scans.load(Ordering::Relaxed);
        run(&c, &scans, "SELECT b FROM t WHERE a = 'x'", None).unwrap();
        assert_eq!(scans.load(Ordering::Relaxed), before);
        run(&c, &scans, "SELECT a FROM t WHERE b = 7", None).unwrap();
        assert!(scans.load(Ordering::Relaxed) > before);
        let Err(dup) = run(
            &c,
            &scans,
            "INSERT INTO t (a, b) VALUES ($2, $1)",
            Some(args),
        ) else {
            panic!("duplicate key accepted");
        };
        assert!(matches!(dup, sqlx::Error::Database(d) if d.is_unique_violation()));
    }
}
