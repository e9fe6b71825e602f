//! Revocation shared by every channel, and what relying parties read:
//! CRLs (`crl`) and OCSP (`ocsp`), served by `http`. The certificate row is
//! the source of truth for all of them.

pub mod crl;
pub mod http;
pub mod ocsp;

use serde_json::json;

use crate::core_state::Core;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, blocked_keys, now};

/// RFC 5280 CRLReason codes that may be requested (7 is unused, 8 removeFromCRL is CRL-internal).
pub const REASONS: [(i64, &str); 10] = [
    (0, "unspecified"),
    (1, "keyCompromise"),
    (2, "cACompromise"),
    (3, "affiliationChanged"),
    (4, "superseded"),
    (5, "cessationOfOperation"),
    (6, "certificateHold"),
    (9, "privilegeWithdrawn"),
    (10, "aACompromise"),
    (8, "removeFromCRL"),
];

pub const KEY_COMPROMISE: i64 = 1;

pub fn valid_reason(code: i64) -> bool {
    REASONS.iter().any(|(c, _)| *c == code && *c != 8)
}

#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("certificate is already revoked")]
    AlreadyRevoked,
    #[error("only active certificates can be revoked (this one is {0})")]
    NotActive(String),
    #[error("invalid revocation reason {0}")]
    BadReason(i64),
    #[error("only a certificate on hold (certificateHold) can be unrevoked")]
    NotOnHold,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revoke an active certificate. `invalidity_date` is when the key is known
/// or suspected to have been compromised, if earlier than now.
pub async fn revoke(
    app: &Core,
    row: &CertRow,
    reason: i64,
    actor: &str,
) -> Result<(), RevokeError> {
    revoke_with(app, row, reason, None, None, actor).await
}

/// `revoke` with the key's compromise date and the operator's comment.
pub async fn revoke_with(
    app: &Core,
    row: &CertRow,
    reason: i64,
    invalidity_date: Option<i64>,
    comment: Option<&str>,
    actor: &str,
) -> Result<(), RevokeError> {
    if !valid_reason(reason) {
        return Err(RevokeError::BadReason(reason));
    }
    if row.status == certs::REVOKED {
        return Err(RevokeError::AlreadyRevoked);
    }
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let at = now();
    let done = sqlx::query(
        "UPDATE certificates SET status = $1, revoked_at = $2, revocation_reason = $3, invalidity_date = $4, \
         unrevoked_at = NULL, updated_at = $2, revoked_by = $7, revocation_comment = $8 WHERE id = $5 AND status = $6",
    )
    .bind(certs::REVOKED)
    .bind(at)
    .bind(reason)
    .bind(invalidity_date)
    .bind(row.id.clone())
    .bind(certs::ACTIVE)
    .bind(actor.to_string())
    .bind(comment.map(str::to_string))
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        let current = certs::get(&mut *tx, &row.id).await?;
        return Err(if current.status == certs::REVOKED {
            RevokeError::AlreadyRevoked
        } else {
            RevokeError::NotActive(current.status)
        });
    }
    for s in
        crate::lifecycle::notify::enqueue(app, crate::lifecycle::notify::Event::Revoked, &row.id, 0)
    {
        s.execute(&mut *tx).await?;
    }
    // A compromised key stays dead: no channel may certify it again.
    if reason == KEY_COMPROMISE {
        blocked_keys::block_stmt(&row.public_key, &row.id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor,
            action: "certificate.revoked",
            target: Some(&row.id),
            severity: "high",
            request_id: None,
            details: json!({"reason": reason, "serial": row.serial, "comment": comment}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    app.revoke_trigger.revoked(&row.ca_id, at);
    Ok(())
}

/// Lift a certificateHold: the certificate is active again, and the next
/// delta CRL lists it as removeFromCRL.
pub async fn unrevoke(app: &Core, row: &CertRow, actor: &str) -> Result<(), RevokeError> {
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let at = now();
    let done = sqlx::query(
        "UPDATE certificates SET status = $1, unrevoked_at = $2, revoked_at = NULL, revocation_reason = NULL, \
         invalidity_date = NULL, revoked_by = NULL, revocation_comment = NULL, updated_at = $2 WHERE id = $3 AND status = $4 AND revocation_reason = 6",
    )
    .bind(certs::ACTIVE)
    .bind(at)
    .bind(row.id.clone())
    .bind(certs::REVOKED)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        return Err(RevokeError::NotOnHold);
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor,
            action: "certificate.unrevoked",
            target: Some(&row.id),
            severity: "high",
            request_id: None,
            details: json!({"serial": row.serial}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    app.revoke_trigger.revoked(&row.ca_id, at);
    Ok(())
}
