//! Two Signet replicas on one PostgreSQL behind a (simulated) load balancer:
//! every ACME request goes to the other replica than the one before, so
//! nonces, accounts, orders, challenges and issuance must all live in the
//! shared database. PostgreSQL only (SQLite is one process by design).

use serde_json::json;
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

const PUBLIC: &str = "https://ca.example.test";

struct Replicas {
    a: TestApp,
    b: TestApp,
    /// What the shared http-01 responder serves, by token.
    tokens: Tokens,
    _dirs: [tempfile::TempDir; 2],
}

/// Two replicas of one CA on a fresh PostgreSQL database, both validating
/// against one http-01 responder; None without PG_TEST_URL.
async fn two_replicas() -> Option<Replicas> {
    if std::env::var("PG_TEST_URL").is_err() {
        eprintln!("skipped: needs PG_TEST_URL (./test.sh provides it)");
        return None;
    }
    let tokens: Tokens = Default::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_port = l.local_addr().unwrap().port();
    let t2 = tokens.clone();
    let app = axum::Router::new().route(
        "/.well-known/acme-challenge/{token}",
        axum::routing::get(
            move |axum::extract::Path(tok): axum::extract::Path<String>| {
                let t = t2.clone();
                async move { t.lock().unwrap().get(&tok).cloned().unwrap_or_default() }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let db = fresh_database(d1.path()).await;
    let master = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let cfg = |dir: &std::path::Path| {
        let mut c = test_config(dir, db.clone());
        c.master_key = master.clone();
        c.public_url = PUBLIC.into();
        c.acme.validation.http01_port = http_port;
        c.acme
            .validation
            .hosts
            .insert("*.example.test".into(), "127.0.0.1".into());
        c
    };
    let a = start(cfg(d1.path())).await;
    let b = start(cfg(d2.path())).await;
    Some(Replicas {
        a,
        b,
        tokens,
        _dirs: [d1, d2],
    })
}

impl Replicas {
    /// A raw client with a new account key that signs for the public URL
    /// and alternates replicas.
    fn balancer(&self) -> Balanced {
        Balanced {
            client: self.a.client.clone(),
            replicas: [self.a.https_bound.clone(), self.b.https_bound.clone()],
            turn: 0,
            nonce: None,
            kid: None,
            key: KeyType::EcP256.generate().unwrap(),
        }
    }

    /// A balancer whose account is registered.
    async fn account(&self) -> Balanced {
        let mut lb = self.balancer();
        let (s, h, _) = lb
            .post(
                "/acme/new-account",
                Some(json!({"termsOfServiceAgreed": true})),
            )
            .await;
        assert_eq!(s, 201);
        lb.kid = Some(h["location"].to_str().unwrap().to_string());
        lb
    }

    /// Serve the key authorization of `challenge` for `key`'s account.
    fn serve(
        &self,
        challenge: &serde_json::Value,
        key: &openssl::pkey::PKey<openssl::pkey::Private>,
    ) {
        let token = challenge["token"].as_str().unwrap().to_string();
        let tp = signet_ca::jose::parse_jwk(&ec_jwk(key)).unwrap().thumbprint;
        self.tokens
            .lock()
            .unwrap()
            .insert(token.clone(), format!("{token}.{tp}"));
    }

    async fn stop(self) {
        self.a.stop().await;
        self.b.stop().await;
    }
}

fn path_of(url: &serde_json::Value) -> String {
    url.as_str()
        .unwrap()
        .strip_prefix(PUBLIC)
        .unwrap()
        .to_string()
}

fn http01(authz: &serde_json::Value) -> serde_json::Value {
    authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_flow_alternating_between_two_replicas() {
    let Some(r) = two_replicas().await else {
        return;
    };
    let (a, b) = (&r.a, &r.b);
    // Both serve the same CA: the second replica found it in the database.
    assert_eq!(
        std::fs::read(a.dir.join("root.pem")).unwrap(),
        std::fs::read(b.dir.join("root.pem")).unwrap()
    );

    // A raw client that signs for the public URL and alternates replicas.
    let mut lb = r.account().await;
    let key = lb.key.clone();
    let (s, h, order) = lb
        .post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "dns", "value": "lb.example.test"}]})),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let order_path = path_of(&json!(h["location"].to_str().unwrap()));
    let (_, _, authz) = lb.post(&path_of(&order["authorizations"][0]), None).await;
    let ch = http01(&authz);
    r.serve(&ch, &key);
    let (s, _, c) = lb.post(&path_of(&ch["url"]), Some(json!({}))).await;
    assert_eq!((s, c["status"].as_str()), (200, Some("valid")), "{c}");
    let (_, _, o) = lb.post(&order_path, None).await;
    assert_eq!(
        o["status"], "ready",
        "the other replica sees the validation: {o}"
    );
    let (csr_pem, _) = csr(KeyType::EcP256, &["lb.example.test"]);
    let der = openssl::x509::X509Req::from_pem(&csr_pem)
        .unwrap()
        .to_der()
        .unwrap();
    let (s, _, o) = lb
        .post(
            &path_of(&order["finalize"]),
            Some(json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!((s, o["status"].as_str()), (200, Some("valid")), "{o}");
    let (s, _, pem) = lb.post(&path_of(&o["certificate"]), None).await;
    assert_eq!(s, 200);
    openssl_verify(&a.dir, pem.as_str().unwrap().as_bytes());
    assert_eq!(
        lb.turn, 7,
        "seven requests, alternating between the replicas"
    );
    // A nonce is single-use across replicas: issued by A, spent at B, refused at A.
    let n = lb.fresh_nonce(&lb.replicas[0]).await;
    let order = json!({"identifiers": [{"type": "dns", "value": "n.example.test"}]});
    let body = lb.sign(n, "/acme/new-order", Some(order));
    let send = |base: &str, body: String| {
        lb.client
            .post(format!("{base}/acme/new-order"))
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
    };
    assert_eq!(
        send(&lb.replicas[1], body.clone()).await.unwrap().status(),
        201
    );
    let again: serde_json::Value = send(&lb.replicas[0], body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["type"], "urn:ietf:params:acme:error:badNonce");
    r.stop().await;
}

/// Two authorizations of one order turn valid at the same moment in two
/// transactions. Here one transaction is the test's own: it marks the first
/// authorization valid and holds its commit while replica B validates the
/// second. Each transaction's trigger would miss the other's uncommitted
/// authz and leave the order pending for good, unless the trigger locks the
/// order first, as migration 0010 does: then B waits for the commit and sees
/// both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_authz_updates_still_ready_the_order() {
    let Some(r) = two_replicas().await else {
        return;
    };
    let mut lb = r.account().await;
    let key = lb.key.clone();
    let ids = json!([{"type": "dns", "value": "race1.example.test"}, {"type": "dns", "value": "race2.example.test"}]);
    let (s, h, order) = lb
        .post("/acme/new-order", Some(json!({"identifiers": ids})))
        .await;
    assert_eq!(s, 201, "{order}");
    let order_path = path_of(&json!(h["location"].to_str().unwrap()));
    let authz_paths: Vec<String> = order["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(path_of)
        .collect();
    let first_id = authz_paths[0].rsplit('/').next().unwrap().to_string();
    let (_, _, second) = lb.post(&authz_paths[1], None).await;
    let ch = http01(&second);
    r.serve(&ch, &key);

    let mut tx = r.a.app.store.write.begin().await.unwrap();
    sqlx::query("UPDATE acme_authzs SET status = 'valid' WHERE id = $1")
        .bind(first_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    let path = path_of(&ch["url"]);
    let body = lb.sign(
        lb.fresh_nonce(&lb.replicas[1]).await,
        &path,
        Some(json!({})),
    );
    let validation = tokio::spawn(
        lb.client
            .post(format!("{}{path}", lb.replicas[1]))
            .header("content-type", "application/jose+json")
            .body(body)
            .send(),
    );
    // Long enough for replica B to validate and reach its trigger.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    tx.commit().await.unwrap();
    assert_eq!(validation.await.unwrap().unwrap().status(), 200);
    let mut status = json!(null);
    for _ in 0..40 {
        let (_, _, o) = lb.post(&order_path, None).await;
        status = o["status"].clone();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "ready");
    r.stop().await;
}

/// Nonces on PostgreSQL are checked without the database first: a nonce whose
/// MAC was altered, or whose own expiry has passed, is badNonce at every
/// replica, and a genuine one is spent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_nonces_are_refused() {
    let Some(r) = two_replicas().await else {
        return;
    };
    let lb = r.account().await;
    let genuine = lb.fresh_nonce(&lb.replicas[0]).await;
    let mut raw = signet_ca::jose::b64_decode(&genuine).unwrap();
    *raw.last_mut().unwrap() ^= 1;
    let forged = b64(&raw);
    // Issued by the replica itself, with a MAC that checks, but expired.
    let expired = r.a.app.acme.nonces.issue(-10).unwrap();
    let order = json!({"identifiers": [{"type": "dns", "value": "nonce.example.test"}]});
    let post = |nonce: String| {
        let body = lb.sign(nonce, "/acme/new-order", Some(order.clone()));
        lb.client
            .post(format!("{}/acme/new-order", lb.replicas[1]))
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
    };
    for nonce in [forged, expired] {
        let v: serde_json::Value = post(nonce).await.unwrap().json().await.unwrap();
        assert_eq!(v["type"], "urn:ietf:params:acme:error:badNonce", "{v}");
    }
    assert_eq!(post(genuine.clone()).await.unwrap().status(), 201);
    let v: serde_json::Value = post(genuine).await.unwrap().json().await.unwrap();
    assert_eq!(v["type"], "urn:ietf:params:acme:error:badNonce", "{v}");
    r.stop().await;
}

/// Signs for the public URL and sends each request to the next replica.
struct Balanced {
    client: reqwest::Client,
    replicas: [String; 2],
    turn: usize,
    nonce: Option<String>,
    kid: Option<String>,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl Balanced {
    async fn fresh_nonce(&self, base: &str) -> String {
        self.client
            .head(format!("{base}/acme/new-nonce"))
            .send()
            .await
            .unwrap()
            .headers()["replay-nonce"]
            .to_str()
            .unwrap()
            .to_string()
    }

    /// A JWS body for `path` at the public URL.
    fn sign(&self, nonce: String, path: &str, payload: Option<serde_json::Value>) -> String {
        let mut h = json!({"alg": "ES256", "nonce": nonce, "url": format!("{PUBLIC}{path}")});
        match &self.kid {
            Some(k) => h["kid"] = json!(k),
            None => h["jwk"] = ec_jwk(&self.key),
        }
        jws(
            &self.key,
            &h,
            &payload.map(|p| p.to_string()).unwrap_or_default(),
        )
        .to_string()
    }

    async fn post(
        &mut self,
        path: &str,
        payload: Option<serde_json::Value>,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let base = self.replicas[self.turn % 2].clone();
        self.turn += 1;
        let n = match self.nonce.take() {
            Some(n) => n,
            None => self.fresh_nonce(&base).await,
        };
        let body = self.sign(n, path, payload);
        let r = self
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        self.nonce = headers
            .get("replay-nonce")
            .map(|v| v.to_str().unwrap().to_string());
        let text = r.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }
}
