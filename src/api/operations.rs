//! Asynchronous operations: 202 + `Location: /api/v1/operations/{id}`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Principal;
use super::types::rfc3339;
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, new_id, now};

#[derive(sqlx::FromRow)]
struct OperationRow {
    id: String,
    kind: String,
    status: String,
    token_id: String,
    result: Option<String>,
    created_at: i64,
    updated_at: i64,
}

pub fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/operations/{id}", get(get_one))
}

pub async fn start(app: &ApiState, kind: &str, p: &Principal) -> Result<String, ApiError> {
    let id = new_id();
    sqlx::query("INSERT INTO operations (id, kind, status, token_id, created_at, updated_at) VALUES ($1, $2, 'running', $3, $4, $4)")
        .bind(id.clone())
        .bind(kind.to_string())
        .bind(p.token.id.clone())
        .bind(now())
        .execute(&app.store.write)
        .await
        .map_err(StoreError::from)?;
    Ok(id)
}

pub async fn finish(
    app: &ApiState,
    id: &str,
    status: &str,
    result: &Value,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE operations SET status = $1, result = $2, updated_at = $3 WHERE id = $4")
        .bind(status.to_string())
        .bind(result.to_string())
        .bind(now())
        .bind(id.to_string())
        .execute(&app.store.write)
        .await?;
    Ok(())
}

async fn get_one(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:read")?;
    let row: Option<OperationRow> = sqlx::query_as("SELECT id, kind, status, token_id, result, created_at, updated_at FROM operations WHERE id = $1")
        .bind(id)
        .fetch_optional(&app.store.read)
        .await
        .map_err(StoreError::from)?;
    // Operations are visible to the token that started them, and to admins.
    let Some(op) = row.filter(|r| r.token_id == p.token.id || p.token.role == "admin") else {
        return Err(ApiError::not_found("operation"));
    };
    let result: Value = op
        .result
        .and_then(|r| serde_json::from_str(&r).ok())
        .unwrap_or(Value::Null);
    Ok(Json(
        json!({"id": op.id, "kind": op.kind, "status": op.status, "result": result,
               "created_at": rfc3339(op.created_at), "updated_at": rfc3339(op.updated_at)}),
    ))
}
