//! Who answers SCEP for a CA: the CA itself when its key is RSA, or an RSA
//! RA/decrypter certificate the CA issues (EC keys cannot decrypt a SCEP
//! envelope). The RA certificate goes through the issuance pipeline like
//! any other, so it is recorded before it is signed; its id is shared with
//! every replica through the settings table.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;
use signet_ca::issue::Issuer;
use signet_ca::key::{self, KeyType};

use crate::config::RaMode;
use crate::core_state::Core;
use crate::issuance::{self, IssuanceRequest, Outcome, RequestKey};
use crate::policy::Channel;
use crate::store::{StoreError, certificates as certs, now, settings, templates};

pub struct Responder {
    /// Signs CertReps and decrypts requests.
    pub cert: X509,
    pub key: PKey<Private>,
    /// The issuing CA.
    pub ca: Arc<Issuer>,
    pub ca_id: String,
    /// True when `cert` is an RA certificate rather than the CA's own.
    pub is_ra: bool,
}

#[derive(Default)]
pub struct Responders {
    loaded: RwLock<HashMap<(String, bool), Arc<Responder>>>,
    /// The shared static challenge (set at start; see `challenge::ensure_static_secret`).
    pub static_secret: std::sync::OnceLock<String>,
}

/// An RA certificate is replaced this long before it expires.
const RA_RENEW_BEFORE_SECS: i64 = 30 * 86400;

fn setting_key(ca_id: &str) -> String {
    format!("scep_ra:{ca_id}")
}

impl Responders {
    pub async fn get(
        &self,
        app: &Core,
        ca_id: &str,
        mode: RaMode,
    ) -> anyhow::Result<Arc<Responder>> {
        let ca = app.cas.get(&app.store, &app.master_key, ca_id).await?;
        let use_ra = mode == RaMode::Always || ca.key.id() != Id::RSA;
        let cache_key = (ca_id.to_string(), use_ra);
        if let Some(r) = self.loaded.read().expect("lock").get(&cache_key)
            && (!r.is_ra || expires_at(&r.cert) > now() + RA_RENEW_BEFORE_SECS)
        {
            return Ok(r.clone());
        }
        let responder = if use_ra {
            let (cert, key) = ra_certificate(app, ca_id).await?;
            Responder {
                cert,
                key,
                ca,
                ca_id: ca_id.to_string(),
                is_ra: true,
            }
        } else {
            Responder {
                cert: ca.cert.clone(),
                key: ca.key.clone(),
                ca,
                ca_id: ca_id.to_string(),
                is_ra: false,
            }
        };
        let responder = Arc::new(responder);
        self.loaded
            .write()
            .expect("lock")
            .insert(cache_key, responder.clone());
        Ok(responder)
    }
}

fn expires_at(cert: &X509) -> i64 {
    signet_ca::unix_time(cert.not_after()).unwrap_or(0)
}

/// The CA's current RA certificate and key, issued on first use.
async fn ra_certificate(app: &Core, ca_id: &str) -> anyhow::Result<(X509, PKey<Private>)> {
    let key_name = setting_key(ca_id);
    if let Some(id) = settings::get(&app.store.read, &key_name).await? {
        match certs::get(&app.store.read, &id).await {
            Ok(row)
                if row.status == certs::ACTIVE
                    && row.not_after.unwrap_or(0) > now() + RA_RENEW_BEFORE_SECS =>
            {
                return open(app, &row);
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let template = format!("{}-{ca_id}", super::RA_TEMPLATE);
    templates::upsert(
        &app.store.write,
        &template,
        &serde_json::to_string(&super::ra_template(ca_id))?,
    )
    .await?;
    let ca = app.cas.get(&app.store, &app.master_key, ca_id).await?;
    let ca_cn = ca
        .cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .unwrap_or_else(|| "Signet".into());
    let req = IssuanceRequest {
        channel: Channel::Api,
        requested_by: "system".into(),
        template: Some(template),
        project: None,
        subject: vec![("CN".into(), format!("{ca_cn} SCEP RA"))],
        sans: Vec::new(),
        key: RequestKey::Generate(KeyType::Rsa2048),
        validity_days: None,
        replaces_id: None,
        min_approvals: 0,
        link: None,
    };
    let row = match issuance::submit(app, req).await? {
        Outcome::Issued(row) => row,
        Outcome::Pending(_) => anyhow::bail!("the SCEP RA template must not require approval"),
    };
    // Another replica may have issued one at the same moment: the first
    // recorded wins, so every replica answers with the same RA.
    let winner = match settings::set_if_absent(&app.store.write, &key_name, &row.id).await? {
        true => row.id.clone(),
        false => {
            let current = settings::get(&app.store.write, &key_name)
                .await?
                .unwrap_or_default();
            let stale = certs::get(&app.store.write, &current)
                .await
                .map(|r| {
                    r.status != certs::ACTIVE
                        || r.not_after.unwrap_or(0) <= now() + RA_RENEW_BEFORE_SECS
                })
                .unwrap_or(true);
            if stale {
                settings::set(&app.store.write, &key_name, &row.id).await?;
                row.id.clone()
            } else {
                current
            }
        }
    };
    tracing::info!(ca = ca_id, certificate = %winner, "SCEP RA certificate in use");
    open(app, &certs::get(&app.store.write, &winner).await?)
}

fn open(app: &Core, row: &certs::CertRow) -> anyhow::Result<(X509, PKey<Private>)> {
    let cert = X509::from_der(row.der.as_deref().unwrap_or_default())?;
    let key = key::open_key(
        &app.master_key,
        row.id.as_bytes(),
        row.key_sealed.as_deref().unwrap_or_default(),
    )?;
    Ok((cert, key))
}
