//! Checking an X.509-style signature (CSR, certificate) from its parts.
//!
//! OpenSSL 3.0 decodes the key of every certificate or request it parses
//! through its provider decoders, about 100–150 µs each on this class of
//! machine, which was a tenth of a SCEP enrolment. Parsing with x509-parser
//! and building the key from its components (`key::public_from_spki`) costs
//! a few microseconds; this module then checks the signature over the raw
//! to-be-signed bytes, exactly what `X509_REQ_verify`/`X509_verify` check.

use openssl::hash::MessageDigest;
use openssl::pkey::{HasPublic, Id, PKeyRef};
use openssl::sign::Verifier;

/// Does `signature` over `tbs` verify with `key` under the algorithm named by
/// `oid` (dotted)? None when the algorithm is not one handled here (RSA-PSS,
/// say): the caller then asks OpenSSL. A key of the wrong type is a `false`.
pub fn verify<T: HasPublic>(
    oid: &str,
    tbs: &[u8],
    signature: &[u8],
    key: &PKeyRef<T>,
) -> Option<bool> {
    let (family, digest) = match oid {
        "1.2.840.113549.1.1.5" => (Id::RSA, Some(MessageDigest::sha1())),
        "1.2.840.113549.1.1.14" => (Id::RSA, Some(MessageDigest::sha224())),
        "1.2.840.113549.1.1.11" => (Id::RSA, Some(MessageDigest::sha256())),
        "1.2.840.113549.1.1.12" => (Id::RSA, Some(MessageDigest::sha384())),
        "1.2.840.113549.1.1.13" => (Id::RSA, Some(MessageDigest::sha512())),
        "1.2.840.10045.4.1" => (Id::EC, Some(MessageDigest::sha1())),
        "1.2.840.10045.4.3.1" => (Id::EC, Some(MessageDigest::sha224())),
        "1.2.840.10045.4.3.2" => (Id::EC, Some(MessageDigest::sha256())),
        "1.2.840.10045.4.3.3" => (Id::EC, Some(MessageDigest::sha384())),
        "1.2.840.10045.4.3.4" => (Id::EC, Some(MessageDigest::sha512())),
        "1.3.101.112" => (Id::ED25519, None),
        "1.3.101.113" => (Id::ED448, None),
        _ => return None,
    };
    if key.id() != family {
        return Some(false);
    }
    let ok = match digest {
        Some(md) => Verifier::new(md, key).and_then(|mut v| v.verify_oneshot(signature, tbs)),
        None => {
            Verifier::new_without_digest(key).and_then(|mut v| v.verify_oneshot(signature, tbs))
        }
    };
    Some(crate::verified(ok))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyType;
    use openssl::sign::Signer;

    #[test]
    fn checks_each_family_and_refuses_the_wrong_key_or_bytes() {
        for (kt, oid) in [
            (KeyType::Rsa2048, "1.2.840.113549.1.1.11"),
            (KeyType::EcP256, "1.2.840.10045.4.3.2"),
            (KeyType::Ed25519, "1.3.101.112"),
        ] {
            let key = kt.generate().unwrap();
            let sig = match kt {
                KeyType::Ed25519 => Signer::new_without_digest(&key)
                    .unwrap()
                    .sign_oneshot_to_vec(b"tbs")
                    .unwrap(),
                _ => Signer::new(MessageDigest::sha256(), &key)
                    .unwrap()
                    .sign_oneshot_to_vec(b"tbs")
                    .unwrap(),
            };
            assert_eq!(verify(oid, b"tbs", &sig, &key), Some(true), "{oid}");
            assert_eq!(verify(oid, b"tbx", &sig, &key), Some(false), "{oid}");
            let other = KeyType::EcP384.generate().unwrap();
            assert_eq!(verify(oid, b"tbs", &sig, &other), Some(false), "{oid}");
        }
        let key = KeyType::EcP256.generate().unwrap();
        assert_eq!(verify("1.2.840.113549.1.1.10", b"", b"", &key), None);
    }
}
