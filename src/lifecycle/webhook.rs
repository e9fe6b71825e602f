//! Signed webhooks, for rotation targets and notifications alike.
//!
//! The body is JSON. `Signet-Signature: t=<unix seconds>,v1=<hex>` carries
//! HMAC-SHA256 under the target's secret over `<t>.<body>`: a receiver
//! recomputes it, compares in constant time, and refuses a `t` far from its
//! clock (a replay).

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::Value;

use crate::core_state::Core;

pub const SIGNATURE_HEADER: &str = "Signet-Signature";

pub fn signature(secret: &[u8], t: i64, body: &[u8]) -> Result<String, String> {
    let key = PKey::hmac(secret).map_err(|e| e.to_string())?;
    let mut s = Signer::new(MessageDigest::sha256(), &key).map_err(|e| e.to_string())?;
    s.update(format!("{t}.").as_bytes())
        .map_err(|e| e.to_string())?;
    s.update(body).map_err(|e| e.to_string())?;
    let mac = s.sign_to_vec().map_err(|e| e.to_string())?;
    Ok(format!("t={t},v1={}", signet_ca::serial::to_hex(&mac)))
}

/// Whether a webhook may go to `url` (https, or http when allowed).
pub fn check_url(core: &Core, url: &str) -> Result<(), String> {
    let ok = url.starts_with("https://")
        || (url.starts_with("http://") && core.config.lifecycle.allow_http_webhooks);
    if ok {
        Ok(())
    } else {
        Err(format!(
            "webhook URL {url:?} must be https:// (http:// only with lifecycle.allow_http_webhooks)"
        ))
    }
}

/// Signet's own root is trusted beside the system's: receivers often carry
/// its certificates. Redirects are not followed: a signed delivery goes to
/// the URL its owner configured, nowhere else.
fn client(core: &Core) -> Result<&reqwest::Client, String> {
    if let Some(c) = core.webhook_client.get() {
        return Ok(c);
    }
    let mut b = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none());
    if let Ok(pem) = std::fs::read(core.config.data_dir.join("root.pem"))
        && let Ok(c) = reqwest::Certificate::from_pem(&pem)
    {
        b = b.add_root_certificate(c);
    }
    let c = b.build().map_err(|e| e.to_string())?;
    Ok(core.webhook_client.get_or_init(|| c))
}

/// POST `doc`, signed; the HTTP status, or why there was none.
pub async fn post(core: &Core, url: &str, secret: &[u8], doc: &Value) -> Result<u16, String> {
    check_url(core, url)?;
    let body = serde_json::to_vec(doc).map_err(|e| e.to_string())?;
    let sig = signature(secret, crate::store::now(), &body)?;
    let r = client(core)?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok(r.status().as_u16())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_covers_time_and_body() {
        let a = super::signature(b"k", 1, b"{}").unwrap();
        assert!(a.starts_with("t=1,v1=") && a.len() == "t=1,v1=".len() + 64);
        assert_ne!(a, super::signature(b"k", 2, b"{}").unwrap());
        assert_ne!(a, super::signature(b"k", 1, b"{ }").unwrap());
        assert_ne!(a, super::signature(b"j", 1, b"{}").unwrap());
    }
}
