//! CA creation and import.

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use crate::error::{CaError, Result};
use crate::issue::{self, CertPlan, Issuer, SignAs};
use crate::key::{self, KeyType};
use crate::serial;

/// Distinguished name and lifetime of a CA to create.
pub struct CaSpec<'a> {
    pub common_name: &'a str,
    pub organization: Option<&'a str>,
    pub key_type: KeyType,
    pub not_before: i64,
    pub not_after: i64,
    /// None: unlimited path length (a root); Some(0): issues only leaves.
    pub path_len: Option<u32>,
    pub crl_urls: Vec<String>,
    pub ocsp_urls: Vec<String>,
    pub ca_issuers_urls: Vec<String>,
}

impl CaSpec<'_> {
    fn plan(&self) -> CertPlan {
        let mut subject = Vec::new();
        if let Some(o) = self.organization {
            subject.push(("O".to_string(), o.to_string()));
        }
        subject.push(("CN".to_string(), self.common_name.to_string()));
        CertPlan {
            subject,
            not_before: self.not_before,
            not_after: self.not_after,
            // digitalSignature lets the CA sign OCSP responses directly.
            key_usage: vec![
                "digitalSignature".into(),
                "keyCertSign".into(),
                "cRLSign".into(),
            ],
            ca: Some(self.path_len),
            crl_urls: self.crl_urls.clone(),
            ocsp_urls: self.ocsp_urls.clone(),
            ca_issuers_urls: self.ca_issuers_urls.clone(),
            ..Default::default()
        }
    }
}

/// A new self-signed root CA.
pub fn create_root(spec: &CaSpec<'_>) -> Result<Issuer> {
    let key = spec.key_type.generate()?;
    let der = issue::sign(
        SignAs::SelfSigned(&key),
        &spec.plan(),
        &serial::random()?,
        &key,
    )?;
    Issuer::new(X509::from_der(&der)?, key, Vec::new())
}

/// A new subordinate CA signed by `parent`.
pub fn create_subordinate(parent: &Issuer, spec: &CaSpec<'_>) -> Result<Issuer> {
    let key = spec.key_type.generate()?;
    let der = issue::sign(
        SignAs::Issuer(parent),
        &spec.plan(),
        &serial::random()?,
        &key,
    )?;
    let mut chain = vec![parent.cert.clone()];
    chain.extend(parent.chain.iter().cloned());
    Issuer::new(X509::from_der(&der)?, key, chain)
}

/// Check an existing CA certificate, key and chain before importing them:
/// the key must match, the certificate must be a CA allowed to sign
/// certificates, and each chain element must have signed the one below it.
pub fn check_import(cert: &X509, key: &PKey<Private>, chain: &[X509]) -> Result<()> {
    let cert_key = cert.public_key()?;
    if !crate::same_public_key(&cert_key, key) {
        return Err(CaError::InvalidKey(
            "the private key does not match the CA certificate".into(),
        ));
    }
    key::describe(key)?;
    let der = cert.to_der()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| CaError::InvalidCertificate(e.to_string()))?;
    let is_ca = parsed
        .basic_constraints()
        .ok()
        .flatten()
        .map(|bc| bc.value.ca)
        .unwrap_or(false);
    if !is_ca {
        return Err(CaError::InvalidCertificate(
            "certificate is not a CA (basicConstraints cA is not true)".into(),
        ));
    }
    if let Ok(Some(ku)) = parsed.key_usage()
        && !ku.value.key_cert_sign()
    {
        return Err(CaError::InvalidCertificate(
            "key usage lacks keyCertSign".into(),
        ));
    }
    let mut below = cert;
    for up in chain {
        let up_key = up.public_key()?;
        if !crate::signed_by(below, &up_key) {
            return Err(CaError::InvalidCertificate(
                "chain is out of order or incomplete: a certificate is not signed by the next one"
                    .into(),
            ));
        }
        below = up;
    }
    Ok(())
}

/// Parse every certificate in a PEM bundle.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<X509>> {
    X509::stack_from_pem(pem)
        .map_err(|e| CaError::InvalidCertificate(format!("cannot parse PEM: {e}")))
}
