//! Certificate authorities: certificate DER and the sealed private key.

use sqlx::{Any, Executor, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow)]
pub struct CaRow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub subject: String,
    pub key_type: String,
    pub cert_der: Vec<u8>,
    pub key_sealed: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub crl_number: i64,
    pub status: String,
    pub created_at: i64,
}

const COLS: &str = "id, name, parent_id, subject, key_type, cert_der, key_sealed, not_before, \
                    not_after, crl_number, status, created_at";

pub async fn insert<'e>(db: impl Executor<'e, Database = Any>, r: &CaRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO cas (id, name, parent_id, subject, key_type, cert_der, key_sealed, not_before, \
         not_after, crl_number, status, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(r.id.clone())
    .bind(r.name.clone())
    .bind(r.parent_id.clone())
    .bind(r.subject.clone())
    .bind(r.key_type.clone())
    .bind(r.cert_der.clone())
    .bind(r.key_sealed.clone())
    .bind(r.not_before)
    .bind(r.not_after)
    .bind(r.crl_number)
    .bind(r.status.clone())
    .bind(r.created_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: &str) -> Result<CaRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM cas WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_one(db)
    .await?)
}

/// Look a CA up by id or by unique name.
pub async fn find<'e>(db: impl Executor<'e, Database = Any>, id_or_name: &str) -> Result<CaRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM cas WHERE id = $1 OR name = $1"
    )))
    .bind(id_or_name.to_string())
    .fetch_one(db)
    .await?)
}

pub async fn list<'e>(db: impl Executor<'e, Database = Any>) -> Result<Vec<CaRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM cas ORDER BY id"
    )))
    .fetch_all(db)
    .await?)
}
