//! API tokens, stored as SHA-256 hashes only.

use sqlx::{Any, Executor, FromRow};

use super::{Result, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub project_id: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub async fn insert<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    token_hash: &str,
    role: &str,
    project_id: Option<&str>,
    expires_at: Option<i64>,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO api_tokens (id, name, token_hash, role, project_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.clone())
    .bind(name.to_string())
    .bind(token_hash.to_string())
    .bind(role.to_string())
    .bind(project_id.map(str::to_string))
    .bind(now())
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// The live (unexpired, unrevoked) token with this hash.
pub async fn find_live<'e>(
    db: impl Executor<'e, Database = Any>,
    token_hash: &str,
) -> Result<Option<TokenRow>> {
    Ok(sqlx::query_as(
        "SELECT id, name, role, project_id, created_at, expires_at, revoked_at FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(token_hash.to_string())
    .bind(now())
    .fetch_optional(db)
    .await?)
}
