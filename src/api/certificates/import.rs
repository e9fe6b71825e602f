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

use super::load_view;
use crate::api::ApiState;
use crate::api::auth::Principal;
use crate::api::json::ApiJson;
use crate::error::ApiError;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, cas, new_id, now, projects};

#[derive(Deserialize, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    pub certificate: String,
    pub private_key: Option<String>,
    pub chain: Option<String>,
    #[serde(alias = "project_id")]
    pub project: Option<String>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_import", msg)
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, ApiError> {
    signet_ca::unix_time(t).map_err(|e| invalid(e.to_string()))
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

async fn analyze(app: &ApiState, b: &ImportBody) -> Result<Analysis, ApiError> {
    let cert = X509::from_pem(b.certificate.as_bytes())
        .map_err(|_| invalid("certificate is not a PEM certificate"))?;
    let key = match &b.private_key {
        Some(pem) => {
            let k =
                key::private_from_pem(pem.as_bytes(), None).map_err(|e| invalid(e.to_string()))?;
            let cert_key = cert.public_key().map_err(|e| invalid(e.to_string()))?;
            if !signet_ca::same_public_key(&cert_key, &k) {
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
            .map(|k| signet_ca::signed_by(&cert, &k))
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
                        .map(|k| signet_ca::signed_by(&cert, &k))
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
        "subject": signet_ca::names::dn_text(c.subject_name()),
        "serial": serial::to_hex(&c.serial_number().to_bn().map_err(|e| invalid(e.to_string()))?.to_vec()),
        "not_before": unix(c.not_before())?,
        "not_after": unix(c.not_after())?,
        "expired": unix(c.not_after())? <= now(),
        "sans": a.sans,
        "key_type": key::describe(&pk).map(|k| k.label()).unwrap_or_else(|e| format!("unsupported: {e}")),
        "fingerprint_sha256": a.fingerprint,
        "private_key_matches": a.key.is_some(),
        "issuer": match &a.issuer { Ok(id) => json!({"ca_id": id}), Err(c) => json!({"external": signet_ca::names::dn_text(c.subject_name())}) },
        "duplicate_of": a.duplicate_of,
    }))
}

pub async fn preview(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<ImportBody>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:import")?;
    let a = analyze(&app, &b).await?;
    Ok(Json(json!({"preview": describe(&a)?})))
}

pub async fn import(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<ImportBody>,
) -> Result<(StatusCode, Json<super::view::Certificate>), ApiError> {
    p.require("certificate:import")?;
    let id = import_one(&app, &p, &b).await?;
    Ok((StatusCode::CREATED, Json(load_view(&app, &id).await?)))
}

/// The id of an issuer from outside Signet, recorded as an external CA (a
/// certificate without a key) the first time one of its certificates is
/// imported.
async fn external_issuer(tx: &mut crate::store::Tx, parent: &X509) -> Result<String, ApiError> {
    let der = parent.to_der().map_err(|e| invalid(e.to_string()))?;
    let known: Option<String> = sqlx::query_scalar("SELECT id FROM cas WHERE cert_der = $1")
        .bind(der.clone())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
    if let Some(id) = known {
        return Ok(id);
    }
    let id = new_id();
    let pk = parent.public_key().map_err(|e| invalid(e.to_string()))?;
    cas::insert(
        &mut **tx,
        &cas::CaRow {
            id: id.clone(),
            name: format!("external-{}", &id[..12]),
            parent_id: None,
            subject: signet_ca::names::dn_text(parent.subject_name()),
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
    Ok(id)
}

/// The row an imported certificate is stored as (inserted `issuing`, then
/// marked active with its DER in the same transaction), its key sealed.
fn imported_row(
    a: &Analysis,
    d: &Value,
    ca_id: String,
    project_id: Option<String>,
    actor: &str,
    master_key: &[u8; 32],
) -> Result<CertRow, ApiError> {
    let id = new_id();
    let pk = a.cert.public_key().map_err(|e| invalid(e.to_string()))?;
    let common_name = a
        .cert
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok());
    let key_sealed = a
        .key
        .as_ref()
        .map(|k| key::seal_key(master_key, id.as_bytes(), k))
        .transpose()
        .map_err(|e| invalid(e.to_string()))?;
    Ok(CertRow {
        id,
        ca_id,
        serial: d["serial"].as_str().map(str::to_string),
        status: certs::ISSUING.into(),
        subject: d["subject"].as_str().unwrap_or_default().to_string(),
        common_name,
        sans: serde_json::to_string(&a.sans).map_err(StoreError::from)?,
        not_before: d["not_before"].as_i64(),
        not_after: d["not_after"].as_i64(),
        key_type: d["key_type"].as_str().unwrap_or_default().to_string(),
        public_key: pk.public_key_to_der().map_err(|e| invalid(e.to_string()))?,
        csr: None,
        plan: "{}".into(),
        der: None,
        fingerprint: None,
        key_sealed,
        template_id: None,
        project_id,
        channel: "import".into(),
        requested_by: actor.to_string(),
        approvals_required: 0,
        failure: None,
        revoked_at: None,
        revocation_reason: None,
        replaces_id: None,
        crl_shard: None,
        created_at: now(),
        updated_at: now(),
    })
}

/// Analyse and store one certificate; returns the new row's id.
pub(super) async fn import_one(
    app: &ApiState,
    p: &Principal,
    b: &ImportBody,
) -> Result<String, ApiError> {
    let a = analyze(app, b).await?;
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
        Err(parent) => external_issuer(&mut tx, parent).await?,
    };
    let row = imported_row(&a, &d, ca_id, project, &p.actor(), &app.master_key)?;
    let (id, cert_der) = (
        row.id.clone(),
        a.cert.to_der().map_err(|e| invalid(e.to_string()))?,
    );
    certs::insert(&mut *tx, &row).await.map_err(|e| match e {
        StoreError::Conflict(_) => ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "a certificate with this serial from this CA is already stored",
        ),
        other => other.into(),
    })?;
    certs::mark_active(&mut *tx, &id, &cert_der, &a.fingerprint, now()).await?;
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
    Ok(id)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// Certificates (and the CAs that issued them) as one PEM bundle.
    bundle: String,
    #[serde(alias = "project_id")]
    project: Option<String>,
}

fn is_ca(c: &X509) -> bool {
    c.to_der()
        .ok()
        .and_then(|d| {
            x509_parser::parse_x509_certificate(&d)
                .ok()
                .and_then(|(_, x)| x.basic_constraints().ok().flatten().map(|bc| bc.value.ca))
        })
        .unwrap_or(false)
}

fn to_pem(c: &X509) -> String {
    String::from_utf8_lossy(&c.to_pem().unwrap_or_default()).to_string()
}

/// Import every end-entity certificate of a bundle in the background (202 +
/// operation); CA certificates in the bundle serve as the chain.
pub async fn bulk(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<BulkBody>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    p.require("certificate:import")?;
    let certs = X509::stack_from_pem(b.bundle.as_bytes())
        .map_err(|_| invalid("bundle is not a PEM bundle"))?;
    if certs.iter().all(is_ca) {
        return Err(invalid("bundle holds no end-entity certificate"));
    }
    let op = crate::api::operations::start(&app, "certificates.import.bulk", &p).await?;
    let (app2, op2) = (app.clone(), op.clone());
    tokio::spawn(async move {
        let mut results = Vec::new();
        let (mut ok, mut failed) = (0, 0);
        for c in certs.iter().filter(|c| !is_ca(c)) {
            let body = ImportBody {
                certificate: to_pem(c),
                private_key: None,
                chain: Some(b.bundle.clone()),
                project: b.project.clone(),
            };
            let fp = c
                .to_der()
                .map(|d| serial::to_hex(&sha256(&d)))
                .unwrap_or_default();
            match import_one(&app2, &p, &body).await {
                Ok(id) => {
                    ok += 1;
                    results.push(json!({"fingerprint_sha256": fp, "certificate_id": id}));
                }
                Err(e) => {
                    failed += 1;
                    results.push(json!({"fingerprint_sha256": fp, "error": {"code": e.code, "message": e.message, "details": e.details}}));
                }
            }
        }
        let status = if failed == 0 {
            "succeeded"
        } else if ok == 0 {
            "failed"
        } else {
            "partially_succeeded"
        };
        if let Err(e) = crate::api::operations::finish(
            &app2,
            &op2,
            status,
            &json!({"imported": ok, "failed": failed, "items": results}),
        )
        .await
        {
            tracing::error!(operation = %op2, error = %e, "cannot record the bulk import result");
        }
    });
    let loc = format!("/api/v1/operations/{op}");
    let headers = [
        (axum::http::header::LOCATION, loc.clone()),
        (axum::http::header::RETRY_AFTER, "1".to_string()),
    ];
    Ok((
        StatusCode::ACCEPTED,
        headers,
        Json(json!({"operation_id": op, "location": loc})),
    )
        .into_response())
}

/// `multipart/form-data` with a `file` (PEM, DER or PKCS#12), and optionally
/// `password` (for PKCS#12) and `project`.
pub async fn file(
    State(app): State<ApiState>,
    p: Principal,
    mut form: axum::extract::Multipart,
) -> Result<(StatusCode, Json<super::view::Certificate>), ApiError> {
    p.require("certificate:import")?;
    let (mut data, mut password, mut project) = (None, None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(e.to_string()))?
    {
        let name = field.name().unwrap_or("").to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        match name.as_str() {
            "file" => data = Some(bytes.to_vec()),
            "password" => password = Some(String::from_utf8_lossy(&bytes).to_string()),
            "project" => project = Some(String::from_utf8_lossy(&bytes).to_string()),
            _ => {}
        }
    }
    let data = data.ok_or_else(|| invalid("a `file` field is required"))?;
    let body = if data.trim_ascii_start().starts_with(b"-----") {
        let text = String::from_utf8_lossy(&data).to_string();
        let certs = X509::stack_from_pem(text.as_bytes())
            .map_err(|_| invalid("no certificate in the PEM file"))?;
        let first = certs
            .first()
            .ok_or_else(|| invalid("no certificate in the PEM file"))?;
        let key = text.contains("PRIVATE KEY-----").then(|| text.clone());
        ImportBody {
            certificate: to_pem(first),
            private_key: key,
            chain: Some(text),
            project,
        }
    } else if let Ok(cert) = X509::from_der(&data) {
        ImportBody {
            certificate: to_pem(&cert),
            private_key: None,
            chain: None,
            project,
        }
    } else {
        let p12 = openssl::pkcs12::Pkcs12::from_der(&data)
            .map_err(|_| invalid("the file is neither PEM, DER nor PKCS#12"))?;
        let parsed = p12
            .parse2(password.as_deref().unwrap_or(""))
            .map_err(|_| invalid("cannot open the PKCS#12 file (wrong password?)"))?;
        let cert = parsed
            .cert
            .ok_or_else(|| invalid("the PKCS#12 file holds no certificate"))?;
        let key = parsed.pkey.map(|k| {
            String::from_utf8_lossy(&k.private_key_to_pem_pkcs8().unwrap_or_default()).to_string()
        });
        let chain: String = parsed
            .ca
            .map(|s| s.iter().map(|c| to_pem(&c.to_owned())).collect())
            .unwrap_or_default();
        ImportBody {
            certificate: to_pem(&cert),
            private_key: key,
            chain: Some(chain),
            project,
        }
    };
    let id = import_one(&app, &p, &body).await?;
    Ok((StatusCode::CREATED, Json(load_view(&app, &id).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_imported_row_carries_the_certificate_and_its_sealed_key() {
        let key = key::KeyType::EcP256.generate().unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "imported.example.test")
            .unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::from_unix(1_000).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::from_unix(2_000).unwrap())
            .unwrap();
        b.set_serial_number(
            &openssl::bn::BigNum::from_u32(0x1234)
                .unwrap()
                .to_asn1_integer()
                .unwrap(),
        )
        .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        let a = Analysis {
            cert: b.build(),
            key: Some(key),
            issuer: Ok("ca".into()),
            fingerprint: "ff".into(),
            sans: vec![San::Dns("imported.example.test".into())],
            duplicate_of: None,
        };
        let d = describe(&a).unwrap();
        let master = [7u8; 32];
        let row = imported_row(&a, &d, "ca".into(), None, "token:t", &master).unwrap();
        assert_eq!(row.serial.as_deref(), Some("1234"));
        assert_eq!(row.common_name.as_deref(), Some("imported.example.test"));
        assert_eq!((row.not_before, row.not_after), (Some(1_000), Some(2_000)));
        assert_eq!(
            (row.status.as_str(), row.channel.as_str()),
            ("issuing", "import")
        );
        let sealed = row.key_sealed.unwrap();
        let opened = key::open_key(&master, row.id.as_bytes(), &sealed).unwrap();
        assert!(opened.public_eq(a.key.as_ref().unwrap()));
    }
}
