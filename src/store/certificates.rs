//! Certificate rows through their life: pending_approval → issuing →
//! active → revoked/archived (or rejected / failed).

use sqlx::{Any, Executor, FromRow};

use super::batch::Stmt;
use super::{Result, StoreError, now};

pub const PENDING_APPROVAL: &str = "pending_approval";
pub const REJECTED: &str = "rejected";
pub const ISSUING: &str = "issuing";
pub const ACTIVE: &str = "active";
pub const FAILED: &str = "failed";
pub const REVOKED: &str = "revoked";

#[derive(Debug, Clone, FromRow)]
pub struct CertRow {
    pub id: String,
    pub ca_id: String,
    pub serial: Option<String>,
    pub status: String,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: String,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub key_type: String,
    pub public_key: Vec<u8>,
    pub csr: Option<Vec<u8>>,
    pub plan: String,
    pub der: Option<Vec<u8>>,
    pub fingerprint: Option<String>,
    pub key_sealed: Option<Vec<u8>>,
    pub template_id: Option<String>,
    pub project_id: Option<String>,
    pub channel: String,
    pub requested_by: String,
    pub approvals_required: i64,
    pub failure: Option<String>,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<i64>,
    pub replaces_id: Option<String>,
    pub crl_shard: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLS: &str = "id, ca_id, serial, status, subject, common_name, sans, not_before, not_after, \
    key_type, public_key, csr, plan, der, fingerprint, key_sealed, template_id, project_id, channel, \
    requested_by, approvals_required, failure, revoked_at, revocation_reason, replaces_id, crl_shard, created_at, updated_at";

/// Insert a new row (pending_approval with no serial, or issuing with a
/// reserved serial). A serial collision surfaces as `StoreError::Conflict`.
pub fn insert_stmt(r: &CertRow) -> Stmt {
    Stmt::new(
        "INSERT INTO certificates (id, ca_id, serial, status, subject, common_name, sans, not_before, \
         not_after, key_type, public_key, csr, plan, key_sealed, template_id, project_id, channel, \
         requested_by, approvals_required, replaces_id, crl_shard, created_at, updated_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$22)",
    )
    .bind(r.id.clone())
    .bind(r.ca_id.clone())
    .bind(r.serial.clone())
    .bind(r.status.clone())
    .bind(r.subject.clone())
    .bind(r.common_name.clone())
    .bind(r.sans.clone())
    .bind(r.not_before)
    .bind(r.not_after)
    .bind(r.key_type.clone())
    .bind(r.public_key.clone())
    .bind(r.csr.clone())
    .bind(r.plan.clone())
    .bind(r.key_sealed.clone())
    .bind(r.template_id.clone())
    .bind(r.project_id.clone())
    .bind(r.channel.clone())
    .bind(r.requested_by.clone())
    .bind(r.approvals_required)
    .bind(r.replaces_id.clone())
    .bind(r.crl_shard)
    .bind(r.created_at)
}

pub async fn insert<'e>(db: impl Executor<'e, Database = Any>, r: &CertRow) -> Result<()> {
    insert_stmt(r).execute(db).await?;
    Ok(())
}

pub async fn get<'e>(db: impl Executor<'e, Database = Any>, id: &str) -> Result<CertRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM certificates WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_one(db)
    .await?)
}

pub async fn by_serial<'e>(
    db: impl Executor<'e, Database = Any>,
    ca_id: &str,
    serial: &str,
) -> Result<CertRow> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM certificates WHERE ca_id = $1 AND serial = $2"
    )))
    .bind(ca_id.to_string())
    .bind(serial.to_string())
    .fetch_one(db)
    .await?)
}

/// Rows `issuing` whose last change is at or before `before`.
pub async fn issuing_since_before<'e>(
    db: impl Executor<'e, Database = Any>,
    before: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM certificates WHERE status = 'issuing' AND updated_at <= $1 ORDER BY id",
    )
    .bind(before)
    .fetch_all(db)
    .await?)
}

pub async fn count<'e>(db: impl Executor<'e, Database = Any>) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(db)
        .await?)
}

/// pending_approval → issuing with a reserved serial and a refreshed plan.
/// Only succeeds from pending_approval, so two approvers racing cannot both move it.
#[allow(clippy::too_many_arguments)] // one column each, all set together
pub async fn reserve_pending<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    serial: &str,
    plan: &str,
    not_before: i64,
    not_after: i64,
    crl_shard: Option<i64>,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE certificates SET status = $1, serial = $2, plan = $3, not_before = $4, not_after = $5, \
         updated_at = $6, crl_shard = $7 WHERE id = $8 AND status = $9",
    )
    .bind(ISSUING)
    .bind(serial.to_string())
    .bind(plan.to_string())
    .bind(not_before)
    .bind(not_after)
    .bind(now())
    .bind(crl_shard)
    .bind(id.to_string())
    .bind(PENDING_APPROVAL)
    .execute(db)
    .await?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "certificate is not pending approval".into(),
        ))
    }
}

/// issuing → active with the signed DER. Returns the row's id, and no row
/// unless the certificate was issuing.
pub fn mark_active_stmt(id: &str, der: &[u8], fingerprint: &str, at: i64) -> Stmt {
    Stmt::new(
        "UPDATE certificates SET status = $1, der = $2, fingerprint = $3, updated_at = $4 \
         WHERE id = $5 AND status = $6 RETURNING id",
    )
    .bind(ACTIVE)
    .bind(der.to_vec())
    .bind(fingerprint)
    .bind(at)
    .bind(id)
    .bind(ISSUING)
}

/// `mark_active_stmt` on its own: a conflict unless the row was issuing.
pub async fn mark_active<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    der: &[u8],
    fingerprint: &str,
    at: i64,
) -> Result<()> {
    match mark_active_stmt(id, der, fingerprint, at)
        .execute(db)
        .await?
    {
        1 => Ok(()),
        _ => Err(StoreError::Conflict("certificate is not issuing".into())),
    }
}

/// Move a row from `from` to a terminal failure state with a reason.
pub async fn mark_status<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    from: &str,
    to: &str,
    reason: Option<&str>,
) -> Result<bool> {
    let done = sqlx::query("UPDATE certificates SET status = $1, failure = $2, updated_at = $3 WHERE id = $4 AND status = $5")
        .bind(to.to_string())
        .bind(reason.map(str::to_string))
        .bind(now())
        .bind(id.to_string())
        .bind(from.to_string())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Certificates with this serial under any CA (serials are random, so this is 0 or 1 in practice).
/// The serial is unique per CA: naming each CA lets the (ca_id, serial)
/// index answer, where `serial = $1` alone scanned every certificate.
pub async fn by_serial_any<'e>(
    db: impl Executor<'e, Database = Any>,
    serial: &str,
) -> Result<Vec<CertRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM certificates WHERE ca_id IN (SELECT id FROM cas) AND serial = $1"
    )))
    .bind(serial.to_string())
    .fetch_all(db)
    .await?)
}
