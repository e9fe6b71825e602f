//! CA routes: CRL download and on-demand regeneration.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::revocation::crl::{self, CrlKind};
use crate::revocation::http::{crl_response, current};
use crate::store::{StoreError, cas};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ca/{id}/crl", get(get_crl))
        .route("/api/v1/ca/{id}/crl/regenerate", post(regenerate))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CrlQuery {
    #[serde(rename = "type")]
    kind: Option<CrlKind>,
    format: Option<String>,
}

async fn get_crl(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<CrlQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    p.require("ca:read")?;
    let c = current(&app, &id, q.kind.unwrap_or(CrlKind::Full)).await?;
    Ok(crl_response(
        &c,
        q.format.as_deref() == Some("pem"),
        &headers,
    ))
}

#[derive(serde::Deserialize)]
struct Regenerate {
    #[serde(rename = "type")]
    kind: CrlKind,
}

async fn regenerate(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Regenerate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("ca:admin")?;
    let kind = body.kind;
    let ca = cas::find(&app.store.read, &id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("CA"),
        other => other.into(),
    })?;
    let row = crl::publish(&app, &ca.id, kind).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "crl_unavailable",
            e.to_string(),
        )
    })?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"ca_id": ca.id, "type": row.kind, "number": row.number, "base_number": row.base_number, "this_update": row.this_update, "next_update": row.next_update, "entries": row.entries}),
        ),
    ))
}
