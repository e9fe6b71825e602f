//! The OCSP responder (RFC 6960, RFC 5019 GET form): answers from the
//! certificate store, signed by the issuing CA.

use signet_ca::ocsp::{self, ErrorStatus, Single, Status};
use signet_ca::serial;

use crate::core_state::Core;
use crate::store::certificates as certs;
use crate::store::{StoreError, now};

/// Build the DER response for a DER request. Never fails: every problem is
/// an (unsigned) OCSP error status, as the protocol requires.
pub async fn respond(app: &Core, request: &[u8]) -> Vec<u8> {
    let req = match ocsp::parse_request(request) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = e.0, "malformed OCSP request");
            return ocsp::error_response(ErrorStatus::MalformedRequest);
        }
    };
    match answer(app, &req).await {
        Ok(Some(der)) => der,
        Ok(None) => ocsp::error_response(ErrorStatus::Unauthorized),
        Err(e) => {
            tracing::error!(error = %e, "OCSP lookup failed");
            ocsp::error_response(ErrorStatus::TryLater)
        }
    }
}

async fn answer(app: &Core, req: &ocsp::Request) -> Result<Option<Vec<u8>>, anyhow::Error> {
    // All CertIDs are answered by the CA of the first; others are unknown to it.
    let Some(ca_id) = app.cas.for_cert_id(&app.store, &req.ids[0]).await? else {
        return Ok(None);
    };
    let issuer = app.cas.get(&app.store, &app.master_key, &ca_id).await?;
    let t = now();
    let next = t + app.config.revocation.ocsp_validity_secs;
    let mut statuses = Vec::with_capacity(req.ids.len());
    for id in &req.ids {
        let same_ca = app.cas.for_cert_id(&app.store, id).await?.as_deref() == Some(ca_id.as_str());
        let status = if same_ca {
            status_of(app, &ca_id, &serial::to_hex(&id.serial)).await?
        } else {
            Status::Unknown
        };
        statuses.push(status);
    }
    let singles: Vec<Single<'_>> = req
        .ids
        .iter()
        .zip(statuses)
        .map(|(id, status)| Single {
            id,
            status,
            this_update: t,
            next_update: next,
        })
        .collect();
    Ok(Some(ocsp::respond(
        &issuer,
        &[],
        &singles,
        t,
        req.nonce.as_deref(),
    )?))
}

/// good, revoked, or unknown for a serial this CA never issued.
async fn status_of(app: &Core, ca_id: &str, serial_hex: &str) -> Result<Status, StoreError> {
    match certs::by_serial(&app.store.read, ca_id, serial_hex).await {
        Ok(row) if row.der.is_none() => Ok(Status::Unknown),
        Ok(row) if row.status == certs::REVOKED => Ok(Status::Revoked {
            at: row.revoked_at.unwrap_or(0),
            reason: row.revocation_reason.and_then(|r| u8::try_from(r).ok()),
        }),
        Ok(_) => Ok(Status::Good),
        Err(StoreError::NotFound) => Ok(Status::Unknown),
        Err(e) => Err(e),
    }
}
