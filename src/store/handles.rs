//! The store's handles: readers, the writer and write transactions. Each is
//! a sqlx `Executor` over `Any`, so store functions take any of them. On
//! PostgreSQL they are sqlx's pool and transaction; on SQLite statements run
//! inline through `sqlite.rs`, with one writer connection behind an async
//! lock (SQLite allows one writer; waiting in the lock, not in SQLITE_BUSY).

use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, ready};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use rusqlite::Connection;
use sqlx::AnyConnection;
use sqlx::any::{AnyQueryResult, AnyRow, AnyStatement, AnyTypeInfo};
use sqlx::{Any, AnyPool, Describe, Either, Execute, Executor, SqlStr, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::batch::Stmt;
use super::sqlite::{self, Outcome, Readers, Session};

#[derive(Clone, Debug)]
pub enum Reader {
    Sqlite(Arc<Readers>),
    Pg(AnyPool),
}

#[derive(Clone, Debug)]
pub enum Writer {
    Sqlite(Arc<sqlite::Writer>),
    Pg(AnyPool),
}

/// A write transaction: rolled back when dropped uncommitted.
#[derive(Debug)]
pub struct Tx(TxConn);

#[derive(Debug)]
pub enum TxConn {
    Sqlite(SqliteTx),
    Pg(Transaction<'static, Any>),
}

/// A transaction on the writer (a member of a group commit, `sqlite/writer.rs`).
#[derive(Debug)]
pub struct SqliteTx {
    /// Held until commit; None once committed.
    session: Option<OwnedMutexGuard<Session>>,
    writer: Arc<sqlite::Writer>,
}

impl SqliteTx {
    fn conn(&self) -> &Connection {
        self.session
            .as_deref()
            .expect("a transaction in use is open")
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut s) = self.session.take() {
            // Dropped by an error path or a cancelled request: nothing of it
            // may stay pending on the one writer connection.
            self.writer.abandon(&mut s);
        }
    }
}

impl Writer {
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        match self {
            Writer::Sqlite(m) => Ok(Tx(TxConn::Sqlite(SqliteTx {
                session: Some(m.begin().await?),
                writer: m.clone(),
            }))),
            Writer::Pg(p) => Ok(Tx(TxConn::Pg(p.begin().await?))),
        }
    }

    pub async fn close(&self) {
        match self {
            Writer::Sqlite(w) => w.close(),
            Writer::Pg(p) => p.close().await,
        }
    }
}

impl Reader {
    pub async fn close(&self) {
        match self {
            Reader::Sqlite(r) => r.close(),
            Reader::Pg(p) => p.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self.0 {
            TxConn::Sqlite(mut s) => match s.session.take() {
                Some(session) => s.writer.commit(session).await,
                None => Ok(()),
            },
            TxConn::Pg(t) => t.commit().await,
        }
    }
}

impl std::ops::Deref for Tx {
    type Target = TxConn;
    fn deref(&self) -> &TxConn {
        &self.0
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut TxConn {
        &mut self.0
    }
}

impl TxConn {
    /// Hand each row of `stmt` to `f` as it is read, for results too large
    /// to hold (a CRL's entries). On SQLite the scan blocks its thread, so
    /// the runtime is told to move other tasks off it.
    pub async fn for_each<E: From<sqlx::Error>>(
        &mut self,
        stmt: Stmt,
        mut f: impl FnMut(&AnyRow) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let mut query = stmt.into_query();
        match self {
            TxConn::Sqlite(s) => {
                let args = query.take_arguments().map_err(sqlx::Error::Encode)?;
                let sql = query.sql();
                blocking(|| {
                    sqlite::each_row(s.conn(), &s.writer.scans, sql.as_str(), args, |r| f(&r))
                        .map(|_| ())
                })
            }
            TxConn::Pg(t) => {
                let mut rows = query.fetch(&mut **t);
                while let Some(r) = rows.try_next().await? {
                    f(&r)?;
                }
                Ok(())
            }
        }
    }
}

fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Where a statement goes: to sqlx (PostgreSQL) or to SQLite inline.
enum Route<'c, P> {
    Pg(P),
    Sqlite(Inline<'c>),
}

enum Inline<'c> {
    Readers(&'c Readers),
    Writer(&'c sqlite::Writer),
    Tx(&'c Connection, &'c sqlite::Scans),
}

impl<'c> Inline<'c> {
    fn run<'e, 'q: 'e, E>(self, mut query: E) -> BoxFuture<'e, sqlx::Result<Outcome>>
    where
        'c: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let args = match query.take_arguments() {
            Ok(a) => a,
            Err(e) => return ready(Err(sqlx::Error::Encode(e))).boxed(),
        };
        let sql: SqlStr = query.sql();
        match self {
            Inline::Readers(r) => {
                ready(r.with(|c, scans| sqlite::run(c, scans, sql.as_str(), args))).boxed()
            }
            Inline::Tx(c, scans) => ready(sqlite::run(c, scans, sql.as_str(), args)).boxed(),
            // A statement on its own is a transaction of one: it joins a
            // group like any other (no await between begin and commit, so
            // it cannot be cancelled half-way).
            Inline::Writer(m) => async move {
                let mut s = m.begin().await?;
                match sqlite::run(&s, &m.scans, sql.as_str(), args) {
                    Ok(o) => m.commit(s).await.map(|()| o),
                    Err(e) => {
                        m.abandon(&mut s);
                        Err(e)
                    }
                }
            }
            .boxed(),
        }
    }
}

impl Reader {
    fn route(&self) -> Route<'_, &AnyPool> {
        match self {
            Reader::Sqlite(r) => Route::Sqlite(Inline::Readers(r)),
            Reader::Pg(p) => Route::Pg(p),
        }
    }
}

impl Writer {
    fn route(&self) -> Route<'_, &AnyPool> {
        match self {
            Writer::Sqlite(m) => Route::Sqlite(Inline::Writer(m)),
            Writer::Pg(p) => Route::Pg(p),
        }
    }
}

impl TxConn {
    fn route(&mut self) -> Route<'_, &mut AnyConnection> {
        match self {
            TxConn::Sqlite(s) => Route::Sqlite(Inline::Tx(s.conn(), &s.writer.scans)),
            TxConn::Pg(t) => Route::Pg(&mut **t),
        }
    }
}

/// One `Executor` impl per handle, all routing the same way.
macro_rules! executor {
    ($t:ty) => {
        impl<'c> Executor<'c> for $t {
            type Database = Any;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxStream<'e, sqlx::Result<Either<AnyQueryResult, AnyRow>>>
            where
                'c: 'e,
                E: 'q + Execute<'q, Any>,
            {
                match self.route() {
                    Route::Pg(p) => p.fetch_many(query),
                    Route::Sqlite(s) => s
                        .run(query)
                        .map(|o| {
                            let items: Vec<sqlx::Result<_>> = match o {
                                Ok(o) => {
                                    let done = o.result();
                                    o.rows
                                        .into_iter()
                                        .map(|r| Ok(Either::Right(r)))
                                        .chain([Ok(Either::Left(done))])
                                        .collect()
                                }
                                Err(e) => vec![Err(e)],
                            };
                            stream::iter(items)
                        })
                        .flatten_stream()
                        .boxed(),
                }
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, sqlx::Result<Option<AnyRow>>>
            where
                'c: 'e,
                E: 'q + Execute<'q, Any>,
            {
                match self.route() {
                    Route::Pg(p) => p.fetch_optional(query),
                    Route::Sqlite(s) => s
                        .run(query)
                        .map(|o| o.map(|o| o.rows.into_iter().next()))
                        .boxed(),
                }
            }

            fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<Vec<AnyRow>>>
            where
                'c: 'e,
                E: 'q + Execute<'q, Any>,
            {
                match self.route() {
                    Route::Pg(p) => p.fetch_all(query),
                    Route::Sqlite(s) => s.run(query).map(|o| o.map(|o| o.rows)).boxed(),
                }
            }

            fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, sqlx::Result<AnyQueryResult>>
            where
                'c: 'e,
                E: 'q + Execute<'q, Any>,
            {
                match self.route() {
                    Route::Pg(p) => p.execute(query),
                    Route::Sqlite(s) => s.run(query).map(|o| o.map(|o| o.result())).boxed(),
                }
            }

            fn prepare_with<'e>(
                self,
                sql: SqlStr,
                parameters: &'e [AnyTypeInfo],
            ) -> BoxFuture<'e, sqlx::Result<AnyStatement>>
            where
                'c: 'e,
            {
                match self.route() {
                    Route::Pg(p) => p.prepare_with(sql, parameters),
                    _ => ready(Err(unsupported())).boxed(),
                }
            }

            fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, sqlx::Result<Describe<Any>>>
            where
                'c: 'e,
            {
                match self.route() {
                    Route::Pg(p) => p.describe(sql),
                    _ => ready(Err(unsupported())).boxed(),
                }
            }
        }
    };
}

executor!(&'c Reader);
executor!(&'c Writer);
executor!(&'c mut TxConn);

fn unsupported() -> sqlx::Error {
    sqlx::Error::Protocol("the inline SQLite store does not prepare or describe".into())
}
