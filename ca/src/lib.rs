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
pub mod serial;

pub use error::CaError;
