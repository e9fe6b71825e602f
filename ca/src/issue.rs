//! Build and sign X.509 certificates from a fully resolved plan.
//!
//! The plan is the output of the policy engine; this module makes no policy
//! decisions, it only encodes what it is told, faithfully.

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, PKey, PKeyRef, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Builder, X509Extension, X509NameBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{CaError, Result};
use crate::key::signing_digest;
use crate::names::San;
use crate::serial;

/// Everything that goes into a certificate except the serial and the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CertPlan {
    /// (short name, value) pairs in order, e.g. [("CN","a.example")].
    pub subject: Vec<(String, String)>,
    pub sans: Vec<San>,
    pub not_before: i64,
    pub not_after: i64,
    /// RFC 5280 names: digitalSignature, keyEncipherment, keyCertSign, cRLSign, …
    pub key_usage: Vec<String>,
    /// serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, ocspSigning.
    pub ext_key_usage: Vec<String>,
    /// Some(path_len) makes a CA certificate; the inner None means unlimited.
    pub ca: Option<Option<u32>>,
    pub crl_urls: Vec<String>,
    pub ocsp_urls: Vec<String>,
    pub ca_issuers_urls: Vec<String>,
}

/// A CA able to sign: its certificate, key and the chain above it
/// (parent first, root last; empty for a root).
pub struct Issuer {
    pub cert: X509,
    pub key: PKey<Private>,
    pub chain: Vec<X509>,
    /// Built once: every certificate download appends it.
    chain_pem: Vec<u8>,
}

impl Issuer {
    pub fn new(cert: X509, key: PKey<Private>, chain: Vec<X509>) -> Result<Issuer> {
        let mut chain_pem = Vec::new();
        for c in std::iter::once(&cert).chain(chain.iter()) {
            if !is_self_signed(c) {
                chain_pem.extend_from_slice(&c.to_pem()?);
            }
        }
        Ok(Issuer {
            cert,
            key,
            chain,
            chain_pem,
        })
    }

    /// The chain a client needs for a certificate this CA signed: the CA
    /// itself and its parents, excluding the self-signed root.
    pub fn chain_pem_excluding_root(&self) -> &[u8] {
        &self.chain_pem
    }

    pub fn root(&self) -> &X509 {
        self.chain.last().unwrap_or(&self.cert)
    }
}

pub fn is_self_signed(c: &X509) -> bool {
    c.issuer_name().to_der().ok() == c.subject_name().to_der().ok()
        && c.public_key()
            .ok()
            .map(|k| crate::signed_by(c, &k))
            .unwrap_or(false)
}

/// Who signs: an existing CA, or the subject key itself (a new root).
pub enum SignAs<'a> {
    Issuer(&'a Issuer),
    SelfSigned(&'a PKeyRef<Private>),
}

pub const KEY_USAGES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

pub const EXT_KEY_USAGES: [&str; 6] = [
    "serverAuth",
    "clientAuth",
    "codeSigning",
    "emailProtection",
    "timeStamping",
    "ocspSigning",
];

/// Sign a certificate for `subject_key` according to `plan`. Returns DER.
pub fn sign<T: HasPublic>(
    signer: SignAs<'_>,
    plan: &CertPlan,
    serial_bytes: &[u8],
    subject_key: &PKeyRef<T>,
) -> Result<Vec<u8>> {
    let mut b = build(&signer, plan, serial_bytes, subject_key)?;
    let sign_key = match &signer {
        SignAs::Issuer(i) => &*i.key,
        SignAs::SelfSigned(k) => *k,
    };
    b.sign(sign_key, signing_digest(sign_key))?;
    Ok(b.build().to_der()?)
}

/// Build everything a signature would cover, and sign nothing: a plan that
/// passes this can be signed, so the pipeline checks it before it reserves
/// a serial (an attribute too long for its ASN.1 type, a SAN OpenSSL
/// refuses).
pub fn check<T: HasPublic>(
    issuer: &Issuer,
    plan: &CertPlan,
    subject_key: &PKeyRef<T>,
) -> Result<()> {
    build(&SignAs::Issuer(issuer), plan, &[1; 16], subject_key).map(drop)
}

fn build<T: HasPublic>(
    signer: &SignAs<'_>,
    plan: &CertPlan,
    serial_bytes: &[u8],
    subject_key: &PKeyRef<T>,
) -> Result<X509Builder> {
    if plan.not_after <= plan.not_before {
        return Err(CaError::InvalidPlan(
            "notAfter must be after notBefore".into(),
        ));
    }
    if plan.subject.is_empty() && plan.sans.is_empty() {
        return Err(CaError::InvalidPlan(
            "a certificate needs a subject or a SAN".into(),
        ));
    }
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial_int = serial::to_bignum(serial_bytes)?.to_asn1_integer()?;
    b.set_serial_number(&serial_int)?;
    let mut name = X509NameBuilder::new()?;
    for (k, v) in &plan.subject {
        name.append_entry_by_text(k, v)
            .map_err(|_| CaError::InvalidPlan(format!("bad subject attribute {k}={v:?}")))?;
    }
    let name = name.build();
    b.set_subject_name(&name)?;
    let issuer_cert = match signer {
        SignAs::Issuer(i) => {
            b.set_issuer_name(i.cert.subject_name())?;
            Some(&i.cert)
        }
        SignAs::SelfSigned(_) => {
            b.set_issuer_name(&name)?;
            None
        }
    };
    let (nb, na) = (
        Asn1Time::from_unix(plan.not_before)?,
        Asn1Time::from_unix(plan.not_after)?,
    );
    b.set_not_before(&nb)?;
    b.set_not_after(&na)?;
    b.set_pubkey(subject_key)?;

    let mut bc = BasicConstraints::new();
    bc.critical();
    if let Some(path_len) = plan.ca {
        bc.ca();
        if let Some(p) = path_len {
            bc.pathlen(p);
        }
    }
    b.append_extension(bc.build()?)?;
    if !plan.key_usage.is_empty() {
        b.append_extension(key_usage(&plan.key_usage)?)?;
    }
    if !plan.ext_key_usage.is_empty() {
        b.append_extension(ext_key_usage(&plan.ext_key_usage)?)?;
    }
    let ski =
        SubjectKeyIdentifier::new().build(&b.x509v3_context(issuer_cert.map(|c| &**c), None))?;
    b.append_extension(ski)?;
    if let Some(ic) = issuer_cert {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(ic), None))?;
        b.append_extension(aki)?;
    }
    if !plan.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        if plan.subject.is_empty() {
            san.critical(); // RFC 5280 §4.2.1.6
        }
        for s in &plan.sans {
            match s {
                San::Dns(d) => san.dns(d),
                San::Ip(ip) => san.ip(&ip.to_string()),
                San::Email(e) => san.email(e),
                San::Uri(u) => san.uri(u),
            };
        }
        b.append_extension(san.build(&b.x509v3_context(issuer_cert.map(|c| &**c), None))?)?;
    }
    if !plan.crl_urls.is_empty() {
        let v = uri_list("", &plan.crl_urls)?;
        b.append_extension(conf_ext(Nid::CRL_DISTRIBUTION_POINTS, &v)?)?;
    }
    let aia: Vec<String> = plan
        .ocsp_urls
        .iter()
        .map(|u| Ok(format!("OCSP;URI:{}", check_uri(u)?)))
        .chain(
            plan.ca_issuers_urls
                .iter()
                .map(|u| Ok(format!("caIssuers;URI:{}", check_uri(u)?))),
        )
        .collect::<Result<_>>()?;
    if !aia.is_empty() {
        b.append_extension(conf_ext(Nid::INFO_ACCESS, &aia.join(","))?)?;
    }
    Ok(b)
}

fn check_uri(u: &str) -> Result<&str> {
    if u.is_empty() || u.contains(',') || u.chars().any(char::is_whitespace) {
        return Err(CaError::InvalidPlan(format!("bad URL in plan: {u:?}")));
    }
    Ok(u)
}

fn uri_list(prefix: &str, urls: &[String]) -> Result<String> {
    Ok(urls
        .iter()
        .map(|u| check_uri(u).map(|u| format!("{prefix}URI:{u}")))
        .collect::<Result<Vec<_>>>()?
        .join(","))
}

#[allow(deprecated)] // the conf-string constructor is the only safe way to build CRLDP/AIA
fn conf_ext(nid: Nid, value: &str) -> Result<X509Extension> {
    Ok(X509Extension::new_nid(None, None, nid, value)?)
}

fn key_usage(names: &[String]) -> Result<X509Extension> {
    let mut ku = KeyUsage::new();
    ku.critical();
    for n in names {
        match n.as_str() {
            "digitalSignature" => ku.digital_signature(),
            "nonRepudiation" | "contentCommitment" => ku.non_repudiation(),
            "keyEncipherment" => ku.key_encipherment(),
            "dataEncipherment" => ku.data_encipherment(),
            "keyAgreement" => ku.key_agreement(),
            "keyCertSign" => ku.key_cert_sign(),
            "cRLSign" => ku.crl_sign(),
            "encipherOnly" => ku.encipher_only(),
            "decipherOnly" => ku.decipher_only(),
            other => return Err(CaError::InvalidPlan(format!("unknown key usage {other:?}"))),
        };
    }
    Ok(ku.build()?)
}

fn ext_key_usage(names: &[String]) -> Result<X509Extension> {
    let mut eku = ExtendedKeyUsage::new();
    for n in names {
        match n.as_str() {
            "serverAuth" => eku.server_auth(),
            "clientAuth" => eku.client_auth(),
            "codeSigning" => eku.code_signing(),
            "emailProtection" => eku.email_protection(),
            "timeStamping" => eku.time_stamping(),
            "ocspSigning" | "OCSPSigning" => eku.other("OCSPSigning"),
            other => {
                return Err(CaError::InvalidPlan(format!(
                    "unknown extended key usage {other:?}"
                )));
            }
        };
    }
    Ok(eku.build()?)
}
