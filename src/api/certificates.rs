//! Certificate routes. Handlers stay thin: policy and issuance live in
//! `issuance`, revocation in `revocation`, rows in `store`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use signet_ca::key::{self, KeyType};
use signet_ca::names::San;

use super::auth::Principal;
use super::json::ApiJson;
use crate::api::ApiState;
use crate::error::ApiError;
use crate::issuance::{self, IssuanceRequest, Outcome, RequestKey};
use crate::policy::Channel;
use crate::revocation::{self, REASONS, RevokeError};
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, now, projects};

pub mod export;
pub mod import;
pub mod list;
pub mod view;

use crate::api::types::Timestamp;
use view::{Certificate, EXTRA_COLUMNS, Extras};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/certificates/csr", post(submit))
        .route("/api/v1/certificates", get(list::list).post(submit))
        .route(
            "/api/v1/certificates/{id}",
            get(get_certificate).put(update),
        )
        .route("/api/v1/certificates/{id}/approve", post(approve))
        .route("/api/v1/certificates/{id}/reject", post(reject))
        .route("/api/v1/certificates/{id}/revoke", post(revoke))
        .route("/api/v1/certificates/{id}/unrevoke", post(unrevoke))
        .route(
            "/api/v1/certificates/{id}/export",
            get(export::export).post(export::export_post),
        )
        .route(
            "/api/v1/certificates/{id}/private_key",
            get(export::private_key).post(export::private_key_post),
        )
        .route("/api/v1/certificates/{id}/archive", post(archive))
        .route("/api/v1/certificates/{id}/restore", post(restore))
        .route(
            "/api/v1/certificates/{id}/permanent",
            delete(permanent_delete),
        )
        .route("/api/v1/certificates/{id}/renew", post(renew))
        .route("/api/v1/certificates/{id}/renewal-history", get(history))
        .route("/api/v1/certificates/{id}/status", get(revocation_status))
        .merge(
            Router::new()
                .route("/api/v1/certificates/import", post(import::import))
                .route("/api/v1/certificates/import/preview", post(import::preview))
                .route("/api/v1/certificates/import/bulk", post(import::bulk))
                .route("/api/v1/certificates/import/file", post(import::file))
                .layer(axum::extract::DefaultBodyLimit::max(super::IMPORT_MAX_BODY)),
        )
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found("certificate"),
        other => other.into(),
    }
}

/// A certificate the caller may see: project-scoped tokens see their project only.
pub(crate) async fn visible(app: &ApiState, p: &Principal, id: &str) -> Result<CertRow, ApiError> {
    let row = certs::get(&app.store.read, id).await.map_err(not_found)?;
    if p.token.project_id.is_some() && p.token.project_id != row.project_id {
        return Err(ApiError::not_found("certificate"));
    }
    Ok(row)
}

/// A certificate as the REST API shows it.
pub async fn load_view(app: &ApiState, id: &str) -> Result<Certificate, ApiError> {
    let row = certs::get(&app.store.write, id).await.map_err(not_found)?;
    let extras: Extras = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EXTRA_COLUMNS} FROM certificates WHERE id = $1"
    )))
    .bind(id.to_string())
    .fetch_one(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    Ok(view::render(&row, &extras, now()))
}

async fn get_certificate(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:read")?;
    visible(&app, &p, &id).await?;
    Ok(Json(load_view(&app, &id).await?))
}

/// How the key and CSR come about (`csr_source_mode`).
#[derive(Deserialize, Default, JsonSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The client uploads a PEM CSR (`csr_pem`).
    #[default]
    UploadedCsr,
    /// Signet generates the key; it is sealed at rest and exportable
    /// as PKCS#12 or encrypted PKCS#8. `generated` is accepted as an alias.
    #[serde(alias = "generated")]
    MazevaultGenerated,
    /// Not supported: answers 422 unsupported_mode.
    AzureKeyVaultGenerated,
}

/// Subject attributes by the documents' names or their short forms.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestedSubject {
    #[serde(alias = "CN")]
    common_name: Option<String>,
    #[serde(alias = "O")]
    organization: Option<String>,
    #[serde(alias = "OU")]
    organizational_unit: Option<String>,
    #[serde(alias = "C")]
    country: Option<String>,
    #[serde(alias = "ST")]
    state: Option<String>,
    #[serde(alias = "L")]
    locality: Option<String>,
}

/// One SAN: `dns:x`, `ip:x`, `email:x`, `uri:x`, a bare name or address, or
/// `{"type": "dns", "value": "x"}`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SanInput {
    Text(String),
    Typed(view::SanEntry),
}

/// SANs as a list, or grouped as the MazeVault document groups them.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum RequestedSans {
    List(Vec<SanInput>),
    Grouped {
        #[serde(default)]
        dns_names: Vec<String>,
        #[serde(default)]
        ip_addresses: Vec<String>,
        #[serde(default)]
        email_addresses: Vec<String>,
        #[serde(default)]
        uris: Vec<String>,
    },
}

fn san_of(kind: &str, value: &str) -> Result<San, ApiError> {
    let bad = || ApiError::validation(format!("{kind} SAN {value:?} is not valid"));
    Ok(match kind {
        "dns" => San::Dns(value.to_string()),
        "ip" => San::Ip(value.parse().map_err(|_| bad())?),
        "email" => San::Email(value.to_string()),
        "uri" => San::Uri(value.to_string()),
        _ => {
            return Err(ApiError::validation(format!(
                "unknown SAN type {kind:?} (dns, ip, email, uri)"
            )));
        }
    })
}

impl RequestedSans {
    fn into_sans(self) -> Result<Vec<San>, ApiError> {
        match self {
            RequestedSans::List(items) => items
                .into_iter()
                .map(|i| match i {
                    SanInput::Typed(e) => san_of(&e.kind, &e.value),
                    SanInput::Text(t) => match t.split_once(':') {
                        Some((k @ ("dns" | "ip" | "email" | "uri"), v)) => san_of(k, v),
                        _ => Ok(match t.parse() {
                            Ok(ip) => San::Ip(ip),
                            Err(_) => San::Dns(t),
                        }),
                    },
                })
                .collect(),
            RequestedSans::Grouped {
                dns_names,
                ip_addresses,
                email_addresses,
                uris,
            } => [
                ("dns", dns_names),
                ("ip", ip_addresses),
                ("email", email_addresses),
                ("uri", uris),
            ]
            .into_iter()
            .flat_map(|(k, vs)| vs.into_iter().map(move |v| san_of(k, &v)))
            .collect(),
        }
    }
}

/// `POST /certificates/csr`, in the MazeVault document's names; the short
/// names in brackets are accepted as aliases.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    /// uploaded_csr (default) or mazevault_generated [mode; generated].
    #[serde(default, alias = "mode")]
    csr_source_mode: Mode,
    /// PEM CSR, for uploaded_csr [csr].
    #[serde(alias = "csr")]
    csr_pem: Option<String>,
    /// The common name, for generated keys [common_name].
    #[serde(alias = "common_name")]
    requested_cn: Option<String>,
    /// Further subject attributes, for generated keys.
    requested_subject: Option<RequestedSubject>,
    /// SANs, for generated keys [sans].
    #[serde(alias = "sans")]
    requested_san: Option<RequestedSans>,
    /// RSA, ECDSA (EC) or Ed25519, with requested_key_size.
    requested_key_algorithm: Option<String>,
    /// RSA 2048/3072/4096; ECDSA 256/384/521.
    requested_key_size: Option<u32>,
    /// ec-p256 (default), ec-p384, ec-p521, rsa-2048, rsa-3072, rsa-4096, ed25519.
    #[schemars(with = "Option<String>")]
    key_type: Option<KeyType>,
    /// Template id or name; the project's default when absent [template].
    #[serde(alias = "template")]
    template_id: Option<String>,
    /// Project id or name; `default` when absent [project].
    #[serde(alias = "project")]
    project_id: Option<String>,
    /// Shorter than the template's validity, if asked.
    validity_days: Option<u32>,
    /// String values only.
    tags: Option<serde_json::Map<String, Value>>,
    description: Option<String>,
}

/// The key type a request names, by `key_type` or by algorithm and size.
fn key_type_of(b: &SubmitBody) -> Result<KeyType, ApiError> {
    let unsupported = |what: String| {
        ApiError::validation(format!(
            "{what} is not supported (RSA 2048/3072/4096, ECDSA 256/384/521, Ed25519)"
        ))
    };
    match (&b.key_type, b.requested_key_algorithm.as_deref()) {
        (Some(k), None) => Ok(*k),
        (None, None) => Ok(KeyType::EcP256),
        (Some(_), Some(_)) => Err(ApiError::validation(
            "give key_type or requested_key_algorithm, not both",
        )),
        (None, Some(alg)) => {
            let size = b.requested_key_size;
            Ok(match (alg.to_ascii_uppercase().as_str(), size) {
                ("RSA", None | Some(2048)) => KeyType::Rsa2048,
                ("RSA", Some(3072)) => KeyType::Rsa3072,
                ("RSA", Some(4096)) => KeyType::Rsa4096,
                ("ECDSA" | "EC", None | Some(256)) => KeyType::EcP256,
                ("ECDSA" | "EC", Some(384)) => KeyType::EcP384,
                ("ECDSA" | "EC", Some(521)) => KeyType::EcP521,
                ("ED25519", None | Some(256)) => KeyType::Ed25519,
                (a, s) => {
                    return Err(unsupported(match s {
                        Some(s) => format!("{a} {s}"),
                        None => a.to_string(),
                    }));
                }
            })
        }
    }
}

/// The subject of a generated-key request: CN first, then the others.
fn subject_of(b: &mut SubmitBody) -> Result<Vec<(String, String)>, ApiError> {
    let s = b.requested_subject.take().unwrap_or_default();
    let cn = match (b.requested_cn.take(), s.common_name) {
        (Some(a), Some(c)) if a != c => {
            return Err(ApiError::validation(
                "requested_cn and requested_subject.common_name differ",
            ));
        }
        (a, c) => a.or(c),
    };
    Ok([
        ("CN", cn),
        ("O", s.organization),
        ("OU", s.organizational_unit),
        ("C", s.country),
        ("ST", s.state),
        ("L", s.locality),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect())
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct DryRun {
    dry_run: bool,
}

/// The project a request may use: a project-scoped caller (token or URL) is
/// held to its own, named by id or name.
async fn project_for(
    app: &ApiState,
    p: &Principal,
    asked: Option<String>,
) -> Result<Option<String>, ApiError> {
    match (&p.token.project_id, asked) {
        (Some(own), Some(a)) if *own != a => {
            let same = matches!(projects::find(&app.store.read, &a).await, Ok(r) if r.id == *own);
            if !same {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "this token is scoped to another project",
                ));
            }
            Ok(Some(own.clone()))
        }
        (Some(own), _) => Ok(Some(own.clone())),
        (None, a) => Ok(a),
    }
}

async fn submit(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<DryRun>,
    ApiJson(mut b): ApiJson<SubmitBody>,
) -> Result<Response, ApiError> {
    p.require("certificate:request")?;
    let project = project_for(&app, &p, b.project_id.take()).await?;
    check_tags(&b.tags)?;
    let req = match b.csr_source_mode {
        Mode::AzureKeyVaultGenerated => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_mode",
                "csr_source_mode azure_key_vault_generated is not supported; use uploaded_csr or mazevault_generated",
            ));
        }
        Mode::UploadedCsr => {
            if b.requested_subject.is_some()
                || b.requested_san.is_some()
                || b.requested_cn.is_some()
            {
                return Err(ApiError::validation(
                    "uploaded_csr takes the subject and SANs from the CSR: drop requested_cn, requested_subject and requested_san",
                ));
            }
            let pem = b.csr_pem.take().ok_or_else(|| {
                ApiError::validation("csr_pem is required for csr_source_mode uploaded_csr")
            })?;
            let parsed = signet_ca::csr::parse(pem.as_bytes()).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_csr",
                    e.to_string(),
                )
            })?;
            let mut r = IssuanceRequest::from_csr(Channel::Api, &p.actor(), parsed);
            r.template = b.template_id.take();
            r.project = project;
            r.validity_days = b.validity_days;
            r
        }
        Mode::MazevaultGenerated => IssuanceRequest {
            channel: Channel::Api,
            requested_by: p.actor(),
            key: RequestKey::Generate(key_type_of(&b)?),
            subject: subject_of(&mut b)?,
            sans: match b.requested_san.take() {
                Some(s) => s.into_sans()?,
                None => Vec::new(),
            },
            template: b.template_id.take(),
            project,
            validity_days: b.validity_days,
            replaces_id: None,
            min_approvals: 0,
            link: None,
        },
    };
    if q.dry_run {
        let plan = issuance::evaluate(&app, &req).await?;
        return Ok((
            StatusCode::OK,
            Json(json!({"dry_run": true, "would_issue": plan})),
        )
            .into_response());
    }
    let outcome = issuance::submit(&app, req).await?;
    let (status, id) = match &outcome {
        Outcome::Issued(r) => (StatusCode::CREATED, r.id.clone()),
        Outcome::Pending(r) => (StatusCode::ACCEPTED, r.id.clone()),
    };
    if b.tags.is_some() || b.description.is_some() {
        set_properties(&app, &id, b.tags, b.description, None).await?;
    }
    let loc = format!("/api/v1/certificates/{id}");
    Ok((
        status,
        [(header::LOCATION, loc)],
        Json(load_view(&app, &id).await?),
    )
        .into_response())
}

fn check_tags(tags: &Option<serde_json::Map<String, Value>>) -> Result<(), ApiError> {
    if let Some(tags) = tags
        && tags.values().any(|v| !v.is_string())
    {
        return Err(ApiError::validation("tag values must be strings"));
    }
    Ok(())
}

async fn set_properties(
    app: &ApiState,
    id: &str,
    tags: Option<serde_json::Map<String, Value>>,
    description: Option<String>,
    auto_renew: Option<bool>,
) -> Result<(), ApiError> {
    sqlx::query(
        "UPDATE certificates SET tags = COALESCE($1, tags), description = COALESCE($2, description), \
         auto_renew = COALESCE($3, auto_renew), updated_at = $4 WHERE id = $5",
    )
    .bind(tags.map(|t| Value::Object(t).to_string()))
    .bind(description)
    .bind(auto_renew.map(i64::from))
    .bind(now())
    .bind(id.to_string())
    .execute(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// String values only; replaces the tags.
    tags: Option<serde_json::Map<String, Value>>,
    description: Option<String>,
    /// Let the scheduler renew it (API certificates, and imports with their key).
    auto_renew: Option<bool>,
    /// Override the template's `renew_before`: `1/3`, `0.25`, `30d`, `12h`, `10m`; "" clears it.
    renew_before: Option<String>,
}

async fn update(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:write")?;
    let row = visible(&app, &p, &id).await?;
    check_tags(&b.tags)?;
    if b.auto_renew == Some(true)
        && (!matches!(row.channel.as_str(), "api" | "import")
            || (row.key_sealed.is_none() && row.csr.is_none()))
    {
        return Err(ApiError::validation(format!(
            "auto_renew: a {} certificate {} renewed by its client, not by Signet",
            row.channel,
            if matches!(row.channel.as_str(), "acme" | "scep") {
                "is"
            } else {
                "without its key or CSR cannot be"
            }
        )));
    }
    if let Some(rb) = b.renew_before.as_deref().filter(|r| !r.is_empty()) {
        crate::policy::renew::RenewBefore::parse(rb)
            .map_err(|e| ApiError::validation(format!("renew_before: {e}")))?;
    }
    set_properties(&app, &id, b.tags, b.description, b.auto_renew).await?;
    if b.auto_renew.is_some() || b.renew_before.is_some() {
        crate::lifecycle::renewal::reschedule(&app, &id, b.auto_renew, b.renew_before.as_deref())
            .await?;
    }
    super::audit_event(&app, &p, "certificate.updated", &id, "info", json!({})).await?;
    Ok(Json(load_view(&app, &id).await?))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Comment {
    pub comment: Option<String>,
}

async fn approve(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:approve")?;
    visible(&app, &p, &id).await?;
    issuance::approve(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    Ok(Json(load_view(&app, &id).await?))
}

async fn reject(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:approve")?;
    visible(&app, &p, &id).await?;
    issuance::reject(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    Ok(Json(load_view(&app, &id).await?))
}

/// A reason as an RFC 5280 name ("keyCompromise") or code (1).
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Reason {
    Code(i64),
    Name(String),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// RFC 5280 name (keyCompromise, superseded, certificateHold, …) or code; default unspecified.
    reason: Option<Reason>,
    /// RFC 3339; when the key is known or suspected to have been compromised.
    invalidity_date: Option<String>,
    /// Why, in the operator's words; kept with the certificate and in the audit log.
    comment: Option<String>,
}

fn revoke_error(e: RevokeError) -> ApiError {
    match e {
        RevokeError::AlreadyRevoked => {
            ApiError::new(StatusCode::CONFLICT, "already_revoked", e.to_string())
        }
        RevokeError::NotActive(_) | RevokeError::NotOnHold => {
            ApiError::new(StatusCode::CONFLICT, "invalid_state", e.to_string())
        }
        RevokeError::BadReason(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reason",
            e.to_string(),
        ),
        RevokeError::Store(s) => s.into(),
    }
}

async fn revoke(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevokeBody>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:revoke")?;
    let row = visible(&app, &p, &id).await?;
    let code = match body.reason {
        None => 0,
        Some(Reason::Code(c)) => c,
        Some(Reason::Name(n)) => REASONS
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(&n))
            .map(|(c, _)| *c)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_reason",
                    format!("unknown reason {n:?}"),
                )
            })?,
    };
    let invalidity = match body.invalidity_date {
        None => None,
        Some(s) => Some(
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_date",
                        format!("invalidity_date {s:?} is not RFC 3339"),
                    )
                })?
                .unix_timestamp(),
        ),
    };
    revocation::revoke_with(
        &app,
        &row,
        code,
        invalidity,
        body.comment.as_deref(),
        &p.actor(),
    )
    .await
    .map_err(revoke_error)?;
    Ok(Json(load_view(&app, &id).await?))
}

async fn unrevoke(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:revoke")?;
    let row = visible(&app, &p, &id).await?;
    revocation::unrevoke(&app, &row, &p.actor())
        .await
        .map_err(revoke_error)?;
    Ok(Json(load_view(&app, &id).await?))
}

/// Move between a status and `archived`, remembering where it came from.
async fn set_archived(
    app: &ApiState,
    p: &Principal,
    id: &str,
    archive: bool,
) -> Result<Json<Certificate>, ApiError> {
    p.require("certificate:archive")?;
    let row = visible(app, p, id).await?;
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let done = if archive {
        if matches!(row.status.as_str(), certs::ISSUING | "archived") {
            return Err(ApiError::new(StatusCode::CONFLICT, "invalid_state", format!("cannot archive a certificate that is {}", row.status)));
        }
        sqlx::query("UPDATE certificates SET archived_from = status, status = 'archived', updated_at = $1 WHERE id = $2 AND status = $3")
            .bind(now())
            .bind(id.to_string())
            .bind(row.status.clone())
            .execute(&mut *tx)
            .await
    } else {
        sqlx::query("UPDATE certificates SET status = archived_from, archived_from = NULL, updated_at = $1 WHERE id = $2 AND status = 'archived'")
            .bind(now())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
    }
    .map_err(StoreError::from)?;
    if done.rows_affected() != 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the certificate is not archived",
        ));
    }
    let action = if archive {
        "certificate.archived"
    } else {
        "certificate.restored"
    };
    audit::record(
        &mut tx,
        audit::Event {
            actor: &p.actor(),
            action,
            target: Some(id),
            severity: "info",
            request_id: None,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(load_view(app, id).await?))
}

async fn archive(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Certificate>, ApiError> {
    set_archived(&app, &p, &id, true).await
}

async fn restore(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Certificate>, ApiError> {
    set_archived(&app, &p, &id, false).await
}

/// Permanent deletion. A CA must never lose track of what it signed, so an
/// issued certificate that has not expired (active, revoked or archived) is
/// refused; expired ones and requests that never produced a certificate go.
async fn permanent_delete(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require("certificate:permanent_delete")?;
    let row = visible(&app, &p, &id).await?;
    if row.der.is_some() && row.not_after.is_some_and(|na| na > now()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "an issued certificate can only be deleted after it expires",
        ));
    }
    if row.status == certs::ISSUING {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the certificate is being issued",
        ));
    }
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    for sql in [
        "UPDATE acme_orders SET certificate_id = NULL WHERE certificate_id = $1",
        "UPDATE acme_orders SET replaces_id = NULL WHERE replaces_id = $1",
        "UPDATE certificates SET replaces_id = NULL WHERE replaces_id = $1",
        "DELETE FROM approvals WHERE certificate_id = $1",
        "DELETE FROM certificates WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(id.clone())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor: &p.actor(),
            action: "certificate.deleted",
            target: Some(&id),
            severity: "high",
            request_id: None,
            details: json!({"serial": row.serial, "status": row.status}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Renew now: the same template, subject and names, through the pipeline
/// (`lifecycle::renewal`); 201 with the successor, or 202 when it waits for
/// approval.
async fn renew(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    p.require("certificate:request")?;
    let row = visible(&app, &p, &id).await?;
    renewed(
        &app,
        crate::lifecycle::renewal::renew(&app, &row, &p.actor()).await?,
    )
    .await
}

/// The answer to a renewal: the successor, and where it is.
pub(crate) async fn renewed(app: &ApiState, outcome: Outcome) -> Result<Response, ApiError> {
    let (status, new_id) = match outcome {
        Outcome::Issued(r) => (StatusCode::CREATED, r.id),
        Outcome::Pending(r) => (StatusCode::ACCEPTED, r.id),
    };
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/certificates/{new_id}"))],
        Json(load_view(app, &new_id).await?),
    )
        .into_response())
}

/// A certificate's line of renewals: what it replaced and what replaced it.
#[derive(Serialize, JsonSchema)]
pub struct RenewalHistory {
    pub certificate: Certificate,
    /// Nearest first.
    pub predecessors: Vec<Certificate>,
    /// Nearest first.
    pub successors: Vec<Certificate>,
}

async fn history(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<RenewalHistory>, ApiError> {
    p.require("certificate:read")?;
    let row = visible(&app, &p, &id).await?;
    let mut predecessors = Vec::new();
    let mut cur = row.replaces_id.clone();
    while let Some(pid) = cur.filter(|_| predecessors.len() < 100) {
        let v = load_view(&app, &pid).await?;
        cur = v.replaces_id.clone();
        predecessors.push(v);
    }
    let mut successors = Vec::new();
    let mut cur = id.clone();
    while successors.len() < 100 {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT id FROM certificates WHERE replaces_id = $1 ORDER BY id LIMIT 1",
        )
        .bind(cur.clone())
        .fetch_optional(&app.store.read)
        .await
        .map_err(StoreError::from)?;
        let Some(n) = next else { break };
        successors.push(load_view(&app, &n).await?);
        cur = n;
    }
    Ok(Json(RenewalHistory {
        certificate: load_view(&app, &id).await?,
        predecessors,
        successors,
    }))
}

/// The sealed private key of a server-generated certificate.
pub(super) fn open_key(
    app: &ApiState,
    row: &CertRow,
) -> Result<openssl::pkey::PKey<openssl::pkey::Private>, ApiError> {
    let sealed = row.key_sealed.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_private_key",
            "this certificate's key was not generated or imported by the server",
        )
    })?;
    key::open_key(&app.master_key, row.id.as_bytes(), sealed)
        .map_err(|e| ApiError::internal(e.to_string()))
}

pub(super) fn attachment(content_type: &'static str, filename: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Bytes::from(body),
    )
        .into_response()
}

/// `GET /certificates/{id}/status`: what relying parties are told.
#[derive(Serialize, JsonSchema)]
pub struct RevocationStatus {
    pub id: String,
    pub serial: Option<String>,
    pub status: String,
    /// good, revoked, or unknown (never issued) — what OCSP answers.
    pub ocsp_status: String,
    pub revocation_reason: Option<String>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by: Option<String>,
    /// The number of the first CRL of the issuing CA published at or after
    /// the revocation (null until one is).
    pub crl_number: Option<i64>,
}

async fn revocation_status(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<RevocationStatus>, ApiError> {
    p.require("certificate:read")?;
    let row = visible(&app, &p, &id).await?;
    let v = load_view(&app, &id).await?;
    let crl_number = match row.revoked_at.filter(|_| row.status == certs::REVOKED) {
        Some(at) => sqlx::query_scalar(
            "SELECT MIN(number) FROM crls WHERE ca_id = $1 AND this_update >= $2",
        )
        .bind(row.ca_id.clone())
        .bind(at)
        .fetch_one(&app.store.read)
        .await
        .map_err(StoreError::from)?,
        None => None,
    };
    let ocsp = match (row.der.is_some(), row.status.as_str()) {
        (false, _) => "unknown",
        (true, certs::REVOKED) => "revoked",
        (true, _) => "good",
    };
    Ok(Json(RevocationStatus {
        id: v.id,
        serial: v.serial,
        status: v.status,
        ocsp_status: ocsp.into(),
        revocation_reason: v.revocation_reason,
        revoked_at: v.revoked_at,
        revoked_by: v.revoked_by,
        crl_number,
    }))
}
