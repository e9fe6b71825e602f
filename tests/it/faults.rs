//! Storage faults and crashes: a store that cannot write answers 503 and is
//! not ready, recovers without a restart, and loses nothing it acknowledged.

use openssl::x509::X509;
use serde_json::{Value, json};
use signet::store::Backend;
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

/// Make every write of the app's store fail as a read-only or failing disk
/// does (SQLite: the writer connection turns query-only, SQLITE_READONLY;
/// PostgreSQL: the database turns read-only and its sessions reconnect,
/// SQLSTATE 25006), or heal it.
async fn writes_fail(t: &TestApp, fail: bool) {
    match t.app.store.backend {
        Backend::Sqlite => {
            // Healing cannot go through the writer handle, which opens a
            // transaction first (refused while query-only); a read on an
            // idle store runs on the writer's connection as it is.
            if fail {
                sqlx::query("PRAGMA query_only = 1")
                    .execute(&t.app.store.write)
                    .await
                    .unwrap();
            } else {
                sqlx::query("PRAGMA query_only = 0")
                    .execute(&t.app.store.read)
                    .await
                    .unwrap();
            }
        }
        Backend::Postgres => {
            let url = t.app.config.database_url();
            let (base, db) = url.rsplit_once('/').unwrap();
            let admin = sqlx::AnyPool::connect(&format!("{base}/postgres"))
                .await
                .unwrap();
            let set = if fail { "on" } else { "off" };
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {db} SET default_transaction_read_only = {set}"
            )))
            .execute(&admin)
            .await
            .unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(db.to_string())
            .fetch_all(&admin)
            .await
            .unwrap();
            admin.close().await;
        }
    }
}

async fn readyz(t: &TestApp) -> u16 {
    t.client
        .get(format!("{}/readyz", t.https_url))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn request(t: &TestApp, name: &str) -> reqwest::Response {
    t.client
        .post(format!("{}/api/v1/certificates/csr", t.https_url))
        .bearer_auth(t.admin_token())
        .json(&json!({"mode": "generated", "common_name": name}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_store_that_cannot_write_answers_503_and_is_not_ready_until_it_heals() {
    let t = spawn_app().await;
    assert_eq!(readyz(&t).await, 200);
    writes_fail(&t, true).await;
    // Sessions the fault cut may need a retry to reach the store at all.
    let mut last = None;
    for _ in 0..3 {
        let r = request(&t, "full.example.test").await;
        let status = r.status().as_u16();
        let retry = r.headers().get("retry-after").cloned();
        let v: Value = r.json().await.unwrap();
        last = Some((status, retry, v));
        if last.as_ref().unwrap().2["error"]["code"] == "store_unavailable" {
            break;
        }
    }
    let (status, retry, v) = last.unwrap();
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
    assert!(retry.is_some(), "503 without Retry-After");
    assert_eq!(readyz(&t).await, 503, "ready while every write fails");
    // ACME says the same as a problem document.
    let dir: Value = t
        .client
        .get(format!("{}/acme/directory", t.https_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(dir["newAccount"].is_string(), "reads still work: {dir}");
    writes_fail(&t, false).await;
    // Healed without a restart.
    let mut ready = 0;
    for _ in 0..20 {
        ready = readyz(&t).await;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200);
    assert_eq!(request(&t, "healed.example.test").await.status(), 201);
    t.stop().await;
}

#[tokio::test]
async fn sqlite_commits_are_on_disk_before_they_return() {
    let t = spawn_app().await;
    if t.app.store.backend == Backend::Sqlite {
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&t.app.store.write)
            .await
            .unwrap();
        assert_eq!(sync, 2, "the writer must run synchronous=FULL");
    }
    t.stop().await;
}

/// Stop a finalize after one of its steps, as kill -9 would: the order is
/// `processing`; with `reserve` the certificate row is reserved (and linked
/// to the order in the same transaction), with `sign` it is signed too.
async fn finalize_until(env: &AcmeEnv, order_url: &str, name: &str, step: &str) {
    use signet::issuance::{self, IssuanceRequest};
    use signet::store::acme as db;
    let app = &env.t.app;
    let id = order_url.rsplit('/').next().unwrap().to_string();
    let order = db::order(&app.store.read, &id).await.unwrap().unwrap();
    assert!(
        db::set_order_status(&app.store.write, &id, "ready", "processing", None, None)
            .await
            .unwrap()
    );
    if step == "processing" {
        return;
    }
    let (pem, _) = csr(KeyType::EcP256, &[name]);
    let mut req = IssuanceRequest::from_csr(
        signet::policy::Channel::Acme,
        &format!("acme:{}", order.account_id),
        signet_ca::csr::parse(&pem).unwrap(),
    );
    req.template = Some(order.template_id.clone());
    req.link = Some(Box::new(move |cert: &str| {
        vec![db::link_order_stmt(&id, cert)]
    }));
    let row = issuance::reserve(app, req).await.unwrap();
    if step == "sign" {
        issuance::sign_reserved(app, row).await.unwrap();
    }
}

#[tokio::test]
async fn orders_left_half_way_by_a_crash_end_valid_or_invalid() {
    let env = AcmeEnv::with(|c| c.reconcile_after_secs = 2).await;
    let mut c = env.raw().await;
    c.register().await;
    // [reserved, signed, nothing reserved]; the last one is stopped last, so
    // that it is surely within the deadline when it is first polled.
    let mut urls = Vec::new();
    for (name, step) in [
        ("reserved.example.test", "reserve"),
        ("signed.example.test", "sign"),
        ("nothing.example.test", "processing"),
    ] {
        let (url, _) = c.ready_order(&env, name).await;
        finalize_until(&env, &url, name, step).await;
        urls.push(url);
    }
    // Within the deadline a finalize may still be running: nothing moves.
    let o = c.post(&urls[2], None).await;
    assert_eq!(o.body["status"], "processing", "{:?}", o.body);
    assert!(o.headers.contains_key("retry-after"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // The job's round (one replica) settles the signed one without a poll…
    assert!(
        signet::acme::reconcile_orders(&env.t.app.acme)
            .await
            .unwrap()
            >= 1
    );
    let id = urls[1].rsplit('/').next().unwrap();
    let signed = signet::store::acme::order(&env.t.app.store.read, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed.status, "valid");
    // …and a poll settles the others: the reserved one is signed now.
    let o = c.post(&urls[2], None).await;
    assert_eq!(o.body["status"], "invalid", "{:?}", o.body);
    assert_eq!(
        o.body["error"]["type"], "urn:ietf:params:acme:error:serverInternal",
        "{:?}",
        o.body
    );
    for url in &urls[..2] {
        let o = c.post(url, None).await;
        assert_eq!(o.body["status"], "valid", "{:?}", o.body);
        let cert = c.post(o.body["certificate"].as_str().unwrap(), None).await;
        assert_eq!(cert.status, 200);
        openssl_verify(&env.t.dir, cert.body.as_str().unwrap().as_bytes());
    }
    // Nothing is left issuing or processing.
    let stuck: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM certificates WHERE status = 'issuing') + \
         (SELECT COUNT(*) FROM acme_orders WHERE status = 'processing')",
    )
    .fetch_one(&env.t.app.store.read)
    .await
    .unwrap();
    assert_eq!(stuck, 0);
    env.t.stop().await;
}

#[tokio::test]
async fn a_certificate_left_issuing_is_finished_by_the_job_round() {
    use signet::issuance::{self, IssuanceRequest};
    let t = spawn_app().await;
    let (pem, _) = csr(KeyType::EcP256, &["rest-left.example.test"]);
    let req = IssuanceRequest::from_csr(
        signet::policy::Channel::Api,
        "token:x",
        signet_ca::csr::parse(&pem).unwrap(),
    );
    let row = issuance::reserve(&t.app, req).await.unwrap();
    // Not yet: it may still be signing elsewhere.
    let now = signet::store::now();
    assert_eq!(issuance::reconcile(&t.app, now - 30).await.unwrap(), 0);
    assert_eq!(issuance::reconcile(&t.app, now + 1).await.unwrap(), 1);
    let row = signet::store::certificates::get(&t.app.store.read, &row.id)
        .await
        .unwrap();
    assert_eq!(row.status, "active");
    t.stop().await;
}

/// Open `n` connections that never send a byte, and `n` that send half a
/// request and stop (slow-loris).
async fn flood(addr: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    use tokio::io::AsyncWriteExt;
    let mut held = Vec::new();
    for i in 0..2 * n {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
        }
        held.push(s);
    }
    held
}

/// How many of the connections the server has closed.
async fn closed(conns: &mut [tokio::net::TcpStream]) -> usize {
    use tokio::io::AsyncReadExt;
    let mut n = 0;
    for c in conns.iter_mut() {
        let mut buf = [0u8; 512];
        match tokio::time::timeout(std::time::Duration::from_millis(20), c.read(&mut buf)).await {
            // EOF, a reset, or an error answer followed by EOF.
            Ok(Ok(0)) | Ok(Err(_)) => n += 1,
            Ok(Ok(_)) => {
                if matches!(
                    tokio::time::timeout(std::time::Duration::from_millis(200), c.read(&mut buf))
                        .await,
                    Ok(Ok(0)) | Ok(Err(_))
                ) {
                    n += 1
                }
            }
            Err(_) => {}
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_bounded_and_service_goes_on() {
    let env = AcmeEnv::with(|c| c.limits.header_timeout_secs = 2).await;
    let t = &env.t;
    let https = t.https_bound.trim_start_matches("https://").to_string();
    let http = t.http_url.trim_start_matches("http://").to_string();
    let mut held = flood(&https, 200).await;
    held.extend(flood(&http, 200).await);
    // Service goes on beside 800 idle and slow connections.
    let (s, v) = Api::admin(t).get("/api/v1/certificates?limit=1").await;
    assert_eq!(s, 200, "{v}");
    let r = reqwest::get(format!("{}/healthz", t.http_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let chain = issue(
        &env,
        &env.client().await,
        &[instant_acme::Identifier::Dns("flood.example.test".into())],
        instant_acme::ChallengeType::Http01,
    )
    .await;
    openssl_verify(&t.dir, chain.as_bytes());
    // The server closes them once the header timeout has passed.
    tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
    let gone = closed(&mut held).await;
    assert_eq!(gone, held.len(), "{gone} of {} closed", held.len());
    env.t.stop().await;
}

/// A process's resident and peak memory in KiB, from /proc.
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_large_bodies_keep_memory_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (child, https, _) = serve(&dir, &[]).await;
    let pid = child.id().unwrap();
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(dir.join("root.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let token = std::fs::read_to_string(dir.join("admin.token")).unwrap();
    let (idle, _) = memory_kib(pid);
    let body = axum::body::Bytes::from(vec![b' '; 10 * 1024 * 1024]);
    let tasks: Vec<_> = (0..150)
        .map(|_| {
            let r = client
                .post(format!("{https}/api/v1/certificates/import"))
                .bearer_auth(token.trim())
                .header("content-type", "application/json")
                .body(body.clone())
                .send();
            tokio::spawn(async move { r.await.map(|r| r.status().as_u16()).unwrap_or(0) })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    // Every client gets an answer, a refusal: the body is not JSON (400), or
    // the budget is spent (503); none is a dropped connection or a 500.
    assert!(
        statuses.keys().all(|s| [400, 422, 503].contains(s)),
        "{statuses:?}"
    );
    // Once the clients hang up, what their connections held is freed.
    drop(client);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (after, peak) = memory_kib(pid);
    eprintln!(
        "150 x 10 MB bodies: idle {idle} KiB, peak {peak} KiB, after {after} KiB; {statuses:?}"
    );
    assert!(
        peak < 256 * 1024,
        "peak RSS {peak} KiB (idle {idle} KiB): {statuses:?}"
    );
    assert!(
        after < idle + 64 * 1024,
        "RSS {after} KiB after, {idle} KiB idle"
    );
    drop(stderr_of(child).await);
}

/// The serial of the certificate the HTTPS listener serves now.
async fn served_serial(t: &TestApp) -> String {
    let s = tls_connect(t).await;
    let cert = s.ssl().peer_certificate().unwrap();
    cert.serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_server_certificate_is_renewed_without_a_restart() {
    use signet::issuance::{self, IssuanceRequest, Outcome};
    let t = spawn_app().await;
    let first = served_serial(&t).await;
    // Nothing is due yet.
    assert!(!t.tls.renew_if_due(&t.app).await.unwrap());
    // The certificate on disk now expires in 10 days, as one would after
    // months of uptime.
    let key = KeyType::EcP256.generate().unwrap();
    let mut req = IssuanceRequest::from_csr(
        signet::policy::Channel::Api,
        "test",
        signet_ca::csr::parse(&csr_with_key(&key, &["localhost", "127.0.0.1"])).unwrap(),
    );
    req.template = Some(signet::bootstrap::SERVER_TEMPLATE.into());
    req.validity_days = Some(10);
    let Outcome::Issued(row) = issuance::submit(&t.app, req).await.unwrap() else {
        panic!("held for approval");
    };
    let mut chain = der_to_pem(row.der.as_ref().unwrap());
    chain.extend(std::fs::read(t.dir.join("ca-chain.pem")).unwrap());
    std::fs::write(t.dir.join("tls/server.pem"), &chain).unwrap();
    std::fs::write(
        t.dir.join("tls/server.key"),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    assert!(
        t.tls.renew_if_due(&t.app).await.unwrap(),
        "a certificate 10 days from expiry is due"
    );
    let renewed = X509::from_pem(&std::fs::read(t.dir.join("tls/server.pem")).unwrap()).unwrap();
    let days_left = openssl::asn1::Asn1Time::days_from_now(0)
        .unwrap()
        .diff(renewed.not_after())
        .unwrap()
        .days;
    assert!(days_left > 30, "renewed for {days_left} days");
    let renewed_serial = renewed
        .serial_number()
        .to_bn()
        .unwrap()
        .to_hex_str()
        .unwrap()
        .to_string();
    // The listener serves the new one from the next connection on.
    let now = served_serial(&t).await;
    assert_eq!(now, renewed_serial);
    assert_ne!(now, first);
    t.stop().await;
}
