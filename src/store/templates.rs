//! Templates (profiles): a name and a JSON policy spec.

use sqlx::{Any, Executor, FromRow};

use super::{Result, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct TemplateRow {
    pub id: String,
    pub name: String,
    pub spec: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id_or_name: &str,
) -> Result<TemplateRow> {
    Ok(sqlx::query_as(
        "SELECT id, name, spec, created_at, updated_at FROM templates WHERE id = $1 OR name = $1",
    )
    .bind(id_or_name.to_string())
    .fetch_one(db)
    .await?)
}

pub async fn list<'e>(db: impl Executor<'e, Database = Any>) -> Result<Vec<TemplateRow>> {
    Ok(
        sqlx::query_as("SELECT id, name, spec, created_at, updated_at FROM templates ORDER BY id")
            .fetch_all(db)
            .await?,
    )
}

/// Insert, or replace the spec of the template with this name. Returns the id.
pub async fn upsert<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    spec: &str,
) -> Result<String> {
    let t = now();
    Ok(sqlx::query_scalar(
        "INSERT INTO templates (id, name, spec, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at \
         RETURNING id",
    )
    .bind(new_id())
    .bind(name.to_string())
    .bind(spec.to_string())
    .bind(t)
    .fetch_one(db)
    .await?)
}
