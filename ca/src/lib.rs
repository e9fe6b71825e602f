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
pub mod scep;
pub mod serial;

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
