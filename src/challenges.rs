//! One-time SCEP challenges: minted by the REST API and the CLI, spent by the
//! SCEP front (`scep::challenge`). Here, not in the front, so that the API
//! meets SCEP only through this and the store.

use crate::config::ChallengeMode;
use crate::core_state::Core;
use crate::store::{now, scep as db};

/// A freshly minted one-time challenge; `secret` is shown once.
pub struct Minted {
    pub id: String,
    pub secret: String,
    pub expires_at: i64,
}

pub const MAX_TTL_SECS: i64 = 30 * 86400;

/// Mint a one-time challenge for a profile in `one-time` mode, optionally
/// bound to a CN and SANs. Err is a message for the caller (bad input).
pub async fn mint(
    app: &Core,
    profile: &str,
    ttl_secs: i64,
    subject_cn: Option<&str>,
    sans: &[String],
    created_by: &str,
) -> Result<Result<Minted, String>, crate::store::StoreError> {
    let Some(cfg) = app.config.scep.profiles.get(profile) else {
        return Ok(Err(format!("no SCEP profile {profile:?}")));
    };
    if cfg.challenge != ChallengeMode::OneTime {
        return Ok(Err(format!(
            "SCEP profile {profile:?} does not use one-time challenges (challenge = \"one-time\")"
        )));
    }
    if !(60..=MAX_TTL_SECS).contains(&ttl_secs) {
        return Ok(Err(format!(
            "the lifetime must be between 60 and {MAX_TTL_SECS} seconds"
        )));
    }
    let mut raw = [0u8; 16];
    openssl::rand::rand_bytes(&mut raw)
        .map_err(|e| crate::store::StoreError::Other(e.to_string()))?;
    // Hex: a PrintableString, which some devices insist on.
    let secret = signet_ca::serial::to_hex(&raw);
    let expires_at = now() + ttl_secs;
    let sans = (!sans.is_empty())
        .then(|| serde_json::to_string(sans))
        .transpose()?;
    let id = db::insert_challenge(
        &app.store.write,
        &db::NewChallenge {
            profile,
            secret_hash: &crate::tokens::hash(&secret),
            subject_cn,
            sans,
            created_by,
            expires_at,
        },
    )
    .await?;
    Ok(Ok(Minted {
        id,
        secret,
        expires_at,
    }))
}
