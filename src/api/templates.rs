//! Template CRUD. Specs are validated; a template in use cannot be deleted.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use super::types::{Page, Timestamp};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::policy::TemplateSpec;
use crate::store::{StoreError, templates};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/templates", get(list).post(create))
        .route(
            "/api/v1/templates/{id}",
            get(get_one).put(replace).delete(remove),
        )
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Template {
    pub id: String,
    pub name: String,
    /// The policy: allowed names, key types, validity, approvals, … (README, "Templates").
    #[schemars(with = "TemplateSpec")]
    pub spec: serde_json::Map<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn view(t: &templates::TemplateRow) -> Template {
    Template {
        id: t.id.clone(),
        name: t.name.clone(),
        spec: serde_json::from_str(&t.spec).unwrap_or_default(),
        created_at: Timestamp(t.created_at),
        updated_at: Timestamp(t.updated_at),
    }
}

async fn find(app: &ApiState, id: &str) -> Result<templates::TemplateRow, ApiError> {
    templates::find(&app.store.read, id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("template"),
            other => other.into(),
        })
}

async fn list(State(app): State<ApiState>, p: Principal) -> Result<Json<Page<Template>>, ApiError> {
    p.require("certificate:read")?;
    let items = templates::list(&app.store.read)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(Json(Page::all(items)))
}

async fn get_one(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Template>, ApiError> {
    p.require("certificate:read")?;
    Ok(Json(view(&find(&app, &id).await?)))
}

/// Parse and validate a spec. A refusal names every broken field in
/// `details` as `{"field": "spec.<name>", "message": …}`, which is how the
/// dashboard puts each message next to its field.
fn checked(spec: Value) -> Result<String, ApiError> {
    let spec = TemplateSpec::from_json(spec).map_err(|errors| {
        let mut e = ApiError::validation(format!(
            "spec: {}",
            crate::policy::spec_errors_line(&errors)
        ));
        e.details = errors
            .iter()
            .map(|f| {
                let field = if f.field.is_empty() {
                    "spec".to_string()
                } else {
                    format!("spec.{}", f.field)
                };
                json!({"field": field, "message": f.message})
            })
            .collect();
        e
    })?;
    Ok(serde_json::to_string(&spec).expect("serialisable"))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TemplateCreate")]
pub struct Create {
    name: String,
    /// Omitted fields take their defaults.
    #[serde(default)]
    #[schemars(with = "TemplateSpec")]
    spec: Value,
}

async fn create(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<Create>,
) -> Result<(StatusCode, Json<Template>), ApiError> {
    p.require("template:write")?;
    if b.name.is_empty()
        || b.name.len() > 64
        || !b
            .name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        let mut e = ApiError::validation("name: 1-64 of [A-Za-z0-9_-]");
        e.details = vec![json!({"field": "name", "message": "1-64 of [A-Za-z0-9_-]"})];
        return Err(e);
    }
    if templates::find(&app.store.read, &b.name).await.is_ok() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("template {:?} exists", b.name),
        ));
    }
    let spec = checked(if b.spec.is_null() { json!({}) } else { b.spec })?;
    let id = templates::upsert(&app.store.write, &b.name, &spec).await?;
    super::audit_event(&app, &p, "template.created", &id, "info", json!({})).await?;
    Ok((StatusCode::CREATED, Json(view(&find(&app, &id).await?))))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TemplateReplace")]
pub struct Replace {
    #[schemars(with = "TemplateSpec")]
    spec: Value,
}

async fn replace(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Replace>,
) -> Result<Json<Template>, ApiError> {
    p.require("template:write")?;
    let t = find(&app, &id).await?;
    let spec = checked(b.spec)?;
    templates::upsert(&app.store.write, &t.name, &spec).await?;
    super::audit_event(&app, &p, "template.updated", &t.id, "info", json!({})).await?;
    Ok(Json(view(&find(&app, &t.id).await?)))
}

async fn remove(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("template:write")?;
    let t = find(&app, &id).await?;
    let uses: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM certificates WHERE template_id = $1) + (SELECT COUNT(*) FROM projects WHERE default_template_id = $1) \
         + (SELECT COUNT(*) FROM eab_credentials WHERE template_id = $1) + (SELECT COUNT(*) FROM acme_accounts WHERE template_id = $1) \
         + (SELECT COUNT(*) FROM acme_orders WHERE template_id = $1)",
    )
    .bind(t.id.clone())
    .fetch_one(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    if uses > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "in_use",
            format!(
                "template {:?} is used by {uses} certificates, projects, credentials or orders",
                t.name
            ),
        ));
    }
    sqlx::query("DELETE FROM templates WHERE id = $1")
        .bind(t.id.clone())
        .execute(&app.store.write)
        .await
        .map_err(StoreError::from)?;
    super::audit_event(&app, &p, "template.deleted", &t.id, "info", json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}
