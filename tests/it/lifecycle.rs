//! The certificate lifecycle with real short-lived certificates and a real
//! scheduler: renewal by itself (generated key and CSR), a tightened
//! template refusing, an approval template queueing, delivery to a file and
//! to webhooks (a real HTTP receiver that checks the signature, one that
//! fails first), and mail through a real SMTP server (aiosmtpd) over
//! STARTTLS with a certificate from this CA.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

/// A real HTTP server that records each POST (headers and body); the path
/// `/fail` answers 500 to its first `fail_first` requests.
/// (path, Signet-Signature, body) of each request.
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Receiver {
    seen: Seen,
    fail_first: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(fail_first: usize) -> (Receiver, String) {
        let r = Receiver::default();
        *r.fail_first.lock().unwrap() = fail_first;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let state = r.clone();
        let app = axum::Router::new().route(
            "/{path}",
            axum::routing::post(
                move |axum::extract::Path(path): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| {
                    let s = state.clone();
                    async move {
                        let sig = headers
                            .get("signet-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        s.seen
                            .lock()
                            .unwrap()
                            .push((path.clone(), sig, body.to_vec()));
                        let mut left = s.fail_first.lock().unwrap();
                        if path == "fail" && *left > 0 {
                            *left -= 1;
                            return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                        }
                        axum::http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        (r, url)
    }

    fn bodies(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, s, b)| (s.clone(), b.clone()))
            .collect()
    }
}

/// Check `Signet-Signature: t=…,v1=…` as a receiver would.
fn signature_ok(header: &str, secret: &[u8], body: &[u8]) -> bool {
    let (Some(t), Some(v1)) = (
        header.split(',').find_map(|p| p.strip_prefix("t=")),
        header.split(',').find_map(|p| p.strip_prefix("v1=")),
    ) else {
        return false;
    };
    let key = openssl::pkey::PKey::hmac(secret).unwrap();
    let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    s.update(format!("{t}.").as_bytes()).unwrap();
    s.update(body).unwrap();
    let want = signet_ca::serial::to_hex(&s.sign_to_vec().unwrap());
    openssl::memcmp::eq(want.as_bytes(), v1.as_bytes())
}

/// Debian's aiosmtpd, printing every message it receives.
struct Smtp {
    out: Arc<Mutex<String>>,
    _child: tokio::process::Child,
}

impl Smtp {
    /// A free port for it, known before the app that mails it starts.
    fn free_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    async fn start(port: u16, tls: Option<(&std::path::Path, &std::path::Path)>) -> Smtp {
        use tokio::io::AsyncReadExt;
        let mut cmd = tokio::process::Command::new("/usr/bin/python3");
        cmd.args([
            "-u",
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Debugging",
            "-l",
        ])
        .arg(format!("127.0.0.1:{port}"));
        if let Some((cert, key)) = tls {
            cmd.arg("--tlscert").arg(cert).arg("--tlskey").arg(key);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("python3-aiosmtpd (./test.sh installs it)");
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let o = out.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                o.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Smtp { out, _child: child }
    }

    fn messages(&self) -> Vec<String> {
        self.out
            .lock()
            .unwrap()
            .split("---------- MESSAGE FOLLOWS ----------")
            .skip(1)
            .map(str::to_string)
            .collect()
    }
}

async fn wait_until<F, Fut>(what: &str, secs: u64, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..secs * 5 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn cert(admin: &Api<'_>, id: &str) -> Value {
    admin.get(&format!("/api/v1/certificates/{id}")).await.1
}

/// A certificate and key for 127.0.0.1 from the app's own API: the SMTP
/// server's STARTTLS identity.
async fn smtp_identity(
    t: &TestApp,
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let admin = Api::admin(t);
    let (s, v) = admin
        .post(
            "/api/v1/certificates",
            json!({"csr_source_mode": "mazevault_generated", "requested_san": ["ip:127.0.0.1"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    let get = |q: String| {
        let c = t
            .client
            .get(format!("{}/api/v1/certificates/{id}/{q}", t.https_url));
        async move {
            c.bearer_auth(t.admin_token())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }
    };
    let cert = dir.join("smtp.crt");
    let key = dir.join("smtp.key");
    std::fs::write(&cert, get("export?format=pem".into()).await).unwrap();
    std::fs::write(
        &key,
        get("private_key?format=pem&unencrypted=true".into()).await,
    )
    .unwrap();
    (cert, key)
}

#[tokio::test]
async fn certificates_renew_by_themselves_and_reach_their_targets_and_mail() {
    let targets = tempfile::tempdir().unwrap();
    let (hooks, hook_url) = Receiver::start(2).await;
    let dir = targets.path().to_path_buf();
    let hook_for_notify = hook_url.clone();
    let smtp_port = Smtp::free_port();
    let t = spawn_app_with(move |c| {
        c.notifications.smtp.host = "127.0.0.1".into();
        c.notifications.smtp.port = smtp_port;
        c.notifications.smtp.security = "starttls".into();
        c.notifications.smtp.from = "signet@example.test".into();
        c.lifecycle.tick_secs = 1;
        c.lifecycle.retry_base_secs = 1;
        c.lifecycle.file_target_dirs = vec![dir];
        c.lifecycle.allow_http_webhooks = true;
        c.notifications.webhook_url = format!("{hook_for_notify}/notify");
        c.notifications.webhook_secret = "notify-secret".into();
        c.notifications.email_to = vec!["ops@example.test".into()];
    })
    .await;
    // The SMTP server speaks STARTTLS with a certificate from this CA.
    let (crt, key) = smtp_identity(&t, targets.path()).await;
    let smtp = Smtp::start(smtp_port, Some((&crt, &key))).await;
    let admin = Api::admin(&t);
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "short", "spec": {"dns": ["*.example.test"], "validity_minutes": 10,
                   "auto_renew": true, "renew_before": "599s", "notify_email": ["team@example.test"]}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // A generated key and an uploaded CSR, both under the template.
    let (s, generated) = admin
        .post(
            "/api/v1/certificates",
            json!({"csr_source_mode": "mazevault_generated", "template_id": "short", "requested_cn": "gen.example.test"}),
        )
        .await;
    assert_eq!(s, 201, "{generated}");
    assert_eq!(generated["auto_renew"], true, "the template's default");
    let (pem, csr_key) = csr(signet_ca::key::KeyType::EcP256, &["csr.example.test"]);
    let (s, up) = admin
        .post(
            "/api/v1/certificates",
            json!({"csr_pem": String::from_utf8(pem).unwrap(), "template_id": "short"}),
        )
        .await;
    assert_eq!(s, 201, "{up}");
    let (gid, uid) = (
        generated["id"].as_str().unwrap().to_string(),
        up["id"].as_str().unwrap().to_string(),
    );
    // Targets: a directory (with the key), a webhook, and a webhook that fails twice.
    let (s, file_target) = admin
        .post(
            &format!("/api/v1/certificates/{gid}/targets"),
            json!({"name": "disk", "kind": "file", "include_key": true,
                   "config": {"directory": targets.path()}}),
        )
        .await;
    assert_eq!(s, 201, "{file_target}");
    let (s, hook) = admin
        .post(
            &format!("/api/v1/certificates/{gid}/targets"),
            json!({"name": "hook", "kind": "webhook", "config": {"url": format!("{hook_url}/hook")}}),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_string();
    let (s, flaky) = admin
        .post(
            &format!("/api/v1/certificates/{gid}/targets"),
            json!({"name": "flaky", "kind": "webhook", "config": {"url": format!("{hook_url}/fail")}}),
        )
        .await;
    assert_eq!(s, 201, "{flaky}");
    let (_, listed) = admin
        .get(&format!("/api/v1/certificates/{gid}/targets"))
        .await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.get("secret").is_none()),
        "shown once"
    );
    // A directory signet.toml does not allow is refused.
    let (s, _) = admin
        .post(
            &format!("/api/v1/certificates/{gid}/targets"),
            json!({"name": "etc", "kind": "file", "config": {"directory": "/etc"}}),
        )
        .await;
    assert_eq!(s, 422);

    // Successors last an hour, so each line renews once while the test
    // watches (the template is read again at renewal: that is the policy).
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            "/api/v1/templates/short",
            Some(json!({"spec": {"dns": ["*.example.test"], "validity_minutes": 60,
                   "auto_renew": true, "renew_before": "599s", "notify_email": ["team@example.test"]}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // The scheduler, as `signet serve` runs it.
    signet::jobs::start(&t.app.core);
    for id in [&gid, &uid] {
        wait_until("a renewal", 40, || async {
            cert(&admin, id).await["renewal_status"] == "renewed"
        })
        .await;
    }
    let g = cert(&admin, &gid).await;
    let g2 = cert(&admin, g["renewed_by"].as_str().unwrap()).await;
    assert_eq!(g2["replaces_id"], gid.as_str());
    assert_eq!(g2["auto_renew"], true, "the successor is renewed in turn");
    assert_eq!(g2["key_source"], "server_generated");
    let u = cert(&admin, &uid).await;
    let u2 = cert(&admin, u["renewed_by"].as_str().unwrap()).await;
    // The CSR's key is certified again: Signet never needed the private key.
    let u2_pem = t
        .client
        .get(format!(
            "{}/api/v1/certificates/{}/export?format=pem&include_chain=false",
            t.https_url,
            u2["id"].as_str().unwrap()
        ))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let u2_cert = openssl::x509::X509::from_pem(&u2_pem).unwrap();
    assert!(u2_cert.public_key().unwrap().public_eq(&csr_key));
    assert_eq!(u2["key_source"], "external");
    // The successor reaches the file target (atomically: no temporary file
    // is left) and both webhooks; the failing one is retried.
    let g2_id = g2["id"].as_str().unwrap().to_string();
    wait_until("the deliveries", 40, || async {
        let (_, h) = admin
            .get(&format!("/api/v1/certificates/{gid}/rotation/history"))
            .await;
        let items = h["items"].as_array().cloned().unwrap_or_default();
        items.len() == 3 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let on_disk =
        openssl::x509::X509::from_pem(&std::fs::read(targets.path().join("cert.pem")).unwrap())
            .unwrap();
    let g2_pem = t
        .client
        .get(format!(
            "{}/api/v1/certificates/{g2_id}/export?format=pem&include_chain=false",
            t.https_url
        ))
        .bearer_auth(t.admin_token())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        on_disk.to_der().unwrap(),
        openssl::x509::X509::from_pem(&g2_pem)
            .unwrap()
            .to_der()
            .unwrap(),
        "the successor is on disk"
    );
    let key_on_disk = openssl::pkey::PKey::private_key_from_pem(
        &std::fs::read(targets.path().join("key.pem")).unwrap(),
    )
    .unwrap();
    assert!(on_disk.public_key().unwrap().public_eq(&key_on_disk));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(targets.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(
        std::fs::read(targets.path().join("fullchain.pem"))
            .unwrap()
            .starts_with(b"-----BEGIN CERTIFICATE-----")
    );
    let leftovers: Vec<_> = std::fs::read_dir(targets.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".signet-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let delivered = hooks.bodies("hook");
    assert_eq!(delivered.len(), 1);
    let (sig, body) = &delivered[0];
    assert!(
        signature_ok(sig, secret.as_bytes(), body),
        "the receiver verifies {sig}"
    );
    assert!(!signature_ok(sig, b"another secret", body));
    let doc: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(doc["certificate_id"], g2_id.as_str());
    assert!(
        doc["certificate_pem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    assert!(
        doc.get("private_key_pem").is_none(),
        "the hook did not ask for the key"
    );
    let (_, h) = admin
        .get(&format!("/api/v1/certificates/{g2_id}/rotation/history"))
        .await;
    let flaky_run = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["target_name"] == "flaky")
        .unwrap()
        .clone();
    assert_eq!(flaky_run["attempts"], 3, "{flaky_run}");
    assert_eq!(hooks.bodies("fail").len(), 3);
    // sync delivers the current certificate again.
    let (s, _) = admin
        .post(
            &format!(
                "/api/v1/certificates/{gid}/targets/{}/sync",
                hook["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 202);
    wait_until("the sync", 20, || async { hooks.bodies("hook").len() == 2 }).await;
    // Mail: the renewals, to the global and the template's recipients, once each.
    wait_until("the renewal mails", 30, || async {
        smtp.messages()
            .iter()
            .filter(|m| m.contains("was renewed"))
            .count()
            >= 2
    })
    .await;
    let mails = smtp.messages();
    let renewed: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("Subject: [Signet] gen.example.test was renewed"))
        .collect();
    assert_eq!(renewed.len(), 1, "{mails:?}");
    assert!(
        renewed[0].contains("ops@example.test") && renewed[0].contains("team@example.test"),
        "{}",
        renewed[0]
    );
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM notifications WHERE event = 'renewal_succeeded' AND certificate_id = $1 AND status = 'sent'",
    )
    .bind(gid.clone())
    .fetch_one(&t.app.store.read)
    .await
    .unwrap();
    assert_eq!(n, 2, "one email and one webhook");
    let notices = hooks.bodies("notify");
    assert!(
        notices
            .iter()
            .all(|(s, b)| signature_ok(s, b"notify-secret", b))
    );
    // Metrics and the renewals list.
    let metrics = t
        .client
        .get(format!("{}/metrics", t.https_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("signet_renewals_total{outcome=\"succeeded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("signet_certificates_expiring{within=\"1d\"}"));
    let (_, r) = admin.get("/api/v1/renewals").await;
    assert!(
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["certificate_id"] == g2_id.as_str())
    );
    t.stop().await;
}

#[tokio::test]
async fn a_tightened_template_refuses_and_an_approval_template_queues() {
    let t = spawn_app_with(|c| c.lifecycle.retry_base_secs = 3600).await;
    let admin = Api::admin(&t);
    for (name, approvals) in [("tight", 0), ("held", 1)] {
        let (s, v) = admin
            .post(
                "/api/v1/templates",
                json!({"name": name, "spec": {"dns": ["*.example.test"], "validity_minutes": 10, "auto_renew": true,
                       "renew_before": "599s", "approvals_required": approvals}}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let (s, c) = admin
        .post("/api/v1/certificates", json!({"csr_source_mode": "mazevault_generated", "template_id": "tight", "requested_cn": "c.example.test"}))
        .await;
    assert_eq!(s, 201, "{c}");
    let cid = c["id"].as_str().unwrap().to_string();
    // The template is tightened after issuance: the renewal is refused, and says why.
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            "/api/v1/templates/tight",
            Some(json!({"spec": {"dns": ["*.other.test"], "validity_minutes": 10, "auto_renew": true, "renew_before": "599s"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let operator = Api {
        t: &t,
        token: signet::tokens::create(&t.app.store, "op", "operator", None, None)
            .await
            .unwrap()
            .1,
    };
    let (s, d) = admin
        .post("/api/v1/certificates", json!({"csr_source_mode": "mazevault_generated", "template_id": "held", "requested_cn": "d.example.test"}))
        .await;
    assert_eq!(s, 202, "{d}");
    let did = d["id"].as_str().unwrap().to_string();
    let (s, v) = operator
        .post(&format!("/api/v1/certificates/{did}/approve"), json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Two rounds: the first schedules, the second renews what is due.
    for _ in 0..2 {
        signet::lifecycle::renewal::run_round(&t.app).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let c = cert(&admin, &cid).await;
    assert_eq!(c["renewal_status"], "failed", "{c}");
    assert!(
        c["last_renew_error"].as_str().unwrap().contains("dns"),
        "{c}"
    );
    let (_, failed) = admin
        .get("/api/v1/certificates?status=renewal_failed")
        .await;
    assert_eq!(item_strs(&failed, "id"), [cid.as_str()]);
    let (_, r) = admin.get("/api/v1/renewals?status=failed").await;
    assert_eq!(r["items"][0]["certificate_id"], cid.as_str());
    assert!(r["items"][0]["message"].as_str().unwrap().contains("dns"));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE replaces_id = $1")
        .bind(cid.clone())
        .fetch_one(&t.app.store.read)
        .await
        .unwrap();
    assert_eq!(n, 0, "no successor row for a refused renewal");
    // The approval template queues the renewal; an approval issues it.
    let d = cert(&admin, &did).await;
    assert_eq!(d["renewal_status"], "queued", "{d}");
    let (_, q) = admin.get("/api/v1/renewal-queue").await;
    assert_eq!(q["items"][0]["replaces_id"], did.as_str(), "{q}");
    let succ = q["items"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = operator
        .post(
            &format!("/api/v1/renewal-queue/{succ}/approve"),
            json!({"comment": "ok"}),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("active")), "{v}");
    assert_eq!(cert(&admin, &did).await["renewal_status"], "renewed");
    let (_, q) = admin.get("/api/v1/renewal-queue").await;
    assert!(q["items"].as_array().unwrap().is_empty());
    // ACME and SCEP certificates renew themselves: not through the scheduler.
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/certificates/{cid}"),
            Some(json!({"renew_before": "soon"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    t.stop().await;
}

/// Issue `n` certificates under a template that makes them due at once, then
/// lengthen the template so that each line renews exactly once.
async fn due_certificates(admin: &Api<'_>, n: usize) -> Vec<String> {
    let spec = |minutes: u32| json!({"dns": ["*.example.test"], "validity_minutes": minutes, "auto_renew": true, "renew_before": "599s"});
    let (s, v) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "short", "spec": spec(10)}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let mut ids = Vec::new();
    for i in 0..n {
        let (s, v) = admin
            .post(
                "/api/v1/certificates",
                json!({"csr_source_mode": "mazevault_generated", "template_id": "short", "requested_cn": format!("n{i}.example.test")}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let (s, v) = admin
        .call(
            reqwest::Method::PUT,
            "/api/v1/templates/short",
            Some(json!({"spec": spec(60)})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    ids
}

/// How many successors each certificate has.
async fn successors(admin: &Api<'_>, ids: &[String]) -> Vec<usize> {
    let mut out = Vec::new();
    for id in ids {
        let (_, h) = admin
            .get(&format!("/api/v1/certificates/{id}/renewal-history"))
            .await;
        out.push(h["successors"].as_array().map(Vec::len).unwrap_or(0));
    }
    out
}

#[tokio::test]
async fn two_replicas_renew_and_notify_each_certificate_once() {
    if std::env::var("PG_TEST_URL").is_err() {
        eprintln!("skipped: needs PG_TEST_URL (./test.sh provides it)");
        return;
    }
    let (hooks, url) = Receiver::start(0).await;
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let db = fresh_database(d1.path()).await;
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
    let cfg = |dir: &std::path::Path| {
        let mut c = test_config(dir, db.clone());
        c.master_key = master.clone();
        c.lifecycle.tick_secs = 1;
        c.lifecycle.allow_http_webhooks = true;
        c.notifications.webhook_url = format!("{url}/notify");
        c.notifications.webhook_secret = "s".into();
        c
    };
    let a = start(cfg(d1.path())).await;
    let b = start(cfg(d2.path())).await;
    // The admin token of the first; both read the same store.
    let admin = Api::admin(&a);
    let ids = due_certificates(&admin, 8).await;
    signet::jobs::start(&a.app.core);
    signet::jobs::start(&b.app.core);
    for id in &ids {
        wait_until("the renewals", 60, || async {
            cert(&admin, id).await["renewal_status"] == "renewed"
        })
        .await;
    }
    // Give both replicas more rounds to do anything twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(successors(&admin, &ids).await, vec![1; ids.len()]);
    let notices = hooks.bodies("notify");
    for id in &ids {
        let n = notices
            .iter()
            .filter(|(_, b)| {
                let v: Value = serde_json::from_slice(b).unwrap();
                v["event"] == "renewal_succeeded" && v["certificate"]["id"] == id.as_str()
            })
            .count();
        assert_eq!(n, 1, "one renewal notice for {id}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn kill_9_during_renewals_leaves_no_certificate_renewed_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir_all(&dir).unwrap();
    let db = fresh_database(tmp.path()).await;
    let env = [
        ("SIGNET_LIFECYCLE__TICK_SECS", "1"),
        ("SIGNET_DATABASE_URL", db.as_str()),
    ];
    let (child, https, _) = serve(&dir, &env).await;
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(dir.join("root.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let token = std::fs::read_to_string(dir.join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let call = |m: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = client
            .request(m, format!("{https}{path}"))
            .bearer_auth(&token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let r = r.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let spec = |minutes: u32| json!({"dns": ["*.example.test"], "validity_minutes": minutes, "auto_renew": true, "renew_before": "599s"});
    let (s, _) = call(
        reqwest::Method::POST,
        "/api/v1/templates".into(),
        Some(json!({"name": "short", "spec": spec(10)})),
    )
    .await;
    assert_eq!(s, 201);
    let mut ids = Vec::new();
    for i in 0..40 {
        let (s, v) = call(
            reqwest::Method::POST,
            "/api/v1/certificates".into(),
            Some(json!({"csr_source_mode": "mazevault_generated", "template_id": "short", "requested_cn": format!("k{i}.example.test")})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let (s, _) = call(
        reqwest::Method::PUT,
        "/api/v1/templates/short".into(),
        Some(json!({"spec": spec(60)})),
    )
    .await;
    assert_eq!(s, 200);
    // kill -9 as soon as the scheduler has renewed some, but not all.
    let mut child = child;
    let mut renewed_at_kill = 0;
    for _ in 0..400 {
        let (_, r) = call(
            reqwest::Method::GET,
            "/api/v1/renewals?status=renewed&limit=500".into(),
            None,
        )
        .await;
        renewed_at_kill = r["items"].as_array().unwrap().len();
        if renewed_at_kill > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().await.unwrap();
    assert!(
        (1..ids.len()).contains(&renewed_at_kill),
        "killed during the round: {renewed_at_kill} of {} renewed",
        ids.len()
    );
    let (_, r) = {
        // Restart on the same data and store: everything is renewed, once.
        let (child2, https2, _) = serve(&dir, &env).await;
        let client2 = client.clone();
        let token2 = token.clone();
        let get = |path: String| {
            let r = client2.get(format!("{https2}{path}")).bearer_auth(&token2);
            async move { r.send().await.unwrap().json::<Value>().await.unwrap() }
        };
        for id in &ids {
            for _ in 0..300 {
                if get(format!("/api/v1/certificates/{id}")).await["renewal_status"] == "renewed" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let mut counts = Vec::new();
        for id in &ids {
            let h = get(format!("/api/v1/certificates/{id}/renewal-history")).await;
            counts.push(h["successors"].as_array().map(Vec::len).unwrap_or(0));
        }
        drop(child2);
        (https2, counts)
    };
    assert_eq!(
        r,
        vec![1; ids.len()],
        "each certificate renewed exactly once"
    );
}

#[tokio::test]
async fn expiring_certificates_without_a_successor_are_announced_once() {
    let (hooks, url) = Receiver::start(0).await;
    let t = spawn_app_with(move |c| {
        c.lifecycle.allow_http_webhooks = true;
        c.notifications.webhook_url = format!("{url}/notify");
        c.notifications.webhook_secret = "s".into();
    })
    .await;
    let admin = Api::admin(&t);
    let (s, _) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "short", "spec": {"dns": ["*.example.test"], "validity_minutes": 10}}),
        )
        .await;
    assert_eq!(s, 201);
    let issue = |cn: &'static str| {
        let admin = &admin;
        async move {
            let (s, v) = admin
                .post("/api/v1/certificates", json!({"csr_source_mode": "mazevault_generated", "template_id": "short", "requested_cn": cn}))
                .await;
            assert_eq!(s, 201, "{v}");
            v["id"].as_str().unwrap().to_string()
        }
    };
    // `alone` has no successor; `old` is followed by a newer certificate for
    // the same name from the same template (as an ACME client's renewal is).
    let alone = issue("alone.example.test").await;
    let old = issue("twice.example.test").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = issue("twice.example.test").await;
    for _ in 0..2 {
        signet::lifecycle::notify::scan_expiring(&t.app)
            .await
            .unwrap();
        signet::lifecycle::notify::send_round(&t.app).await.unwrap();
    }
    let events = |event: &str| -> Vec<(String, i64)> {
        hooks
            .bodies("notify")
            .iter()
            .map(|(_, b)| serde_json::from_slice::<Value>(b).unwrap())
            .filter(|v| v["event"] == event)
            .map(|v| {
                (
                    v["certificate"]["id"].as_str().unwrap().to_string(),
                    v["threshold_days"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let mut expiring = events("expiring");
    expiring.sort();
    let mut want = vec![(alone.clone(), 1), (newer.clone(), 1)];
    want.sort();
    assert_eq!(
        expiring, want,
        "once each, at the 1-day threshold; {old} has a successor"
    );
    assert!(
        hooks
            .bodies("notify")
            .iter()
            .all(|(sig, b)| signature_ok(sig, b"s", b))
    );
    // A revocation is announced too.
    let (s, _) = admin
        .post(
            &format!("/api/v1/certificates/{alone}/revoke"),
            json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(s, 200);
    signet::lifecycle::notify::send_round(&t.app).await.unwrap();
    assert_eq!(events("revoked"), vec![(alone.clone(), 0)]);
    t.stop().await;
}

#[tokio::test]
async fn reuse_key_renews_with_the_same_key() {
    let t = spawn_app().await;
    let admin = Api::admin(&t);
    let (s, _) = admin
        .post(
            "/api/v1/templates",
            json!({"name": "same-key", "spec": {"dns": ["*.example.test"], "validity_minutes": 10, "auto_renew": true,
                   "renew_before": "599s", "reuse_key": true}}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, v) = admin
        .post("/api/v1/certificates", json!({"csr_source_mode": "mazevault_generated", "template_id": "same-key", "requested_cn": "k.example.test"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..2 {
        signet::lifecycle::renewal::run_round(&t.app).await.unwrap();
    }
    let c = cert(&admin, &id).await;
    assert_eq!(c["renewal_status"], "renewed", "{c}");
    let succ = c["renewed_by"].as_str().unwrap().to_string();
    let spki = |id: String| {
        let app = &t.app;
        async move {
            signet::store::certificates::get(&app.store.read, &id)
                .await
                .unwrap()
                .public_key
        }
    };
    assert_eq!(
        spki(id.clone()).await,
        spki(succ.clone()).await,
        "the same key"
    );
    assert_eq!(cert(&admin, &succ).await["key_source"], "server_generated");
    t.stop().await;
}
