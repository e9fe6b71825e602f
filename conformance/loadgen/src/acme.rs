//! ACME load: N workers, each with its own ES256 account, running complete
//! flows: newOrder (1–3 names) → authz → http-01 served by our own loopback
//! responder → challenge → poll → finalize (reused P-256 CSR key) → download.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hdrhistogram::Histogram;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use serde_json::{Value, json};

type Tokens = Arc<Mutex<HashMap<String, String>>>;

pub struct Options {
    pub directory: String,
    pub ca_bundle: Option<std::path::PathBuf>,
    pub concurrency: usize,
    pub duration: Duration,
    pub max_flows: u64,
    pub names: usize,
    pub http_port: u16,
    pub domain: String,
    pub server_pid: Option<u32>,
    pub request_timeout: Duration,
    pub eab: Option<(String, Vec<u8>)>,
    /// Append each downloaded certificate's serial (lower-case hex) here,
    /// one line each, as it arrives: what a crash test checks the store
    /// against.
    pub record: Option<std::path::PathBuf>,
}

const STEPS: [&str; 8] = [
    "new-account",
    "new-order",
    "authz",
    "challenge",
    "poll-ready",
    "finalize",
    "poll-valid",
    "download",
];

#[derive(Default)]
struct Stats {
    hist: BTreeMap<&'static str, Histogram<u64>>,
    flows: u64,
    errors: BTreeMap<String, u64>,
}

impl Stats {
    fn record(&mut self, step: &'static str, d: Duration) {
        let h = self
            .hist
            .entry(step)
            .or_insert_with(|| Histogram::new(3).expect("histogram"));
        let _ = h.record(d.as_micros() as u64);
    }
}

fn b64(d: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(d)
}

struct Client {
    http: reqwest::Client,
    dir: Value,
    key: PKey<Private>,
    jwk: Value,
    thumbprint: String,
    kid: Option<String>,
    nonce: Option<String>,
}

impl Client {
    async fn new(http: reqwest::Client, dir: Value) -> anyhow::Result<Client> {
        let key = signet_ca::key::KeyType::EcP256.generate()?;
        let ec = key.ec_key()?;
        let mut ctx = BigNumContext::new()?;
        let (mut x, mut y) = (BigNum::new()?, BigNum::new()?);
        ec.public_key()
            .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
        let (xs, ys) = (b64(&x.to_vec_padded(32)?), b64(&y.to_vec_padded(32)?));
        let jwk = json!({"crv": "P-256", "kty": "EC", "x": xs, "y": ys});
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{xs}","y":"{ys}"}}"#);
        let thumbprint = b64(&hash(MessageDigest::sha256(), canonical.as_bytes())?);
        Ok(Client {
            http,
            dir,
            key,
            jwk,
            thumbprint,
            kid: None,
            nonce: None,
        })
    }

    fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap_or_default().to_string()
    }

    fn sign(&self, input: &[u8]) -> anyhow::Result<Vec<u8>> {
        let digest = hash(MessageDigest::sha256(), input)?;
        let ec = self.key.ec_key()?;
        let sig = EcdsaSig::sign(&digest, &ec)?;
        let mut raw = sig.r().to_vec_padded(32)?;
        raw.extend(sig.s().to_vec_padded(32)?);
        Ok(raw)
    }

    async fn post(
        &mut self,
        url: &str,
        payload: Option<&Value>,
    ) -> anyhow::Result<(
        reqwest::StatusCode,
        reqwest::header::HeaderMap,
        bytes_like::Body,
    )> {
        for attempt in 0..3 {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => {
                    let r = self.http.head(self.url("newNonce")).send().await?;
                    r.headers()
                        .get("replay-nonce")
                        .context("no nonce")?
                        .to_str()?
                        .to_string()
                }
            };
            let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
            match &self.kid {
                Some(k) => protected["kid"] = json!(k),
                None => protected["jwk"] = self.jwk.clone(),
            }
            let p = b64(protected.to_string().as_bytes());
            let body = payload
                .map(|v| b64(v.to_string().as_bytes()))
                .unwrap_or_default();
            let sig = self.sign(format!("{p}.{body}").as_bytes())?;
            let jws = json!({"protected": p, "payload": body, "signature": b64(&sig)});
            let r = self
                .http
                .post(url)
                .header("content-type", "application/jose+json")
                .body(jws.to_string())
                .send()
                .await?;
            let status = r.status();
            let headers = r.headers().clone();
            self.nonce = headers
                .get("replay-nonce")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let bytes = r.bytes().await?.to_vec();
            if status.as_u16() == 400
                && attempt < 2
                && String::from_utf8_lossy(&bytes).contains("badNonce")
            {
                continue;
            }
            return Ok((status, headers, bytes_like::Body(bytes)));
        }
        bail!("badNonce three times")
    }
}

/// A tiny wrapper so JSON parsing errors say what the server sent.
mod bytes_like {
    pub struct Body(pub Vec<u8>);
    impl Body {
        pub fn json(&self) -> anyhow::Result<serde_json::Value> {
            serde_json::from_slice(&self.0).map_err(|_| {
                anyhow::anyhow!(
                    "non-JSON body: {}",
                    String::from_utf8_lossy(&self.0[..self.0.len().min(200)])
                )
            })
        }
    }
}

fn problem(status: reqwest::StatusCode, body: &bytes_like::Body) -> anyhow::Error {
    let v = body.json().unwrap_or(Value::Null);
    anyhow::anyhow!(
        "{} {}",
        status.as_u16(),
        v["type"]
            .as_str()
            .unwrap_or("unknown")
            .rsplit(':')
            .next()
            .unwrap_or("")
    )
}

async fn responder(port: u16, tokens: Tokens) -> anyhow::Result<()> {
    use axum::extract::{Path, State};
    async fn serve(
        State(t): State<Tokens>,
        Path(token): Path<String>,
    ) -> Result<String, axum::http::StatusCode> {
        t.lock()
            .expect("lock")
            .get(&token)
            .cloned()
            .ok_or(axum::http::StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            axum::routing::get(serve),
        )
        .with_state(tokens);
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("http-01 responder on 127.0.0.1:{port}"))?;
    tokio::spawn(async move { axum::serve(l, app).await });
    Ok(())
}

fn csr_der(key: &PKey<Private>, names: &[String]) -> anyhow::Result<Vec<u8>> {
    let mut b = openssl::x509::X509ReqBuilder::new()?;
    b.set_pubkey(key)?;
    let mut san = openssl::x509::extension::SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    let mut stack = openssl::stack::Stack::new()?;
    stack.push(san.build(&b.x509v3_context(None))?)?;
    b.add_extensions(&stack)?;
    b.sign(key, MessageDigest::sha256())?;
    Ok(b.build().to_der()?)
}

async fn poll(c: &mut Client, url: &str, want: &str) -> anyhow::Result<Value> {
    for _ in 0..200 {
        let (st, h, body) = c.post(url, None).await?;
        if !st.is_success() {
            return Err(problem(st, &body));
        }
        let v = body.json()?;
        match v["status"].as_str() {
            Some(s) if s == want => return Ok(v),
            Some("invalid") => bail!("invalid: {}", v["error"]["type"].as_str().unwrap_or("")),
            _ => {
                let wait = h
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_millis((wait * 1000).min(50))).await;
            }
        }
    }
    bail!("timed out waiting for {want}")
}

async fn flow(
    c: &mut Client,
    o: &Options,
    tokens: &Tokens,
    csr_key: &PKey<Private>,
    seq: u64,
    stats: &Mutex<Stats>,
) -> anyhow::Result<()> {
    let t = |s: &Mutex<Stats>, step, start: Instant| {
        s.lock().expect("lock").record(step, start.elapsed())
    };
    let n = 1 + (seq as usize % o.names);
    let names: Vec<String> = (0..n)
        .map(|i| format!("w{seq}-{i}-{}.{}", std::process::id(), o.domain))
        .collect();
    let ids: Vec<Value> = names
        .iter()
        .map(|n| json!({"type": "dns", "value": n}))
        .collect();
    let start = Instant::now();
    let (st, h, body) = c
        .post(&c.url("newOrder"), Some(&json!({"identifiers": ids})))
        .await?;
    if st.as_u16() != 201 {
        return Err(problem(st, &body));
    }
    t(stats, "new-order", start);
    let order_url = h
        .get("location")
        .context("order location")?
        .to_str()?
        .to_string();
    let order = body.json()?;
    for a in order["authorizations"]
        .as_array()
        .context("authorizations")?
    {
        let s = Instant::now();
        let (st, _, body) = c.post(a.as_str().unwrap_or_default(), None).await?;
        if !st.is_success() {
            return Err(problem(st, &body));
        }
        let authz = body.json()?;
        t(stats, "authz", s);
        let ch = authz["challenges"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
            .context("http-01 offered")?
            .clone();
        let token = ch["token"].as_str().context("token")?.to_string();
        tokens
            .lock()
            .expect("lock")
            .insert(token.clone(), format!("{token}.{}", c.thumbprint));
        let s = Instant::now();
        let (st, _, body) = c
            .post(ch["url"].as_str().unwrap_or_default(), Some(&json!({})))
            .await?;
        if !st.is_success() {
            return Err(problem(st, &body));
        }
        t(stats, "challenge", s);
        if body.json()?["status"] != "valid" {
            let s = Instant::now();
            poll(c, a.as_str().unwrap_or_default(), "valid").await?;
            t(stats, "poll-ready", s);
        }
        tokens.lock().expect("lock").remove(&token);
    }
    let s = Instant::now();
    poll(c, &order_url, "ready").await?;
    t(stats, "poll-ready", s);
    let s = Instant::now();
    let csr = csr_der(csr_key, &names)?;
    let (st, _, body) = c
        .post(
            order["finalize"].as_str().unwrap_or_default(),
            Some(&json!({"csr": b64(&csr)})),
        )
        .await?;
    if !st.is_success() {
        return Err(problem(st, &body));
    }
    t(stats, "finalize", s);
    let mut done = body.json()?;
    if done["status"] != "valid" {
        let s = Instant::now();
        done = poll(c, &order_url, "valid").await?;
        t(stats, "poll-valid", s);
    }
    let s = Instant::now();
    let (st, _, body) = c
        .post(
            done["certificate"].as_str().context("certificate url")?,
            None,
        )
        .await?;
    if !st.is_success() || !body.0.starts_with(b"-----BEGIN CERTIFICATE-----") {
        return Err(problem(st, &body));
    }
    t(stats, "download", s);
    if let Some(path) = &o.record {
        record_serial(path, &body.0)?;
    }
    t(stats, "flow", start);
    Ok(())
}

/// Append the leaf's serial to the record file: one write of the whole
/// line, which O_APPEND keeps from interleaving with the other workers'.
fn record_serial(path: &std::path::Path, pem_chain: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let leaf = openssl::x509::X509::from_pem(pem_chain)?;
    let line = format!(
        "{}\n",
        leaf.serial_number()
            .to_bn()?
            .to_hex_str()?
            .to_ascii_lowercase()
    );
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(line.as_bytes())?;
    Ok(())
}

/// Errors are counted by kind: a transport error's URL would make every
/// one of them a kind of its own.
fn error_kind(e: &anyhow::Error) -> String {
    match e.downcast_ref::<reqwest::Error>() {
        Some(r) if r.is_timeout() => "timeout".into(),
        Some(r) => {
            let text = r.to_string();
            match r.url() {
                Some(u) => text.replace(&format!(" for url ({u})"), ""),
                None => text,
            }
        }
        None => e.to_string(),
    }
}

fn eab_jws(c: &Client, kid: &str, hmac_key: &[u8], url: &str) -> anyhow::Result<Value> {
    let p = b64(json!({"alg": "HS256", "kid": kid, "url": url})
        .to_string()
        .as_bytes());
    let pl = b64(c.jwk.to_string().as_bytes());
    let mac = signet_ca::jose::hmac("HS256", hmac_key, format!("{p}.{pl}").as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json!({"protected": p, "payload": pl, "signature": b64(&mac)}))
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    let mut b = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency * 2)
        .timeout(o.request_timeout);
    if let Some(p) = &o.ca_bundle {
        for c in reqwest::Certificate::from_pem_bundle(&std::fs::read(p)?)? {
            b = b.add_root_certificate(c);
        }
    }
    let http = b.build()?;
    let dir: Value = http
        .get(&o.directory)
        .send()
        .await?
        .json()
        .await
        .context("directory")?;
    let tokens: Tokens = Arc::default();
    responder(o.http_port, tokens.clone()).await?;
    let csr_key = signet_ca::key::KeyType::EcP256.generate()?;
    let stats = Arc::new(Mutex::new(Stats::default()));
    let o = Arc::new(o);
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Accounts first, so flows/s measures issuance, not registration.
    let mut clients = Vec::new();
    for _ in 0..o.concurrency {
        let mut c = Client::new(http.clone(), dir.clone()).await?;
        let s = Instant::now();
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some((kid, key)) = &o.eab {
            payload["externalAccountBinding"] = eab_jws(&c, kid, key, &c.url("newAccount"))?;
        }
        let (st, h, body) = c.post(&c.url("newAccount"), Some(&payload)).await?;
        if !st.is_success() {
            return Err(problem(st, &body)).context("new account");
        }
        c.kid = Some(
            h.get("location")
                .context("account location")?
                .to_str()?
                .to_string(),
        );
        stats
            .lock()
            .expect("lock")
            .record("new-account", s.elapsed());
        clients.push(c);
    }
    let meter = crate::measure::CpuMeter::start(o.server_pid);
    let started = Instant::now();
    let deadline = started + o.duration;
    let mut tasks = Vec::new();
    for mut c in clients {
        let (o, tokens, csr_key, stats, counter) = (
            o.clone(),
            tokens.clone(),
            csr_key.clone(),
            stats.clone(),
            counter.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let seq = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seq >= o.max_flows {
                    break;
                }
                match flow(&mut c, &o, &tokens, &csr_key, seq, &stats).await {
                    Ok(()) => stats.lock().expect("lock").flows += 1,
                    Err(e) => {
                        *stats
                            .lock()
                            .expect("lock")
                            .errors
                            .entry(error_kind(&e))
                            .or_default() += 1
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu_use = meter.finish();
    let cpu = cpu_use.server;
    let s = stats.lock().expect("lock");
    let mut steps = serde_json::Map::new();
    for step in STEPS.iter().chain(std::iter::once(&"flow")) {
        if let Some(h) = s.hist.get(step) {
            let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            steps.insert(
                step.to_string(),
                json!({"count": h.len(), "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99)}),
            );
        }
    }
    let report = json!({
        "directory": o.directory,
        "concurrency": o.concurrency,
        "flows": s.flows,
        "seconds": wall,
        "flows_per_second": s.flows as f64 / wall,
        "server_cpu_seconds": cpu,
        "server_cpu_ms_per_flow": cpu.map(|c| if s.flows > 0 { c * 1000.0 / s.flows as f64 } else { 0.0 }),
        "cpu": cpu_use.report(s.flows),
        "errors": s.errors,
        "steps": steps,
        "validation": "real http-01 (served by the load generator on 127.0.0.1)",
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if s.flows == 0 {
        bail!("no flow completed: {:?}", s.errors);
    }
    Ok(())
}
