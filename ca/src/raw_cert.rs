//! A certificate read without OpenSSL: what SCEP needs of a device's
//! certificate (who issued it, its serial, its key, whether we signed it).
//! OpenSSL 3.0 spends ~100–150 µs decoding the key of every certificate it
//! parses; this costs a few microseconds (see [`crate::signature`]).

use openssl::pkey::{HasPublic, PKey, PKeyRef, Public};
use openssl::x509::X509;
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser;

use crate::error::Result;
use crate::{key, signature};

#[derive(Clone)]
pub struct RawCert {
    pub der: Vec<u8>,
    /// The issuer Name, DER.
    pub issuer: Vec<u8>,
    /// The serial INTEGER's content octets, as encoded.
    pub serial: Vec<u8>,
    /// The subject, for logs (RFC 4514 style).
    pub subject: String,
    spki: Vec<u8>,
    tbs: Vec<u8>,
    signature_alg: String,
    signature: Vec<u8>,
}

impl RawCert {
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (rest, c) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(der)
            .map_err(|e| format!("a certificate does not parse: {e}"))?;
        if !rest.is_empty() {
            return Err("trailing bytes after a certificate".into());
        }
        let tbs = &c.tbs_certificate;
        Ok(Self {
            der: der.to_vec(),
            issuer: tbs.issuer.as_raw().to_vec(),
            serial: tbs.raw_serial().to_vec(),
            subject: tbs.subject.to_string(),
            spki: tbs.subject_pki.raw.to_vec(),
            tbs: tbs.as_ref().to_vec(),
            signature_alg: c.signature_algorithm.algorithm.to_id_string(),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// The serial without leading zero octets, as [`crate::serial::to_hex`]
    /// and IssuerAndSerialNumber comparisons want it.
    pub fn serial_unsigned(&self) -> &[u8] {
        let zeros = self.serial.iter().take_while(|b| **b == 0).count();
        &self.serial[zeros..]
    }

    pub fn public_key(&self) -> Result<PKey<Public>> {
        key::public_from_spki(&self.spki)
    }

    /// Was this certificate signed by `key`?
    pub fn signed_by<T: HasPublic>(&self, key: &PKeyRef<T>) -> bool {
        signature::verify(&self.signature_alg, &self.tbs, &self.signature, key).unwrap_or_else(
            || {
                X509::from_der(&self.der)
                    .map(|c| crate::signed_by(&c, key))
                    .unwrap_or(false)
            },
        )
    }

    /// IssuerAndSerialNumber (CMS) naming this certificate.
    pub fn issuer_and_serial(&self) -> Vec<u8> {
        crate::der::seq(&[self.issuer.clone(), crate::der::wrap(0x02, &self.serial)].concat())
    }

    pub fn to_x509(&self) -> Result<X509> {
        Ok(X509::from_der(&self.der)?)
    }
}

impl TryFrom<&openssl::x509::X509Ref> for RawCert {
    type Error = crate::CaError;
    fn try_from(c: &openssl::x509::X509Ref) -> Result<Self> {
        Self::from_der(&c.to_der()?).map_err(crate::CaError::InvalidCertificate)
    }
}
