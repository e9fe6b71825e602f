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
    pub last_used_at: Option<i64>,
}

impl TokenRow {
    /// Neither revoked nor expired at `now` (what `find_live` selects).
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// The columns of a `TokenRow`, for `concat!` (queries are static strings).
macro_rules! columns {
    () => {
        "id, name, role, project_id, created_at, expires_at, revoked_at, last_used_at"
    };
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
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)"
    ))
    .bind(token_hash.to_string())
    .bind(now())
    .fetch_optional(db)
    .await?)
}

/// Every token, live or not, in creation order; `name` narrows to one
/// identity's tokens.
pub async fn list<'e>(
    db: impl Executor<'e, Database = Any>,
    name: Option<&str>,
) -> Result<Vec<TokenRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM api_tokens WHERE ($1 IS NULL OR name = $1) ORDER BY id"
    ))
    .bind(name.map(str::to_string))
    .fetch_all(db)
    .await?)
}

/// Record that the token was used at `at`.
pub async fn touch<'e>(db: impl Executor<'e, Database = Any>, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}
