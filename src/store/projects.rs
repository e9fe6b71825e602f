//! Projects group certificates, tokens and EAB credentials, and carry a
//! default template and the templates their requests may use.

use sqlx::{Any, Executor, FromRow};

use super::{Result, StoreError, new_id, now};

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub default_template_id: Option<String>,
    /// JSON array of template ids; empty means any template.
    pub allowed_templates: String,
    /// JSON array of email addresses that hear of the project's events.
    pub notify_email: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ProjectRow {
    pub fn allowed_templates(&self) -> Vec<String> {
        serde_json::from_str(&self.allowed_templates).unwrap_or_default()
    }

    pub fn notify_email(&self) -> Vec<String> {
        serde_json::from_str(&self.notify_email).unwrap_or_default()
    }
}

const COLUMNS: &str = "id, name, description, default_template_id, allowed_templates, notify_email, created_at, updated_at";

pub async fn find<'e>(
    db: impl Executor<'e, Database = Any>,
    id_or_name: &str,
) -> Result<ProjectRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE id = $1 OR name = $1"
    )))
    .bind(id_or_name.to_string())
    .fetch_one(db)
    .await?)
}

pub async fn list<'e>(db: impl Executor<'e, Database = Any>) -> Result<Vec<ProjectRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects ORDER BY name"
    )))
    .fetch_all(db)
    .await?)
}

/// Create the project if it does not exist; returns its id.
pub async fn ensure<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    default_template_id: Option<&str>,
) -> Result<String> {
    let t = now();
    Ok(sqlx::query_scalar(
        "INSERT INTO projects (id, name, default_template_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(new_id())
    .bind(name.to_string())
    .bind(default_template_id.map(str::to_string))
    .bind(t)
    .fetch_one(db)
    .await?)
}

/// What a caller sets on a project.
pub struct ProjectFields<'a> {
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub default_template_id: Option<&'a str>,
    pub allowed_templates: &'a [String],
    pub notify_email: &'a [String],
}

/// Insert a new project; a taken name is `StoreError::Conflict`.
pub async fn create<'e>(
    db: impl Executor<'e, Database = Any>,
    f: &ProjectFields<'_>,
) -> Result<String> {
    let id = new_id();
    let t = now();
    let done = sqlx::query(
        "INSERT INTO projects (id, name, description, default_template_id, allowed_templates, notify_email, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $7, $6, $6) ON CONFLICT (name) DO NOTHING",
    )
    .bind(id.clone())
    .bind(f.name.to_string())
    .bind(f.description.map(str::to_string))
    .bind(f.default_template_id.map(str::to_string))
    .bind(serde_json::to_string(f.allowed_templates)?)
    .bind(t)
    .bind(serde_json::to_string(f.notify_email)?)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "a project named {:?} exists",
            f.name
        )));
    }
    Ok(id)
}

pub async fn update<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    f: &ProjectFields<'_>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE projects SET name = $1, description = $2, default_template_id = $3, allowed_templates = $4, \
         updated_at = $5, notify_email = $7 WHERE id = $6 AND NOT EXISTS (SELECT 1 FROM projects o WHERE o.name = $1 AND o.id <> $6)",
    )
    .bind(f.name.to_string())
    .bind(f.description.map(str::to_string))
    .bind(f.default_template_id.map(str::to_string))
    .bind(serde_json::to_string(f.allowed_templates)?)
    .bind(now())
    .bind(id.to_string())
    .bind(serde_json::to_string(f.notify_email)?)
    .execute(db)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::Conflict(format!(
            "a project named {:?} exists",
            f.name
        )));
    }
    Ok(())
}

/// Delete a project nothing refers to; otherwise `StoreError::Conflict`
/// naming what still does (a CA never loses track of what it signed).
pub async fn delete(db: &super::Writer, id: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    for (table, what) in [
        ("certificates", "certificates"),
        ("api_tokens", "API tokens"),
        ("eab_credentials", "EAB credentials"),
        ("acme_accounts", "ACME accounts"),
    ] {
        let used: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM {table} WHERE project_id = $1 LIMIT 1"
        )))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if used.is_some() {
            return Err(StoreError::Conflict(format!(
                "the project still has {what}"
            )));
        }
    }
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
