//! CRLs and OCSP as relying parties see them, checked with the openssl CLI.

use std::path::Path;
use std::process::Command;

use instant_acme::{ChallengeType, Identifier, NewOrder, RetryPolicy};
use openssl::x509::X509;
use serde_json::{Value, json};
use signet::issuance::{self, IssuanceRequest, Outcome};
use signet::policy::Channel;
use signet::revocation;
use signet::store::certificates::CertRow;
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

async fn issue(t: &TestApp, name: &str) -> CertRow {
    let (pem, _) = csr(KeyType::EcP256, &[name]);
    let req =
        IssuanceRequest::from_csr(Channel::Api, "alice", signet_ca::csr::parse(&pem).unwrap());
    match issuance::submit(&t.app, req).await.unwrap() {
        Outcome::Issued(r) => *r,
        Outcome::Pending(_) => panic!("pending"),
    }
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn regenerate(t: &TestApp, ca: &str, kind: &str) -> Value {
    let r = t
        .client
        .post(format!("{}/api/v1/ca/{ca}/crl/regenerate", t.https_url))
        .bearer_auth(t.admin_token())
        .json(&json!({"type": kind}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn fetch(url: &str) -> Vec<u8> {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    r.bytes().await.unwrap().to_vec()
}

fn write_pem_crl(dir: &Path, name: &str, der: &[u8]) {
    std::fs::write(
        dir.join(name),
        openssl::x509::X509Crl::from_der(der)
            .unwrap()
            .to_pem()
            .unwrap(),
    )
    .unwrap();
}

fn serial_upper(row: &CertRow) -> String {
    row.serial.clone().unwrap().to_uppercase()
}

#[tokio::test]
async fn full_and_delta_crls_revoke_hold_and_unrevoke() {
    let t = spawn_app().await;
    let ca = t.app.cas.default_id(&t.app.store).await.unwrap();
    let good = issue(&t, "good.example.test").await;
    let bad = issue(&t, "bad.example.test").await;
    let held = issue(&t, "held.example.test").await;
    revocation::revoke_with(
        &t.app,
        &bad,
        1,
        Some(signet::store::now() - 3600),
        None,
        "test",
    )
    .await
    .unwrap();
    revocation::revoke(&t.app, &held, 6, "test").await.unwrap();

    let full1 = regenerate(&t, &ca, "full").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let der = fetch(&format!("{}/crl/{ca}.crl", t.http_url)).await;
    std::fs::write(d.join("full.crl"), &der).unwrap();
    let (ok, text) = openssl(
        d,
        &[
            "crl", "-inform", "DER", "-in", "full.crl", "-noout", "-text",
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains(&serial_upper(&bad))
            && text.contains("Key Compromise")
            && text.contains("Invalidity Date"),
        "{text}"
    );
    assert!(
        text.contains(&serial_upper(&held)) && text.contains("Certificate Hold"),
        "{text}"
    );
    assert!(!text.contains(&serial_upper(&good)));
    assert!(
        text.contains("Next Update") && text.contains("Freshest CRL"),
        "{text}"
    );

    // openssl verify -crl_check rejects the revoked certificate and accepts the good one.
    std::fs::copy(t.dir.join("root.pem"), d.join("root.pem")).unwrap();
    std::fs::copy(t.dir.join("ca-chain.pem"), d.join("chain.pem")).unwrap();
    for (name, row) in [("good.pem", &good), ("bad.pem", &bad)] {
        std::fs::write(d.join(name), der_to_pem(row.der.as_ref().unwrap())).unwrap();
    }
    write_pem_crl(d, "crl.pem", &der);
    let verify = |cert: &str, extra: &[&str]| {
        let mut a = vec![
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "-CRLfile",
            "crl.pem",
        ];
        a.extend_from_slice(extra);
        a.push(cert);
        openssl(d, &a)
    };
    assert!(verify("good.pem", &[]).0, "{}", verify("good.pem", &[]).1);
    let (ok, out) = verify("bad.pem", &[]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // Lift the hold: the next delta says removeFromCRL, the next full CRL forgets it.
    revocation::unrevoke(&t.app, &held, "test").await.unwrap();
    assert!(
        revocation::unrevoke(&t.app, &bad, "test").await.is_err(),
        "only holds can be lifted"
    );
    let delta = regenerate(&t, &ca, "delta").await;
    assert_eq!(delta["base_number"], full1["number"]);
    let dder = fetch(&format!("{}/crl/{ca}/delta.crl", t.http_url)).await;
    std::fs::write(d.join("delta.crl"), &dder).unwrap();
    let (ok, text) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "delta.crl",
            "-noout",
            "-text",
        ],
    );
    assert!(
        ok && text.contains("Delta CRL Indicator: critical") && text.contains("Remove From CRL"),
        "{text}"
    );
    let full2 = regenerate(&t, &ca, "full").await;
    let der2 = fetch(&format!("{}/crl/{ca}.crl", t.http_url)).await;
    std::fs::write(d.join("full2.crl"), &der2).unwrap();
    let (_, text) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "full2.crl",
            "-noout",
            "-text",
        ],
    );
    assert!(
        !text.contains(&serial_upper(&held)) && text.contains(&serial_upper(&bad)),
        "{text}"
    );
    // One number sequence for full and delta, strictly increasing.
    let (n1, n2, n3) = (
        full1["number"].as_i64().unwrap(),
        delta["number"].as_i64().unwrap(),
        full2["number"].as_i64().unwrap(),
    );
    assert!(n1 < n2 && n2 < n3, "{n1} {n2} {n3}");

    // -use_deltas: a revocation published only in a delta is honoured.
    let late = issue(&t, "late.example.test").await;
    revocation::revoke(&t.app, &late, 4, "test").await.unwrap();
    regenerate(&t, &ca, "delta").await;
    let dder = fetch(&format!("{}/crl/{ca}/delta.crl", t.http_url)).await;
    std::fs::write(d.join("late.pem"), der_to_pem(late.der.as_ref().unwrap())).unwrap();
    let crls = [
        openssl::x509::X509Crl::from_der(&der2)
            .unwrap()
            .to_pem()
            .unwrap(),
        openssl::x509::X509Crl::from_der(&dder)
            .unwrap()
            .to_pem()
            .unwrap(),
    ]
    .concat();
    std::fs::write(d.join("crl.pem"), crls).unwrap();
    let (ok, out) = verify("late.pem", &["-use_deltas"]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    assert!(verify("good.pem", &["-use_deltas"]).0);
    t.stop().await;
}

#[tokio::test]
async fn crl_http_caching_pem_and_auth() {
    let t = spawn_app().await;
    let ca = t.app.cas.default_id(&t.app.store).await.unwrap();
    let r = reqwest::get(format!("{}/crl/{ca}.crl", t.http_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a CRL exists from the first start");
    let lm = r.headers()["last-modified"].to_str().unwrap().to_string();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/crl/{ca}.crl", t.http_url))
        .header("if-modified-since", &lm)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let pem = reqwest::get(format!("{}/crl/{ca}.crl?format=pem", t.http_url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pem.starts_with("-----BEGIN X509 CRL-----"));
    assert!(openssl::x509::X509Crl::from_pem(pem.as_bytes()).is_ok());
    assert_eq!(
        reqwest::get(format!("{}/crl/nope.crl", t.http_url))
            .await
            .unwrap()
            .status(),
        404
    );
    // The REST routes check permissions: 401 without a token, 403 for an auditor regenerating.
    let url = format!("{}/api/v1/ca/{ca}/crl/regenerate", t.https_url);
    let r = t
        .client
        .post(&url)
        .json(&json!({"type": "full"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert!(
        body["error"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
    let (_, auditor) = signet::tokens::create(&t.app.store, "aud", "auditor", None, None)
        .await
        .unwrap();
    let r = t
        .client
        .post(&url)
        .bearer_auth(&auditor)
        .header("x-request-id", "trace-42")
        .json(&json!({"type": "full"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-request-id"], "trace-42");
    let r = t
        .client
        .get(format!("{}/api/v1/ca/{ca}/crl", t.https_url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    t.stop().await;
}

#[tokio::test]
async fn auth_failures_are_rate_limited() {
    let t = spawn_app().await;
    let ca = t.app.cas.default_id(&t.app.store).await.unwrap();
    let url = format!("{}/api/v1/ca/{ca}/crl", t.https_url);
    for _ in 0..10 {
        assert_eq!(
            t.client
                .get(&url)
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = t
        .client
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // A valid token from the same address still gets through: one failing
    // script behind a NAT must not lock every admin out.
    assert_eq!(
        t.client
            .get(&url)
            .bearer_auth(t.admin_token())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A missing token counts as a failure too.
    assert_eq!(t.client.get(&url).send().await.unwrap().status(), 429);
    t.stop().await;
}

#[tokio::test]
async fn expired_revoked_certificates_leave_after_one_more_crl() {
    let t = spawn_app().await;
    let ca = t.app.cas.default_id(&t.app.store).await.unwrap();
    let row = issue(&t, "old.example.test").await;
    revocation::revoke(&t.app, &row, 1, "test").await.unwrap();
    let now = signet::store::now();
    // The start-up CRL is from long ago; the certificate expired after it, and was revoked after it.
    sqlx::query("UPDATE crls SET this_update = $1")
        .bind(now - 10_000)
        .execute(&t.app.store.write)
        .await
        .unwrap();
    sqlx::query("UPDATE certificates SET not_after = $1, revoked_at = $2 WHERE id = $3")
        .bind(now - 100)
        .bind(now - 50)
        .bind(row.id.clone())
        .execute(&t.app.store.write)
        .await
        .unwrap();
    let a = regenerate(&t, &ca, "full").await;
    assert_eq!(
        a["entries"], 1,
        "still listed in the first CRL after notAfter"
    );
    let b = regenerate(&t, &ca, "full").await;
    assert_eq!(b["entries"], 0, "dropped from the next one");
    t.stop().await;
}

// openssl ocsp -url blocks its thread while the in-process server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_revocation_reaches_crl_and_ocsp() {
    let env = AcmeEnv::new().await;
    let account = env.client().await;
    let ids = [Identifier::Dns("o.example.test".into())];
    let mut order = account.new_order(&NewOrder::new(&ids)).await.unwrap();
    solve(&env, &mut order, ChallengeType::Http01).await;
    order.finalize().await.unwrap();
    let pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .unwrap();
    let chain = X509::stack_from_pem(pem.as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("leaf.pem"), chain[0].to_pem().unwrap()).unwrap();
    std::fs::write(d.join("issuer.pem"), chain[1].to_pem().unwrap()).unwrap();
    std::fs::copy(env.t.dir.join("root.pem"), d.join("root.pem")).unwrap();
    // The AIA and CRLDP URLs in the certificate are the ones served.
    let (_, text) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    let ocsp_url = format!("{}/ocsp", env.t.http_url);
    let ca = env.t.app.cas.default_id(&env.t.app.store).await.unwrap();
    let crl_url = format!("{}/crl/{ca}.crl", env.t.http_url);
    assert!(
        text.contains(&format!("OCSP - URI:{ocsp_url}"))
            && text.contains(&format!("URI:{crl_url}")),
        "{text}"
    );
    let ocsp = |extra: &[&str]| {
        let mut a = vec![
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-CAfile",
            "root.pem",
            "-url",
            &ocsp_url,
        ];
        a.extend_from_slice(extra);
        openssl(d, &a)
    };
    let (ok, out) = ocsp(&["-cert", "leaf.pem"]);
    assert!(
        ok && out.contains("leaf.pem: good") && out.contains("Response verify OK"),
        "{out}"
    );
    let (ok, out) = ocsp(&["-serial", "0x1234"]);
    assert!(ok && out.contains("0x1234: unknown"), "{out}");
    // Revoke through ACME.
    let cd = rustls_pki_types::CertificateDer::from(chain[0].to_der().unwrap());
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &cd,
            reason: Some(instant_acme::RevocationReason::KeyCompromise),
        })
        .await
        .unwrap();
    let (ok, out) = ocsp(&["-sha256", "-cert", "leaf.pem"]);
    assert!(
        ok && out.contains("leaf.pem: revoked") && out.contains("keyCompromise"),
        "{out}"
    );
    // And the next CRL lists it.
    regenerate(&env.t, &ca, "full").await;
    let der = fetch(&crl_url).await;
    let crl = openssl::x509::X509Crl::from_der(&der).unwrap();
    assert!(matches!(
        crl.get_by_serial(chain[0].serial_number()),
        openssl::x509::CrlStatus::Revoked(_)
    ));
    // RFC 6960 GET form, with the request base64- and URL-encoded in the path.
    let (ok, out) = openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            "leaf.pem",
            "-reqout",
            "req.der",
        ],
    );
    assert!(ok, "{out}");
    let req = std::fs::read(d.join("req.der")).unwrap();
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &req);
    let enc: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".into(),
            '/' => "%2F".into(),
            '=' => "%3D".into(),
            c => c.to_string(),
        })
        .collect();
    let r = reqwest::get(format!("{ocsp_url}/{enc}")).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/ocsp-response");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=3600")
    );
    std::fs::write(d.join("resp.der"), r.bytes().await.unwrap()).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-reqin",
            "req.der",
            "-verify_other",
            "issuer.pem",
            "-CAfile",
            "root.pem",
            "-resp_text",
        ],
    );
    assert!(
        ok && out.contains("Cert Status: revoked") && out.contains("Response verify OK"),
        "{out}"
    );
    // Garbage gets a malformedRequest status, not a crash.
    let r = reqwest::Client::new()
        .post(&ocsp_url)
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &[0x30, 0x03, 0x0a, 0x01, 0x01]
    );
    env.t.stop().await;
}

#[tokio::test]
async fn sharded_crls_partition_by_serial_with_idp() {
    let t = spawn_app_with(|c| c.revocation.crl_shards = 4).await;
    let ca = t.app.cas.default_id(&t.app.store).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(t.dir.join("root.pem"), d.join("root.pem")).unwrap();
    std::fs::copy(t.dir.join("ca-chain.pem"), d.join("chain.pem")).unwrap();
    let mut seen_shards = std::collections::HashSet::new();
    for i in 0..12 {
        let row = issue(&t, &format!("s{i}.example.test")).await;
        let shard = row.crl_shard.expect("sharded");
        seen_shards.insert(shard);
        revocation::revoke(&t.app, &row, 1, "test").await.unwrap();
        // The certificate names its shard's CRL.
        let cert = X509::from_der(row.der.as_ref().unwrap()).unwrap();
        std::fs::write(d.join("leaf.pem"), cert.to_pem().unwrap()).unwrap();
        let (_, text) = openssl(
            d,
            &[
                "x509",
                "-in",
                "leaf.pem",
                "-noout",
                "-ext",
                "crlDistributionPoints",
            ],
        );
        let url = format!("{}/crl/{ca}/{shard}.crl", t.http_url);
        assert!(text.contains(&url), "{text}");
        // That shard's CRL lists it, with an IDP naming the same URL; openssl rejects the certificate.
        signet::revocation::crl::publish_scoped(
            &t.app,
            &ca,
            signet::revocation::crl::CrlKind::Full,
            Some(shard),
        )
        .await
        .unwrap();
        let der = fetch(&url).await;
        std::fs::write(d.join("shard.crl"), &der).unwrap();
        let (_, crl_text) = openssl(
            d,
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                "shard.crl",
                "-noout",
                "-text",
            ],
        );
        assert!(
            crl_text.contains("Issuing Distribution Point: critical") && crl_text.contains(&url),
            "{crl_text}"
        );
        assert!(crl_text.contains(&serial_upper(&row)));
        write_pem_crl(d, "crl.pem", &der);
        let (ok, out) = openssl(
            d,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "root.pem",
                "-untrusted",
                "chain.pem",
                "-CRLfile",
                "crl.pem",
                "leaf.pem",
            ],
        );
        assert!(!ok && out.contains("certificate revoked"), "{out}");
        // Other shards do not carry it.
        let other = (shard + 1) % 4;
        signet::revocation::crl::publish_scoped(
            &t.app,
            &ca,
            signet::revocation::crl::CrlKind::Full,
            Some(other),
        )
        .await
        .unwrap();
        let other_der = fetch(&format!("{}/crl/{ca}/{other}.crl", t.http_url)).await;
        let other_crl = openssl::x509::X509Crl::from_der(&other_der).unwrap();
        assert!(!matches!(
            other_crl.get_by_serial(cert.serial_number()),
            openssl::x509::CrlStatus::Revoked(_)
        ));
    }
    assert!(
        seen_shards.len() > 1,
        "serials spread over shards: {seen_shards:?}"
    );
    // The complete CRL still lists everything, and unknown shard numbers are 404.
    let full = regenerate(&t, &ca, "full").await;
    assert_eq!(full["entries"], 12);
    assert_eq!(
        reqwest::get(format!("{}/crl/{ca}/9.crl", t.http_url))
            .await
            .unwrap()
            .status(),
        404
    );
    t.stop().await;
}

#[tokio::test]
async fn rest_revoke_hold_and_unrevoke_reach_ocsp() {
    let t = spawn_app().await;
    let row = issue(&t, "api.example.test").await;
    let (_, operator) = signet::tokens::create(&t.app.store, "op", "operator", None, None)
        .await
        .unwrap();
    let (_, requester) = signet::tokens::create(&t.app.store, "rq", "requester", None, None)
        .await
        .unwrap();
    let url = |action: &str| format!("{}/api/v1/certificates/{}/{action}", t.https_url, row.id);
    let post = |token: &str, action: &str, body: Value| {
        t.client
            .post(url(action))
            .bearer_auth(token.to_string())
            .json(&body)
            .send()
    };

    let r = post(&requester, "revoke", json!({"reason": "keyCompromise"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(&operator, "revoke", json!({"reason": "whatever"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = t
        .client
        .post(url("revoke"))
        .bearer_auth(&operator)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "JSON needs its content type");
    let r = t
        .client
        .post(url("revoke"))
        .bearer_auth(&operator)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_request"
    );

    // On hold, then lifted.
    let r = post(&operator, "revoke", json!({"reason": 6}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["status"].as_str(),
            v["revocation_reason"].as_str(),
            v["validity_status"].as_str()
        ),
        (Some("revoked"), Some("certificateHold"), Some("revoked"))
    );
    let r = post(&operator, "unrevoke", json!({})).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "active");

    // Revoked for good, with an invalidity date; a second revocation is a conflict.
    let r = post(
        &operator,
        "revoke",
        json!({"reason": "keyCompromise", "invalidity_date": "2026-01-02T03:04:05Z"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(&operator, "revoke", json!({"reason": 1}))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "already_revoked"
    );
    let r = post(&operator, "unrevoke", json!({})).await.unwrap();
    assert_eq!(r.status(), 409, "only a hold can be lifted");
    let got: Value = t
        .client
        .get(format!("{}/api/v1/certificates/{}", t.https_url, row.id))
        .bearer_auth(&requester)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["revocation_reason"], "keyCompromise");
    let stored = signet::store::certificates::get(&t.app.store.read, &row.id)
        .await
        .unwrap();
    assert_eq!(stored.revocation_reason, Some(1));

    // OCSP sees it at once.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("leaf.pem"), der_to_pem(row.der.as_ref().unwrap())).unwrap();
    std::fs::copy(t.dir.join("ca-chain.pem"), d.join("chain.pem")).unwrap();
    std::fs::copy(t.dir.join("root.pem"), d.join("root.pem")).unwrap();
    let issuer = X509::stack_from_pem(&std::fs::read(d.join("chain.pem")).unwrap())
        .unwrap()
        .remove(0);
    std::fs::write(d.join("issuer.pem"), issuer.to_pem().unwrap()).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "issuer.pem",
            "-cert",
            "leaf.pem",
            "-reqout",
            "req.der",
        ],
    );
    assert!(ok, "{out}");
    let resp = reqwest::Client::new()
        .post(format!("{}/ocsp", t.http_url))
        .header("content-type", "application/ocsp-request")
        .body(std::fs::read(d.join("req.der")).unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(d.join("resp.der"), resp).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-reqin",
            "req.der",
            "-verify_other",
            "issuer.pem",
            "-CAfile",
            "root.pem",
            "-resp_text",
        ],
    );
    assert!(
        ok && out.contains("Cert Status: revoked") && out.contains("keyCompromise"),
        "{out}"
    );
    t.stop().await;
}

/// The CRL distribution point a certificate names.
fn cdp_of(der: &[u8]) -> String {
    let c = X509::from_der(der).unwrap();
    let dps = c.crl_distribution_points().expect("a CRLDP");
    let dp = dps.get(0).unwrap();
    let names = dp.distpoint().unwrap().fullname().unwrap();
    names.get(0).unwrap().uri().unwrap().to_string()
}

#[tokio::test]
async fn a_revocation_reaches_the_crl_at_the_cdp_within_seconds() {
    let t = spawn_app_with(|c| c.revocation.publish_on_revoke_delay_ms = 300).await;
    signet::jobs::spawn_revoke_publisher(t.app.core.clone());
    let row = issue(&t, "cdp.example.test").await;
    let der = row.der.clone().unwrap();
    let cdp = cdp_of(&der);
    let serial = openssl::bn::BigNum::from_hex_str(row.serial.as_ref().unwrap()).unwrap();
    let listed = |crl: &[u8]| {
        let crl = openssl::x509::X509Crl::from_der(crl).unwrap();
        crl.get_revoked().is_some_and(|rs| {
            rs.iter()
                .any(|r| r.serial_number().to_bn().unwrap() == serial)
        })
    };
    assert!(!listed(&fetch(&cdp).await), "listed before the revocation");
    let r = t
        .client
        .post(format!(
            "{}/api/v1/certificates/{}/revoke",
            t.https_url, row.id
        ))
        .bearer_auth(t.admin_token())
        .json(&json!({"reason": "superseded"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    let crl = loop {
        let crl = fetch(&cdp).await;
        if listed(&crl) {
            break crl;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the CDP's CRL did not list the revocation within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    // What a relying party that reads only the CDP does.
    let tmp = tempfile::tempdir().unwrap();
    write_pem_crl(tmp.path(), "cdp.crl", &crl);
    std::fs::write(tmp.path().join("leaf.pem"), der_to_pem(&der)).unwrap();
    std::fs::copy(t.dir.join("root.pem"), tmp.path().join("root.pem")).unwrap();
    std::fs::copy(t.dir.join("ca-chain.pem"), tmp.path().join("chain.pem")).unwrap();
    let (ok, out) = openssl(
        tmp.path(),
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "chain.pem",
            "-CRLfile",
            "cdp.crl",
            "leaf.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    // The delta says so too.
    let delta = fetch(&format!("{}/crl/{}/delta.crl", t.http_url, row.ca_id)).await;
    assert!(listed(&delta));
    t.stop().await;
}
