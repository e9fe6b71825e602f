//! Unauthenticated endpoints for relying parties, on the plain-HTTP listener:
//! `/crl/{ca}.crl`, `/crl/{ca}/delta.crl` and `/ocsp`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;

use super::crl::{self, CrlKind};
use crate::core_state::{Core, CoreState};
use crate::error::ApiError;
use crate::store::crls::{self, CrlRow};
use crate::store::{StoreError, cas, now};

pub fn routes() -> Router<CoreState> {
    Router::new()
        .route("/crl/{file}", get(full_crl))
        .route("/crl/{ca}/{file}", get(delta_or_shard_crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct Format {
    format: Option<String>,
}

fn http_date(t: i64) -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&fmt).ok())
        .unwrap_or_default()
}

fn parse_http_date(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|d| d.assume_utc().unix_timestamp())
}

/// The newest complete CRL of a kind, publishing one if none exists yet.
pub async fn current(app: &Core, ca: &str, kind: CrlKind) -> Result<CrlRow, ApiError> {
    current_scoped(app, ca, kind, None).await
}

async fn current_scoped(
    app: &Core,
    ca: &str,
    kind: CrlKind,
    shard: Option<i64>,
) -> Result<CrlRow, ApiError> {
    let ca = cas::find(&app.store.read, ca).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("CA"),
        other => other.into(),
    })?;
    if let Some(c) = crls::latest(&app.store.read, &ca.id, kind.as_str(), shard).await? {
        return Ok(c);
    }
    crl::publish_scoped(app, &ca.id, kind, shard)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "crl_unavailable",
                e.to_string(),
            )
        })
}

/// DER (`application/pkix-crl`) or PEM, with Last-Modified/If-Modified-Since
/// and caching up to nextUpdate.
pub fn crl_response(c: &CrlRow, pem: bool, headers: &HeaderMap) -> Response {
    let fresh_for = (c.next_update - now()).max(0);
    let mut h = HeaderMap::new();
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&http_date(c.this_update)).expect("ascii"),
    );
    h.insert(
        header::EXPIRES,
        HeaderValue::from_str(&http_date(c.next_update)).expect("ascii"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&format!("public, max-age={fresh_for}, no-transform"))
            .expect("ascii"),
    );
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    if since.is_some_and(|s| s >= c.this_update) {
        return (StatusCode::NOT_MODIFIED, h).into_response();
    }
    if pem {
        let body = format!(
            "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
            wrap64(&base64::engine::general_purpose::STANDARD.encode(&c.der))
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-pem-file"),
        );
        (h, body).into_response()
    } else {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pkix-crl"),
        );
        (h, c.der.clone()).into_response()
    }
}

fn wrap64(s: &str) -> String {
    s.as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ascii"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn full_crl(
    State(app): State<CoreState>,
    Path(file): Path<String>,
    Query(f): Query<Format>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (ca, pem) = match (file.strip_suffix(".crl"), file.strip_suffix(".pem")) {
        (Some(ca), _) => (ca, f.format.as_deref() == Some("pem")),
        (_, Some(ca)) => (ca, true),
        _ => return Err(ApiError::not_found("CRL (use {ca}.crl)")),
    };
    let c = current(&app, ca, CrlKind::Full).await?;
    Ok(crl_response(&c, pem, &headers))
}

/// `/crl/{ca}/delta.crl`, or `/crl/{ca}/{n}.crl` for shard n.
async fn delta_or_shard_crl(
    State(app): State<CoreState>,
    Path((ca, file)): Path<(String, String)>,
    Query(f): Query<Format>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let pem = f.format.as_deref() == Some("pem");
    let c = if file == "delta.crl" {
        current(&app, &ca, CrlKind::Delta).await?
    } else {
        let shard = file
            .strip_suffix(".crl")
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| {
                (0..i64::from(app.config.revocation.crl_shards)).contains(n)
                    && app.config.revocation.crl_shards > 1
            })
            .ok_or_else(|| ApiError::not_found("CRL (delta.crl or a shard number)"))?;
        current_scoped(&app, &ca, CrlKind::Full, Some(shard)).await?
    };
    Ok(crl_response(&c, pem, &headers))
}

fn ocsp_reply(app: &Core, der: Vec<u8>) -> Response {
    let max_age = app.config.revocation.ocsp_validity_secs;
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/ocsp-response"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_str(&format!(
                    "public, max-age={max_age}, no-transform, must-revalidate"
                ))
                .expect("ascii"),
            ),
        ],
        der,
    )
        .into_response()
}

async fn ocsp_post(State(app): State<CoreState>, body: Bytes) -> Response {
    let der = super::ocsp::respond(&app, &body).await;
    ocsp_reply(&app, der)
}

/// RFC 6960 A.1: GET {url}/{url-encoding of base-64 encoding of the DER request}.
/// The path is percent-decoded by the router; slashes inside the base64 are kept
/// by the wildcard.
async fn ocsp_get(State(app): State<CoreState>, Path(request): Path<String>) -> Response {
    let b64 = request.replace(' ', "+");
    let der = match base64::engine::general_purpose::STANDARD.decode(b64.trim_end_matches('\n')) {
        Ok(d) => super::ocsp::respond(&app, &d).await,
        Err(_) => signet_ca::ocsp::error_response(signet_ca::ocsp::ErrorStatus::MalformedRequest),
    };
    ocsp_reply(&app, der)
}
