//! Projects: tenancy in the URL. `/api/v1/projects/{projectId}/…` reaches
//! the project-scoped routes (`super::scope` rewrites it); these are the
//! project resources themselves.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Principal;
use super::json::ApiJson;
use super::types::{Page, Timestamp};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::projects::{self, ProjectFields, ProjectRow};
use crate::store::{StoreError, templates};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/projects", get(list).post(create))
        .route(
            "/api/v1/projects/{projectId}",
            get(get_one).put(replace).delete(remove),
        )
}

#[derive(Serialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub default_template_id: Option<String>,
    /// Templates the project's requests may use; empty means any.
    pub allowed_templates: Vec<String>,
    /// Who hears of the project's certificates (expiry, renewals, approvals, revocations).
    pub notify_email: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&ProjectRow> for Project {
    fn from(r: &ProjectRow) -> Self {
        Project {
            id: r.id.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            default_template_id: r.default_template_id.clone(),
            allowed_templates: r.allowed_templates(),
            notify_email: r.notify_email(),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectBody {
    /// Unique; letters, digits, `-`, `_` and `.`.
    pub name: String,
    pub description: Option<String>,
    /// Template id or name used when a request names none.
    #[serde(alias = "default_template")]
    pub default_template_id: Option<String>,
    /// Template ids or names; empty or absent means any template.
    #[serde(default)]
    pub allowed_templates: Vec<String>,
    /// Email recipients of the project's notifications.
    #[serde(default)]
    pub notify_email: Vec<String>,
}

/// The project a URL names (id or name), as the caller may see it: a
/// project-scoped token sees its own project only (404 for the others).
pub async fn visible(app: &ApiState, p: &Principal, id: &str) -> Result<ProjectRow, ApiError> {
    let row = projects::find(&app.store.read, id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("project"),
            other => other.into(),
        })?;
    if p.token
        .project_id
        .as_ref()
        .is_some_and(|own| *own != row.id)
    {
        return Err(ApiError::not_found("project"));
    }
    Ok(row)
}

/// Resolve template names to ids and check the name: what is stored.
async fn checked(app: &ApiState, b: ProjectBody) -> Result<(ProjectBody, Vec<String>), ApiError> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if let Some(bad) = b
        .notify_email
        .iter()
        .find(|e| e.parse::<lettre::Address>().is_err())
    {
        return Err(ApiError::validation(format!(
            "notify_email: {bad:?} is not an email address"
        )));
    }
    if b.name.is_empty() || b.name.len() > 64 || !b.name.chars().all(ok) {
        return Err(ApiError::validation(
            "name: 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    let resolve = |t: String| async move {
        templates::find(&app.store.read, &t)
            .await
            .map(|row| row.id)
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::validation(format!("unknown template {t:?}")),
                other => other.into(),
            })
    };
    let mut allowed = Vec::new();
    for t in b.allowed_templates.clone() {
        allowed.push(resolve(t).await?);
    }
    let default = match b.default_template_id.clone() {
        Some(t) => Some(resolve(t).await?),
        None => None,
    };
    if let Some(d) = &default
        && !allowed.is_empty()
        && !allowed.contains(d)
    {
        return Err(ApiError::validation(
            "default_template_id must be one of allowed_templates",
        ));
    }
    Ok((
        ProjectBody {
            default_template_id: default,
            ..b
        },
        allowed,
    ))
}

fn fields<'a>(b: &'a ProjectBody, allowed: &'a [String]) -> ProjectFields<'a> {
    ProjectFields {
        name: &b.name,
        description: b.description.as_deref(),
        default_template_id: b.default_template_id.as_deref(),
        allowed_templates: allowed,
        notify_email: &b.notify_email,
    }
}

async fn list(State(app): State<ApiState>, p: Principal) -> Result<Json<Page<Project>>, ApiError> {
    p.require("certificate:read")?;
    let items = projects::list(&app.store.read)
        .await?
        .iter()
        .filter(|r| p.token.project_id.as_ref().is_none_or(|own| *own == r.id))
        .map(Project::from)
        .collect();
    Ok(Json(Page::all(items)))
}

async fn get_one(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Project>, ApiError> {
    p.require("certificate:read")?;
    Ok(Json(Project::from(&visible(&app, &p, &id).await?)))
}

async fn create(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<ProjectBody>,
) -> Result<Response, ApiError> {
    p.require("project:write")?;
    let (b, allowed) = checked(&app, b).await?;
    let id = projects::create(&app.store.write, &fields(&b, &allowed)).await?;
    super::audit_event(
        &app,
        &p,
        "project.created",
        &id,
        "info",
        json!({"name": b.name}),
    )
    .await?;
    let row = projects::find(&app.store.write, &id).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/projects/{id}"))],
        Json(Project::from(&row)),
    )
        .into_response())
}

async fn replace(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ProjectBody>,
) -> Result<Json<Project>, ApiError> {
    p.require("project:write")?;
    let row = visible(&app, &p, &id).await?;
    let (b, allowed) = checked(&app, b).await?;
    projects::update(&app.store.write, &row.id, &fields(&b, &allowed)).await?;
    super::audit_event(
        &app,
        &p,
        "project.updated",
        &row.id,
        "info",
        json!({"name": b.name}),
    )
    .await?;
    Ok(Json(Project::from(
        &projects::find(&app.store.write, &row.id).await?,
    )))
}

async fn remove(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("project:write")?;
    let row = visible(&app, &p, &id).await?;
    if row.name == "default" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the default project cannot be deleted",
        ));
    }
    projects::delete(&app.store.write, &row.id).await?;
    super::audit_event(
        &app,
        &p,
        "project.deleted",
        &row.id,
        "high",
        json!({"name": row.name}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
