//! Dashboard sessions: a cookie's hash, the token it stands for, and the
//! CSRF token its mutations carry.

use sqlx::{Any, Executor, FromRow};

use super::tokens::TokenRow;
use super::{Result, new_id, now};

#[derive(FromRow)]
struct LiveSession {
    session_id: String,
    session_csrf: String,
    #[sqlx(flatten)]
    token: TokenRow,
}

/// The session's id and CSRF token, and its token when both are live.
pub async fn find_live<'e>(
    db: impl Executor<'e, Database = Any>,
    secret_hash: &str,
) -> Result<Option<(String, String, TokenRow)>> {
    let row: Option<LiveSession> = sqlx::query_as(
        "SELECT s.id AS session_id, s.csrf AS session_csrf, t.id, t.name, t.role, t.project_id, \
         t.created_at, t.expires_at, t.revoked_at, t.last_used_at \
         FROM sessions s JOIN api_tokens t ON t.id = s.token_id \
         WHERE s.secret_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
         AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(secret_hash.to_string())
    .bind(now())
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.session_id, r.session_csrf, r.token)))
}

/// A new session for a token; returns (id, csrf).
pub async fn create<'e>(
    db: impl Executor<'e, Database = Any>,
    secret_hash: &str,
    token_id: &str,
    csrf: &str,
    expires_at: i64,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO sessions (id, secret_hash, token_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.clone())
    .bind(secret_hash.to_string())
    .bind(token_id.to_string())
    .bind(csrf.to_string())
    .bind(now())
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

pub async fn revoke<'e>(db: impl Executor<'e, Database = Any>, id: &str) -> Result<()> {
    sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now())
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}
