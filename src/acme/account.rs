//! newAccount (with EAB), account update/deactivation, orders list, key change.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use signet_ca::jose::{self, EAB_ALGS};
use signet_ca::key;

use super::jws::{Jws, Signer, parse, verify_inner};
use super::problem::{AcmeResult, Problem};
use super::{respond, url};
use crate::acme::AcmeState;
use crate::store::acme::{self as db, AccountRow};
use crate::store::{StoreError, new_id, now};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NewAccount {
    contact: Option<Vec<String>>,
    terms_of_service_agreed: Option<bool>,
    only_return_existing: bool,
    external_account_binding: Option<Value>,
}

fn account_json(app: &AcmeState, a: &AccountRow) -> Value {
    let contact: Value = serde_json::from_str(&a.contact).unwrap_or(json!([]));
    let mut v = json!({"status": a.status, "contact": contact, "orders": format!("{}/orders", url(app, "account", &a.id))});
    if a.eab_id.is_some() {
        v["externalAccountBinding"] = json!({"bound": true});
    }
    v
}

fn check_contacts(contacts: &[String]) -> AcmeResult<String> {
    for c in contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(Problem::unsupported_contact(format!(
                "only mailto: contacts are supported, not {c:?}"
            )));
        };
        if addr.contains(',')
            || addr.contains('?')
            || !addr.contains('@')
            || addr.starts_with('@')
            || addr.ends_with('@')
        {
            return Err(Problem::invalid_contact(format!(
                "invalid email contact {c:?}"
            )));
        }
    }
    Ok(serde_json::to_string(contacts).unwrap_or_else(|_| "[]".into()))
}

/// RFC 8555 §7.3.4: returns the credential the EAB JWS was made with.
async fn check_eab(
    app: &AcmeState,
    eab: &Value,
    outer_jwk: &jose::Jwk,
    new_account_url: &str,
) -> AcmeResult<db::EabRow> {
    let (h, payload, mac, input) = parse(eab.to_string().as_bytes())?;
    let alg = h.get("alg").and_then(Value::as_str).unwrap_or("");
    if !EAB_ALGS.contains(&alg) {
        return Err(Problem::malformed(format!(
            "externalAccountBinding alg must be one of {EAB_ALGS:?}, not {alg:?}"
        )));
    }
    if h.get("nonce").is_some() {
        return Err(Problem::malformed(
            "externalAccountBinding must not carry a nonce",
        ));
    }
    if h.get("url").and_then(Value::as_str) != Some(new_account_url) {
        return Err(Problem::malformed(
            "externalAccountBinding url must equal the newAccount URL",
        ));
    }
    let kid = h
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| Problem::malformed("externalAccountBinding has no kid"))?;
    let inner: Value = serde_json::from_slice(&payload)
        .map_err(|_| Problem::malformed("externalAccountBinding payload is not a JWK"))?;
    let inner = jose::parse_jwk(&inner)
        .map_err(|e| Problem::malformed(format!("externalAccountBinding payload: {e}")))?;
    if inner.thumbprint != outer_jwk.thumbprint {
        return Err(Problem::malformed(
            "externalAccountBinding payload must be the account key",
        ));
    }
    let cred = db::eab_by_kid(&app.store.read, kid)
        .await?
        .ok_or_else(|| Problem::unauthorized(format!("unknown external account key id {kid:?}")))?;
    if cred.revoked_at.is_some() {
        return Err(Problem::unauthorized(
            "external account binding credential was revoked",
        ));
    }
    if cred.used_at.is_some() {
        return Err(Problem::unauthorized(
            "external account binding credential was already used",
        ));
    }
    let hmac_key = key::open(&app.master_key, cred.kid.as_bytes(), &cred.hmac_sealed)
        .map_err(|e| Problem::server_internal(e.to_string()))?;
    if !jose::verify_hmac(alg, &hmac_key, input.as_bytes(), &mac)
        .map_err(|e| Problem::malformed(e.to_string()))?
    {
        return Err(Problem::unauthorized(
            "externalAccountBinding MAC is invalid",
        ));
    }
    Ok(cred)
}

pub async fn new_account(State(app): State<AcmeState>, jws: Jws) -> AcmeResult<Response> {
    let Signer::Key(jwk_v, jwk) = &jws.signer else {
        return Err(Problem::malformed(
            "newAccount must be signed with a jwk, not a kid",
        ));
    };
    let req: NewAccount = jws.json()?;
    if let Some(existing) = db::account_by_thumbprint(&app.store.read, &jwk.thumbprint).await? {
        let loc = url(&app, "account", &existing.id);
        return Ok(respond(
            StatusCode::OK,
            account_json(&app, &existing),
            Some(loc),
            None,
            None,
        ));
    }
    if req.only_return_existing {
        return Err(Problem::account_does_not_exist(
            "no account exists for this key",
        ));
    }
    let contact = check_contacts(req.contact.as_deref().unwrap_or_default())?;
    if req.terms_of_service_agreed == Some(false) && !app.config.acme.terms_of_service.is_empty() {
        return Err(Problem::malformed("the terms of service must be agreed to"));
    }
    let eab = match &req.external_account_binding {
        Some(e) => Some(check_eab(&app, e, jwk, &jws.url).await?),
        None if app.config.acme.eab_required => {
            return Err(Problem::external_account_required(
                "this server requires external account binding",
            ));
        }
        None => None,
    };
    let acct = AccountRow {
        id: new_id(),
        thumbprint: jwk.thumbprint.clone(),
        jwk: jwk_v.to_string(),
        status: "valid".into(),
        contact,
        eab_id: eab.as_ref().map(|e| e.id.clone()),
        project_id: eab.as_ref().and_then(|e| e.project_id.clone()),
        template_id: eab.as_ref().and_then(|e| e.template_id.clone()),
        created_at: now(),
    };
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    if let Some(e) = &eab {
        db::use_eab(&mut *tx, &e.id, &acct.id).await.map_err(|_| {
            Problem::unauthorized("external account binding credential was already used")
        })?;
    }
    match db::insert_account(&mut *tx, &acct).await {
        Ok(()) => {}
        // Two concurrent newAccount requests with one key: the loser returns the winner.
        Err(StoreError::Conflict(_)) => {
            drop(tx);
            let existing = db::account_by_thumbprint(&app.store.read, &jwk.thumbprint)
                .await?
                .ok_or_else(|| Problem::server_internal("account vanished"))?;
            return Ok(respond(
                StatusCode::OK,
                account_json(&app, &existing),
                Some(url(&app, "account", &existing.id)),
                None,
                None,
            ));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await.map_err(StoreError::from)?;
    Ok(respond(
        StatusCode::CREATED,
        account_json(&app, &acct),
        Some(url(&app, "account", &acct.id)),
        None,
        None,
    ))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccountUpdate {
    contact: Option<Vec<String>>,
    status: Option<String>,
}

/// The account URL must be the signer's own.
fn own<'a>(jws: &'a Jws, id: &str) -> AcmeResult<&'a AccountRow> {
    let acct = jws.account()?;
    if acct.id != id {
        return Err(Problem::unauthorized(
            "the account URL does not match the signing account",
        ));
    }
    Ok(acct)
}

pub async fn update(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    let acct = own(&jws, &id)?.clone();
    let up: AccountUpdate = jws.json()?;
    let mut status = acct.status.clone();
    let mut contact = acct.contact.clone();
    if let Some(c) = &up.contact {
        contact = check_contacts(c)?;
    }
    match up.status.as_deref() {
        None => {}
        Some("deactivated") => status = "deactivated".into(),
        Some(other) => {
            return Err(Problem::malformed(format!(
                "an account can only be set to deactivated, not {other:?}"
            )));
        }
    }
    if status != acct.status || contact != acct.contact {
        db::update_account(&app.store.write, &id, &status, &contact).await?;
        app.accounts.forget(&id);
    }
    let updated = AccountRow {
        status,
        contact,
        ..acct
    };
    Ok(respond(
        StatusCode::OK,
        account_json(&app, &updated),
        Some(url(&app, "account", &id)),
        None,
        None,
    ))
}

pub async fn orders(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    jws.require_post_as_get()?;
    own(&jws, &id)?;
    let ids = db::order_ids_for_account(&app.store.read, &id).await?;
    let urls: Vec<String> = ids.iter().map(|o| url(&app, "order", o)).collect();
    Ok(respond(
        StatusCode::OK,
        json!({"orders": urls}),
        None,
        None,
        None,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyChange {
    account: String,
    old_key: Value,
}

/// RFC 8555 §7.3.5: outer JWS by the old key (kid), inner by the new key (jwk).
pub async fn key_change(State(app): State<AcmeState>, jws: Jws) -> AcmeResult<Response> {
    let acct = jws.account()?.clone();
    let inner: Value = jws.json()?;
    let (new_jwk_v, new_jwk, payload) = verify_inner(&inner, &jws.url)?;
    let kc: KeyChange = serde_json::from_slice(&payload)
        .map_err(|e| Problem::malformed(format!("key change payload: {e}")))?;
    let acct_url = url(&app, "account", &acct.id);
    if kc.account != acct_url {
        return Err(Problem::malformed(
            "key change payload account must be the signing account",
        ));
    }
    let old =
        jose::parse_jwk(&kc.old_key).map_err(|e| Problem::malformed(format!("oldKey: {e}")))?;
    if old.thumbprint != acct.thumbprint {
        return Err(Problem::malformed(
            "oldKey is not the account's current key",
        ));
    }
    if let Some(other) = db::account_by_thumbprint(&app.store.read, &new_jwk.thumbprint).await? {
        let mut p = Problem::conflict("the new key is already in use by an account");
        p.status = StatusCode::CONFLICT;
        let loc = url(&app, "account", &other.id);
        return Ok(respond(
            StatusCode::CONFLICT,
            p.to_json(),
            Some(loc),
            None,
            None,
        ));
    }
    db::rekey_account(
        &app.store.write,
        &acct.id,
        &acct.thumbprint,
        &new_jwk_v.to_string(),
        &new_jwk.thumbprint,
    )
    .await?;
    app.accounts.forget(&acct.id);
    let updated = AccountRow {
        jwk: new_jwk_v.to_string(),
        thumbprint: new_jwk.thumbprint,
        ..acct
    };
    Ok(respond(
        StatusCode::OK,
        account_json(&app, &updated),
        Some(acct_url),
        None,
        None,
    ))
}
