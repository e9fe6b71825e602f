//! Application state and the routers built from it. Tests and `main` share
//! this, so what the tests exercise is what runs.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::ca_registry::CaRegistry;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ops;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub master_key: [u8; 32],
    pub cas: CaRegistry,
    pub metrics: Metrics,
    pub validator: crate::acme::validate::Validator,
    pub auth_limiter: crate::api::auth::AuthLimiter,
    pub nonces: crate::acme::nonce::Nonces,
    pub accounts: crate::acme::accounts::Accounts,
    pub scep: crate::scep::responder::Responders,
    /// Request-body bytes (KiB) that may be buffered at once, over every
    /// request (`limits.body_bytes_in_flight`).
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// Revocations waiting for their CRL (`revocation::crl::spawn_revoke_publisher`).
    pub revoke_trigger: crate::revocation::crl::RevokeTrigger,
    /// Base URL of the HTTPS listener as clients see it (no trailing slash).
    pub https_url: String,
    /// Base URL of the plain-HTTP listener, used in CRLDP/AIA.
    pub http_url: String,
}

pub type AppState = Arc<App>;

impl App {
    pub fn crl_url(&self, ca_id: &str) -> String {
        format!("{}/crl/{ca_id}.crl", self.http_url)
    }
    /// The CRL of one shard, when `revocation.crl_shards` > 1.
    pub fn crl_shard_url(&self, ca_id: &str, shard: i64) -> String {
        format!("{}/crl/{ca_id}/{shard}.crl", self.http_url)
    }
    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.http_url)
    }
    pub fn ca_cert_url(&self, ca_id: &str) -> String {
        format!("{}/ca/{ca_id}.crt", self.http_url)
    }
}

/// (HTTPS router, plain-HTTP router).
pub fn build_routers(state: AppState) -> (Router, Router) {
    let https = Router::new()
        .merge(ops::routes())
        .merge(crate::acme::routes(state.clone()))
        .merge(crate::api::routes(state.clone()))
        .merge(crate::scep::routes());
    let http = Router::new()
        .merge(ops::routes())
        .route("/ca/{file}", get(ops::ca_certificate))
        .merge(crate::revocation::http::routes())
        .merge(crate::scep::routes());
    (
        with_common_layers(https, &state),
        with_common_layers(http, &state),
    )
}

/// What every listener does around its routes, innermost first: a panic
/// becomes a JSON 500, framework errors take the error shape, unknown routes
/// get a JSON 404; bodies count against the budget and one left unread is
/// drained; then the request id (with
/// the access log) and metrics.
pub fn with_common_layers(routes: Router<AppState>, state: &AppState) -> Router {
    routes
        .fallback(crate::error::no_route)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::error::panic_response,
        ))
        .layer(axum::middleware::from_fn(crate::error::uniform_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.body_budget.clone(),
            crate::drain::bounded_body,
        ))
        .layer(axum::middleware::from_fn(crate::error::request_id))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state.clone())
}
