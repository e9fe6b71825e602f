//! Replay nonces (RFC 8555 §6.5): single use, expiring.
//!
//! On PostgreSQL they live in the database, so any replica can redeem a
//! nonce another issued. SQLite means exactly one process owns the store,
//! so there they live in memory: the same guarantee without two database
//! writes on every request.

use std::collections::HashMap;
use std::sync::Mutex;

use signet_ca::jose::b64;

use super::problem::{AcmeResult, Problem};
use crate::store::{Backend, Store, acme as db, now};

/// Bound on outstanding in-memory nonces; the oldest half is dropped past it
/// (a client holding a dropped nonce gets badNonce and retries).
const MAX_IN_MEMORY: usize = 1_000_000;

pub enum Nonces {
    Database,
    Memory(Mutex<HashMap<[u8; 16], i64>>),
}

impl Nonces {
    pub fn for_store(store: &Store) -> Nonces {
        match store.backend {
            Backend::Postgres => Nonces::Database,
            Backend::Sqlite => Nonces::Memory(Mutex::default()),
        }
    }

    pub async fn issue(&self, store: &Store, ttl: i64) -> AcmeResult<String> {
        let mut raw = [0u8; 16];
        openssl::rand::rand_bytes(&mut raw).map_err(|e| Problem::server_internal(e.to_string()))?;
        let n = b64(&raw);
        match self {
            Nonces::Database => db::insert_nonce(&store.write, &n, ttl).await?,
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
                map.insert(raw, now() + ttl);
            }
        }
        Ok(n)
    }

    /// True for exactly one caller per live nonce.
    pub async fn consume(&self, store: &Store, nonce: &str) -> AcmeResult<bool> {
        match self {
            Nonces::Database => Ok(db::consume_nonce(&store.write, nonce).await?),
            Nonces::Memory(m) => {
                let Ok(raw) = signet_ca::jose::b64_decode(nonce) else {
                    return Ok(false);
                };
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

    pub async fn purge(&self, store: &Store) {
        match self {
            Nonces::Database => {
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
