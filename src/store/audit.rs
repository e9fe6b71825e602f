//! Append-only, hash-chained audit log.

use openssl::sha::Sha256;
use sqlx::{Any, AnyConnection, FromRow};

use super::{Result, StoreError, now};

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

/// Append an event inside the caller's transaction. Locking the single
/// audit_head row serialises writers, including across replicas.
pub async fn record(conn: &mut AnyConnection, e: Event<'_>) -> Result<i64> {
    let (seq, prev): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *conn)
            .await?;
    let at = now();
    // Events record completed mutations; the outcome says so explicitly.
    let mut details = e.details;
    if let Some(obj) = details.as_object_mut() {
        obj.entry("outcome")
            .or_insert_with(|| serde_json::Value::String("success".into()));
    }
    let details = details.to_string();
    // Events recorded while serving a request carry its X-Request-ID.
    let request_id = e
        .request_id
        .map(str::to_string)
        .or_else(crate::error::current_request_id);
    let target = e.target.unwrap_or("");
    let (seq_s, at_s) = (seq.to_string(), at.to_string());
    let hash = chain_hash(&[
        &prev, &seq_s, &at_s, e.actor, e.action, target, e.severity, &details,
    ]);
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor, action, target, severity, request_id, details, prev_hash, hash) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(seq)
    .bind(at)
    .bind(e.actor.to_string())
    .bind(e.action.to_string())
    .bind(e.target.map(str::to_string))
    .bind(e.severity.to_string())
    .bind(request_id)
    .bind(details)
    .bind(prev)
    .bind(hash)
    .execute(&mut *conn)
    .await?;
    // The trigger audit_head_follows (migration 0008) moves the head's hash.
    Ok(seq)
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
