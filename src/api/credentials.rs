//! Credentials: ACME EAB credentials, the ACME accounts they bind, and API
//! tokens. Secrets are returned once, at creation, and never again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Principal;
use super::json::ApiJson;
use super::types::{Page, Timestamp, ts};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::{StoreError, now, projects};

pub fn routes() -> Router<ApiState> {
    Router::new()
        // `/acme/eab-credentials` is the older name of `/eab-credentials`.
        .route("/api/v1/eab-credentials", get(list_eab).post(create_eab))
        .route("/api/v1/eab-credentials/{id}", delete(revoke_eab))
        .route(
            "/api/v1/acme/eab-credentials",
            get(list_eab).post(create_eab),
        )
        .route("/api/v1/acme/eab-credentials/{id}", delete(revoke_eab))
        .route("/api/v1/acme-accounts", get(list_accounts))
        .route(
            "/api/v1/acme-accounts/{id}/deactivate",
            post(deactivate_account),
        )
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
}

/// The project a scoped caller is held to, or the one asked for.
fn own_or(p: &Principal, asked: Option<String>) -> Option<String> {
    p.token.project_id.clone().or(asked)
}

pub(super) fn visible_to(p: &Principal, project_id: &Option<String>) -> bool {
    p.token.project_id.is_none() || p.token.project_id == *project_id
}

/// Whether the row `sql` finds for `id` (selecting its project_id) exists
/// and is the caller's to see.
async fn row_visible(
    app: &ApiState,
    p: &Principal,
    sql: &'static str,
    id: &str,
) -> Result<bool, ApiError> {
    let project: Option<Option<String>> = sqlx::query_scalar(sql)
        .bind(id.to_string())
        .fetch_optional(&app.store.read)
        .await
        .map_err(StoreError::from)?;
    Ok(project.is_some_and(|pr| visible_to(p, &pr)))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateEab {
    /// Project id or name; `default` when absent [project].
    #[serde(alias = "project")]
    project_id: Option<String>,
    /// Template id or name; the project's default when absent [template].
    #[serde(alias = "template", alias = "default_template_id")]
    template_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct EabCreated {
    pub id: String,
    /// The key identifier an ACME client sends (`--eab-kid`).
    pub eab_key_id: String,
    /// base64url; shown once.
    pub eab_hmac_key: String,
    /// The same as eab_key_id.
    pub kid: String,
    /// The same as eab_hmac_key.
    pub hmac_key: String,
    pub project_id: String,
    pub template_id: String,
    pub created_at: Timestamp,
}

async fn create_eab(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateEab>,
) -> Result<(StatusCode, Json<EabCreated>), ApiError> {
    p.require("acme:eab")?;
    let project = own_or(&p, b.project_id).unwrap_or_else(|| "default".into());
    let template = match b.template_id {
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
        Json(EabCreated {
            id: e.id,
            eab_key_id: e.kid.clone(),
            eab_hmac_key: e.hmac_key.clone(),
            kid: e.kid,
            hmac_key: e.hmac_key,
            project_id: e.project_id,
            template_id: e.template_id,
            created_at: Timestamp(now()),
        }),
    ))
}

#[derive(Serialize, JsonSchema)]
pub struct EabCredential {
    pub id: String,
    pub kid: String,
    pub eab_key_id: String,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub created_at: Timestamp,
    pub used: bool,
    pub used_at: Option<Timestamp>,
    pub account_id: Option<String>,
    pub revoked: bool,
}

async fn list_eab(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<EabCredential>>, ApiError> {
    p.require("acme:eab")?;
    let rows: Vec<crate::store::acme::EabRow> = sqlx::query_as(
        "SELECT id, kid, hmac_sealed, project_id, template_id, created_at, used_at, account_id, revoked_at FROM eab_credentials ORDER BY id",
    )
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let items = rows
        .into_iter()
        .filter(|r| visible_to(&p, &r.project_id))
        .map(|r| EabCredential {
            eab_key_id: r.kid.clone(),
            id: r.id,
            kid: r.kid,
            project_id: r.project_id,
            template_id: r.template_id,
            created_at: Timestamp(r.created_at),
            used: r.used_at.is_some(),
            used_at: ts(r.used_at),
            account_id: r.account_id,
            revoked: r.revoked_at.is_some(),
        })
        .collect();
    Ok(Json(Page::all(items)))
}

/// Revoking a credential also deactivates the account it bound: a revoked
/// credential must not leave an account that keeps issuing under it.
async fn revoke_eab(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("acme:eab")?;
    let sql = "SELECT project_id FROM eab_credentials WHERE id = $1 OR kid = $1";
    if !row_visible(&app, &p, sql, &id).await? || !crate::eab::revoke(&app, &id).await? {
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

#[derive(Serialize, JsonSchema)]
pub struct AcmeAccount {
    pub id: String,
    /// valid, deactivated or revoked
    pub status: String,
    /// Contact URLs, as the client sent them.
    pub contact: Vec<String>,
    pub eab_id: Option<String>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub created_at: Timestamp,
}

type AccountRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

async fn list_accounts(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<AcmeAccount>>, ApiError> {
    p.require("acme:eab")?;
    let rows: Vec<AccountRow> = sqlx::query_as(
        "SELECT id, status, contact, eab_id, project_id, template_id, created_at \
         FROM acme_accounts ORDER BY id DESC LIMIT 1000",
    )
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let items = rows
        .into_iter()
        .filter(|a| visible_to(&p, &a.4))
        .map(
            |(id, status, contact, eab_id, project_id, template_id, at)| AcmeAccount {
                id,
                status,
                contact: serde_json::from_str(&contact).unwrap_or_default(),
                eab_id,
                project_id,
                template_id,
                created_at: Timestamp(at),
            },
        )
        .collect();
    Ok(Json(Page::all(items)))
}

/// Deactivate an ACME account (RFC 8555 §7.3.6 done by the CA): its orders
/// and key stop working; the account cannot be reactivated.
async fn deactivate_account(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("acme:eab")?;
    let sql = "SELECT project_id FROM acme_accounts WHERE id = $1";
    if !row_visible(&app, &p, sql, &id).await? {
        return Err(ApiError::not_found("ACME account"));
    }
    if !crate::eab::deactivate_account(&app, &id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the account is not valid",
        ));
    }
    super::audit_event(&app, &p, "acme.account_deactivated", &id, "high", json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[serde(default)]
    name: Option<String>,
    /// admin, operator, requester or auditor
    role: String,
    /// Scope the token to one project (id or name) [project].
    #[serde(alias = "project")]
    project_id: Option<String>,
    expires_in_days: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct Token {
    pub id: String,
    pub name: String,
    pub role: String,
    pub project_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub revoked_at: Option<Timestamp>,
    /// The last request made with it or with a dashboard session made from
    /// it, to the minute.
    pub last_used_at: Option<Timestamp>,
}

impl From<crate::store::tokens::TokenRow> for Token {
    fn from(r: crate::store::tokens::TokenRow) -> Token {
        Token {
            id: r.id,
            name: r.name,
            role: r.role,
            project_id: r.project_id,
            created_at: Timestamp(r.created_at),
            expires_at: ts(r.expires_at),
            revoked: r.revoked_at.is_some(),
            revoked_at: ts(r.revoked_at),
            last_used_at: ts(r.last_used_at),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub about: Token,
    /// The bearer secret; shown once.
    pub token: String,
}

async fn create_token(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    p.require("token:write")?;
    if !crate::tokens::ROLES.contains(&b.role.as_str()) {
        return Err(ApiError::validation(format!(
            "role must be one of {:?}",
            crate::tokens::ROLES
        )));
    }
    let project_id = match own_or(&p, b.project_id) {
        Some(name) => Some(
            projects::find(&app.store.read, &name)
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
        Json(TokenCreated {
            about: Token {
                id,
                name,
                role: b.role,
                project_id,
                created_at: Timestamp(now()),
                expires_at: ts(expires),
                revoked: false,
                revoked_at: None,
                last_used_at: None,
            },
            token: secret,
        }),
    ))
}

async fn list_tokens(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<Token>>, ApiError> {
    p.require("token:write")?;
    let items = crate::store::tokens::list(&app.store.read, None)
        .await?
        .into_iter()
        .filter(|r| visible_to(&p, &r.project_id))
        .map(Token::from)
        .collect();
    Ok(Json(Page::all(items)))
}

async fn revoke_token(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("token:write")?;
    let done = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
         AND ($3 IS NULL OR project_id = $3)",
    )
    .bind(now())
    .bind(id.clone())
    .bind(p.token.project_id.clone())
    .execute(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        return Err(ApiError::not_found("live token"));
    }
    super::audit_event(&app, &p, "token.revoked", &id, "high", json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
