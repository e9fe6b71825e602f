//! May this request enrol? The profile's challenge mode decides: a static
//! secret, a one-time secret minted by the API, a webhook, or nobody (the
//! request waits for an administrator).

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use openssl::sha::sha256;
use serde_json::json;
use signet_ca::names::San;
use signet_ca::scep::{FailInfo, Failure};

use super::profile::Profile;
use crate::config::ChallengeMode;
use crate::core_state::Core;
use crate::error::ApiError;
use crate::store::{now, scep as db, settings};

pub enum Gate {
    Allow,
    /// No challenge mode: hold for approval.
    Hold,
    Deny(Failure),
}

fn deny(text: impl Into<String>) -> Gate {
    Gate::Deny(Failure::new(FailInfo::BadRequest, text))
}

/// What a request claims, for the gate to judge.
pub struct Claim<'a> {
    pub challenge: &'a str,
    pub subject: &'a [(String, String)],
    pub sans: &'a [San],
    pub csr_der: &'a [u8],
    pub transaction_id: &'a str,
}

impl Claim<'_> {
    fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str())
    }
}

/// Constant-time comparison (of digests, so lengths always match).
fn same_secret(a: &str, b: &str) -> bool {
    openssl::memcmp::eq(&sha256(a.as_bytes()), &sha256(b.as_bytes()))
}

pub async fn check(app: &super::Scep, p: &Profile<'_>, c: &Claim<'_>) -> Result<Gate, ApiError> {
    let given = c.challenge;
    match p.cfg.challenge {
        ChallengeMode::None => Ok(Gate::Hold),
        ChallengeMode::Static => {
            let secret = static_secret(app, p)?;
            Ok(if !given.is_empty() && same_secret(given, &secret) {
                Gate::Allow
            } else {
                deny("wrong challenge password")
            })
        }
        ChallengeMode::OneTime => one_time(app, p, c).await,
        ChallengeMode::Webhook => Ok(webhook_decision(p, c).await),
    }
}

fn static_secret(app: &super::Scep, p: &Profile<'_>) -> Result<String, ApiError> {
    if !p.cfg.challenge_secret.is_empty() {
        return Ok(p.cfg.challenge_secret.clone());
    }
    app.responders
        .static_secret
        .get()
        .cloned()
        .ok_or_else(|| ApiError::internal("the static SCEP challenge is not loaded"))
}

const STATIC_SECRET_KEY: &str = "scep_static_challenge";

/// The generated static challenge lives in the database, sealed under the
/// master key, so that every replica accepts the same one. The first start
/// adopts `adopt` (the secret a single-node install already handed out), or
/// makes a new one; if two replicas race, the first recorded wins.
pub async fn ensure_static_secret(app: &Core, adopt: Option<String>) -> anyhow::Result<String> {
    use signet_ca::jose::{b64, b64_decode};
    let open = |v: String| -> anyhow::Result<String> {
        let sealed = b64_decode(&v).map_err(anyhow::Error::msg)?;
        let plain = signet_ca::key::open(&app.master_key, STATIC_SECRET_KEY.as_bytes(), &sealed)?;
        Ok(String::from_utf8(plain)?)
    };
    if let Some(v) = settings::get(&app.store.read, STATIC_SECRET_KEY).await? {
        return open(v);
    }
    let secret = match adopt
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    {
        Some(s) => s,
        None => {
            // Hex: a PrintableString, which some devices insist on.
            let mut raw = [0u8; 16];
            openssl::rand::rand_bytes(&mut raw)?;
            signet_ca::serial::to_hex(&raw)
        }
    };
    let sealed = signet_ca::key::seal(
        &app.master_key,
        STATIC_SECRET_KEY.as_bytes(),
        secret.as_bytes(),
    )?;
    settings::set_if_absent(&app.store.write, STATIC_SECRET_KEY, &b64(&sealed)).await?;
    let stored = settings::get(&app.store.write, STATIC_SECRET_KEY)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the static SCEP challenge was not stored"))?;
    open(stored)
}

async fn one_time(app: &Core, p: &Profile<'_>, c: &Claim<'_>) -> Result<Gate, ApiError> {
    let given = c.challenge;
    if given.is_empty() {
        return Ok(deny("a one-time challenge password is required"));
    }
    let Some(row) =
        db::find_challenge(&app.store.read, p.name, &crate::tokens::hash(given)).await?
    else {
        return Ok(deny("unknown challenge password"));
    };
    if row.used_at.is_some() {
        return Ok(deny("challenge password already used"));
    }
    if row.expires_at <= now() {
        return Ok(deny("challenge password expired"));
    }
    if let Some(cn) = &row.subject_cn
        && c.common_name() != Some(cn.as_str())
    {
        return Ok(deny(format!("this challenge is bound to CN={cn}")));
    }
    let bound: Vec<String> = row
        .sans
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ApiError::internal(format!("challenge {}: {e}", row.id)))?
        .unwrap_or_default();
    if !bound.is_empty()
        && let Some(extra) = c.sans.iter().map(San::value).find(|v| !bound.contains(v))
    {
        return Ok(deny(format!("this challenge does not cover {extra}")));
    }
    // Atomic: of two requests racing with the same secret, one wins.
    if !db::consume_challenge(&app.store.write, &row.id, c.transaction_id).await? {
        return Ok(deny("challenge password already used"));
    }
    Ok(Gate::Allow)
}

fn client() -> &'static reqwest::Client {
    static C: OnceLock<reqwest::Client> = OnceLock::new();
    C.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("static client configuration")
    })
}

fn csr_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n")
}

/// Ask the webhook. It must answer 2xx with `{"allow": true}`; anything
/// else (including a timeout) refuses: the gate fails closed.
async fn webhook_decision(p: &Profile<'_>, c: &Claim<'_>) -> Gate {
    let body = json!({
        "type": "challenge",
        "profile": p.name,
        "transaction_id": c.transaction_id,
        "challenge": c.challenge,
        "subject": c.subject,
        "sans": c.sans,
        "csr": csr_pem(c.csr_der),
    });
    let r = client()
        .post(&p.cfg.webhook_url)
        .timeout(Duration::from_secs(p.cfg.webhook_timeout_secs))
        .json(&body)
        .send()
        .await;
    let answer = match r {
        Ok(r) if r.status().is_success() => r.json::<serde_json::Value>().await.ok(),
        Ok(r) => {
            tracing::warn!(status = %r.status(), "SCEP webhook refused the request");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "SCEP webhook unreachable");
            None
        }
    };
    match answer {
        Some(v) if v["allow"] == true => Gate::Allow,
        Some(v) => deny(
            v["reason"]
                .as_str()
                .unwrap_or("the challenge was not accepted")
                .to_string(),
        ),
        None => deny("the challenge could not be validated"),
    }
}

/// Tell the webhook how the request ended (fire and forget).
pub fn notify(p: &Profile<'_>, transaction_id: &str, status: &str, detail: serde_json::Value) {
    if p.cfg.challenge != ChallengeMode::Webhook {
        return;
    }
    let body = json!({
        "type": "notification",
        "profile": p.name,
        "transaction_id": transaction_id,
        "status": status,
        "detail": detail,
    });
    let req = client()
        .post(&p.cfg.webhook_url)
        .timeout(Duration::from_secs(p.cfg.webhook_timeout_secs))
        .json(&body);
    tokio::spawn(async move {
        if let Err(e) = req.send().await {
            tracing::warn!(error = %e, "SCEP webhook notification failed");
        }
    });
}
