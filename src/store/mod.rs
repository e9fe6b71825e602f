//! The certificate store: one code path over SQLite and PostgreSQL through
//! sqlx's `Any` driver, with portable SQL (`$n` placeholders, TEXT ids,
//! BIGINT unix-second timestamps, BLOB/BYTEA for DER).
//!
//! SQLite allows one writer at a time, so writes go through one connection
//! behind a lock (no SQLITE_BUSY under load) while reads use connections of
//! their own; both run statements inline (`sqlite.rs`). On PostgreSQL both
//! handles are the same sqlx pool.

pub mod acme;
pub mod audit;
pub mod batch;
pub mod blocked_keys;
pub mod cas;
pub mod certificates;
pub mod crls;
pub mod handles;
pub mod leases;
pub mod projects;
pub mod scep;
pub mod sessions;
pub mod settings;
pub mod sqlite;
pub mod templates;
pub mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

pub use handles::{Reader, Tx, TxConn, Writer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pub read: Reader,
    pub write: Writer,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out: callers answer 503.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_string())
            }
            sqlx::Error::Database(db) if db.code().is_some_and(|c| storage_fault(&c)) => {
                StoreError::Unavailable(db.message().to_string())
            }
            _ => StoreError::Other(e.to_string()),
        }
    }
}

/// Whether a database error code means the storage failed (full disk, I/O
/// error, read-only file system, lost connection), not the statement: such
/// a request may succeed later, so it is answered 503.
fn storage_fault(code: &str) -> bool {
    // SQLite's extended codes have at most four digits; SQLSTATEs five.
    if code.len() == 5 {
        // PostgreSQL SQLSTATE: insufficient resources (53: disk full, out of
        // memory), system errors (58: I/O), connection exceptions (08),
        // operator intervention (57P: shutdown), read-only transaction.
        return ["53", "58", "08", "57P"]
            .iter()
            .any(|p| code.starts_with(p))
            || code == "25006";
    }
    // SQLite extended result codes: the primary code is the low byte.
    code.parse::<i32>().is_ok_and(|c| {
        matches!(
            c & 0xff,
            rusqlite::ffi::SQLITE_IOERR
                | rusqlite::ffi::SQLITE_FULL
                | rusqlite::ffi::SQLITE_READONLY
                | rusqlite::ffi::SQLITE_CANTOPEN
        )
    })
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What a 503 for an unavailable store tells clients (`Retry-After`, seconds).
pub const UNAVAILABLE_RETRY_SECS: u64 = 5;

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Time-ordered ids (UUIDv7 without dashes), so "order by id" is creation order.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

impl Store {
    /// Connect and run migrations. `url` is `sqlite://path` or `postgres://…`.
    /// `durable`: every SQLite COMMIT is on disk before it returns (see
    /// `sqlite::PRAGMAS`); false is the opt-in `sqlite_synchronous = "normal"`.
    pub async fn open(url: &str, max_connections: u32, durable: bool) -> anyhow::Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!("database_url {url:?}: expected sqlite://… or postgres://…");
        };
        let opts = |n: u32| {
            AnyPoolOptions::new()
                .max_connections(n)
                .acquire_timeout(Duration::from_secs(5))
                // Only PostgreSQL serves requests through sqlx pools; on
                // SQLite this pool just runs the migrations.
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(sqlite::PRAGMAS).await?;
                        }
                        Ok(())
                    })
                })
        };
        match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                // Opened once first, so a read-only or missing directory is
                // named now, not as a pool timeout five seconds later.
                sqlite::open(sqlite::path_of(&url))
                    .and_then(|c| {
                        c.execute_batch("BEGIN IMMEDIATE; ROLLBACK")
                            .map_err(sqlite::error)
                    })
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot write the SQLite database {}: {e}",
                            sqlite::path_of(&url)
                        )
                    })?;
                // sqlx runs the migrations (creating the file), then the
                // store's own connections take over.
                let pool = opts(1).connect(&url).await?;
                sqlx::migrate!("migrations/sqlite").run(&pool).await?;
                pool.close().await;
                let path = sqlite::path_of(&url);
                let writer = sqlite::Writer::new(path, durable)?;
                Ok(Store {
                    read: Reader::Sqlite(Arc::new(sqlite::Readers::new(path, writer.clone()))),
                    write: Writer::Sqlite(writer),
                    backend,
                })
            }
            Backend::Postgres => {
                let pool: AnyPool = opts(max_connections).connect(url).await?;
                sqlx::migrate!("migrations/postgres").run(&pool).await?;
                // A COMMIT that returns before it is durable could forget a
                // certificate a client already holds.
                let sync: String =
                    sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
                        .fetch_one(&pool)
                        .await?;
                if sync == "off" {
                    tracing::warn!(
                        "PostgreSQL synchronous_commit is off: a crash of the database can lose \
                         certificates that clients already received; set it to on (or remote_apply)"
                    );
                }
                Ok(Store {
                    read: Reader::Pg(pool.clone()),
                    write: Writer::Pg(pool),
                    backend,
                })
            }
        }
    }

    /// A read and a small write, for `/readyz`: a full or failing disk lets
    /// reads through while every write fails, and then the store is not ready.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        settings::set(&self.write, "readyz_probe", &now().to_string()).await
    }

    /// Rows SQLite has stepped through in full table scans since start
    /// (`sqlite::Scans`); None on PostgreSQL.
    /// SQLite's work counters (`/metrics`); None on PostgreSQL.
    pub fn sqlite_stats(&self) -> Option<sqlite::Stats> {
        match &self.write {
            Writer::Sqlite(w) => Some(w.stats()),
            Writer::Pg(_) => None,
        }
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// Parse an enum stored as text; a bad value means a corrupt row.
pub fn parse_col<T: FromStr>(col: &str, v: &str) -> Result<T> {
    v.parse()
        .map_err(|_| StoreError::Corrupt(format!("{col}={v:?}")))
}
