//! Small key/value settings shared by all replicas (e.g. the default CA).

use sqlx::{Any, Executor};

use super::Result;

pub const DEFAULT_CA: &str = "default_ca";

pub async fn get<'e>(db: impl Executor<'e, Database = Any>, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_string())
            .fetch_optional(db)
            .await?,
    )
}

pub async fn set<'e>(db: impl Executor<'e, Database = Any>, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(db)
    .await?;
    Ok(())
}

/// Set a key only if it has no value yet: true when this call set it.
pub async fn set_if_absent<'e>(
    db: impl Executor<'e, Database = Any>,
    key: &str,
    value: &str,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key.to_string())
    .bind(value.to_string())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}
