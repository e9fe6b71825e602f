//! One-time SCEP challenge passwords: minted here, shown once, stored
//! hashed, spent by the first enrolment that uses them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use crate::api::ApiState;
use crate::challenges;
use crate::error::ApiError;
use crate::store::scep as db;

pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/scep/challenges",
        get(list_challenges).post(create_challenge),
    )
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct CreateChallenge {
    profile: String,
    ttl_seconds: i64,
    /// The CSR must carry exactly this CN.
    subject_cn: Option<String>,
    /// The CSR may only request these SANs.
    sans: Vec<String>,
}

impl Default for CreateChallenge {
    fn default() -> Self {
        CreateChallenge {
            profile: "default".into(),
            ttl_seconds: 3600,
            subject_cn: None,
            sans: Vec::new(),
        }
    }
}

async fn create_challenge(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateChallenge>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("scep:challenge")?;
    let m = challenges::mint(
        &app,
        &b.profile,
        b.ttl_seconds,
        b.subject_cn.as_deref(),
        &b.sans,
        &p.actor(),
    )
    .await?
    .map_err(ApiError::validation)?;
    let (id, secret, expires_at) = (m.id, m.secret, m.expires_at);
    super::audit_event(
        &app,
        &p,
        "scep.challenge_created",
        &id,
        "info",
        json!({"profile": b.profile, "expires_at": expires_at, "subject_cn": b.subject_cn, "sans": b.sans}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id, "challenge": secret, "profile": b.profile, "expires_at": expires_at,
            "subject_cn": b.subject_cn, "sans": b.sans,
        })),
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListParams {
    profile: Option<String>,
    limit: Option<i64>,
}

async fn list_challenges(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.require("scep:challenge")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = db::list_challenges(&app.store.read, q.profile.as_deref(), limit).await?;
    Ok(Json(json!({"items": rows, "next_cursor": null})))
}
