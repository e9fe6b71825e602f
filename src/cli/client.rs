//! The admin commands are clients of the REST API, as `vault` and `step`
//! are: they work against a remote server and PostgreSQL replicas alike, and
//! each action is authorised and audited as the token's identity.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the API is and who calls it. Unset, they come from the local data
/// directory: the URL `signet serve` recorded in `server.url` (else the
/// configured one), `admin.token` and `root.pem`.
#[derive(clap::Args, Clone)]
pub struct Remote {
    /// Base URL of the server, e.g. https://ca.corp.example.com:8443
    #[arg(long, env = "SIGNET_URL", global = true)]
    pub url: Option<String>,
    /// API token (default: <data-dir>/admin.token).
    #[arg(long, env = "SIGNET_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate(s) to trust for the server's TLS (default: <data-dir>/root.pem).
    #[arg(long, env = "SIGNET_CA_FILE", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Data directory to take the defaults from (default ./signet-data).
    #[arg(long, env = "SIGNET_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

pub struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    pub json: bool,
}

/// One entry of an error's `details`, the way a person reads it: a field
/// and its message, a broken policy rule, or else the JSON.
fn detail_line(d: &Value) -> String {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    match (
        d["field"].as_str(),
        d["message"].as_str(),
        d["rule"].as_str(),
    ) {
        (Some(f), Some(m), _) => format!("{f}: {m}"),
        (_, _, Some(rule)) => format!(
            "{rule}: {:?} is not allowed (allowed: {})",
            text(&d["offending_value"]),
            text(&d["allowed"])
        ),
        _ => d.to_string(),
    }
}

/// An answer that is not a success, in the API's error shape.
fn failure(status: StatusCode, body: &[u8]) -> anyhow::Error {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    match e["message"].as_str() {
        Some(m) => {
            let details: Vec<String> = e["details"]
                .as_array()
                .map(|ds| ds.iter().map(detail_line).collect())
                .unwrap_or_default();
            anyhow::anyhow!(
                "{} ({}, {}){}{}",
                m,
                e["code"].as_str().unwrap_or("error"),
                status.as_u16(),
                e["request_id"]
                    .as_str()
                    .map(|r| format!(", request {r}"))
                    .unwrap_or_default(),
                if details.is_empty() {
                    String::new()
                } else {
                    format!("\n  {}", details.join("\n  "))
                }
            )
        }
        None => anyhow::anyhow!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(body)
                .chars()
                .take(300)
                .collect::<String>()
        ),
    }
}

impl Remote {
    pub fn connect(&self) -> anyhow::Result<Client> {
        let dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("signet-data"));
        let recorded = std::fs::read_to_string(dir.join("server.url")).ok();
        let base = match self.url.as_ref().or(recorded.as_ref()) {
            Some(u) => u.trim().trim_end_matches('/').to_string(),
            None => {
                let cfg = signet::config::Config::load(Some(&dir), None).with_context(|| {
                    format!("no --url, and no configuration in {}", dir.display())
                })?;
                signet::server::base_url("https", &cfg.public_url, cfg.listen)
            }
        };
        let token = match &self.token {
            Some(t) => t.trim().to_string(),
            None => read(&dir.join("admin.token"), "--token")?
                .trim()
                .to_string(),
        };
        let mut http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .user_agent(concat!("signet-cli/", env!("CARGO_PKG_VERSION")));
        let ca = self.ca_file.clone().unwrap_or_else(|| dir.join("root.pem"));
        if ca.exists() {
            for c in reqwest::Certificate::from_pem_bundle(read(&ca, "--ca-file")?.as_bytes())? {
                http = http.add_root_certificate(c);
            }
        } else if self.ca_file.is_some() {
            bail!("{} does not exist", ca.display());
        }
        Ok(Client {
            base,
            token,
            http: http.build()?,
            json: self.json,
        })
    }
}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} (give {flag})", path.display()))
}

impl Client {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let (status, headers) = (r.status(), r.headers().clone());
        let bytes = r.bytes().await?.to_vec();
        if !status.is_success() {
            return Err(failure(status, &bytes));
        }
        Ok((status, headers, bytes))
    }

    /// A JSON answer and its status.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let (status, _, bytes) = self.send(method, path, body).await?;
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, v))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self.call(Method::GET, path, None).await?.1)
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<()> {
        self.call(Method::DELETE, path, None).await.map(|_| ())
    }

    /// A download (an export, a chain): its bytes.
    pub async fn download(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Vec<u8>> {
        Ok(self.send(method, path, body).await?.2)
    }

    /// Print a JSON value as it is, or hand it to `text` for people.
    pub fn show(&self, v: &Value, text: impl FnOnce(&Value)) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            text(v);
        }
    }
}

/// A string field, or "" when absent.
pub fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// Every item of a list, across its pages (up to `max`).
pub async fn all_items(c: &Client, path: &str, max: usize) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(cur) => format!("{path}{sep}cursor={cur}"),
            None => path.to_string(),
        };
        let page = c.get(&url).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() || items.len() >= max {
            items.truncate(max);
            return Ok(items);
        }
    }
}
