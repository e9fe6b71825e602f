//! Write transactions as batches of statements.
//!
//! sqlx runs each SQLite connection on a thread of its own, and every
//! statement, BEGIN and COMMIT is a hand-off to that thread and back. With one
//! writer connection those hand-offs are the serial part of every write
//! (BENCHMARKS.md). Here a batch of statements goes to SQLite as one
//! multi-statement command: a transaction costs one hand-off, or two when a
//! value read inside it (the audit head) shapes what it writes next. On
//! PostgreSQL the same statements run one by one in a real transaction.

use std::borrow::Cow;

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor};

use super::{Backend, Result, Store, StoreError};

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

    fn query(sql: String, args: Vec<Arg>) -> Query<'static, Any, AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
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
        Ok(Stmt::query(self.sql.into_owned(), self.args)
            .execute(db)
            .await?
            .rows_affected())
    }

    pub async fn fetch_one<'e>(self, db: impl Executor<'e, Database = Any>) -> Result<AnyRow> {
        Ok(Stmt::query(self.sql.into_owned(), self.args)
            .fetch_one(db)
            .await?)
    }

    async fn fetch_all<'e>(self, db: impl Executor<'e, Database = Any>) -> Result<Vec<AnyRow>> {
        Ok(Stmt::query(self.sql.into_owned(), self.args)
            .fetch_all(db)
            .await?)
    }
}

/// `sql` with each `$n` moved up by `offset`, so statements can share one
/// argument list.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = 0usize;
        let mut digits = false;
        while let Some(&(_, d)) = chars.peek() {
            let Some(v) = d.to_digit(10) else { break };
            n = n * 10 + v as usize;
            digits = true;
            chars.next();
        }
        if digits {
            out.push_str(&(n + offset).to_string());
        }
    }
    out
}

/// Several statements as one SQLite command, wrapped in `head` and `tail`.
fn joined(stmts: Vec<Stmt>, head: &str, tail: &str) -> (String, Vec<Arg>) {
    let mut sql = String::from(head);
    let mut args = Vec::new();
    for s in stmts {
        sql.push_str(&renumber(&s.sql, args.len()));
        sql.push_str(";\n");
        args.extend(s.args);
    }
    sql.push_str(tail);
    (sql, args)
}

/// What a transaction writes after seeing the rows its first batch returned.
type Then = Box<dyn FnOnce(Vec<AnyRow>) -> Result<Vec<Stmt>> + Send>;

impl Store {
    /// Run `stmts` in one transaction: one hand-off on SQLite.
    pub async fn write_batch(&self, stmts: Vec<Stmt>) -> Result<()> {
        self.detached(stmts, None).await
    }

    /// Run `first` in a transaction, give the rows it returned (in order)
    /// to `then`, run the statements `then` makes, and commit: two hand-offs
    /// on SQLite. An error from `then` rolls everything back.
    pub async fn write_then<F>(&self, first: Vec<Stmt>, then: F) -> Result<()>
    where
        F: FnOnce(Vec<AnyRow>) -> Result<Vec<Stmt>> + Send + 'static,
    {
        self.detached(first, Some(Box::new(then))).await
    }

    /// The work runs detached from the caller: a cancelled request must not
    /// leave the single SQLite writer connection inside an open transaction.
    async fn detached(&self, first: Vec<Stmt>, then: Option<Then>) -> Result<()> {
        let store = self.clone();
        tokio::spawn(async move {
            match store.backend {
                Backend::Sqlite => store.sqlite_tx(first, then).await,
                Backend::Postgres => store.postgres_tx(first, then).await,
            }
        })
        .await
        .map_err(|e| StoreError::Other(format!("write task failed: {e}")))?
    }

    async fn sqlite_tx(&self, first: Vec<Stmt>, then: Option<Then>) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        let result: Result<()> = async {
            let Some(then) = then else {
                let (sql, args) = joined(first, "BEGIN IMMEDIATE;\n", "COMMIT");
                Stmt::query(sql, args).execute(&mut *conn).await?;
                return Ok(());
            };
            let (sql, args) = joined(first, "BEGIN IMMEDIATE;\n", "");
            let rows = Stmt::query(sql, args).fetch_all(&mut *conn).await?;
            let (sql, args) = joined(then(rows)?, "", "COMMIT");
            Stmt::query(sql, args).execute(&mut *conn).await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Whichever statement failed, nothing of the batch may stay
            // pending on the connection. With no transaction open this fails
            // harmlessly.
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        result
    }

    async fn postgres_tx(&self, first: Vec<Stmt>, then: Option<Then>) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let mut rows = Vec::new();
        for s in first {
            rows.extend(s.fetch_all(&mut *tx).await?);
        }
        if let Some(then) = then {
            for s in then(rows)? {
                s.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_move_past_earlier_arguments() {
        assert_eq!(
            renumber("UPDATE t SET a = $1, b = $12 WHERE c = $1", 3),
            "UPDATE t SET a = $4, b = $15 WHERE c = $4"
        );
        assert_eq!(renumber("SELECT '$' || x", 2), "SELECT '$' || x");
        let (sql, args) = joined(
            vec![
                Stmt::new("INSERT INTO a VALUES ($1, $2)")
                    .bind(1i64)
                    .bind("x"),
                Stmt::new("UPDATE b SET v = $1").bind(Some(2i64)),
            ],
            "BEGIN IMMEDIATE;\n",
            "COMMIT",
        );
        assert_eq!(
            sql,
            "BEGIN IMMEDIATE;\nINSERT INTO a VALUES ($1, $2);\nUPDATE b SET v = $3;\nCOMMIT"
        );
        assert_eq!(args.len(), 3);
    }
}
