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

pub struct Entry<'a> {
    /// Unsigned big-endian serial.
    pub serial: &'a [u8],
    pub revoked_at: i64,
    /// RFC 5280 reason code; None or 0 (unspecified) omits the extension.
    pub reason: Option<u8>,
    pub invalidity_date: Option<i64>,
}

pub enum Kind {
    /// A full CRL, optionally pointing at where its deltas are (freshestCRL),
    /// and optionally one shard of a partitioned CRL (Issuing Distribution
    /// Point: this URL, user certificates only).
    Full {
        freshest_url: Option<String>,
        idp_url: Option<String>,
    },
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
    let sig = sign(key, tbs)?;
    let mut body = Vec::with_capacity(tbs.len() + alg.len() + sig.len() + 8);
    body.extend_from_slice(tbs);
    body.extend(alg);
    body.extend(der::bit_string(&sig));
    Ok(der::seq(&body))
}

/// The raw signature over `data` (DER ECDSA-Sig-Value, PKCS#1 v1.5, or Ed25519).
fn sign(key: &PKeyRef<Private>, data: &[u8]) -> Result<Vec<u8>> {
    Ok(if key.id() == Id::ED25519 {
        Signer::new_without_digest(key)?.sign_oneshot_to_vec(data)?
    } else {
        let md = match key.id() {
            Id::EC if key.bits() > 384 => MessageDigest::sha512(),
            Id::EC if key.bits() > 256 => MessageDigest::sha384(),
            _ => MessageDigest::sha256(),
        };
        let mut s = Signer::new(md, key)?;
        s.update(data)?;
        s.sign_to_vec()?
    })
}

/// Append one revokedCertificates entry without intermediate allocations:
/// this runs a million times for a large CA.
fn push_entry(out: &mut Vec<u8>, e: &Entry<'_>) {
    let serial = {
        let skip = e
            .serial
            .iter()
            .take_while(|b| **b == 0)
            .count()
            .min(e.serial.len().saturating_sub(1));
        &e.serial[skip..]
    };
    let pad = usize::from(serial.first().is_none_or(|b| b & 0x80 != 0));
    let int_len = 2 + pad + serial.len().max(1 - pad);
    let mut time = [0u8; 17];
    let time_len = der::write_time(&mut time, e.revoked_at);
    let reason = e.reason.filter(|r| *r != 0);
    // Extension SEQUENCE { OID reasonCode, OCTET STRING { ENUMERATED r } }: 12 bytes.
    let reason_len = if reason.is_some() { 12 } else { 0 };
    let mut inv = [0u8; 17];
    let inv_len = e
        .invalidity_date
        .map(|t| der::write_generalized_time(&mut inv, t))
        .unwrap_or(0);
    // SEQUENCE { OID invalidityDate, OCTET STRING { GeneralizedTime } }
    let inv_ext_len = if inv_len > 0 { 2 + 5 + 2 + inv_len } else { 0 };
    let exts_content = reason_len + inv_ext_len;
    let exts_len = if exts_content > 0 {
        2 + exts_content
    } else {
        0
    };
    let content = int_len + time_len + exts_len;
    out.push(0x30);
    der::len(out, content);
    out.push(0x02);
    out.push((pad + serial.len().max(1 - pad)) as u8);
    if pad == 1 {
        out.push(0);
    }
    out.extend_from_slice(serial);
    out.extend_from_slice(&time[..time_len]);
    if exts_content > 0 {
        out.push(0x30);
        out.push(exts_content as u8);
        if let Some(r) = reason {
            out.extend_from_slice(&[
                0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, r,
            ]);
        }
        if inv_len > 0 {
            out.extend_from_slice(&[
                0x30,
                (5 + 2 + inv_len) as u8,
                0x06,
                0x03,
                0x55,
                0x1d,
                0x18,
                0x04,
                inv_len as u8,
            ]);
            out.extend_from_slice(&inv[..inv_len]);
        }
    }
}

/// DistributionPoint list with one URI (CRLDistributionPoints / FreshestCRL syntax).
fn distribution_points(url: &str) -> Vec<u8> {
    let uri = der::wrap(0x86, url.as_bytes());
    let full_name = der::wrap(0xa0, &uri);
    let dp_name = der::wrap(0xa0, &full_name);
    der::seq(&der::seq(&dp_name))
}

/// Room kept in front of the revoked list for the headers and fields that
/// precede it, so the list never moves: only these few bytes do.
const HEAD_ROOM: usize = 1024;

/// Streams a CRL into one buffer: entries go straight to their final place,
/// and the headers in front of them are filled in when the size is known.
pub struct CrlWriter<'a> {
    issuer: &'a Issuer,
    spec: &'a CrlSpec,
    buf: Vec<u8>,
    count: u64,
}

impl<'a> CrlWriter<'a> {
    /// `expected` sizes the buffer once (about 45 bytes an entry).
    pub fn new(issuer: &'a Issuer, spec: &'a CrlSpec, expected: usize) -> Self {
        let mut buf = Vec::with_capacity(HEAD_ROOM + expected * 48 + 1024);
        buf.resize(HEAD_ROOM, 0);
        CrlWriter {
            issuer,
            spec,
            buf,
            count: 0,
        }
    }

    pub fn push(&mut self, e: &Entry<'_>) {
        push_entry(&mut self.buf, e);
        self.count += 1;
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Sign and return the DER CRL.
    pub fn finish(self) -> Result<Vec<u8>> {
        let CrlWriter {
            issuer,
            spec,
            mut buf,
            count,
        } = self;
        let ski = issuer.cert.subject_key_id().ok_or_else(|| {
            CaError::InvalidCertificate("the CA certificate has no subject key identifier".into())
        })?;
        let list_len = buf.len() - HEAD_ROOM;
        // Fields before revokedCertificates, then its SEQUENCE header (absent
        // when empty, RFC 5280 §5.1.2.6).
        let alg = signature_algorithm(&issuer.key)?;
        let mut prefix = der::small_int(1); // v2
        prefix.extend_from_slice(&alg);
        prefix.extend(issuer.cert.subject_name().to_der()?);
        prefix.extend(der::time(spec.this_update));
        prefix.extend(der::time(spec.next_update));
        if count > 0 {
            prefix.push(0x30);
            der::len(&mut prefix, list_len);
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
                freshest_url,
                idp_url,
            } => {
                if let Some(u) = freshest_url {
                    exts.extend(der::extension("2.5.29.46", false, &distribution_points(u)));
                }
                if let Some(u) = idp_url {
                    // IssuingDistributionPoint { distributionPoint [0] { fullName [0] { URI } }, onlyContainsUserCerts [1] TRUE }
                    let dp = der::wrap(0xa0, &der::wrap(0xa0, &der::wrap(0x86, u.as_bytes())));
                    let idp = der::seq(&[dp, vec![0x81, 0x01, 0xff]].concat());
                    exts.extend(der::extension("2.5.29.28", true, &idp));
                }
            }
            Kind::Delta { base } => {
                exts.extend(der::extension("2.5.29.27", true, &der::small_int(*base)))
            }
        }
        buf.extend(der::wrap(0xa0, &der::seq(&exts)));
        let tbs_content = prefix.len() + buf.len() - HEAD_ROOM;
        let mut tbs_head = vec![0x30];
        der::len(&mut tbs_head, tbs_content);
        let start = HEAD_ROOM - prefix.len() - tbs_head.len();
        buf[start..start + tbs_head.len()].copy_from_slice(&tbs_head);
        buf[start + tbs_head.len()..HEAD_ROOM].copy_from_slice(&prefix);
        let sig = sign(&issuer.key, &buf[start..])?;
        buf.extend_from_slice(&alg);
        buf.extend(der::bit_string(&sig));
        let total = buf.len() - start;
        let mut outer = vec![0x30];
        der::len(&mut outer, total);
        let begin = start - outer.len();
        buf[begin..start].copy_from_slice(&outer);
        // One in-place move of the body to the front; no second buffer.
        buf.drain(..begin);
        Ok(buf)
    }
}

/// Build and sign a CRL from entries.
pub fn build<'e>(
    issuer: &Issuer,
    spec: &CrlSpec,
    entries: impl IntoIterator<Item = Entry<'e>>,
) -> Result<Vec<u8>> {
    let mut w = CrlWriter::new(issuer, spec, 0);
    for e in entries {
        w.push(&e);
    }
    w.finish()
}
