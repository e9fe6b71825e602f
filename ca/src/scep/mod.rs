//! SCEP (RFC 8894) message codec: read a client's pkiMessage, write CertRep
//! replies and degenerate certs-only SignedData.
//!
//! OpenSSL does the cryptography (RSA, the envelope ciphers) and reads BER;
//! the SignedData around it is read and written here with the DER helpers,
//! because OpenSSL's safe API cannot reach the signed attributes SCEP lives in.

mod build;
mod parse;

pub use build::{
    Attrs, csr_with_challenge, degenerate, envelope, self_signed_signer, sign_message,
};
pub use parse::{IssuerAndSerial, PkiMessage, parse, parse_issuer_and_serial};

use openssl::hash::MessageDigest;
use openssl::symm::Cipher;

pub const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
pub const OID_ENVELOPED_DATA: &str = "1.2.840.113549.1.7.3";
pub const OID_DATA: &str = "1.2.840.113549.1.7.1";
pub(crate) const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
pub(crate) const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
pub(crate) const OID_SIGNING_TIME: &str = "1.2.840.113549.1.9.5";
pub(crate) const OID_MESSAGE_TYPE: &str = "2.16.840.1.113733.1.9.2";
pub(crate) const OID_PKI_STATUS: &str = "2.16.840.1.113733.1.9.3";
pub(crate) const OID_FAIL_INFO: &str = "2.16.840.1.113733.1.9.4";
pub(crate) const OID_SENDER_NONCE: &str = "2.16.840.1.113733.1.9.5";
pub(crate) const OID_RECIPIENT_NONCE: &str = "2.16.840.1.113733.1.9.6";
pub(crate) const OID_TRANSACTION_ID: &str = "2.16.840.1.113733.1.9.7";
pub(crate) const OID_FAIL_INFO_TEXT: &str = "1.3.6.1.5.5.7.24.1";

/// messageType values (RFC 8894 §3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    CertRep = 3,
    RenewalReq = 17,
    PkcsReq = 19,
    CertPoll = 20,
    GetCert = 21,
    GetCrl = 22,
}

impl MessageType {
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code.trim() {
            "3" => Self::CertRep,
            "17" => Self::RenewalReq,
            "19" => Self::PkcsReq,
            "20" => Self::CertPoll,
            "21" => Self::GetCert,
            "22" => Self::GetCrl,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkiStatus {
    Success = 0,
    Failure = 2,
    Pending = 3,
}

/// failInfo values (RFC 8894 §3.2.1.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    BadAlg = 0,
    BadMessageCheck = 1,
    BadRequest = 2,
    BadTime = 3,
    BadCertId = 4,
}

impl FailInfo {
    pub fn name(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadMessageCheck => "badMessageCheck",
            Self::BadRequest => "badRequest",
            Self::BadTime => "badTime",
            Self::BadCertId => "badCertId",
        }
    }
}

/// Why a decodable message is refused: becomes a FAILURE CertRep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub info: FailInfo,
    pub text: String,
}

impl Failure {
    pub fn new(info: FailInfo, text: impl Into<String>) -> Self {
        Failure {
            info,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.info.name(), self.text)
    }
}

/// Digests a signer may use. SHA-1 is legacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    pub(crate) fn from_oid(oid: &[u8]) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|d| crate::der::oid(d.oid())[2..] == *oid)
    }
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Self::Sha1 => "1.3.14.3.2.26",
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        }
    }
    pub(crate) fn md(self) -> MessageDigest {
        match self {
            Self::Sha1 => MessageDigest::sha1(),
            Self::Sha256 => MessageDigest::sha256(),
            Self::Sha384 => MessageDigest::sha384(),
            Self::Sha512 => MessageDigest::sha512(),
        }
    }
    pub fn is_legacy(self) -> bool {
        self == Self::Sha1
    }
}

/// Content-encryption ciphers of an envelope. DES and 3DES are legacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCipher {
    Des,
    Des3,
    Aes128,
    Aes192,
    Aes256,
}

impl ContentCipher {
    const ALL: [Self; 5] = [
        Self::Des,
        Self::Des3,
        Self::Aes128,
        Self::Aes192,
        Self::Aes256,
    ];
    pub(crate) fn from_oid(oid: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| crate::der::oid(c.oid())[2..] == *oid)
    }
    pub(crate) fn oid(self) -> &'static str {
        match self {
            Self::Des => "1.3.14.3.2.7",
            Self::Des3 => "1.2.840.113549.3.7",
            Self::Aes128 => "2.16.840.1.101.3.4.1.2",
            Self::Aes192 => "2.16.840.1.101.3.4.1.22",
            Self::Aes256 => "2.16.840.1.101.3.4.1.42",
        }
    }
    pub(crate) fn cipher(self) -> Cipher {
        match self {
            Self::Des => Cipher::des_cbc(),
            Self::Des3 => Cipher::des_ede3_cbc(),
            Self::Aes128 => Cipher::aes_128_cbc(),
            Self::Aes192 => Cipher::aes_192_cbc(),
            Self::Aes256 => Cipher::aes_256_cbc(),
        }
    }
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Des | Self::Des3)
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Des => "DES-CBC",
            Self::Des3 => "DES-EDE3-CBC",
            Self::Aes128 => "AES-128-CBC",
            Self::Aes192 => "AES-192-CBC",
            Self::Aes256 => "AES-256-CBC",
        }
    }
}

/// Single DES lives in OpenSSL 3's legacy provider. Load it once, next to the
/// default provider, so old devices' envelopes can be opened. Returns whether
/// it is available. The default provider is loaded explicitly too: once any
/// provider is loaded, OpenSSL no longer activates the default one on first
/// use, and everything else (even the random generator) would then fail.
pub fn enable_legacy_ciphers() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        use openssl::provider::Provider;
        let (Ok(default), Ok(legacy)) = (
            Provider::try_load(None, "default", true),
            Provider::try_load(None, "legacy", true),
        ) else {
            return false;
        };
        // Kept loaded for the life of the process.
        std::mem::forget((default, legacy));
        true
    })
}
