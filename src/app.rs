//! The shell: composes the fronts (ACME, the REST API, SCEP) and the core's
//! own endpoints (operations, revocation) into the two listeners' routers.
//! It is the one place that knows every front; below it, the core knows
//! none, and the fronts meet only in the pipeline and the store.
//! Tests and `main` share this, so what the tests exercise is what runs.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::acme::AcmeState;
use crate::acme::problem::Problem;
use crate::api::ApiState;
use crate::core_state::CoreState;
use crate::error::ApiError;
use crate::ops;
use crate::scep::ScepState;

pub struct App {
    pub core: CoreState,
    pub acme: AcmeState,
    pub api: ApiState,
    pub scep: ScepState,
    /// Request-body bytes (KiB) that may be buffered at once, over every
    /// request (`limits.body_bytes_in_flight`).
    pub body_budget: Arc<tokio::sync::Semaphore>,
}

pub type AppState = Arc<App>;

crate::core_state::derefs_to_core!(App);

/// (HTTPS router, plain-HTTP router).
pub fn build_routers(app: &AppState) -> (Router, Router) {
    let core = || {
        Router::new()
            .merge(ops::routes())
            .with_state(app.core.clone())
    };
    let https = core()
        .merge(crate::acme::routes(app.acme.clone()))
        .merge(crate::api::routes(app.api.clone()))
        .merge(crate::ui::routes())
        .merge(crate::scep::routes(app.scep.clone()));
    let http = core()
        .merge(
            Router::new()
                .route("/ca/{file}", get(ops::ca_certificate))
                .merge(crate::revocation::http::routes())
                .with_state(app.core.clone()),
        )
        .merge(crate::scep::routes(app.scep.clone()));
    (
        with_common_layers(https, app),
        with_common_layers(http, app),
    )
}

/// What happens to a request before the router matches it: the REST API's
/// project-scoped URLs become the flat routes they name.
pub fn before_routing<B>(req: axum::http::Request<B>) -> axum::http::Request<B> {
    crate::api::rewrite_scoped(req)
}

/// What every listener does around its routes, innermost first: a panic
/// becomes a JSON 500, framework errors take the error shape, unknown routes
/// get a JSON 404; bodies count against the budget and one left unread is
/// drained; then the request id (with the access log) and metrics.
pub fn with_common_layers(routes: Router, app: &AppState) -> Router {
    routes
        .fallback(no_route)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::error::panic_response,
        ))
        .layer(axum::middleware::from_fn(uniform_errors))
        .layer(axum::middleware::from_fn_with_state(
            app.body_budget.clone(),
            crate::drain::bounded_body,
        ))
        .layer(axum::middleware::from_fn(crate::error::request_id))
        .layer(axum::middleware::from_fn_with_state(
            app.core.clone(),
            crate::metrics::track,
        ))
}

/// Stable `code` for an HTTP status that axum or hyper answered on their own
/// (a rejected extractor, an unknown route or method, a body over its limit).
fn code_for(status: StatusCode, message: &str) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST if message.starts_with("Failed to deserialize query string") => {
            "invalid_query"
        }
        StatusCode::BAD_REQUEST => "malformed_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        _ => "internal",
    }
}

/// Every error answered with a plain-text or empty body becomes the JSON
/// error shape, or a problem document under `/acme/`: the routes' own errors
/// are already JSON, and so one shape covers what the framework answers too.
/// Other bodies (OCSP, SCEP, CRLs) pass untouched.
pub async fn uniform_errors(req: Request, next: Next) -> Response {
    let acme = req.uri().path().starts_with("/acme/");
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let rendered = if acme {
        let mut p = Problem::malformed(message);
        if status.is_server_error() {
            p = Problem::server_internal(p.detail);
        }
        p.status = status;
        p.into_response()
    } else {
        ApiError::new(status, code_for(status, &message), message).into_response()
    };
    let (new_parts, body) = rendered.into_parts();
    // Keep what the original answer said beyond its body (Allow, Retry-After).
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (k, v) in new_parts.headers.iter() {
        parts.headers.insert(k, v.clone());
    }
    Response::from_parts(parts, body)
}

/// A route that does not exist: the JSON error shape, or a problem document
/// under `/acme/`.
pub async fn no_route(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/acme/") {
        Problem::not_found(format!("no ACME resource at {}", uri.path())).into_response()
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route {}", uri.path()),
        )
        .into_response()
    }
}

/// 503 with Retry-After for a server at one of its limits: a problem
/// document under `/acme/`, the JSON error shape elsewhere.
pub fn busy(acme: bool, message: &str) -> Response {
    if acme {
        Problem::unavailable(message).into_response()
    } else {
        let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message);
        e.retry_after = Some(crate::store::UNAVAILABLE_RETRY_SECS);
        e.into_response()
    }
}
