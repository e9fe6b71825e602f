//! Account lookups for JWS `kid`s, with each account key parsed once.
//!
//! Every ACME request after newAccount names its account, so this is the
//! hottest read. Parsing a JWK costs more than verifying a signature with
//! it, so the parsed key is kept by account id and reused while the stored
//! JWK is unchanged.
//!
//! On SQLite one process owns the store and every account write goes
//! through [`Accounts::forget`], so the whole row is served from memory. On
//! PostgreSQL another replica may deactivate or re-key an account at any
//! moment, so the row is read on every request and only the parse is saved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use signet_ca::jose::{self, JoseError, Jwk};

use crate::store::acme::{self as db, AccountRow};
use crate::store::{Backend, Store, StoreError};

/// Past this many cached accounts the cache starts over.
const MAX_CACHED: usize = 100_000;

pub struct Account {
    pub row: AccountRow,
    pub jwk: Jwk,
    /// The key as SubjectPublicKeyInfo DER, to refuse it as a CSR key.
    pub spki_der: Vec<u8>,
}

pub struct Accounts {
    rows_are_current: bool,
    map: RwLock<HashMap<String, Arc<Account>>>,
    /// Bumped by every `forget`, so a read that raced a write is not cached.
    generation: AtomicU64,
    /// The core's count of bulk changes to account rows (an EAB credential
    /// revoked deactivates its accounts), and the value the map reflects.
    epoch: Arc<AtomicU64>,
    seen_epoch: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored account key: {0}")]
    Key(String),
}

impl From<JoseError> for AccountError {
    fn from(e: JoseError) -> Self {
        AccountError::Key(e.to_string())
    }
}

impl Accounts {
    pub fn for_store(store: &Store, epoch: Arc<AtomicU64>) -> Accounts {
        Accounts {
            rows_are_current: store.backend == Backend::Sqlite,
            map: RwLock::default(),
            generation: AtomicU64::new(0),
            seen_epoch: AtomicU64::new(epoch.load(Ordering::Acquire)),
            epoch,
        }
    }

    pub async fn get(&self, store: &Store, id: &str) -> Result<Option<Arc<Account>>, AccountError> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if self.seen_epoch.swap(epoch, Ordering::AcqRel) != epoch {
            self.forget_all();
        }
        let cached = self.map.read().expect("lock").get(id).cloned();
        if self.rows_are_current
            && let Some(a) = cached
        {
            return Ok(Some(a));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(row) = db::account(&store.read, id).await? else {
            return Ok(None);
        };
        let (jwk, spki_der) = match cached.filter(|c| c.row.jwk == row.jwk) {
            Some(c) => (c.jwk.clone(), c.spki_der.clone()),
            None => {
                let v: Value =
                    serde_json::from_str(&row.jwk).map_err(|e| AccountError::Key(e.to_string()))?;
                let jwk = jose::parse_jwk(&v)?;
                let spki = jwk
                    .key
                    .public_key_to_der()
                    .map_err(|e| AccountError::Key(e.to_string()))?;
                (jwk, spki)
            }
        };
        let account = Arc::new(Account { row, jwk, spki_der });
        let mut map = self.map.write().expect("lock");
        if self.generation.load(Ordering::Acquire) == generation {
            if map.len() >= MAX_CACHED {
                map.clear();
            }
            map.insert(id.to_string(), account.clone());
        }
        Ok(Some(account))
    }

    /// Call after committing any change to an account row.
    pub fn forget(&self, id: &str) {
        let mut map = self.map.write().expect("lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.remove(id);
    }

    /// After a change to accounts that are not named one by one.
    fn forget_all(&self) {
        let mut map = self.map.write().expect("lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        map.clear();
    }
}
