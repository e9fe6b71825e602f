//! One-time SCEP challenge passwords: minted here, shown once, stored
//! hashed, spent by the first enrolment that uses them.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Principal;
use super::json::ApiJson;
use super::types::{Page, Timestamp, ts};
use crate::api::ApiState;
use crate::challenges;
use crate::error::ApiError;
use crate::store::scep as db;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/scep/challenges",
            get(list_challenges).post(create_challenge),
        )
        .route("/api/v1/scep/profiles", get(list_profiles))
}

/// A SCEP profile (`[scep.profiles.NAME]` in signet.toml) as a device or an
/// MDM is configured with it. Secrets and webhook URLs are not shown.
#[derive(Serialize, JsonSchema)]
pub struct Profile {
    pub name: String,
    /// The URL to give devices (plain HTTP, as RFC 8894 expects).
    pub url: String,
    /// The template its requests are issued under (which names the CA).
    pub template: String,
    /// How a request proves it may enrol: static, one-time, webhook or none.
    pub challenge: String,
    /// DES, 3DES and SHA-1 accepted.
    pub allow_legacy: bool,
    /// auto or always: whether a separate RSA RA certificate answers.
    pub ra: String,
    /// A request signed by a current certificate renews without a challenge.
    pub renewal: bool,
    pub include_ca_in_reply: bool,
}

/// A config enum's name as signet.toml spells it.
fn spelled<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn list_profiles(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<Profile>>, ApiError> {
    p.require("certificate:read")?;
    let items = app
        .config
        .scep
        .profiles
        .iter()
        .map(|(name, c)| Profile {
            name: name.clone(),
            url: format!("{}/scep/{name}", app.http_url),
            template: c.template.clone(),
            challenge: spelled(&c.challenge),
            allow_legacy: c.allow_legacy,
            ra: spelled(&c.ra),
            renewal: c.renewal,
            include_ca_in_reply: c.include_ca_in_reply,
        })
        .collect();
    Ok(Json(Page::all(items)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateChallenge {
    /// The SCEP profile (`[scep.profiles.NAME]`); default `default`.
    profile: String,
    /// Default 3600.
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
) -> Result<(StatusCode, Json<ChallengeCreated>), ApiError> {
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
        Json(ChallengeCreated {
            id,
            challenge: secret,
            profile: b.profile,
            expires_at: Timestamp(expires_at),
            subject_cn: b.subject_cn,
            sans: b.sans,
        }),
    ))
}

#[derive(Serialize, JsonSchema)]
pub struct ChallengeCreated {
    pub id: String,
    /// The password a device sends; shown once.
    pub challenge: String,
    pub profile: String,
    pub expires_at: Timestamp,
    pub subject_cn: Option<String>,
    pub sans: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct Challenge {
    pub id: String,
    pub profile: String,
    pub subject_cn: Option<String>,
    pub sans: Vec<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub used_by: Option<String>,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(default)]
pub struct ListParams {
    profile: Option<String>,
    /// 1 to 1000, default 100.
    limit: Option<i64>,
}

async fn list_challenges(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<Json<Page<Challenge>>, ApiError> {
    p.require("scep:challenge")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = db::list_challenges(&app.store.read, q.profile.as_deref(), limit).await?;
    let items = rows
        .into_iter()
        .map(|r| Challenge {
            id: r.id,
            profile: r.profile,
            subject_cn: r.subject_cn,
            sans: r
                .sans
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            created_by: r.created_by,
            created_at: Timestamp(r.created_at),
            expires_at: Timestamp(r.expires_at),
            used_at: ts(r.used_at),
            used_by: r.used_by,
        })
        .collect();
    Ok(Json(Page::all(items)))
}
