//! Parse and verify PKCS#10 certificate signing requests.

use openssl::pkey::{PKey, Public};
use openssl::x509::X509Req;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{CaError, Result};
use crate::key::{self, KeyInfo};
use crate::names::{self, San};

/// A CSR whose signature verified and whose key is acceptable.
pub struct ParsedCsr {
    pub der: Vec<u8>,
    pub public_key: PKey<Public>,
    /// DER SubjectPublicKeyInfo, for comparing keys (e.g. CSR key ≠ account key).
    pub spki_der: Vec<u8>,
    pub key: KeyInfo,
    /// Subject attributes as (short name, value), e.g. ("CN", "example.com").
    pub subject: Vec<(String, String)>,
    /// Requested SANs, normalised (DNS lower-cased), in request order, deduplicated.
    pub sans: Vec<San>,
    /// The challengePassword attribute (SCEP enrolment secrets).
    pub challenge_password: Option<String>,
}

impl ParsedCsr {
    pub fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str())
    }
}

/// Accepts PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST") or DER.
pub fn parse(input: &[u8]) -> Result<ParsedCsr> {
    let req = if input.starts_with(b"-----") || input.trim_ascii_start().starts_with(b"-----") {
        X509Req::from_pem(input.trim_ascii_start())
    } else {
        X509Req::from_der(input)
    }
    .map_err(|_| CaError::MalformedCsr("not a PKCS#10 request in PEM or DER".into()))?;
    let der = req.to_der()?;
    let Requested {
        spki_der: raw_spki,
        sans,
        challenge_password,
    } = requested(&der)?;
    let public_key = key::public_from_spki(&raw_spki)?;
    let key = key::describe(&public_key)?;
    if !crate::verified(req.verify(&public_key)) {
        return Err(CaError::BadCsrSignature);
    }
    // Re-encoded, so that keys compare equal however the CSR encoded its point.
    let spki_der = public_key.public_key_to_der()?;
    let mut subject = Vec::new();
    for e in req.subject_name().entries() {
        let k = e
            .object()
            .nid()
            .short_name()
            .unwrap_or("UNKNOWN")
            .to_string();
        let v = e
            .data()
            .to_string()
            .map_err(|_| CaError::MalformedCsr(format!("subject attribute {k} is not a string")))?;
        subject.push((k, v));
    }
    Ok(ParsedCsr {
        der,
        public_key,
        spki_der,
        key,
        subject,
        sans,
        challenge_password,
    })
}

struct Requested {
    spki_der: Vec<u8>,
    sans: Vec<San>,
    challenge_password: Option<String>,
}

/// The key as DER SubjectPublicKeyInfo, the requested SANs and the challengePassword.
fn requested(der: &[u8]) -> Result<Requested> {
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der)
        .map_err(|e| CaError::MalformedCsr(format!("cannot parse request attributes: {e}")))?;
    let spki_der = csr.certification_request_info.subject_pki.raw.to_vec();
    let challenge = csr
        .certification_request_info
        .iter_attributes()
        .find_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ChallengePassword(p) => Some(p.0.clone()),
            _ => None,
        });
    let mut out: Vec<San> = Vec::new();
    let Some(exts) = csr.requested_extensions() else {
        return Ok(Requested {
            spki_der,
            sans: out,
            challenge_password: challenge,
        });
    };
    for ext in exts {
        let ParsedExtension::SubjectAlternativeName(san) = ext else {
            continue;
        };
        for gn in &san.general_names {
            let s = match gn {
                GeneralName::DNSName(d) => {
                    San::Dns(names::normalize_dns(d).map_err(CaError::MalformedCsr)?)
                }
                GeneralName::IPAddress(b) => San::Ip(match b.len() {
                    4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).expect("len 4")),
                    16 => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).expect("len 16")),
                    n => return Err(CaError::MalformedCsr(format!("IP SAN of {n} bytes"))),
                }),
                GeneralName::RFC822Name(e) => San::Email(e.to_string()),
                GeneralName::URI(u) => San::Uri(u.to_string()),
                other => {
                    return Err(CaError::MalformedCsr(format!(
                        "unsupported subjectAltName type {other:?}"
                    )));
                }
            };
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    Ok(Requested {
        spki_der,
        sans: out,
        challenge_password: challenge,
    })
}
