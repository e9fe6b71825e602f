//! Public keys that must never be certified again: every revocation for
//! keyCompromise adds its key (SHA-256 of the DER SubjectPublicKeyInfo), and
//! the pipeline refuses a request for a listed key on every channel.

use openssl::sha::sha256;
use sqlx::{Any, Executor};

use super::{Result, now};
use crate::store::batch::Stmt;

/// The blocklist's key for a DER SubjectPublicKeyInfo, in lower-case hex.
pub fn spki_hash(spki_der: &[u8]) -> String {
    signet_ca::serial::to_hex(&sha256(spki_der))
}

pub async fn is_blocked<'e>(
    db: impl Executor<'e, Database = Any>,
    spki_der: &[u8],
) -> Result<bool> {
    let hit: Option<i64> = sqlx::query_scalar("SELECT 1 FROM blocked_keys WHERE spki_sha256 = $1")
        .bind(spki_hash(spki_der))
        .fetch_optional(db)
        .await?;
    Ok(hit.is_some())
}

/// The statement that blocks a key (idempotent), to run in the revocation's
/// own transaction.
pub fn block_stmt(spki_der: &[u8], certificate_id: &str) -> Stmt {
    Stmt::new(
        "INSERT INTO blocked_keys (spki_sha256, certificate_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (spki_sha256) DO NOTHING",
    )
    .bind(spki_hash(spki_der))
    .bind(certificate_id)
    .bind(now())
}
