use thiserror::Error;

/// Errors from the CA core. Each variant carries enough detail to tell a
/// requester exactly what was wrong with what they sent.
#[derive(Debug, Error)]
pub enum CaError {
    #[error("malformed CSR: {0}")]
    MalformedCsr(String),
    #[error("CSR signature does not verify")]
    BadCsrSignature,
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    #[error("weak key: {0}")]
    WeakKey(String),
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("invalid key: {0}")]
    InvalidKey(String),
    #[error("sealed key could not be opened (wrong master key or corrupted data)")]
    Unseal,
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    #[error("crypto: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
}

pub type Result<T, E = CaError> = std::result::Result<T, E>;
