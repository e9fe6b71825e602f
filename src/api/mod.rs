//! The management REST API (`/api/v1`, DESIGN §5).
//!
//! `ROUTES` is the single list of routes with the permission each needs: the
//! OpenAPI document is generated from it, and a test walks it for every role,
//! so a route added without a permission check fails that test.

mod audit;
pub mod auth;
mod cas;
mod certificates;

mod credentials;
pub mod idempotency;
pub mod json;
mod lifecycle;
mod openapi;
mod route_table;
pub use route_table::{ROUTES, Route};
mod operations;
mod projects;
mod scep;
mod sessions;
mod templates;
pub mod types;
mod users;

use axum::Router;

use crate::core_state::CoreState;

/// The largest JSON request body.
pub const JSON_MAX_BODY: usize = 1024 * 1024;
/// The largest import (a PEM bundle, a PKCS#12 file).
pub const IMPORT_MAX_BODY: usize = 16 * 1024 * 1024;

/// The REST front's own state beside the core: the limiter of failed
/// authentications and the record of token use. Derefs to the core.
pub struct Api {
    pub core: CoreState,
    pub auth_limiter: auth::AuthLimiter,
    pub token_use: auth::UseRecorder,
}

pub type ApiState = std::sync::Arc<Api>;

crate::core_state::derefs_to_core!(Api);

impl Api {
    pub fn new(core: CoreState) -> ApiState {
        std::sync::Arc::new(Api {
            core,
            auth_limiter: auth::AuthLimiter::default(),
            token_use: auth::UseRecorder::default(),
        })
    }
}

/// The resources that live under `/api/v1/projects/{projectId}/`: each is
/// also reachable flat, scoped by the token's project (or none, for admins).
pub const PROJECT_SCOPED: [&str; 6] = [
    "certificates",
    "acme-accounts",
    "eab-credentials",
    "renewals",
    "renewal-queue",
    "distributions",
];

/// The project a request's URL names (`/api/v1/projects/{projectId}/…`).
#[derive(Clone)]
struct UrlProject(String);

/// `/api/v1/projects/{p}/certificates/x?q` → (`p`, `/api/v1/certificates/x?q`)
/// for the project-scoped resources; anything else is not rewritten.
fn unscoped(path_and_query: &str) -> Option<(String, String)> {
    let rest = path_and_query.strip_prefix("/api/v1/projects/")?;
    let (project, tail) = rest.split_once('/')?;
    let resource = tail.split(['/', '?']).next().unwrap_or_default();
    PROJECT_SCOPED
        .contains(&resource)
        .then(|| (project.to_string(), format!("/api/v1/{tail}")))
}

/// Route a project-scoped URL to the flat route it names, remembering the
/// project so that `authorize` narrows the caller to it. This runs before
/// routing (the server applies it to every request), so the flat route's
/// path parameters are the only ones.
pub fn rewrite_scoped<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if let Some((project, flat)) = unscoped(&pq)
        && let Ok(uri) = flat.parse()
    {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(UrlProject(project));
    }
    req
}

pub fn routes(state: ApiState) -> Router {
    Router::new()
        .merge(certificates::routes())
        .merge(projects::routes())
        .merge(lifecycle::routes())
        .merge(sessions::routes())
        .merge(templates::routes())
        .merge(cas::routes())
        .merge(credentials::routes())
        .merge(users::routes())
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
        .filter(|r| {
            let ps: Vec<&str> = r.path.split('/').collect();
            r.method == method
                && ps.len() == segs.len()
                && ps
                    .iter()
                    .zip(&segs)
                    .all(|(p, s)| p.starts_with('{') || p == s)
        })
        // A literal segment beats a parameter (`/certificates/import` vs `/certificates/{id}`).
        .max_by_key(|r| r.path.split('/').filter(|p| !p.starts_with('{')).count())
        .map(|r| r.permission)
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
    // Routes outside the table, and the public ones (sign-in), need no token.
    let Some(perm) =
        permission_for(req.method().as_str(), req.uri().path()).filter(|p| !p.is_empty())
    else {
        return next.run(req).await;
    };
    let (mut parts, body) = req.into_parts();
    let principal = match auth::Principal::from_request_parts(&mut parts, &app).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut principal = principal;
    if let Err(e) = principal.require(perm) {
        return e.into_response();
    }
    // A project in the URL narrows the caller to it, as a scoped token is.
    if let Some(UrlProject(name)) = parts.extensions.get::<UrlProject>().cloned() {
        match projects::visible(&app, &principal, &name).await {
            Ok(project) => principal.token.project_id = Some(project.id),
            Err(e) => return e.into_response(),
        }
    }
    parts.extensions.insert(principal);
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}
