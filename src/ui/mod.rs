//! The web dashboard at `/ui/`: static files compiled into the binary (no
//! CDN, no build step), a client of the public REST API on the same origin.
//! Signing in exchanges a token for a session cookie (`POST
//! /api/v1/sessions`); every page is served with a Content-Security-Policy
//! that allows no inline script and no other origin.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(|| async { asset("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(f): Path<String>| async move { asset(&f) }),
        )
}

fn asset(name: &str) -> Response {
    let (ct, body): (&str, &'static [u8]) = match name {
        "index.html" => (
            "text/html; charset=utf-8",
            include_bytes!("../../assets/ui/index.html"),
        ),
        "app.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/ui/app.js"),
        ),
        "app.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../assets/ui/app.css"),
        ),
        _ => return crate::error::ApiError::not_found("page").into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    secure(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The headers every dashboard answer carries.
pub fn secure(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}
