//! ACME flows through instant-acme, and every error through the raw client.
//! Each error test checks the problem type and that nothing was stored.

use instant_acme::{ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};
use serde_json::{Value, json};
use signet::policy::TemplateSpec;
use signet::store::{certificates as certs, templates};
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

const P: &str = "urn:ietf:params:acme:error:";

async fn count(env: &AcmeEnv, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(&env.t.app.store.read)
        .await
        .unwrap()
}

/// The error of a call expected to fail, as text (instant-acme's Ok types have no Debug).
fn err_of<T>(r: Result<T, instant_acme::Error>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn dns(names: &[&str]) -> Vec<Identifier> {
    names
        .iter()
        .map(|n| Identifier::Dns(n.to_string()))
        .collect()
}

fn leaf_sans(pem: &str) -> Vec<String> {
    let c = openssl::x509::X509::stack_from_pem(pem.as_bytes()).unwrap();
    c[0].subject_alt_names()
        .unwrap()
        .iter()
        .map(|g| {
            g.dnsname()
                .map(String::from)
                .unwrap_or_else(|| format!("{:?}", g.ipaddress().unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn http01_issues_a_verified_chain() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let pem = issue(
        &env,
        &account,
        &dns(&["a.example.test", "b.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    openssl_verify(&env.t.dir, pem.as_bytes());
    assert_eq!(leaf_sans(&pem), ["a.example.test", "b.example.test"]);
    // The chain excludes the root.
    let chain = openssl::x509::X509::stack_from_pem(pem.as_bytes()).unwrap();
    assert_eq!(chain.len(), 2);
    env.t.stop().await;
}

#[tokio::test]
async fn dns01_issues_a_wildcard() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let pem = issue(
        &env,
        &account,
        &dns(&["*.w.example.test"]),
        ChallengeType::Dns01,
    )
    .await;
    openssl_verify(&env.t.dir, pem.as_bytes());
    assert_eq!(leaf_sans(&pem), ["*.w.example.test"]);
    env.t.stop().await;
}

#[tokio::test]
async fn tls_alpn01_and_ip_identifiers() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let pem = issue(
        &env,
        &account,
        &dns(&["t.example.test"]),
        ChallengeType::TlsAlpn01,
    )
    .await;
    openssl_verify(&env.t.dir, pem.as_bytes());
    let ip = [Identifier::Ip("127.0.0.1".parse().unwrap())];
    let pem = issue(&env, &account, &ip, ChallengeType::Http01).await;
    assert_eq!(leaf_sans(&pem), ["[127, 0, 0, 1]"]);
    env.t.stop().await;
}

#[tokio::test]
async fn wrong_answers_invalidate_the_challenge_with_a_precise_problem() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let ids = dns(&["bad.example.test"]);
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    let mut authzs = order.authorizations();
    let mut a = authzs.next().await.unwrap().unwrap();
    let mut ch = a.challenge(ChallengeType::Http01).unwrap();
    env.http_tokens
        .lock()
        .unwrap()
        .insert(ch.token.clone(), "wrong".into());
    // Validation finishes inside the challenge POST, so its answer is already the failure.
    let err = err_of(ch.set_ready().await);
    assert!(
        err.contains("incorrectResponse") && err.contains("got \"wrong\""),
        "{err}"
    );
    assert_eq!(order.refresh().await.unwrap().status, OrderStatus::Invalid);
    env.t.stop().await;
}

#[tokio::test]
async fn wildcards_are_offered_dns01_only() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    let r = c
        .post(
            &c.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": "*.x.example.test"}]})),
        )
        .await;
    assert_eq!(r.status, 201);
    let authz = c
        .post(r.body["authorizations"][0].as_str().unwrap(), None)
        .await;
    let types: Vec<&str> = authz.body["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["dns-01"]);
    assert_eq!(authz.body["wildcard"], true);
    assert_eq!(authz.body["identifier"]["value"], "x.example.test");
    env.t.stop().await;
}

#[tokio::test]
async fn renew_with_ari_replaces_and_already_replaced() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let pem = issue(
        &env,
        &account,
        &dns(&["r.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    let leaf = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0);
    let aki = leaf.authority_key_id().unwrap().as_slice().to_vec();
    let serial = leaf.serial_number().to_bn().unwrap().to_vec();
    let cert_id = format!("{}.{}", b64(&aki), b64(&serial));
    // renewalInfo: a window inside the lifetime, and Retry-After.
    let r = env
        .t
        .client
        .get(format!("{}/acme/renewal-info/{cert_id}", env.t.https_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("retry-after"));
    let w: Value = r.json().await.unwrap();
    let start = time::OffsetDateTime::parse(
        w["suggestedWindow"]["start"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let na = leaf.not_after().to_string();
    assert!(
        start > time::OffsetDateTime::now_utc(),
        "window starts in the future ({start}, notAfter {na})"
    );
    let unknown = env
        .t
        .client
        .get(format!(
            "{}/acme/renewal-info/{}.{}",
            env.t.https_url,
            b64(&aki),
            b64(&[1, 2, 3])
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // A replacing order works once; the second gets alreadyReplaced.
    let ids = dns(&["r.example.test"]);
    let cid = instant_acme::CertificateIdentifier::new(aki.clone().into(), serial.clone().into());
    let mut order = account
        .new_order(&NewOrder::new(&ids).replaces(cid.clone()))
        .await
        .unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    order.finalize().await.unwrap();
    order
        .poll_certificate(&RetryPolicy::default())
        .await
        .unwrap();
    let err = err_of(account.new_order(&NewOrder::new(&ids).replaces(cid)).await);
    assert!(err.contains("alreadyReplaced"), "{err}");
    env.t.stop().await;
}

#[tokio::test]
async fn profiles_select_templates_and_unknown_is_invalid_profile() {
    let env = AcmeEnv::new().await;
    let short = TemplateSpec {
        description: "7-day certificates".into(),
        default_validity_days: 7,
        max_validity_days: 7,
        ..TemplateSpec::allow_any_host()
    };
    templates::upsert(
        &env.t.app.store.write,
        "short",
        &serde_json::to_string(&short).unwrap(),
    )
    .await
    .unwrap();
    let account = env.client().await;
    assert!(account.profiles().any(|p| p.name == "short"));
    let ids = dns(&["p.example.test"]);
    let mut order = account
        .new_order(&NewOrder::new(&ids).profile("short"))
        .await
        .unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    order.finalize().await.unwrap();
    let pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .unwrap();
    let leaf = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0);
    let days = leaf.not_before().diff(leaf.not_after()).unwrap().days;
    assert_eq!(days, 7);
    let orders = count(&env, "acme_orders").await;
    let err = err_of(
        account
            .new_order(&NewOrder::new(&ids).profile("nope"))
            .await,
    );
    assert!(err.contains("invalidProfile"), "{err}");
    assert_eq!(count(&env, "acme_orders").await, orders);
    env.t.stop().await;
}

#[tokio::test]
async fn policy_rejects_identifiers_at_new_order() {
    let env = AcmeEnv::new().await;
    let corp = TemplateSpec {
        dns: vec![".corp.test".into()],
        ..Default::default()
    };
    templates::upsert(
        &env.t.app.store.write,
        "default",
        &serde_json::to_string(&corp).unwrap(),
    )
    .await
    .unwrap();
    let mut c = env.raw().await;
    c.register().await;
    let r = c.post(&c.url("newOrder"), Some(json!({"identifiers": [{"type": "dns", "value": "evil.example.test"}, {"type": "dns", "value": "ok.corp.test"}]}))).await;
    assert_eq!(r.problem(), format!("{P}rejectedIdentifier"));
    assert_eq!(
        r.body["subproblems"][0]["identifier"]["value"],
        "evil.example.test"
    );
    assert!(r.body["detail"].as_str().unwrap().contains(".corp.test"));
    let r = c
        .post(
            &c.url("newOrder"),
            Some(json!({"identifiers": [{"type": "email", "value": "a@b.c"}]})),
        )
        .await;
    assert_eq!(r.problem(), format!("{P}unsupportedIdentifier"));
    assert_eq!(count(&env, "acme_orders").await, 0);
    env.t.stop().await;
}

#[tokio::test]
async fn eab_required_bad_mac_reuse_and_binding() {
    let env = AcmeEnv::with(|c| c.acme.eab_required = true).await;
    let short = TemplateSpec {
        default_validity_days: 3,
        max_validity_days: 3,
        ..TemplateSpec::allow_any_host()
    };
    templates::upsert(
        &env.t.app.store.write,
        "eab-tpl",
        &serde_json::to_string(&short).unwrap(),
    )
    .await
    .unwrap();
    let cred = signet::eab::create(&env.t.app, "default", "eab-tpl")
        .await
        .unwrap();
    let new = instant_acme::NewAccount {
        contact: &[],
        terms_of_service_agreed: true,
        only_return_existing: false,
    };
    let builder = || instant_acme::Account::builder_with_root(env.root()).unwrap();
    // No EAB.
    let err = err_of(builder().create(&new, env.directory.clone(), None).await);
    assert!(err.contains("externalAccountRequired"), "{err}");
    // Wrong MAC key.
    let wrong = instant_acme::ExternalAccountKey::new(cred.kid.clone(), b"not the key");
    let err = err_of(
        builder()
            .create(&new, env.directory.clone(), Some(&wrong))
            .await,
    );
    assert!(err.contains("unauthorized"), "{err}");
    assert_eq!(count(&env, "acme_accounts").await, 0);
    // The right key binds the account to the credential's template.
    let key = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &cred.hmac_key,
    )
    .unwrap();
    let good = instant_acme::ExternalAccountKey::new(cred.kid.clone(), &key);
    let (account, _) = builder()
        .create(&new, env.directory.clone(), Some(&good))
        .await
        .unwrap();
    let pem = issue(
        &env,
        &account,
        &dns(&["e.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    let leaf = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0);
    assert_eq!(leaf.not_before().diff(leaf.not_after()).unwrap().days, 3);
    // Single use: a second account with the same credential is refused.
    let err = err_of(
        builder()
            .create(&new, env.directory.clone(), Some(&good))
            .await,
    );
    assert!(
        err.contains("unauthorized") && err.contains("already used"),
        "{err}"
    );
    assert_eq!(count(&env, "acme_accounts").await, 1);
    // Revoking the credential deactivates its account at once, although the
    // account has just been used (and its key cached).
    let (s, _) = Api::admin(&env.t)
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/acme/eab-credentials/{}", cred.kid),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let err = err_of(
        account
            .new_order(&NewOrder::new(&dns(&["e2.example.test"])))
            .await,
    );
    assert!(err.contains("unauthorized"), "{err}");
    env.t.stop().await;
}

#[tokio::test]
async fn jws_checks_refuse_bad_requests() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    let new_account = c.url("newAccount");
    let payload = json!({"termsOfServiceAgreed": true}).to_string();

    // Algorithm outside the allow-list, with the list in the problem.
    let mut h = c.header(&new_account).await;
    h["alg"] = json!("HS256");
    let r = c.send(&new_account, &jws(&c.key, &h, &payload)).await;
    assert_eq!(r.problem(), format!("{P}badSignatureAlgorithm"));
    assert!(
        r.body["algorithms"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );

    // A replayed nonce: badNonce, with a fresh nonce to retry with.
    let h = c.header(&new_account).await;
    let first = c.send(&new_account, &jws(&c.key, &h, &payload)).await;
    assert_eq!(first.status, 201);
    let again = c.send(&new_account, &jws(&c.key, &h, &payload)).await;
    assert_eq!(again.problem(), format!("{P}badNonce"));
    assert_eq!(again.status, 400);
    assert!(again.headers.contains_key("replay-nonce"));
    assert_eq!(again.headers["content-type"], "application/problem+json");
    c.kid = Some(first.headers["location"].to_str().unwrap().to_string());

    // url mismatch.
    let new_order = c.url("newOrder");
    let mut h = c.header(&new_order).await;
    h["url"] = json!(format!("{new_order}x"));
    let r = c.send(&new_order, &jws(&c.key, &h, "{}")).await;
    assert_eq!(r.problem(), format!("{P}unauthorized"));

    // jwk and kid together.
    let mut h = c.header(&new_order).await;
    h["jwk"] = ec_jwk(&c.key);
    let r = c.send(&new_order, &jws(&c.key, &h, "{}")).await;
    assert_eq!(r.problem(), format!("{P}malformed"));

    // Unknown kid.
    let mut h = c.header(&new_order).await;
    h["kid"] = json!(format!("{}/acme/account/nope", env.t.https_url));
    let r = c.send(&new_order, &jws(&c.key, &h, "{}")).await;
    assert_eq!(r.problem(), format!("{P}accountDoesNotExist"));

    // A signature by another key.
    let h = c.header(&new_order).await;
    let other = KeyType::EcP256.generate().unwrap();
    let r = c.send(&new_order, &jws(&other, &h, "{}")).await;
    assert_eq!(r.problem(), format!("{P}malformed"));

    // Wrong content type.
    let h = c.header(&new_order).await;
    let r = c
        .http
        .post(&new_order)
        .header("content-type", "application/json")
        .body(jws(&c.key, &h, "{}").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Missing nonce.
    let mut h = c.header(&new_order).await;
    h.as_object_mut().unwrap().remove("nonce");
    let r = c.send(&new_order, &jws(&c.key, &h, "{}")).await;
    assert_eq!(r.problem(), format!("{P}badNonce"));

    assert_eq!(count(&env, "acme_accounts").await, 1);
    assert_eq!(count(&env, "acme_orders").await, 0);
    env.t.stop().await;
}

#[tokio::test]
async fn finalize_rejects_foreign_names_and_the_account_key() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    let order = c.new_order("f.example.test").await;
    let finalize = order.body["finalize"].as_str().unwrap().to_string();
    // Finalizing before the order is ready.
    let (csr_pem, _) = csr(KeyType::EcP256, &["f.example.test"]);
    let der = openssl::x509::X509Req::from_pem(&csr_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let r = c.post(&finalize, Some(json!({"csr": b64(&der)}))).await;
    assert_eq!(r.problem(), format!("{P}orderNotReady"));
    c.solve_http01(&env, &order.body).await;
    // Foreign names.
    let (foreign, _) = csr(KeyType::EcP256, &["f.example.test", "other.example.test"]);
    let der = openssl::x509::X509Req::from_pem(&foreign)
        .unwrap()
        .to_der()
        .unwrap();
    let r = c.post(&finalize, Some(json!({"csr": b64(&der)}))).await;
    assert_eq!(r.problem(), format!("{P}badCSR"));
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("other.example.test")
    );
    // The account key as the certificate key.
    let same = csr_with_key(&c.key, &["f.example.test"]);
    let der = openssl::x509::X509Req::from_pem(&same)
        .unwrap()
        .to_der()
        .unwrap();
    let r = c.post(&finalize, Some(json!({"csr": b64(&der)}))).await;
    assert_eq!(r.problem(), format!("{P}badCSR"));
    // Garbage.
    let r = c
        .post(&finalize, Some(json!({"csr": b64(b"garbage")})))
        .await;
    assert_eq!(r.problem(), format!("{P}badCSR"));
    assert_eq!(
        count(&env, "certificates").await,
        1,
        "only the server's TLS certificate"
    );
    // A good CSR still works afterwards.
    let der = openssl::x509::X509Req::from_pem(&csr_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let r = c.post(&finalize, Some(json!({"csr": b64(&der)}))).await;
    assert_eq!(r.body["status"], "valid", "{:?}", r.body);
    env.t.stop().await;
}

#[tokio::test]
async fn revoke_with_account_key_and_certificate_key() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    let account = env.client().await;
    // Revoke by the ordering account.
    let pem = issue(
        &env,
        &account,
        &dns(&["v1.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    let leaf = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0);
    let der = leaf.to_der().unwrap();
    let cd = rustls_pki_types::CertificateDer::from(der.clone());
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &cd,
            reason: Some(instant_acme::RevocationReason::Superseded),
        })
        .await
        .unwrap();
    let serial = signet_ca::serial::to_hex(&leaf.serial_number().to_bn().unwrap().to_vec());
    let row = certs::by_serial_any(&env.t.app.store.read, &serial)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(row.status, certs::REVOKED);
    assert_eq!(row.revocation_reason, Some(4));
    let err = err_of(
        account
            .revoke(&instant_acme::RevocationRequest {
                certificate: &cd,
                reason: None,
            })
            .await,
    );
    assert!(err.contains("alreadyRevoked"), "{err}");
    // Another account may not revoke it.
    let pem = issue(
        &env,
        &account,
        &dns(&["v2.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    let der2 = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0)
        .to_der()
        .unwrap();
    let r = c
        .post(
            &c.url("revokeCert"),
            Some(json!({"certificate": b64(&der2)})),
        )
        .await;
    assert_eq!(r.problem(), format!("{P}unauthorized"));
    // Revoke by the certificate's own key (jwk), using our own CSR key.
    let mut order = account
        .new_order(&NewOrder::new(&dns(&["v3.example.test"])))
        .await
        .unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    let (csr_pem, cert_key) = csr(KeyType::EcP256, &["v3.example.test"]);
    order
        .finalize_csr(
            &openssl::x509::X509Req::from_pem(&csr_pem)
                .unwrap()
                .to_der()
                .unwrap(),
        )
        .await
        .unwrap();
    let pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .unwrap();
    let der3 = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .unwrap()
        .remove(0)
        .to_der()
        .unwrap();
    let keyholder = RawClient {
        key: cert_key,
        kid: None,
        ..env.raw().await
    };
    let r = keyholder
        .post(
            &keyholder.url("revokeCert"),
            Some(json!({"certificate": b64(&der3), "reason": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = keyholder
        .post(
            &keyholder.url("revokeCert"),
            Some(json!({"certificate": b64(&der2), "reason": 1})),
        )
        .await;
    assert_eq!(
        r.problem(),
        format!("{P}unauthorized"),
        "another certificate's key"
    );
    let r = c
        .post(
            &c.url("revokeCert"),
            Some(json!({"certificate": b64(&der2), "reason": 7})),
        )
        .await;
    assert_eq!(r.problem(), format!("{P}badRevocationReason"));
    env.t.stop().await;
}

#[tokio::test]
async fn account_update_key_change_orders_and_deactivation() {
    let env = AcmeEnv::new().await;
    let mut account = env.client().await;
    issue(
        &env,
        &account,
        &dns(&["k.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    account
        .update_contacts(&["mailto:new@example.test"])
        .await
        .unwrap();
    let id = account.id().rsplit('/').next().unwrap().to_string();
    let row = signet::store::acme::account(&env.t.app.store.read, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.contact, r#"["mailto:new@example.test"]"#);
    let old_tp = row.thumbprint.clone();
    let _new_credentials = account.update_key().await.unwrap();
    let row = signet::store::acme::account(&env.t.app.store.read, &id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.thumbprint, old_tp);
    // The account still works with the new key.
    issue(
        &env,
        &account,
        &dns(&["k2.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    // Orders list.
    let mut c = env.raw().await;
    c.register().await;
    let kid = c.kid.clone().unwrap();
    c.post(
        &c.url("newOrder"),
        Some(json!({"identifiers": [{"type": "dns", "value": "o.example.test"}]})),
    )
    .await;
    let r = c.post(&format!("{kid}/orders"), None).await;
    assert_eq!(r.body["orders"].as_array().unwrap().len(), 1);
    // Someone else's account URL.
    let r = c.post(account.id(), None).await;
    assert_eq!(r.problem(), format!("{P}unauthorized"));
    // Deactivate, then nothing works.
    let r = c.post(&kid, Some(json!({"status": "deactivated"}))).await;
    assert_eq!(r.body["status"], "deactivated");
    let r = c
        .post(
            &c.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": "o.example.test"}]})),
        )
        .await;
    assert_eq!(r.problem(), format!("{P}unauthorized"));
    // onlyReturnExisting with an unknown key.
    let stranger = env.raw().await;
    let r = stranger
        .post(
            &stranger.url("newAccount"),
            Some(json!({"onlyReturnExisting": true})),
        )
        .await;
    assert_eq!(r.problem(), format!("{P}accountDoesNotExist"));
    env.t.stop().await;
}

#[tokio::test]
async fn approval_holds_the_order_until_an_admin_approves() {
    let env = AcmeEnv::new().await;
    let gated = TemplateSpec {
        approvals_required: 1,
        ..TemplateSpec::allow_any_host()
    };
    templates::upsert(
        &env.t.app.store.write,
        "gated",
        &serde_json::to_string(&gated).unwrap(),
    )
    .await
    .unwrap();
    let account = env.client().await;
    let ids = dns(&["g.example.test"]);
    let mut order = account
        .new_order(&NewOrder::new(&ids).profile("gated"))
        .await
        .unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    order.finalize().await.unwrap();
    assert_eq!(order.state().status, OrderStatus::Processing);
    let pending = ids_in_status(&env.t, certs::PENDING_APPROVAL).await;
    assert_eq!(pending.len(), 1);
    signet::issuance::approve(&env.t.app, &pending[0], "admin", Some("ok"))
        .await
        .unwrap();
    let pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .unwrap();
    openssl_verify(&env.t.dir, pem.as_bytes());
    // A rejected request turns its order invalid.
    let mut order = account
        .new_order(&NewOrder::new(&ids).profile("gated"))
        .await
        .unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    order.finalize().await.unwrap();
    let pending = ids_in_status(&env.t, certs::PENDING_APPROVAL).await;
    signet::issuance::reject(&env.t.app, &pending[0], "admin", Some("no"))
        .await
        .unwrap();
    let state = order.refresh().await.unwrap();
    assert_eq!(state.status, OrderStatus::Invalid);
    env.t.stop().await;
}

#[tokio::test]
async fn directory_nonce_and_headers() {
    let env = AcmeEnv::with(|c| {
        c.acme.terms_of_service = "https://example.test/tos".into();
        c.acme.caa_identities = vec!["signet.example.test".into()];
    })
    .await;
    let r = env.t.client.get(&env.directory).send().await.unwrap();
    assert!(
        r.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"index\"")
    );
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["meta"]["termsOfService"], "https://example.test/tos");
    assert_eq!(d["meta"]["caaIdentities"][0], "signet.example.test");
    assert_eq!(d["meta"]["externalAccountRequired"], false);
    assert!(d["meta"]["profiles"]["default"].is_string());
    assert!(d["renewalInfo"].is_string());
    let head = env
        .t
        .client
        .head(d["newNonce"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["cache-control"], "no-store");
    let get = env
        .t
        .client
        .get(d["newNonce"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 204);
    assert_ne!(
        head.headers()["replay-nonce"],
        get.headers()["replay-nonce"]
    );
    env.t.stop().await;
}

/// The JWS envelope parser on mutated request bodies: errors, never panics
/// (the coverage-guided version is `fuzz/fuzz_targets/jws.rs`).
#[test]
fn jws_parser_never_panics() {
    let key = KeyType::EcP256.generate().unwrap();
    let seed = jws(&key, &json!({"alg": "ES256", "nonce": "n", "url": "https://x/acme/new-order", "jwk": ec_jwk(&key)}), "{}").to_string().into_bytes();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut m = seed.clone();
        let i = (state as usize) % m.len();
        match state % 3 {
            0 => m[i] ^= (state >> 8) as u8 | 1,
            1 => m.truncate(i),
            _ => m.insert(i, (state >> 16) as u8),
        }
        let _ = signet::acme::jws::parse(&m);
    }
}

/// An http-01 challenge for a fresh one-name order, already marked
/// 'processing' since `since` (as a validation in flight, or abandoned).
async fn processing_challenge(
    env: &AcmeEnv,
    c: &RawClient,
    name: &str,
    since: i64,
) -> serde_json::Value {
    let order = c
        .post(
            &c.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": name}]})),
        )
        .await;
    let authz = c
        .post(order.body["authorizations"][0].as_str().unwrap(), None)
        .await;
    let ch = authz.body["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let id = ch["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    sqlx::query(
        "UPDATE acme_challenges SET status = 'processing', processing_since = $1 WHERE id = $2",
    )
    .bind(since)
    .bind(id)
    .execute(&env.t.app.store.write)
    .await
    .unwrap();
    ch
}

/// A replica that dies mid-validation leaves its challenge 'processing'; once
/// that is stale, a new POST takes the validation over instead of hanging.
#[tokio::test]
async fn abandoned_validation_is_taken_over() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    // The crashed replica's state: processing, started long ago, never finished.
    let ch =
        processing_challenge(&env, &c, "crash.example.test", signet::store::now() - 3600).await;
    let tp = signet_ca::jose::parse_jwk(&ec_jwk(&c.key))
        .unwrap()
        .thumbprint;
    let token = ch["token"].as_str().unwrap();
    env.http_tokens
        .lock()
        .unwrap()
        .insert(token.into(), format!("{token}.{tp}"));
    let r = c.post(ch["url"].as_str().unwrap(), Some(json!({}))).await;
    assert_eq!(r.body["status"], "valid", "{:?}", r.body);
    // A fresh 'processing' (a live validation elsewhere) is left alone.
    let ch = processing_challenge(&env, &c, "busy.example.test", signet::store::now()).await;
    let r = c.post(ch["url"].as_str().unwrap(), Some(json!({}))).await;
    assert_eq!(r.body["status"], "processing");
    assert!(r.headers.contains_key("retry-after"));
    env.t.stop().await;
}

/// With `authz_reuse_secs`, an order for names the account has already
/// proved links those authorizations and is ready at once; a name not yet
/// proved still gets a pending authorization of its own.
#[tokio::test]
async fn valid_authorizations_are_reused_when_configured() {
    let env = AcmeEnv::with(|c| c.acme.authz_reuse_secs = 3600).await;
    let account = env.client().await;
    let mut first = account
        .new_order(&NewOrder::new(&dns(&["reuse.example.test"])))
        .await
        .unwrap();
    solve(&env, &mut first, ChallengeType::Http01).await;
    let authzs = count(&env, "acme_authzs").await;

    let mut again = account
        .new_order(&NewOrder::new(&dns(&["reuse.example.test"])))
        .await
        .unwrap();
    assert_eq!(again.state().status, OrderStatus::Ready);
    assert_eq!(count(&env, "acme_authzs").await, authzs);

    let mut mixed = account
        .new_order(&NewOrder::new(&dns(&[
            "reuse.example.test",
            "fresh.example.test",
        ])))
        .await
        .unwrap();
    assert_eq!(mixed.state().status, OrderStatus::Pending);
    assert_eq!(count(&env, "acme_authzs").await, authzs + 1);
    solve(&env, &mut mixed, ChallengeType::Http01).await;
    env.t.stop().await;
}

/// A flow's statements search indexes: their cost must not grow with the
/// tables. With many open orders in the store, one more flow steps through
/// no more than a few rows of full scans (the handful of templates and CAs).
#[tokio::test]
async fn a_flow_does_not_scan_tables_that_grow() {
    let env = AcmeEnv::new().await;
    let store = &env.t.app.store;
    if store.sqlite_stats().is_none() {
        // SQLite's counter; PostgreSQL has no equivalent here.
        env.t.stop().await;
        return;
    }
    let account = env.client().await;
    for i in 0..100 {
        let ids = dns(&[
            &format!("open{i}a.example.test"),
            &format!("open{i}b.example.test"),
            &format!("open{i}c.example.test"),
        ]);
        account.new_order(&NewOrder::new(&ids)).await.unwrap();
    }
    assert!(count(&env, "acme_authzs").await >= 300);
    // 200 more certificates: copies of an issued one, each with its own id
    // and serial, so that a lookup by serial that scans shows up.
    let first = issue(
        &env,
        &account,
        &dns(&["first.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    let cols: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('certificates')")
            .fetch_all(&store.read)
            .await
            .unwrap();
    let values: Vec<String> = cols
        .iter()
        .map(|c| match c.as_str() {
            "id" => "'copy-' || n".to_string(),
            "serial" => "printf('%016x', n)".to_string(),
            c => c.to_string(),
        })
        .collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 200) \
         INSERT INTO certificates ({}) SELECT {} FROM s, \
         (SELECT * FROM certificates WHERE status = 'active' LIMIT 1)",
        cols.join(", "),
        values.join(", ")
    )))
    .execute(&store.write)
    .await
    .unwrap();
    let leaf = openssl::x509::X509::stack_from_pem(first.as_bytes())
        .unwrap()
        .remove(0);
    let aki = leaf.authority_key_id().unwrap().as_slice().to_vec();
    let serial = leaf.serial_number().to_bn().unwrap().to_vec();

    let before = store.sqlite_stats().unwrap().fullscan_steps;
    issue(
        &env,
        &account,
        &dns(&["scan.example.test", "scan2.example.test"]),
        ChallengeType::Http01,
    )
    .await;
    // ARI and revocation find a certificate by its serial alone.
    let r = env
        .t
        .client
        .get(format!(
            "{}/acme/renewal-info/{}.{}",
            env.t.https_url,
            b64(&aki),
            b64(&serial)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &rustls_pki_types::CertificateDer::from(leaf.to_der().unwrap()),
            reason: None,
        })
        .await
        .unwrap();
    let scanned = store.sqlite_stats().unwrap().fullscan_steps - before;
    assert!(
        scanned < 100,
        "one flow, a renewalInfo and a revocation stepped through {scanned} rows of full scans"
    );
    env.t.stop().await;
}
