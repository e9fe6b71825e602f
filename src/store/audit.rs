//! Append-only, hash-chained audit log.

use openssl::sha::Sha256;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row};

use super::batch::Stmt;
use super::{Backend, Result, Store, StoreError, TxConn, now};

pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub severity: &'a str,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub severity: String,
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// SHA-256 over the previous hash and this event's fields, each length-prefixed.
fn chain_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    signet_ca::serial::to_hex(&h.finish())
}

/// An event with everything but its place in the chain, so it can be built
/// before a transaction (and outside the request's task) and chained inside.
pub struct Pending {
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    severity: String,
    request_id: Option<String>,
    details: String,
}

impl Pending {
    pub fn new(e: Event<'_>) -> Pending {
        // Events record completed mutations; the outcome says so explicitly.
        let mut details = e.details;
        if let Some(obj) = details.as_object_mut() {
            obj.entry("outcome")
                .or_insert_with(|| serde_json::Value::String("success".into()));
        }
        Pending {
            at: now(),
            actor: e.actor.to_string(),
            action: e.action.to_string(),
            target: e.target.map(str::to_string),
            severity: e.severity.to_string(),
            // Events recorded while serving a request carry its X-Request-ID.
            request_id: e
                .request_id
                .map(str::to_string)
                .or_else(crate::error::current_request_id),
            details: details.to_string(),
        }
    }

    /// SQLite: takes the next sequence number and returns it with the
    /// previous hash, for [`Self::chained`]. (On PostgreSQL `audit_append`
    /// does this inside; there the head's row lock serialises replicas.)
    fn head() -> Stmt {
        Stmt::new("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
    }

    /// PostgreSQL: head, hash and INSERT in one statement (migration 0013),
    /// so the head's row lock is held for one round trip fewer.
    fn appended(self) -> Stmt {
        self.bound_as_1_to_7(Stmt::new("SELECT audit_append($1,$2,$3,$4,$5,$6,$7)"))
    }

    fn bound_as_1_to_7(self, s: Stmt) -> Stmt {
        s.bind(self.at)
            .bind(self.actor)
            .bind(self.action)
            .bind(self.target)
            .bind(self.severity)
            .bind(self.request_id)
            .bind(self.details)
    }

    /// The event's INSERT, chained after the row `head()` returned.
    fn chained(self, head: &AnyRow) -> Result<Stmt> {
        let seq: i64 = head.try_get(0)?;
        let prev: String = head.try_get(1)?;
        let (seq_s, at_s) = (seq.to_string(), self.at.to_string());
        let hash = chain_hash(&[
            &prev,
            &seq_s,
            &at_s,
            &self.actor,
            &self.action,
            self.target.as_deref().unwrap_or(""),
            &self.severity,
            &self.details,
        ]);
        // The trigger audit_head_follows (migration 0008) moves the head's hash.
        Ok(self
            .bound_as_1_to_7(Stmt::new(
                "INSERT INTO audit_events (at, actor, action, target, severity, request_id, details, seq, prev_hash, hash) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
            ))
            .bind(seq)
            .bind(prev)
            .bind(hash))
    }
}

/// Run `stmts` and append `event` in one transaction. With a `guard`, the statements must return a row (an
/// `UPDATE … WHERE <state> RETURNING`), or the transaction is rolled back as
/// a conflict with that message.
pub async fn with_event(
    store: &Store,
    mut stmts: Vec<Stmt>,
    guard: Option<&'static str>,
    event: Pending,
) -> Result<()> {
    // On SQLite the INSERT follows the head's row; PostgreSQL does both in
    // the last statement, whose row is the event's sequence number.
    let chain_after = match store.backend {
        Backend::Postgres => {
            stmts.push(event.appended());
            None
        }
        Backend::Sqlite => {
            stmts.push(Pending::head());
            Some(event)
        }
    };
    store
        .write_then(stmts, move |mut rows| {
            let last = rows
                .pop()
                .ok_or_else(|| StoreError::Corrupt("audit head row missing".into()))?;
            if let Some(msg) = guard
                && rows.is_empty()
            {
                return Err(StoreError::Conflict(msg.into()));
            }
            match chain_after {
                Some(event) => Ok(vec![event.chained(&last)?]),
                None => Ok(Vec::new()),
            }
        })
        .await
}

/// Append an event inside the caller's transaction.
pub async fn record(conn: &mut TxConn, e: Event<'_>) -> Result<()> {
    let pending = Pending::new(e);
    if let TxConn::Pg(_) = conn {
        pending.appended().fetch_one(&mut *conn).await?;
        return Ok(());
    }
    let head = Pending::head().fetch_one(&mut *conn).await?;
    pending.chained(&head)?.execute(&mut *conn).await?;
    Ok(())
}

pub async fn list_for_target<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    target: &str,
) -> Result<Vec<AuditRow>> {
    Ok(sqlx::query_as(
        "SELECT seq, at, actor, action, target, severity, request_id, details, prev_hash, hash \
         FROM audit_events WHERE target = $1 ORDER BY seq",
    )
    .bind(target.to_string())
    .fetch_all(db)
    .await?)
}

/// Recompute the whole chain; returns the number of events verified.
pub async fn verify_chain<'e>(db: impl sqlx::Executor<'e, Database = Any>) -> Result<i64> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, target, severity, request_id, details, prev_hash, hash \
         FROM audit_events ORDER BY seq",
    )
    .fetch_all(db)
    .await?;
    let mut prev = String::new();
    for r in &rows {
        let (seq_s, at_s) = (r.seq.to_string(), r.at.to_string());
        let target = r.target.as_deref().unwrap_or("");
        let h = chain_hash(&[
            &prev,
            &seq_s,
            &at_s,
            &r.actor,
            &r.action,
            target,
            &r.severity,
            &r.details,
        ]);
        if r.prev_hash != prev || r.hash != h {
            return Err(StoreError::Corrupt(format!(
                "audit chain broken at seq {}",
                r.seq
            )));
        }
        prev = h;
    }
    Ok(rows.len() as i64)
}
