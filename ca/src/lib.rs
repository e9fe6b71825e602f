//! Signet CA core: pure functions over bytes and keys.
//!
//! Nothing here knows about HTTP, SQL or async. The server crate resolves
//! policy into a [`issue::CertPlan`] and hands it to [`issue::sign`].

pub mod authority;
pub mod crl;
pub mod csr;
pub mod der;
pub mod error;
pub mod issue;
pub mod jose;
pub mod key;
pub mod names;
pub mod ocsp;
pub mod raw_cert;
pub mod scep;
pub mod serial;
pub mod signature;

pub use error::CaError;

/// The outcome of an OpenSSL check that may simply say "no" (a signature that
/// does not verify). OpenSSL leaves errors on the thread's queue in that case,
/// and a stale queue makes the next TLS read or write on the same thread fail,
/// dropping an unrelated connection. So every such check goes through here,
/// which drains the queue.
pub fn verified(r: Result<bool, openssl::error::ErrorStack>) -> bool {
    let ok = r.unwrap_or(false);
    let _ = openssl::error::ErrorStack::get();
    ok
}

/// Was `cert` signed by `key`?
pub fn signed_by<T: openssl::pkey::HasPublic>(
    cert: &openssl::x509::X509Ref,
    key: &openssl::pkey::PKeyRef<T>,
) -> bool {
    verified(cert.verify(key))
}

/// Are two keys the same public key? (Drains the queue like `verified`:
/// comparing keys of different types leaves an error behind.)
pub fn same_public_key<A: openssl::pkey::HasPublic, B: openssl::pkey::HasPublic>(
    a: &openssl::pkey::PKeyRef<A>,
    b: &openssl::pkey::PKeyRef<B>,
) -> bool {
    let same = a.public_eq(b);
    let _ = openssl::error::ErrorStack::get();
    same
}

/// An ASN.1 time as Unix seconds.
pub fn unix_time(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, openssl::error::ErrorStack> {
    let d = openssl::asn1::Asn1Time::from_unix(0)?.diff(t)?;
    Ok(i64::from(d.days) * 86400 + i64::from(d.secs))
}

/// PEM-encode DER (RFC 7468: 64-column base64 lines) without parsing it.
pub fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n").into_bytes();
    for line in b64.as_bytes().chunks(64) {
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.extend_from_slice(format!("-----END {label}-----\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn pem_matches_openssl() {
        let key = crate::key::KeyType::EcP256.generate().unwrap();
        let der = key.public_key_to_der().unwrap();
        assert_eq!(
            super::pem("PUBLIC KEY", &der),
            key.public_key_to_pem().unwrap()
        );
    }
}
