//! The management REST API: permissions on every route, and the flows.

use reqwest::Method;
use serde_json::{Value, json};
use signet::api::ROUTES;
use signet::api::auth::role_permissions;
use signet_ca::key::KeyType;

use crate::helpers::*;

async fn token(t: &TestApp, role: &str) -> String {
    signet::tokens::create(&t.app.store, role, role, None, None)
        .await
        .unwrap()
        .1
}

/// Every route in the table, for every role: allowed roles never get 401/403,
/// the others always get 403, before any body is looked at.
#[tokio::test]
async fn every_route_for_every_role() {
    let t = spawn_app().await;
    for role in signet::tokens::ROLES {
        let api = Api {
            t: &t,
            token: token(&t, role).await,
        };
        for r in ROUTES.iter().filter(|r| !r.permission.is_empty()) {
            let (method, perm) = (r.method, r.permission);
            let path = r
                .path
                .replace("{id}", "nonexistent")
                .replace("{projectId}", "nonexistent")
                .replace("{targetId}", "nonexistent");
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let body = matches!(method, "POST" | "PUT").then(|| json!({}));
            let (status, body) = api.call(m, &path, body).await;
            if role_permissions(role).contains(&perm) {
                assert!(
                    status != 401 && status != 403,
                    "{role} {method} {path}: {status} {body}"
                );
            } else {
                assert_eq!(status, 403, "{role} {method} {path}: {body}");
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
    }
    // No token at all: 401 everywhere.
    let anon = Api {
        t: &t,
        token: String::new(),
    };
    for (i, r) in ROUTES
        .iter()
        .filter(|r| !r.permission.is_empty())
        .enumerate()
    {
        let (method, path) = (r.method, r.path);
        let (status, _) = anon
            .call(
                Method::from_bytes(method.as_bytes()).unwrap(),
                &path
                    .replace("{id}", "x")
                    .replace("{projectId}", "x")
                    .replace("{targetId}", "x"),
                None,
            )
            .await;
        // After 10 failed authentications from one IP the limiter answers 429.
        assert!(
            status == 401 || (i >= 10 && status == 429),
            "{method} {path}: {status}"
        );
    }
    // The OpenAPI document lists every route with its permission, and the headers.
    let doc: Value = t
        .client
        .get(format!("{}/api/v1/openapi.json", t.https_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["components"]["parameters"]["IdempotencyKey"]["name"],
        "Idempotency-Key"
    );
    assert_eq!(doc["openapi"], "3.1.0");
    for r in ROUTES {
        assert_eq!(
            doc["paths"][r.path][r.method.to_lowercase()]["x-permission"],
            if r.permission.is_empty() {
                "none"
            } else {
                r.permission
            }
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn csr_submission_dry_run_policy_export_and_list() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (pem, _) = csr(KeyType::EcP256, &["rest.example.test", "10.9.8.7"]);
    let pem = String::from_utf8(pem).unwrap();
    let before = signet::store::certificates::count(&t.app.store.read)
        .await
        .unwrap();
    // Dry run: the plan, nothing stored.
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr?dry_run=true",
            json!({"mode": "uploaded_csr", "csr": pem}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["would_issue"]["plan"]["subject"][0][1],
        "rest.example.test"
    );
    assert_eq!(
        signet::store::certificates::count(&t.app.store.read)
            .await
            .unwrap(),
        before
    );
    // A policy violation: 422 with every violation.
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "corp", "spec": {"dns": [".corp.test"], "ip": []}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": pem, "template": "corp"}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["code"], "policy_violation");
    assert_eq!(v["error"]["details"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        signet::store::certificates::count(&t.app.store.read)
            .await
            .unwrap(),
        before
    );
    // Issue, then read it back.
    let (s, v) = admin
        .post("/api/v1/certificates/csr", json!({"csr": pem}))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["validity_status"], "valid");
    // Exports.
    let get_bytes = |q: String| {
        let c = t
            .client
            .get(format!(
                "{}/api/v1/certificates/{id}/export?{q}",
                t.https_url
            ))
            .bearer_auth(t.admin_token());
        async move {
            let r = c.send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    let (s, b) = get_bytes("format=pem".into()).await;
    assert_eq!(s, 200);
    openssl_verify(&t.dir, &b);
    let (s, b) = get_bytes("format=der".into()).await;
    assert!(s == 200 && openssl::x509::X509::from_der(&b).is_ok());
    let (s, b) = get_bytes("format=pkcs7".into()).await;
    assert!(s == 200 && openssl::pkcs7::Pkcs7::from_der(&b).is_ok());
    let (s, _) = get_bytes("format=pkcs12".into()).await;
    assert_eq!(s, 422, "a key export needs a password");
    let (s, _) = get_bytes("format=pkcs12&password=correct-horse".into()).await;
    assert_eq!(s, 400, "a password never travels in a URL");
    let post_export = |id: String, body: Value| {
        let c = t
            .client
            .post(format!("{}/api/v1/certificates/{id}/export", t.https_url))
            .bearer_auth(t.admin_token())
            .json(&body);
        async move {
            let r = c.send().await.unwrap();
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            (r.status().as_u16(), ct, r.bytes().await.unwrap().to_vec())
        }
    };
    let (s, _, _) = post_export(
        id.clone(),
        json!({"format": "pkcs12", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(s, 409, "no server-generated key for an uploaded CSR");
    // Generated keys: PKCS#12 (AES-256/PBKDF2) that openssl opens, and the key endpoint.
    let (s, v) = admin.post("/api/v1/certificates/csr", json!({"mode": "generated", "common_name": "gen.example.test", "sans": [{"type": "dns", "value": "gen.example.test"}], "key_type": "rsa-2048"})).await;
    assert_eq!(s, 201, "{v}");
    let gid = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["server_generated_key"], true);
    let (s, ct, p12) = post_export(
        gid.clone(),
        json!({"format": "pkcs12", "password": "correct-horse"}),
    )
    .await;
    assert_eq!((s, ct.as_str()), (200, "application/x-pkcs12"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.p12"), p12).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "pkcs12",
            "-info",
            "-nokeys",
            "-passin",
            "pass:correct-horse",
            "-in",
        ])
        .arg(dir.path().join("c.p12"))
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && info.contains("AES-256-CBC") && info.contains("PBKDF2"),
        "{info}"
    );
    // The key alone: encrypted PKCS#8 for a POSTed password; plain only when
    // asked for explicitly.
    let key_url = format!("{}/api/v1/certificates/{gid}/private_key", t.https_url);
    let r = t
        .client
        .get(&key_url)
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "no silent plain-text key");
    let r = t
        .client
        .post(&key_url)
        .bearer_auth(t.admin_token())
        .json(&json!({"password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    let pem = r.bytes().await.unwrap();
    assert!(String::from_utf8_lossy(&pem).contains("ENCRYPTED PRIVATE KEY"));
    let key = openssl::pkey::PKey::private_key_from_pem_passphrase(&pem, b"correct-horse").unwrap();
    assert_eq!(key.bits(), 2048);
    let r = t
        .client
        .get(format!("{key_url}?format=pem&unencrypted=true"))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap();
    let plain = openssl::pkey::PKey::private_key_from_pem(&r.bytes().await.unwrap()).unwrap();
    assert!(plain.public_eq(&key));
    let (_, audit) = admin
        .get(&format!("/api/v1/audit-events?target={gid}"))
        .await;
    let actions = item_strs(&audit, "action");
    assert!(
        actions.contains(&"certificate.exported")
            && actions.contains(&"certificate.private_key_read"),
        "{actions:?}"
    );
    // Tags and description.
    let (s, v) = admin
        .call(
            Method::PUT,
            &format!("/api/v1/certificates/{id}"),
            Some(json!({"tags": {"team": "web"}, "description": "front door", "auto_renew": true})),
        )
        .await;
    assert!(
        s == 200 && v["tags"]["team"] == "web" && v["auto_renew"] == true,
        "{v}"
    );
    let (_, ev) = admin
        .get(&format!(
            "/api/v1/audit-events?action=certificate.updated&target={id}"
        ))
        .await;
    assert_eq!(
        ev["items"][0]["details"]["outcome"].as_str(),
        Some("success"),
        "{ev}"
    );
    // List: filters, sort and a cursor that walks every row once.
    for i in 0..5 {
        let (p, _) = csr(KeyType::EcP256, &[&format!("page{i}.example.test")]);
        admin
            .post(
                "/api/v1/certificates/csr",
                json!({"csr": String::from_utf8(p).unwrap()}),
            )
            .await;
    }
    let (_, v) = admin
        .get("/api/v1/certificates?common_name=page&limit=2&sort=common_name&order=desc")
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["items"][0]["common_name"], "page4.example.test");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (s, v) = admin
            .get(&format!("/api/v1/certificates?common_name=page&limit=2{q}"))
            .await;
        assert_eq!(s, 200, "{v}");
        seen.extend(item_strs(&v, "id").into_iter().map(String::from));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    // Substring search ignores case, both through the trigram index (three or
    // more characters) and by the plain LIKE a shorter needle takes.
    for needle in ["PAGE3.Example", "e3"] {
        let (_, v) = admin
            .get(&format!("/api/v1/certificates?common_name={needle}"))
            .await;
        assert_eq!(
            item_strs(&v, "common_name"),
            ["page3.example.test"],
            "{needle}: {v}"
        );
    }
    let (_, v) = admin
        .get("/api/v1/certificates?status=active,revoked&san=rest.example.test")
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    let (_, v) = admin
        .get("/api/v1/certificates?expiring_within_days=30")
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0);
    let (s, _) = admin.get("/api/v1/certificates?limit=501").await;
    assert_eq!(s, 400);
    t.stop().await;
}

#[tokio::test]
async fn approvals_archive_delete_renew_import() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let requester = Api {
        t: &t,
        token: token(&t, "requester").await,
    };
    let op1 = Api {
        t: &t,
        token: token(&t, "operator").await,
    };
    let op2 = Api {
        t: &t,
        token: token(&t, "operator").await,
    };
    admin
        .post(
            "/api/v1/templates",
            json!({"name": "gated", "spec": {"dns": ["*"], "approvals_required": 2}}),
        )
        .await;
    let (pem, _) = csr(KeyType::EcP256, &["gated.example.test"]);
    let (s, v) = requester
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap(), "template": "gated"}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["status"], "pending_approval");
    let (s, v) = op1
        .post(
            &format!("/api/v1/certificates/{id}/approve"),
            json!({"comment": "ok"}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("pending_approval")));
    let (s, _) = op1
        .post(&format!("/api/v1/certificates/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 409, "one approval per approver");
    let (s, v) = op2
        .post(&format!("/api/v1/certificates/{id}/approve"), json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    // Rejection is terminal.
    let (pem, _) = csr(KeyType::EcP256, &["no.example.test"]);
    let (_, v) = requester
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap(), "template": "gated"}),
        )
        .await;
    let rid = v["id"].as_str().unwrap().to_string();
    let (s, v) = op1
        .post(
            &format!("/api/v1/certificates/{rid}/reject"),
            json!({"comment": "no"}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("rejected")));
    // Archive and restore; permanent delete refused for an unexpired issued certificate, allowed for the rejected request.
    let (s, v) = admin
        .post(&format!("/api/v1/certificates/{id}/archive"), json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("archived")));
    let (s, v) = admin
        .post(&format!("/api/v1/certificates/{id}/restore"), json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")));
    let (s, _) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/certificates/{id}/permanent"),
            None,
        )
        .await;
    assert_eq!(s, 409);
    let (s, _) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/certificates/{rid}/permanent"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        admin.get(&format!("/api/v1/certificates/{rid}")).await.0,
        404
    );
    // Renew (a generated key gets a new key) and its history.
    let (_, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "generated", "sans": [{"type": "dns", "value": "renew.example.test"}]}),
        )
        .await;
    let old = v["id"].as_str().unwrap().to_string();
    let (s, v) = admin
        .post(&format!("/api/v1/certificates/{old}/renew"), json!({}))
        .await;
    assert_eq!(s, 201, "{v}");
    let new = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["replaces_id"], old.as_str());
    let (_, h) = admin
        .get(&format!("/api/v1/certificates/{old}/renewal-history"))
        .await;
    assert_eq!(h["successors"][0]["id"], new.as_str());
    let old_row = signet::store::certificates::get(&t.app.store.read, &old)
        .await
        .unwrap();
    let new_row = signet::store::certificates::get(&t.app.store.read, &new)
        .await
        .unwrap();
    assert_ne!(old_row.public_key, new_row.public_key, "a new key");
    // Import: one of ours (with its key), a duplicate, and one from a foreign CA with its chain.
    let export = t
        .client
        .get(format!(
            "{}/api/v1/certificates/{new}/export?format=pem&include_chain=false",
            t.https_url
        ))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (s, v) = admin
        .post(
            "/api/v1/certificates/import",
            json!({"certificate": export}),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "duplicate");
    let foreign_root = signet_ca::authority::create_root(&signet_ca::authority::CaSpec {
        common_name: "Foreign Root",
        organization: None,
        key_type: KeyType::EcP256,
        not_before: signet::store::now() - 60,
        not_after: signet::store::now() + 86400,
        path_len: None,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    })
    .unwrap();
    let leaf_key = KeyType::EcP256.generate().unwrap();
    let plan = signet_ca::issue::CertPlan {
        subject: vec![("CN".into(), "foreign.example.test".into())],
        sans: vec![signet_ca::names::San::Dns("foreign.example.test".into())],
        not_before: signet::store::now() - 60,
        not_after: signet::store::now() + 3600,
        ..Default::default()
    };
    let der = signet_ca::issue::sign(
        signet_ca::issue::SignAs::Issuer(&foreign_root),
        &plan,
        &signet_ca::serial::random().unwrap(),
        &leaf_key,
    )
    .unwrap();
    let cert_pem = String::from_utf8(der_to_pem(&der)).unwrap();
    let key_pem = String::from_utf8(leaf_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let chain_pem = String::from_utf8(foreign_root.cert.to_pem().unwrap()).unwrap();
    let (s, v) = admin
        .post(
            "/api/v1/certificates/import",
            json!({"certificate": cert_pem}),
        )
        .await;
    assert_eq!(s, 422, "unknown issuer without a chain: {v}");
    let other_key = String::from_utf8(
        KeyType::EcP256
            .generate()
            .unwrap()
            .private_key_to_pem_pkcs8()
            .unwrap(),
    )
    .unwrap();
    let (s, _) = admin
        .post(
            "/api/v1/certificates/import",
            json!({"certificate": cert_pem, "private_key": other_key, "chain": chain_pem}),
        )
        .await;
    assert_eq!(s, 422, "a key that does not match");
    let before = signet::store::certificates::count(&t.app.store.read)
        .await
        .unwrap();
    let (s, v) = admin
        .post(
            "/api/v1/certificates/import/preview",
            json!({"certificate": cert_pem, "private_key": key_pem, "chain": chain_pem}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["preview"]["private_key_matches"], true);
    assert_eq!(
        signet::store::certificates::count(&t.app.store.read)
            .await
            .unwrap(),
        before,
        "preview stores nothing"
    );
    let (s, v) = admin
        .post(
            "/api/v1/certificates/import",
            json!({"certificate": cert_pem, "private_key": key_pem, "chain": chain_pem}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["channel"].as_str(), v["key_source"].as_str()),
        (Some("import"), Some("imported"))
    );
    t.stop().await;
}

#[tokio::test]
async fn templates_cas_eab_tokens_audit_and_idempotency() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    // Templates: validation, update, in-use refusal.
    // Every broken field is named in `details`, type errors and rule errors alike.
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "bad", "spec": {"key_types": ["dsa"], "max_sans": "many", "colour": 1}}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    let mut fields: Vec<&str> = v["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["spec.colour", "spec.max_sans"], "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "bad", "spec": {"key_types": ["dsa"], "default_validity_days": 400}}),
        )
        .await;
    assert_eq!(s, 422);
    let details = &v["error"]["details"];
    assert_eq!(details[0]["field"], "spec.default_validity_days", "{v}");
    assert_eq!(details[1]["field"], "spec.key_types", "{v}");
    assert!(details[1]["message"].as_str().unwrap().contains("\"dsa\""));
    let (s, _) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "web", "spec": {"dns": ["*"], "max_validity_days": 30, "default_validity_days": 30}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = admin
        .call(
            Method::PUT,
            "/api/v1/templates/web",
            Some(
                json!({"spec": {"dns": ["*"], "max_validity_days": 7, "default_validity_days": 7}}),
            ),
        )
        .await;
    assert_eq!((s, v["spec"]["max_validity_days"].as_i64()), (200, Some(7)));
    let (s, _) = admin
        .call(Method::DELETE, "/api/v1/templates/default", None)
        .await;
    assert_eq!(s, 409, "the default template is in use");
    let (s, _) = admin
        .call(Method::DELETE, "/api/v1/templates/web", None)
        .await;
    assert_eq!(s, 204);
    // CAs: list, a new intermediate, its chain, and issuing from it.
    let (_, v) = admin.get("/api/v1/cas").await;
    let root = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["parent_id"].is_null())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = admin
        .post(
            "/api/v1/cas",
            json!({"name": "Team CA", "parent": root, "key_type": "ec-p384"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let chain = t
        .client
        .get(format!("{}/api/v1/cas/Team%20CA/chain", t.https_url))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        openssl::x509::X509::stack_from_pem(chain.as_bytes())
            .unwrap()
            .len(),
        2
    );
    admin
        .post(
            "/api/v1/templates",
            json!({"name": "team", "spec": {"dns": ["*"], "ca": "Team CA"}}),
        )
        .await;
    let (pem, _) = csr(KeyType::EcP256, &["team.example.test"]);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap(), "template": "team"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let pem = t
        .client
        .get(format!(
            "{}/api/v1/certificates/{}/export",
            t.https_url,
            v["id"].as_str().unwrap()
        ))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    openssl_verify(&t.dir, &pem);
    // EAB credentials: created once, listed as unused.
    let (s, v) = admin
        .post(
            "/api/v1/acme/eab-credentials",
            json!({"project": "default", "template": "default"}),
        )
        .await;
    assert_eq!(s, 201);
    let kid = v["kid"].as_str().unwrap().to_string();
    assert!(v["hmac_key"].as_str().unwrap().len() > 40);
    let (_, v) = admin.get("/api/v1/acme/eab-credentials").await;
    let entry = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kid"] == kid.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["used"], false);
    assert!(
        entry.get("hmac_key").is_none(),
        "the key is never shown again"
    );
    let (s, _) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/acme/eab-credentials/{kid}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // Tokens: created, used, revoked.
    let (s, v) = admin
        .post("/api/v1/tokens", json!({"role": "auditor", "name": "siem"}))
        .await;
    assert_eq!(s, 201);
    let aud = Api {
        t: &t,
        token: v["token"].as_str().unwrap().to_string(),
    };
    assert_eq!(
        aud.get("/api/v1/audit-events/verify").await.1["valid"],
        true
    );
    // The use is written off the request's path: wait for it.
    let mut siem = Value::Null;
    for _ in 0..50 {
        siem = admin.get("/api/v1/users/siem").await.1;
        if !siem["last_used_at"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(siem["roles"], json!(["auditor"]), "{siem}");
    assert_eq!(siem["live_token_count"], 1);
    assert!(siem["last_used_at"].is_string(), "{siem}");
    assert_eq!(siem["tokens"][0]["last_used_at"], siem["last_used_at"]);
    assert!(siem["tokens"][0].get("token").is_none(), "no secret");
    assert_eq!(aud.get("/api/v1/users").await.0, 403);
    assert_eq!(admin.get("/api/v1/users/nobody").await.0, 404);
    let (s, _) = admin
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{}", v["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        aud.get("/api/v1/audit-events").await.0,
        401,
        "a revoked token is dead"
    );
    let (_, users) = admin.get("/api/v1/users").await;
    let siem = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "siem")
        .unwrap();
    assert_eq!(
        (&siem["live_token_count"], &siem["token_count"]),
        (&json!(0), &json!(1))
    );
    assert_eq!(siem["roles"], json!([]));
    // Idempotency-Key: a replay returns the original with its Location; another
    // body under the key is 409 (conventions §09).
    let (pem, _) = csr(KeyType::EcP256, &["idem.example.test"]);
    let body = json!({"csr": String::from_utf8(pem).unwrap()});
    let send = |b: Value| {
        t.client
            .post(format!("{}/api/v1/certificates/csr", t.https_url))
            .bearer_auth(t.admin_token())
            .header("idempotency-key", "k-1")
            .json(&b)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.headers()["idempotency-replayed"], "true");
    assert_eq!(again.headers()["location"], location);
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other = send(json!({"csr": "different"})).await.unwrap();
    assert_eq!(other.status(), 409);
    let (_, v) = admin.get("/api/v1/certificates?common_name=idem").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "issued once");
    // Audit: newest first, with a cursor.
    let (_, v) = admin.get("/api/v1/audit-events?limit=3").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    let (_, w) = admin
        .get(&format!(
            "/api/v1/audit-events?limit=3&cursor={}",
            v["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert!(w["items"][0]["seq"].as_i64() < v["items"][2]["seq"].as_i64());
    t.stop().await;
}

#[tokio::test]
async fn bulk_and_file_import_ca_import_limits_and_cli() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let now = signet::store::now();
    let spec = |cn: &'static str| signet_ca::authority::CaSpec {
        common_name: cn,
        organization: None,
        key_type: KeyType::EcP256,
        not_before: now - 60,
        not_after: now + 86400,
        path_len: None,
        crl_urls: vec![],
        ocsp_urls: vec![],
        ca_issuers_urls: vec![],
    };
    let foreign = signet_ca::authority::create_root(&spec("Foreign Root")).unwrap();
    let leaf = |name: &str| {
        let key = KeyType::EcP256.generate().unwrap();
        let plan = signet_ca::issue::CertPlan {
            sans: vec![signet_ca::names::San::Dns(name.into())],
            subject: vec![("CN".into(), name.into())],
            not_before: now - 60,
            not_after: now + 3600,
            ..Default::default()
        };
        let der = signet_ca::issue::sign(
            signet_ca::issue::SignAs::Issuer(&foreign),
            &plan,
            &signet_ca::serial::random().unwrap(),
            &key,
        )
        .unwrap();
        (openssl::x509::X509::from_der(&der).unwrap(), key)
    };
    // Bulk: 202, an operation, and its result.
    let mut bundle = String::new();
    for i in 0..3 {
        bundle.push_str(
            &String::from_utf8(leaf(&format!("bulk{i}.example.test")).0.to_pem().unwrap()).unwrap(),
        );
    }
    bundle.push_str(&String::from_utf8(foreign.cert.to_pem().unwrap()).unwrap());
    let r = t
        .client
        .post(format!("{}/api/v1/certificates/import/bulk", t.https_url))
        .bearer_auth(t.admin_token())
        .json(&json!({"bundle": bundle}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(r.headers().contains_key("retry-after"));
    let mut op = Value::Null;
    for _ in 0..50 {
        op = admin.get(&loc).await.1;
        if op["status"] != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["result"]["imported"], 3);
    // Multipart: a PKCS#12 with its key and chain.
    let (cert, key) = leaf("pfx.example.test");
    let mut ca = openssl::stack::Stack::new().unwrap();
    ca.push(foreign.cert.clone()).unwrap();
    let p12 = openssl::pkcs12::Pkcs12::builder()
        .name("pfx")
        .pkey(&key)
        .cert(&cert)
        .ca(ca)
        .build2("secret-pass")
        .unwrap()
        .to_der()
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(p12.clone()).file_name("c.pfx"),
        )
        .text("password", "secret-pass");
    let r = t
        .client
        .post(format!("{}/api/v1/certificates/import/file", t.https_url))
        .bearer_auth(t.admin_token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["key_source"], "imported", "the key came with the PKCS#12");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(p12).file_name("c.pfx"),
        )
        .text("password", "wrong");
    let r = t
        .client
        .post(format!("{}/api/v1/certificates/import/file", t.https_url))
        .bearer_auth(t.admin_token())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // CA import: then it signs.
    let other = signet_ca::authority::create_root(&spec("Imported Root")).unwrap();
    let (s, v) = admin.post("/api/v1/cas/import", json!({"name": "Imported", "certificate": String::from_utf8(other.cert.to_pem().unwrap()).unwrap(), "private_key": String::from_utf8(other.key.private_key_to_pem_pkcs8().unwrap()).unwrap()})).await;
    assert_eq!(s, 201, "{v}");
    let (s, _) = admin.post("/api/v1/cas/import", json!({"name": "Bad", "certificate": String::from_utf8(other.cert.to_pem().unwrap()).unwrap(), "private_key": String::from_utf8(KeyType::EcP256.generate().unwrap().private_key_to_pem_pkcs8().unwrap()).unwrap()})).await;
    assert_eq!(s, 422, "a key that does not match the CA");
    // 413 for an oversized body.
    let big = "x".repeat(17 * 1024 * 1024);
    let r = t
        .client
        .post(format!("{}/api/v1/certificates/import", t.https_url))
        .bearer_auth(t.admin_token())
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Idempotency: the same key while the first request is still running is 409.
    let scope = signet::tokens::hash(&format!("Bearer {}", t.admin_token()));
    sqlx::query("INSERT INTO idempotency_keys (token_id, key, request_hash, created_at) VALUES ($1, 'busy', 'x', $2)").bind(scope).bind(now).execute(&t.app.store.write).await.unwrap();
    let r = t
        .client
        .post(format!("{}/api/v1/tokens", t.https_url))
        .bearer_auth(t.admin_token())
        .header("idempotency-key", "busy")
        .json(&json!({"role": "auditor"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "a different request under the key");
    sqlx::query("UPDATE idempotency_keys SET request_hash = $1 WHERE key = 'busy'")
        .bind(hash_of("POST", "/api/v1/tokens", br#"{"role":"auditor"}"#))
        .execute(&t.app.store.write)
        .await
        .unwrap();
    let r = t
        .client
        .post(format!("{}/api/v1/tokens", t.https_url))
        .bearer_auth(t.admin_token())
        .header("idempotency-key", "busy")
        .header("content-type", "application/json")
        .body(r#"{"role":"auditor"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the same request while the first runs");
    // Audit events carry the request id.
    let r = t
        .client
        .post(format!("{}/api/v1/templates", t.https_url))
        .bearer_auth(t.admin_token())
        .header("x-request-id", "audit-me")
        .json(&json!({"name": "t1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, v) = admin
        .get("/api/v1/audit-events?action=template.created")
        .await;
    assert_eq!(v["items"][0]["request_id"], "audit-me");
    // The docs page renders offline.
    let html = t
        .client
        .get(format!("{}/api/v1/docs", t.https_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui-bundle.js") && !html.contains("https://"));
    // The CLI, a client of this API.
    let list = t.cli_ok(&["cert", "list", "--limit", "100"]).await;
    assert!(list.contains("bulk0.example.test"), "{list}");
    let id = v["items"][0]["target"].as_str().unwrap().to_string();
    let _ = id;
    let (_, certs) = admin.get("/api/v1/certificates?common_name=bulk1").await;
    let cid = certs["items"][0]["id"].as_str().unwrap().to_string();
    assert!(
        t.cli_ok(&["cert", "show", &cid])
            .await
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        t.cli_ok(&["cert", "revoke", &cid, "--reason", "superseded"])
            .await
            .contains("revoked")
    );
    assert_eq!(
        admin.get(&format!("/api/v1/certificates/{cid}")).await.1["revocation_reason"],
        "superseded"
    );
    assert!(
        t.cli_ok(&["audit", "verify"])
            .await
            .contains("audit chain intact")
    );
    t.stop().await;
}

fn hash_of(method: &str, uri: &str, body: &[u8]) -> String {
    let mut h = openssl::sha::Sha256::new();
    h.update(method.as_bytes());
    h.update(uri.as_bytes());
    h.update(body);
    signet_ca::serial::to_hex(&h.finish())
}

/// Rows inserted while a client pages never make it see a row twice or skip an old one.
#[tokio::test]
async fn cursor_is_stable_while_rows_are_inserted() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let issue = |n: String| {
        let (p, _) = csr(KeyType::EcP256, &[&n]);
        admin.post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(p).unwrap()}),
        )
    };
    for i in 0..6 {
        issue(format!("c{i}.example.test")).await;
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let (_, v) = admin
            .get(&format!(
                "/api/v1/certificates?channel=api&limit=2&sort=not_after{q}"
            ))
            .await;
        for item in v["items"].as_array().unwrap() {
            assert!(
                seen.insert(item["id"].as_str().unwrap().to_string()),
                "a row seen twice"
            );
        }
        pages += 1;
        issue(format!("new{pages}.example.test")).await; // inserted mid-walk
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 50);
    }
    let originals: Vec<String> = (0..6).map(|i| format!("c{i}.example.test")).collect();
    let (_, all) = admin
        .get("/api/v1/certificates?channel=api&limit=500")
        .await;
    for item in all["items"].as_array().unwrap() {
        if originals.contains(&item["common_name"].as_str().unwrap_or("").to_string()) {
            assert!(
                seen.contains(item["id"].as_str().unwrap()),
                "an old row was skipped"
            );
        }
    }
    t.stop().await;
}
