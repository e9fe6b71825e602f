//! Parse and verify PKCS#10 certificate signing requests.

use openssl::pkey::{PKey, Public};
use openssl::x509::{X509Name, X509Req};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{CaError, Result};
use crate::key::{self, KeyInfo};
use crate::names::{self, San};
use crate::signature;

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
/// Read with x509-parser, the key built from its components and the
/// signature checked over the raw request info (see [`crate::signature`]):
/// OpenSSL 3.0's request parser spends ~120 µs decoding the key.
pub fn parse(input: &[u8]) -> Result<ParsedCsr> {
    let bad = || CaError::MalformedCsr("not a PKCS#10 request in PEM or DER".into());
    let pem;
    let input = if input.trim_ascii_start().starts_with(b"-----") {
        pem = x509_parser::pem::parse_x509_pem(input.trim_ascii_start())
            .map_err(|_| bad())?
            .1;
        if !matches!(
            pem.label.as_str(),
            "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST"
        ) {
            return Err(bad());
        }
        &pem.contents[..]
    } else {
        input
    };
    let (rest, csr) = X509CertificationRequest::from_der(input).map_err(|_| bad())?;
    let der = input[..input.len() - rest.len()].to_vec();
    let info = &csr.certification_request_info;
    let Requested {
        spki_der: raw_spki,
        sans,
        challenge_password,
    } = requested(&csr)?;
    let public_key = key::public_from_spki(&raw_spki)?;
    let key = key::describe(&public_key)?;
    let alg = csr.signature_algorithm.algorithm.to_id_string();
    let ok = signature::verify(&alg, info.raw, &csr.signature_value.data, &public_key)
        .unwrap_or_else(|| {
            // An algorithm the fast check does not know (RSA-PSS): OpenSSL's.
            crate::verified(X509Req::from_der(&der).and_then(|r| r.verify(&public_key)))
        });
    if !ok {
        return Err(CaError::BadCsrSignature);
    }
    // Re-encoded, so that keys compare equal however the CSR encoded its point.
    let spki_der = public_key.public_key_to_der()?;
    // OpenSSL reads the Name (no key in it: cheap) for its short names and
    // its conversion of every string type to UTF-8.
    let name = X509Name::from_der(info.subject.as_raw())
        .map_err(|_| CaError::MalformedCsr("the subject is not a Name".into()))?;
    let mut subject = Vec::new();
    for e in name.entries() {
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
fn requested(csr: &X509CertificationRequest<'_>) -> Result<Requested> {
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
