//! Certificate download, revocation (§7.6) and renewal information (RFC 9773).

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::json;
use signet_ca::jose;
use signet_ca::serial;

use super::jws::{Jws, Signer};
use super::problem::{AcmeResult, Problem};
use super::rfc3339;
use crate::acme::AcmeState;
use crate::revocation::{self, RevokeError};
use crate::store::acme as db;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::now;

pub async fn download(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    jws.require_post_as_get()?;
    let acct = jws.account()?;
    let order = db::order_for_certificate(&app.store.read, &id)
        .await?
        .ok_or_else(|| Problem::not_found("no such certificate"))?;
    if order.account_id != acct.id {
        return Err(Problem::unauthorized(
            "this certificate belongs to another account",
        ));
    }
    let row = certs::get(&app.store.read, &id).await?;
    let der = row
        .der
        .ok_or_else(|| Problem::not_found("certificate is not issued yet"))?;
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, &row.ca_id)
        .await
        .map_err(|e| Problem::server_internal(e.to_string()))?;
    // The stored DER is what we signed: encode it, no need to parse it.
    let mut pem = signet_ca::pem("CERTIFICATE", &der);
    pem.extend_from_slice(issuer.chain_pem_excluding_root());
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        pem,
    )
        .into_response())
}

#[derive(Deserialize)]
struct Revoke {
    certificate: String,
    reason: Option<i64>,
}

pub async fn revoke(State(app): State<AcmeState>, jws: Jws) -> AcmeResult<Response> {
    let req: Revoke = jws.json()?;
    let reason = req.reason.unwrap_or(0);
    // RFC 8555 §7.6 lets a CA refuse reasons it does not use for subscribers.
    if matches!(reason, 2 | 6 | 8 | 10) || !revocation::valid_reason(reason) {
        return Err(Problem::bad_revocation_reason(format!(
            "reason {reason} cannot be requested over ACME"
        )));
    }
    let der = jose::b64_decode(&req.certificate)
        .map_err(|_| Problem::malformed("certificate is not base64url"))?;
    let cert = X509::from_der(&der).map_err(|_| Problem::malformed("certificate is not DER"))?;
    let serial_hex = serial::to_hex(
        &cert
            .serial_number()
            .to_bn()
            .map(|b| b.to_vec())
            .unwrap_or_default(),
    );
    let row = certs::by_serial_any(&app.store.read, &serial_hex)
        .await?
        .into_iter()
        .find(|r| r.der.as_deref() == Some(der.as_slice()))
        .ok_or_else(|| Problem::not_found("this server did not issue that certificate"))?;
    // Who may revoke: the account that ordered it, or whoever holds its key.
    let actor = match &jws.signer {
        Signer::Account(acct) => {
            let acct = &acct.row;
            let order = db::order_for_certificate(&app.store.read, &row.id).await?;
            if order.map(|o| o.account_id) != Some(acct.id.clone()) {
                return Err(Problem::unauthorized(
                    "the account did not order this certificate",
                ));
            }
            format!("acme:{}", acct.id)
        }
        Signer::Key(_, jwk) => {
            let spki = jwk.key.public_key_to_der().unwrap_or_default();
            if spki != row.public_key {
                return Err(Problem::unauthorized(
                    "the JWS key is not the certificate's key",
                ));
            }
            "acme:certificate-key".to_string()
        }
    };
    let reason = req.reason.unwrap_or(0);
    // RFC 8555 §7.6 lets a CA refuse reasons it does not use for subscribers.
    if matches!(reason, 2 | 6 | 8 | 10) {
        return Err(Problem::bad_revocation_reason(format!(
            "reason {reason} cannot be requested over ACME"
        )));
    }
    revocation::revoke(&app, &row, reason, &actor)
        .await
        .map_err(|e| match e {
            RevokeError::AlreadyRevoked => {
                Problem::already_revoked("certificate is already revoked")
            }
            RevokeError::BadReason(r) => {
                Problem::bad_revocation_reason(format!("invalid reason code {r}"))
            }
            RevokeError::NotActive(s) => Problem::malformed(format!("certificate is {s}")),
            RevokeError::NotOnHold => Problem::malformed("certificate is not on hold"),
            RevokeError::Store(s) => s.into(),
        })?;
    Ok(StatusCode::OK.into_response())
}

/// Find a certificate from an ARI certID: base64url(AKI keyIdentifier) "." base64url(serial).
pub(crate) async fn cert_by_ari_id(app: &AcmeState, cert_id: &str) -> AcmeResult<CertRow> {
    let (aki, ser) = cert_id
        .split_once('.')
        .ok_or_else(|| Problem::malformed("certID must be <AKI>.<serial>"))?;
    let aki =
        jose::b64_decode(aki).map_err(|_| Problem::malformed("certID AKI is not base64url"))?;
    let ser =
        jose::b64_decode(ser).map_err(|_| Problem::malformed("certID serial is not base64url"))?;
    let ser = ser.strip_prefix(&[0u8]).unwrap_or(&ser);
    for row in certs::by_serial_any(&app.store.read, &serial::to_hex(ser)).await? {
        let issuer = app
            .cas
            .get(&app.store, &app.master_key, &row.ca_id)
            .await
            .map_err(|e| Problem::server_internal(e.to_string()))?;
        if issuer
            .cert
            .subject_key_id()
            .map(|k| k.as_slice() == aki.as_slice())
            .unwrap_or(false)
        {
            return Ok(row);
        }
    }
    Err(Problem::not_found("no certificate with that certID"))
}

pub async fn renewal_info(
    State(app): State<AcmeState>,
    Path(cert_id): Path<String>,
) -> AcmeResult<Response> {
    let row = cert_by_ari_id(&app, &cert_id).await?;
    let (nb, na) = (row.not_before.unwrap_or(0), row.not_after.unwrap_or(0));
    let (start, end) = if row.status == certs::REVOKED {
        // Renew now.
        (now() - 3600, now())
    } else {
        let life = (na - nb) as f64;
        let a = &app.config.acme;
        (
            nb + (life * a.ari_window_start) as i64,
            nb + (life * a.ari_window_end) as i64,
        )
    };
    let body = json!({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}});
    let mut r = (StatusCode::OK, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(21600u64));
    Ok(r)
}
