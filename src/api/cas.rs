//! CA routes: CRL download and on-demand regeneration.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::auth::Principal;
use super::json::ApiJson;
use super::types::{Page, Timestamp, rfc3339};
use crate::api::ApiState;
use crate::error::ApiError;
use crate::revocation::crl::{self, CrlKind};
use crate::revocation::http::{crl_response, current};
use crate::store::{StoreError, cas};

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/cas", get(list).post(create))
        .route("/api/v1/cas/{id}", get(get_one))
        .route("/api/v1/cas/import", axum::routing::post(import))
        .route("/api/v1/cas/{id}/chain", get(chain))
        .route("/api/v1/ca/{id}/crl", get(get_crl))
        .route("/api/v1/ca/{id}/crl/regenerate", post(regenerate))
}

#[derive(serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct CrlQuery {
    #[serde(rename = "type")]
    kind: Option<CrlKind>,
    format: Option<String>,
}

async fn get_crl(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<CrlQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    p.require("ca:read")?;
    let c = current(&app, &id, q.kind.unwrap_or(CrlKind::Full)).await?;
    Ok(crl_response(
        &c,
        q.format.as_deref() == Some("pem"),
        &headers,
    ))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Regenerate {
    #[serde(rename = "type")]
    kind: CrlKind,
}

async fn regenerate(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Regenerate>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require("ca:admin")?;
    let kind = body.kind;
    let ca = cas::find(&app.store.read, &id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("CA"),
        other => other.into(),
    })?;
    let row = crl::publish(&app, &ca.id, kind).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "crl_unavailable",
            e.to_string(),
        )
    })?;
    super::audit_event(
        &app,
        &p,
        "crl.published",
        &ca.id,
        "info",
        json!({"type": row.kind, "number": row.number}),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"ca_id": ca.id, "type": row.kind, "number": row.number, "base_number": row.base_number, "this_update": rfc3339(row.this_update), "next_update": rfc3339(row.next_update), "entries": row.entries}),
        ),
    ))
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Ca {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    /// `CN=x, O=y`
    pub subject: String,
    pub key_type: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub status: String,
    /// Whether templates without a `ca` issue from this CA.
    pub default: bool,
    /// The number of the last CRL published.
    pub crl_number: i64,
    pub created_at: Timestamp,
}

fn view(c: &cas::CaRow, default_id: &str) -> Ca {
    Ca {
        id: c.id.clone(),
        name: c.name.clone(),
        parent_id: c.parent_id.clone(),
        subject: signet_ca::names::dn_text_of_legacy(&c.subject),
        key_type: c.key_type.clone(),
        not_before: Timestamp(c.not_before),
        not_after: Timestamp(c.not_after),
        status: c.status.clone(),
        default: c.id == default_id,
        crl_number: c.crl_number,
        created_at: Timestamp(c.created_at),
    }
}

async fn find(app: &ApiState, id: &str) -> Result<cas::CaRow, ApiError> {
    cas::find(&app.store.read, id).await.map_err(|e| match e {
        StoreError::NotFound => ApiError::not_found("CA"),
        other => other.into(),
    })
}

async fn default_id(app: &ApiState) -> String {
    app.cas.default_id(&app.store).await.unwrap_or_default()
}

async fn list(State(app): State<ApiState>, p: Principal) -> Result<Json<Page<Ca>>, ApiError> {
    p.require("ca:read")?;
    let d = default_id(&app).await;
    let items = cas::list(&app.store.read)
        .await?
        .iter()
        .map(|c| view(c, &d))
        .collect();
    Ok(Json(Page::all(items)))
}

async fn get_one(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Json<Ca>, ApiError> {
    p.require("ca:read")?;
    let c = find(&app, &id).await?;
    Ok(Json(view(&c, &default_id(&app).await)))
}

#[derive(serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(default)]
pub struct ChainQuery {
    format: Option<String>,
}

/// The CA and its parents, PEM bundle (default) or the CA alone as DER.
async fn chain(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<ChainQuery>,
) -> Result<Response, ApiError> {
    p.require("ca:read")?;
    let mut c = find(&app, &id).await?;
    if q.format.as_deref() == Some("der") {
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "application/pkix-cert")],
            c.cert_der,
        )
            .into_response());
    }
    let mut pem = Vec::new();
    loop {
        let x = openssl::x509::X509::from_der(&c.cert_der)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        pem.extend(x.to_pem().unwrap_or_default());
        match &c.parent_id {
            Some(pid) => c = cas::get(&app.store.read, pid).await?,
            None => break,
        }
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-pem-file")],
        pem,
    )
        .into_response())
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCa {
    name: String,
    #[serde(alias = "parent_id")]
    parent: String,
    /// ec-p256, ec-p384, ec-p521, rsa-2048, rsa-3072, rsa-4096 or ed25519
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    key_type: Option<signet_ca::key::KeyType>,
    #[serde(default)]
    validity_days: Option<u32>,
}

/// A new intermediate under one of our CAs (its key sealed like the others).
async fn create(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<CreateCa>,
) -> Result<(StatusCode, Json<Ca>), ApiError> {
    p.require("ca:admin")?;
    let parent = find(&app, &b.parent).await?;
    if parent.status != "active" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the parent CA has no key here",
        ));
    }
    if cas::find(&app.store.read, &b.name).await.is_ok() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a CA named {:?} exists", b.name),
        ));
    }
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, &parent.id)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ca_unavailable",
                e.to_string(),
            )
        })?;
    let t = crate::store::now();
    let id = crate::store::new_id();
    let days = i64::from(b.validity_days.unwrap_or(1825));
    let spec = signet_ca::authority::CaSpec {
        common_name: &b.name,
        organization: None,
        key_type: b.key_type.unwrap_or(signet_ca::key::KeyType::EcP256),
        not_before: t - 3600,
        not_after: (t + days * 86400).min(parent.not_after),
        path_len: Some(0),
        crl_urls: vec![app.crl_url(&parent.id)],
        ocsp_urls: vec![app.ocsp_url()],
        ca_issuers_urls: vec![app.ca_cert_url(&parent.id)],
    };
    let sub = signet_ca::authority::create_subordinate(&issuer, &spec)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let row = cas::CaRow {
        id: id.clone(),
        name: b.name.clone(),
        parent_id: Some(parent.id.clone()),
        subject: signet_ca::names::dn_text(sub.cert.subject_name()),
        key_type: spec.key_type.to_string(),
        cert_der: sub
            .cert
            .to_der()
            .map_err(|e| ApiError::internal(e.to_string()))?,
        key_sealed: signet_ca::key::seal_key(&app.master_key, id.as_bytes(), &sub.key)
            .map_err(|e| ApiError::internal(e.to_string()))?,
        not_before: spec.not_before,
        not_after: spec.not_after,
        crl_number: 0,
        status: "active".into(),
        created_at: t,
    };
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    cas::insert(&mut *tx, &row).await?;
    crate::store::audit::record(
        &mut tx,
        crate::store::audit::Event {
            actor: &p.actor(),
            action: "ca.created",
            target: Some(&id),
            severity: "high",
            request_id: None,
            details: json!({"parent": parent.id, "name": b.name}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((
        StatusCode::CREATED,
        Json(view(&row, &default_id(&app).await)),
    ))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCa {
    name: String,
    certificate: String,
    private_key: String,
    chain: Option<String>,
}

/// Import an existing CA to sign with: its key is sealed like Signet's own.
async fn import(
    State(app): State<ApiState>,
    p: Principal,
    ApiJson(b): ApiJson<ImportCa>,
) -> Result<(StatusCode, Json<Ca>), ApiError> {
    p.require("ca:admin")?;
    let bad = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_import", m);
    if cas::find(&app.store.read, &b.name).await.is_ok() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("a CA named {:?} exists", b.name),
        ));
    }
    let cert = openssl::x509::X509::from_pem(b.certificate.as_bytes())
        .map_err(|_| bad("certificate is not PEM".into()))?;
    let key = signet_ca::key::private_from_pem(b.private_key.as_bytes(), None)
        .map_err(|e| bad(e.to_string()))?;
    let chain = match &b.chain {
        Some(c) => {
            signet_ca::authority::certs_from_pem(c.as_bytes()).map_err(|e| bad(e.to_string()))?
        }
        None => Vec::new(),
    };
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    let id = crate::bootstrap::import_ca(&mut tx, &app.master_key, &b.name, &cert, &key, &chain)
        .await
        .map_err(|e| bad(format!("{e:#}")))?;
    crate::store::audit::record(
        &mut tx,
        crate::store::audit::Event {
            actor: &p.actor(),
            action: "ca.imported",
            target: Some(&id),
            severity: "high",
            request_id: None,
            details: json!({"name": b.name}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let row = cas::get(&app.store.read, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&row, &default_id(&app).await)),
    ))
}
