//! Projects group certificates, tokens and EAB credentials, and carry a
//! default template.

use sqlx::{Any, Executor, FromRow};

use super::{Result, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub default_template_id: Option<String>,
    pub created_at: i64,
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id_or_name: &str,
) -> Result<ProjectRow> {
    Ok(sqlx::query_as(
        "SELECT id, name, default_template_id, created_at FROM projects WHERE id = $1 OR name = $1",
    )
    .bind(id_or_name.to_string())
    .fetch_one(db)
    .await?)
}

/// Create the project if it does not exist; returns its id.
pub async fn ensure<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    default_template_id: Option<&str>,
) -> Result<String> {
    Ok(sqlx::query_scalar(
        "INSERT INTO projects (id, name, default_template_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(new_id())
    .bind(name.to_string())
    .bind(default_template_id.map(str::to_string))
    .bind(now())
    .fetch_one(db)
    .await?)
}
