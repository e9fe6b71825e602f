//! The audit log, newest first, and its hash-chain check.
//! `/audit-logs` is the conventions document's name for `/audit-events`.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::Principal;
use super::types::{Page, Timestamp};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, audit};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/audit-events", get(list))
        .route("/api/v1/audit-events/verify", get(verify))
        .route("/api/v1/audit-logs", get(list))
        .route("/api/v1/audit-logs/verify", get(verify))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(default)]
pub struct AuditQuery {
    /// e.g. certificate.revoked
    action: Option<String>,
    /// e.g. token:<id>, os-user:<name>, acme:<account>
    actor: Option<String>,
    /// The id the event is about.
    target: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
}

#[derive(Serialize, JsonSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    /// info or high
    pub severity: String,
    pub request_id: Option<String>,
    pub details: serde_json::Map<String, serde_json::Value>,
    pub prev_hash: String,
    pub hash: String,
}

async fn list(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    p.require("audit:read")?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let rows: Vec<audit::AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, target, severity, request_id, details, prev_hash, hash FROM audit_events \
         WHERE ($1 IS NULL OR action = $1) AND ($2 IS NULL OR target = $2) AND ($5 IS NULL OR actor = $5) AND seq < $3 ORDER BY seq DESC LIMIT $4",
    )
    .bind(q.action)
    .bind(q.target)
    .bind(q.cursor.unwrap_or(i64::MAX))
    .bind(limit + 1)
    .bind(q.actor)
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<AuditEvent> = rows
        .into_iter()
        .take(limit as usize)
        .map(|r| AuditEvent {
            seq: r.seq,
            at: Timestamp(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
            severity: r.severity,
            request_id: r.request_id,
            details: serde_json::from_str(&r.details).unwrap_or_default(),
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
        .collect();
    let next = if more {
        items.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Json(Page {
        items,
        next_cursor: next,
    }))
}

#[derive(Serialize, JsonSchema)]
pub struct AuditVerification {
    /// Whether every event's hash covers its predecessor's.
    pub valid: bool,
    /// Events checked, when valid.
    pub events: Option<i64>,
    /// The first break, when not.
    pub error: Option<String>,
}

async fn verify(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<AuditVerification>, ApiError> {
    p.require("audit:read")?;
    match audit::verify_chain(&app.store.read).await {
        Ok(n) => Ok(Json(AuditVerification {
            valid: true,
            events: Some(n),
            error: None,
        })),
        Err(StoreError::Corrupt(m)) => Ok(Json(AuditVerification {
            valid: false,
            events: None,
            error: Some(m),
        })),
        Err(e) => Err(e.into()),
    }
}
