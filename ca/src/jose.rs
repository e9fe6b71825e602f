//! JOSE for ACME (RFC 7515/7517/7638, RFC 8555 §6.2): JWK parsing,
//! thumbprints and signature checks over an algorithm allow-list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, PKeyRef, Public};
use openssl::rsa::{Padding, Rsa};
use openssl::sign::{RsaPssSaltlen, Signer, Verifier};
use serde_json::Value;
use thiserror::Error;

/// Signature algorithms accepted on ACME requests.
pub const ALLOWED_ALGS: [&str; 6] = ["ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"];
/// MAC algorithms accepted on an External Account Binding.
pub const EAB_ALGS: [&str; 3] = ["HS256", "HS384", "HS512"];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("unsupported algorithm {0:?}")]
    BadAlgorithm(String),
    #[error("invalid JWK: {0}")]
    BadJwk(String),
    #[error("{0}")]
    Malformed(String),
}

type Result<T> = std::result::Result<T, JoseError>;

pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Strict base64url without padding, as JOSE requires.
pub fn b64_decode(s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JoseError::Malformed("invalid base64url (unpadded) encoding".into()))
}

/// A parsed public JWK and its RFC 7638 thumbprint.
#[derive(Clone)]
pub struct Jwk {
    pub key: PKey<Public>,
    pub thumbprint: String,
}

fn member<'a>(v: &'a Value, name: &str) -> Result<&'a str> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| JoseError::BadJwk(format!("missing or non-string member {name:?}")))
}

/// The curve's group (built once: building one costs more than a verify)
/// and its coordinate length.
fn ec_curve(crv: &str) -> Result<(&'static EcGroup, usize)> {
    let (nid, len) = match crv {
        "P-256" => (Nid::X9_62_PRIME256V1, 32),
        "P-384" => (Nid::SECP384R1, 48),
        "P-521" => (Nid::SECP521R1, 66),
        other => return Err(JoseError::BadJwk(format!("unsupported curve {other:?}"))),
    };
    Ok((crate::key::named_group(nid).expect("listed curve"), len))
}

/// Parse a public JWK (EC P-256/384/521, RSA ≥ 2048, OKP Ed25519).
pub fn parse_jwk(v: &Value) -> Result<Jwk> {
    if v.get("d").is_some() {
        return Err(JoseError::BadJwk("a private key was sent".into()));
    }
    let kty = member(v, "kty")?;
    let (key, canonical) = match kty {
        "EC" => {
            let (crv, x, y) = (member(v, "crv")?, member(v, "x")?, member(v, "y")?);
            let (group, len) = ec_curve(crv)?;
            let (xb, yb) = (b64_decode(x)?, b64_decode(y)?);
            if xb.len() != len || yb.len() != len {
                return Err(JoseError::BadJwk(format!(
                    "{crv} coordinates must be {len} bytes"
                )));
            }
            // Decoding the uncompressed point checks it is on the curve; these
            // curves have cofactor 1, so that is the whole validation and the
            // scalar multiplication EC_KEY_check_key adds buys nothing.
            let octets = [&[4u8][..], &xb, &yb].concat();
            let mut ctx = BigNumContext::new().map_err(ssl)?;
            let ec = EcPoint::from_bytes(group, &octets, &mut ctx)
                .and_then(|p| EcKey::from_public_key(group, &p))
                .map_err(|_| JoseError::BadJwk("EC point is not on the curve".into()))?;
            let key = PKey::from_ec_key(ec).map_err(ssl)?;
            (
                key,
                format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#),
            )
        }
        "RSA" => {
            let (n, e) = (member(v, "n")?, member(v, "e")?);
            let rsa = Rsa::from_public_components(
                BigNum::from_slice(&b64_decode(n)?).map_err(ssl)?,
                BigNum::from_slice(&b64_decode(e)?).map_err(ssl)?,
            )
            .map_err(ssl)?;
            if rsa.size() * 8 < 2048 {
                return Err(JoseError::BadJwk(
                    "RSA keys must be at least 2048 bits".into(),
                ));
            }
            let key = PKey::from_rsa(rsa).map_err(ssl)?;
            (key, format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
        }
        "OKP" => {
            let (crv, x) = (member(v, "crv")?, member(v, "x")?);
            if crv != "Ed25519" {
                return Err(JoseError::BadJwk(format!("unsupported OKP curve {crv:?}")));
            }
            let key = PKey::public_key_from_raw_bytes(&b64_decode(x)?, Id::ED25519)
                .map_err(|_| JoseError::BadJwk("invalid Ed25519 public key".into()))?;
            (key, format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#))
        }
        other => return Err(JoseError::BadJwk(format!("unsupported kty {other:?}"))),
    };
    let digest = hash(MessageDigest::sha256(), canonical.as_bytes()).map_err(ssl)?;
    Ok(Jwk {
        key,
        thumbprint: b64(&digest),
    })
}

fn ssl(e: openssl::error::ErrorStack) -> JoseError {
    JoseError::BadJwk(e.to_string())
}

/// Does `alg` fit this key type (and curve)?
fn alg_fits(alg: &str, key: &PKeyRef<Public>) -> bool {
    match (alg, key.id()) {
        ("ES256", Id::EC) => key.bits() == 256,
        ("ES384", Id::EC) => key.bits() == 384,
        ("ES512", Id::EC) => key.bits() == 521,
        ("RS256" | "PS256", Id::RSA) => true,
        ("EdDSA", Id::ED25519) => true,
        _ => false,
    }
}

/// Verify a JWS signature. An algorithm outside the allow-list, or one that
/// does not match the key, is an error; a wrong signature is `Ok(false)`.
pub fn verify(alg: &str, key: &PKeyRef<Public>, signing_input: &[u8], sig: &[u8]) -> Result<bool> {
    if !ALLOWED_ALGS.contains(&alg) {
        return Err(JoseError::BadAlgorithm(alg.to_string()));
    }
    if !alg_fits(alg, key) {
        return Err(JoseError::BadAlgorithm(format!(
            "{alg} does not match the key type"
        )));
    }
    let ok = match alg {
        "ES256" | "ES384" | "ES512" => {
            let (md, len) = match alg {
                "ES256" => (MessageDigest::sha256(), 32),
                "ES384" => (MessageDigest::sha384(), 48),
                _ => (MessageDigest::sha512(), 66),
            };
            if sig.len() != 2 * len {
                return Ok(false);
            }
            let r = BigNum::from_slice(&sig[..len]).map_err(ssl)?;
            let s = BigNum::from_slice(&sig[len..]).map_err(ssl)?;
            let esig = EcdsaSig::from_private_components(r, s).map_err(ssl)?;
            let digest = hash(md, signing_input).map_err(ssl)?;
            let ec = key.ec_key().map_err(ssl)?;
            crate::verified(esig.verify(&digest, &ec))
        }
        "RS256" | "PS256" => {
            let mut v = Verifier::new(MessageDigest::sha256(), key).map_err(ssl)?;
            if alg == "PS256" {
                v.set_rsa_padding(Padding::PKCS1_PSS).map_err(ssl)?;
                v.set_rsa_mgf1_md(MessageDigest::sha256()).map_err(ssl)?;
                v.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)
                    .map_err(ssl)?;
            }
            v.update(signing_input).map_err(ssl)?;
            crate::verified(v.verify(sig))
        }
        _ => {
            let mut v = Verifier::new_without_digest(key).map_err(ssl)?;
            crate::verified(v.verify_oneshot(sig, signing_input))
        }
    };
    Ok(ok)
}

/// Verify an HMAC (EAB) in constant time.
pub fn verify_hmac(alg: &str, key: &[u8], signing_input: &[u8], mac: &[u8]) -> Result<bool> {
    let expected = hmac(alg, key, signing_input)?;
    Ok(expected.len() == mac.len() && openssl::memcmp::eq(&expected, mac))
}

pub fn hmac(alg: &str, key: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    let md = match alg {
        "HS256" => MessageDigest::sha256(),
        "HS384" => MessageDigest::sha384(),
        "HS512" => MessageDigest::sha512(),
        other => return Err(JoseError::BadAlgorithm(other.to_string())),
    };
    let pkey = PKey::hmac(key).map_err(ssl)?;
    let mut s = Signer::new(md, &pkey).map_err(ssl)?;
    s.update(input).map_err(ssl)?;
    s.sign_to_vec().map_err(ssl)
}

/// RFC 8555 §8.1 key authorization: token ‖ "." ‖ thumbprint.
pub fn key_authorization(token: &str, thumbprint: &str) -> String {
    format!("{token}.{thumbprint}")
}

/// The dns-01 TXT value: base64url(SHA-256(key authorization)).
pub fn dns01_txt(key_authz: &str) -> String {
    b64(&hash(MessageDigest::sha256(), key_authz.as_bytes()).expect("sha256"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::pkey::Private;

    fn ec_jwk(key: &PKey<Private>) -> Value {
        let ec = key.ec_key().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
            .unwrap();
        serde_json::json!({"kty":"EC","crv":"P-256","x":b64(&x.to_vec_padded(32).unwrap()),"y":b64(&y.to_vec_padded(32).unwrap())})
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA example from RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            parse_jwk(&jwk).unwrap().thumbprint,
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn es256_round_trip_and_alg_checks() {
        let key = PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
        )
        .unwrap();
        let jwk = parse_jwk(&ec_jwk(&key)).unwrap();
        let mut s = Signer::new(MessageDigest::sha256(), &key).unwrap();
        s.update(b"input").unwrap();
        let der = s.sign_to_vec().unwrap();
        let sig = EcdsaSig::from_der(&der).unwrap();
        let mut raw = sig.r().to_vec_padded(32).unwrap();
        raw.extend(sig.s().to_vec_padded(32).unwrap());
        assert_eq!(verify("ES256", &jwk.key, b"input", &raw), Ok(true));
        assert_eq!(verify("ES256", &jwk.key, b"other", &raw), Ok(false));
        assert_eq!(verify("ES256", &jwk.key, b"input", &raw[1..]), Ok(false));
        assert!(matches!(
            verify("ES384", &jwk.key, b"input", &raw),
            Err(JoseError::BadAlgorithm(_))
        ));
        assert!(matches!(
            verify("none", &jwk.key, b"input", &raw),
            Err(JoseError::BadAlgorithm(_))
        ));
        assert!(matches!(
            verify("HS256", &jwk.key, b"input", &raw),
            Err(JoseError::BadAlgorithm(_))
        ));
    }

    #[test]
    fn bad_jwks_are_refused() {
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA"}),
            serde_json::json!({"kty":"oct","k":"AA"}),
            serde_json::json!({"kty":"OKP","crv":"X25519","x":"AA"}),
            serde_json::json!({"kty":"RSA","n":"AQAB","e":"AQAB"}),
        ] {
            assert!(parse_jwk(&bad).is_err(), "{bad}");
        }
        // Right-sized coordinates of a point that is not on P-256 (1, 1).
        let one = b64(&[&[0u8; 31][..], &[1]].concat());
        let off = serde_json::json!({"kty":"EC","crv":"P-256","x":one,"y":one});
        assert_eq!(
            parse_jwk(&off).err(),
            Some(JoseError::BadJwk("EC point is not on the curve".into()))
        );
    }

    #[test]
    fn hmac_is_checked() {
        let mac = hmac("HS256", b"k", b"data").unwrap();
        assert_eq!(verify_hmac("HS256", b"k", b"data", &mac), Ok(true));
        assert_eq!(verify_hmac("HS256", b"x", b"data", &mac), Ok(false));
        assert!(verify_hmac("none", b"k", b"data", &mac).is_err());
    }
}
