//! PKIOperation: decide what a verified pkiMessage gets, then answer with a
//! signed CertRep. Every refusal is a FAILURE CertRep with a failInfo (and
//! an audit event); only bytes that are not a pkiMessage at all get HTTP 400.

use openssl::sha::sha256;
use serde_json::json;
use signet_ca::csr;
use signet_ca::scep::{
    self, Attrs, ContentCipher, Digest, FailInfo, Failure, MessageType, PkiMessage, PkiStatus,
};
use signet_ca::serial;

use super::ScepState;
use super::challenge::{self, Gate};
use super::profile::Profile;
use super::responder::Responder;
use crate::config::ChallengeMode;
use crate::error::ApiError;
use crate::issuance::{self, IssuanceRequest, IssueError, Outcome};
use crate::policy::Channel;
use crate::revocation::crl::CrlKind;
use crate::store::{StoreError, audit, certificates as certs, now, scep as db};

/// What the CertRep says.
struct Reply {
    status: PkiStatus,
    failure: Option<Failure>,
    certs: Vec<Vec<u8>>,
    crls: Vec<Vec<u8>>,
    /// The request's cipher, when its envelope was opened.
    cipher: Option<ContentCipher>,
}

impl Reply {
    fn fail(info: FailInfo, text: impl Into<String>) -> Self {
        Self::failure(Failure::new(info, text))
    }
    fn failure(f: Failure) -> Self {
        Reply {
            status: PkiStatus::Failure,
            failure: Some(f),
            certs: Vec::new(),
            crls: Vec::new(),
            cipher: None,
        }
    }
    fn pending() -> Self {
        Reply {
            status: PkiStatus::Pending,
            failure: None,
            certs: Vec::new(),
            crls: Vec::new(),
            cipher: None,
        }
    }
    fn success(certs: Vec<Vec<u8>>, crls: Vec<Vec<u8>>) -> Self {
        Reply {
            status: PkiStatus::Success,
            failure: None,
            certs,
            crls,
            cipher: None,
        }
    }
    fn with_cipher(mut self, c: ContentCipher) -> Self {
        self.cipher = Some(c);
        self
    }
}

/// Unwrap a step that may refuse the request.
macro_rules! or_refuse {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(f) => return Ok(Reply::failure(f)),
        }
    };
}

pub async fn pki_operation(
    app: &ScepState,
    p: &Profile<'_>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let msg = scep::parse(body)
        .map_err(|e| ApiError::bad_request(format!("not a SCEP pkiMessage: {e}")))?;
    let responder = app
        .responders
        .get(app, &p.ca_id, p.cfg.ra)
        .await
        .map_err(|e| ApiError::internal(format!("SCEP responder: {e}")))?;
    let reply = decide(app, p, &responder, &msg).await?;
    if let Some(f) = &reply.failure {
        record_refusal(app, p, &msg, f).await?;
    }
    render(p, &responder, &msg, &reply)
        .map_err(|e| ApiError::internal(format!("cannot build CertRep: {e}")))
}

async fn decide(
    app: &ScepState,
    p: &Profile<'_>,
    responder: &Responder,
    msg: &PkiMessage,
) -> Result<Reply, ApiError> {
    let Some(kind) = msg.message_type else {
        return Ok(Reply::fail(FailInfo::BadRequest, "unknown messageType"));
    };
    or_refuse!(msg.verify(p.cfg.allow_legacy));
    match kind {
        MessageType::PkcsReq | MessageType::RenewalReq => enrol(app, p, responder, msg, kind).await,
        MessageType::CertPoll => {
            match db::transaction(&app.store.read, p.name, &msg.transaction_id).await? {
                Some(t) => {
                    transaction_state(app, p, responder, &msg.transaction_id, &t.certificate_id)
                        .await
                }
                None => Ok(Reply::fail(FailInfo::BadCertId, "no such transaction")),
            }
        }
        MessageType::GetCert | MessageType::GetCrl => {
            let (content, cipher) = or_refuse!(open(p, responder, msg));
            let id = or_refuse!(
                scep::parse_issuer_and_serial(&content)
                    .map_err(|e| Failure::new(FailInfo::BadRequest, e))
            );
            if id.issuer
                != responder
                    .ca
                    .cert
                    .subject_name()
                    .to_der()
                    .unwrap_or_default()
            {
                return Ok(Reply::fail(
                    FailInfo::BadCertId,
                    "not an issuer served here",
                ));
            }
            if kind == MessageType::GetCrl {
                let crl = crate::revocation::http::current(app, &p.ca_id, CrlKind::Full).await?;
                return Ok(Reply::success(Vec::new(), vec![crl.der]).with_cipher(cipher));
            }
            match certs::by_serial(&app.store.read, &p.ca_id, &serial::to_hex(&id.serial)).await {
                Ok(row) if row.der.is_some() => Ok(Reply::success(
                    vec![row.der.unwrap_or_default()],
                    Vec::new(),
                )),
                Ok(_) | Err(StoreError::NotFound) => {
                    Ok(Reply::fail(FailInfo::BadCertId, "no such certificate"))
                }
                Err(e) => Err(e.into()),
            }
        }
        MessageType::CertRep => Ok(Reply::fail(
            FailInfo::BadRequest,
            "CertRep is a server message",
        )),
    }
}

/// Decrypt the request's content, refusing legacy ciphers unless allowed.
fn open(
    p: &Profile<'_>,
    responder: &Responder,
    msg: &PkiMessage,
) -> Result<(Vec<u8>, ContentCipher), Failure> {
    let (content, cipher) = msg.open(&responder.key, &responder.cert)?;
    if cipher.is_legacy() && !p.cfg.allow_legacy {
        return Err(Failure::new(
            FailInfo::BadAlg,
            format!("{} is not allowed by this profile", cipher.name()),
        ));
    }
    Ok((content, cipher))
}

async fn enrol(
    app: &ScepState,
    p: &Profile<'_>,
    responder: &Responder,
    msg: &PkiMessage,
    kind: MessageType,
) -> Result<Reply, ApiError> {
    let (content, cipher) = or_refuse!(open(p, responder, msg));
    let csr = or_refuse!(
        csr::parse(&content).map_err(|e| Failure::new(FailInfo::BadRequest, e.to_string()))
    );
    let csr_hash = serial::to_hex(&sha256(&csr.der));
    // The same request again (same transactionID, same CSR) gets the same
    // answer and issues nothing: while pending it is polling (micromdm's
    // client does so), afterwards it is a retry or a replay (RFC 8894 §3.3.1).
    if let Some(t) = db::transaction(&app.store.read, p.name, &msg.transaction_id).await?
        && t.csr_sha256 == csr_hash
    {
        return Ok(
            transaction_state(app, p, responder, &msg.transaction_id, &t.certificate_id)
                .await?
                .with_cipher(cipher),
        );
    }
    let renewing = match renewal_of(app, responder, msg).await? {
        Some(old) if p.cfg.renewal => Some(old),
        _ => None,
    };
    let renewing = renewing
        .as_ref()
        .map(|o| (o.id.as_str(), o.common_name.as_deref()));
    let replaces = or_refuse!(renewal_replaces(kind, renewing, csr.common_name()));
    let (challenge_password, csr_der) = (csr.challenge_password.clone(), csr.der.clone());
    let mut req = issuance_request(p, msg, &csr_hash, csr);
    req.replaces_id = replaces;
    if req.replaces_id.is_none()
        && let Some(refusal) = gate(
            app,
            p,
            msg,
            &mut req,
            challenge_password.as_deref(),
            &csr_der,
        )
        .await?
    {
        return Ok(refusal);
    }
    match issuance::submit(app, req).await {
        Ok(outcome) => answer(app, p, responder, msg, &csr_hash, outcome, cipher).await,
        Err(e) => {
            challenge::notify(
                p,
                &msg.transaction_id,
                "failed",
                json!({"reason": e.to_string()}),
            );
            refused_by_pipeline(e)
        }
    }
}

/// Whether a request renews a current certificate of ours that signed it
/// (`renewing`: its id and CN): the id it replaces, which keeps its CN. A
/// RenewalReq signed by anything else is refused; a PKCSReq is then a new
/// enrolment (None).
fn renewal_replaces(
    kind: MessageType,
    renewing: Option<(&str, Option<&str>)>,
    cn: Option<&str>,
) -> Result<Option<String>, Failure> {
    match renewing {
        Some((_, old_cn)) if cn != old_cn => Err(Failure::new(
            FailInfo::BadRequest,
            "a renewal keeps the certificate's common name; enrol with a challenge for a new one",
        )),
        Some((id, _)) => Ok(Some(id.to_string())),
        None if kind == MessageType::RenewalReq => Err(Failure::new(
            FailInfo::BadRequest,
            "RenewalReq must be signed by a current certificate of this CA",
        )),
        None => Ok(None),
    }
}

/// The pipeline request for a CSR, on the profile's template. The
/// transaction is recorded with its reserved certificate, so a device that
/// retries after a crash polls that certificate instead of enrolling again.
fn issuance_request(
    p: &Profile<'_>,
    msg: &PkiMessage,
    csr_hash: &str,
    csr: csr::ParsedCsr,
) -> IssuanceRequest {
    let mut req = IssuanceRequest::from_csr(Channel::Scep, &format!("scep:{}", p.name), csr);
    req.template = Some(p.cfg.template.clone());
    let (profile, txid, hash) = (
        p.name.to_string(),
        msg.transaction_id.clone(),
        csr_hash.to_string(),
    );
    req.link = Some(Box::new(move |cert_id: &str| {
        vec![db::put_transaction_stmt(
            &profile, &txid, cert_id, &hash, false,
        )]
    }));
    req
}

/// The challenge of a new enrolment: None lets it through (or holds it for
/// an approval), Some is the refusal to answer.
async fn gate(
    app: &ScepState,
    p: &Profile<'_>,
    msg: &PkiMessage,
    req: &mut IssuanceRequest,
    challenge_password: Option<&str>,
    csr_der: &[u8],
) -> Result<Option<Reply>, ApiError> {
    // A one-time secret is spent by the gate, so check policy first.
    if p.cfg.challenge == ChallengeMode::OneTime
        && let Err(e) = issuance::evaluate(app, req).await
    {
        return refused_by_pipeline(e).map(Some);
    }
    let claim = challenge::Claim {
        challenge: challenge_password.unwrap_or(""),
        subject: &req.subject,
        sans: &req.sans,
        csr_der,
        transaction_id: &msg.transaction_id,
    };
    match challenge::check(app, p, &claim).await? {
        Gate::Allow => Ok(None),
        Gate::Hold => {
            req.min_approvals = 1;
            Ok(None)
        }
        Gate::Deny(f) => {
            challenge::notify(p, &msg.transaction_id, "failed", json!({"reason": f.text}));
            Ok(Some(Reply::failure(f)))
        }
    }
}

/// Record the transaction's outcome, tell the webhook, and answer.
async fn answer(
    app: &ScepState,
    p: &Profile<'_>,
    responder: &Responder,
    msg: &PkiMessage,
    csr_hash: &str,
    outcome: Outcome,
    cipher: ContentCipher,
) -> Result<Reply, ApiError> {
    let (row, issued) = match outcome {
        Outcome::Issued(row) => (row, true),
        Outcome::Pending(row) => (row, false),
    };
    db::put_transaction(
        &app.store.write,
        p.name,
        &msg.transaction_id,
        &row.id,
        csr_hash,
        issued,
    )
    .await?;
    if !issued {
        challenge::notify(
            p,
            &msg.transaction_id,
            "pending",
            json!({"certificate_id": row.id}),
        );
        return Ok(Reply::pending());
    }
    challenge::notify(
        p,
        &msg.transaction_id,
        "issued",
        json!({"serial": row.serial}),
    );
    Ok(Reply::success(issued_certs(p, responder, &row), Vec::new()).with_cipher(cipher))
}

/// Policy refusals become FAILURE replies; infrastructure errors stay errors.
fn refused_by_pipeline(e: IssueError) -> Result<Reply, ApiError> {
    match e {
        IssueError::Denied(_)
        | IssueError::Ca(_)
        | IssueError::Conflict(_)
        | IssueError::KeyCompromised => Ok(Reply::fail(FailInfo::BadRequest, e.to_string())),
        other => Err(other.into()),
    }
}

fn issued_certs(p: &Profile<'_>, responder: &Responder, row: &certs::CertRow) -> Vec<Vec<u8>> {
    let mut out = vec![row.der.clone().unwrap_or_default()];
    if p.cfg.include_ca_in_reply {
        out.push(responder.ca.cert.to_der().unwrap_or_default());
        out.extend(responder.ca.chain.iter().filter_map(|c| c.to_der().ok()));
    }
    out
}

/// Where a transaction stands now; a final answer marks it delivered.
async fn transaction_state(
    app: &ScepState,
    p: &Profile<'_>,
    responder: &Responder,
    transaction_id: &str,
    certificate_id: &str,
) -> Result<Reply, ApiError> {
    let row = certs::get(&app.store.read, certificate_id).await?;
    let reply = match row.status.as_str() {
        certs::PENDING_APPROVAL | certs::ISSUING => return Ok(Reply::pending()),
        certs::REJECTED | certs::FAILED => Reply::fail(
            FailInfo::BadRequest,
            format!(
                "the request was {}: {}",
                row.status,
                row.failure.as_deref().unwrap_or("no reason given")
            ),
        ),
        _ => Reply::success(issued_certs(p, responder, &row), Vec::new()),
    };
    db::mark_delivered(&app.store.write, p.name, transaction_id).await?;
    Ok(reply)
}

/// The current certificate of ours that signed this request, if any.
async fn renewal_of(
    app: &ScepState,
    responder: &Responder,
    msg: &PkiMessage,
) -> Result<Option<certs::CertRow>, ApiError> {
    let ca_key = responder
        .ca
        .cert
        .public_key()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !msg.signer.signed_by(&ca_key) {
        return Ok(None);
    }
    let serial_hex = serial::to_hex(msg.signer.serial_unsigned());
    match certs::by_serial(&app.store.read, &responder.ca_id, &serial_hex).await {
        Ok(row) if row.status == certs::ACTIVE && row.not_after.unwrap_or(0) > now() => {
            Ok(Some(row))
        }
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn record_refusal(
    app: &ScepState,
    p: &Profile<'_>,
    msg: &PkiMessage,
    f: &Failure,
) -> Result<(), ApiError> {
    tracing::info!(
        profile = p.name,
        transaction_id = %msg.transaction_id,
        fail_info = f.info.name(),
        reason = %f.text,
        "SCEP request refused"
    );
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    audit::record(
        &mut tx,
        audit::Event {
            actor: &format!("scep:{}", p.name),
            action: "scep.refused",
            target: Some(&msg.transaction_id),
            severity: "warning",
            request_id: None,
            details: json!({
                "outcome": "failure",
                "fail_info": f.info.name(),
                "reason": f.text,
                "signer": msg.signer.subject,
            }),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Sign the CertRep. The reply uses the request's digest and cipher when
/// the profile allows them, and SHA-256 / AES-128 (RFC 8894's mandatory
/// ones) otherwise: certmonger, for one, cannot read a DES reply.
fn render(
    p: &Profile<'_>,
    responder: &Responder,
    msg: &PkiMessage,
    reply: &Reply,
) -> Result<Vec<u8>, signet_ca::CaError> {
    let legacy_ok = p.cfg.allow_legacy;
    let digest = msg
        .digest
        .filter(|d| legacy_ok || !d.is_legacy())
        .unwrap_or(Digest::Sha256);
    let content = if reply.status == PkiStatus::Success {
        let certs: Vec<&[u8]> = reply.certs.iter().map(Vec::as_slice).collect();
        let crls: Vec<&[u8]> = reply.crls.iter().map(Vec::as_slice).collect();
        let cipher = reply
            .cipher
            .or_else(|| msg.cipher().ok())
            .filter(|c| legacy_ok || !c.is_legacy())
            .unwrap_or(ContentCipher::Aes128);
        scep::envelope(&msg.signer, &scep::degenerate(&certs, &crls), cipher)?
    } else {
        Vec::new()
    };
    let mut nonce = [0u8; 16];
    openssl::rand::rand_bytes(&mut nonce)?;
    let attrs = Attrs {
        message_type: MessageType::CertRep,
        transaction_id: &msg.transaction_id,
        sender_nonce: &nonce,
        recipient_nonce: Some(&msg.sender_nonce),
        status: Some(reply.status),
        failure: reply.failure.as_ref(),
    };
    let extra = if responder.is_ra {
        vec![responder.ca.cert.clone()]
    } else {
        Vec::new()
    };
    scep::sign_message(
        &responder.cert,
        &responder.key,
        digest,
        &attrs,
        &content,
        &extra,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_keeps_its_common_name_and_renewal_req_needs_a_current_certificate() {
        let old = Some(("old", Some("laptop-42")));
        assert_eq!(
            renewal_replaces(MessageType::RenewalReq, old, Some("laptop-42")).unwrap(),
            Some("old".to_string())
        );
        assert_eq!(
            renewal_replaces(MessageType::PkcsReq, None, Some("new-device")).unwrap(),
            None
        );
        for (kind, old, cn) in [
            (MessageType::PkcsReq, old, Some("other")),
            (MessageType::RenewalReq, None, Some("laptop-42")),
        ] {
            let f = renewal_replaces(kind, old, cn).unwrap_err();
            assert_eq!(f.info, FailInfo::BadRequest);
        }
    }
}
