//! Bearer-token authentication and role-based permissions (DESIGN §5).
//! 401: no or bad token. 403: a valid token without the permission.
//! Failed attempts are limited per client IP (10 a minute, then 429 with
//! Retry-After); a valid token is never refused by the limit.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::sessions;
use crate::store::tokens::{self, TokenRow};

pub const PERMISSIONS: [&str; 19] = [
    "certificate:request",
    "certificate:read",
    "certificate:approve",
    "certificate:revoke",
    "certificate:import",
    "certificate:archive",
    "certificate:permanent_delete",
    "certificate:write",
    "template:write",
    "project:write",
    "rotation:read",
    "rotation:write",
    "rotation:execute",
    "ca:read",
    "ca:admin",
    "acme:eab",
    "scep:challenge",
    "audit:read",
    "token:write",
];

/// The permissions of a built-in role.
pub fn role_permissions(role: &str) -> &'static [&'static str] {
    match role {
        "admin" => &PERMISSIONS,
        "operator" => &[
            "certificate:request",
            "certificate:read",
            "certificate:approve",
            "certificate:revoke",
            "certificate:archive",
            "rotation:read",
            "rotation:execute",
            "ca:read",
            "scep:challenge",
            "audit:read",
        ],
        "requester" => &["certificate:request", "certificate:read"],
        "auditor" => &["certificate:read", "rotation:read", "ca:read", "audit:read"],
        _ => &[],
    }
}

/// An authenticated caller: a bearer token, or a dashboard session that
/// acts with its token's permissions.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: TokenRow,
    /// The session id, when the caller came with the session cookie.
    pub session: Option<String>,
}

/// The dashboard's session cookie.
pub const SESSION_COOKIE: &str = "signet_session";
/// The header a cookie-authenticated mutation must carry (the session's
/// CSRF token, which a page of another origin cannot read).
pub const CSRF_HEADER: &str = "x-csrf-token";

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The principal of a live session cookie; a mutation must also carry the
/// session's CSRF token.
async fn from_session(parts: &Parts, app: &ApiState) -> Result<Option<Principal>, ApiError> {
    let Some(secret) = cookie(parts, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some((session, csrf, token)) =
        sessions::find_live(&app.store.read, &crate::tokens::hash(secret)).await?
    else {
        return Ok(None);
    };
    let safe = matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !safe && (sent.len() != csrf.len() || !openssl::memcmp::eq(sent, csrf.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "a request made with the session cookie must carry its X-CSRF-Token",
        ));
    }
    Ok(Some(Principal {
        token,
        session: Some(session),
    }))
}

impl Principal {
    pub fn actor(&self) -> String {
        format!("token:{}", self.token.id)
    }

    pub fn require(&self, permission: &'static str) -> Result<(), ApiError> {
        if role_permissions(&self.token.role).contains(&permission) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("role {} lacks the permission {permission}", self.token.role),
            ))
        }
    }
}

const WINDOW: Duration = Duration::from_secs(60);
const MAX_FAILURES: u32 = 10;

/// Failed authentications per client IP in the current minute. Per process:
/// each replica limits what reaches it, which is what the limit is for.
#[derive(Default)]
pub struct AuthLimiter {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AuthLimiter {
    /// The answer to a failed authentication from `ip`: 401, or 429 with
    /// Retry-After once the address is over the limit.
    pub fn refuse(&self, ip: IpAddr, why: &str) -> ApiError {
        if let Some(wait) = self.fail(ip) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many failed authentications from this address; retry in {} s",
                    wait.as_secs()
                ),
            );
            e.retry_after = Some(wait.as_secs().max(1));
            return e;
        }
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", why)
    }

    /// Count a failed attempt; once the address is over the limit, how long
    /// until its window ends.
    fn fail(&self, ip: IpAddr) -> Option<Duration> {
        let mut map = self.failures.lock().expect("lock");
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let e = map.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
        (e.1 > MAX_FAILURES).then(|| WINDOW.saturating_sub(e.0.elapsed()))
    }
}

const USE_INTERVAL: Duration = Duration::from_secs(60);

/// When this replica last wrote each token's `last_used_at`, so that a busy
/// token costs one UPDATE a minute, not one per request.
#[derive(Default)]
pub struct UseRecorder {
    written: Mutex<HashMap<String, Instant>>,
}

impl UseRecorder {
    fn due(&self, token_id: &str) -> bool {
        let mut map = self.written.lock().expect("lock");
        if map.len() > 10_000 {
            map.retain(|_, at| at.elapsed() < USE_INTERVAL);
        }
        match map.get(token_id) {
            Some(at) if at.elapsed() < USE_INTERVAL => false,
            _ => {
                map.insert(token_id.to_string(), Instant::now());
                true
            }
        }
    }
}

/// Note the use of a token, off the request's path: a lost write only makes
/// `last_used_at` a minute older.
fn record_use(app: &ApiState, token: &TokenRow) {
    if app.token_use.due(&token.id) {
        let (db, id) = (app.store.write.clone(), token.id.clone());
        tokio::spawn(async move {
            if let Err(e) = tokens::touch(&db, &id, crate::store::now()).await {
                tracing::debug!(error = %e, "token last_used_at not written");
            }
        });
    }
}

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &ApiState) -> Result<Self, ApiError> {
        // Already authenticated by the route-table middleware.
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Looked up by SHA-256 hash: the comparison happens on a digest in the
        // database index, so no timing signal leaks the secret. A valid token
        // always passes: the limit slows guessing, and must not lock out the
        // admins who share an address (a NAT) with a failing script.
        let found = match token {
            Some(t) => tokens::find_live(&app.store.read, &crate::tokens::hash(t.trim())).await?,
            None => None,
        };
        if let Some(t) = found {
            record_use(app, &t);
            return Ok(Principal {
                token: t,
                session: None,
            });
        }
        if token.is_none()
            && let Some(p) = from_session(parts, app).await?
        {
            record_use(app, &p.token);
            return Ok(p);
        }
        Err(app.auth_limiter.refuse(
            ip,
            match token {
                None => "missing bearer token",
                Some(_) => "invalid, expired or revoked token",
            },
        ))
    }
}
