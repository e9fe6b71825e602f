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
use crate::app::AppState;
use crate::config::ChallengeMode;
use crate::error::ApiError;
use crate::store::{now, scep as db};

const MAX_TTL_SECS: i64 = 30 * 86400;

pub fn routes() -> Router<AppState> {
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

fn unprocessable(m: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m)
}

async fn create_challenge(
    State(app): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateChallenge>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("scep:challenge")?;
    let profile = app
        .config
        .scep
        .profiles
        .get(&b.profile)
        .ok_or_else(|| unprocessable(format!("no SCEP profile {:?}", b.profile)))?;
    if profile.challenge != ChallengeMode::OneTime {
        return Err(unprocessable(format!(
            "SCEP profile {:?} does not use one-time challenges (challenge = \"one-time\")",
            b.profile
        )));
    }
    if !(60..=MAX_TTL_SECS).contains(&b.ttl_seconds) {
        return Err(unprocessable(format!(
            "ttl_seconds must be between 60 and {MAX_TTL_SECS}"
        )));
    }
    let mut raw = [0u8; 16];
    openssl::rand::rand_bytes(&mut raw).map_err(|e| ApiError::internal(e.to_string()))?;
    let secret = signet_ca::serial::to_hex(&raw);
    let expires_at = now() + b.ttl_seconds;
    let sans = (!b.sans.is_empty())
        .then(|| serde_json::to_string(&b.sans))
        .transpose()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let id = db::insert_challenge(
        &app.store.write,
        &db::NewChallenge {
            profile: &b.profile,
            secret_hash: &crate::tokens::hash(&secret),
            subject_cn: b.subject_cn.as_deref(),
            sans,
            created_by: &p.actor(),
            expires_at,
        },
    )
    .await?;
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
    State(app): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    p.require("scep:challenge")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = db::list_challenges(&app.store.read, q.profile.as_deref(), limit).await?;
    Ok(Json(json!({"items": rows, "next_cursor": null})))
}
