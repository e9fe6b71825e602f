//! Certificate routes: read, revoke, unrevoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use crate::app::AppState;
use crate::error::ApiError;
use crate::revocation::{self, REASONS, RevokeError};
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, now};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/certificates/{id}", get(get_certificate))
        .route("/api/v1/certificates/{id}/revoke", post(revoke))
        .route("/api/v1/certificates/{id}/unrevoke", post(unrevoke))
}

/// A certificate the caller may see: project-scoped tokens see their project only.
async fn visible(app: &AppState, p: &Principal, id: &str) -> Result<CertRow, ApiError> {
    let row = certs::get(&app.store.read, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("certificate"),
        other => other.into(),
    })?;
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
        "fingerprint_sha256": row.fingerprint,
        "template_id": row.template_id,
        "project_id": row.project_id,
        "channel": row.channel,
        "requested_by": row.requested_by,
        "revoked_at": row.revoked_at,
        "revocation_reason": reason,
        "replaces_id": row.replaces_id,
        "created_at": row.created_at,
    })
}

async fn get_certificate(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:read")?;
    Ok(Json(view(&visible(&app, &p, &id).await?)))
}

/// A reason as an RFC 5280 name ("keyCompromise") or code (1).
#[derive(Deserialize)]
#[serde(untagged)]
enum Reason {
    Code(i64),
    Name(String),
}

#[derive(Deserialize)]
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
    State(app): State<AppState>,
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
    Ok(Json(view(&certs::get(&app.store.write, &id).await?)))
}

async fn unrevoke(
    State(app): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:revoke")?;
    let row = visible(&app, &p, &id).await?;
    revocation::unrevoke(&app, &row, &p.actor())
        .await
        .map_err(revoke_error)?;
    Ok(Json(view(&certs::get(&app.store.write, &id).await?)))
}
