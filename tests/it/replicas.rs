//! Two Signet replicas on one PostgreSQL behind a (simulated) load balancer:
//! every ACME request goes to the other replica than the one before, so
//! nonces, accounts, orders, challenges and issuance must all live in the
//! shared database. PostgreSQL only (SQLite is one process by design).

use serde_json::json;
use signet_ca::key::KeyType;

use crate::acme_env::*;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_flow_alternating_between_two_replicas() {
    if std::env::var("PG_TEST_URL").is_err() {
        eprintln!("skipped: needs PG_TEST_URL (./test.sh provides it)");
        return;
    }
    // An http-01 responder both replicas validate against.
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
    let public = "https://ca.example.test";
    let cfg = |dir: &std::path::Path| {
        let mut c = test_config(dir, db.clone());
        c.master_key = master.clone();
        c.public_url = public.into();
        c.acme.validation.http01_port = http_port;
        c.acme
            .validation
            .hosts
            .insert("*.example.test".into(), "127.0.0.1".into());
        c
    };
    let a = start(cfg(d1.path())).await;
    let b = start(cfg(d2.path())).await;
    // Both serve the same CA: the second replica found it in the database.
    assert_eq!(
        std::fs::read(a.dir.join("root.pem")).unwrap(),
        std::fs::read(b.dir.join("root.pem")).unwrap()
    );

    // A raw client that signs for the public URL and alternates replicas.
    let key = KeyType::EcP256.generate().unwrap();
    let mut lb = Balanced {
        client: a.client.clone(),
        replicas: [a.https_bound.clone(), b.https_bound.clone()],
        public,
        turn: 0,
        nonce: None,
        kid: None,
        key: key.clone(),
    };
    let path_of = |u: &str| u.strip_prefix(public).unwrap().to_string();

    let (s, h, _) = lb
        .post(
            "/acme/new-account",
            Some(json!({"termsOfServiceAgreed": true})),
        )
        .await;
    assert_eq!(s, 201);
    lb.kid = Some(h["location"].to_str().unwrap().to_string());
    let (s, h, order) = lb
        .post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "dns", "value": "lb.example.test"}]})),
        )
        .await;
    assert_eq!(s, 201, "{order}");
    let order_path = path_of(h["location"].to_str().unwrap());
    let (_, _, authz) = lb
        .post(&path_of(order["authorizations"][0].as_str().unwrap()), None)
        .await;
    let ch = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let token = ch["token"].as_str().unwrap().to_string();
    let tp = signet_ca::jose::parse_jwk(&ec_jwk(&key))
        .unwrap()
        .thumbprint;
    tokens
        .lock()
        .unwrap()
        .insert(token.clone(), format!("{token}.{tp}"));
    let (s, _, c) = lb
        .post(&path_of(ch["url"].as_str().unwrap()), Some(json!({})))
        .await;
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
            &path_of(order["finalize"].as_str().unwrap()),
            Some(json!({"csr": b64(&der)})),
        )
        .await;
    assert_eq!((s, o["status"].as_str()), (200, Some("valid")), "{o}");
    let (s, _, pem) = lb
        .post(&path_of(o["certificate"].as_str().unwrap()), None)
        .await;
    assert_eq!(s, 200);
    openssl_verify(&a.dir, pem.as_str().unwrap().as_bytes());
    assert_eq!(
        lb.turn, 7,
        "seven requests, alternating between the replicas"
    );
    let (client, replicas, kid) = (lb.client.clone(), lb.replicas.clone(), lb.kid.clone());

    // A nonce is single-use across replicas: issued by A, spent at B, refused at A.
    let n = client
        .head(format!("{}/acme/new-nonce", replicas[0]))
        .send()
        .await
        .unwrap()
        .headers()["replay-nonce"]
        .to_str()
        .unwrap()
        .to_string();
    let h = json!({"alg": "ES256", "nonce": n, "url": format!("{public}/acme/new-order"), "kid": kid.clone().unwrap()});
    let body = jws(
        &key,
        &h,
        &json!({"identifiers": [{"type": "dns", "value": "n.example.test"}]}).to_string(),
    )
    .to_string();
    let send = |base: String, body: String| {
        client
            .post(format!("{base}/acme/new-order"))
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
    };
    assert_eq!(
        send(replicas[1].clone(), body.clone())
            .await
            .unwrap()
            .status(),
        201
    );
    let again: serde_json::Value = send(replicas[0].clone(), body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["type"], "urn:ietf:params:acme:error:badNonce");
    a.stop().await;
    b.stop().await;
}

/// Signs for the public URL and sends each request to the next replica.
struct Balanced {
    client: reqwest::Client,
    replicas: [String; 2],
    public: &'static str,
    turn: usize,
    nonce: Option<String>,
    kid: Option<String>,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl Balanced {
    async fn post(
        &mut self,
        path: &str,
        payload: Option<serde_json::Value>,
    ) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
        let base = self.replicas[self.turn % 2].clone();
        self.turn += 1;
        let n = match self.nonce.take() {
            Some(n) => n,
            None => self
                .client
                .head(format!("{base}/acme/new-nonce"))
                .send()
                .await
                .unwrap()
                .headers()["replay-nonce"]
                .to_str()
                .unwrap()
                .to_string(),
        };
        let mut h = json!({"alg": "ES256", "nonce": n, "url": format!("{}{path}", self.public)});
        match &self.kid {
            Some(k) => h["kid"] = json!(k),
            None => h["jwk"] = ec_jwk(&self.key),
        }
        let body = jws(
            &self.key,
            &h,
            &payload.map(|p| p.to_string()).unwrap_or_default(),
        );
        let r = self
            .client
            .post(format!("{base}{path}"))
            .header("content-type", "application/jose+json")
            .body(body.to_string())
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
