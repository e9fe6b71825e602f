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

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: TokenRow,
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
            return Ok(Principal { token: t });
        }
        if let Some(wait) = app.auth_limiter.fail(ip) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many failed authentications from this address; retry in {} s",
                    wait.as_secs()
                ),
            );
            e.retry_after = Some(wait.as_secs().max(1));
            return Err(e);
        }
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            match token {
                None => "missing bearer token",
                Some(_) => "invalid, expired or revoked token",
            },
        ))
    }
}
