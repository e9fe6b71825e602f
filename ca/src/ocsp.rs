//! OCSP (RFC 6960): request parsing and signed responses, by hand over the
//! DER helpers, since openssl's safe API cannot build responses.

use openssl::hash::{MessageDigest, hash};
use openssl::x509::X509Ref;

use crate::crl::sign_structure;
use crate::der::{self, DerError};
use crate::error::Result;
use crate::issue::Issuer;

const OID_SHA1: &str = "1.3.14.3.2.26";
const OID_SHA256: &str = "2.16.840.1.101.3.4.2.1";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_SHA512: &str = "2.16.840.1.101.3.4.2.3";
const OID_NONCE: &str = "1.3.6.1.5.5.7.48.1.2";
const OID_BASIC: &str = "1.3.6.1.5.5.7.48.1.1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    fn digest(self) -> MessageDigest {
        match self {
            HashAlg::Sha1 => MessageDigest::sha1(),
            HashAlg::Sha256 => MessageDigest::sha256(),
            HashAlg::Sha384 => MessageDigest::sha384(),
            HashAlg::Sha512 => MessageDigest::sha512(),
        }
    }
}

/// One CertID from a request, with its exact encoding to echo back.
#[derive(Debug, Clone)]
pub struct CertId {
    pub raw: Vec<u8>,
    pub alg: HashAlg,
    pub issuer_name_hash: Vec<u8>,
    pub issuer_key_hash: Vec<u8>,
    /// Serial as unsigned big-endian bytes (leading zeros stripped).
    pub serial: Vec<u8>,
}

#[derive(Debug)]
pub struct Request {
    pub ids: Vec<CertId>,
    /// The nonce extension's extnValue, echoed verbatim.
    pub nonce: Option<Vec<u8>>,
}

fn cert_id(t: &der::Tlv<'_>) -> Result<CertId, DerError> {
    let mut c = t.content;
    let alg_seq = der::expect(&mut c, 0x30, "CertID: hashAlgorithm")?;
    let mut a = alg_seq.content;
    let alg_oid = der::expect(&mut a, 0x06, "CertID: hash OID")?;
    let alg = [
        (OID_SHA1, HashAlg::Sha1),
        (OID_SHA256, HashAlg::Sha256),
        (OID_SHA384, HashAlg::Sha384),
        (OID_SHA512, HashAlg::Sha512),
    ]
    .into_iter()
    .find(|(o, _)| der::oid(o) == alg_oid.raw)
    .map(|(_, h)| h)
    .ok_or(DerError("CertID: unsupported hash algorithm"))?;
    let name = der::expect(&mut c, 0x04, "CertID: issuerNameHash")?;
    let key = der::expect(&mut c, 0x04, "CertID: issuerKeyHash")?;
    let serial = der::expect(&mut c, 0x02, "CertID: serialNumber")?;
    let s = serial.content;
    let skip = s
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(s.len().saturating_sub(1));
    Ok(CertId {
        raw: t.raw.to_vec(),
        alg,
        issuer_name_hash: name.content.to_vec(),
        issuer_key_hash: key.content.to_vec(),
        serial: s[skip..].to_vec(),
    })
}

/// Parse an OCSPRequest. Signed requests are accepted; their signature is ignored.
pub fn parse_request(input: &[u8]) -> Result<Request, DerError> {
    let mut i = input;
    let outer = der::expect(&mut i, 0x30, "OCSPRequest")?;
    let mut o = outer.content;
    let tbs = der::expect(&mut o, 0x30, "TBSRequest")?;
    let mut t = tbs.content;
    let mut next = der::read(&mut t)?;
    if next.tag == 0xa0 {
        next = der::read(&mut t)?; // version
    }
    if next.tag == 0xa1 {
        next = der::read(&mut t)?; // requestorName
    }
    if next.tag != 0x30 {
        return Err(DerError("TBSRequest: requestList"));
    }
    let mut ids = Vec::new();
    let mut list = next.content;
    while !list.is_empty() {
        let req = der::expect(&mut list, 0x30, "Request")?;
        let mut r = req.content;
        ids.push(cert_id(&der::expect(&mut r, 0x30, "Request: CertID")?)?);
    }
    if ids.is_empty() {
        return Err(DerError("requestList is empty"));
    }
    let mut nonce = None;
    if !t.is_empty() {
        let exts = der::expect(&mut t, 0xa2, "TBSRequest: requestExtensions")?;
        let mut e = exts.content;
        let seq = der::expect(&mut e, 0x30, "Extensions")?;
        let mut s = seq.content;
        while !s.is_empty() {
            let ext = der::expect(&mut s, 0x30, "Extension")?;
            let mut x = ext.content;
            let oid = der::expect(&mut x, 0x06, "Extension: OID")?;
            let mut v = der::read(&mut x)?;
            if v.tag == 0x01 {
                v = der::read(&mut x)?; // critical
            }
            if oid.raw == der::oid(OID_NONCE) && v.tag == 0x04 {
                nonce = Some(v.content.to_vec());
            }
        }
    }
    Ok(Request { ids, nonce })
}

/// The hashes a CertID names an issuer by: (name hash, key hash) under `alg`.
pub fn issuer_hashes(ca: &X509Ref, alg: HashAlg) -> Result<(Vec<u8>, Vec<u8>)> {
    let name = hash(alg.digest(), &ca.subject_name().to_der()?)?.to_vec();
    let key = hash(alg.digest(), &public_key_bits(ca)?)?.to_vec();
    Ok((name, key))
}

/// The subjectPublicKey BIT STRING contents (without the unused-bits byte).
fn public_key_bits(cert: &X509Ref) -> Result<Vec<u8>> {
    let spki = cert.public_key()?.public_key_to_der()?;
    let bad = |_| crate::CaError::InvalidCertificate("unparseable SubjectPublicKeyInfo".into());
    let mut i = spki.as_slice();
    let outer = der::expect(&mut i, 0x30, "SPKI").map_err(bad)?;
    let mut c = outer.content;
    der::expect(&mut c, 0x30, "SPKI alg").map_err(bad)?;
    let bits = der::expect(&mut c, 0x03, "SPKI key").map_err(bad)?;
    Ok(bits.content.get(1..).unwrap_or_default().to_vec())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Good,
    Revoked { at: i64, reason: Option<u8> },
    Unknown,
}

/// OCSPResponseStatus values for unsuccessful responses (unsigned).
#[derive(Debug, Clone, Copy)]
pub enum ErrorStatus {
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    Unauthorized = 6,
}

pub fn error_response(s: ErrorStatus) -> Vec<u8> {
    der::seq(&der::enumerated(s as u8))
}

pub struct Single<'a> {
    pub id: &'a CertId,
    pub status: Status,
    pub this_update: i64,
    pub next_update: i64,
}

/// A successful, signed BasicOCSPResponse. `signer` is the CA itself or a
/// delegated responder; `signer_chain` goes into `certs` (empty for the CA).
pub fn respond(
    signer: &Issuer,
    signer_chain: &[&X509Ref],
    singles: &[Single<'_>],
    produced_at: i64,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let key_id = hash(MessageDigest::sha1(), &public_key_bits(&signer.cert)?)?;
    let mut rd = der::wrap(0xa2, &der::octets(&key_id)); // responderID byKey
    rd.extend(der::generalized_time(produced_at));
    let mut responses = Vec::new();
    for s in singles {
        let mut c = s.id.raw.clone();
        c.extend(match s.status {
            Status::Good => vec![0x80, 0x00],
            Status::Unknown => vec![0x82, 0x00],
            Status::Revoked { at, reason } => {
                let mut r = der::generalized_time(at);
                if let Some(code) = reason.filter(|c| *c != 0) {
                    r.extend(der::wrap(0xa0, &der::enumerated(code)));
                }
                der::wrap(0xa1, &r)
            }
        });
        c.extend(der::generalized_time(s.this_update));
        c.extend(der::wrap(0xa0, &der::generalized_time(s.next_update)));
        responses.extend(der::seq(&c));
    }
    rd.extend(der::seq(&responses));
    if let Some(n) = nonce {
        rd.extend(der::wrap(
            0xa1,
            &der::seq(&der::extension(OID_NONCE, false, n)),
        ));
    }
    let signed = sign_structure(&signer.key, &der::seq(&rd))?;
    // BasicOCSPResponse = SEQUENCE { tbs, alg, sig [, certs] }: reopen to append certs.
    let basic = if signer_chain.is_empty() {
        signed
    } else {
        let mut i = signed.as_slice();
        let outer = der::expect(&mut i, 0x30, "basic")
            .map_err(|e| crate::CaError::InvalidPlan(e.0.into()))?;
        let mut body = outer.content.to_vec();
        let mut certs = Vec::new();
        for c in signer_chain {
            certs.extend(c.to_der()?);
        }
        body.extend(der::wrap(0xa0, &der::seq(&certs)));
        der::seq(&body)
    };
    let bytes = der::seq(&[der::oid(OID_BASIC), der::octets(&basic)].concat());
    Ok(der::seq(
        &[der::enumerated(0), der::wrap(0xa0, &bytes)].concat(),
    ))
}
