//! API tokens: random, shown once, stored as a SHA-256 hash.

use openssl::rand::rand_bytes;
use openssl::sha::sha256;
use signet_ca::jose::b64;
use signet_ca::serial::to_hex;

use crate::store::{Store, StoreError, tokens};

pub const ROLES: [&str; 4] = ["admin", "operator", "requester", "auditor"];

pub fn hash(token: &str) -> String {
    to_hex(&sha256(token.as_bytes()))
}

/// Create a token; returns (id, secret). The secret is not stored.
pub async fn create(
    store: &Store,
    name: &str,
    role: &str,
    project_id: Option<&str>,
    expires_at: Option<i64>,
) -> Result<(String, String), StoreError> {
    let mut raw = [0u8; 32];
    rand_bytes(&mut raw).map_err(|e| StoreError::Other(e.to_string()))?;
    let secret = format!("sgt_{}", b64(&raw));
    let id = tokens::insert(
        &store.write,
        name,
        &hash(&secret),
        role,
        project_id,
        expires_at,
    )
    .await?;
    Ok((id, secret))
}
