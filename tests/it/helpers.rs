//! `spawn_app()`: the real server on 127.0.0.1:0 with a fresh database.
//! With PG_TEST_URL set, each app gets its own PostgreSQL database.

use std::path::{Path, PathBuf};
use std::process::Command;

use openssl::pkey::{PKey, Private};
use openssl::x509::{X509, X509NameBuilder, X509ReqBuilder};
use serde_json::Value;
use signet::bootstrap::{self, InitOptions};
use signet::config::Config;
use signet::{AppState, server};
use signet_ca::key::KeyType;
use tokio::sync::oneshot;

pub struct TestApp {
    pub app: AppState,
    pub https_url: String,
    pub http_url: String,
    /// Where the HTTPS listener is bound (differs from `https_url` when `public_url` is set).
    pub https_bound: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
    /// The HTTPS listener's certificate (renewable in place).
    pub tls: std::sync::Arc<server::ServerTls>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

/// A fresh database URL for one app: SQLite in `dir`, or a new PostgreSQL database.
pub async fn fresh_database(dir: &Path) -> String {
    match std::env::var("PG_TEST_URL") {
        Ok(base) => {
            sqlx::any::install_default_drivers();
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::AnyPool::connect(&base)
                .await
                .expect("PG_TEST_URL reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let (prefix, _) = base.rsplit_once('/').expect("PG_TEST_URL ends in /dbname");
            format!("{prefix}/{name}")
        }
        Err(_) => format!("sqlite://{}", dir.join("signet.db").display()),
    }
}

pub fn test_config(dir: &Path, database_url: String) -> Config {
    let mut cfg = Config {
        data_dir: dir.to_path_buf(),
        database_url,
        ..Default::default()
    };
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.http_listen = "127.0.0.1:0".parse().unwrap();
    cfg
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let tmp = tempfile::tempdir().unwrap();
    let db = fresh_database(tmp.path()).await;
    let mut cfg = test_config(tmp.path(), db);
    tweak(&mut cfg);
    let mut t = start(cfg).await;
    t._tmp = Some(tmp);
    t
}

/// Start on an existing config (e.g. to restart on the same data dir).
pub async fn start(cfg: Config) -> TestApp {
    let https = tokio::net::TcpListener::bind(cfg.listen).await.unwrap();
    let http = tokio::net::TcpListener::bind(cfg.http_listen)
        .await
        .unwrap();
    let https_url = server::base_url("https", &cfg.public_url, https.local_addr().unwrap());
    let https_bound = server::base_url("https", "", https.local_addr().unwrap());
    let http_url = server::base_url("http", "", http.local_addr().unwrap());
    let dir = cfg.data_dir.clone();
    let app = bootstrap::start(
        cfg,
        &InitOptions::default(),
        https_url.clone(),
        http_url.clone(),
    )
    .await
    .unwrap();
    let (cert, key) = bootstrap::ensure_tls_cert(&app).await.unwrap();
    let tls = server::ServerTls::new(server::tls_acceptor(&cert, &key).unwrap());
    let tls_for_server = tls.clone();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn({
        let app = app.clone();
        async move {
            server::run(app, https, http, tls_for_server, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        }
    });
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(dir.join("root.pem")).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    TestApp {
        app,
        https_url,
        http_url,
        https_bound,
        dir,
        client,
        tls,
        stop: Some(tx),
        task: Some(task),
        _tmp: None,
    }
}

impl TestApp {
    /// Stop the server and close the store; returns the config to restart with.
    pub async fn stop(mut self) -> (Config, Option<tempfile::TempDir>) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
        self.app.store.close().await;
        let mut cfg = self.app.config.clone();
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.http_listen = "127.0.0.1:0".parse().unwrap();
        (cfg, self._tmp.take())
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    /// Run the `signet` CLI against this server (its URL and root; the token
    /// from the data dir unless `args` give one).
    /// Async: the server answering it runs on this test's runtime.
    pub async fn cli(&self, args: &[&str]) -> std::process::Output {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(args)
            .arg("--url")
            .arg(&self.https_url)
            .arg("--data-dir")
            .arg(&self.dir)
            .env_remove("SIGNET_TOKEN")
            .output()
            .await
            .unwrap()
    }

    /// `cli` that must succeed: its stdout.
    pub async fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

/// A PEM CSR for `names` (first name is the CN) with a fresh key.
pub fn csr(kt: KeyType, names: &[&str]) -> (Vec<u8>, PKey<Private>) {
    let key = kt.generate().unwrap();
    (csr_with_key(&key, names), key)
}

pub fn csr_with_key(key: &PKey<Private>, names: &[&str]) -> Vec<u8> {
    let cn = names.first().map(|first| {
        let mut n = X509NameBuilder::new().unwrap();
        n.append_entry_by_text("CN", first).unwrap();
        n.build()
    });
    csr_with_subject(key, cn.as_ref(), if cn.is_some() { names } else { &[] })
}

/// A PEM CSR for `key` with this subject and these SANs (IP addresses or
/// DNS names).
pub fn csr_with_subject(
    key: &PKey<Private>,
    subject: Option<&openssl::x509::X509Name>,
    sans: &[&str],
) -> Vec<u8> {
    let mut b = X509ReqBuilder::new().unwrap();
    b.set_pubkey(key).unwrap();
    if let Some(n) = subject {
        b.set_subject_name(n).unwrap();
    }
    if !sans.is_empty() {
        let mut san = openssl::x509::extension::SubjectAlternativeName::new();
        for s in sans {
            if s.parse::<std::net::IpAddr>().is_ok() {
                san.ip(s);
            } else {
                san.dns(s);
            }
        }
        let mut stack = openssl::stack::Stack::new().unwrap();
        stack
            .push(san.build(&b.x509v3_context(None)).unwrap())
            .unwrap();
        b.add_extensions(&stack).unwrap();
    }
    b.sign(key, signet_ca::key::signing_digest(key)).unwrap();
    b.build().to_pem().unwrap()
}

/// `openssl verify` a certificate (DER or PEM chain, leaf first) against root.pem.
pub fn openssl_verify(dir: &Path, leaf_and_chain_pem: &[u8]) {
    let certs = X509::stack_from_pem(leaf_and_chain_pem).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let leaf = tmp.path().join("leaf.pem");
    let chain = tmp.path().join("chain.pem");
    std::fs::write(&leaf, certs[0].to_pem().unwrap()).unwrap();
    let mut rest = Vec::new();
    for c in &certs[1..] {
        rest.extend(c.to_pem().unwrap());
    }
    if rest.is_empty() {
        rest = std::fs::read(dir.join("ca-chain.pem")).unwrap();
    }
    std::fs::write(&chain, rest).unwrap();
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.join("root.pem"))
        .arg("-untrusted")
        .arg(&chain)
        .arg(&leaf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One string field of every item in a list response (`{"items": [...]}`).
pub fn item_strs<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap())
        .collect()
}

pub fn der_to_pem(der: &[u8]) -> Vec<u8> {
    X509::from_der(der).unwrap().to_pem().unwrap()
}

/// A REST client with one bearer token.
pub struct Api<'a> {
    pub t: &'a TestApp,
    pub token: String,
}

impl<'a> Api<'a> {
    /// With the admin token made at first start.
    pub fn admin(t: &'a TestApp) -> Api<'a> {
        Api {
            t,
            token: t.admin_token(),
        }
    }
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .t
            .client
            .request(method, format!("{}{path}", self.t.https_url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
}

/// Ids of the certificates in a status, oldest first.
pub async fn ids_in_status(t: &TestApp, status: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT id FROM certificates WHERE status = $1 ORDER BY id")
        .bind(status.to_string())
        .fetch_all(&t.app.store.read)
        .await
        .unwrap()
}

/// `signet serve` as a process on free ports, with extra environment; the
/// child and its `https:` and `http:` URLs once it printed them.
pub async fn serve(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, String) {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_signet"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(dir)
    .env_remove("RUST_LOG")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut https, mut http) = (String::new(), String::new());
    while let Ok(Ok(Some(l))) =
        tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line()).await
    {
        if let Some(u) = l.strip_prefix("https: ") {
            https = u.to_string();
        } else if let Some(u) = l.strip_prefix("http: ") {
            http = u.to_string();
        } else if l.starts_with("admin token") {
            break;
        }
    }
    assert!(!https.is_empty() && !http.is_empty(), "serve did not start");
    (child, https, http)
}

/// Stop the child and return what it wrote to stderr.
pub async fn stderr_of(mut child: tokio::process::Child) -> String {
    use tokio::io::AsyncReadExt;
    child.start_kill().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    child.wait().await.unwrap();
    err
}

/// A TLS connection to the app's HTTPS listener, verified against root.pem.
pub async fn tls_connect(t: &TestApp) -> tokio_openssl::SslStream<tokio::net::TcpStream> {
    let mut ctx = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    ctx.set_ca_file(t.dir.join("root.pem")).unwrap();
    let addr = t.https_bound.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let ssl = ctx
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    std::pin::Pin::new(&mut s).connect().await.unwrap();
    s
}
