//! Revocation shared by every channel (ACME now; REST and SCEP later).
//! The store row is the source of truth that CRLs and OCSP read.

use serde_json::json;

use crate::app::App;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, now};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn revoke(app: &App, row: &CertRow, reason: i64, actor: &str) -> Result<(), RevokeError> {
    if !valid_reason(reason) {
        return Err(RevokeError::BadReason(reason));
    }
    if row.status == certs::REVOKED {
        return Err(RevokeError::AlreadyRevoked);
    }
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let done = sqlx::query(
        "UPDATE certificates SET status = $1, revoked_at = $2, revocation_reason = $3, updated_at = $2 WHERE id = $4 AND status = $5",
    )
    .bind(certs::REVOKED)
    .bind(now())
    .bind(reason)
    .bind(row.id.clone())
    .bind(certs::ACTIVE)
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
    audit::record(
        &mut tx,
        audit::Event {
            actor,
            action: "certificate.revoked",
            target: Some(&row.id),
            severity: "high",
            request_id: None,
            details: json!({"reason": reason, "serial": row.serial}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}
