//! `Idempotency-Key` on POST (DESIGN §5): a repeat within 24 h with the same
//! request replays the original response, status, body and `Location`; a
//! different request under the same key is 409 (the conventions document,
//! §09), and so is a repeat while the original is still running. Keys are
//! scoped to the credential that sent them.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use openssl::sha::Sha256;
use signet_ca::serial::to_hex;

use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, now};

const TTL_SECS: i64 = 86400;
const MAX_STORED: usize = 1024 * 1024;
/// The response headers a replay repeats.
const KEPT_HEADERS: [header::HeaderName; 2] = [header::LOCATION, header::CONTENT_TYPE];

pub async fn layer(State(app): State<ApiState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(key) = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    match run(&app, key, req, next).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run(app: &ApiState, key: String, req: Request, next: Next) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > 255 {
        return Err(ApiError::bad_request(
            "Idempotency-Key must be 1-255 characters",
        ));
    }
    let scope = {
        let auth = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default();
        let mut h = Sha256::new();
        h.update(&auth);
        to_hex(&h.finish())
    };
    let (parts, body) = req.into_parts();
    // Hashed whole; no route takes more than an import.
    let bytes = to_bytes(body, super::IMPORT_MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body too large",
        )
    })?;
    let request_hash = {
        let mut h = Sha256::new();
        h.update(parts.method.as_str().as_bytes());
        h.update(parts.uri.to_string().as_bytes());
        h.update(&bytes);
        to_hex(&h.finish())
    };
    let db = &app.store.write;
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now() - TTL_SECS)
        .execute(db)
        .await
        .map_err(StoreError::from)?;
    let inserted = sqlx::query("INSERT INTO idempotency_keys (token_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
        .bind(scope.clone())
        .bind(key.clone())
        .bind(request_hash.clone())
        .bind(now())
        .execute(db)
        .await
        .map_err(StoreError::from)?
        .rows_affected()
        == 1;
    if !inserted {
        type Stored = (String, Option<i64>, Option<String>, Option<String>);
        let (hash, status, response, headers): Stored =
            sqlx::query_as("SELECT request_hash, status, response, headers FROM idempotency_keys WHERE token_id = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .fetch_one(db)
                .await
                .map_err(StoreError::from)?;
        if hash != request_hash {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ));
        }
        let Some(status) = status else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "the original request with this Idempotency-Key is still running",
            ));
        };
        let mut r = (
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
            response.unwrap_or_default(),
        )
            .into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let kept: Vec<(String, String)> = headers
            .and_then(|h| serde_json::from_str(&h).ok())
            .unwrap_or_default();
        for (k, v) in kept {
            if let (Ok(k), Ok(v)) = (
                header::HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                r.headers_mut().insert(k, v);
            }
        }
        r.headers_mut()
            .insert("idempotency-replayed", HeaderValue::from_static("true"));
        return Ok(r);
    }
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (rparts, rbody) = resp.into_parts();
    let rbytes = to_bytes(rbody, usize::MAX).await.unwrap_or_default();
    let status = rparts.status;
    let is_json = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // Failures that a retry may fix (auth, rate limits, server errors) are not pinned.
    let keep =
        is_json && rbytes.len() <= MAX_STORED && !matches!(status.as_u16(), 401 | 429 | 500..=599);
    let q = if keep {
        let kept: Vec<(&str, &str)> = KEPT_HEADERS
            .iter()
            .filter_map(|k| Some((k.as_str(), rparts.headers.get(k)?.to_str().ok()?)))
            .collect();
        sqlx::query("UPDATE idempotency_keys SET status = $1, response = $2, headers = $3 WHERE token_id = $4 AND key = $5")
            .bind(i64::from(status.as_u16()))
            .bind(String::from_utf8_lossy(&rbytes).to_string())
            .bind(serde_json::to_string(&kept).unwrap_or_default())
            .bind(scope)
            .bind(key)
    } else {
        sqlx::query("DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2")
            .bind(scope)
            .bind(key)
    };
    q.execute(db).await.map_err(StoreError::from)?;
    Ok(Response::from_parts(rparts, Body::from(rbytes)))
}
