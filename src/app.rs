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
        .merge(crate::scep::routes())
        .layer(axum::middleware::from_fn(crate::error::request_id))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state.clone());
    let http = Router::new()
        .merge(ops::routes())
        .route("/ca/{file}", get(ops::ca_certificate))
        .merge(crate::revocation::http::routes())
        .merge(crate::scep::routes())
        .layer(axum::middleware::from_fn(crate::error::request_id))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state);
    (https, http)
}
