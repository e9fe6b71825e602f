//! The REST API as the source documents describe it: projects in the URL,
//! the MazeVault request names, RFC 3339 times, revocation status, and the
//! CLI as a client of the API.

use serde_json::{Value, json};

use crate::helpers::*;

fn ids(list: &Value) -> Vec<String> {
    item_strs(list, "id")
        .into_iter()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn projects_scope_urls_and_tokens() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, web) = admin
        .post(
            "/api/v1/projects",
            json!({"name": "web", "description": "the web team", "default_template": "default"}),
        )
        .await;
    assert_eq!(s, 201, "{web}");
    let (s, _) = admin.post("/api/v1/projects", json!({"name": "web"})).await;
    assert_eq!(s, 409, "names are unique");
    let (s, _) = admin
        .post("/api/v1/projects", json!({"name": "bad name"}))
        .await;
    assert_eq!(s, 422);
    let (s, _) = admin.post("/api/v1/projects", json!({"name": "ops"})).await;
    assert_eq!(s, 201);
    // A request under the project's URL lands in the project, by name or id.
    let req = json!({"csr_source_mode": "mazevault_generated", "requested_cn": "a.web.example.test",
                     "requested_san": ["a.web.example.test"]});
    let (s, a) = admin.post("/api/v1/projects/web/certificates", req).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["project_id"], web["id"]);
    let (s, b) = admin
        .post(
            "/api/v1/projects/ops/certificates/csr",
            json!({"mode": "generated", "common_name": "b.ops.example.test"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let web_id = web["id"].as_str().unwrap();
    let (_, list) = admin
        .get(&format!("/api/v1/projects/{web_id}/certificates"))
        .await;
    assert_eq!(ids(&list), [a["id"].as_str().unwrap()]);
    let (_, list) = admin.get("/api/v1/certificates?project_id=web").await;
    assert_eq!(
        ids(&list),
        [a["id"].as_str().unwrap()],
        "names work as filters"
    );
    // Another project's certificate is not there under this project's URL.
    let (s, v) = admin
        .get(&format!(
            "/api/v1/projects/web/certificates/{}",
            b["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = admin.get("/api/v1/projects/nope/certificates").await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = admin.get("/api/v1/projects/nope/certificates").await;
    assert_eq!(s, 404);
    // A token scoped to `web` sees web only: other projects are 404.
    let (s, tok) = admin
        .post(
            "/api/v1/tokens",
            json!({"role": "operator", "project_id": "web"}),
        )
        .await;
    assert_eq!(s, 201, "{tok}");
    let scoped = Api {
        t: &t,
        token: tok["token"].as_str().unwrap().to_string(),
    };
    let (s, _) = scoped.get("/api/v1/projects/ops/certificates").await;
    assert_eq!(s, 404);
    let (s, _) = scoped.get("/api/v1/projects/ops").await;
    assert_eq!(s, 404);
    let (_, list) = scoped.get("/api/v1/projects").await;
    assert_eq!(item_strs(&list, "name"), ["web"]);
    let (_, list) = scoped.get("/api/v1/certificates").await;
    assert_eq!(ids(&list), [a["id"].as_str().unwrap()]);
    let (s, _) = scoped.get("/api/v1/projects/web/certificates").await;
    assert_eq!(s, 200);
    // EAB credentials and ACME accounts under the project.
    let (s, e) = admin
        .post("/api/v1/projects/web/eab-credentials", json!({}))
        .await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["project_id"], web["id"]);
    assert!(e["eab_hmac_key"].as_str().unwrap().len() > 40);
    let (_, list) = admin.get("/api/v1/projects/ops/eab-credentials").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (s, list) = admin.get("/api/v1/projects/web/acme-accounts").await;
    assert_eq!(s, 200, "{list}");
    // Allowed templates hold; a project in use cannot be deleted.
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            "/api/v1/projects/ops",
            Some(json!({"name": "ops", "allowed_templates": ["server"]})),
        )
        .await;
    assert_eq!(s, 422, "unknown template: {v}");
    let (s, _) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "server", "spec": {"dns": ["*"]}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            "/api/v1/projects/ops",
            Some(json!({"name": "ops", "allowed_templates": ["server"]})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/projects/ops/certificates",
            json!({"mode": "generated", "common_name": "c.ops.example.test", "template_id": "default"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["details"][0]["rule"].as_str()),
        (422, Some("project_templates")),
        "{v}"
    );
    let (s, _) = admin
        .call(reqwest::Method::DELETE, "/api/v1/projects/ops", None)
        .await;
    assert_eq!(s, 409, "it has certificates");
    let (s, _) = admin
        .post("/api/v1/projects", json!({"name": "empty"}))
        .await;
    assert_eq!(s, 201);
    let (s, _) = admin
        .call(reqwest::Method::DELETE, "/api/v1/projects/empty", None)
        .await;
    assert_eq!(s, 204);
    t.stop().await;
}

#[tokio::test]
async fn mazevault_request_names_and_response_shapes() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({
                "csr_source_mode": "mazevault_generated",
                "requested_cn": "api.example.test",
                "requested_san": {"dns_names": ["api.example.test", "api-internal.example.test"], "ip_addresses": ["10.0.0.7"]},
                "requested_subject": {"common_name": "api.example.test", "organization": "Example Corp", "OU": "Platform", "C": "DE"},
                "requested_key_algorithm": "RSA",
                "requested_key_size": 3072,
                "tags": {"team": "api"},
                "description": "the API gateway"
            }),
        )
        .await;
    assert_eq!(
        s, 422,
        "the default template allows CN only in the subject: {v}"
    );
    assert_eq!(v["error"]["details"][0]["rule"], "subject_allowed", "{v}");
    let (s, _) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "org", "spec": {"dns": ["*"], "ip": ["10.0.0.0/8"], "subject_allowed": ["CN", "O", "OU", "C"]}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({
                "template_id": "org",
                "project_id": "default",
                "csr_source_mode": "mazevault_generated",
                "requested_cn": "api.example.test",
                "requested_san": {"dns_names": ["api.example.test", "api-internal.example.test"], "ip_addresses": ["10.0.0.7"]},
                "requested_subject": {"common_name": "api.example.test", "organization": "Example Corp", "OU": "Platform", "C": "DE"},
                "requested_key_algorithm": "RSA",
                "requested_key_size": 3072,
                "tags": {"team": "api"},
                "description": "the API gateway"
            }),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["key_type"], "rsa-3072");
    assert_eq!(
        v["subject"],
        "CN=api.example.test, O=Example Corp, OU=Platform, C=DE"
    );
    assert_eq!(v["tags"]["team"], "api");
    assert_eq!(v["description"], "the API gateway");
    assert_eq!(v["key_source"], "server_generated");
    assert_eq!(
        v["san"],
        json!(["api.example.test", "api-internal.example.test", "10.0.0.7"])
    );
    // Times are RFC 3339; expires_on is the day.
    for k in [
        "created_at",
        "updated_at",
        "not_before",
        "not_after",
        "expires_at",
        "requested_at",
    ] {
        let ts = v[k].as_str().unwrap_or_else(|| panic!("{k}: {v}"));
        assert!(
            time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok(),
            "{k}: {ts}"
        );
    }
    assert_eq!(
        v["expires_on"].as_str().unwrap(),
        &v["expires_at"].as_str().unwrap()[..10]
    );
    assert!(v["serial_number"].as_str().unwrap().contains(':'));
    let id = v["id"].as_str().unwrap().to_string();
    // Key algorithms by the documents' names.
    for (alg, size, want) in [
        ("ECDSA", Some(521), "ec-p521"),
        ("Ed25519", None, "ed25519"),
    ] {
        let (s, v) = admin
            .post(
                "/api/v1/certificates/csr",
                json!({"csr_source_mode": "mazevault_generated", "requested_cn": format!("{want}.example.test"),
                       "requested_key_algorithm": alg, "requested_key_size": size}),
            )
            .await;
        assert_eq!((s, v["key_type"].as_str()), (201, Some(want)), "{v}");
    }
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr_source_mode": "mazevault_generated", "requested_cn": "x.example.test",
                   "requested_key_algorithm": "RSA", "requested_key_size": 1024}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr_source_mode": "azure_key_vault_generated", "requested_cn": "x.example.test"}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("unsupported_mode")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mazevault_generated")
    );
    // An uploaded CSR by the document's names.
    let (pem, _) = csr(signet_ca::key::KeyType::EcP256, &["up.example.test"]);
    let (s, up) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr_source_mode": "uploaded_csr", "csr_pem": String::from_utf8(pem).unwrap()}),
        )
        .await;
    assert_eq!(s, 201, "{up}");
    assert_eq!(up["key_source"], "external");
    // Lists: newest first by default; sort by expiry; issuer_type; page refused.
    let (_, list) = admin.get("/api/v1/certificates").await;
    assert_eq!(list["items"][0]["id"], up["id"], "newest first");
    let (s, _) = admin
        .get("/api/v1/certificates?sort=expires_at&order=asc")
        .await;
    assert_eq!(s, 200);
    let (_, list) = admin.get("/api/v1/certificates?issuer_type=acme").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    let (_, list) = admin
        .get("/api/v1/certificates?issuer_type=api&limit=500")
        .await;
    let channels = item_strs(&list, "issuer_type");
    assert!(
        channels.len() >= 4 && channels.iter().all(|c| *c == "api"),
        "{channels:?}"
    );
    let (s, v) = admin.get("/api/v1/certificates?page=2&per_page=10").await;
    assert_eq!(s, 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("cursor"),
        "{v}"
    );
    // Revocation: comment and who; the status route; the CRL number.
    let (s, v) = admin
        .post(
            &format!("/api/v1/certificates/{id}/revoke"),
            json!({"reason": "superseded", "comment": "replaced by the new gateway"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["revocation_comment"], "replaced by the new gateway");
    assert!(v["revoked_by"].as_str().unwrap().starts_with("token:"));
    let (s, _) = admin
        .post(
            &format!("/api/v1/ca/{}/crl/regenerate", v["ca_id"].as_str().unwrap()),
            json!({"type": "full"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, st) = admin
        .get(&format!("/api/v1/certificates/{id}/status"))
        .await;
    assert_eq!(s, 200, "{st}");
    assert_eq!(st["status"], "revoked");
    assert_eq!(st["ocsp_status"], "revoked");
    assert_eq!(st["revocation_reason"], "superseded");
    assert!(st["crl_number"].as_i64().is_some(), "{st}");
    // Audit details are objects.
    let (_, ev) = admin
        .get(&format!(
            "/api/v1/audit-logs?action=certificate.revoked&target={id}"
        ))
        .await;
    assert_eq!(
        ev["items"][0]["details"]["comment"], "replaced by the new gateway",
        "{ev}"
    );
    t.stop().await;
}

#[tokio::test]
async fn the_cli_is_a_client_of_the_api() {
    let t = spawn_app().await;
    let work = tempfile::tempdir().unwrap();
    let p = |f: &str| work.path().join(f).to_str().unwrap().to_string();
    // The step-ca-style one-liner: a certificate and key on disk.
    let out = t
        .cli_ok(&[
            "cert",
            "issue",
            "svc.example.test",
            "10.1.2.3",
            "--key-type",
            "ec-p384",
            "--out",
            &p("svc.crt"),
            "--key-out",
            &p("svc.key"),
            "--chain-out",
            &p("chain.pem"),
        ])
        .await;
    assert!(out.contains("svc.example.test"), "{out}");
    let mut bundle = std::fs::read(p("svc.crt")).unwrap();
    bundle.extend(std::fs::read(p("chain.pem")).unwrap());
    openssl_verify(&t.dir, &bundle);
    let key =
        openssl::pkey::PKey::private_key_from_pem(&std::fs::read(p("svc.key")).unwrap()).unwrap();
    let cert = openssl::x509::X509::from_pem(&std::fs::read(p("svc.crt")).unwrap()).unwrap();
    assert!(
        cert.public_key().unwrap().public_eq(&key),
        "the key matches"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(p("svc.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Projects, templates from a file, lists as JSON.
    t.cli_ok(&[
        "project",
        "create",
        "payments",
        "--description",
        "the payments team",
    ])
    .await;
    let projects: Value =
        serde_json::from_str(&t.cli_ok(&["project", "list", "--json"]).await).unwrap();
    assert!(
        projects
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "payments")
    );
    std::fs::write(p("t.toml"), "name = \"short\"\n[spec]\ndns = [\"*\"]\nmax_validity_days = 7\ndefault_validity_days = 7\n").unwrap();
    assert!(
        t.cli_ok(&["template", "apply", "-f", &p("t.toml")])
            .await
            .contains("created")
    );
    assert!(
        t.cli_ok(&["template", "apply", "-f", &p("t.toml")])
            .await
            .contains("replaced")
    );
    // A refused spec: each broken field on its own line.
    std::fs::write(p("bad.toml"), "name = \"short\"\n[spec]\nmax_validity_days = 7\ndefault_validity_days = 9\nkey_types = [\"dsa\"]\n").unwrap();
    let out = t.cli(&["template", "apply", "-f", &p("bad.toml")]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("\n  spec.default_validity_days: exceeds max_validity_days (7)")
            && err.contains("\n  spec.key_types: unknown \"dsa\""),
        "{err}"
    );
    let shown: Value =
        serde_json::from_str(&t.cli_ok(&["template", "show", "short", "--json"]).await).unwrap();
    assert_eq!(shown["spec"]["max_validity_days"], 7);
    let issued: Value = serde_json::from_str(
        &t.cli_ok(&[
            "cert",
            "issue",
            "pay.example.test",
            "--template",
            "short",
            "--project",
            "payments",
            "--out",
            &p("pay.crt"),
            "--key-out",
            &p("pay.key"),
            "--json",
        ])
        .await,
    )
    .unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let listed: Value = serde_json::from_str(
        &t.cli_ok(&["cert", "list", "--project", "payments", "--json"])
            .await,
    )
    .unwrap();
    assert_eq!(listed[0]["id"], issued["id"]);
    // Renew, export, revoke.
    let renewed: Value = serde_json::from_str(
        &t.cli_ok(&["cert", "renew", &id, "--out", &p("pay2.crt"), "--json"])
            .await,
    )
    .unwrap();
    assert_eq!(renewed["replaces_id"], issued["id"]);
    assert!(openssl::x509::X509::from_pem(&std::fs::read(p("pay2.crt")).unwrap()).is_ok());
    t.cli_ok(&[
        "cert",
        "export",
        &id,
        "--format",
        "der",
        "--out",
        &p("pay.der"),
    ])
    .await;
    assert!(openssl::x509::X509::from_der(&std::fs::read(p("pay.der")).unwrap()).is_ok());
    assert!(
        t.cli_ok(&[
            "cert",
            "revoke",
            &id,
            "--reason",
            "superseded",
            "--comment",
            "renewed"
        ])
        .await
        .contains("revoked")
    );
    // EAB and tokens; every action is audited as the token.
    let eab: Value = serde_json::from_str(
        &t.cli_ok(&["eab", "create", "--project", "payments", "--json"])
            .await,
    )
    .unwrap();
    assert!(eab["hmac_key"].as_str().unwrap().len() > 40);
    assert!(
        t.cli_ok(&["eab", "list"])
            .await
            .contains(eab["kid"].as_str().unwrap())
    );
    t.cli_ok(&["eab", "revoke", eab["kid"].as_str().unwrap()])
        .await;
    let tok: Value = serde_json::from_str(
        &t.cli_ok(&["token", "create", "--role", "auditor", "--json"])
            .await,
    )
    .unwrap();
    let auditor = tok["token"].as_str().unwrap();
    // The auditor's token reads but cannot revoke: the server decides.
    assert!(
        t.cli_ok(&["cert", "list", "--token", auditor])
            .await
            .contains("svc.example.test")
    );
    let out = t
        .cli(&[
            "cert",
            "revoke",
            renewed["id"].as_str().unwrap(),
            "--token",
            auditor,
        ])
        .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{out:?}"
    );
    t.cli_ok(&["token", "revoke", tok["id"].as_str().unwrap()])
        .await;
    assert!(t.cli_ok(&["token", "list"]).await.contains("revoked"));
    let users = t.cli_ok(&["token", "users"]).await;
    assert!(
        users.contains("bootstrap admin  admin  1 of 1 tokens live"),
        "{users}"
    );
    assert!(
        t.cli_ok(&["audit", "verify"])
            .await
            .contains("audit chain intact")
    );
    let (_, ev) = Api::admin(&t)
        .get(&format!(
            "/api/v1/audit-events?action=certificate.revoked&target={id}"
        ))
        .await;
    assert!(
        ev["items"][0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("token:"),
        "{ev}"
    );
    // A server that is not there: a clear error, not a panic.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args([
            "cert",
            "list",
            "--url",
            "https://127.0.0.1:1",
            "--token",
            "x",
            "--data-dir",
        ])
        .arg(&t.dir)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach"),
        "{out:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn dashboard_sessions_are_http_only_cookies_with_csrf() {
    let t = spawn_app().await;
    let url = |p: &str| format!("{}{p}", t.https_url);
    // The page: served from the binary, with its security headers.
    let r = t.client.get(url("/ui/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("http://") && !html.contains("https://"));
    // Sign in with a token: a cookie, never the token again.
    let (_, tok) = Api::admin(&t)
        .post(
            "/api/v1/tokens",
            json!({"role": "operator", "name": "browser"}),
        )
        .await;
    let bad = t
        .client
        .post(url("/api/v1/sessions"))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let r = t
        .client
        .post(url("/api/v1/sessions"))
        .json(&json!({"token": tok["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Max-Age="] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["role"], "operator");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("certificate:approve"))
    );
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    // Reads work with the cookie; mutations need the CSRF token too; the
    // session has the token's permissions and no more.
    let get = t
        .client
        .get(url("/api/v1/certificates"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    let challenge = json!({"profile": "default"});
    let no_csrf = t
        .client
        .post(url("/api/v1/scep/challenges"))
        .header("cookie", &cookie)
        .json(&challenge)
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), 403);
    let v: Value = no_csrf.json().await.unwrap();
    assert_eq!(v["error"]["code"], "csrf");
    let forbidden = t
        .client
        .post(url("/api/v1/tokens"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        forbidden.status(),
        403,
        "an operator's session cannot make tokens"
    );
    // Sign-out revokes the session; revoking the token ends its sessions too.
    let out = t
        .client
        .delete(url("/api/v1/sessions/current"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = t
        .client
        .get(url("/api/v1/certificates"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);
    let r = t
        .client
        .post(url("/api/v1/sessions"))
        .json(&json!({"token": tok["token"]}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (s, _) = Api::admin(&t)
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{}", tok["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let after = t
        .client
        .get(url("/api/v1/certificates"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        401,
        "a revoked token's session ends with it"
    );
    // The overview's counts.
    let (s, stats) = Api::admin(&t).get("/api/v1/stats").await;
    assert_eq!(s, 200, "{stats}");
    assert!(stats["by_status"]["active"].as_i64().unwrap() >= 1);
    assert!(!stats["cas"].as_array().unwrap().is_empty());
    t.stop().await;
}
