//! Published CRLs.

use sqlx::{Any, Executor, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow)]
pub struct CrlRow {
    pub ca_id: String,
    pub number: i64,
    pub kind: String,
    pub base_number: Option<i64>,
    pub this_update: i64,
    pub next_update: i64,
    pub entries: i64,
    pub shard: Option<i64>,
    pub der: Vec<u8>,
}

/// What the scheduler needs to know of a CRL, without its (possibly huge) DER.
#[derive(Debug, Clone, FromRow)]
pub struct CrlMeta {
    pub number: i64,
    pub base_number: Option<i64>,
    pub this_update: i64,
    pub next_update: i64,
}

/// `shard` None is the complete CRL.
pub async fn latest_meta<'e>(
    db: impl Executor<'e, Database = Any>,
    ca_id: &str,
    kind: &str,
    shard: Option<i64>,
) -> Result<Option<CrlMeta>> {
    Ok(sqlx::query_as(
        "SELECT number, base_number, this_update, next_update FROM crls WHERE ca_id = $1 AND kind = $2 AND COALESCE(shard, -1) = $3 \
         ORDER BY number DESC LIMIT 1",
    )
    .bind(ca_id.to_string())
    .bind(kind.to_string())
    .bind(shard.unwrap_or(-1))
    .fetch_optional(db)
    .await?)
}

/// The newest CRL of a kind ("full" or "delta") for a CA.
pub async fn latest<'e>(
    db: impl Executor<'e, Database = Any>,
    ca_id: &str,
    kind: &str,
    shard: Option<i64>,
) -> Result<Option<CrlRow>> {
    Ok(sqlx::query_as(
        "SELECT ca_id, number, kind, base_number, this_update, next_update, entries, shard, der FROM crls \
         WHERE ca_id = $1 AND kind = $2 AND COALESCE(shard, -1) = $3 ORDER BY number DESC LIMIT 1",
    )
    .bind(ca_id.to_string())
    .bind(kind.to_string())
    .bind(shard.unwrap_or(-1))
    .fetch_optional(db)
    .await?)
}

pub async fn insert<'e>(db: impl Executor<'e, Database = Any>, r: &CrlRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO crls (ca_id, number, kind, base_number, this_update, next_update, entries, shard, der) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(r.ca_id.clone())
    .bind(r.number)
    .bind(r.kind.clone())
    .bind(r.base_number)
    .bind(r.this_update)
    .bind(r.next_update)
    .bind(r.entries)
    .bind(r.shard)
    .bind(r.der.as_slice())
    .execute(db)
    .await?;
    Ok(())
}

/// Reserve the next CRL number; the row update serialises concurrent publishers.
pub async fn next_number<'e>(db: impl Executor<'e, Database = Any>, ca_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE cas SET crl_number = crl_number + 1 WHERE id = $1 RETURNING crl_number",
    )
    .bind(ca_id.to_string())
    .fetch_one(db)
    .await?)
}
