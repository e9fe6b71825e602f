//! Write transactions as batches of statements: a caller builds its
//! statements first (typed arguments included), then one call runs them in
//! a transaction, so the writer is held for the statements alone and never
//! across the caller's other work.

use std::borrow::Cow;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor};

use super::{Result, Store};

/// A bind value, typed even when NULL (PostgreSQL needs the type).
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
}

macro_rules! arg_from {
    ($variant:ident, $t:ty) => {
        impl From<$t> for Arg {
            fn from(v: $t) -> Arg {
                Arg::$variant(Some(v.into()))
            }
        }
        impl From<Option<$t>> for Arg {
            fn from(v: Option<$t>) -> Arg {
                Arg::$variant(v.map(Into::into))
            }
        }
    };
}
arg_from!(Text, String);
arg_from!(Text, &str);
arg_from!(Int, i64);
arg_from!(Blob, Vec<u8>);

/// One SQL statement with `$n` placeholders and its arguments.
#[derive(Debug, Clone)]
pub struct Stmt {
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

impl Stmt {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    pub fn bind(mut self, a: impl Into<Arg>) -> Stmt {
        self.args.push(a.into());
        self
    }

    pub fn into_query(self) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.sql.into_owned()));
        for a in self.args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Blob(v) => q.bind(v),
            };
        }
        q
    }

    /// Run it on its own (outside a batch).
    pub async fn execute<'e>(self, db: impl Executor<'e, Database = Any>) -> Result<u64> {
        Ok(self.into_query().execute(db).await?.rows_affected())
    }

    pub async fn fetch_one<'e>(self, db: impl Executor<'e, Database = Any>) -> Result<AnyRow> {
        Ok(self.into_query().fetch_one(db).await?)
    }

    async fn fetch_all<'e>(self, db: impl Executor<'e, Database = Any>) -> Result<Vec<AnyRow>> {
        Ok(self.into_query().fetch_all(db).await?)
    }
}

impl Store {
    /// Run `stmts` in one transaction.
    pub async fn write_batch(&self, stmts: Vec<Stmt>) -> Result<()> {
        self.write_then(stmts, |_| Ok(Vec::new())).await
    }

    /// Run `first` in a transaction, give the rows it returned (in order)
    /// to `then`, run the statements `then` makes, and commit. An error from
    /// any of them rolls everything back.
    pub async fn write_then<F>(&self, first: Vec<Stmt>, then: F) -> Result<()>
    where
        F: FnOnce(Vec<AnyRow>) -> Result<Vec<Stmt>>,
    {
        let mut tx = self.write.begin().await?;
        let mut rows = Vec::new();
        for s in first {
            rows.extend(s.fetch_all(&mut *tx).await?);
        }
        for s in then(rows)? {
            s.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
