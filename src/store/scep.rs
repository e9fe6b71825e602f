//! SCEP one-time challenges (stored as SHA-256 hashes) and transactions.

use super::batch::Stmt;
use sqlx::{Any, Executor, FromRow};

use super::{Result, new_id, now};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct ChallengeRow {
    pub id: String,
    pub profile: String,
    pub subject_cn: Option<String>,
    /// JSON list of SAN values the CSR must carry.
    pub sans: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<String>,
}

const CHALLENGE_COLS: &str =
    "id, profile, subject_cn, sans, created_by, created_at, expires_at, used_at, used_by";

pub struct NewChallenge<'a> {
    pub profile: &'a str,
    pub secret_hash: &'a str,
    pub subject_cn: Option<&'a str>,
    pub sans: Option<String>,
    pub created_by: &'a str,
    pub expires_at: i64,
}

pub async fn insert_challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    c: &NewChallenge<'_>,
) -> Result<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO scep_challenges (id, profile, secret_hash, subject_cn, sans, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.clone())
    .bind(c.profile.to_string())
    .bind(c.secret_hash.to_string())
    .bind(c.subject_cn.map(str::to_string))
    .bind(c.sans.clone())
    .bind(c.created_by.to_string())
    .bind(now())
    .bind(c.expires_at)
    .execute(db)
    .await?;
    Ok(id)
}

/// The challenge with this hash in a profile, used or not.
pub async fn find_challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    profile: &str,
    secret_hash: &str,
) -> Result<Option<ChallengeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHALLENGE_COLS} FROM scep_challenges WHERE profile = $1 AND secret_hash = $2"
    )))
    .bind(profile.to_string())
    .bind(secret_hash.to_string())
    .fetch_optional(db)
    .await?)
}

/// Use a challenge once: true only for the caller that wins the race.
pub async fn consume_challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    used_by: &str,
) -> Result<bool> {
    let t = now();
    let r = sqlx::query(
        "UPDATE scep_challenges SET used_at = $1, used_by = $2 \
         WHERE id = $3 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(t)
    .bind(used_by.to_string())
    .bind(id.to_string())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn list_challenges<'e>(
    db: impl Executor<'e, Database = Any>,
    profile: Option<&str>,
    limit: i64,
) -> Result<Vec<ChallengeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHALLENGE_COLS} FROM scep_challenges WHERE ($1 = '' OR profile = $1) \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(profile.unwrap_or_default().to_string())
    .bind(limit)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct TransactionRow {
    pub certificate_id: String,
    pub csr_sha256: String,
    pub delivered: i64,
}

pub async fn transaction<'e>(
    db: impl Executor<'e, Database = Any>,
    profile: &str,
    transaction_id: &str,
) -> Result<Option<TransactionRow>> {
    Ok(sqlx::query_as(
        "SELECT certificate_id, csr_sha256, delivered FROM scep_transactions \
         WHERE profile = $1 AND transaction_id = $2",
    )
    .bind(profile.to_string())
    .bind(transaction_id.to_string())
    .fetch_optional(db)
    .await?)
}

/// Record (or replace a finished) transaction.
pub async fn put_transaction<'e>(
    db: impl Executor<'e, Database = Any>,
    profile: &str,
    transaction_id: &str,
    certificate_id: &str,
    csr_sha256: &str,
    delivered: bool,
) -> Result<()> {
    put_transaction_stmt(
        profile,
        transaction_id,
        certificate_id,
        csr_sha256,
        delivered,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Record (or move) a transaction: as its own statement, or inside the
/// transaction that reserves its certificate.
pub fn put_transaction_stmt(
    profile: &str,
    transaction_id: &str,
    certificate_id: &str,
    csr_sha256: &str,
    delivered: bool,
) -> Stmt {
    Stmt::new(
        "INSERT INTO scep_transactions (profile, transaction_id, certificate_id, csr_sha256, delivered, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (profile, transaction_id) DO UPDATE SET \
         certificate_id = excluded.certificate_id, csr_sha256 = excluded.csr_sha256, \
         delivered = excluded.delivered, created_at = excluded.created_at",
    )
    .bind(profile)
    .bind(transaction_id)
    .bind(certificate_id)
    .bind(csr_sha256)
    .bind(i64::from(delivered))
    .bind(now())
}

pub async fn mark_delivered<'e>(
    db: impl Executor<'e, Database = Any>,
    profile: &str,
    transaction_id: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE scep_transactions SET delivered = 1 WHERE profile = $1 AND transaction_id = $2",
    )
    .bind(profile.to_string())
    .bind(transaction_id.to_string())
    .execute(db)
    .await?;
    Ok(())
}
