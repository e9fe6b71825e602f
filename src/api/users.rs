//! Users: the identities API tokens carry. Signet keeps no passwords: a user
//! is the `name` its tokens were created with, and each token's role and
//! project say what it may do. This view answers who can act, with which
//! roles, and when they last did, without reading every token.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::Serialize;

use super::auth::Principal;
use super::credentials::{Token, visible_to};
use super::types::{Page, Timestamp};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::store::tokens::{self, TokenRow};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/users", get(list))
        .route("/api/v1/users/{name}", get(get_one))
}

#[derive(Serialize, JsonSchema)]
pub struct User {
    pub name: String,
    /// The roles of the user's live tokens.
    pub roles: Vec<String>,
    /// The projects the live tokens are scoped to.
    pub project_ids: Vec<String>,
    /// Some live token is not scoped to a project.
    pub all_projects: bool,
    pub live_token_count: usize,
    /// Live, expired and revoked.
    pub token_count: usize,
    /// When the first token was made.
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Serialize, JsonSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: User,
    /// Every token of the user, live or not (never a secret).
    pub tokens: Vec<Token>,
}

/// One user from its tokens (at least one).
fn user(name: &str, rows: &[TokenRow], now: i64) -> User {
    let live: Vec<&TokenRow> = rows.iter().filter(|r| r.is_live(now)).collect();
    let mut roles: Vec<String> = live.iter().map(|r| r.role.clone()).collect();
    roles.sort();
    roles.dedup();
    let mut project_ids: Vec<String> = live.iter().filter_map(|r| r.project_id.clone()).collect();
    project_ids.sort();
    project_ids.dedup();
    User {
        name: name.to_string(),
        roles,
        project_ids,
        all_projects: live.iter().any(|r| r.project_id.is_none()),
        live_token_count: live.len(),
        token_count: rows.len(),
        created_at: Timestamp(rows.iter().map(|r| r.created_at).min().unwrap_or_default()),
        last_used_at: rows
            .iter()
            .filter_map(|r| r.last_used_at)
            .max()
            .map(Timestamp),
    }
}

/// The caller's view of the tokens, by user name.
async fn by_name(
    app: &ApiState,
    p: &Principal,
    name: Option<&str>,
) -> Result<BTreeMap<String, Vec<TokenRow>>, ApiError> {
    let mut users: BTreeMap<String, Vec<TokenRow>> = BTreeMap::new();
    for r in tokens::list(&app.store.read, name).await? {
        if visible_to(p, &r.project_id) {
            users.entry(r.name.clone()).or_default().push(r);
        }
    }
    Ok(users)
}

async fn list(State(app): State<ApiState>, p: Principal) -> Result<Json<Page<User>>, ApiError> {
    p.require("token:write")?;
    let now = crate::store::now();
    let items = by_name(&app, &p, None)
        .await?
        .iter()
        .map(|(name, rows)| user(name, rows, now))
        .collect();
    Ok(Json(Page::all(items)))
}

async fn get_one(
    State(app): State<ApiState>,
    p: Principal,
    Path(name): Path<String>,
) -> Result<Json<UserDetail>, ApiError> {
    p.require("token:write")?;
    let rows = by_name(&app, &p, Some(&name))
        .await?
        .remove(&name)
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(UserDetail {
        user: user(&name, &rows, crate::store::now()),
        tokens: rows.into_iter().map(Token::from).collect(),
    }))
}
