//! newOrder, order polling, finalize.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use signet_ca::csr;
use signet_ca::jose;
use signet_ca::names::{self, San};

use super::cert::cert_by_ari_id;
use super::jws::Jws;
use super::problem::{AcmeResult, Problem};
use super::validate::{DNS01, HTTP01, TLS_ALPN01};
use super::{respond, rfc3339, url};
use crate::acme::AcmeState;
use crate::issuance::{self, IssuanceRequest, IssueError, Outcome, RequestKey};
use crate::policy::{self, Channel, TemplateSpec};
use crate::store::acme::{self as db, AccountRow, AuthzRow, OrderRow};
use crate::store::certificates as certs;
use crate::store::{StoreError, new_id, now, projects, templates};

#[derive(Deserialize)]
struct Identifier {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    identifiers: Vec<Identifier>,
    not_before: Option<String>,
    not_after: Option<String>,
    profile: Option<String>,
    replaces: Option<String>,
}

/// Parse identifiers into SANs (RFC 8555 `dns`, RFC 8738 `ip`), deduplicated.
fn parse_identifiers(ids: &[Identifier]) -> AcmeResult<Vec<San>> {
    if ids.is_empty() {
        return Err(Problem::malformed("an order needs at least one identifier"));
    }
    let mut out: Vec<San> = Vec::new();
    let mut bad = Problem::rejected_identifier("one or more identifiers are invalid");
    for id in ids {
        let san =
            match id.kind.as_str() {
                "dns" => names::normalize_dns(&id.value)
                    .map(San::Dns)
                    .map_err(Problem::rejected_identifier),
                "ip" => id.value.parse().map(San::Ip).map_err(|_| {
                    Problem::malformed(format!("{:?} is not an IP address", id.value))
                }),
                other => Err(Problem::unsupported_identifier(format!(
                    "identifier type {other:?} is not supported (dns, ip)"
                ))),
            };
        match san {
            Ok(s) if !out.contains(&s) => out.push(s),
            Ok(_) => {}
            Err(p) => bad = bad.with_sub(&p, &id.kind, &id.value),
        }
    }
    if bad.subproblems.len() == 1 && ids.len() == 1 {
        let sub = &bad.subproblems[0];
        let kind = sub["type"]
            .as_str()
            .unwrap_or("")
            .rsplit(':')
            .next()
            .unwrap_or("")
            .to_string();
        let detail = sub["detail"].as_str().unwrap_or("").to_string();
        let mut p = match kind.as_str() {
            "unsupportedIdentifier" => Problem::unsupported_identifier(detail),
            "malformed" => Problem::malformed(detail),
            _ => Problem::rejected_identifier(detail),
        };
        p.subproblems = bad.subproblems;
        return Err(p);
    }
    if !bad.subproblems.is_empty() {
        return Err(bad);
    }
    Ok(out)
}

fn identifier_json(s: &San) -> Value {
    json!({"type": if matches!(s, San::Ip(_)) { "ip" } else { "dns" }, "value": s.value()})
}

/// The template for an order: the named profile, the account's EAB template,
/// or its project's default.
async fn order_template(
    app: &AcmeState,
    acct: &AccountRow,
    profile: Option<&str>,
) -> AcmeResult<(String, String, TemplateSpec)> {
    let reference = match (profile, &acct.template_id) {
        (Some(p), _) => p.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => {
            let project = projects::find(
                &app.store.read,
                acct.project_id.as_deref().unwrap_or("default"),
            )
            .await?;
            project
                .default_template_id
                .unwrap_or_else(|| "default".into())
        }
    };
    let row = match templates::find(&app.store.read, &reference).await {
        Ok(r) => r,
        Err(StoreError::NotFound) if profile.is_some() => {
            return Err(Problem::invalid_profile(format!(
                "unknown profile {reference:?}"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let spec: TemplateSpec =
        serde_json::from_str(&row.spec).map_err(|e| Problem::server_internal(e.to_string()))?;
    if !spec.channels.contains(&Channel::Acme) {
        return Err(if profile.is_some() {
            Problem::invalid_profile(format!("profile {reference:?} is not offered over ACME"))
        } else {
            Problem::unauthorized(format!(
                "template {:?} does not allow ACME issuance",
                row.name
            ))
        });
    }
    Ok((row.id, row.name, spec))
}

fn random_token() -> AcmeResult<String> {
    let mut raw = [0u8; 32];
    openssl::rand::rand_bytes(&mut raw).map_err(|e| Problem::server_internal(e.to_string()))?;
    Ok(jose::b64(&raw))
}

pub async fn new_order(State(app): State<AcmeState>, jws: Jws) -> AcmeResult<Response> {
    let acct = jws.account()?.clone();
    let req: NewOrder = jws.json()?;
    if req.not_before.is_some() || req.not_after.is_some() {
        return Err(Problem::malformed(
            "notBefore/notAfter are not supported; choose a profile instead",
        ));
    }
    let sans = parse_identifiers(&req.identifiers)?;
    let (template_id, template_name, spec) =
        order_template(&app, &acct, req.profile.as_deref()).await?;
    let violations = policy::identifier_violations(&spec, &sans);
    if !violations.is_empty() {
        return Err(identifier_problem(&sans, &violations));
    }
    let replaces_id = match &req.replaces {
        Some(ari_id) => Some(replaced_certificate(&app, &acct, ari_id).await?),
        None => None,
    };
    let t = now();
    let order = OrderRow {
        id: new_id(),
        account_id: acct.id.clone(),
        status: "pending".into(),
        identifiers: Value::Array(sans.iter().map(identifier_json).collect()).to_string(),
        template_id,
        profile: req.profile.as_ref().map(|_| template_name),
        expires_at: t + app.config.acme.order_lifetime_secs,
        certificate_id: None,
        replaces_id,
        replaces: req.replaces.clone(),
        error: None,
        created_at: t,
        processing_at: None,
    };
    let order = store_order(&app, order, &sans).await?;
    let body = order_json(&app, &order).await?;
    Ok(respond(
        StatusCode::CREATED,
        body,
        Some(url(&app, "order", &order.id)),
        None,
        None,
    ))
}

/// `rejectedIdentifier` with one subproblem per identifier the template
/// refuses (RFC 8555 §6.7.1).
fn identifier_problem(sans: &[San], violations: &[policy::Violation]) -> Problem {
    let mut p = Problem::rejected_identifier(
        violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("; "),
    );
    for v in violations {
        let id = sans.iter().find(|s| s.value() == v.offending_value);
        let kind = if matches!(id, Some(San::Ip(_))) {
            "ip"
        } else {
            "dns"
        };
        p = p.with_sub(
            &Problem::rejected_identifier(v.to_string()),
            kind,
            &v.offending_value,
        );
    }
    p
}

/// The certificate an order `replaces` (ARI): one this account ordered, not
/// yet replaced.
async fn replaced_certificate(
    app: &AcmeState,
    acct: &AccountRow,
    ari_id: &str,
) -> AcmeResult<String> {
    let cert = cert_by_ari_id(app, ari_id).await?;
    let owner = db::order_for_certificate(&app.store.read, &cert.id).await?;
    if owner.map(|o| o.account_id) != Some(acct.id.clone()) {
        return Err(Problem::unauthorized(
            "replaces names a certificate this account did not order",
        ));
    }
    if db::replacement_exists(&app.store.read, &cert.id).await? {
        return Err(Problem::already_replaced(
            "that certificate has already been replaced",
        ));
    }
    Ok(cert.id)
}

/// The challenge types offered for an identifier: wildcards can only be
/// proven through DNS (RFC 8555 §7.1.3), IP addresses not through it (RFC 8738).
fn challenge_types(kind: &str, wildcard: bool) -> &'static [&'static str] {
    match (kind, wildcard) {
        (_, true) => &[DNS01],
        ("ip", _) => &[HTTP01, TLS_ALPN01],
        _ => &[HTTP01, DNS01, TLS_ALPN01],
    }
}

/// Store a new order with its authorizations (reusing valid ones when
/// configured) and challenges, in one transaction; returns it as stored.
async fn store_order(app: &AcmeState, order: OrderRow, sans: &[San]) -> AcmeResult<OrderRow> {
    let acme = &app.config.acme;
    let t = order.created_at;
    let reuse = acme.authz_reuse_secs > 0;
    let authz_expires = if reuse {
        t + acme.authz_reuse_secs.max(acme.order_lifetime_secs)
    } else {
        order.expires_at
    };
    let (mut links, mut authzs, mut challenges) = (Vec::new(), Vec::new(), Vec::new());
    for san in sans {
        let (kind, wildcard) = match san {
            San::Ip(_) => ("ip", false),
            San::Dns(d) => ("dns", names::is_wildcard(d)),
            _ => unreachable!("identifiers are dns or ip"),
        };
        let value = san.value();
        let value = value.strip_prefix("*.").unwrap_or(&value).to_string();
        let reused = if reuse {
            db::reusable_authz(
                &app.store.read,
                &order.account_id,
                kind,
                &value,
                wildcard,
                t,
            )
            .await?
        } else {
            None
        };
        if let Some(id) = reused {
            links.push(id);
            continue;
        }
        let id = new_id();
        let token = random_token()?;
        challenges.extend(
            challenge_types(kind, wildcard)
                .iter()
                .map(|ty| (id.clone(), *ty, token.clone())),
        );
        authzs.push(AuthzRow {
            id: id.clone(),
            account_id: order.account_id.clone(),
            identifier_type: kind.into(),
            identifier_value: value,
            wildcard: i64::from(wildcard),
            status: "pending".into(),
            expires_at: authz_expires,
            created_at: t,
        });
        links.push(id);
    }
    let reused = links.len() > authzs.len();
    let mut stmts = vec![db::insert_order(&order)];
    stmts.extend(db::insert_authzs(&authzs));
    stmts.extend(db::insert_challenges(&challenges));
    stmts.extend(db::link_authzs(&order.id, &links));
    if reused {
        // Every authorization may already be valid: the order is then ready at once.
        stmts.push(db::promote_if_ready(&order.id));
    }
    app.store.write_batch(stmts).await?;
    // Only reused authorizations can have moved the order on.
    if !reused {
        return Ok(order);
    }
    db::order(&app.store.read, &order.id)
        .await?
        .ok_or_else(|| Problem::server_internal("order vanished"))
}

/// Bring an order's status up to date: expiry, the outcome of a
/// certificate that waited for approval, and what a crash or a store outage
/// left: an order `processing` past `reconcile_after_secs` gets its reserved
/// certificate signed, or, with none reserved, ends `invalid` saying so
/// (certbot and lego stop at `invalid` at once; `ready` again would have
/// them poll until they time out).
async fn refresh(app: &AcmeState, mut o: OrderRow) -> AcmeResult<OrderRow> {
    if matches!(o.status.as_str(), "pending" | "ready") && o.expires_at < now() {
        db::set_order_status(
            &app.store.write,
            &o.id,
            &o.status,
            "invalid",
            None,
            Some(&Problem::malformed("order expired").to_json().to_string()),
        )
        .await?;
        o.status = "invalid".into();
    }
    if o.status != "processing" {
        return Ok(o);
    }
    let stuck = o
        .processing_at
        .is_none_or(|t| t <= now() - app.config.reconcile_after_secs);
    let next = match &o.certificate_id {
        None if stuck => Some((
            "invalid",
            Some(
                Problem::server_internal(
                    "finalization was interrupted before a certificate was reserved; place a new order",
                )
                .to_json()
                .to_string(),
            ),
        )),
        None => None,
        Some(cid) => {
            let mut cert = certs::get(&app.store.read, cid).await?;
            if cert.status == certs::ISSUING && stuck {
                cert = match issuance::sign_reserved(app, cert).await {
                    Ok(signed) => signed,
                    // Finished meanwhile (by the job or another replica), or
                    // failed: read what is there now.
                    Err(IssueError::Conflict(_) | IssueError::Store(StoreError::Conflict(_))) => {
                        certs::get(&app.store.read, cid).await?
                    }
                    Err(e) => return Err(e.into()),
                };
            }
            match cert.status.as_str() {
                certs::ACTIVE | certs::REVOKED => Some(("valid", None)),
                certs::REJECTED | certs::FAILED => {
                    let why = cert
                        .failure
                        .unwrap_or_else(|| "the request was rejected".into());
                    Some((
                        "invalid",
                        Some(
                            Problem::unauthorized(format!(
                                "certificate request {}: {why}",
                                cert.status
                            ))
                            .to_json()
                            .to_string(),
                        ),
                    ))
                }
                _ => None,
            }
        }
    };
    if let Some((status, err)) = next {
        db::set_order_status(
            &app.store.write,
            &o.id,
            "processing",
            status,
            None,
            err.as_deref(),
        )
        .await?;
        o = db::order(&app.store.read, &o.id)
            .await?
            .ok_or_else(|| Problem::server_internal("order vanished"))?;
    }
    Ok(o)
}

/// Orders left `processing` past `reconcile_after_secs`, brought to a final
/// state (see `refresh`). Returns how many were looked at.
pub async fn reconcile_orders(app: &AcmeState) -> AcmeResult<usize> {
    let before = now() - app.config.reconcile_after_secs;
    let stuck = db::processing_since_before(&app.store.read, before, 500).await?;
    let n = stuck.len();
    for o in stuck {
        let id = o.id.clone();
        if let Err(p) = refresh(app, o).await {
            tracing::warn!(order = %id, problem = %p.detail, "cannot reconcile order");
        }
    }
    Ok(n)
}

/// Reconcile orders on one replica, every half `reconcile_after_secs`.
pub fn spawn_order_reconciler(app: AcmeState) {
    let every = crate::jobs::half(app.config.reconcile_after_secs);
    crate::jobs::spawn_leased(
        app.store.clone(),
        app,
        "reconcile-orders",
        every,
        |app| async move {
            if let Err(p) = reconcile_orders(&app).await {
                tracing::warn!(problem = %p.detail, "reconciling orders failed; retrying next round");
            }
        },
    );
}

pub(crate) async fn order_json(app: &AcmeState, o: &OrderRow) -> AcmeResult<Value> {
    let authzs = db::order_authzs(&app.store.read, &o.id).await?;
    let identifiers: Value = serde_json::from_str(&o.identifiers).unwrap_or(json!([]));
    let mut v = json!({
        "status": o.status,
        "expires": rfc3339(o.expires_at),
        "identifiers": identifiers,
        "authorizations": authzs.iter().map(|a| url(app, "authz", &a.id)).collect::<Vec<_>>(),
        "finalize": format!("{}/finalize", url(app, "order", &o.id)),
    });
    if o.status == "valid"
        && let Some(c) = &o.certificate_id
    {
        v["certificate"] = json!(url(app, "cert", c));
    }
    if let Some(e) = o
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        v["error"] = e;
    }
    if let Some(p) = &o.profile {
        v["profile"] = json!(p);
    }
    if let Some(r) = &o.replaces {
        v["replaces"] = json!(r);
    }
    Ok(v)
}

async fn own_order(app: &AcmeState, jws: &Jws, id: &str) -> AcmeResult<OrderRow> {
    let acct = jws.account()?;
    let o = db::order(&app.store.read, id)
        .await?
        .ok_or_else(|| Problem::not_found("no such order"))?;
    if o.account_id != acct.id {
        return Err(Problem::unauthorized(
            "this order belongs to another account",
        ));
    }
    refresh(app, o).await
}

fn order_response(app: &AcmeState, o: &OrderRow, body: Value) -> Response {
    let retry = matches!(o.status.as_str(), "processing" | "pending").then_some(1);
    respond(
        StatusCode::OK,
        body,
        Some(url(app, "order", &o.id)),
        None,
        retry,
    )
}

pub async fn get_order(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    jws.require_post_as_get()?;
    let o = own_order(&app, &jws, &id).await?;
    let body = order_json(&app, &o).await?;
    Ok(order_response(&app, &o, body))
}

/// The names a finalize CSR asks for, checked against its order: exactly
/// the order's identifiers (RFC 8555 §7.4), the CN one of them. Returns the
/// CN and the names to certify.
fn order_csr_matches(
    order_identifiers: &str,
    csr: &csr::ParsedCsr,
) -> AcmeResult<(Option<String>, Vec<San>)> {
    let wanted: BTreeSet<San> = serde_json::from_str::<Vec<Value>>(order_identifiers)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| {
            let v = i["value"].as_str()?;
            Some(if i["type"] == "ip" {
                San::Ip(v.parse().ok()?)
            } else {
                San::Dns(v.to_string())
            })
        })
        .collect();
    let mut requested: BTreeSet<San> = csr.sans.iter().cloned().collect();
    let cn = csr.common_name().map(str::to_string);
    if let Some(cn) = &cn {
        let as_san = cn
            .parse()
            .map(San::Ip)
            .unwrap_or_else(|_| San::Dns(cn.to_ascii_lowercase()));
        if !wanted.contains(&as_san) {
            return Err(Problem::bad_csr(format!(
                "CSR common name {cn:?} is not an identifier of the order"
            )));
        }
        requested.insert(as_san);
    }
    if requested != wanted {
        let fmt = |s: &BTreeSet<San>| s.iter().map(San::value).collect::<Vec<_>>().join(", ");
        return Err(Problem::bad_csr(format!(
            "CSR names [{}] differ from the order's identifiers [{}]",
            fmt(&requested),
            fmt(&wanted)
        )));
    }
    Ok((cn, wanted.into_iter().collect()))
}

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

pub async fn finalize(
    State(app): State<AcmeState>,
    Path(id): Path<String>,
    jws: Jws,
) -> AcmeResult<Response> {
    let o = own_order(&app, &jws, &id).await?;
    let acct = jws.account()?.clone();
    if o.status != "ready" {
        return Err(Problem::order_not_ready(format!(
            "order is {}, not ready",
            o.status
        )));
    }
    let req: Finalize = jws.json()?;
    let der = jose::b64_decode(&req.csr).map_err(|_| Problem::bad_csr("csr is not base64url"))?;
    let parsed = csr::parse(&der).map_err(|e| Problem::bad_csr(e.to_string()))?;
    let (cn, wanted) = order_csr_matches(&o.identifiers, &parsed)?;
    let is_account_key = match &jws.signer {
        super::jws::Signer::Account(a) => parsed.spki_der == a.spki_der,
        super::jws::Signer::Key(..) => false,
    };
    if is_account_key {
        return Err(Problem::bad_csr("the CSR key must not be the account key"));
    }
    if !db::set_order_status(&app.store.write, &o.id, "ready", "processing", None, None).await? {
        return Err(Problem::order_not_ready("order is already being finalized"));
    }
    let request = IssuanceRequest {
        channel: Channel::Acme,
        requested_by: format!("acme:{}", acct.id),
        template: Some(o.template_id.clone()),
        project: acct.project_id.clone(),
        subject: cn.map(|c| vec![("CN".to_string(), c)]).unwrap_or_default(),
        sans: wanted,
        key: RequestKey::Csr(parsed),
        validity_days: None,
        replaces_id: o.replaces_id.clone(),
        min_approvals: 0,
        link: Some(Box::new({
            let order_id = o.id.clone();
            move |cert_id: &str| vec![db::link_order_stmt(&order_id, cert_id)]
        })),
    };
    settle_finalize(&app, &o.id, issuance::submit(&app, request).await).await?;
    let o = db::order(&app.store.read, &o.id)
        .await?
        .ok_or_else(|| Problem::server_internal("order vanished"))?;
    let body = order_json(&app, &o).await?;
    Ok(order_response(&app, &o, body))
}

/// Move a finalizing order on from `processing` by what the pipeline said:
/// `valid`, still `processing` while an approval is pending, `invalid` with
/// the problem when the request is refused. After a transient failure an
/// order whose certificate was reserved stays `processing` (the reconcile
/// signs it); one with nothing reserved is `ready` again, to finalize anew.
async fn settle_finalize(
    app: &AcmeState,
    order_id: &str,
    outcome: Result<Outcome, IssueError>,
) -> AcmeResult<()> {
    let set = |to: &'static str, cert: Option<String>, err: Option<String>| async move {
        db::set_order_status(
            &app.store.write,
            order_id,
            "processing",
            to,
            cert.as_deref(),
            err.as_deref(),
        )
        .await
    };
    match outcome {
        Ok(Outcome::Issued(row)) => set("valid", Some(row.id), None).await?,
        Ok(Outcome::Pending(row)) => set("processing", Some(row.id), None).await?,
        Err(e) => {
            let p = Problem::from(e);
            if !p.status.is_server_error() {
                set("invalid", None, Some(p.to_json().to_string())).await?;
            } else if db::order(&app.store.read, order_id)
                .await?
                .is_some_and(|o| o.certificate_id.is_none())
            {
                set("ready", None, None).await?;
            }
            return Err(p);
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509NameBuilder, X509ReqBuilder};
    use signet_ca::key::KeyType;

    use super::*;

    /// A parsed CSR with this CN (if any) and these SANs.
    fn csr_for(cn: Option<&str>, sans: &[&str]) -> csr::ParsedCsr {
        let key = KeyType::EcP256.generate().unwrap();
        let mut b = X509ReqBuilder::new().unwrap();
        b.set_pubkey(&key).unwrap();
        if let Some(cn) = cn {
            let mut n = X509NameBuilder::new().unwrap();
            n.append_entry_by_text("CN", cn).unwrap();
            b.set_subject_name(&n.build()).unwrap();
        }
        if !sans.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for s in sans {
                if s.parse::<std::net::IpAddr>().is_ok() {
                    san.ip(s);
                } else {
                    san.dns(s);
                }
            }
            let mut stack = openssl::stack::Stack::new().unwrap();
            stack
                .push(san.build(&b.x509v3_context(None)).unwrap())
                .unwrap();
            b.add_extensions(&stack).unwrap();
        }
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        csr::parse(&b.build().to_der().unwrap()).unwrap()
    }

    const ORDER: &str =
        r#"[{"type":"dns","value":"a.example.test"},{"type":"ip","value":"10.0.0.1"}]"#;

    #[test]
    fn wildcards_get_dns01_only_and_addresses_no_dns01() {
        assert_eq!(challenge_types("dns", true), &[DNS01]);
        assert_eq!(challenge_types("ip", false), &[HTTP01, TLS_ALPN01]);
        assert_eq!(challenge_types("dns", false), &[HTTP01, DNS01, TLS_ALPN01]);
    }

    #[test]
    fn a_refused_identifier_is_a_subproblem_of_its_type() {
        let sans = [
            San::Dns("a.evil.test".into()),
            San::Ip("10.0.0.9".parse().unwrap()),
        ];
        let v = |rule: &str, value: &str| policy::Violation {
            rule: rule.into(),
            offending_value: value.into(),
            allowed: "none".into(),
        };
        let p = identifier_problem(&sans, &[v("dns", "a.evil.test"), v("ip", "10.0.0.9")]);
        assert_eq!(p.kind, "rejectedIdentifier");
        let kinds: Vec<&str> = p
            .subproblems
            .iter()
            .map(|s| s["identifier"]["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["dns", "ip"]);
    }

    #[test]
    fn the_csr_must_name_exactly_the_order_identifiers() {
        let (cn, names) =
            order_csr_matches(ORDER, &csr_for(Some("A.example.test"), &["10.0.0.1"])).unwrap();
        assert_eq!(cn.as_deref(), Some("A.example.test"));
        assert_eq!(names.len(), 2, "the CN counts as a name: {names:?}");
        assert!(order_csr_matches(ORDER, &csr_for(None, &["a.example.test", "10.0.0.1"])).is_ok());
        for (cn, sans, why) in [
            (
                Some("other.example.test"),
                &["a.example.test", "10.0.0.1"][..],
                "common name",
            ),
            (None, &["a.example.test"][..], "differ"),
            (
                None,
                &["a.example.test", "10.0.0.1", "b.example.test"][..],
                "differ",
            ),
        ] {
            let p = order_csr_matches(ORDER, &csr_for(cn, sans)).unwrap_err();
            assert_eq!(p.kind, "badCSR");
            assert!(p.detail.contains(why), "{}", p.detail);
        }
    }
}
