//! SCEP over HTTP. Clients are old and literal: GET must work even though
//! POST is advertised (Cisco IOS), `/pkiclient.exe` is appended by some,
//! HTTP/1.0 without Host is normal, and base64 arrives with `+` turned into
//! spaces, in URL-safe form, or wrapped in lines.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::ScepState;
use super::enrol;
use super::profile::{self, Profile};
use crate::error::ApiError;

/// A pkiMessage is a few KiB; refuse anything absurd before reading it.
const MAX_BODY: usize = 256 * 1024;

pub fn routes(state: ScepState) -> Router {
    Router::new()
        .route("/scep/{profile}", get(by_profile).post(by_profile))
        .route(
            "/scep/{profile}/pkiclient.exe",
            get(by_profile).post(by_profile),
        )
        .route("/api/v1/scep/{ca}", get(by_ca).post(by_ca))
        .route("/api/v1/scep/{ca}/pkiclient.exe", get(by_ca).post(by_ca))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

type Params = Query<HashMap<String, String>>;

/// A PKIOperation's message comes in the query (GET) or the body (POST).
fn posted(method: &Method, body: Bytes) -> Option<Bytes> {
    (method == Method::POST).then_some(body)
}

async fn by_profile(
    State(app): State<ScepState>,
    method: Method,
    Path(name): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = profile::resolve(&app, &name).await?;
    serve(&app, &p, &q, posted(&method, body)).await
}

async fn by_ca(
    State(app): State<ScepState>,
    method: Method,
    Path(ca): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = profile::for_ca(&app, &ca).await?;
    serve(&app, &p, &q, posted(&method, body)).await
}

fn capabilities(p: &Profile<'_>) -> String {
    let mut caps = vec![
        "POSTPKIOperation",
        "Renewal",
        "SHA-256",
        "SHA-512",
        "AES",
        "SCEPStandard",
    ];
    if p.cfg.allow_legacy {
        caps.extend(["SHA-1", "DES3"]);
    }
    caps.iter().map(|c| format!("{c}\n")).collect()
}

async fn serve(
    app: &ScepState,
    p: &Profile<'_>,
    q: &HashMap<String, String>,
    body: Option<Bytes>,
) -> Result<Response, ApiError> {
    match q.get("operation").map(String::as_str) {
        Some("GetCACaps") => {
            Ok(([(header::CONTENT_TYPE, "text/plain")], capabilities(p)).into_response())
        }
        Some("GetCACert") => {
            let r = app
                .responders
                .get(app, &p.ca_id, p.cfg.ra)
                .await
                .map_err(|e| ApiError::internal(format!("SCEP responder: {e}")))?;
            let (ctype, body) =
                ca_certificates(&r).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
        }
        Some("PKIOperation") => {
            let message = match &body {
                Some(b) if !b.is_empty() => post_body(b)?,
                _ => decode_b64(q.get("message").ok_or_else(|| {
                    ApiError::bad_request("PKIOperation by GET needs a message parameter")
                })?)?,
            };
            let reply = enrol::pki_operation(app, p, &message).await?;
            Ok(([(header::CONTENT_TYPE, "application/x-pki-message")], reply).into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "unsupported SCEP operation {other:?}"
        ))),
        None => Err(ApiError::bad_request("the operation parameter is required")),
    }
}

/// GetCACert: the CA certificate alone when it answers itself; otherwise the
/// CA, the RA and the rest of the chain up to the root, as a certs-only
/// SignedData (certmonger verifies the RA's signature against a complete chain).
fn ca_certificates(
    r: &super::responder::Responder,
) -> Result<(&'static str, Vec<u8>), openssl::error::ErrorStack> {
    let ca = r.ca.cert.to_der()?;
    if !r.is_ra {
        return Ok(("application/x-x509-ca-cert", ca));
    }
    let mut ders = vec![ca, r.cert.to_der()?];
    for c in &r.ca.chain {
        ders.push(c.to_der()?);
    }
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    Ok((
        "application/x-x509-ca-ra-cert",
        signet_ca::scep::degenerate(&refs, &[]),
    ))
}

/// POST bodies are DER (a SEQUENCE), but some clients send base64.
fn post_body(b: &[u8]) -> Result<Vec<u8>, ApiError> {
    if b.first() == Some(&0x30) {
        return Ok(b.to_vec());
    }
    decode_b64(&String::from_utf8_lossy(b))
}

fn decode_b64(s: &str) -> Result<Vec<u8>, ApiError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let clean: String = s
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\t'))
        .map(|c| match c {
            // Form decoding turned '+' into ' '.
            ' ' | '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    LENIENT
        .decode(clean.trim_end_matches('='))
        .map_err(|e| ApiError::bad_request(format!("message is not base64: {e}")))
}
