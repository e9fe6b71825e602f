//! Full and delta CRLs (RFC 5280 §5), encoded directly so that a CRL of a
//! million entries is one streaming pass plus one signature.

use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKeyRef, Private};
use openssl::sign::Signer;

use crate::der;
use crate::error::{CaError, Result};
use crate::issue::Issuer;

/// CRLReason removeFromCRL: only ever in a delta CRL.
pub const REMOVE_FROM_CRL: u8 = 8;

pub struct Entry {
    pub serial: Vec<u8>,
    pub revoked_at: i64,
    /// RFC 5280 reason code; None or 0 (unspecified) omits the extension.
    pub reason: Option<u8>,
    pub invalidity_date: Option<i64>,
}

pub enum Kind {
    /// A full CRL, optionally pointing at where its deltas are (freshestCRL).
    Full { freshest_url: Option<String> },
    /// A delta against the full CRL with number `base`.
    Delta { base: u64 },
}

pub struct CrlSpec {
    pub number: u64,
    pub this_update: i64,
    pub next_update: i64,
    pub kind: Kind,
}

/// AlgorithmIdentifier for the signature this key makes.
pub fn signature_algorithm(key: &PKeyRef<Private>) -> Result<Vec<u8>> {
    Ok(match key.id() {
        Id::EC if key.bits() > 384 => der::seq(&der::oid("1.2.840.10045.4.3.4")),
        Id::EC if key.bits() > 256 => der::seq(&der::oid("1.2.840.10045.4.3.3")),
        Id::EC => der::seq(&der::oid("1.2.840.10045.4.3.2")),
        Id::RSA => der::seq(&[der::oid("1.2.840.113549.1.1.11"), der::NULL.to_vec()].concat()),
        Id::ED25519 => der::seq(&der::oid("1.3.101.112")),
        _ => {
            return Err(CaError::UnsupportedKey(
                "CA key type cannot sign CRLs".into(),
            ));
        }
    })
}

/// Sign `tbs` and wrap it as SEQUENCE { tbs, algorithm, BIT STRING signature }.
pub fn sign_structure(key: &PKeyRef<Private>, tbs: &[u8]) -> Result<Vec<u8>> {
    let alg = signature_algorithm(key)?;
    let sig = if key.id() == Id::ED25519 {
        Signer::new_without_digest(key)?.sign_oneshot_to_vec(tbs)?
    } else {
        let md = match key.id() {
            Id::EC if key.bits() > 384 => MessageDigest::sha512(),
            Id::EC if key.bits() > 256 => MessageDigest::sha384(),
            _ => MessageDigest::sha256(),
        };
        let mut s = Signer::new(md, key)?;
        s.update(tbs)?;
        s.sign_to_vec()?
    };
    let mut body = Vec::with_capacity(tbs.len() + alg.len() + sig.len() + 8);
    body.extend_from_slice(tbs);
    body.extend(alg);
    body.extend(der::bit_string(&sig));
    Ok(der::seq(&body))
}

fn entry(e: &Entry) -> Vec<u8> {
    let mut c = der::uint(&e.serial);
    c.extend(der::time(e.revoked_at));
    let mut exts = Vec::new();
    if let Some(r) = e.reason.filter(|r| *r != 0) {
        exts.extend(der::extension("2.5.29.21", false, &der::enumerated(r)));
    }
    if let Some(t) = e.invalidity_date {
        exts.extend(der::extension(
            "2.5.29.24",
            false,
            &der::generalized_time(t),
        ));
    }
    if !exts.is_empty() {
        c.extend(der::seq(&exts));
    }
    der::seq(&c)
}

/// DistributionPoint list with one URI (CRLDistributionPoints / FreshestCRL syntax).
fn distribution_points(url: &str) -> Vec<u8> {
    let uri = der::wrap(0x86, url.as_bytes());
    let full_name = der::wrap(0xa0, &uri);
    let dp_name = der::wrap(0xa0, &full_name);
    der::seq(&der::seq(&dp_name))
}

/// revokedCertificates, accumulated one entry at a time so a caller can
/// stream rows from the store without holding them all.
#[derive(Default)]
pub struct RevokedList {
    der: Vec<u8>,
    count: u64,
}

impl RevokedList {
    pub fn push(&mut self, e: &Entry) {
        self.der.extend(entry(e));
        self.count += 1;
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Build and sign a CRL from entries.
pub fn build(
    issuer: &Issuer,
    spec: &CrlSpec,
    entries: impl IntoIterator<Item = Entry>,
) -> Result<Vec<u8>> {
    let mut list = RevokedList::default();
    for e in entries {
        list.push(&e);
    }
    build_from(issuer, spec, list)
}

/// Build and sign a CRL from an accumulated list.
pub fn build_from(issuer: &Issuer, spec: &CrlSpec, list: RevokedList) -> Result<Vec<u8>> {
    let ski = issuer.cert.subject_key_id().ok_or_else(|| {
        CaError::InvalidCertificate("the CA certificate has no subject key identifier".into())
    })?;
    let revoked = list.der;
    let mut tbs = der::small_int(1); // v2
    tbs.extend(signature_algorithm(&issuer.key)?);
    tbs.extend(issuer.cert.subject_name().to_der()?);
    tbs.extend(der::time(spec.this_update));
    tbs.extend(der::time(spec.next_update));
    if !revoked.is_empty() {
        // Absent, not empty, when nothing is revoked (RFC 5280 §5.1.2.6).
        tbs.extend(der::seq(&revoked));
    }
    let mut exts = der::extension(
        "2.5.29.35",
        false,
        &der::seq(&der::wrap(0x80, ski.as_slice())),
    );
    exts.extend(der::extension(
        "2.5.29.20",
        false,
        &der::small_int(spec.number),
    ));
    match &spec.kind {
        Kind::Full {
            freshest_url: Some(u),
        } => exts.extend(der::extension("2.5.29.46", false, &distribution_points(u))),
        Kind::Full { freshest_url: None } => {}
        Kind::Delta { base } => {
            exts.extend(der::extension("2.5.29.27", true, &der::small_int(*base)))
        }
    }
    tbs.extend(der::wrap(0xa0, &der::seq(&exts)));
    sign_structure(&issuer.key, &der::seq(&tbs))
}
