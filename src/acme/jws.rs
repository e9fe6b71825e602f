//! The JWS request extractor (RFC 8555 §6.2–6.5): flattened JSON only,
//! algorithm allow-list, single-use nonce, `url` match, `jwk` xor `kid`,
//! `application/jose+json`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde_json::Value;
use signet_ca::jose::{self, ALLOWED_ALGS, JoseError, Jwk};

use super::accounts::{Account, AccountError};
use super::problem::{AcmeResult, Problem};
use crate::acme::AcmeState;
use crate::store::acme::AccountRow;

/// The largest JWS accepted (the route's body limit).
pub const MAX_BODY: usize = 64 * 1024;

#[derive(serde::Deserialize)]
struct Flattened {
    protected: String,
    /// RFC 8555 §6.2 forbids the unprotected header; read only to refuse it.
    header: Option<Value>,
    payload: String,
    signature: String,
}

/// A verified request: who signed it and what they sent.
pub struct Jws {
    pub url: String,
    pub payload: Vec<u8>,
    pub signer: Signer,
}

pub enum Signer {
    /// Signed by a registered account (`kid`).
    Account(Arc<Account>),
    /// Signed by an embedded key (`jwk`): newAccount and revokeCert only.
    Key(Value, Jwk),
}

impl Jws {
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// RFC 8555 §6.3: a read is a POST whose payload is the empty string;
    /// `{}` is an (empty) update, which these resources do not take.
    pub fn require_post_as_get(&self) -> AcmeResult<()> {
        if self.is_post_as_get() {
            Ok(())
        } else {
            Err(Problem::malformed(
                "this resource is read with POST-as-GET: the payload must be empty",
            ))
        }
    }

    pub fn json<T: serde::de::DeserializeOwned>(&self) -> AcmeResult<T> {
        let body: &[u8] = if self.payload.is_empty() {
            b"{}"
        } else {
            &self.payload
        };
        serde_json::from_slice(body)
            .map_err(|e| Problem::malformed(format!("invalid payload: {e}")))
    }

    /// The signing account; `jwk`-signed requests are refused here.
    pub fn account(&self) -> AcmeResult<&AccountRow> {
        match &self.signer {
            Signer::Account(a) => Ok(&a.row),
            Signer::Key(..) => Err(Problem::malformed(
                "this resource requires a kid (account URL), not a jwk",
            )),
        }
    }
}

fn jose_problem(e: JoseError) -> Problem {
    match e {
        JoseError::BadAlgorithm(a) => {
            let mut p = Problem::bad_signature_algorithm(format!("algorithm {a} is not accepted"));
            p.algorithms = Some(ALLOWED_ALGS.to_vec());
            p
        }
        JoseError::BadJwk(m) => Problem::bad_public_key(m),
        JoseError::Malformed(m) => Problem::malformed(m),
    }
}

fn b64_json(s: &str, what: &str) -> AcmeResult<Value> {
    let raw =
        jose::b64_decode(s).map_err(|_| Problem::malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&raw).map_err(|_| Problem::malformed(format!("{what} is not JSON")))
}

/// Parse and check a flattened JWS. `expected_url` is the URL the request
/// was sent to; `nonce` says whether one is required (the inner JWS of a key
/// change and an EAB carry none).
pub fn parse(body: &[u8]) -> AcmeResult<(Value, Vec<u8>, Vec<u8>, String)> {
    let f: Flattened = serde_json::from_slice(body).map_err(|_| {
        Problem::malformed(
            "body must be a flattened JWS JSON object with protected, payload and signature",
        )
    })?;
    if f.header.is_some() {
        return Err(Problem::malformed(
            "the JWS must not carry an unprotected header (RFC 8555 §6.2)",
        ));
    }
    let header = b64_json(&f.protected, "protected header")?;
    let payload =
        jose::b64_decode(&f.payload).map_err(|_| Problem::malformed("payload is not base64url"))?;
    let sig = jose::b64_decode(&f.signature)
        .map_err(|_| Problem::malformed("signature is not base64url"))?;
    Ok((
        header,
        payload,
        sig,
        format!("{}.{}", f.protected, f.payload),
    ))
}

fn str_field<'a>(h: &'a Value, name: &str) -> Option<&'a str> {
    h.get(name).and_then(Value::as_str)
}

impl FromRequest<AcmeState> for Jws {
    type Rejection = Problem;

    async fn from_request(req: Request, app: &AcmeState) -> AcmeResult<Self> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.split(';').next().map(str::trim) != Some("application/jose+json") {
            let mut p = Problem::malformed(format!(
                "Content-Type must be application/jose+json, not {ct:?}"
            ));
            p.status = axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return Err(p);
        }
        let url = format!("{}{}", app.https_url, req.uri().path());
        let body = Bytes::from_request(req, app).await.map_err(|e| {
            let mut p = Problem::malformed(format!("cannot read the request body: {e}"));
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                p = Problem::malformed(format!("the request body exceeds {MAX_BODY} bytes"));
                p.status = axum::http::StatusCode::PAYLOAD_TOO_LARGE;
            }
            p
        })?;
        let (h, payload, sig, signing_input) = parse(&body)?;
        let alg = str_field(&h, "alg")
            .ok_or_else(|| Problem::malformed("protected header has no alg"))?;
        if !ALLOWED_ALGS.contains(&alg) {
            return Err(jose_problem(JoseError::BadAlgorithm(alg.to_string())));
        }
        // The nonce is checked before anything else that could be replayed.
        let nonce = str_field(&h, "nonce")
            .ok_or_else(|| Problem::bad_nonce("protected header has no nonce"))?;
        if !app.nonces.consume(&app.store, nonce).await? {
            return Err(Problem::bad_nonce(
                "nonce is unknown, expired or already used",
            ));
        }
        if str_field(&h, "url") != Some(url.as_str()) {
            return Err(Problem::unauthorized(format!(
                "protected header url must be {url:?}"
            )));
        }
        let signer = match (h.get("jwk"), str_field(&h, "kid")) {
            (Some(_), Some(_)) => {
                return Err(Problem::malformed("protected header has both jwk and kid"));
            }
            (None, None) => {
                return Err(Problem::malformed(
                    "protected header has neither jwk nor kid",
                ));
            }
            (Some(jwk), None) => {
                Signer::Key(jwk.clone(), jose::parse_jwk(jwk).map_err(jose_problem)?)
            }
            (None, Some(kid)) => {
                let prefix = format!("{}/acme/account/", app.https_url);
                let id = kid.strip_prefix(&prefix).ok_or_else(|| {
                    Problem::account_does_not_exist(format!("unknown kid {kid:?}"))
                })?;
                let acct = app
                    .accounts
                    .get(&app.store, id)
                    .await
                    .map_err(|e| match e {
                        AccountError::Store(e) => Problem::from(e),
                        AccountError::Key(m) => Problem::server_internal(m),
                    })?
                    .ok_or_else(|| {
                        Problem::account_does_not_exist(format!("unknown kid {kid:?}"))
                    })?;
                if acct.row.status != "valid" {
                    return Err(Problem::unauthorized(format!(
                        "account is {}",
                        acct.row.status
                    )));
                }
                Signer::Account(acct)
            }
        };
        let key = match &signer {
            Signer::Account(a) => &a.jwk,
            Signer::Key(_, k) => k,
        };
        if !jose::verify(alg, &key.key, signing_input.as_bytes(), &sig).map_err(jose_problem)? {
            return Err(Problem::malformed("JWS signature is invalid"));
        }
        Ok(Jws {
            url,
            payload,
            signer,
        })
    }
}

/// Verify a JWS nested in a payload (key change: signed by the new key, no nonce).
pub fn verify_inner(body: &Value, outer_url: &str) -> AcmeResult<(Value, Jwk, Vec<u8>)> {
    let (h, payload, sig, input) = parse(body.to_string().as_bytes())?;
    let alg = str_field(&h, "alg").ok_or_else(|| Problem::malformed("inner JWS has no alg"))?;
    if h.get("nonce").is_some() {
        return Err(Problem::malformed("inner JWS must not carry a nonce"));
    }
    if str_field(&h, "url") != Some(outer_url) {
        return Err(Problem::malformed("inner JWS url must equal the outer url"));
    }
    let jwk_v = h
        .get("jwk")
        .ok_or_else(|| Problem::malformed("inner JWS must carry the new key as jwk"))?
        .clone();
    if h.get("kid").is_some() {
        return Err(Problem::malformed("inner JWS must not carry a kid"));
    }
    let jwk = jose::parse_jwk(&jwk_v).map_err(jose_problem)?;
    if !jose::verify(alg, &jwk.key, input.as_bytes(), &sig).map_err(jose_problem)? {
        return Err(Problem::malformed("inner JWS signature is invalid"));
    }
    Ok((jwk_v, jwk, payload))
}
