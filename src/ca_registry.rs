//! Signing CAs, decrypted once and kept in memory. A CA's certificate and
//! key never change under its id, so caching them is safe across replicas.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use openssl::x509::X509;
use signet_ca::issue::Issuer;
use signet_ca::key;
use signet_ca::ocsp::{CertId, HashAlg, issuer_hashes};

use crate::store::{Store, StoreError, cas, settings};

#[derive(Default)]
pub struct CaRegistry {
    loaded: RwLock<HashMap<String, Arc<Issuer>>>,
    /// (hash algorithm, issuer name hash, issuer key hash) → CA id, for OCSP CertIDs.
    ocsp_index: RwLock<HashMap<IssuerHashes, String>>,
    /// Set once by `signet init` and never changed, so cached on first read.
    default_ca: std::sync::OnceLock<String>,
}

/// (hash algorithm, issuer name hash, issuer key hash), as in an OCSP CertID.
type IssuerHashes = (HashAlg, Vec<u8>, Vec<u8>);

const OCSP_ALGS: [HashAlg; 4] = [
    HashAlg::Sha1,
    HashAlg::Sha256,
    HashAlg::Sha384,
    HashAlg::Sha512,
];

#[derive(Debug, thiserror::Error)]
pub enum CaLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("CA {0}: {1}")]
    Broken(String, String),
}

impl CaRegistry {
    pub async fn get(
        &self,
        store: &Store,
        master: &[u8; 32],
        ca_id: &str,
    ) -> Result<Arc<Issuer>, CaLoadError> {
        if let Some(i) = self.loaded.read().expect("lock").get(ca_id) {
            return Ok(i.clone());
        }
        let row = cas::get(&store.read, ca_id).await?;
        let broken = |e: String| CaLoadError::Broken(row.id.clone(), e);
        let cert = X509::from_der(&row.cert_der).map_err(|e| broken(e.to_string()))?;
        let key = key::open_key(master, row.id.as_bytes(), &row.key_sealed)
            .map_err(|e| broken(e.to_string()))?;
        let mut chain = Vec::new();
        let mut parent = row.parent_id.clone();
        while let Some(pid) = parent {
            let p = cas::get(&store.read, &pid).await?;
            chain.push(X509::from_der(&p.cert_der).map_err(|e| broken(e.to_string()))?);
            parent = p.parent_id;
        }
        let issuer = Arc::new(Issuer::new(cert, key, chain).map_err(|e| broken(e.to_string()))?);
        self.loaded
            .write()
            .expect("lock")
            .insert(ca_id.to_string(), issuer.clone());
        Ok(issuer)
    }

    /// The CA an OCSP CertID names, if it is one Signet signs for.
    pub async fn for_cert_id(
        &self,
        store: &Store,
        id: &CertId,
    ) -> Result<Option<String>, CaLoadError> {
        let key = (
            id.alg,
            id.issuer_name_hash.clone(),
            id.issuer_key_hash.clone(),
        );
        if let Some(ca) = self.ocsp_index.read().expect("lock").get(&key) {
            return Ok(Some(ca.clone()));
        }
        // A miss may be a CA created since the index was built: rebuild once.
        let mut index = HashMap::new();
        for row in cas::list(&store.read)
            .await?
            .into_iter()
            .filter(|c| c.status == "active")
        {
            let cert = X509::from_der(&row.cert_der)
                .map_err(|e| CaLoadError::Broken(row.id.clone(), e.to_string()))?;
            for alg in OCSP_ALGS {
                let (n, k) = issuer_hashes(&cert, alg)
                    .map_err(|e| CaLoadError::Broken(row.id.clone(), e.to_string()))?;
                index.insert((alg, n, k), row.id.clone());
            }
        }
        let found = index.get(&key).cloned();
        *self.ocsp_index.write().expect("lock") = index;
        Ok(found)
    }

    /// The id of the default issuing CA.
    pub async fn default_id(&self, store: &Store) -> Result<String, CaLoadError> {
        if let Some(id) = self.default_ca.get() {
            return Ok(id.clone());
        }
        let id = settings::get(&store.read, settings::DEFAULT_CA)
            .await?
            .ok_or_else(|| {
                CaLoadError::Broken(
                    "default".into(),
                    "no default CA configured; run `signet init`".into(),
                )
            })?;
        Ok(self.default_ca.get_or_init(|| id).clone())
    }
}
