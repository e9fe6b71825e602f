//! Start-up, the store, the policy engine and the issuance pipeline.

use std::collections::HashSet;

use signet::issuance::{self, IssuanceRequest, IssueError, Outcome};
use signet::policy::{Channel, TemplateSpec};
use signet::store::batch::Stmt;
use signet::store::{self, StoreError, audit, certificates as certs, settings, templates};
use signet_ca::csr;
use signet_ca::key::KeyType;

use crate::helpers::*;

fn api_request(pem: &[u8]) -> IssuanceRequest {
    IssuanceRequest::from_csr(Channel::Api, "alice", csr::parse(pem).unwrap())
}

#[tokio::test]
async fn first_start_serves_health_ready_metrics_and_ca_certs() {
    let t = spawn_app().await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = t
            .client
            .get(format!("{}{path}", t.https_url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
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
        metrics.contains("signet_certificates_issued_total{channel=\"api\"} 1"),
        "{metrics}"
    );
    for name in [
        "signet_sqlite_fullscan_steps_total",
        "signet_sqlite_transactions_total",
        "signet_sqlite_commits_total",
    ] {
        assert_eq!(
            metrics.contains(&format!("\n{name} ")),
            t.app.store.sqlite_stats().is_some(),
            "{metrics}"
        );
    }
    let plain = reqwest::get(format!("{}/healthz", t.http_url))
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    // The issuing CA certificate is downloadable from the plain-HTTP listener by id and name.
    let ca_id = t.app.cas.default_id(&t.app.store).await.unwrap();
    let der = reqwest::get(format!("{}/ca/{ca_id}.crt", t.http_url))
        .await
        .unwrap();
    assert_eq!(der.headers()["content-type"], "application/pkix-cert");
    let der = der.bytes().await.unwrap();
    let pem = reqwest::get(format!("{}/ca/Signet%20Issuing%20CA.pem", t.http_url))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        openssl::x509::X509::from_pem(&pem)
            .unwrap()
            .to_der()
            .unwrap(),
        der.to_vec()
    );
    assert_eq!(
        reqwest::get(format!("{}/ca/nope.crt", t.http_url))
            .await
            .unwrap()
            .status(),
        404
    );
    // Files the README promises, with secrets private.
    for f in [
        "signet.toml",
        "root.pem",
        "ca-chain.pem",
        "admin.token",
        "tls/server.pem",
        "tls/server.key",
        "scep-challenge",
    ] {
        assert!(t.dir.join(f).exists(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    for f in ["admin.token", "tls/server.key", "scep-challenge"] {
        assert_eq!(
            std::fs::metadata(t.dir.join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o077,
            0,
            "{f} is readable by others"
        );
    }
    openssl_verify(
        &t.dir,
        &std::fs::read(t.dir.join("tls/server.pem")).unwrap(),
    );
    // Every default is in the generated config, commented.
    let toml = std::fs::read_to_string(t.dir.join("signet.toml")).unwrap();
    assert!(toml.contains("http01_port = 80") && toml.contains("eab_required = false"));
    t.stop().await;
}

#[tokio::test]
async fn second_start_reuses_ca_token_and_tls() {
    let t = spawn_app().await;
    let root = std::fs::read(t.dir.join("root.pem")).unwrap();
    let token = t.admin_token();
    let tls = std::fs::read(t.dir.join("tls/server.pem")).unwrap();
    let cas = store::cas::list(&t.app.store.read).await.unwrap().len();
    let (cfg, tmp) = t.stop().await;
    let t2 = start(cfg).await;
    assert_eq!(std::fs::read(t2.dir.join("root.pem")).unwrap(), root);
    assert_eq!(t2.admin_token(), token);
    assert_eq!(std::fs::read(t2.dir.join("tls/server.pem")).unwrap(), tls);
    assert_eq!(
        store::cas::list(&t2.app.store.read).await.unwrap().len(),
        cas
    );
    assert_eq!(cas, 2, "root + issuing");
    // The admin token is stored hashed only.
    let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(&t2.app.store.read)
        .await
        .unwrap();
    assert!(!hashes.contains(&token) && hashes.contains(&signet::tokens::hash(&token)));
    t2.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn csr_is_issued_verified_stored_and_audited() {
    let t = spawn_app().await;
    for kt in [KeyType::EcP256, KeyType::Rsa2048, KeyType::Ed25519] {
        let (pem, _) = csr(kt, &["web.example.test", "10.0.0.7"]);
        let Outcome::Issued(row) = issuance::submit(&t.app, api_request(&pem)).await.unwrap()
        else {
            panic!("pending")
        };
        assert_eq!(row.status, certs::ACTIVE);
        assert_eq!(row.key_type, kt.as_str());
        let der = row.der.clone().unwrap();
        openssl_verify(&t.dir, &der_to_pem(&der));
        let (_, x) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(
            signet_ca::serial::to_hex(x.raw_serial()),
            row.serial.clone().unwrap()
        );
        assert!(x.raw_serial().len() == 16 && x.raw_serial()[0] & 0x80 == 0);
        let events: Vec<String> = audit::list_for_target(&t.app.store.read, &row.id)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(events, ["certificate.reserved", "certificate.issued"]);
    }
    assert!(audit::verify_chain(&t.app.store.read).await.unwrap() >= 7);
    t.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_no_row_left() {
    let t = spawn_app().await;
    let before = certs::count(&t.app.store.read).await.unwrap();
    // Malformed CSR and a weak key never reach the pipeline.
    assert!(matches!(
        csr::parse(
            b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        ),
        Err(signet_ca::CaError::MalformedCsr(_))
    ));
    // A name outside the template: every violation, no row.
    let spec = TemplateSpec {
        dns: vec![".corp.test".into()],
        ..Default::default()
    };
    templates::upsert(
        &t.app.store.write,
        "corp",
        &serde_json::to_string(&spec).unwrap(),
    )
    .await
    .unwrap();
    let (pem, _) = csr(KeyType::EcP256, &["evil.example.com"]);
    let mut req = api_request(&pem);
    req.template = Some("corp".into());
    let err = issuance::submit(&t.app, req).await.unwrap_err();
    let IssueError::Denied(vs) = err else {
        panic!("{err:?}")
    };
    assert_eq!(vs[0].rule, "dns");
    assert_eq!(vs[0].offending_value, "evil.example.com");
    assert_eq!(vs[0].allowed, ".corp.test");
    // Unknown template and project.
    let mut req = api_request(&pem);
    req.template = Some("nope".into());
    assert!(matches!(
        issuance::submit(&t.app, req).await,
        Err(IssueError::Unknown("template", _))
    ));
    let mut req = api_request(&pem);
    req.project = Some("nope".into());
    assert!(matches!(
        issuance::submit(&t.app, req).await,
        Err(IssueError::Unknown("project", _))
    ));
    assert_eq!(certs::count(&t.app.store.read).await.unwrap(), before);
    t.stop().await;
}

/// Kill the pipeline between "serial reserved and committed" and "signed":
/// the restarted server finishes the certificate with the same serial, once.
#[tokio::test]
async fn crash_after_reserve_is_reconciled_on_restart() {
    let t = spawn_app().await;
    let (pem, _) = csr(KeyType::EcP256, &["crash.example.test"]);
    let row = issuance::reserve(&t.app, api_request(&pem)).await.unwrap();
    assert_eq!(row.status, certs::ISSUING);
    let serial = row.serial.clone().unwrap();
    let before = certs::count(&t.app.store.read).await.unwrap();
    // "Crash": the process goes away without signing.
    let (cfg, tmp) = t.stop().await;
    let t2 = start(cfg).await;
    let after = certs::get(&t2.app.store.read, &row.id).await.unwrap();
    assert_eq!(after.status, certs::ACTIVE);
    assert_eq!(after.serial.as_deref(), Some(serial.as_str()));
    openssl_verify(&t2.dir, &der_to_pem(&after.der.unwrap()));
    assert_eq!(
        certs::count(&t2.app.store.read).await.unwrap(),
        before,
        "nothing duplicated"
    );
    assert_eq!(ids_in_status(&t2, certs::ISSUING).await.len(), 0);
    // A second reconcile finds nothing to do.
    assert_eq!(
        issuance::reconcile(&t2.app, signet::store::now())
            .await
            .unwrap(),
        0
    );
    t2.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn n_of_m_approval_without_self_approval() {
    let t = spawn_app().await;
    let spec = TemplateSpec {
        approvals_required: 2,
        ..TemplateSpec::allow_any_host()
    };
    templates::upsert(
        &t.app.store.write,
        "gated",
        &serde_json::to_string(&spec).unwrap(),
    )
    .await
    .unwrap();
    let (pem, _) = csr(KeyType::EcP256, &["gated.example.test"]);
    let mut req = api_request(&pem);
    req.template = Some("gated".into());
    let Outcome::Pending(row) = issuance::submit(&t.app, req).await.unwrap() else {
        panic!("issued without approval")
    };
    assert_eq!(row.status, certs::PENDING_APPROVAL);
    assert!(row.serial.is_none());
    assert!(
        matches!(issuance::approve(&t.app, &row.id, "alice", None).await, Err(IssueError::Conflict(m)) if m.contains("own"))
    );
    assert!(matches!(
        issuance::approve(&t.app, &row.id, "bob", Some("ok"))
            .await
            .unwrap(),
        Outcome::Pending(_)
    ));
    assert!(matches!(
        issuance::approve(&t.app, &row.id, "bob", None).await,
        Err(IssueError::Conflict(_))
    ));
    let Outcome::Issued(done) = issuance::approve(&t.app, &row.id, "carol", None)
        .await
        .unwrap()
    else {
        panic!("still pending")
    };
    openssl_verify(&t.dir, &der_to_pem(&done.der.unwrap()));
    // Rejecting a finished request is a state conflict.
    assert!(matches!(
        issuance::reject(&t.app, &row.id, "dave", None).await,
        Err(IssueError::Conflict(_))
    ));
    t.stop().await;
}

#[tokio::test]
async fn concurrent_issuance_gives_unique_serials() {
    let t = spawn_app().await;
    let mut handles = Vec::new();
    for i in 0..40 {
        let app = t.app.clone();
        handles.push(tokio::spawn(async move {
            let (pem, _) = csr(KeyType::EcP256, &[&format!("h{i}.example.test")]);
            match issuance::submit(&app, api_request(&pem)).await.unwrap() {
                Outcome::Issued(r) => r.serial.unwrap(),
                Outcome::Pending(_) => panic!("pending"),
            }
        }));
    }
    let mut serials = HashSet::new();
    for h in handles {
        assert!(serials.insert(h.await.unwrap()));
    }
    assert_eq!(serials.len(), 40);
    assert!(audit::verify_chain(&t.app.store.read).await.unwrap() >= 80);
    t.stop().await;
}

#[tokio::test]
async fn database_loss_fails_readyz_and_requests_get_503() {
    let t = spawn_app().await;
    t.app.store.close().await;
    let r = t
        .client
        .get(format!("{}/readyz", t.https_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = t
        .client
        .get(format!("{}/healthz", t.https_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "liveness does not depend on the database");
    let r = reqwest::get(format!("{}/ca/x.crt", t.http_url))
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
    t.stop().await;
}

#[tokio::test]
async fn bad_config_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("signet.toml"),
        "[acme.validation]\nhttp01_port = \"eighty\"\n",
    )
    .unwrap();
    let err = signet::config::Config::load(Some(dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("acme.validation.http01_port"), "{err}");
    std::fs::write(dir.path().join("signet.toml"), "listne = \"x\"\n").unwrap();
    let err = signet::config::Config::load(Some(dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("listne"), "{err}");
    std::fs::write(
        dir.path().join("signet.toml"),
        "[templates.x]\nkey_types = [\"dsa\"]\n",
    )
    .unwrap();
    let err = signet::config::Config::load(Some(dir.path()), None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("templates.x") && err.contains("dsa"), "{err}");
}

#[tokio::test]
async fn unreachable_database_exits_non_zero_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://signet:secret@127.0.0.1:1/signet",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open database postgres://signet:***@127.0.0.1:1/signet"),
        "{err}"
    );
    assert!(!err.contains("secret"));
}

#[tokio::test]
async fn env_overrides_file_and_lists_split_on_commas() {
    // Environment variables are process-wide; this is the only test that sets them.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("signet.toml"),
        "[acme.validation]\nhttp01_port = 81\n",
    )
    .unwrap();
    unsafe {
        std::env::set_var("SIGNET_ACME__VALIDATION__HTTP01_PORT", "5002");
        std::env::set_var(
            "SIGNET_ACME__VALIDATION__HOSTS",
            "*.example.test=127.0.0.1,db.internal=10.0.0.5",
        );
        std::env::set_var(
            "SIGNET_ACME__VALIDATION__DNS_RESOLVERS",
            "127.0.0.1:8053,127.0.0.2:53",
        );
    }
    let cfg = signet::config::Config::load(Some(dir.path()), None);
    unsafe {
        std::env::remove_var("SIGNET_ACME__VALIDATION__HTTP01_PORT");
        std::env::remove_var("SIGNET_ACME__VALIDATION__HOSTS");
        std::env::remove_var("SIGNET_ACME__VALIDATION__DNS_RESOLVERS");
    }
    let cfg = cfg.unwrap();
    assert_eq!(cfg.acme.validation.http01_port, 5002);
    assert_eq!(cfg.acme.validation.hosts["*.example.test"], "127.0.0.1");
    assert_eq!(cfg.acme.validation.hosts["db.internal"], "10.0.0.5");
    assert_eq!(
        cfg.acme.validation.dns_resolvers,
        ["127.0.0.1:8053", "127.0.0.2:53"]
    );
}

#[tokio::test]
async fn deploy_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/signet.example.toml");
    let cfg = signet::config::Config::load(Some(dir.path()), Some(&file)).unwrap();
    assert!(cfg.acme.eab_required);
    assert_eq!(cfg.templates["web"].max_validity_days, 30);
    assert_eq!(cfg.templates["restricted"].approvals_required, 2);
}

/// A batched write transaction (one command on SQLite) is all or nothing:
/// a failing statement, or a guard that finds no row, rolls back what came
/// before it, appends no audit event, and leaves the writer connection
/// usable.
#[tokio::test]
async fn batched_writes_are_all_or_nothing() {
    let t = spawn_app().await;
    let store = &t.app.store;
    let insert = |k: &str| {
        Stmt::new("INSERT INTO settings (key, value) VALUES ($1, $2)")
            .bind(k)
            .bind("v")
    };
    let r = store
        .write_batch(vec![insert("batch.a"), insert("batch.a")])
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(settings::get(&store.read, "batch.a").await.unwrap(), None);

    let events = audit::verify_chain(&store.read).await.unwrap();
    let event = || {
        audit::Pending::new(audit::Event {
            actor: "test",
            action: "test.batch",
            target: None,
            severity: "info",
            request_id: None,
            details: serde_json::json!({}),
        })
    };
    let guarded = Stmt::new("UPDATE settings SET value = 'w' WHERE key = $1 RETURNING key")
        .bind("batch.missing");
    let r = audit::with_event(
        store,
        vec![insert("batch.b"), guarded],
        Some("no such setting"),
        event(),
    )
    .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(settings::get(&store.read, "batch.b").await.unwrap(), None);
    assert_eq!(audit::verify_chain(&store.read).await.unwrap(), events);

    // The connection is not left inside a transaction: this commits.
    audit::with_event(store, vec![insert("batch.c")], None, event())
        .await
        .unwrap();
    assert_eq!(
        settings::get(&store.read, "batch.c")
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
    assert_eq!(audit::verify_chain(&store.read).await.unwrap(), events + 1);
    t.stop().await;
}

/// Events are chained by the application on SQLite and by `audit_append`
/// on PostgreSQL; the verifier recomputes every hash in Rust, so text beyond
/// ASCII (lengths are counted in bytes) and a missing target must come out
/// the same both ways, appended alone or inside a transaction.
#[tokio::test]
async fn audit_events_with_non_ascii_text_chain_and_verify() {
    let t = spawn_app().await;
    let store = &t.app.store;
    let events = audit::verify_chain(&store.read).await.unwrap();
    let event = |target| audit::Event {
        actor: "zoë@exämple.test",
        action: "test.ünïcode",
        target,
        severity: "info",
        request_id: Some("req-✓"),
        details: serde_json::json!({"note": "naïve café ✓ 証明書 🔐", "n": 1}),
    };
    audit::with_event(store, vec![], None, audit::Pending::new(event(None)))
        .await
        .unwrap();
    let mut tx = store.write.begin().await.unwrap();
    audit::record(&mut tx, event(Some("证书 ✓"))).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(audit::verify_chain(&store.read).await.unwrap(), events + 2);
    let rows = audit::list_for_target(&store.read, "证书 ✓").await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "zoë@exämple.test");
    assert_eq!(rows[0].request_id.as_deref(), Some("req-✓"));
    t.stop().await;
}

/// Concurrent transactions share COMMITs on SQLite (group commit), yet each
/// is committed, and visible to other connections, when its commit returns.
/// A member that is dropped, or whose statement fails, leaves the rest of its
/// group as it was. (A failed statement undoes only itself on SQLite; on
/// PostgreSQL it aborts its transaction, whose COMMIT then keeps nothing.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_commit_in_groups_and_each_is_durable_on_return() {
    let t = spawn_app().await;
    let store = t.app.store.clone();
    let insert =
        |k: String| Stmt::new("INSERT INTO settings (key, value) VALUES ($1, 'v')").bind(k);
    store
        .write_batch(vec![insert("group.taken".into())])
        .await
        .unwrap();
    let before = store.sqlite_stats();
    let sqlite = before.is_some();
    // All start together: on a loaded machine the spawning thread can be so
    // slow that each task would finish before the next one exists.
    let (start, gate) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = store.clone();
            let mut gate = gate.clone();
            tokio::spawn(async move {
                gate.wait_for(|open| *open).await.unwrap();
                let mut tx = store.write.begin().await.unwrap();
                let key = format!("group.{i}");
                insert(key.clone()).execute(&mut *tx).await.unwrap();
                // Hold the writer a moment, so that others queue behind.
                tokio::task::yield_now().await;
                let mut kept = true;
                if i % 4 == 2 {
                    let dup = insert("group.taken".into()).execute(&mut *tx).await;
                    assert!(dup.is_err(), "a duplicate key fails");
                    kept = sqlite;
                }
                if i % 4 == 3 {
                    return (key, false); // dropped uncommitted
                }
                tx.commit().await.unwrap();
                if kept {
                    let seen = settings::get(&store.read, &key).await.unwrap();
                    assert_eq!(seen.as_deref(), Some("v"), "{key} readable once committed");
                }
                (key, kept)
            })
        })
        .collect();
    start.send(true).unwrap();
    let mut committed = 0;
    for task in tasks {
        let (key, kept) = task.await.unwrap();
        let now = settings::get(&store.read, &key).await.unwrap();
        assert_eq!(now.is_some(), kept, "{key}");
        committed += u64::from(kept);
    }
    assert_eq!(committed, if sqlite { 48 } else { 32 });
    if let (Some(b), Some(a)) = (before, store.sqlite_stats()) {
        assert_eq!(a.transactions - b.transactions, 64);
        assert!(
            a.commits - b.commits < committed,
            "{} COMMITs for {committed} transactions: no group formed",
            a.commits - b.commits
        );
    }
    t.stop().await;
}

#[tokio::test]
async fn a_cancelled_transaction_rolls_back_and_frees_the_writer() {
    let t = spawn_app().await;
    let store = &t.app.store;
    let insert = |k: &str| Stmt::new("INSERT INTO settings (key, value) VALUES ($1, 'v')").bind(k);
    // A request that dies mid-transaction: its future is dropped while it
    // holds the writer with a row written.
    let stuck = async {
        let mut tx = store.write.begin().await.unwrap();
        insert("tx.cancelled").execute(&mut *tx).await.unwrap();
        assert_eq!(
            settings::get(&mut *tx, "tx.cancelled")
                .await
                .unwrap()
                .as_deref(),
            Some("v"),
            "the transaction sees its own write"
        );
        std::future::pending::<()>().await;
    };
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(200), stuck)
            .await
            .is_err()
    );
    assert_eq!(
        settings::get(&store.read, "tx.cancelled").await.unwrap(),
        None
    );
    // The writer is free again: the next transaction commits at once.
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.write_batch(vec![insert("tx.after")]),
    )
    .await
    .expect("writer released")
    .unwrap();
    assert_eq!(
        settings::get(&store.read, "tx.after")
            .await
            .unwrap()
            .as_deref(),
        Some("v")
    );
    t.stop().await;
}
