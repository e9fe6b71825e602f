//! ACME server (RFC 8555) over the shared issuance pipeline.
//!
//! Split as in Pebble: `jws` (request authentication), resource handlers
//! (`account`, `order`, `authz`, `cert`), `validate` (the VA), and the store.

mod account;
pub mod accounts;
mod authz;
mod cert;
pub mod jws;
pub mod nonce;
mod order;
pub use order::reconcile_orders;
pub mod problem;
pub mod validate;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::core_state::CoreState;
use crate::policy::{Channel, TemplateSpec};
use crate::store::templates;
use problem::{AcmeResult, Problem};

/// The ACME front's own state beside the core: the validator (the VA),
/// nonces and the account cache. Derefs to the core.
pub struct Acme {
    pub core: CoreState,
    pub validator: validate::Validator,
    pub nonces: nonce::Nonces,
    pub accounts: accounts::Accounts,
}

pub type AcmeState = std::sync::Arc<Acme>;

crate::core_state::derefs_to_core!(Acme);

impl Acme {
    pub fn new(core: CoreState) -> anyhow::Result<AcmeState> {
        Ok(std::sync::Arc::new(Acme {
            validator: validate::Validator::new(&core.config.acme.validation)?,
            nonces: nonce::Nonces::for_store(&core.store, &core.master_key)?,
            accounts: accounts::Accounts::for_store(&core.store, core.account_rows_epoch.clone()),
            core,
        }))
    }
}

pub fn routes(state: AcmeState) -> Router {
    Router::new()
        .route("/acme/directory", get(directory))
        .route("/acme/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/new-account", post_only(account::new_account))
        .route("/acme/account/{id}", post_only(account::update))
        .route("/acme/account/{id}/orders", post_only(account::orders))
        .route("/acme/key-change", post_only(account::key_change))
        .route("/acme/new-order", post_only(order::new_order))
        .route("/acme/order/{id}", post_only(order::get_order))
        .route("/acme/order/{id}/finalize", post_only(order::finalize))
        .route("/acme/authz/{id}", post_only(authz::get_authz))
        .route("/acme/chall/{id}", post_only(authz::challenge))
        .route("/acme/cert/{id}", post_only(cert::download))
        .route("/acme/revoke-cert", post_only(cert::revoke))
        .route("/acme/renewal-info/{cert_id}", get(cert::renewal_info))
        .layer(axum::extract::DefaultBodyLimit::max(jws::MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            replay_nonce,
        ))
        .with_state(state)
}

/// A POST-only resource (reads are POST-as-GET, RFC 8555 §6.3): any other
/// method gets 405 as a problem document, with `Allow: POST`.
fn post_only<H, T>(handler: H) -> MethodRouter<AcmeState>
where
    H: Handler<T, AcmeState>,
    T: 'static,
{
    post(handler).fallback(method_not_allowed)
}

async fn method_not_allowed(method: Method) -> Response {
    let mut p = Problem::malformed(format!(
        "{method} is not allowed here: ACME resources are read and changed with POST (RFC 8555 §6.3)"
    ));
    p.status = StatusCode::METHOD_NOT_ALLOWED;
    let mut r = p.into_response();
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// Every ACME response carries a fresh nonce, the directory link and no-store.
async fn replay_nonce(State(app): State<AcmeState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    match fresh_nonce(&app) {
        Ok(n) => {
            if let Ok(v) = HeaderValue::from_str(&n) {
                h.insert("replay-nonce", v);
            }
        }
        Err(e) => return e.into_response(),
    }
    if let Ok(v) =
        HeaderValue::from_str(&format!("<{}/acme/directory>;rel=\"index\"", app.https_url))
    {
        h.append(header::LINK, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn fresh_nonce(app: &AcmeState) -> AcmeResult<String> {
    app.nonces.issue(app.config.acme.nonce_lifetime_secs)
}

async fn new_nonce(req: Request) -> StatusCode {
    // RFC 8555 §7.2: 200 for HEAD, 204 for GET.
    if req.method() == axum::http::Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    }
}

async fn directory(State(app): State<AcmeState>) -> AcmeResult<Json<Value>> {
    let base = format!("{}/acme", app.https_url);
    let mut profiles = serde_json::Map::new();
    for t in templates::list(&app.store.read).await? {
        if let Ok(spec) = serde_json::from_str::<TemplateSpec>(&t.spec)
            && spec.channels.contains(&Channel::Acme)
        {
            let desc = if spec.description.is_empty() {
                format!("template {}", t.name)
            } else {
                spec.description
            };
            profiles.insert(t.name, Value::String(desc));
        }
    }
    let acme = &app.config.acme;
    let mut meta = json!({"externalAccountRequired": acme.eab_required, "profiles": profiles});
    if !acme.terms_of_service.is_empty() {
        meta["termsOfService"] = json!(acme.terms_of_service);
    }
    if !acme.website.is_empty() {
        meta["website"] = json!(acme.website);
    }
    if !acme.caa_identities.is_empty() {
        meta["caaIdentities"] = json!(acme.caa_identities);
    }
    Ok(Json(json!({
        "newNonce": format!("{base}/new-nonce"),
        "newAccount": format!("{base}/new-account"),
        "newOrder": format!("{base}/new-order"),
        "revokeCert": format!("{base}/revoke-cert"),
        "keyChange": format!("{base}/key-change"),
        "renewalInfo": format!("{base}/renewal-info"),
        "meta": meta,
    })))
}

/// Resource URLs.
pub(crate) fn url(app: &AcmeState, kind: &str, id: &str) -> String {
    format!("{}/acme/{kind}/{id}", app.https_url)
}

/// A JSON response with optional Location, Link(up) and Retry-After.
pub(crate) fn respond(
    status: StatusCode,
    body: Value,
    location: Option<String>,
    up: Option<String>,
    retry_after: Option<u64>,
) -> Response {
    let mut r = (status, Json(body)).into_response();
    let h = r.headers_mut();
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    if let Some(u) = up.and_then(|u| HeaderValue::from_str(&format!("<{u}>;rel=\"up\"")).ok()) {
        h.append(header::LINK, u);
    }
    if let Some(s) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

pub(crate) fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// ACME's background work, beside the core's (`jobs::start`): the reconcile
/// of orders left `processing`, and the nonce purge.
pub fn spawn_jobs(app: &AcmeState) {
    order::spawn_order_reconciler(app.clone());
    spawn_nonce_purger(app.clone());
}

/// Purge expired nonces once a minute (on every replica; idempotent).
fn spawn_nonce_purger(app: AcmeState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            app.nonces.purge(&app.store).await;
        }
    });
}
