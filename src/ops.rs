//! Liveness, readiness, metrics, and CA certificate download.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::core_state::CoreState;
use crate::error::ApiError;
use crate::store::cas;

pub fn routes() -> Router<CoreState> {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(app): State<CoreState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database: timed out\n").into_response(),
    }
}

async fn metrics(State(app): State<CoreState>) -> Response {
    let mut body = app.metrics.render();
    if let Some(s) = app.store.sqlite_stats() {
        for (name, help, n) in [
            (
                "signet_sqlite_fullscan_steps_total",
                "Rows SQLite stepped through in full table scans. \
                 Growth under steady load means a statement whose cost grows with a table.",
                s.fullscan_steps,
            ),
            (
                "signet_sqlite_transactions_total",
                "Write transactions committed or rolled back.",
                s.transactions,
            ),
            (
                "signet_sqlite_commits_total",
                "COMMITs run: concurrent transactions share one (group commit).",
                s.commits,
            ),
        ] {
            body.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}\n"
            ));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// `/ca/{id}.crt` (DER) or `/ca/{id}.pem`; the id may also be the CA's name.
pub async fn ca_certificate(
    State(app): State<CoreState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let (id, pem) = match (file.strip_suffix(".crt"), file.strip_suffix(".pem")) {
        (Some(id), _) => (id, false),
        (_, Some(id)) => (id, true),
        _ => return Err(ApiError::not_found("CA certificate (use .crt or .pem)")),
    };
    let ca = cas::find(&app.store.read, id).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found("CA"),
        other => other.into(),
    })?;
    let cache = (header::CACHE_CONTROL, "public, max-age=3600");
    Ok(if pem {
        let cert = openssl::x509::X509::from_der(&ca.cert_der)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let body = cert.to_pem().unwrap_or_default();
        (
            [(header::CONTENT_TYPE, "application/x-pem-file"), cache],
            body,
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/pkix-cert"), cache],
            ca.cert_der,
        )
            .into_response()
    })
}
