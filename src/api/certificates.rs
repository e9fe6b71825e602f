//! Certificate routes. Handlers stay thin: policy and issuance live in
//! `issuance`, revocation in `revocation`, rows in `store`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use signet_ca::key::{self, KeyType};
use signet_ca::names::San;

use super::auth::Principal;
use super::json::ApiJson;
use crate::api::ApiState;
use crate::error::ApiError;
use crate::issuance::{self, IssuanceRequest, IssueError, Outcome, RequestKey};
use crate::policy::Channel;
use crate::revocation::{self, REASONS, RevokeError};
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, now};

mod export;
mod import;
mod list;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/certificates/csr", post(submit))
        .route("/api/v1/certificates", get(list::list))
        .route(
            "/api/v1/certificates/{id}",
            get(get_certificate).put(update),
        )
        .route("/api/v1/certificates/{id}/approve", post(approve))
        .route("/api/v1/certificates/{id}/reject", post(reject))
        .route("/api/v1/certificates/{id}/revoke", post(revoke))
        .route("/api/v1/certificates/{id}/unrevoke", post(unrevoke))
        .route("/api/v1/certificates/{id}/export", get(export::export))
        .route(
            "/api/v1/certificates/{id}/private_key",
            get(export::private_key),
        )
        .route("/api/v1/certificates/{id}/archive", post(archive))
        .route("/api/v1/certificates/{id}/restore", post(restore))
        .route(
            "/api/v1/certificates/{id}/permanent",
            delete(permanent_delete),
        )
        .route("/api/v1/certificates/{id}/renew", post(renew))
        .route("/api/v1/certificates/{id}/renewal-history", get(history))
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
pub(super) async fn visible(app: &ApiState, p: &Principal, id: &str) -> Result<CertRow, ApiError> {
    let row = certs::get(&app.store.read, id).await.map_err(not_found)?;
    if p.token.project_id.is_some() && p.token.project_id != row.project_id {
        return Err(ApiError::not_found("certificate"));
    }
    Ok(row)
}

/// The REST view of a certificate, with the derived validity status.
pub fn view(row: &CertRow) -> Value {
    let t = now();
    let days = row.not_after.map(|na| (na - t).div_euclid(86400));
    let validity = match (row.status.as_str(), row.not_after) {
        (certs::REVOKED, _) => "revoked",
        (_, Some(na)) if na <= t => "expired",
        (_, Some(_)) if days.is_some_and(|d| d < 30) => "expiring_soon",
        _ => "valid",
    };
    let reason = row
        .revocation_reason
        .and_then(|c| REASONS.iter().find(|(k, _)| *k == c))
        .map(|(_, n)| *n);
    json!({
        "id": row.id,
        "ca_id": row.ca_id,
        "serial": row.serial,
        "status": row.status,
        "validity_status": validity,
        "days_until_expiry": days,
        "subject": row.subject,
        "common_name": row.common_name,
        "sans": serde_json::from_str::<Value>(&row.sans).unwrap_or(Value::Null),
        "not_before": row.not_before,
        "not_after": row.not_after,
        "key_type": row.key_type,
        "server_generated_key": row.key_sealed.is_some(),
        "fingerprint_sha256": row.fingerprint,
        "template_id": row.template_id,
        "project_id": row.project_id,
        "channel": row.channel,
        "requested_by": row.requested_by,
        "approvals_required": row.approvals_required,
        "revoked_at": row.revoked_at,
        "revocation_reason": reason,
        "replaces_id": row.replaces_id,
        "failure": row.failure,
        "created_at": row.created_at,
    })
}

async fn full_view(app: &ApiState, id: &str) -> Result<Value, ApiError> {
    let row = certs::get(&app.store.write, id).await?;
    let (tags, description, auto_renew): (String, Option<String>, i64) =
        sqlx::query_as("SELECT tags, description, auto_renew FROM certificates WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(&app.store.write)
            .await
            .map_err(StoreError::from)?;
    let mut v = view(&row);
    v["tags"] = serde_json::from_str(&tags).unwrap_or(json!({}));
    v["description"] = json!(description);
    v["auto_renew"] = json!(auto_renew != 0);
    Ok(v)
}

async fn get_certificate(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:read")?;
    visible(&app, &p, &id).await?;
    Ok(Json(full_view(&app, &id).await?))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "snake_case")]
enum Mode {
    #[default]
    UploadedCsr,
    Generated,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[serde(default)]
    mode: Mode,
    /// PEM CSR, for uploaded_csr.
    csr: Option<String>,
    /// For generated: the subject's common name and the SANs.
    common_name: Option<String>,
    #[serde(default)]
    sans: Vec<San>,
    key_type: Option<KeyType>,
    #[serde(alias = "template_id")]
    template: Option<String>,
    #[serde(alias = "project_id")]
    project: Option<String>,
    validity_days: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DryRun {
    dry_run: bool,
}

/// The project a request may use: a project-scoped token is held to its own.
fn project_for(p: &Principal, asked: Option<String>) -> Result<Option<String>, ApiError> {
    match (&p.token.project_id, asked) {
        (Some(own), Some(a)) if *own != a => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token is scoped to another project",
        )),
        (Some(own), _) => Ok(Some(own.clone())),
        (None, a) => Ok(a),
    }
}

async fn submit(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<DryRun>,
    ApiJson(b): ApiJson<SubmitBody>,
) -> Result<Response, ApiError> {
    p.require("certificate:request")?;
    let project = project_for(&p, b.project)?;
    let req = match b.mode {
        Mode::UploadedCsr => {
            let pem = b
                .csr
                .ok_or_else(|| ApiError::validation("csr is required for mode uploaded_csr"))?;
            let parsed = signet_ca::csr::parse(pem.as_bytes()).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_csr",
                    e.to_string(),
                )
            })?;
            let mut r = IssuanceRequest::from_csr(Channel::Api, &p.actor(), parsed);
            r.template = b.template;
            r.project = project;
            r.validity_days = b.validity_days;
            r
        }
        Mode::Generated => IssuanceRequest {
            channel: Channel::Api,
            requested_by: p.actor(),
            template: b.template,
            project,
            subject: b
                .common_name
                .map(|cn| vec![("CN".to_string(), cn)])
                .unwrap_or_default(),
            sans: b.sans,
            key: RequestKey::Generate(b.key_type.unwrap_or(KeyType::EcP256)),
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
    let loc = format!("/api/v1/certificates/{id}");
    Ok((
        status,
        [(header::LOCATION, loc)],
        Json(full_view(&app, &id).await?),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    tags: Option<serde_json::Map<String, Value>>,
    description: Option<String>,
    auto_renew: Option<bool>,
}

async fn update(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:write")?;
    visible(&app, &p, &id).await?;
    if let Some(tags) = &b.tags
        && tags.values().any(|v| !v.is_string())
    {
        return Err(ApiError::validation("tag values must be strings"));
    }
    sqlx::query(
        "UPDATE certificates SET tags = COALESCE($1, tags), description = COALESCE($2, description), \
         auto_renew = COALESCE($3, auto_renew), updated_at = $4 WHERE id = $5",
    )
    .bind(b.tags.map(|t| Value::Object(t).to_string()))
    .bind(b.description)
    .bind(b.auto_renew.map(i64::from))
    .bind(now())
    .bind(id.clone())
    .execute(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    super::audit_event(&app, &p, "certificate.updated", &id, "info", json!({})).await?;
    Ok(Json(full_view(&app, &id).await?))
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Comment {
    comment: Option<String>,
}

async fn approve(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:approve")?;
    visible(&app, &p, &id).await?;
    issuance::approve(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    Ok(Json(full_view(&app, &id).await?))
}

async fn reject(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:approve")?;
    visible(&app, &p, &id).await?;
    issuance::reject(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    Ok(Json(full_view(&app, &id).await?))
}

/// A reason as an RFC 5280 name ("keyCompromise") or code (1).
#[derive(Deserialize)]
#[serde(untagged)]
enum Reason {
    Code(i64),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    reason: Option<Reason>,
    /// RFC 3339; when the key is known or suspected to have been compromised.
    invalidity_date: Option<String>,
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
) -> Result<Json<Value>, ApiError> {
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
    revocation::revoke_with(&app, &row, code, invalidity, &p.actor())
        .await
        .map_err(revoke_error)?;
    Ok(Json(full_view(&app, &id).await?))
}

async fn unrevoke(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:revoke")?;
    let row = visible(&app, &p, &id).await?;
    revocation::unrevoke(&app, &row, &p.actor())
        .await
        .map_err(revoke_error)?;
    Ok(Json(full_view(&app, &id).await?))
}

/// Move between a status and `archived`, remembering where it came from.
async fn set_archived(
    app: &ApiState,
    p: &Principal,
    id: &str,
    archive: bool,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(full_view(app, id).await?))
}

async fn archive(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_archived(&app, &p, &id, true).await
}

async fn restore(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
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

/// Renew: the same template, subject and names. A server-generated key is
/// replaced by a new one; a CSR-based certificate is re-signed for its key.
async fn renew(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    p.require("certificate:request")?;
    let row = visible(&app, &p, &id).await?;
    if row.der.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "only an issued certificate can be renewed",
        ));
    }
    let sans: Vec<San> = serde_json::from_str(&row.sans).map_err(StoreError::from)?;
    let key = match (&row.csr, &row.key_sealed) {
        (_, Some(_)) => RequestKey::Generate(row.key_type.parse().unwrap_or(KeyType::EcP256)),
        (Some(csr), None) => RequestKey::Csr(signet_ca::csr::parse(csr).map_err(IssueError::from)?),
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "invalid_state",
                "no key source to renew from (imported without a key)",
            ));
        }
    };
    let req = IssuanceRequest {
        channel: Channel::Api,
        requested_by: p.actor(),
        template: row.template_id.clone(),
        project: row.project_id.clone(),
        subject: row
            .common_name
            .map(|cn| vec![("CN".to_string(), cn)])
            .unwrap_or_default(),
        sans,
        key,
        validity_days: None,
        replaces_id: Some(id),
        min_approvals: 0,
        link: None,
    };
    let (status, new_id) = match issuance::submit(&app, req).await? {
        Outcome::Issued(r) => (StatusCode::CREATED, r.id),
        Outcome::Pending(r) => (StatusCode::ACCEPTED, r.id),
    };
    Ok((
        status,
        [(header::LOCATION, format!("/api/v1/certificates/{new_id}"))],
        Json(full_view(&app, &new_id).await?),
    )
        .into_response())
}

async fn history(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:read")?;
    let row = visible(&app, &p, &id).await?;
    let mut predecessors = Vec::new();
    let mut cur = row.replaces_id.clone();
    while let Some(pid) = cur.filter(|_| predecessors.len() < 100) {
        let r = certs::get(&app.store.read, &pid).await.map_err(not_found)?;
        cur = r.replaces_id.clone();
        predecessors.push(view(&r));
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
        successors.push(view(&certs::get(&app.store.read, &n).await?));
        cur = n;
    }
    Ok(Json(
        json!({"certificate": view(&row), "predecessors": predecessors, "successors": successors}),
    ))
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
