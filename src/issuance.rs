//! THE issuance pipeline. ACME finalize, SCEP PKCSReq and REST requests all
//! come through here, and nothing else asks the CA to sign:
//!
//! policy → (pending approval) → reserve serial, commit `issuing` → sign →
//! commit `active` + audit event.
//!
//! Because the `issuing` row (with its serial, plan and public key) is
//! committed before signing, a crash leaves a record that `reconcile`
//! finishes on the next start: nothing signed is ever unknown.

use openssl::pkey::{PKey, Public};
use openssl::sha::sha256;
use serde_json::json;
use signet_ca::CaError;
use signet_ca::csr::ParsedCsr;
use signet_ca::issue::{self, CertPlan, SignAs};
use signet_ca::key::{self, KeyInfo, KeyType};
use signet_ca::names::San;
use signet_ca::serial;

use crate::ca_registry::CaLoadError;
use crate::core_state::Core;
use crate::policy::{self, Channel, PolicyRequest, TemplateSpec, Violation};
use crate::store::batch::Stmt;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, blocked_keys, cas, new_id, now, projects, templates};

/// Where the subject key comes from.
pub enum RequestKey {
    Csr(ParsedCsr),
    /// The server generates the key and keeps it sealed with the certificate.
    Generate(KeyType),
    /// A key the server already holds (a renewal that keeps its key): sealed
    /// again with the new certificate.
    Held(PKey<openssl::pkey::Private>),
}

pub struct IssuanceRequest {
    pub channel: Channel,
    pub requested_by: String,
    /// Template id or name; None means the project's default template.
    pub template: Option<String>,
    /// Project id or name; None means the `default` project.
    pub project: Option<String>,
    pub subject: Vec<(String, String)>,
    pub sans: Vec<San>,
    pub key: RequestKey,
    pub validity_days: Option<u32>,
    pub replaces_id: Option<String>,
    /// Approvals required at least, whatever the template says (a SCEP
    /// profile without a challenge holds every request for an admin).
    pub min_approvals: u32,
    /// Statements the front runs in the transaction that stores the row,
    /// given its id: the ACME order or SCEP transaction and its certificate
    /// are then one unit, and no crash leaves a signed certificate that its
    /// request does not know.
    pub link: Option<Link>,
}

pub type Link = Box<dyn FnOnce(&str) -> Vec<Stmt> + Send + Sync>;

impl IssuanceRequest {
    /// A request whose subject and names are those of the CSR.
    pub fn from_csr(channel: Channel, requested_by: &str, csr: ParsedCsr) -> Self {
        IssuanceRequest {
            channel,
            requested_by: requested_by.to_string(),
            template: None,
            project: None,
            subject: csr.subject.clone(),
            sans: csr.sans.clone(),
            key: RequestKey::Csr(csr),
            validity_days: None,
            replaces_id: None,
            min_approvals: 0,
            link: None,
        }
    }
}

#[derive(Debug)]
pub enum Outcome {
    Issued(Box<CertRow>),
    Pending(Box<CertRow>),
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("request violates the template: {}", .0.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("; "))]
    Denied(Vec<Violation>),
    #[error("unknown {0} {1:?}")]
    Unknown(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("CA unavailable: {0}")]
    CaUnavailable(String),
    #[error("the public key belongs to a certificate revoked for keyCompromise")]
    KeyCompromised,
}

impl From<CaLoadError> for IssueError {
    fn from(e: CaLoadError) -> Self {
        match e {
            CaLoadError::Store(s) => IssueError::Store(s),
            other => IssueError::CaUnavailable(other.to_string()),
        }
    }
}

/// A request resolved against its template: what would be issued. This is
/// also what a dry run returns.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Resolved {
    pub template_id: String,
    pub template_name: String,
    pub project_id: String,
    pub ca_id: String,
    pub key: KeyInfo,
    pub plan: CertPlan,
    pub approvals_required: u32,
    /// The template renews what it issues over the API by itself.
    pub auto_renew: bool,
    /// Email recipients of the template's events.
    #[serde(skip)]
    pub notify_email: Vec<String>,
}

fn not_found<'a>(what: &'static str, name: &'a str) -> impl FnOnce(StoreError) -> IssueError + 'a {
    move |e| match e {
        StoreError::NotFound => IssueError::Unknown(what, name.to_string()),
        other => IssueError::Store(other),
    }
}

/// Resolve template, project and CA, and run the policy engine.
pub async fn evaluate(app: &Core, req: &IssuanceRequest) -> Result<Resolved, IssueError> {
    let db = &app.store.read;
    let project_name = req.project.as_deref().unwrap_or("default");
    let project = projects::find(db, project_name)
        .await
        .map_err(not_found("project", project_name))?;
    let template_ref = match (&req.template, &project.default_template_id) {
        (Some(t), _) => t.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => "default".to_string(),
    };
    let trow = templates::find(db, &template_ref)
        .await
        .map_err(not_found("template", &template_ref))?;
    let allowed = project.allowed_templates();
    if !allowed.is_empty() && !allowed.contains(&trow.id) {
        return Err(IssueError::Denied(vec![policy::Violation {
            rule: "project_templates".into(),
            offending_value: trow.name,
            allowed: format!("the templates of project {}", project.name),
        }]));
    }
    let spec: TemplateSpec = serde_json::from_str(&trow.spec).map_err(StoreError::from)?;
    let key_info = match &req.key {
        RequestKey::Csr(c) => {
            if blocked_keys::is_blocked(db, &c.spki_der).await? {
                return Err(IssueError::KeyCompromised);
            }
            c.key.clone()
        }
        RequestKey::Generate(kt) => key_info_of(*kt),
        RequestKey::Held(k) => {
            let spki = k.public_key_to_der().map_err(CaError::from)?;
            if blocked_keys::is_blocked(db, &spki).await? {
                return Err(IssueError::KeyCompromised);
            }
            signet_ca::key::describe(k)?
        }
    };
    let plan = policy::evaluate(
        &spec,
        &PolicyRequest {
            channel: req.channel,
            subject: &req.subject,
            sans: &req.sans,
            key: &key_info,
            validity_days: req.validity_days,
            now: now(),
        },
    )
    .map_err(IssueError::Denied)?;
    // The default CA comes from the registry's cache: no query.
    let (ca_id, ca_not_after) = if spec.ca.is_empty() {
        let id = app.cas.default_id(&app.store).await?;
        let issuer = app.cas.get(&app.store, &app.master_key, &id).await?;
        let not_after = signet_ca::unix_time(issuer.cert.not_after()).map_err(CaError::from)?;
        (id, not_after)
    } else {
        let row = cas::find(db, &spec.ca)
            .await
            .map_err(not_found("CA", &spec.ca))?;
        (row.id, row.not_after)
    };
    let mut cert = plan.cert;
    cert.not_after = cert.not_after.min(ca_not_after);
    cert.crl_urls = vec![app.crl_url(&ca_id)];
    cert.ocsp_urls = vec![app.ocsp_url()];
    cert.ca_issuers_urls = vec![app.ca_cert_url(&ca_id)];
    Ok(Resolved {
        template_id: trow.id,
        template_name: trow.name,
        project_id: project.id,
        ca_id,
        key: key_info,
        plan: cert,
        approvals_required: plan.approvals_required.max(req.min_approvals),
        auto_renew: spec.auto_renew,
        notify_email: spec.notify_email.clone(),
    })
}

fn key_info_of(kt: KeyType) -> KeyInfo {
    let (algorithm, bits) = match kt {
        KeyType::EcP256 => ("ec", 256),
        KeyType::EcP384 => ("ec", 384),
        KeyType::EcP521 => ("ec", 521),
        KeyType::Rsa2048 => ("rsa", 2048),
        KeyType::Rsa3072 => ("rsa", 3072),
        KeyType::Rsa4096 => ("rsa", 4096),
        KeyType::Ed25519 => ("ed25519", 256),
    };
    KeyInfo {
        algorithm: algorithm.into(),
        bits,
    }
}

/// Fix a certificate's CRL shard from its serial, and point its CRLDP at
/// that shard's CRL. None when CRLs are not sharded.
fn assign_shard(app: &Core, plan: &mut CertPlan, ca_id: &str, serial: &[u8]) -> Option<i64> {
    let n = app.config.revocation.crl_shards;
    if n <= 1 || serial.len() < 4 {
        return None;
    }
    let shard = i64::from(u32::from_be_bytes([serial[0], serial[1], serial[2], serial[3]]) % n);
    plan.crl_urls = vec![app.crl_shard_url(ca_id, shard)];
    Some(shard)
}

/// Run the whole pipeline: returns the active certificate, or the pending row.
pub async fn submit(app: &Core, req: IssuanceRequest) -> Result<Outcome, IssueError> {
    // The CSR's key is already decoded; OpenSSL 3 decoding it again from
    // the row costs more than the signature.
    let key = match &req.key {
        RequestKey::Csr(c) => Some(c.public_key.clone()),
        RequestKey::Generate(_) | RequestKey::Held(_) => None,
    };
    let row = reserve(app, req).await?;
    if row.status == certs::PENDING_APPROVAL {
        return Ok(Outcome::Pending(Box::new(row)));
    }
    let id = row.id.clone();
    match sign_with(app, row, key).await {
        Ok(row) => Ok(Outcome::Issued(Box::new(row))),
        Err(e) => Err(fail_reserved(app, &id, e).await),
    }
}

/// A row that cannot be signed is marked `failed` at once, so nothing stays
/// `issuing` that no one will finish. A store that cannot be reached keeps
/// the row `issuing` for `reconcile` to finish: the plan was checked before
/// the reserve, so signing it later can succeed.
async fn fail_reserved(app: &Core, id: &str, e: IssueError) -> IssueError {
    if matches!(e, IssueError::Store(_) | IssueError::CaUnavailable(_)) {
        return e;
    }
    if let Err(m) = certs::mark_status(
        &app.store.write,
        id,
        certs::ISSUING,
        certs::FAILED,
        Some(&e.to_string()),
    )
    .await
    {
        tracing::error!(certificate = %id, error = %m, "cannot mark an unsignable certificate failed");
    }
    e
}

/// Policy, then commit the row: `pending_approval`, or `issuing` with a
/// reserved serial. Public so that a test can stop the pipeline here, as a
/// crash would.
pub async fn reserve(app: &Core, mut req: IssuanceRequest) -> Result<CertRow, IssueError> {
    let resolved = evaluate(app, &req).await?;
    let (public_key, csr, key_sealed) = match &req.key {
        RequestKey::Csr(c) => (c.spki_der.clone(), Some(c.der.clone()), None),
        RequestKey::Generate(kt) => {
            let k = kt.generate()?;
            (k.public_key_to_der().map_err(CaError::from)?, None, Some(k))
        }
        RequestKey::Held(k) => (
            k.public_key_to_der().map_err(CaError::from)?,
            None,
            Some(k.clone()),
        ),
    };
    // Everything the signature will cover is built once now: a plan OpenSSL
    // would refuse is answered before a row exists.
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, &resolved.ca_id)
        .await?;
    match (&req.key, &key_sealed) {
        (RequestKey::Csr(c), _) => issue::check(&issuer, &resolved.plan, &c.public_key)?,
        (_, Some(k)) => issue::check(&issuer, &resolved.plan, k)?,
        _ => {}
    }
    let id = new_id();
    let linked = req.link.take().map(|l| l(&id)).unwrap_or_default();
    let key_sealed = match key_sealed {
        Some(k) => Some(key::seal_key(&app.master_key, id.as_bytes(), &k)?),
        None => None,
    };
    let pending = resolved.approvals_required > 0;
    let t = now();
    let mut row = CertRow {
        id: id.clone(),
        ca_id: resolved.ca_id.clone(),
        serial: None,
        status: if pending {
            certs::PENDING_APPROVAL
        } else {
            certs::ISSUING
        }
        .to_string(),
        subject: subject_text(&resolved.plan.subject),
        common_name: resolved
            .plan
            .subject
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.clone()),
        sans: serde_json::to_string(&resolved.plan.sans).map_err(StoreError::from)?,
        not_before: Some(resolved.plan.not_before),
        not_after: Some(resolved.plan.not_after),
        key_type: resolved.key.label(),
        public_key,
        csr,
        plan: serde_json::to_string(&resolved.plan).map_err(StoreError::from)?,
        der: None,
        fingerprint: None,
        key_sealed,
        template_id: Some(resolved.template_id.clone()),
        project_id: Some(resolved.project_id.clone()),
        channel: req.channel.to_string(),
        requested_by: req.requested_by.clone(),
        approvals_required: i64::from(resolved.approvals_required),
        failure: None,
        revoked_at: None,
        revocation_reason: None,
        replaces_id: req.replaces_id.clone(),
        crl_shard: None,
        created_at: t,
        updated_at: t,
    };
    // A 128-bit random serial practically never collides, but the UNIQUE
    // constraint is the real guarantee: retry on conflict.
    for attempt in 0.. {
        if !pending {
            let serial_bytes = serial::random()?;
            let mut plan = resolved.plan.clone();
            row.crl_shard = assign_shard(app, &mut plan, &row.ca_id, &serial_bytes);
            row.plan = serde_json::to_string(&plan).map_err(StoreError::from)?;
            row.serial = Some(serial::to_hex(&serial_bytes));
        }
        let action = if pending {
            "certificate.requested"
        } else {
            "certificate.reserved"
        };
        let event = audit::Pending::new(audit::Event {
            actor: &req.requested_by,
            action,
            target: Some(&id),
            severity: "info",
            request_id: None,
            details: json!({"channel": row.channel, "template": resolved.template_name, "sans": resolved.plan.sans, "serial": row.serial}),
        });
        let mut stmts = vec![certs::insert_stmt(&row)];
        // ACME and SCEP clients renew themselves; the scheduler renews what
        // the API issues under a template that says so.
        if resolved.auto_renew && req.channel == Channel::Api {
            stmts.push(
                Stmt::new("UPDATE certificates SET auto_renew = 1 WHERE id = $1").bind(id.clone()),
            );
        }
        if pending {
            stmts.extend(crate::lifecycle::notify::enqueue(
                app,
                crate::lifecycle::notify::Event::ApprovalPending,
                &id,
                0,
            ));
        }
        stmts.extend(linked.iter().cloned());
        match audit::with_event(&app.store, stmts, None, event).await {
            Err(StoreError::Conflict(_)) if !pending && attempt < 3 => continue,
            r => r?,
        }
        break;
    }
    Ok(row)
}

/// Sign an `issuing` row with its reserved serial and commit it `active`.
pub async fn sign_reserved(app: &Core, row: CertRow) -> Result<CertRow, IssueError> {
    sign_with(app, row, None).await
}

/// `sign_reserved` with the subject key when the caller has it decoded.
async fn sign_with(
    app: &Core,
    mut row: CertRow,
    key: Option<PKey<Public>>,
) -> Result<CertRow, IssueError> {
    let issuer = app.cas.get(&app.store, &app.master_key, &row.ca_id).await?;
    let plan: CertPlan = serde_json::from_str(&row.plan).map_err(StoreError::from)?;
    let serial_hex = row
        .serial
        .clone()
        .ok_or_else(|| IssueError::Conflict("row has no reserved serial".into()))?;
    let serial_bytes = serial::from_hex(&serial_hex)
        .ok_or_else(|| StoreError::Corrupt(format!("serial {serial_hex}")))?;
    let public: PKey<Public> = match key {
        Some(k) => k,
        None => signet_ca::key::public_from_spki(&row.public_key)?,
    };
    let der = issue::sign(SignAs::Issuer(&issuer), &plan, &serial_bytes, &public)?;
    let fingerprint = serial::to_hex(&sha256(&der));
    let t = now();
    let event = audit::Pending::new(audit::Event {
        actor: &row.requested_by,
        action: "certificate.issued",
        target: Some(&row.id),
        severity: "info",
        request_id: None,
        details: json!({"serial": serial_hex, "ca_id": row.ca_id, "fingerprint": fingerprint, "channel": row.channel}),
    });
    audit::with_event(
        &app.store,
        vec![certs::mark_active_stmt(&row.id, &der, &fingerprint, t)],
        Some("certificate is not issuing"),
        event,
    )
    .await?;
    app.metrics.issued(&row.channel);
    // The row as committed, without reading it back.
    row.status = certs::ACTIVE.to_string();
    row.der = Some(der);
    row.fingerprint = Some(fingerprint);
    row.updated_at = t;
    Ok(row)
}

/// Finish every row left in `issuing` since before `before` (unix seconds)
/// by a crash or a store outage: re-sign with the reserved serial (the
/// earlier signature never left the process, since the response is only
/// sent after `active` is committed). Returns how many were finished.
pub async fn reconcile(app: &Core, before: i64) -> Result<usize, IssueError> {
    let ids = certs::issuing_since_before(&app.store.read, before).await?;
    let mut done = 0;
    for id in ids {
        let row = certs::get(&app.store.read, &id).await?;
        match sign_reserved(app, row).await {
            Ok(_) => done += 1,
            Err(IssueError::Conflict(_)) | Err(IssueError::Store(StoreError::Conflict(_))) => {}
            Err(e @ (IssueError::Store(_) | IssueError::CaUnavailable(_))) => return Err(e),
            Err(e) => {
                tracing::error!(certificate = %id, error = %e, "cannot finish reserved certificate; marking failed");
                certs::mark_status(
                    &app.store.write,
                    &id,
                    certs::ISSUING,
                    certs::FAILED,
                    Some(&e.to_string()),
                )
                .await?;
            }
        }
    }
    if done > 0 {
        tracing::warn!(count = done, "finished certificates left in 'issuing'");
    }
    Ok(done)
}

/// Record an approval; once the template's N approvals are in, reserve a
/// serial and sign. The requester may not approve their own request.
pub async fn approve(
    app: &Core,
    cert_id: &str,
    approver: &str,
    comment: Option<&str>,
) -> Result<Outcome, IssueError> {
    let row = certs::get(&app.store.read, cert_id)
        .await
        .map_err(not_found("certificate", cert_id))?;
    if row.status != certs::PENDING_APPROVAL {
        return Err(IssueError::Conflict(format!(
            "certificate is {}, not pending_approval",
            row.status
        )));
    }
    if row.requested_by == approver {
        return Err(IssueError::Conflict(
            "requesters cannot approve their own requests".into(),
        ));
    }
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    sqlx::query("INSERT INTO approvals (id, certificate_id, approver, decision, comment, created_at) VALUES ($1,$2,$3,'approved',$4,$5)")
        .bind(new_id())
        .bind(cert_id.to_string())
        .bind(approver.to_string())
        .bind(comment.map(str::to_string))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => IssueError::Conflict(format!("{approver} already approved this request")),
            other => other.into(),
        })?;
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM approvals WHERE certificate_id = $1 AND decision = 'approved'",
    )
    .bind(cert_id.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    audit::record(
        &mut tx,
        audit::Event { actor: approver, action: "certificate.approved", target: Some(cert_id), severity: "info", request_id: None, details: json!({"comment": comment, "approvals": count, "required": row.approvals_required}) },
    )
    .await?;
    if count < row.approvals_required {
        tx.commit().await.map_err(StoreError::from)?;
        return Ok(Outcome::Pending(Box::new(
            certs::get(&app.store.write, cert_id).await?,
        )));
    }
    // Validity starts now, not when the request was filed.
    let mut plan: CertPlan = serde_json::from_str(&row.plan).map_err(StoreError::from)?;
    let shift = now() - row.created_at;
    plan.not_before += shift;
    let ca = cas::get(&mut *tx, &row.ca_id).await?;
    plan.not_after = (plan.not_after + shift).min(ca.not_after);
    let serial_bytes = serial::random()?;
    let shard = assign_shard(app, &mut plan, &row.ca_id, &serial_bytes);
    let plan_json = serde_json::to_string(&plan).map_err(StoreError::from)?;
    let serial_hex = serial::to_hex(&serial_bytes);
    certs::reserve_pending(
        &mut *tx,
        cert_id,
        &serial_hex,
        &plan_json,
        plan.not_before,
        plan.not_after,
        shard,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let row = certs::get(&app.store.write, cert_id).await?;
    Ok(Outcome::Issued(Box::new(sign_reserved(app, row).await?)))
}

/// Reject a pending request (terminal).
pub async fn reject(
    app: &Core,
    cert_id: &str,
    approver: &str,
    comment: Option<&str>,
) -> Result<CertRow, IssueError> {
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    if !certs::mark_status(
        &mut *tx,
        cert_id,
        certs::PENDING_APPROVAL,
        certs::REJECTED,
        comment,
    )
    .await?
    {
        return Err(IssueError::Conflict(
            "certificate is not pending approval".into(),
        ));
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor: approver,
            action: "certificate.rejected",
            target: Some(cert_id),
            severity: "info",
            request_id: None,
            details: json!({"comment": comment}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(certs::get(&app.store.write, cert_id).await?)
}

fn subject_text(subject: &[(String, String)]) -> String {
    subject
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
