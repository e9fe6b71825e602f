//! Import an existing certificate (and optionally its key and chain).
//! De-duplicated on the SHA-256 fingerprint; the issuer must be one of our
//! CAs or come with the chain, in which case it is kept as an external CA.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use openssl::pkey::{PKey, Private};
use openssl::sha::sha256;
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::{Value, json};
use signet_ca::names::San;
use signet_ca::{key, serial};

use super::full_view;
use crate::api::auth::Principal;
use crate::api::json::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, cas, new_id, now, projects};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    certificate: String,
    private_key: Option<String>,
    chain: Option<String>,
    #[serde(alias = "project_id")]
    project: Option<String>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_import", msg)
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, ApiError> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).map_err(|e| invalid(e.to_string()))?;
    let d = epoch.diff(t).map_err(|e| invalid(e.to_string()))?;
    Ok(i64::from(d.days) * 86400 + i64::from(d.secs))
}

struct Analysis {
    cert: X509,
    key: Option<PKey<Private>>,
    /// Our CA id, or the external issuer certificate to record.
    issuer: Result<String, X509>,
    fingerprint: String,
    sans: Vec<San>,
    duplicate_of: Option<String>,
}

async fn analyze(app: &AppState, b: &ImportBody) -> Result<Analysis, ApiError> {
    let cert = X509::from_pem(b.certificate.as_bytes())
        .map_err(|_| invalid("certificate is not a PEM certificate"))?;
    let key = match &b.private_key {
        Some(pem) => {
            let k =
                key::private_from_pem(pem.as_bytes(), None).map_err(|e| invalid(e.to_string()))?;
            let cert_key = cert.public_key().map_err(|e| invalid(e.to_string()))?;
            if !cert_key.public_eq(&k) {
                return Err(invalid("the private key does not match the certificate"));
            }
            Some(k)
        }
        None => None,
    };
    let der = cert.to_der().map_err(|e| invalid(e.to_string()))?;
    let fingerprint = serial::to_hex(&sha256(&der));
    let duplicate_of: Option<String> =
        sqlx::query_scalar("SELECT id FROM certificates WHERE fingerprint = $1")
            .bind(fingerprint.clone())
            .fetch_optional(&app.store.read)
            .await
            .map_err(StoreError::from)?;
    let mut issuer = None;
    for ca in cas::list(&app.store.read).await? {
        let c = X509::from_der(&ca.cert_der).map_err(|e| invalid(e.to_string()))?;
        if c.public_key()
            .map(|k| cert.verify(&k).unwrap_or(false))
            .unwrap_or(false)
            && c.to_der().ok() != Some(der.clone())
        {
            issuer = Some(Ok(ca.id));
            break;
        }
    }
    let issuer = match issuer {
        Some(i) => i,
        None => {
            let chain = b
                .chain
                .as_deref()
                .map(|c| X509::stack_from_pem(c.as_bytes()))
                .transpose()
                .map_err(|_| invalid("chain is not PEM"))?
                .unwrap_or_default();
            let parent = chain
                .into_iter()
                .find(|c| {
                    c.public_key()
                        .map(|k| cert.verify(&k).unwrap_or(false))
                        .unwrap_or(false)
                })
                .ok_or_else(|| {
                    invalid("the issuer is not one of this server's CAs; include it in `chain`")
                })?;
            Err(parent)
        }
    };
    let mut sans = Vec::new();
    for g in cert.subject_alt_names().into_iter().flatten() {
        if let Some(d) = g.dnsname() {
            sans.push(San::Dns(d.to_ascii_lowercase()));
        } else if let Some(ip) = g.ipaddress() {
            if let Ok(a) = <[u8; 4]>::try_from(ip) {
                sans.push(San::Ip(a.into()));
            } else if let Ok(a) = <[u8; 16]>::try_from(ip) {
                sans.push(San::Ip(a.into()));
            }
        } else if let Some(e) = g.email() {
            sans.push(San::Email(e.to_string()));
        } else if let Some(u) = g.uri() {
            sans.push(San::Uri(u.to_string()));
        }
    }
    Ok(Analysis {
        cert,
        key,
        issuer,
        fingerprint,
        sans,
        duplicate_of,
    })
}

fn describe(a: &Analysis) -> Result<Value, ApiError> {
    let c = &a.cert;
    let pk = c.public_key().map_err(|e| invalid(e.to_string()))?;
    Ok(json!({
        "subject": format!("{:?}", c.subject_name()),
        "serial": serial::to_hex(&c.serial_number().to_bn().map_err(|e| invalid(e.to_string()))?.to_vec()),
        "not_before": unix(c.not_before())?,
        "not_after": unix(c.not_after())?,
        "expired": unix(c.not_after())? <= now(),
        "sans": a.sans,
        "key_type": key::describe(&pk).map(|k| k.label()).unwrap_or_else(|e| format!("unsupported: {e}")),
        "fingerprint_sha256": a.fingerprint,
        "private_key_matches": a.key.is_some(),
        "issuer": match &a.issuer { Ok(id) => json!({"ca_id": id}), Err(c) => json!({"external": format!("{:?}", c.subject_name())}) },
        "duplicate_of": a.duplicate_of,
    }))
}

pub async fn preview(
    State(app): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<ImportBody>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:import")?;
    let a = analyze(&app, &b).await?;
    Ok(Json(json!({"preview": describe(&a)?})))
}

pub async fn import(
    State(app): State<AppState>,
    p: Principal,
    ApiJson(b): ApiJson<ImportBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("certificate:import")?;
    let a = analyze(&app, &b).await?;
    if let Some(existing) = &a.duplicate_of {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "this certificate is already in the store",
        );
        e.details = vec![json!({"certificate_id": existing})];
        return Err(e);
    }
    let d = describe(&a)?;
    let project = match (&p.token.project_id, &b.project) {
        (Some(own), _) => Some(own.clone()),
        (None, Some(name)) => Some(
            projects::find(&app.store.read, name)
                .await
                .map_err(|_| invalid(format!("unknown project {name:?}")))?
                .id,
        ),
        (None, None) => None,
    };
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let ca_id = match &a.issuer {
        Ok(id) => id.clone(),
        Err(parent) => {
            let der = parent.to_der().map_err(|e| invalid(e.to_string()))?;
            let known: Option<String> =
                sqlx::query_scalar("SELECT id FROM cas WHERE cert_der = $1")
                    .bind(der.clone())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            match known {
                Some(id) => id,
                None => {
                    let id = new_id();
                    let pk = parent.public_key().map_err(|e| invalid(e.to_string()))?;
                    cas::insert(
                        &mut *tx,
                        &cas::CaRow {
                            id: id.clone(),
                            name: format!("external-{}", &id[..12]),
                            parent_id: None,
                            subject: format!("{:?}", parent.subject_name()),
                            key_type: key::describe(&pk)
                                .map(|k| k.label())
                                .unwrap_or_else(|_| "unknown".into()),
                            cert_der: der,
                            key_sealed: Vec::new(),
                            not_before: unix(parent.not_before())?,
                            not_after: unix(parent.not_after())?,
                            crl_number: 0,
                            status: "external".into(),
                            created_at: now(),
                        },
                    )
                    .await?;
                    id
                }
            }
        }
    };
    let id = new_id();
    let cert_der = a.cert.to_der().map_err(|e| invalid(e.to_string()))?;
    let pk = a.cert.public_key().map_err(|e| invalid(e.to_string()))?;
    let cn = a
        .cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok());
    let row = CertRow {
        id: id.clone(),
        ca_id,
        serial: d["serial"].as_str().map(str::to_string),
        status: certs::ISSUING.into(),
        subject: d["subject"].as_str().unwrap_or_default().to_string(),
        common_name: cn,
        sans: serde_json::to_string(&a.sans).map_err(StoreError::from)?,
        not_before: d["not_before"].as_i64(),
        not_after: d["not_after"].as_i64(),
        key_type: d["key_type"].as_str().unwrap_or_default().to_string(),
        public_key: pk.public_key_to_der().map_err(|e| invalid(e.to_string()))?,
        csr: None,
        plan: "{}".into(),
        der: None,
        fingerprint: None,
        key_sealed: a
            .key
            .as_ref()
            .map(|k| key::seal_key(&app.master_key, id.as_bytes(), k))
            .transpose()
            .map_err(|e| invalid(e.to_string()))?,
        template_id: None,
        project_id: project,
        channel: "import".into(),
        requested_by: p.actor(),
        approvals_required: 0,
        failure: None,
        revoked_at: None,
        revocation_reason: None,
        replaces_id: None,
        crl_shard: None,
        created_at: now(),
        updated_at: now(),
    };
    certs::insert(&mut *tx, &row).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "a certificate with this serial from this CA is already stored",
        ),
        other => other.into(),
    })?;
    certs::mark_active(&mut *tx, &id, &cert_der, &a.fingerprint).await?;
    audit::record(
        &mut tx,
        audit::Event {
            actor: &p.actor(),
            action: "certificate.imported",
            target: Some(&id),
            severity: "info",
            request_id: None,
            details: json!({"fingerprint": a.fingerprint, "with_key": a.key.is_some()}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((StatusCode::CREATED, Json(full_view(&app, &id).await?)))
}
