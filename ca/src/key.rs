//! Key generation, description and sealing (encryption at rest).

use std::fmt;
use std::str::FromStr;

use std::sync::OnceLock;

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private, Public};
use openssl::rand::rand_bytes;
use openssl::rsa::Rsa;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use serde::{Deserialize, Serialize};

use crate::error::{CaError, Result};

/// Key types a CA (or a server-generated leaf) can be created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    #[serde(rename = "ec-p256")]
    EcP256,
    #[serde(rename = "ec-p384")]
    EcP384,
    #[serde(rename = "ec-p521")]
    EcP521,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl KeyType {
    pub const ALL: [KeyType; 7] = [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::EcP521,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::Ed25519,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcP256 => "ec-p256",
            KeyType::EcP384 => "ec-p384",
            KeyType::EcP521 => "ec-p521",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
            KeyType::Ed25519 => "ed25519",
        }
    }

    pub fn generate(self) -> Result<PKey<Private>> {
        let ec = |nid| -> Result<PKey<Private>> {
            let group = EcGroup::from_curve_name(nid)?;
            Ok(PKey::from_ec_key(EcKey::generate(&group)?)?)
        };
        match self {
            KeyType::EcP256 => ec(Nid::X9_62_PRIME256V1),
            KeyType::EcP384 => ec(Nid::SECP384R1),
            KeyType::EcP521 => ec(Nid::SECP521R1),
            KeyType::Rsa2048 => Ok(PKey::from_rsa(Rsa::generate(2048)?)?),
            KeyType::Rsa3072 => Ok(PKey::from_rsa(Rsa::generate(3072)?)?),
            KeyType::Rsa4096 => Ok(PKey::from_rsa(Rsa::generate(4096)?)?),
            KeyType::Ed25519 => Ok(PKey::generate_ed25519()?),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown key type {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// What a public key is, in the terms templates speak: algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// "rsa", "ec" or "ed25519".
    pub algorithm: String,
    /// RSA modulus bits, EC field bits (256/384/521), 256 for Ed25519.
    pub bits: u32,
}

impl KeyInfo {
    /// Short form stored with certificates, e.g. "ec-p256", "rsa-2048".
    pub fn label(&self) -> String {
        match self.algorithm.as_str() {
            "ec" => format!("ec-p{}", self.bits),
            "rsa" => format!("rsa-{}", self.bits),
            other => other.to_string(),
        }
    }
}

/// Describe a public key, rejecting algorithms and sizes a CA must not
/// certify (RSA < 2048 or > 8192, curves other than P-256/384/521).
pub fn describe<T: HasPublic>(key: &PKeyRef<T>) -> Result<KeyInfo> {
    match key.id() {
        Id::RSA => {
            let bits = key.bits();
            if bits < 2048 {
                return Err(CaError::WeakKey(format!(
                    "RSA key of {bits} bits; at least 2048 are required"
                )));
            }
            if bits > 8192 {
                return Err(CaError::UnsupportedKey(format!(
                    "RSA key of {bits} bits; at most 8192 are supported"
                )));
            }
            let e = key.rsa()?.e().to_owned()?;
            if e.is_bit_set(0) && e.num_bits() > 1 {
                Ok(KeyInfo {
                    algorithm: "rsa".into(),
                    bits,
                })
            } else {
                Err(CaError::WeakKey(
                    "RSA public exponent must be odd and > 1".into(),
                ))
            }
        }
        Id::EC => {
            let ec = key.ec_key()?;
            let nid = ec.group().curve_name();
            let bits = match nid {
                Some(Nid::X9_62_PRIME256V1) => 256,
                Some(Nid::SECP384R1) => 384,
                Some(Nid::SECP521R1) => 521,
                other => {
                    let name = other
                        .and_then(|n| n.short_name().ok())
                        .unwrap_or("explicit parameters");
                    return Err(CaError::UnsupportedKey(format!(
                        "EC curve {name}; only P-256, P-384 and P-521 are accepted"
                    )));
                }
            };
            // These curves have cofactor 1: a point on the curve (and not at
            // infinity) has the full order, so EC_KEY_check_key's scalar
            // multiplication would only repeat this, at the cost of a signature.
            let mut ctx = BigNumContext::new()?;
            let point = ec.public_key();
            if point.is_infinity(ec.group()) || !point.is_on_curve(ec.group(), &mut ctx)? {
                return Err(CaError::WeakKey(
                    "EC public point is not on the curve".into(),
                ));
            }
            Ok(KeyInfo {
                algorithm: "ec".into(),
                bits,
            })
        }
        Id::ED25519 => Ok(KeyInfo {
            algorithm: "ed25519".into(),
            bits: 256,
        }),
        other => Err(CaError::UnsupportedKey(format!(
            "key algorithm id {} (accepted: RSA, EC P-256/384/521, Ed25519)",
            other.as_raw()
        ))),
    }
}

/// The group of P-256, P-384 or P-521, built once (building one costs more
/// than an ECDSA verification).
pub fn named_group(nid: Nid) -> Option<&'static EcGroup> {
    static GROUPS: OnceLock<[EcGroup; 3]> = OnceLock::new();
    let groups = GROUPS.get_or_init(|| {
        [Nid::X9_62_PRIME256V1, Nid::SECP384R1, Nid::SECP521R1]
            .map(|nid| EcGroup::from_curve_name(nid).expect("built-in curve"))
    });
    groups.iter().find(|g| g.curve_name() == Some(nid))
}

/// A public key from DER SubjectPublicKeyInfo.
///
/// EC and RSA keys are built directly from their numbers. OpenSSL 3.0's
/// generic decoder spends about 0.13 ms per key searching its providers, and
/// a key it returns must go through an encoder again when put into a
/// certificate; keys built this way skip both. Other keys take the generic
/// path.
pub fn public_from_spki(spki: &[u8]) -> Result<PKey<Public>> {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    use x509_parser::x509::SubjectPublicKeyInfo;
    let generic = || {
        PKey::public_key_from_der(spki)
            .map_err(|e| CaError::UnsupportedKey(format!("cannot read the public key: {e}")))
    };
    let Ok((rest, info)) = SubjectPublicKeyInfo::from_der(spki) else {
        return generic();
    };
    if !rest.is_empty() {
        return generic();
    }
    match info.parsed() {
        Ok(PublicKey::EC(point)) => {
            let curve = info
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            let nid = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => Nid::X9_62_PRIME256V1,
                Some("1.3.132.0.34") => Nid::SECP384R1,
                Some("1.3.132.0.35") => Nid::SECP521R1,
                _ => return generic(),
            };
            let group = named_group(nid).expect("listed curve");
            let mut ctx = BigNumContext::new()?;
            let point = EcPoint::from_bytes(group, point.data(), &mut ctx)
                .map_err(|_| CaError::WeakKey("EC public point is not on the curve".into()))?;
            Ok(PKey::from_ec_key(EcKey::from_public_key(group, &point)?)?)
        }
        Ok(PublicKey::RSA(rsa)) => {
            let rsa = Rsa::from_public_components(
                BigNum::from_slice(rsa.modulus)?,
                BigNum::from_slice(rsa.exponent)?,
            )?;
            Ok(PKey::from_rsa(rsa)?)
        }
        _ => generic(),
    }
}

/// The digest to sign with for a given signing key (Ed25519 signs the message itself).
pub fn signing_digest<T: HasPublic>(key: &PKeyRef<T>) -> MessageDigest {
    match key.id() {
        Id::ED25519 => MessageDigest::null(),
        Id::EC if key.bits() > 384 => MessageDigest::sha512(),
        Id::EC if key.bits() > 256 => MessageDigest::sha384(),
        _ => MessageDigest::sha256(),
    }
}

/// Parse a private key from PEM (PKCS#8, PKCS#1 or SEC1), optionally encrypted.
pub fn private_from_pem(pem: &[u8], passphrase: Option<&[u8]>) -> Result<PKey<Private>> {
    let r = match passphrase {
        Some(p) => PKey::private_key_from_pem_passphrase(pem, p),
        None => PKey::private_key_from_pem(pem),
    };
    r.map_err(|e| CaError::InvalidKey(format!("cannot parse private key PEM: {e}")))
}

const SEAL_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Encrypt bytes (a PKCS#8 DER key) with AES-256-GCM under the master key.
/// Layout: version(1) ‖ nonce(12) ‖ tag(16) ‖ ciphertext. `aad` binds the
/// blob to its owner (e.g. the CA id) so blobs cannot be swapped between rows.
pub fn seal(master: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rand_bytes(&mut nonce)?;
    let mut tag = [0u8; TAG_LEN];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        master,
        Some(&nonce),
        aad,
        plaintext,
        &mut tag,
    )?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + TAG_LEN + ct.len());
    out.push(SEAL_VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub fn open(master: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != SEAL_VERSION {
        return Err(CaError::Unseal);
    }
    let nonce = &sealed[1..1 + NONCE_LEN];
    let tag = &sealed[1 + NONCE_LEN..1 + NONCE_LEN + TAG_LEN];
    let ct = &sealed[1 + NONCE_LEN + TAG_LEN..];
    decrypt_aead(Cipher::aes_256_gcm(), master, Some(nonce), aad, ct, tag)
        .map_err(|_| CaError::Unseal)
}

/// Seal a private key as PKCS#8 DER.
pub fn seal_key(master: &[u8; 32], aad: &[u8], key: &PKeyRef<Private>) -> Result<Vec<u8>> {
    seal(master, aad, &key.private_key_to_pkcs8()?)
}

pub fn open_key(master: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<PKey<Private>> {
    let der = open(master, aad, sealed)?;
    PKey::private_key_from_pkcs8(&der).map_err(|e| CaError::InvalidKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_from_spki_matches_openssl_and_checks_points() {
        let ed = PKey::generate_ed25519().unwrap();
        for key in [
            KeyType::EcP256.generate().unwrap(),
            KeyType::EcP384.generate().unwrap(),
            KeyType::Rsa2048.generate().unwrap(),
            PKey::private_key_from_der(&ed.private_key_to_der().unwrap()).unwrap(),
        ] {
            let der = key.public_key_to_der().unwrap();
            let back = public_from_spki(&der).unwrap();
            assert_eq!(back.public_key_to_der().unwrap(), der);
            assert!(back.public_eq(&key));
        }
        // A compressed point decodes to the same key.
        let ec = KeyType::EcP256.generate().unwrap().ec_key().unwrap();
        let mut ctx = BigNumContext::new().unwrap();
        let compressed = ec
            .public_key()
            .to_bytes(
                ec.group(),
                openssl::ec::PointConversionForm::COMPRESSED,
                &mut ctx,
            )
            .unwrap();
        let uncompressed =
            PKey::from_ec_key(EcKey::from_public_key(ec.group(), ec.public_key()).unwrap())
                .unwrap()
                .public_key_to_der()
                .unwrap();
        let mut spki = uncompressed[..uncompressed.len() - 65].to_vec();
        spki.extend_from_slice(&compressed);
        // Fix the lengths: SEQUENCE and BIT STRING both shrink by 32.
        spki[1] -= 32;
        let bit_string_len = spki.len() - compressed.len() - 2;
        spki[bit_string_len] -= 32;
        assert_eq!(
            public_from_spki(&spki)
                .unwrap()
                .public_key_to_der()
                .unwrap(),
            uncompressed
        );
        // A point off the curve is refused.
        let mut off = uncompressed.clone();
        let last = off.len() - 1;
        off[last] ^= 1;
        assert!(public_from_spki(&off).is_err());
        assert!(public_from_spki(b"not DER").is_err());
    }

    #[test]
    fn seal_round_trip_and_tamper_detection() {
        let master = [7u8; 32];
        let key = KeyType::EcP256.generate().unwrap();
        let sealed = seal_key(&master, b"ca-1", &key).unwrap();
        let back = open_key(&master, b"ca-1", &sealed).unwrap();
        assert!(back.public_eq(&key));
        // Wrong AAD, wrong key and a flipped bit must all fail.
        assert!(open_key(&master, b"ca-2", &sealed).is_err());
        assert!(open_key(&[8u8; 32], b"ca-1", &sealed).is_err());
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open_key(&master, b"ca-1", &bad).is_err());
        assert!(open(&master, b"", &[]).is_err());
    }

    #[test]
    fn describe_accepts_and_rejects() {
        for kt in KeyType::ALL {
            if matches!(kt, KeyType::Rsa3072 | KeyType::Rsa4096) {
                continue; // slow to generate; 2048 covers RSA
            }
            let k = kt.generate().unwrap();
            let info = describe(&k).unwrap();
            assert_eq!(info.label(), kt.as_str());
        }
        let weak = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        assert!(matches!(describe(&weak), Err(CaError::WeakKey(_))));
        let k1 = EcKey::generate(&EcGroup::from_curve_name(Nid::SECP256K1).unwrap()).unwrap();
        let k1 = PKey::from_ec_key(k1).unwrap();
        assert!(matches!(describe(&k1), Err(CaError::UnsupportedKey(_))));
    }

    #[test]
    fn key_type_serde_uses_the_documented_names() {
        for kt in KeyType::ALL {
            let v = serde_json::to_value(kt).unwrap();
            assert_eq!(v, kt.as_str());
            assert_eq!(serde_json::from_value::<KeyType>(v).unwrap(), kt);
        }
    }

    #[test]
    fn key_type_parse() {
        assert_eq!("rsa-3072".parse::<KeyType>().unwrap(), KeyType::Rsa3072);
        assert!("dsa".parse::<KeyType>().unwrap_err().contains("ec-p256"));
    }
}
