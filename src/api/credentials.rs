//! Credentials: ACME EAB credentials and API tokens. Secrets are returned
//! once, at creation, and never again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, now, projects};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/acme/eab-credentials",
            get(list_eab).post(create_eab),
        )
        .route("/api/v1/acme/eab-credentials/{id}", delete(revoke_eab))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CreateEab {
    #[serde(alias = "project_id")]
    project: Option<String>,
    #[serde(alias = "template_id")]
    template: Option<String>,
}

async fn create_eab(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateEab>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("acme:eab")?;
    let project = match (&p.token.project_id, b.project) {
        (Some(own), _) => own.clone(),
        (None, x) => x.unwrap_or_else(|| "default".into()),
    };
    let template = match b.template {
        Some(t) => t,
        None => projects::find(&app.store.read, &project)
            .await
            .ok()
            .and_then(|p| p.default_template_id)
            .unwrap_or_else(|| "default".into()),
    };
    let e = crate::eab::create(&app, &project, &template)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::validation("unknown project or template"),
            other => other.into(),
        })?;
    super::audit_event(
        &app,
        &p,
        "eab.created",
        &e.kid,
        "high",
        json!({"project_id": e.project_id, "template_id": e.template_id}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"kid": e.kid, "hmac_key": e.hmac_key, "project_id": e.project_id, "template_id": e.template_id}),
        ),
    ))
}

async fn list_eab(State(app): State<ApiState>, p: Principal) -> Result<Json<Value>, ApiError> {
    p.require("acme:eab")?;
    let rows: Vec<crate::store::acme::EabRow> = sqlx::query_as(
        "SELECT id, kid, hmac_sealed, project_id, template_id, created_at, used_at, account_id, revoked_at FROM eab_credentials ORDER BY id",
    )
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let items: Vec<Value> = rows
        .into_iter()
        .filter(|r| p.token.project_id.is_none() || p.token.project_id == r.project_id)
        .map(|r| {
            json!({"id": r.id, "kid": r.kid, "project_id": r.project_id, "template_id": r.template_id, "created_at": r.created_at,
                   "used": r.used_at.is_some(), "used_at": r.used_at, "account_id": r.account_id, "revoked": r.revoked_at.is_some()})
        })
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

/// Revoking a credential also deactivates the account it bound: a revoked
/// credential must not leave an account that keeps issuing under it.
async fn revoke_eab(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("acme:eab")?;
    if !crate::eab::revoke(&app, &id).await? {
        return Err(ApiError::not_found("unrevoked EAB credential"));
    }
    super::audit_event(
        &app,
        &p,
        "eab.revoked",
        &id,
        "high",
        json!({"accounts_deactivated": true}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    #[serde(default)]
    name: Option<String>,
    role: String,
    #[serde(alias = "project_id")]
    project: Option<String>,
    expires_in_days: Option<u32>,
}

async fn create_token(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("token:write")?;
    if !crate::tokens::ROLES.contains(&b.role.as_str()) {
        return Err(ApiError::validation(format!(
            "role must be one of {:?}",
            crate::tokens::ROLES
        )));
    }
    let project_id = match &b.project {
        Some(name) => Some(
            projects::find(&app.store.read, name)
                .await
                .map_err(|_| ApiError::validation(format!("unknown project {name:?}")))?
                .id,
        ),
        None => None,
    };
    let expires = b.expires_in_days.map(|d| now() + i64::from(d) * 86400);
    let name = b.name.unwrap_or_else(|| "api".into());
    let (id, secret) =
        crate::tokens::create(&app.store, &name, &b.role, project_id.as_deref(), expires).await?;
    super::audit_event(
        &app,
        &p,
        "token.created",
        &id,
        "high",
        json!({"role": b.role, "project_id": project_id}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "token": secret, "name": name, "role": b.role, "project_id": project_id, "expires_at": expires}),
        ),
    ))
}

async fn list_tokens(State(app): State<ApiState>, p: Principal) -> Result<Json<Value>, ApiError> {
    p.require("token:write")?;
    let rows: Vec<crate::store::tokens::TokenRow> =
        sqlx::query_as("SELECT id, name, role, project_id, created_at, expires_at, revoked_at FROM api_tokens ORDER BY id")
            .fetch_all(&app.store.read)
            .await
            .map_err(StoreError::from)?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|r| json!({"id": r.id, "name": r.name, "role": r.role, "project_id": r.project_id, "created_at": r.created_at, "expires_at": r.expires_at, "revoked": r.revoked_at.is_some()}))
        .collect();
    Ok(Json(json!({"items": items, "next_cursor": null})))
}

async fn revoke_token(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("token:write")?;
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id.clone())
            .execute(&app.store.write)
            .await
            .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        return Err(ApiError::not_found("live token"));
    }
    super::audit_event(&app, &p, "token.revoked", &id, "high", json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
