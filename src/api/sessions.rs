//! Dashboard sign-in: an API token is exchanged for a session cookie
//! (`HttpOnly`, `Secure`, `SameSite=Strict`, eight hours) through the API
//! itself; the session has exactly the token's permissions. Sign-out
//! revokes it. `GET /stats` gives the overview its counts.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Principal, SESSION_COOKIE, role_permissions};
use super::json::ApiJson;
use super::types::{Timestamp, ts};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, now, sessions, tokens};

const SESSION_SECS: i64 = 8 * 3600;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sessions", post(sign_in))
        .route("/api/v1/sessions/current", get(current).delete(sign_out))
        .route("/api/v1/stats", get(stats))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// An API token; it is not kept in the browser.
    pub token: String,
}

/// Who the caller is and what it may do (the dashboard hides the rest).
#[derive(Serialize, JsonSchema)]
pub struct Session {
    pub token_id: String,
    pub token_name: String,
    pub role: String,
    pub permissions: Vec<String>,
    pub project_id: Option<String>,
    /// For a cookie session: send it as X-CSRF-Token on every mutation.
    pub csrf_token: Option<String>,
    pub expires_at: Option<Timestamp>,
}

fn random_hex(n: usize) -> Result<String, ApiError> {
    let mut b = vec![0u8; n];
    openssl::rand::rand_bytes(&mut b).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(signet_ca::serial::to_hex(&b))
}

async fn sign_in(
    State(app): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    ApiJson(b): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    let Some(token) =
        tokens::find_live(&app.store.read, &crate::tokens::hash(b.token.trim())).await?
    else {
        return Err(app
            .auth_limiter
            .refuse(peer.ip(), "invalid, expired or revoked token"));
    };
    let secret = random_hex(32)?;
    let csrf = random_hex(16)?;
    let expires = now() + SESSION_SECS;
    let expires = token.expires_at.map_or(expires, |e| e.min(expires));
    let id = sessions::create(
        &app.store.write,
        &crate::tokens::hash(&secret),
        &token.id,
        &csrf,
        expires,
    )
    .await?;
    let p = Principal {
        token: token.clone(),
        session: Some(id.clone()),
    };
    super::audit_event(
        &app,
        &p,
        "session.created",
        &id,
        "info",
        json!({"token": token.id}),
    )
    .await?;
    let cookie = format!(
        "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        expires - now()
    );
    let mut r = (
        StatusCode::CREATED,
        Json(view(&p, Some(csrf), Some(expires))),
    )
        .into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    Ok(r)
}

fn view(p: &Principal, csrf: Option<String>, expires: Option<i64>) -> Session {
    Session {
        token_id: p.token.id.clone(),
        token_name: p.token.name.clone(),
        role: p.token.role.clone(),
        permissions: role_permissions(&p.token.role)
            .iter()
            .map(|s| s.to_string())
            .collect(),
        project_id: p.token.project_id.clone(),
        csrf_token: csrf,
        expires_at: ts(expires.or(p.token.expires_at)),
    }
}

async fn current(State(app): State<ApiState>, p: Principal) -> Result<Json<Session>, ApiError> {
    let (csrf, expires) = match &p.session {
        Some(id) => {
            let row: (String, i64) =
                sqlx::query_as("SELECT csrf, expires_at FROM sessions WHERE id = $1")
                    .bind(id.clone())
                    .fetch_one(&app.store.read)
                    .await
                    .map_err(StoreError::from)?;
            (Some(row.0), Some(row.1))
        }
        None => (None, None),
    };
    Ok(Json(view(&p, csrf, expires)))
}

async fn sign_out(State(app): State<ApiState>, p: Principal) -> Result<Response, ApiError> {
    if let Some(id) = &p.session {
        sessions::revoke(&app.store.write, id).await?;
        super::audit_event(&app, &p, "session.ended", id, "info", json!({})).await?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "signet_session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[derive(Serialize, JsonSchema)]
pub struct CaState {
    pub id: String,
    pub name: String,
    pub crl_number: i64,
    /// When the current full CRL was published, and when the next is due.
    pub crl_this_update: Option<Timestamp>,
    pub crl_next_update: Option<Timestamp>,
    pub not_after: Timestamp,
}

#[derive(Serialize, JsonSchema)]
pub struct Stats {
    /// Certificates by status.
    pub by_status: std::collections::BTreeMap<String, i64>,
    pub expiring_7d: i64,
    pub expiring_30d: i64,
    pub pending_approval: i64,
    pub renewal_failed: i64,
    pub cas: Vec<CaState>,
}

/// `GET /stats`: what the overview shows (of the caller's project when scoped).
async fn stats(State(app): State<ApiState>, p: Principal) -> Result<Json<Stats>, ApiError> {
    p.require("certificate:read")?;
    let project = p.token.project_id.clone();
    let db = &app.store.read;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM certificates WHERE ($1 IS NULL OR project_id = $1) GROUP BY status",
    )
    .bind(project.clone())
    .fetch_all(db)
    .await
    .map_err(StoreError::from)?;
    let t = now();
    let count = |sql: &'static str, days: i64| {
        let project = project.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(project)
                .bind(t)
                .bind(t + days * 86400)
                .fetch_one(db)
                .await
                .map_err(StoreError::from)
        }
    };
    const EXPIRING: &str = "SELECT COUNT(*) FROM certificates WHERE ($1 IS NULL OR project_id = $1) AND status = 'active' \
                            AND not_after > $2 AND not_after <= $3";
    const FAILED: &str = "SELECT COUNT(*) FROM certificates WHERE ($1 IS NULL OR project_id = $1) AND status = 'active' \
                          AND renewal_status = 'failed' AND $2 >= 0 AND $3 >= 0";
    let mut cas = Vec::new();
    for c in crate::store::cas::list(db).await? {
        let crl = crate::store::crls::latest_meta(db, &c.id, "full", None)
            .await
            .ok()
            .flatten();
        cas.push(CaState {
            crl_this_update: ts(crl.as_ref().map(|m| m.this_update)),
            crl_next_update: ts(crl.as_ref().map(|m| m.next_update)),
            id: c.id,
            name: c.name,
            crl_number: c.crl_number,
            not_after: Timestamp(c.not_after),
        });
    }
    let by_status: std::collections::BTreeMap<String, i64> = rows.into_iter().collect();
    Ok(Json(Stats {
        pending_approval: by_status.get("pending_approval").copied().unwrap_or(0),
        by_status,
        expiring_7d: count(EXPIRING, 7).await?,
        expiring_30d: count(EXPIRING, 30).await?,
        renewal_failed: count(FAILED, 0).await?,
        cas,
    }))
}
