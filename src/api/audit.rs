//! The audit log, newest first, and its hash-chain check.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, audit};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/audit-events", get(list))
        .route("/api/v1/audit-events/verify", get(verify))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuditQuery {
    action: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    limit: Option<i64>,
    cursor: Option<i64>,
}

async fn list(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
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
    let items: Vec<&audit::AuditRow> = rows.iter().take(limit as usize).collect();
    let next = if more {
        items.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Json(json!({"items": items, "next_cursor": next})))
}

async fn verify(State(app): State<ApiState>, p: Principal) -> Result<Json<Value>, ApiError> {
    p.require("audit:read")?;
    match audit::verify_chain(&app.store.read).await {
        Ok(n) => Ok(Json(json!({"valid": true, "events": n}))),
        Err(StoreError::Corrupt(m)) => Ok(Json(json!({"valid": false, "error": m}))),
        Err(e) => Err(e.into()),
    }
}
