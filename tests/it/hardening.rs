//! The edges outside clients hit: policy holes (names, keys, approvals),
//! transport faults (early answers, oversized bodies, one error shape) and
//! protocol gaps. Each test asserts the answer and that nothing was stored.

use openssl::asn1::Asn1Type;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::{X509, X509Name, X509NameBuilder};
use serde_json::{Value, json};
use signet::store::certificates as certs;
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

const P: &str = "urn:ietf:params:acme:error:";
/// SCEP failInfo badRequest (RFC 8894 §3.2.1.4.5).
const BAD_REQUEST: &str = "2";

async fn rows(t: &TestApp) -> i64 {
    certs::count(&t.app.store.read).await.unwrap()
}

/// A subject with one CN, encoded as a UTF8String of exactly these bytes
/// (OpenSSL's text form would stop at a NUL and refuse more than 64).
fn raw_cn(cn: &str) -> X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_nid_with_type(Nid::COMMONNAME, cn, Asn1Type::UTF8STRING)
        .unwrap();
    n.build()
}

/// A PEM CSR for `key` with that CN and these SANs.
fn csr_cn(key: &PKey<Private>, cn: &str, sans: &[&str]) -> String {
    String::from_utf8(csr_with_subject(key, Some(&raw_cn(cn)), sans)).unwrap()
}

fn long_name() -> String {
    format!("{}.example.test", "x".repeat(60))
}

/// The common names that were issued before, each without a SAN.
fn bad_cns() -> Vec<String> {
    vec![
        "evil example.org".into(),
        "evil.example.org/x".into(),
        "bad name!.example.com".into(),
        "nul\0.example.com".into(),
        long_name(),
    ]
}

#[tokio::test]
async fn omitted_allow_lists_allow_nothing_and_default_allows_all() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "corp-only", "spec": {"dns": [".corp.example.com"]}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let before = rows(&t).await;
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "generated", "template": "corp-only", "common_name": "a.corp.example.com",
                   "sans": [{"type": "ip", "value": "10.1.2.3"}]}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["details"][0]["rule"], "ip", "{v}");
    assert_eq!(v["error"]["details"][0]["allowed"], "none", "{v}");
    assert_eq!(rows(&t).await, before);
    // The built-in default template says "everything" explicitly.
    let (s, v) = admin.get("/api/v1/templates/default").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["spec"]["dns"], json!(["*"]), "{v}");
    assert_eq!(v["spec"]["ip"], json!(["0.0.0.0/0", "::/0"]), "{v}");
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "generated", "common_name": "a.example.test",
                   "sans": [{"type": "ip", "value": "10.1.2.3"}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    t.stop().await;
}

#[tokio::test]
async fn bad_common_names_and_sans_are_refused_over_rest_and_store_nothing() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let key = KeyType::EcP256.generate().unwrap();
    let before = rows(&t).await;
    for cn in bad_cns() {
        let (s, v) = admin
            .post(
                "/api/v1/certificates/csr",
                json!({"mode": "uploaded_csr", "csr": csr_cn(&key, &cn, &[])}),
            )
            .await;
        assert_eq!(s, 422, "{cn:?}: {v}");
        assert_eq!(v["error"]["code"], "policy_violation", "{cn:?}: {v}");
    }
    // Generated keys too, and an empty DNS SAN.
    for body in [
        json!({"mode": "generated", "common_name": long_name()}),
        json!({"mode": "generated", "common_name": "ok.example.test", "sans": [{"type": "dns", "value": ""}]}),
        json!({"mode": "generated", "common_name": "tab\there.example.test"}),
    ] {
        let (s, v) = admin.post("/api/v1/certificates/csr", body.clone()).await;
        assert_eq!(s, 422, "{body}: {v}");
    }
    assert_eq!(rows(&t).await, before, "a refused request left a row");
    // A valid CN is copied into the SANs, as public CAs do.
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "csr": csr_cn(&key, "only-cn.example.test", &[])}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    let row = certs::get(&t.app.store.read, id).await.unwrap();
    let leaf = X509::from_der(row.der.as_ref().unwrap()).unwrap();
    let sans: Vec<String> = leaf
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|g| g.dnsname().map(String::from))
        .collect();
    assert_eq!(sans, vec!["only-cn.example.test"]);
    t.stop().await;
}

#[tokio::test]
async fn bad_common_names_are_refused_over_scep_and_store_nothing() {
    use signet_ca::scep::MessageType;
    // A SCEP profile for hosts: its template has no cn_pattern.
    let t = spawn_app_with(|c| {
        c.templates.insert(
            "scep-hosts".into(),
            signet::policy::TemplateSpec {
                channels: vec![signet::policy::Channel::Scep],
                dns: vec![".example.test".into()],
                ..Default::default()
            },
        );
        c.scep.profiles.insert(
            "hosts".into(),
            signet::config::ScepProfile {
                template: "scep-hosts".into(),
                ..Default::default()
            },
        );
    })
    .await;
    let secret = std::fs::read_to_string(t.dir.join("scep-challenge")).unwrap();
    let hosts = crate::scep::Scep::new(&t, "hosts").await;
    let devices = crate::scep::Scep::new(&t, "default").await;
    let before = rows(&t).await;
    let cases = [
        (&hosts, "evil example.org".to_string()),
        (&hosts, "bad name!.example.test".to_string()),
        (&hosts, "evil.example.org".to_string()),
        (&hosts, long_name()),
        // Device names may be anything printable within 64 characters.
        (&devices, "nul\0device".to_string()),
        (&devices, "d".repeat(65)),
    ];
    for (i, (scep, cn)) in cases.into_iter().enumerate() {
        let dev = crate::scep::Device::with_key(
            PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
            "signer",
        );
        let csr = signet_ca::scep::csr_with_challenge(&dev.key, &raw_cn(&cn), Some(secret.trim()))
            .unwrap();
        let r = scep
            .send(MessageType::PkcsReq, &dev, &csr, &format!("tx-bad-cn-{i}"))
            .await;
        assert_eq!(r.status, "2", "{cn:?}: {r:?}");
        assert_eq!(r.fail_info.as_deref(), Some(BAD_REQUEST), "{cn:?}: {r:?}");
    }
    assert_eq!(rows(&t).await, before, "a refused enrolment left a row");
    t.stop().await;
}

#[tokio::test]
async fn a_cn_pattern_allows_device_names_without_a_san() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "people", "spec": {"cn_pattern": ["* *"], "email": ["example.com"]}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let key = KeyType::EcP256.generate().unwrap();
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "template": "people", "csr": csr_cn(&key, "Jane Doe", &[])}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let row = certs::get(&t.app.store.read, v["id"].as_str().unwrap())
        .await
        .unwrap();
    let leaf = X509::from_der(row.der.as_ref().unwrap()).unwrap();
    assert!(
        leaf.subject_alt_names().is_none(),
        "no SAN it didn't ask for"
    );
    // A dotted host name is an identifier whatever the pattern says.
    let before = rows(&t).await;
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "template": "people", "csr": csr_cn(&key, "x y.evil.com", &["evil.com"])}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(rows(&t).await, before);
    t.stop().await;
}

#[tokio::test]
async fn bad_common_names_are_refused_over_acme_and_store_nothing() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    let long = long_name();
    let (order_url, order) = c.ready_order(&env, &long).await;
    let before = rows(&env.t).await;
    // The CN is the order's own name, but longer than RFC 5280 allows.
    let key = KeyType::EcP256.generate().unwrap();
    let csr = csr_cn(&key, &long, &[&long]);
    let der = openssl::x509::X509Req::from_pem(csr.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let r = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(r.problem(), format!("{P}badCSR"), "{:?}", r.body);
    assert_eq!(rows(&env.t).await, before, "a refused finalize left a row");
    // The order ends `invalid` and says why, as Boulder's do.
    let o = c.post(&order_url, None).await;
    assert_eq!(o.body["status"], "invalid", "{:?}", o.body);
    assert_eq!(
        o.body["error"]["type"],
        format!("{P}badCSR"),
        "{:?}",
        o.body
    );
    env.t.stop().await;
}

#[tokio::test]
async fn compromised_keys_stay_dead_on_every_channel() {
    let env = AcmeEnv::new().await;
    let t = &env.t;
    let admin = Api::admin(t);
    // The first SCEP use issues the RA certificate: before counting rows.
    let scep = crate::scep::Scep::new(t, "default").await;
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let pem = csr_cn(&key, "k.example.test", &["k.example.test"]);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "csr": pem}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (s, v) = admin
        .post(
            &format!("/api/v1/certificates/{id}/revoke"),
            json!({"reason": "keyCompromise"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let before = rows(t).await;
    // REST: the same key in a new CSR, and a renewal.
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "csr": csr_cn(&key, "other.example.test", &[])}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("key_compromised")),
        "{v}"
    );
    let (s, v) = admin
        .post(&format!("/api/v1/certificates/{id}/renew"), json!({}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("key_compromised")),
        "{v}"
    );
    // ACME: finalize with the key.
    let mut order = ready(
        &env,
        &env.client().await,
        &[instant_acme::Identifier::Dns("k.example.test".into())],
        instant_acme::ChallengeType::Http01,
    )
    .await;
    let der = openssl::x509::X509Req::from_pem(
        csr_cn(&key, "k.example.test", &["k.example.test"]).as_bytes(),
    )
    .unwrap()
    .to_der()
    .unwrap();
    let Err(e) = order.finalize_csr(&der).await else {
        panic!("a compromised key was finalized");
    };
    let e = e.to_string();
    assert!(e.contains("badPublicKey"), "{e}");
    // SCEP: a device enrolling with the key.
    let dev = crate::scep::Device::with_key(key.clone(), "k-device");
    let secret = std::fs::read_to_string(t.dir.join("scep-challenge")).unwrap();
    let reply = scep
        .enrol(&dev, Some(secret.trim()), "tx-compromised")
        .await;
    assert_eq!(reply.status, "2", "{reply:?}");
    assert_eq!(reply.fail_info.as_deref(), Some(BAD_REQUEST), "{reply:?}");
    assert_eq!(rows(t).await, before, "a blocked key left a row");
    // A short RSA key is refused on every channel as well.
    let weak = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"mode": "uploaded_csr", "csr": csr_cn(&weak, "w.example.test", &[])}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let reply = scep
        .enrol(
            &crate::scep::Device::with_key(weak, "weak-device"),
            Some(secret.trim()),
            "tx-weak",
        )
        .await;
    assert_eq!(reply.fail_info.as_deref(), Some(BAD_REQUEST), "{reply:?}");
    assert_eq!(rows(t).await, before);
    env.t.stop().await;
}

#[tokio::test]
async fn approvals_count_distinct_authenticated_identities() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "two-eyes", "spec": {"dns": ["*"], "approvals_required": 2}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (pem, _) = csr(KeyType::EcP256, &["held.example.test"]);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap(), "template": "two-eyes"}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    // Two operators; the CLI acts as the token it is given.
    let mut ops = Vec::new();
    for name in ["op1", "op2"] {
        let (s, v) = admin
            .post("/api/v1/tokens", json!({"role": "operator", "name": name}))
            .await;
        assert_eq!(s, 201, "{v}");
        ops.push((
            v["id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
        ));
    }
    let out = t.cli(&["cert", "approve", &id, "--token", &ops[0].1]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("still pending"));
    // The same identity twice does not count again; no name can be made up.
    let out = t.cli(&["cert", "approve", &id, "--token", &ops[0].1]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already approved"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = t
        .cli(&["cert", "approve", &id, "--approver", "alice"])
        .await;
    assert!(!out.status.success(), "--approver is gone");
    let row = certs::get(&t.app.store.read, &id).await.unwrap();
    assert_eq!(row.status, "pending_approval");
    let approvers: Vec<String> =
        sqlx::query_scalar("SELECT approver FROM approvals WHERE certificate_id = $1")
            .bind(id.clone())
            .fetch_all(&t.app.store.read)
            .await
            .unwrap();
    assert_eq!(approvers, [format!("token:{}", ops[0].0)]);
    // The requester (the admin token) may not approve its own request; the
    // second operator completes the 2-of-M.
    let (s, _) = admin
        .post(&format!("/api/v1/certificates/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 409);
    let op = Api {
        t: &t,
        token: ops[1].1.clone(),
    };
    let (s, v) = op
        .post(&format!("/api/v1/certificates/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        certs::get(&t.app.store.read, &id).await.unwrap().status,
        "active"
    );
    t.stop().await;
}

/// One curl over HTTP/2 (its default on HTTPS) that sends a body; returns
/// curl's exit code and the status it printed.
fn curl_h2(
    root: &std::path::Path,
    method: &str,
    url: &str,
    token: Option<&str>,
    ctype: &str,
    body: &str,
) -> (i32, String) {
    let mut c = std::process::Command::new("curl");
    c.args([
        "-sS",
        "--http2",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{http_version}",
    ])
    .arg("--cacert")
    .arg(root)
    .args([
        "-X",
        method,
        "-H",
        &format!("content-type: {ctype}"),
        "--data-binary",
        body,
        url,
    ]);
    if let Some(t) = token {
        c.args(["-H", &format!("authorization: Bearer {t}")]);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_over_http2_always_reach_the_client() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post("/api/v1/tokens", json!({"role": "auditor", "name": "ro"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let auditor = v["token"].as_str().unwrap().to_string();
    let (pem, _) = csr(KeyType::EcP256, &["h2.example.test"]);
    let (s, v) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap()}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let root = t.dir.join("root.pem");
    let base = t.https_url.clone();
    let admin_token = t.admin_token();
    let big_jws = format!("{{\"protected\":\"{}\"}}", "a".repeat(70 * 1024));
    // (method, path, token, content type, body, status)
    type Case<'a> = (&'a str, String, Option<String>, &'a str, String, &'a str);
    let cases: Vec<Case> = vec![
        // Failed authentications are limited: after ten, 429.
        (
            "POST",
            format!("/api/v1/certificates/{id}/archive"),
            None,
            "application/json",
            "{}".into(),
            "401|429",
        ),
        (
            "POST",
            format!("/api/v1/certificates/{id}/archive"),
            Some(auditor.clone()),
            "application/json",
            "{}".into(),
            "403",
        ),
        (
            "POST",
            "/api/v1/no-such-route".into(),
            Some(admin_token.clone()),
            "application/json",
            "{}".into(),
            "404",
        ),
        (
            "POST",
            "/acme/new-order".into(),
            None,
            "application/jose+json",
            big_jws,
            "413",
        ),
        (
            "POST",
            "/api/v1/certificates/csr".into(),
            Some(admin_token.clone()),
            "text/plain",
            "{}".into(),
            "415",
        ),
    ];
    let mut failures = Vec::new();
    for i in 0..200 {
        let (m, path, tok, ct, body, want) = &cases[i % cases.len()];
        let (root, url, tok, ct, body, m) = (
            root.clone(),
            format!("{base}{path}"),
            tok.clone(),
            ct.to_string(),
            body.clone(),
            m.to_string(),
        );
        let (code, out) = tokio::task::spawn_blocking(move || {
            curl_h2(&root, &m, &url, tok.as_deref(), &ct, &body)
        })
        .await
        .unwrap();
        let status = out.strip_suffix(" 2").unwrap_or("not over HTTP/2");
        if code != 0 || !want.split('|').any(|w| w == status) {
            failures.push(format!(
                "{path}: curl exit {code}, printed {out:?}, wanted {want}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    t.stop().await;
}

/// One HTTP/1.1 exchange on an open TLS connection: (status line and
/// headers in lower case, body).
async fn exchange(
    s: &mut tokio_openssl::SslStream<tokio::net::TcpStream>,
    request: &[u8],
) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncWriteExt;
    s.write_all(request).await.ok()?;
    read_response(s).await
}

async fn read_response(s: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<(String, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    while buf.len() < end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[end..end + len].to_vec()))
}

#[tokio::test]
async fn a_connection_stays_usable_after_an_oversized_body_or_says_close() {
    let t = spawn_app().await;
    let connect = || tls_connect(&t);
    let host = t.https_bound.trim_start_matches("https://").to_string();
    let directory = format!("GET /acme/directory HTTP/1.1\r\nhost: {host}\r\n\r\n");
    // An ACME JWS over its 64 KiB limit: 413, and the connection goes on.
    let body = format!("{{\"protected\":\"{}\"}}", "a".repeat(70 * 1024));
    let req = format!(
        "POST /acme/new-order HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/jose+json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut s = connect().await;
    let (head, problem) = exchange(&mut s, req.as_bytes()).await.expect("an answer");
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("application/problem+json"), "{head}");
    let problem: Value = serde_json::from_slice(&problem).unwrap();
    assert_eq!(problem["type"], format!("{P}malformed"));
    let (head, _) = exchange(&mut s, directory.as_bytes())
        .await
        .expect("the same connection answers the next request");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // A body past what is read and drained (16 MiB each): the answer says
    // the connection closes.
    let size = 40 * 1024 * 1024;
    let mut req = format!(
        "POST /api/v1/certificates/import HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n",
        t.admin_token()
    )
    .into_bytes();
    req.extend(std::iter::repeat_n(b' ', size));
    // Like curl, write the body while reading the answer.
    let (mut rd, mut wr) = tokio::io::split(connect().await);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = wr.write_all(&req).await;
    });
    let (head, body) = read_response(&mut rd).await.expect("an answer");
    writer.abort();
    assert!(head.starts_with("http/1.1 413"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    t.stop().await;
}

#[tokio::test]
async fn every_rest_error_has_the_json_shape() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let check = |what: &str, status: u16, want: u16, v: &Value, code: &str| {
        assert_eq!(status, want, "{what}: {v}");
        assert_eq!(v["error"]["code"], code, "{what}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {v}"
        );
        assert!(
            v["error"]["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "{what}: {v}"
        );
        assert!(v["error"]["details"].is_array(), "{what}: {v}");
    };
    let (s, v) = admin.get("/api/v1/no-such-thing").await;
    check("unknown route", s, 404, &v, "not_found");
    let (s, v) = admin.get("/api/v1/certificates?limit=abc").await;
    check("bad query", s, 400, &v, "invalid_query");
    let (s, v) = admin.get("/api/v1/certificates?status=bogus").await;
    check("unknown status", s, 400, &v, "invalid_query");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("revoked"),
        "{v}"
    );
    let r = t
        .client
        .delete(format!("{}/api/v1/certificates", t.https_url))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("allow"));
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    check("method", s, 405, &v, "method_not_allowed");
    // LIKE wildcards are literal characters.
    let (pem, _) = csr(KeyType::EcP256, &["wild.example.test"]);
    let (s, _) = admin
        .post(
            "/api/v1/certificates/csr",
            json!({"csr": String::from_utf8(pem).unwrap()}),
        )
        .await;
    assert_eq!(s, 201);
    for needle in ["%25", "_", "%25%25%25", "___"] {
        let (s, v) = admin
            .get(&format!("/api/v1/certificates?common_name={needle}"))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v["items"].as_array().unwrap().len(),
            0,
            "{needle} matched: {v}"
        );
    }
    let (_, v) = admin.get("/api/v1/certificates?common_name=wild").await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    // A handler that panics: a JSON 500 naming the request, on the same layers.
    use tower::ServiceExt;
    let router = signet::app::with_common_layers(
        axum::Router::new().route(
            "/api/v1/boom",
            axum::routing::get(|| async {
                if true {
                    panic!("boom");
                }
            }),
        ),
        &t.app,
    );
    let resp = router
        .oneshot(
            axum::http::Request::get("/api/v1/boom")
                .header("x-request-id", "req_panic_test")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["error"]["code"], "internal", "{v}");
    assert_eq!(v["error"]["request_id"], "req_panic_test", "{v}");
    t.stop().await;
}

#[tokio::test]
async fn acme_refuses_gets_unprotected_headers_and_non_empty_reads() {
    let env = AcmeEnv::new().await;
    let mut c = env.raw().await;
    c.register().await;
    let r = c.new_order("g.example.test").await;
    let order_url = r.headers["location"].to_str().unwrap().to_string();
    for url in [order_url.clone(), c.url("newOrder"), c.kid.clone().unwrap()] {
        let r = env.t.client.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 405, "{url}");
        assert_eq!(r.headers()["allow"], "POST");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], format!("{P}malformed"), "{url}: {v}");
    }
    // An unknown ACME path is a problem document too.
    let r = env
        .t
        .client
        .post(format!("{}/acme/nope", env.t.https_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // An unprotected header.
    let h = c.header(&order_url).await;
    let mut body = jws(&c.key, &h, "");
    body["header"] = json!({"kid": "x"});
    let r = c.send(&order_url, &body).await;
    assert_eq!(r.problem(), format!("{P}malformed"), "{:?}", r.body);
    assert!(r.body["detail"].as_str().unwrap().contains("unprotected"));
    // POST-as-GET has an empty payload, not `{}`.
    let r = c.post(&order_url, Some(json!({}))).await;
    assert_eq!(r.problem(), format!("{P}malformed"), "{:?}", r.body);
    let r = c.post(&order_url, None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    env.t.stop().await;
}

#[tokio::test]
async fn serve_ignores_service_links_warns_about_certificate_urls_and_logs_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    // What Kubernetes injects beside a Service named `signet`.
    let links = [
        ("SIGNET_PORT", "tcp://10.96.0.12:8443"),
        ("SIGNET_PORT_8443_TCP", "tcp://10.96.0.12:8443"),
        ("SIGNET_SERVICE_HOST", "10.96.0.12"),
        ("SIGNET_SERVICE_PORT", "8443"),
    ];
    let (child, https, http) = serve(&dir, &links).await;
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(dir.join("root.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let r = client
        .get(format!(
            "{https}/api/v1/certificates?common_name=hunter2secret"
        ))
        .bearer_auth(token.trim())
        .header("x-request-id", "req_access_log_test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        reqwest::get(format!("{http}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let err = stderr_of(child).await;
    assert!(
        err.contains("ignoring SIGNET_* environment variables"),
        "{err}"
    );
    assert!(err.contains("SIGNET_SERVICE_HOST"), "{err}");
    assert!(err.contains("loopback"), "{err}");
    assert!(err.contains("chosen by the OS"), "{err}");
    // One access line per request: method, path without the query, status,
    // latency, request id and peer.
    let line = err
        .lines()
        .find(|l| l.contains("req_access_log_test") && l.contains("/api/v1/certificates"))
        .unwrap_or_else(|| panic!("no access line in {err}"));
    for part in ["GET", "status=200", "latency_ms=", "peer=127.0.0.1:"] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    assert!(!err.contains("hunter2secret"), "a query string was logged");
    assert!(
        err.lines()
            .any(|l| l.contains("/healthz") && l.contains("status=200"))
    );
    // An unknown key in signet.toml still stops the start.
    let toml = dir.join("signet.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.insert_str(0, "bogus_setting = 1\n");
    std::fs::write(&toml, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bogus_setting"),
        "{out:?}"
    );
}

#[tokio::test]
async fn init_records_the_public_urls_certificates_carry() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args([
            "init",
            "--public-url",
            "https://ca.example.test:8443",
            "--public-http-url",
            "http://ca.example.test",
            "--data-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let toml = std::fs::read_to_string(dir.join("signet.toml")).unwrap();
    assert!(
        toml.contains("public_http_url = \"http://ca.example.test\""),
        "{toml}"
    );
    let (child, https, http) = serve(&dir, &[]).await;
    assert_eq!(
        (https.as_str(), http.as_str()),
        ("https://ca.example.test:8443", "http://ca.example.test")
    );
    let err = stderr_of(child).await;
    assert!(
        !err.contains("loopback") && !err.contains("chosen by the OS"),
        "{err}"
    );
}

#[tokio::test]
async fn a_replayed_scep_request_gets_the_same_answer_and_issues_nothing() {
    use signet_ca::scep::MessageType;
    let t = spawn_app().await;
    let scep = crate::scep::Scep::new(&t, "default").await;
    let dev = crate::scep::Device::with_key(
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        "replay-device",
    );
    let secret = std::fs::read_to_string(t.dir.join("scep-challenge")).unwrap();
    let captured = scep.message(
        MessageType::PkcsReq,
        &dev,
        &dev.csr(Some(secret.trim())),
        "tx-replay",
    );
    let answer = |body: Vec<u8>| async {
        let r = scep.post(body).await;
        assert_eq!(r.status(), 200);
        scep.read(&r.bytes().await.unwrap(), &dev, "tx-replay")
    };
    let first = answer(captured.clone()).await;
    assert_eq!(first.status, "0", "{first:?}");
    let before = rows(&t).await;
    for _ in 0..2 {
        let again = answer(captured.clone()).await;
        assert_eq!(again.status, "0", "{again:?}");
        assert_eq!(
            again.certs[0].to_der().unwrap(),
            first.certs[0].to_der().unwrap()
        );
    }
    assert_eq!(rows(&t).await, before, "a replay issued a certificate");
    // A refusal is recorded as a failure, not a success.
    let other = crate::scep::Device::with_key(
        PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        "wrong-secret",
    );
    let r = scep.enrol(&other, Some("not-the-secret"), "tx-wrong").await;
    assert_eq!(r.status, "2");
    let (s, v) = Api::admin(&t)
        .get("/api/v1/audit-events?action=scep.refused")
        .await;
    assert_eq!(s, 200, "{v}");
    let details = &v["items"][0]["details"];
    assert_eq!(details["outcome"], "failure", "{details}");
    t.stop().await;
}
