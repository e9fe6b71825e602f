//! ACME rows: nonces, EAB credentials, accounts, orders, authorizations, challenges.

use sqlx::{Any, Executor, FromRow};

use super::batch::Stmt;
use super::{Result, StoreError, new_id, now};

// ---- nonces ------------------------------------------------------------

/// Record a nonce as spent (the table holds spent, unexpired nonces): true
/// only for the one caller whose insert lands.
pub async fn spend_nonce<'e>(
    db: impl Executor<'e, Database = Any>,
    nonce: &str,
    expires_at: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO acme_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
    )
    .bind(nonce.to_string())
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn purge_nonces<'e>(db: impl Executor<'e, Database = Any>) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM acme_nonces WHERE expires_at < $1")
        .bind(now())
        .execute(db)
        .await?
        .rows_affected())
}

// ---- EAB ---------------------------------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct EabRow {
    pub id: String,
    pub kid: String,
    pub hmac_sealed: Vec<u8>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub created_at: i64,
    pub used_at: Option<i64>,
    pub account_id: Option<String>,
    pub revoked_at: Option<i64>,
}

pub async fn insert_eab<'e>(db: impl Executor<'e, Database = Any>, r: &EabRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO eab_credentials (id, kid, hmac_sealed, project_id, template_id, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
    )
    .bind(r.id.clone())
    .bind(r.kid.clone())
    .bind(r.hmac_sealed.clone())
    .bind(r.project_id.clone())
    .bind(r.template_id.clone())
    .bind(r.created_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn eab_by_kid<'e>(
    db: impl Executor<'e, Database = Any>,
    kid: &str,
) -> Result<Option<EabRow>> {
    Ok(sqlx::query_as(
        "SELECT id, kid, hmac_sealed, project_id, template_id, created_at, used_at, account_id, revoked_at \
         FROM eab_credentials WHERE kid = $1",
    )
    .bind(kid.to_string())
    .fetch_optional(db)
    .await?)
}

/// Bind a credential to an account; fails if it was used meanwhile (single use).
pub async fn use_eab<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    account_id: &str,
) -> Result<()> {
    let r = sqlx::query(
        "UPDATE eab_credentials SET used_at = $1, account_id = $2 WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(account_id.to_string())
    .bind(id.to_string())
    .execute(db)
    .await?;
    if r.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "external account binding already used".into(),
        ))
    }
}

// ---- accounts ----------------------------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: String,
    pub thumbprint: String,
    pub jwk: String,
    pub status: String,
    pub contact: String,
    pub eab_id: Option<String>,
    pub project_id: Option<String>,
    pub template_id: Option<String>,
    pub created_at: i64,
}

const ACCOUNT_COLS: &str =
    "id, thumbprint, jwk, status, contact, eab_id, project_id, template_id, created_at";

pub async fn insert_account<'e>(
    db: impl Executor<'e, Database = Any>,
    r: &AccountRow,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, eab_id, project_id, template_id, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(r.id.clone())
    .bind(r.thumbprint.clone())
    .bind(r.jwk.clone())
    .bind(r.status.clone())
    .bind(r.contact.clone())
    .bind(r.eab_id.clone())
    .bind(r.project_id.clone())
    .bind(r.template_id.clone())
    .bind(r.created_at)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn account<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<AccountRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLS} FROM acme_accounts WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(db)
    .await?)
}

pub async fn account_by_thumbprint<'e>(
    db: impl Executor<'e, Database = Any>,
    tp: &str,
) -> Result<Option<AccountRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLS} FROM acme_accounts WHERE thumbprint = $1"
    )))
    .bind(tp.to_string())
    .fetch_optional(db)
    .await?)
}

pub async fn update_account<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    status: &str,
    contact: &str,
) -> Result<()> {
    sqlx::query("UPDATE acme_accounts SET status = $1, contact = $2 WHERE id = $3")
        .bind(status.to_string())
        .bind(contact.to_string())
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(())
}

pub async fn rekey_account<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    old_tp: &str,
    jwk: &str,
    tp: &str,
) -> Result<()> {
    let r = sqlx::query(
        "UPDATE acme_accounts SET jwk = $1, thumbprint = $2 WHERE id = $3 AND thumbprint = $4",
    )
    .bind(jwk.to_string())
    .bind(tp.to_string())
    .bind(id.to_string())
    .bind(old_tp.to_string())
    .execute(db)
    .await?;
    if r.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(
            "account key changed concurrently".into(),
        ))
    }
}

// ---- orders ------------------------------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: String,
    pub account_id: String,
    pub status: String,
    pub identifiers: String,
    pub template_id: String,
    pub profile: Option<String>,
    pub expires_at: i64,
    pub certificate_id: Option<String>,
    pub replaces_id: Option<String>,
    /// The ARI certID the client sent, echoed in the order object.
    pub replaces: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    /// When it entered `processing` (finalize).
    pub processing_at: Option<i64>,
}

const ORDER_COLS: &str = "id, account_id, status, identifiers, template_id, profile, expires_at, certificate_id, replaces_id, replaces, error, created_at, processing_at";

pub fn insert_order(r: &OrderRow) -> Stmt {
    Stmt::new(
        "INSERT INTO acme_orders (id, account_id, status, identifiers, template_id, profile, expires_at, replaces_id, replaces, created_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(r.id.clone())
    .bind(r.account_id.clone())
    .bind(r.status.clone())
    .bind(r.identifiers.clone())
    .bind(r.template_id.clone())
    .bind(r.profile.clone())
    .bind(r.expires_at)
    .bind(r.replaces_id.clone())
    .bind(r.replaces.clone())
    .bind(r.created_at)
}

pub async fn order<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<OrderRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLS} FROM acme_orders WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(db)
    .await?)
}

pub async fn order_for_certificate<'e>(
    db: impl Executor<'e, Database = Any>,
    cert_id: &str,
) -> Result<Option<OrderRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLS} FROM acme_orders WHERE certificate_id = $1"
    )))
    .bind(cert_id.to_string())
    .fetch_optional(db)
    .await?)
}

pub async fn order_ids_for_account<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY id DESC LIMIT 1000",
    )
    .bind(account_id.to_string())
    .fetch_all(db)
    .await?)
}

/// Is there already an order (not invalid) replacing this certificate?
pub async fn replacement_exists<'e>(
    db: impl Executor<'e, Database = Any>,
    cert_id: &str,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM acme_orders WHERE replaces_id = $1 AND status <> 'invalid'",
    )
    .bind(cert_id.to_string())
    .fetch_one(db)
    .await?;
    Ok(n > 0)
}

/// Conditional status change; returns whether this caller made it.
pub async fn set_order_status<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    from: &str,
    to: &str,
    certificate_id: Option<&str>,
    error: Option<&str>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE acme_orders SET status = $1, certificate_id = COALESCE($2, certificate_id), error = COALESCE($3, error), \
         processing_at = CASE WHEN $1 = 'processing' AND $5 <> 'processing' THEN $6 ELSE processing_at END \
         WHERE id = $4 AND status = $5",
    )
    .bind(to.to_string())
    .bind(certificate_id.map(str::to_string))
    .bind(error.map(str::to_string))
    .bind(id.to_string())
    .bind(from.to_string())
    .bind(now())
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Link an order to the certificate row reserved for it, in the reserving
/// transaction.
pub fn link_order_stmt(order_id: &str, certificate_id: &str) -> Stmt {
    Stmt::new("UPDATE acme_orders SET certificate_id = $1 WHERE id = $2")
        .bind(certificate_id)
        .bind(order_id)
}

/// Orders in `processing` since at or before `before`, oldest first.
pub async fn processing_since_before<'e>(
    db: impl Executor<'e, Database = Any>,
    before: i64,
    limit: i64,
) -> Result<Vec<OrderRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLS} FROM acme_orders WHERE status = 'processing' AND processing_at <= $1 \
         ORDER BY processing_at LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

// ---- authorizations and challenges ------------------------------------

#[derive(Debug, Clone, FromRow)]
pub struct AuthzRow {
    pub id: String,
    pub account_id: String,
    pub identifier_type: String,
    pub identifier_value: String,
    pub wildcard: i64,
    pub status: String,
    pub expires_at: i64,
    pub created_at: i64,
}

const AUTHZ_COLS: &str =
    "id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at";

#[derive(Debug, Clone, FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub authz_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub token: String,
    pub status: String,
    pub validated_at: Option<i64>,
    pub error: Option<String>,
}

const CHALL_COLS: &str = "id, authz_id, type, token, status, validated_at, error";

/// `($1,$2,…),($n+1,…)…`: the VALUES of a multi-row insert, so an order's
/// rows take one statement per table whatever the number of identifiers.
fn values(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(","))
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// None when there is nothing to insert.
pub fn insert_authzs(rows: &[AuthzRow]) -> Option<Stmt> {
    if rows.is_empty() {
        return None;
    }
    let sql = format!(
        "INSERT INTO acme_authzs (id, account_id, identifier_type, identifier_value, wildcard, status, expires_at, created_at) VALUES {}",
        values(rows.len(), 8)
    );
    let mut q = Stmt::new(sql);
    for r in rows {
        q = q
            .bind(r.id.clone())
            .bind(r.account_id.clone())
            .bind(r.identifier_type.clone())
            .bind(r.identifier_value.clone())
            .bind(r.wildcard)
            .bind(r.status.clone())
            .bind(r.expires_at)
            .bind(r.created_at);
    }
    Some(q)
}

/// Link authorizations to an order, in the order given.
pub fn link_authzs(order_id: &str, authz_ids: &[String]) -> Option<Stmt> {
    if authz_ids.is_empty() {
        return None;
    }
    let sql = format!(
        "INSERT INTO acme_order_authzs (order_id, authz_id, position) VALUES {}",
        values(authz_ids.len(), 3)
    );
    let mut q = Stmt::new(sql);
    for (pos, id) in authz_ids.iter().enumerate() {
        q = q.bind(order_id).bind(id.clone()).bind(pos as i64);
    }
    Some(q)
}

/// Pending challenges as (authz id, type, token).
pub fn insert_challenges(rows: &[(String, &str, String)]) -> Option<Stmt> {
    if rows.is_empty() {
        return None;
    }
    let sql = format!(
        "INSERT INTO acme_challenges (id, authz_id, type, token, status) VALUES {}",
        values(rows.len(), 5)
    );
    let mut q = Stmt::new(sql);
    for (authz_id, kind, token) in rows {
        q = q
            .bind(new_id())
            .bind(authz_id.clone())
            .bind(*kind)
            .bind(token.clone())
            .bind("pending");
    }
    Some(q)
}

/// A valid, unexpired authorization of this account for this identifier.
pub async fn reusable_authz<'e>(
    db: impl Executor<'e, Database = Any>,
    account_id: &str,
    kind: &str,
    value: &str,
    wildcard: bool,
    min_expiry: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM acme_authzs WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 \
         AND wildcard = $4 AND status = 'valid' AND expires_at > $5 ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(account_id.to_string())
    .bind(kind.to_string())
    .bind(value.to_string())
    .bind(i64::from(wildcard))
    .bind(min_expiry)
    .fetch_optional(db)
    .await?)
}

pub async fn authz<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<AuthzRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {AUTHZ_COLS} FROM acme_authzs WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(db)
    .await?)
}

pub async fn order_authzs<'e>(
    db: impl Executor<'e, Database = Any>,
    order_id: &str,
) -> Result<Vec<AuthzRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM acme_authzs a JOIN acme_order_authzs oa ON oa.authz_id = a.id WHERE oa.order_id = $1 ORDER BY oa.position",
        AUTHZ_COLS.split(", ").map(|c| format!("a.{c}")).collect::<Vec<_>>().join(", ")
    )))
    .bind(order_id.to_string())
    .fetch_all(db)
    .await?)
}

pub async fn challenges<'e>(
    db: impl Executor<'e, Database = Any>,
    authz_id: &str,
) -> Result<Vec<ChallengeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHALL_COLS} FROM acme_challenges WHERE authz_id = $1 ORDER BY type"
    )))
    .bind(authz_id.to_string())
    .fetch_all(db)
    .await?)
}

pub async fn challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
) -> Result<Option<ChallengeRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHALL_COLS} FROM acme_challenges WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_optional(db)
    .await?)
}

/// Claim a challenge for validation: pending → processing, or take over a
/// validation that started before `stale_before` (its replica died). Only
/// one caller wins, and only while the authz is still pending.
pub async fn start_challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    stale_before: i64,
) -> Result<bool> {
    let r = sqlx::query(
        // EXISTS, not `authz_id IN (SELECT … WHERE status = 'pending')`:
        // SQLite builds that list by scanning every authorization.
        "UPDATE acme_challenges SET status = 'processing', processing_since = $2 WHERE id = $1 \
         AND (status = 'pending' OR (status = 'processing' AND COALESCE(processing_since, 0) < $3)) \
         AND EXISTS (SELECT 1 FROM acme_authzs a WHERE a.id = acme_challenges.authz_id AND a.status = 'pending')",
    )
    .bind(id.to_string())
    .bind(now())
    .bind(stale_before)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Record a validation result. Triggers (migration 0010) cascade it in the
/// same statement: challenge → authz → orders. Returns the settled row, or
/// nothing when the challenge was no longer processing.
pub async fn finish_challenge<'e>(
    db: impl Executor<'e, Database = Any>,
    id: &str,
    error: Option<&str>,
) -> Result<Option<ChallengeRow>> {
    let (status, validated_at) = if error.is_none() {
        ("valid", Some(now()))
    } else {
        ("invalid", None)
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE acme_challenges SET status = $1, validated_at = $2, error = $3 \
         WHERE id = $4 AND status = 'processing' RETURNING {CHALL_COLS}"
    )))
    .bind(status)
    .bind(validated_at)
    .bind(error.map(str::to_string))
    .bind(id.to_string())
    .fetch_optional(db)
    .await?)
}

/// The order becomes ready if all its authorizations are already valid
/// (a new order that reuses them; a validation promotes by trigger).
pub fn promote_if_ready(order_id: &str) -> Stmt {
    Stmt::new(
        "UPDATE acme_orders SET status = 'ready' WHERE id = $1 AND status = 'pending' \
         AND NOT EXISTS (SELECT 1 FROM acme_order_authzs oa JOIN acme_authzs a ON a.id = oa.authz_id \
                         WHERE oa.order_id = $1 AND a.status <> 'valid')",
    )
    .bind(order_id)
}

pub async fn deactivate_authz<'e>(db: impl Executor<'e, Database = Any>, id: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE acme_authzs SET status = 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid')")
        .bind(id.to_string())
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}
