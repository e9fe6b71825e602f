//! The lifecycle over REST: the renewal status of every certificate, the
//! renewal queue (renewals waiting for approval), and rotation: targets,
//! their configuration, deliveries and history. The work itself is the
//! core's (`lifecycle`); these handlers parse, call it, and render.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Principal;
use super::certificates::view::renewal_state;
use super::certificates::{Comment, renewed, visible};
use super::json::ApiJson;
use super::types::{Page, Timestamp, ts};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::issuance;
use crate::lifecycle::rotation::{self, TARGET_COLUMNS, TargetRow};
use crate::store::{StoreError, new_id, now};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/renewals", get(renewals))
        .route("/api/v1/renewal-queue", get(queue))
        .route("/api/v1/renewal-queue/{id}/approve", post(queue_approve))
        .route("/api/v1/renewal-queue/{id}/cancel", post(queue_cancel))
        .route("/api/v1/distributions", get(distributions))
        .route(
            "/api/v1/certificates/{id}/rotation/config",
            get(get_config).put(put_config),
        )
        .route("/api/v1/certificates/{id}/rotation/trigger", post(trigger))
        .route("/api/v1/certificates/{id}/rotation/history", get(history))
        .route(
            "/api/v1/certificates/{id}/targets",
            get(list_targets).post(create_target),
        )
        .route(
            "/api/v1/certificates/{id}/targets/{targetId}",
            get(get_target).put(put_target).delete(delete_target),
        )
        .route(
            "/api/v1/certificates/{id}/targets/{targetId}/sync",
            post(sync_target),
        )
}

fn scoped(p: &Principal) -> Option<String> {
    p.token.project_id.clone()
}

#[derive(Serialize, JsonSchema)]
pub struct Renewal {
    pub certificate_id: String,
    pub common_name: Option<String>,
    pub auto_renew: bool,
    /// scheduled, due, renewing, queued, renewed or failed
    pub status: Option<String>,
    /// The last error, when the last attempt failed.
    pub message: Option<String>,
    /// When the scheduler looks at it next.
    pub next_check: Option<Timestamp>,
    pub last_checked_at: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    pub renewed_by: Option<String>,
    pub failures: i64,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(default)]
pub struct RenewalsQuery {
    /// scheduled, due, renewing, queued, renewed or failed
    status: Option<String>,
    /// 1 to 500, default 100.
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

type RenewalRow = (
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    i64,
);

/// `GET /renewals`: every certificate the scheduler renews or has renewed.
async fn renewals(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<RenewalsQuery>,
) -> Result<Json<Page<Renewal>>, ApiError> {
    p.require("certificate:read")?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let rows: Vec<RenewalRow> = sqlx::query_as(
        "SELECT id, common_name, auto_renew, renewal_status, last_renew_error, next_renewal_at, last_renew_attempt_at, \
         not_after, renewed_by, renew_failures FROM certificates \
         WHERE (auto_renew = 1 OR renewal_status IS NOT NULL) AND status = 'active' \
         AND ($1 IS NULL OR project_id = $1) AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(scoped(&p))
    .bind(q.cursor.clone().unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let t = now();
    let more = rows.len() as i64 > limit;
    let items: Vec<Renewal> = rows
        .into_iter()
        .take(limit as usize)
        .map(
            |(id, cn, auto, st, err, next, last, na, by, failures)| Renewal {
                certificate_id: id,
                common_name: cn,
                auto_renew: auto != 0,
                status: renewal_state(st.as_deref(), next, t),
                message: err,
                next_check: ts(next),
                last_checked_at: ts(last),
                not_after: ts(na),
                renewed_by: by,
                failures,
            },
        )
        .filter(|r| {
            q.status
                .as_deref()
                .is_none_or(|s| r.status.as_deref() == Some(s))
        })
        .collect();
    let next_cursor = if more {
        items.last().map(|r| r.certificate_id.clone())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

#[derive(Serialize, JsonSchema)]
pub struct QueuedRenewal {
    /// The renewal request (the successor, pending approval).
    pub id: String,
    /// The certificate it renews.
    pub replaces_id: String,
    pub common_name: Option<String>,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub approvals: i64,
    pub approvals_required: i64,
}

type QueueRow = (String, String, Option<String>, String, i64, i64, i64);

/// `GET /renewal-queue`: renewals waiting for approval.
async fn queue(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<QueuedRenewal>>, ApiError> {
    p.require("certificate:read")?;
    let rows: Vec<QueueRow> = sqlx::query_as(
        "SELECT c.id, c.replaces_id, c.common_name, c.requested_by, c.created_at, \
         (SELECT COUNT(*) FROM approvals a WHERE a.certificate_id = c.id), c.approvals_required \
         FROM certificates c WHERE c.status = 'pending_approval' AND c.replaces_id IS NOT NULL \
         AND ($1 IS NULL OR c.project_id = $1) ORDER BY c.id LIMIT 1000",
    )
    .bind(scoped(&p))
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    Ok(Json(Page::all(
        rows.into_iter()
            .map(|(id, rep, cn, by, at, n, req)| QueuedRenewal {
                id,
                replaces_id: rep,
                common_name: cn,
                requested_by: by,
                requested_at: Timestamp(at),
                approvals: n,
                approvals_required: req,
            })
            .collect(),
    )))
}

/// A renewal request of the queue, as the caller may see it.
async fn queued(
    app: &ApiState,
    p: &Principal,
    id: &str,
) -> Result<crate::store::certificates::CertRow, ApiError> {
    let row = visible(app, p, id).await?;
    if row.replaces_id.is_none() || row.status != "pending_approval" {
        return Err(ApiError::not_found("queued renewal"));
    }
    Ok(row)
}

async fn queue_approve(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<super::certificates::view::Certificate>, ApiError> {
    p.require("certificate:approve")?;
    let row = queued(&app, &p, &id).await?;
    issuance::approve(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    if let Some(pred) = &row.replaces_id {
        crate::lifecycle::renewal::settle(&app, pred).await?;
    }
    Ok(Json(super::certificates::load_view(&app, &id).await?))
}

async fn queue_cancel(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<Comment>,
) -> Result<Json<super::certificates::view::Certificate>, ApiError> {
    p.require("certificate:approve")?;
    queued(&app, &p, &id).await?;
    issuance::reject(&app, &id, &p.actor(), b.comment.as_deref()).await?;
    Ok(Json(super::certificates::load_view(&app, &id).await?))
}

/// Rotation settings of a certificate (inherited by its successors).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// Deliver each renewal to the targets (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Renewed by the scheduler (the certificate's `auto_renew`).
    #[serde(default)]
    pub auto_renew: Option<bool>,
    /// The certificate's `renew_before`, when set.
    #[serde(default)]
    pub renew_before: Option<String>,
}

fn yes() -> bool {
    true
}

async fn get_config(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<RotationConfig>, ApiError> {
    p.require("rotation:read")?;
    visible(&app, &p, &id).await?;
    let v = super::certificates::load_view(&app, &id).await?;
    let config: Option<String> =
        sqlx::query_scalar("SELECT rotation_config FROM certificates WHERE id = $1")
            .bind(id)
            .fetch_one(&app.store.read)
            .await
            .map_err(StoreError::from)?;
    Ok(Json(RotationConfig {
        enabled: rotation::enabled(config.as_deref()),
        auto_renew: Some(v.auto_renew),
        renew_before: v.renew_before,
    }))
}

async fn put_config(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RotationConfig>,
) -> Result<Json<RotationConfig>, ApiError> {
    p.require("rotation:write")?;
    visible(&app, &p, &id).await?;
    if let Some(rb) = b.renew_before.as_deref().filter(|r| !r.is_empty()) {
        crate::policy::renew::RenewBefore::parse(rb)
            .map_err(|e| ApiError::validation(format!("renew_before: {e}")))?;
    }
    sqlx::query("UPDATE certificates SET rotation_config = $1 WHERE id = $2")
        .bind(json!({"enabled": b.enabled}).to_string())
        .bind(id.clone())
        .execute(&app.store.write)
        .await
        .map_err(StoreError::from)?;
    crate::lifecycle::renewal::reschedule(&app, &id, b.auto_renew, b.renew_before.as_deref())
        .await?;
    super::audit_event(
        &app,
        &p,
        "rotation.configured",
        &id,
        "info",
        json!({"enabled": b.enabled}),
    )
    .await?;
    get_config(State(app), p, Path(id)).await
}

/// Renew now; the successor goes to every target once active.
async fn trigger(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    p.require("rotation:execute")?;
    let row = visible(&app, &p, &id).await?;
    let head = rotation::line_head(&app, &row.id).await?;
    let row = crate::store::certificates::get(&app.store.read, &head).await?;
    renewed(
        &app,
        crate::lifecycle::renewal::renew(&app, &row, &p.actor()).await?,
    )
    .await
}

#[derive(Serialize, JsonSchema)]
pub struct Delivery {
    pub id: String,
    pub target_id: String,
    pub target_name: String,
    pub certificate_id: String,
    /// renewal, sync
    pub reason: String,
    /// pending (waiting or to be retried), succeeded or failed
    pub status: String,
    pub attempts: i64,
    pub http_status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub next_attempt_at: Option<Timestamp>,
}

type DeliveryRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    i64,
);

/// `GET …/rotation/history`: the deliveries to this line's targets, newest first.
async fn history(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Page<Delivery>>, ApiError> {
    p.require("rotation:read")?;
    visible(&app, &p, &id).await?;
    let head = rotation::line_head(&app, &id).await?;
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT d.id, d.target_id, t.name, d.certificate_id, d.reason, d.status, d.attempts, d.http_status, d.error, \
         d.duration_ms, d.created_at, d.finished_at, d.next_attempt_at FROM deliveries d \
         JOIN rotation_targets t ON t.id = d.target_id WHERE t.certificate_id = $1 \
         ORDER BY d.created_at DESC, d.id DESC LIMIT 500",
    )
    .bind(head)
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    Ok(Json(Page::all(
        rows.into_iter()
            .map(
                |(id, tid, name, cid, reason, status, attempts, http, err, ms, at, fin, next)| {
                    Delivery {
                        next_attempt_at: (status == "pending").then_some(Timestamp(next)),
                        id,
                        target_id: tid,
                        target_name: name,
                        certificate_id: cid,
                        reason,
                        status,
                        attempts,
                        http_status: http,
                        error: err,
                        duration_ms: ms,
                        created_at: Timestamp(at),
                        finished_at: ts(fin),
                    }
                },
            )
            .collect(),
    )))
}

#[derive(Serialize, JsonSchema)]
pub struct Target {
    pub id: String,
    /// The newest certificate of the line; the target moves with renewals.
    pub certificate_id: String,
    pub name: String,
    /// file or webhook
    pub kind: String,
    pub config: Value,
    pub include_key: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The webhook's HMAC key: shown once, at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn target_view(t: &TargetRow, secret: Option<String>) -> Target {
    Target {
        id: t.id.clone(),
        certificate_id: t.certificate_id.clone(),
        name: t.name.clone(),
        kind: t.kind.clone(),
        config: serde_json::from_str(&t.config).unwrap_or(Value::Null),
        include_key: t.include_key != 0,
        created_at: Timestamp(t.created_at),
        updated_at: Timestamp(t.updated_at),
        secret,
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetBody {
    pub name: String,
    /// file or webhook
    pub kind: String,
    /// file: {"directory", "cert_file", "chain_file", "fullchain_file",
    /// "key_file", "mode", "key_mode"}; webhook: {"url"}.
    pub config: Value,
    /// Deliver the private key too (only one Signet holds).
    #[serde(default)]
    pub include_key: bool,
}

async fn targets_of(app: &ApiState, head: &str) -> Result<Vec<TargetRow>, ApiError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TARGET_COLUMNS} FROM rotation_targets WHERE certificate_id = $1 ORDER BY id"
    )))
    .bind(head.to_string())
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?)
}

/// The line's head and one of its targets.
async fn target(
    app: &ApiState,
    p: &Principal,
    id: &str,
    target_id: &str,
) -> Result<(String, TargetRow), ApiError> {
    visible(app, p, id).await?;
    let head = rotation::line_head(app, id).await?;
    let t = targets_of(app, &head)
        .await?
        .into_iter()
        .find(|t| t.id == target_id)
        .ok_or_else(|| ApiError::not_found("target"))?;
    Ok((head, t))
}

async fn list_targets(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Page<Target>>, ApiError> {
    p.require("rotation:read")?;
    visible(&app, &p, &id).await?;
    let head = rotation::line_head(&app, &id).await?;
    Ok(Json(Page::all(
        targets_of(&app, &head)
            .await?
            .iter()
            .map(|t| target_view(t, None))
            .collect(),
    )))
}

async fn create_target(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<TargetBody>,
) -> Result<(StatusCode, Json<Target>), ApiError> {
    p.require("rotation:write")?;
    visible(&app, &p, &id).await?;
    let head = rotation::line_head(&app, &id).await?;
    if b.name.trim().is_empty() {
        return Err(ApiError::validation("name must not be empty"));
    }
    let config = rotation::check_config(&app, &b.kind, b.config).map_err(ApiError::validation)?;
    let tid = new_id();
    let (secret, sealed) = if b.kind == "webhook" {
        let (s, sealed) = rotation::new_secret(&app, &tid).map_err(ApiError::internal)?;
        (Some(s), Some(sealed))
    } else {
        (None, None)
    };
    let t = now();
    sqlx::query(
        "INSERT INTO rotation_targets (id, certificate_id, name, kind, config, include_key, secret_sealed, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(tid.clone())
    .bind(head)
    .bind(b.name.clone())
    .bind(b.kind.clone())
    .bind(config.to_string())
    .bind(i64::from(b.include_key))
    .bind(sealed)
    .bind(t)
    .execute(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    super::audit_event(
        &app,
        &p,
        "rotation.target_created",
        &tid,
        "high",
        json!({"certificate_id": id, "kind": b.kind, "include_key": b.include_key}),
    )
    .await?;
    let (_, row) = target(&app, &p, &id, &tid).await?;
    Ok((StatusCode::CREATED, Json(target_view(&row, secret))))
}

async fn get_target(
    State(app): State<ApiState>,
    p: Principal,
    Path((id, target_id)): Path<(String, String)>,
) -> Result<Json<Target>, ApiError> {
    p.require("rotation:read")?;
    Ok(Json(target_view(
        &target(&app, &p, &id, &target_id).await?.1,
        None,
    )))
}

async fn put_target(
    State(app): State<ApiState>,
    p: Principal,
    Path((id, target_id)): Path<(String, String)>,
    ApiJson(b): ApiJson<TargetBody>,
) -> Result<Json<Target>, ApiError> {
    p.require("rotation:write")?;
    let (_, old) = target(&app, &p, &id, &target_id).await?;
    if b.kind != old.kind {
        return Err(ApiError::validation(
            "a target's kind cannot change; create another",
        ));
    }
    let config = rotation::check_config(&app, &b.kind, b.config).map_err(ApiError::validation)?;
    sqlx::query(
        "UPDATE rotation_targets SET name = $1, config = $2, include_key = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(b.name)
    .bind(config.to_string())
    .bind(i64::from(b.include_key))
    .bind(now())
    .bind(target_id.clone())
    .execute(&app.store.write)
    .await
    .map_err(StoreError::from)?;
    super::audit_event(
        &app,
        &p,
        "rotation.target_updated",
        &target_id,
        "high",
        json!({"include_key": b.include_key}),
    )
    .await?;
    Ok(Json(target_view(
        &target(&app, &p, &id, &target_id).await?.1,
        None,
    )))
}

async fn delete_target(
    State(app): State<ApiState>,
    p: Principal,
    Path((id, target_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require("rotation:write")?;
    target(&app, &p, &id, &target_id).await?;
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    for sql in [
        "DELETE FROM deliveries WHERE target_id = $1",
        "DELETE FROM rotation_targets WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(target_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
    }
    tx.commit().await.map_err(StoreError::from)?;
    super::audit_event(
        &app,
        &p,
        "rotation.target_deleted",
        &target_id,
        "high",
        json!({}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, JsonSchema)]
pub struct Queued {
    /// The delivery; its outcome appears in the rotation history.
    pub delivery_id: String,
}

/// Deliver the line's current certificate to one target again.
async fn sync_target(
    State(app): State<ApiState>,
    p: Principal,
    Path((id, target_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    p.require("rotation:execute")?;
    let (_, t) = target(&app, &p, &id, &target_id).await?;
    let delivery_id = rotation::enqueue(&app, &t, "sync").await?;
    super::audit_event(
        &app,
        &p,
        "rotation.synced",
        &target_id,
        "info",
        json!({"delivery": delivery_id}),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { delivery_id })))
}

#[derive(Serialize, JsonSchema)]
pub struct Distribution {
    pub target: Target,
    pub common_name: Option<String>,
    pub not_after: Option<Timestamp>,
    /// The outcome of the last delivery to it.
    pub last_status: Option<String>,
}

/// `GET /distributions`: every rotation target (of the caller's project).
async fn distributions(
    State(app): State<ApiState>,
    p: Principal,
) -> Result<Json<Page<Distribution>>, ApiError> {
    p.require("rotation:read")?;
    let rows: Vec<TargetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM rotation_targets t JOIN certificates c ON c.id = t.certificate_id \
         WHERE ($1 IS NULL OR c.project_id = $1) ORDER BY t.id LIMIT 1000",
        TARGET_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
    .bind(scoped(&p))
    .fetch_all(&app.store.read)
    .await
    .map_err(StoreError::from)?;
    let mut items = Vec::new();
    for t in rows {
        let c = crate::store::certificates::get(&app.store.read, &t.certificate_id).await?;
        let last: Option<String> = sqlx::query_scalar(
            "SELECT status FROM deliveries WHERE target_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(t.id.clone())
        .fetch_optional(&app.store.read)
        .await
        .map_err(StoreError::from)?;
        items.push(Distribution {
            target: target_view(&t, None),
            common_name: c.common_name,
            not_after: ts(c.not_after),
            last_status: last,
        });
    }
    Ok(Json(Page::all(items)))
}
