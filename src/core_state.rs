//! Core state: what the pipeline, policy, revocation and jobs work with —
//! the settings, the store, the master key, the CA registry, the metrics
//! and the public URLs. It knows no front: ACME, SCEP and the REST API each
//! keep their own state beside a handle to this one (see `app`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::ca_registry::CaRegistry;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::revocation::crl::RevokeTrigger;
use crate::store::Store;

pub struct Core {
    pub config: Config,
    pub store: Store,
    pub master_key: [u8; 32],
    pub cas: CaRegistry,
    pub metrics: Metrics,
    /// Revocations waiting for their CRL (`jobs::spawn_revoke_publisher`).
    pub revoke_trigger: RevokeTrigger,
    /// Bumped after a change to many ACME account rows at once (an EAB
    /// credential revoked): a cache of accounts starts over when it moves.
    pub account_rows_epoch: Arc<AtomicU64>,
    /// Base URL of the HTTPS listener as clients see it (no trailing slash).
    pub https_url: String,
    /// Base URL of the plain-HTTP listener, used in CRLDP/AIA.
    pub http_url: String,
    /// The client of signed webhooks (`lifecycle::webhook`), built on first
    /// use and then shared: its connection pool and trust store outlive a
    /// delivery.
    pub webhook_client: std::sync::OnceLock<reqwest::Client>,
}

pub type CoreState = Arc<Core>;

impl Core {
    pub fn crl_url(&self, ca_id: &str) -> String {
        format!("{}/crl/{ca_id}.crl", self.http_url)
    }
    /// The CRL of one shard, when `revocation.crl_shards` > 1.
    pub fn crl_shard_url(&self, ca_id: &str, shard: i64) -> String {
        format!("{}/crl/{ca_id}/{shard}.crl", self.http_url)
    }
    pub fn ocsp_url(&self) -> String {
        format!("{}/ocsp", self.http_url)
    }
    pub fn ca_cert_url(&self, ca_id: &str) -> String {
        format!("{}/ca/{ca_id}.crt", self.http_url)
    }
}

/// A front's state holds the core in a field `core` and dereferences to it,
/// so the front passes itself wherever the core is wanted.
macro_rules! derefs_to_core {
    ($front:ty) => {
        impl std::ops::Deref for $front {
            type Target = $crate::core_state::Core;
            fn deref(&self) -> &$crate::core_state::Core {
                &self.core
            }
        }
    };
}
pub(crate) use derefs_to_core;
