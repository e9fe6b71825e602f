//! The REST/ops error shape (DESIGN §5):
//! `{"error":{"code","message","details","request_id"}}` with the matching status.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tracing::Instrument;

use crate::issuance::IssueError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
    /// Seconds, sent as `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", msg)
    }
    /// 422: the request parsed but its content is not acceptable.
    pub fn validation(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", msg)
    }
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg)
    }
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Echo `X-Request-ID` (or make one) on every response, and make it visible
/// to error bodies and logs of this request.
pub async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::new_v4().simple()));
    // The path only: query strings can carry secrets (SCEP messages, tokens).
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id);
    let started = std::time::Instant::now();
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span.clone()))
        .await;
    span.in_scope(|| {
        tracing::info!(
            target: "signet::access",
            %method,
            %path,
            status = resp.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            %peer,
            "request"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The id of the request being served, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// The body of every REST error (DESIGN §5).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    /// Machine-readable, stable: e.g. policy_violation, not_found, forbidden.
    pub code: String,
    /// For people; the wording may change.
    pub message: String,
    /// Structured context: for a policy violation, the rule, the offending
    /// value and what is allowed.
    pub details: Vec<Value>,
    /// The `X-Request-ID` of the request, also in the audit log.
    pub request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details,
                request_id: current_request_id(),
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", m);
                e.retry_after = Some(crate::store::UNAVAILABLE_RETRY_SECS);
                e
            }
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            other => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                other.to_string(),
            ),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Denied(vs) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "policy_violation",
                message: "the request violates the template".into(),
                details: vs
                    .iter()
                    .map(|v| serde_json::to_value(v).unwrap_or_default())
                    .collect(),
                retry_after: None,
            },
            IssueError::Unknown(what, name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("unknown {what} {name:?}"),
            ),
            IssueError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "invalid_state", m),
            IssueError::KeyCompromised => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "key_compromised",
                e.to_string(),
            ),
            IssueError::Ca(c) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_csr",
                c.to_string(),
            ),
            IssueError::Store(s) => s.into(),
            IssueError::CaUnavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "ca_unavailable", m)
            }
        }
    }
}

/// A handler that panicked: a JSON 500 that names the request, never a
/// dropped connection.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    tracing::error!(panic = what, "handler panicked");
    ApiError::internal("the server hit an internal error; the request id identifies it in the log")
        .into_response()
}
