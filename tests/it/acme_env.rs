//! ACME test environment: the app configured to validate against responders
//! this process runs (http-01, tls-alpn-01, a DNS server), plus a raw JWS
//! client for requests no well-behaved client would send.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{AlpnError, SslAcceptor, SslMethod, select_next_proto};
use serde_json::{Value, json};
use signet_ca::key::KeyType;

use crate::helpers::*;

pub type Tokens = Arc<Mutex<HashMap<String, String>>>;
pub type AlpnCerts = Arc<Mutex<HashMap<String, (Vec<u8>, Vec<u8>)>>>;

pub struct AcmeEnv {
    pub t: TestApp,
    pub directory: String,
    pub http_tokens: Tokens,
    pub alpn_certs: AlpnCerts,
    pub dns_dir: PathBuf,
    _dns_tmp: tempfile::TempDir,
}

async fn http01_responder(tokens: Tokens) -> u16 {
    async fn serve(
        State(t): State<Tokens>,
        Path(token): Path<String>,
    ) -> Result<String, axum::http::StatusCode> {
        t.lock()
            .unwrap()
            .get(&token)
            .cloned()
            .ok_or(axum::http::StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", get(serve))
        .with_state(tokens);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    port
}

/// Serves the certificate registered for the SNI name, with ALPN acme-tls/1.
async fn alpn_responder(certs: AlpnCerts) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let certs = certs.clone();
            tokio::spawn(async move {
                let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
                b.set_alpn_select_callback(|_, c| {
                    select_next_proto(b"\x0aacme-tls/1", c).ok_or(AlpnError::ALERT_FATAL)
                });
                let certs2 = certs.clone();
                b.set_servername_callback(move |ssl, _| {
                    let name = ssl
                        .servername(openssl::ssl::NameType::HOST_NAME)
                        .unwrap_or("")
                        .to_string();
                    if let Some((c, k)) = certs2.lock().unwrap().get(&name) {
                        let cert = openssl::x509::X509::from_der(c).unwrap();
                        let key = PKey::private_key_from_der(k).unwrap();
                        ssl.set_certificate(&cert).unwrap();
                        ssl.set_private_key(&key).unwrap();
                    }
                    Ok(())
                });
                // A placeholder certificate so the context is valid before SNI selects one.
                let k = KeyType::EcP256.generate().unwrap();
                let cp = rcgen::CertificateParams::new(vec!["placeholder".to_string()]).unwrap();
                let kp =
                    rcgen::KeyPair::try_from(k.private_key_to_pkcs8().unwrap().as_slice()).unwrap();
                let c = cp.self_signed(&kp).unwrap();
                b.set_certificate(&openssl::x509::X509::from_der(c.der()).unwrap())
                    .unwrap();
                b.set_private_key(&k).unwrap();
                let ssl = openssl::ssl::Ssl::new(b.build().context()).unwrap();
                let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                let _ = std::pin::Pin::new(&mut s).accept().await;
            });
        }
    });
    port
}

/// A tls-alpn-01 certificate (RFC 8737) for `name` and a key authorization.
pub fn alpn_cert(name: &str, key_authz: &str) -> (Vec<u8>, Vec<u8>) {
    let digest = hash(MessageDigest::sha256(), key_authz.as_bytes()).unwrap();
    let mut p = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&digest)];
    let kp = rcgen::KeyPair::generate().unwrap();
    let c = p.self_signed(&kp).unwrap();
    (c.der().to_vec(), kp.serialize_der())
}

impl AcmeEnv {
    pub async fn new() -> AcmeEnv {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut signet::config::Config)) -> AcmeEnv {
        let http_tokens: Tokens = Arc::default();
        let alpn_certs: AlpnCerts = Arc::default();
        let http_port = http01_responder(http_tokens.clone()).await;
        let alpn_port = alpn_responder(alpn_certs.clone()).await;
        let dns_tmp = tempfile::tempdir().unwrap();
        let dns = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dns_addr = dns.local_addr().unwrap();
        tokio::spawn(signet_testdns::serve(dns, dns_tmp.path().to_path_buf()));
        let t = spawn_app_with(|c| {
            let v = &mut c.acme.validation;
            v.http01_port = http_port;
            v.tls_alpn01_port = alpn_port;
            v.dns_resolvers = vec![dns_addr.to_string()];
            v.hosts.insert("*.example.test".into(), "127.0.0.1".into());
            v.timeout_secs = 3;
            v.attempts = 1;
            tweak(c);
        })
        .await;
        let directory = format!("{}/acme/directory", t.https_url);
        AcmeEnv {
            t,
            directory,
            http_tokens,
            alpn_certs,
            dns_dir: dns_tmp.path().to_path_buf(),
            _dns_tmp: dns_tmp,
        }
    }

    pub fn set_txt(&self, name: &str, value: &str) {
        std::fs::write(self.dns_dir.join(format!("_acme-challenge.{name}")), value).unwrap();
    }

    pub fn root(&self) -> PathBuf {
        self.t.dir.join("root.pem")
    }

    pub async fn client(&self) -> instant_acme::Account {
        let (account, _) = instant_acme::Account::builder_with_root(self.root())
            .unwrap()
            .create(
                &instant_acme::NewAccount {
                    contact: &["mailto:ops@example.test"],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                None,
            )
            .await
            .unwrap();
        account
    }

    pub async fn raw(&self) -> RawClient {
        RawClient::new(self).await
    }
}

/// Order, solve, finalize with a fresh key, download; returns the PEM chain.
pub async fn issue(
    env: &AcmeEnv,
    account: &instant_acme::Account,
    ids: &[instant_acme::Identifier],
    kind: instant_acme::ChallengeType,
) -> String {
    let mut order = ready(env, account, ids, kind).await;
    order.finalize().await.unwrap();
    order
        .poll_certificate(&instant_acme::RetryPolicy::default())
        .await
        .unwrap()
}

/// A new order for `ids`, solved with `kind` and ready to finalize.
pub async fn ready(
    env: &AcmeEnv,
    account: &instant_acme::Account,
    ids: &[instant_acme::Identifier],
    kind: instant_acme::ChallengeType,
) -> instant_acme::Order {
    let mut order = account
        .new_order(&instant_acme::NewOrder::new(ids))
        .await
        .unwrap();
    solve(env, &mut order, kind).await;
    order
}

/// Complete every authorization of an order with `kind`, then wait for ready.
pub async fn solve(
    env: &AcmeEnv,
    order: &mut instant_acme::Order,
    kind: instant_acme::ChallengeType,
) {
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a.unwrap();
        if a.status == instant_acme::AuthorizationStatus::Valid {
            continue;
        }
        let mut ch = a.challenge(kind.clone()).expect("challenge type offered");
        let ka = ch.key_authorization();
        let name = ch.identifier().to_string();
        match kind {
            instant_acme::ChallengeType::Http01 => {
                env.http_tokens
                    .lock()
                    .unwrap()
                    .insert(ch.token.clone(), ka.as_str().to_string());
            }
            instant_acme::ChallengeType::Dns01 => {
                env.set_txt(name.trim_start_matches("*."), &ka.dns_value())
            }
            instant_acme::ChallengeType::TlsAlpn01 => {
                env.alpn_certs
                    .lock()
                    .unwrap()
                    .insert(name.clone(), alpn_cert(&name, ka.as_str()));
            }
            _ => unreachable!(),
        }
        ch.set_ready().await.unwrap();
    }
    let status = order
        .poll_ready(&instant_acme::RetryPolicy::default())
        .await
        .unwrap();
    assert_eq!(status, instant_acme::OrderStatus::Ready);
}

/// A deliberately low-level client: signs whatever it is told to, so tests
/// can send the malformed requests real clients never would.
pub struct RawClient {
    pub http: reqwest::Client,
    pub dir: Value,
    pub key: PKey<Private>,
    pub kid: Option<String>,
}

pub fn b64(d: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(d)
}

pub fn ec_jwk(key: &PKey<Private>) -> Value {
    let ec = key.ec_key().unwrap();
    let mut ctx = BigNumContext::new().unwrap();
    let (mut x, mut y) = (BigNum::new().unwrap(), BigNum::new().unwrap());
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    json!({"kty":"EC","crv":"P-256","x":b64(&x.to_vec_padded(32).unwrap()),"y":b64(&y.to_vec_padded(32).unwrap())})
}

pub fn es256(key: &PKey<Private>, input: &[u8]) -> Vec<u8> {
    let digest = hash(MessageDigest::sha256(), input).unwrap();
    let sig = EcdsaSig::sign(&digest, &key.ec_key().unwrap()).unwrap();
    let mut raw = sig.r().to_vec_padded(32).unwrap();
    raw.extend(sig.s().to_vec_padded(32).unwrap());
    raw
}

/// A flattened JWS over `protected` and `payload` ("" for POST-as-GET).
pub fn jws(key: &PKey<Private>, protected: &Value, payload: &str) -> Value {
    let p = b64(protected.to_string().as_bytes());
    let pl = b64(payload.as_bytes());
    let sig = es256(key, format!("{p}.{pl}").as_bytes());
    json!({"protected": p, "payload": pl, "signature": b64(&sig)})
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn problem(&self) -> &str {
        self.body["type"].as_str().unwrap_or("")
    }
}

impl RawClient {
    pub async fn new(env: &AcmeEnv) -> RawClient {
        let http = env.t.client.clone();
        let dir = http
            .get(&env.directory)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        RawClient {
            http,
            dir,
            key: KeyType::EcP256.generate().unwrap(),
            kid: None,
        }
    }

    pub fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_string()
    }

    pub async fn nonce(&self) -> String {
        let r = self.http.head(self.url("newNonce")).send().await.unwrap();
        r.headers()["replay-nonce"].to_str().unwrap().to_string()
    }

    /// The standard protected header for this client.
    pub async fn header(&self, url: &str) -> Value {
        let mut h = json!({"alg": "ES256", "nonce": self.nonce().await, "url": url});
        match &self.kid {
            Some(k) => h["kid"] = json!(k),
            None => h["jwk"] = ec_jwk(&self.key),
        }
        h
    }

    pub async fn send(&self, url: &str, body: &Value) -> Resp {
        let r = self
            .http
            .post(url)
            .header("content-type", "application/jose+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Resp {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    pub async fn post(&self, url: &str, payload: Option<Value>) -> Resp {
        let h = self.header(url).await;
        let body = jws(
            &self.key,
            &h,
            &payload.map(|p| p.to_string()).unwrap_or_default(),
        );
        self.send(url, &body).await
    }

    pub async fn register(&mut self) -> Resp {
        let r = self
            .post(
                &self.url("newAccount"),
                Some(json!({"termsOfServiceAgreed": true})),
            )
            .await;
        assert!(r.status == 201 || r.status == 200, "{:?}", r.body);
        self.kid = Some(r.headers["location"].to_str().unwrap().to_string());
        r
    }

    /// A new order for one DNS name.
    pub async fn new_order(&self, name: &str) -> Resp {
        self.post(
            &self.url("newOrder"),
            Some(json!({"identifiers": [{"type": "dns", "value": name}]})),
        )
        .await
    }

    /// Answer the http-01 challenge of an order's first authorization.
    pub async fn solve_http01(&self, env: &AcmeEnv, order: &Value) {
        let authz = self
            .post(order["authorizations"][0].as_str().unwrap(), None)
            .await;
        let ch = authz.body["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "http-01")
            .unwrap()
            .clone();
        let tp = signet_ca::jose::parse_jwk(&ec_jwk(&self.key))
            .unwrap()
            .thumbprint;
        let token = ch["token"].as_str().unwrap();
        env.http_tokens
            .lock()
            .unwrap()
            .insert(token.into(), format!("{token}.{tp}"));
        let r = self
            .post(ch["url"].as_str().unwrap(), Some(json!({})))
            .await;
        assert_eq!(
            r.body["status"], "valid",
            "validation finishes inside the request: {:?}",
            r.body
        );
    }

    /// A new order for `name`, solved; returns the order's URL and its
    /// (ready) body.
    pub async fn ready_order(&self, env: &AcmeEnv, name: &str) -> (String, Value) {
        let r = self.new_order(name).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let order_url = r.headers["location"].to_str().unwrap().to_string();
        self.solve_http01(env, &r.body).await;
        let o = self.post(&order_url, None).await;
        assert_eq!(o.body["status"], "ready", "{:?}", o.body);
        (order_url, o.body)
    }
}
