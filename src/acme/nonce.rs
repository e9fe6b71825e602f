//! Replay nonces (RFC 8555 §6.5): single use, expiring.
//!
//! SQLite means exactly one process owns the store, so there nonces live in
//! memory. On PostgreSQL any replica must redeem a nonce another issued:
//! a nonce carries its expiry and a MAC under a key derived from the master
//! key all replicas share, so issuing one writes nothing, and redeeming it
//! inserts it into the spent set, whose primary key lets exactly one
//! redemption succeed. One database write per request instead of two.

use std::collections::HashMap;
use std::sync::Mutex;

use signet_ca::jose::{b64, b64_decode, hmac};

use super::problem::{AcmeResult, Problem};
use crate::store::{Backend, Store, acme as db, now};

/// Bound on outstanding in-memory nonces; the oldest half is dropped past it
/// (a client holding a dropped nonce gets badNonce and retries).
const MAX_IN_MEMORY: usize = 1_000_000;

/// random (16) ‖ expiry, big-endian unix seconds (8) ‖ MAC (16).
const SIGNED_LEN: usize = 40;

pub enum Nonces {
    Signed { key: Vec<u8> },
    Memory(Mutex<HashMap<[u8; 16], i64>>),
}

fn random16() -> AcmeResult<[u8; 16]> {
    let mut raw = [0u8; 16];
    openssl::rand::rand_bytes(&mut raw).map_err(|e| Problem::server_internal(e.to_string()))?;
    Ok(raw)
}

fn mac(key: &[u8], body: &[u8]) -> AcmeResult<Vec<u8>> {
    let mut tag = hmac("HS256", key, body).map_err(|e| Problem::server_internal(e.to_string()))?;
    tag.truncate(16);
    Ok(tag)
}

impl Nonces {
    pub fn for_store(store: &Store, master_key: &[u8; 32]) -> anyhow::Result<Nonces> {
        Ok(match store.backend {
            Backend::Postgres => Nonces::Signed {
                key: hmac("HS256", master_key, b"signet acme nonce key")?,
            },
            Backend::Sqlite => Nonces::Memory(Mutex::default()),
        })
    }

    pub fn issue(&self, ttl: i64) -> AcmeResult<String> {
        let raw = random16()?;
        let expires = now() + ttl;
        match self {
            Nonces::Signed { key } => {
                let mut n = Vec::with_capacity(SIGNED_LEN);
                n.extend_from_slice(&raw);
                n.extend_from_slice(&expires.to_be_bytes());
                let tag = mac(key, &n)?;
                n.extend_from_slice(&tag);
                Ok(b64(&n))
            }
            Nonces::Memory(m) => {
                let mut map = m.lock().expect("lock");
                if map.len() >= MAX_IN_MEMORY {
                    let t = now();
                    map.retain(|_, exp| *exp >= t);
                    if map.len() >= MAX_IN_MEMORY {
                        let mut exps: Vec<i64> = map.values().copied().collect();
                        exps.sort_unstable();
                        let cut = exps[exps.len() / 2];
                        map.retain(|_, exp| *exp > cut);
                    }
                }
                map.insert(raw, expires);
                Ok(b64(&raw))
            }
        }
    }

    /// True for exactly one caller per live nonce.
    pub async fn consume(&self, store: &Store, nonce: &str) -> AcmeResult<bool> {
        let Ok(raw) = b64_decode(nonce) else {
            return Ok(false);
        };
        match self {
            Nonces::Signed { key } => {
                if raw.len() != SIGNED_LEN {
                    return Ok(false);
                }
                let (body, tag) = raw.split_at(SIGNED_LEN - 16);
                if !openssl::memcmp::eq(&mac(key, body)?, tag) {
                    return Ok(false);
                }
                let mut exp = [0u8; 8];
                exp.copy_from_slice(&body[16..]);
                let expires = i64::from_be_bytes(exp);
                if expires < now() {
                    return Ok(false);
                }
                Ok(db::spend_nonce(&store.write, nonce, expires).await?)
            }
            Nonces::Memory(m) => {
                let Ok(key) = <[u8; 16]>::try_from(raw.as_slice()) else {
                    return Ok(false);
                };
                Ok(m.lock()
                    .expect("lock")
                    .remove(&key)
                    .is_some_and(|exp| exp >= now()))
            }
        }
    }

    /// Forget what has expired: spent signed nonces past their expiry can no
    /// longer be replayed, since the expiry check refuses them first.
    pub async fn purge(&self, store: &Store) {
        match self {
            Nonces::Signed { .. } => {
                if let Err(e) = db::purge_nonces(&store.write).await {
                    tracing::warn!(error = %e, "nonce purge failed");
                }
            }
            Nonces::Memory(m) => {
                let t = now();
                m.lock().expect("lock").retain(|_, exp| *exp >= t);
            }
        }
    }
}
