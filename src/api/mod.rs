//! The management REST API (`/api/v1`, DESIGN §5).
//!
//! `ROUTES` is the single list of routes with the permission each needs: the
//! OpenAPI document is generated from it, and a test walks it for every role,
//! so a route added without a permission check fails that test.

mod audit;
pub mod auth;
mod cas;
mod certificates;
pub use certificates::view as certificate_view;
mod credentials;
pub mod idempotency;
pub mod json;
mod openapi;
mod operations;
mod scep;
mod templates;

use axum::Router;

use crate::core_state::CoreState;

/// The largest JSON request body.
pub const JSON_MAX_BODY: usize = 1024 * 1024;
/// The largest import (a PEM bundle, a PKCS#12 file).
pub const IMPORT_MAX_BODY: usize = 16 * 1024 * 1024;

/// (method, path, permission, summary)
pub const ROUTES: &[(&str, &str, &str, &str)] = &[
    (
        "POST",
        "/api/v1/certificates/csr",
        "certificate:request",
        "Submit a CSR (uploaded_csr) or have the key generated (generated); ?dry_run=true shows the plan",
    ),
    (
        "GET",
        "/api/v1/certificates",
        "certificate:read",
        "List certificates (filters, sort, cursor pagination)",
    ),
    (
        "GET",
        "/api/v1/certificates/{id}",
        "certificate:read",
        "One certificate with its validity status",
    ),
    (
        "PUT",
        "/api/v1/certificates/{id}",
        "certificate:write",
        "Update tags, description, auto_renew",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/approve",
        "certificate:approve",
        "Approve a pending request (N-of-M, no self-approval)",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/reject",
        "certificate:approve",
        "Reject a pending request",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/revoke",
        "certificate:revoke",
        "Revoke with an RFC 5280 reason and optional invalidity date",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/unrevoke",
        "certificate:revoke",
        "Lift a certificateHold",
    ),
    (
        "GET",
        "/api/v1/certificates/{id}/export",
        "certificate:read",
        "Export as pem, der, pkcs7 or pkcs12 (a key needs certificate:write and a password)",
    ),
    (
        "GET",
        "/api/v1/certificates/{id}/private_key",
        "certificate:write",
        "The server-generated private key (audited)",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/archive",
        "certificate:archive",
        "Archive",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/restore",
        "certificate:archive",
        "Restore from the archive",
    ),
    (
        "DELETE",
        "/api/v1/certificates/{id}/permanent",
        "certificate:permanent_delete",
        "Delete for good (not while issued and unexpired)",
    ),
    (
        "POST",
        "/api/v1/certificates/{id}/renew",
        "certificate:request",
        "Renew with the same template; a new key for server-generated keys",
    ),
    (
        "GET",
        "/api/v1/certificates/{id}/renewal-history",
        "certificate:read",
        "Predecessors and successors",
    ),
    (
        "POST",
        "/api/v1/certificates/import",
        "certificate:import",
        "Import a certificate, optional key and chain",
    ),
    (
        "POST",
        "/api/v1/certificates/import/preview",
        "certificate:import",
        "Parse and validate an import; store nothing",
    ),
    (
        "GET",
        "/api/v1/templates",
        "certificate:read",
        "List templates",
    ),
    (
        "GET",
        "/api/v1/templates/{id}",
        "certificate:read",
        "One template",
    ),
    (
        "POST",
        "/api/v1/templates",
        "template:write",
        "Create a template",
    ),
    (
        "PUT",
        "/api/v1/templates/{id}",
        "template:write",
        "Replace a template's spec",
    ),
    (
        "DELETE",
        "/api/v1/templates/{id}",
        "template:write",
        "Delete an unused template",
    ),
    ("GET", "/api/v1/cas", "ca:read", "List CAs"),
    ("GET", "/api/v1/cas/{id}", "ca:read", "One CA"),
    (
        "GET",
        "/api/v1/cas/{id}/chain",
        "ca:read",
        "The CA's chain, PEM or DER",
    ),
    (
        "POST",
        "/api/v1/cas",
        "ca:admin",
        "Create an intermediate CA under an existing one",
    ),
    ("GET", "/api/v1/ca/{id}/crl", "ca:read", "The current CRL"),
    (
        "POST",
        "/api/v1/ca/{id}/crl/regenerate",
        "ca:admin",
        "Publish a full or delta CRL now",
    ),
    (
        "POST",
        "/api/v1/acme/eab-credentials",
        "acme:eab",
        "Create an EAB credential (the HMAC key is shown once)",
    ),
    (
        "GET",
        "/api/v1/acme/eab-credentials",
        "acme:eab",
        "List EAB credentials, used and unused",
    ),
    (
        "DELETE",
        "/api/v1/acme/eab-credentials/{id}",
        "acme:eab",
        "Revoke a credential and deactivate the accounts bound to it",
    ),
    (
        "POST",
        "/api/v1/tokens",
        "token:write",
        "Create an API token (shown once)",
    ),
    ("GET", "/api/v1/tokens", "token:write", "List API tokens"),
    (
        "DELETE",
        "/api/v1/tokens/{id}",
        "token:write",
        "Revoke an API token",
    ),
    (
        "GET",
        "/api/v1/audit-events",
        "audit:read",
        "Audit events, newest first",
    ),
    (
        "GET",
        "/api/v1/audit-events/verify",
        "audit:read",
        "Verify the audit hash chain",
    ),
    (
        "GET",
        "/api/v1/operations/{id}",
        "certificate:read",
        "The state and result of a 202 operation",
    ),
    (
        "POST",
        "/api/v1/certificates/import/bulk",
        "certificate:import",
        "Import a PEM bundle (202 and an operation)",
    ),
    (
        "POST",
        "/api/v1/certificates/import/file",
        "certificate:import",
        "Import a multipart file: PEM, DER or PKCS#12 (field password for PKCS#12)",
    ),
    (
        "POST",
        "/api/v1/scep/challenges",
        "scep:challenge",
        "Mint a one-time SCEP challenge password (shown once; optionally bound to a CN and SANs)",
    ),
    (
        "GET",
        "/api/v1/scep/challenges",
        "scep:challenge",
        "List one-time SCEP challenges (never the secrets)",
    ),
    (
        "POST",
        "/api/v1/cas/import",
        "ca:admin",
        "Import an existing CA certificate, its key and chain",
    ),
];

/// The REST front's own state beside the core: the limiter of failed
/// authentications. Derefs to the core.
pub struct Api {
    pub core: CoreState,
    pub auth_limiter: auth::AuthLimiter,
}

pub type ApiState = std::sync::Arc<Api>;

crate::core_state::derefs_to_core!(Api);

impl Api {
    pub fn new(core: CoreState) -> ApiState {
        std::sync::Arc::new(Api {
            core,
            auth_limiter: auth::AuthLimiter::default(),
        })
    }
}

pub fn routes(state: ApiState) -> Router {
    Router::new()
        .merge(certificates::routes())
        .merge(templates::routes())
        .merge(cas::routes())
        .merge(credentials::routes())
        .merge(audit::routes())
        .merge(operations::routes())
        .merge(scep::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        // 413 for oversized bodies: JSON is small; the import routes take
        // up to IMPORT_MAX_BODY (their own, inner limit).
        .layer(axum::extract::DefaultBodyLimit::max(JSON_MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .merge(openapi::routes())
        .with_state(state)
}

/// Record one audit event for an API action in its own transaction (the
/// request id is attached by the store from the request being served).
pub(crate) async fn audit_event(
    app: &ApiState,
    p: &auth::Principal,
    action: &str,
    target: &str,
    severity: &str,
    details: serde_json::Value,
) -> Result<(), crate::error::ApiError> {
    use crate::store::{StoreError, audit};
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    audit::record(
        &mut tx,
        audit::Event {
            actor: &p.actor(),
            action,
            target: Some(target),
            severity,
            request_id: None,
            details,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// The permission a request needs, from `ROUTES` (`{x}` matches one segment).
pub fn permission_for(method: &str, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTES
        .iter()
        .filter(|(m, pattern, _, _)| {
            let ps: Vec<&str> = pattern.split('/').collect();
            *m == method
                && ps.len() == segs.len()
                && ps
                    .iter()
                    .zip(&segs)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        })
        // A literal segment beats a parameter (`/certificates/import` vs `/certificates/{id}`).
        .max_by_key(|(_, pattern, _, _)| pattern.split('/').filter(|p| !p.starts_with('{')).count())
        .map(|(_, _, perm, _)| *perm)
}

/// Authenticate and check the route's permission before any body is read,
/// so a caller without the permission learns nothing but 403.
async fn authorize(
    axum::extract::State(app): axum::extract::State<ApiState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::extract::FromRequestParts;
    use axum::response::IntoResponse;
    let Some(perm) = permission_for(req.method().as_str(), req.uri().path()) else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let principal = match auth::Principal::from_request_parts(&mut parts, &app).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = principal.require(perm) {
        return e.into_response();
    }
    parts.extensions.insert(principal);
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}
