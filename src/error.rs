//! The REST/ops error shape (DESIGN §5):
//! `{"error":{"code","message","details","request_id"}}` with the matching status.

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::issuance::IssueError;
use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
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
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut resp = REQUEST_ID
        .scope(id.clone(), next.run(req).instrument(span))
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// The id of the request being served, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details, "request_id": current_request_id()}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", m)
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
            },
            IssueError::Unknown(what, name) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("unknown {what} {name:?}"),
            ),
            IssueError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "invalid_state", m),
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
