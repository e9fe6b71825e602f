//! Authorizations and challenges. A challenge POST starts validation in
//! the background (bounded pool) and waits briefly, so that a fast
//! validation is answered with its final state: lego sleeps 5 s otherwise.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use signet_ca::jose::key_authorization;
use signet_ca::names::San;

use super::jws::Jws;
use super::problem::{AcmeResult, Problem};
use super::{respond, rfc3339, url};
use crate::acme::AcmeState;
use crate::store::StoreError;
use crate::store::acme::{self as db, AuthzRow, ChallengeRow};

/// How long a challenge POST waits for its validation before answering "processing".
const INLINE_WAIT: Duration = Duration::from_secs(3);

fn challenge_json(app: &AcmeState, c: &ChallengeRow) -> Value {
    let mut v = json!({"type": c.kind, "url": url(app, "chall", &c.id), "token": c.token, "status": c.status});
    if let Some(t) = c.validated_at {
        v["validated"] = json!(rfc3339(t));
    }
    if let Some(e) = c
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        v["error"] = e;
    }
    v
}

async fn authz_json(app: &AcmeState, a: &AuthzRow) -> AcmeResult<Value> {
    let challenges = db::challenges(&app.store.read, &a.id).await?;
    let mut v = json!({
        "identifier": {"type": a.identifier_type, "value": a.identifier_value},
        "status": a.status,
        "expires": rfc3339(a.expires_at),
        "challenges": challenges.iter().map(|c| challenge_json(app, c)).collect::<Vec<_>>(),
    });
    if a.wildcard != 0 {
        v["wildcard"] = json!(true);
    }
    Ok(v)
}

async fn own_authz(app: &AcmeState, jws: &Jws, id: &str) -> AcmeResult<AuthzRow> {
    let acct = jws.account()?;
    let a = db::authz(&app.store.read, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such authorization"))?;
    if a.account_id != acct.id {
        return Err(Problem::unauthorized(
            "this authorization belongs to another account",
        ));
    }
    Ok(a)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthzUpdate {
    status: Option<String>,
}

pub async fn get_authz(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    let mut a = own_authz(&app, &jws, &id).await?;
    let up: AuthzUpdate = jws.json()?;
    match up.status.as_deref() {
        None => jws.require_post_as_get()?,
        Some("deactivated") => {
            if !db::deactivate_authz(&app.store.write, &id).await? {
                return Err(Problem::malformed(format!(
                    "an authorization that is {} cannot be deactivated",
                    a.status
                )));
            }
            a.status = "deactivated".into();
        }
        Some(other) => {
            return Err(Problem::malformed(format!(
                "authorization status can only be set to deactivated, not {other:?}"
            )));
        }
    }
    let retry = (a.status == "pending").then_some(1);
    let body = authz_json(&app, &a).await?;
    Ok(respond(StatusCode::OK, body, None, None, retry))
}

pub async fn challenge(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    let c = db::challenge(&app.store.read, &id)
        .await?
        .ok_or_else(|| Problem::not_found("no such challenge"))?;
    let a = own_authz(&app, &jws, &c.authz_id).await?;
    if !jws.is_post_as_get()
        && db::start_challenge(&app.store.write, &id, stale_before(&app)).await?
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let thumbprint = jws.account()?.thumbprint.clone();
        let task_app = app.clone();
        let chall = c.clone();
        // Detached: the validation finishes even if the client goes away.
        tokio::spawn(async move {
            let settled = match run_validation(&task_app, &a, &chall, &thumbprint).await {
                Ok(settled) => settled,
                Err(e) => {
                    tracing::error!(challenge = %chall.id, error = %e, "cannot record validation result");
                    None
                }
            };
            let _ = tx.send(settled);
        });
        // A validation settled in time answers with the row it wrote.
        if let Ok(Ok(Some(settled))) = tokio::time::timeout(INLINE_WAIT, rx).await {
            return Ok(challenge_response(&app, &settled));
        }
    }
    let c = db::challenge(&app.store.read, &id)
        .await?
        .ok_or_else(|| Problem::not_found("no such challenge"))?;
    Ok(challenge_response(&app, &c))
}

fn challenge_response(app: &AcmeState, c: &ChallengeRow) -> Response {
    let retry = matches!(c.status.as_str(), "processing" | "pending").then_some(1);
    respond(
        StatusCode::OK,
        challenge_json(app, c),
        None,
        Some(url(app, "authz", &c.authz_id)),
        retry,
    )
}

/// A validation still 'processing' after every attempt could have timed out
/// was abandoned (its replica died); it may be started again.
fn stale_before(app: &AcmeState) -> i64 {
    let v = &app.config.acme.validation;
    crate::store::now() - (v.timeout_secs * u64::from(v.attempts.max(1)) + 30) as i64
}

async fn run_validation(
    app: &AcmeState,
    a: &AuthzRow,
    c: &ChallengeRow,
    thumbprint: &str,
) -> Result<Option<ChallengeRow>, StoreError> {
    let id = if a.identifier_type == "ip" {
        a.identifier_value
            .parse()
            .map(San::Ip)
            .unwrap_or_else(|_| San::Dns(a.identifier_value.clone()))
    } else {
        San::Dns(a.identifier_value.clone())
    };
    let key_authz = key_authorization(&c.token, thumbprint);
    let outcome = app
        .validator
        .validate(&c.kind, &id, &c.token, &key_authz)
        .await;
    if let Err(p) = &outcome {
        tracing::info!(identifier = %id, challenge = %c.kind, problem = %p.detail, "validation failed");
    }
    let error = outcome.err().map(|p| p.to_json().to_string());
    db::finish_challenge(&app.store.write, &c.id, error.as_deref()).await
}
