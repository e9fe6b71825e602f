//! Rotation: deliver a certificate to where it is used. A target belongs to
//! a line of renewals: it sits on the newest certificate, moves to each
//! successor when that is active, and a delivery of the successor is
//! recorded in the same transaction. Deliveries run in a leased job, are
//! retried with backoff, and keep their outcome (HTTP status or error,
//! duration) for the history.
//!
//! Kinds: `file` writes PEM files atomically (a temporary file, fsync,
//! rename) into a directory that `lifecycle.file_target_dirs` allows;
//! `webhook` POSTs a signed JSON document (`webhook.rs`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{backoff, webhook};
use crate::core_state::Core;
use crate::store::batch::Stmt;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, Tx, new_id, now};

/// Where a `file` target writes. File names are plain names inside
/// `directory`; modes are octal.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FileTarget {
    /// An absolute directory inside one of `lifecycle.file_target_dirs`.
    pub directory: PathBuf,
    pub cert_file: String,
    pub chain_file: String,
    /// The certificate followed by the chain.
    pub fullchain_file: String,
    /// Written only when the target has `include_key` and Signet holds the key.
    pub key_file: String,
    pub mode: String,
    pub key_mode: String,
}

impl Default for FileTarget {
    fn default() -> Self {
        FileTarget {
            directory: PathBuf::new(),
            cert_file: "cert.pem".into(),
            chain_file: "chain.pem".into(),
            fullchain_file: "fullchain.pem".into(),
            key_file: "key.pem".into(),
            mode: "0644".into(),
            key_mode: "0600".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// https:// (http:// only with `lifecycle.allow_http_webhooks`).
    pub url: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetRow {
    pub id: String,
    pub certificate_id: String,
    pub name: String,
    pub kind: String,
    pub config: String,
    pub include_key: i64,
    pub secret_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const TARGET_COLUMNS: &str =
    "id, certificate_id, name, kind, config, include_key, secret_sealed, created_at, updated_at";

/// Whether a certificate's rotation config delivers renewals (default yes).
pub fn enabled(config: Option<&str>) -> bool {
    config
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .and_then(|v| v["enabled"].as_bool())
        .unwrap_or(true)
}

fn octal(mode: &str) -> Result<u32, String> {
    u32::from_str_radix(mode.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("mode {mode:?} is not an octal file mode"))
}

fn plain_name(n: &str) -> Result<(), String> {
    if n.is_empty() || n.contains('/') || n == "." || n == ".." || n.starts_with('.') {
        Err(format!("{n:?} must be a plain file name"))
    } else {
        Ok(())
    }
}

/// Check a target's kind and configuration; the normalised configuration.
pub fn check_config(core: &Core, kind: &str, config: Value) -> Result<Value, String> {
    match kind {
        "file" => {
            let f: FileTarget =
                serde_json::from_value(config).map_err(|e| format!("file target: {e}"))?;
            let dir = f
                .directory
                .canonicalize()
                .map_err(|e| format!("directory {}: {e}", f.directory.display()))?;
            let allowed = core
                .config
                .lifecycle
                .file_target_dirs
                .iter()
                .any(|base| base.canonicalize().is_ok_and(|b| dir.starts_with(&b)));
            if !allowed {
                return Err(format!(
                    "directory {} is not inside lifecycle.file_target_dirs in signet.toml",
                    dir.display()
                ));
            }
            for n in [&f.cert_file, &f.chain_file, &f.fullchain_file, &f.key_file] {
                plain_name(n)?;
            }
            octal(&f.mode)?;
            octal(&f.key_mode)?;
            Ok(serde_json::to_value(FileTarget {
                directory: dir,
                ..f
            })
            .map_err(|e| e.to_string())?)
        }
        "webhook" => {
            let w: WebhookTarget =
                serde_json::from_value(config).map_err(|e| format!("webhook target: {e}"))?;
            webhook::check_url(core, &w.url)?;
            Ok(serde_json::to_value(w).map_err(|e| e.to_string())?)
        }
        other => Err(format!("unknown target kind {other:?} (file, webhook)")),
    }
}

/// A new webhook secret: shown once, stored sealed.
pub fn new_secret(core: &Core, target_id: &str) -> Result<(String, Vec<u8>), String> {
    let mut raw = [0u8; 32];
    openssl::rand::rand_bytes(&mut raw).map_err(|e| e.to_string())?;
    let secret = signet_ca::serial::to_hex(&raw);
    let sealed = signet_ca::key::seal(&core.master_key, target_id.as_bytes(), secret.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok((secret, sealed))
}

/// The newest active certificate of `id`'s line of renewals.
pub async fn line_head(core: &Core, id: &str) -> Result<String, StoreError> {
    let mut cur = id.to_string();
    for _ in 0..1000 {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT id FROM certificates WHERE replaces_id = $1 AND status = 'active' ORDER BY id DESC LIMIT 1",
        )
        .bind(cur.clone())
        .fetch_optional(&core.store.read)
        .await?;
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    Ok(cur)
}

/// Statements that move a line's targets to its successor.
pub fn follow_stmts(pred: &str, succ: &str) -> Vec<Stmt> {
    vec![
        Stmt::new("UPDATE rotation_targets SET certificate_id = $1, updated_at = $2 WHERE certificate_id = $3")
            .bind(succ.to_string())
            .bind(now())
            .bind(pred.to_string()),
    ]
}

fn delivery_stmt(id: &str, target_id: &str, cert_id: &str, reason: &str) -> Stmt {
    let t = now();
    Stmt::new(
        "INSERT INTO deliveries (id, target_id, certificate_id, reason, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
    )
    .bind(id.to_string())
    .bind(target_id.to_string())
    .bind(cert_id.to_string())
    .bind(reason.to_string())
    .bind(t)
}

/// A delivery of `succ` to every target of the line (read inside `tx`,
/// before the targets move).
pub async fn delivery_stmts_for_line(
    tx: &mut Tx,
    pred: &str,
    succ: &str,
    reason: &str,
) -> Result<Vec<Stmt>, StoreError> {
    let targets: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM rotation_targets WHERE certificate_id = $1 OR certificate_id = $2",
    )
    .bind(pred.to_string())
    .bind(succ.to_string())
    .fetch_all(&mut **tx)
    .await?;
    Ok(targets
        .iter()
        .map(|t| delivery_stmt(&new_id(), t, succ, reason))
        .collect())
}

/// Record a delivery of the target's current certificate (`sync`); its id.
pub async fn enqueue(core: &Core, target: &TargetRow, reason: &str) -> Result<String, StoreError> {
    let id = new_id();
    delivery_stmt(&id, &target.id, &target.certificate_id, reason)
        .execute(&core.store.write)
        .await?;
    Ok(id)
}

/// What a delivery carries: the certificate, its chain, and the key when
/// asked for and held.
struct Material {
    cert_pem: String,
    chain_pem: String,
    key_pem: Option<String>,
}

async fn material(core: &Core, row: &CertRow, include_key: bool) -> Result<Material, String> {
    let der = row.der.as_ref().ok_or("the certificate is not issued")?;
    let cert = openssl::x509::X509::from_der(der).map_err(|e| e.to_string())?;
    let issuer = core
        .cas
        .get(&core.store, &core.master_key, &row.ca_id)
        .await
        .map_err(|e| e.to_string())?;
    let mut chain_pem =
        String::from_utf8_lossy(&issuer.cert.to_pem().map_err(|e| e.to_string())?).into_owned();
    for c in &issuer.chain {
        chain_pem.push_str(&String::from_utf8_lossy(
            &c.to_pem().map_err(|e| e.to_string())?,
        ));
    }
    let key_pem = match (&row.key_sealed, include_key) {
        (Some(sealed), true) => {
            let k = signet_ca::key::open_key(&core.master_key, row.id.as_bytes(), sealed)
                .map_err(|e| e.to_string())?;
            Some(
                String::from_utf8_lossy(&k.private_key_to_pem_pkcs8().map_err(|e| e.to_string())?)
                    .into_owned(),
            )
        }
        (None, true) => {
            return Err("the target asks for the key, and Signet does not hold it".into());
        }
        _ => None,
    };
    Ok(Material {
        cert_pem: String::from_utf8_lossy(&cert.to_pem().map_err(|e| e.to_string())?).into_owned(),
        chain_pem,
        key_pem,
    })
}

/// Replace `dir/name` atomically: a reader sees the old file or the new one.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> Result<(), String> {
    let tmp = dir.join(format!(".{name}.signet-{}", new_id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(name))?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

fn deliver_file(config: &str, m: &Material) -> Result<(), String> {
    let f: FileTarget = serde_json::from_str(config).map_err(|e| e.to_string())?;
    let mode = octal(&f.mode)?;
    // The key first: a reader that sees the new certificate finds its key.
    if let Some(k) = &m.key_pem {
        write_atomically(&f.directory, &f.key_file, k.as_bytes(), octal(&f.key_mode)?)?;
    }
    write_atomically(&f.directory, &f.chain_file, m.chain_pem.as_bytes(), mode)?;
    write_atomically(
        &f.directory,
        &f.fullchain_file,
        format!("{}{}", m.cert_pem, m.chain_pem).as_bytes(),
        mode,
    )?;
    write_atomically(&f.directory, &f.cert_file, m.cert_pem.as_bytes(), mode)
}

/// Run one delivery: (HTTP status, error).
async fn deliver(
    core: &Core,
    target: &TargetRow,
    cert_id: &str,
    reason: &str,
) -> (Option<i64>, Option<String>) {
    let row = match certs::get(&core.store.read, cert_id).await {
        Ok(r) => r,
        Err(e) => return (None, Some(e.to_string())),
    };
    let m = match material(core, &row, target.include_key != 0).await {
        Ok(m) => m,
        Err(e) => return (None, Some(e)),
    };
    match target.kind.as_str() {
        "file" => (None, deliver_file(&target.config, &m).err()),
        "webhook" => {
            let url = serde_json::from_str::<WebhookTarget>(&target.config).map(|w| w.url);
            let secret = target
                .secret_sealed
                .as_deref()
                .ok_or_else(|| "no secret".to_string())
                .and_then(|s| {
                    signet_ca::key::open(&core.master_key, target.id.as_bytes(), s)
                        .map_err(|e| e.to_string())
                });
            let (url, secret) = match (url, secret) {
                (Ok(u), Ok(s)) => (u, s),
                (Err(e), _) => return (None, Some(e.to_string())),
                (_, Err(e)) => return (None, Some(e)),
            };
            let summary = super::certificate_summary(core, cert_id)
                .await
                .unwrap_or(Value::Null);
            let mut doc = json!({
                "event": "certificate.delivered", "reason": reason, "target_id": target.id,
                "certificate_id": row.id, "serial": row.serial,
                "not_after": row.not_after.map(crate::timefmt::rfc3339),
                "certificate": summary, "certificate_pem": m.cert_pem, "chain_pem": m.chain_pem,
            });
            if let Some(k) = m.key_pem {
                doc["private_key_pem"] = json!(k);
            }
            match webhook::post(core, &url, &secret, &doc).await {
                Ok(s) if (200..300).contains(&s) => (Some(i64::from(s)), None),
                Ok(s) => (Some(i64::from(s)), Some(format!("HTTP {s}"))),
                Err(e) => (None, Some(e)),
            }
        }
        other => (None, Some(format!("unknown target kind {other:?}"))),
    }
}

/// Run the deliveries that are due; each failure waits longer before the
/// next attempt, and after `lifecycle.delivery_attempts` it is `failed`.
pub async fn run_round(core: &Core) -> Result<(), StoreError> {
    type Due = (String, String, String, String, i64);
    let due: Vec<Due> = sqlx::query_as(
        "SELECT id, target_id, certificate_id, reason, attempts FROM deliveries \
         WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 100",
    )
    .bind(now())
    .fetch_all(&core.store.read)
    .await?;
    for (id, target_id, cert_id, reason, attempts) in due {
        let target: Option<TargetRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TARGET_COLUMNS} FROM rotation_targets WHERE id = $1"
        )))
        .bind(target_id)
        .fetch_optional(&core.store.read)
        .await?;
        let Some(target) = target else { continue };
        let started = Instant::now();
        let (http_status, error) = deliver(core, &target, &cert_id, &reason).await;
        let elapsed = started.elapsed().as_millis() as i64;
        let last = attempts + 1 >= i64::from(core.config.lifecycle.delivery_attempts);
        let status = match (&error, last) {
            (None, _) => "succeeded",
            (Some(_), true) => "failed",
            (Some(_), false) => "pending",
        };
        core.metrics.delivery(status);
        tracing::info!(delivery = %id, target = %target.id, kind = %target.kind, status, error = ?error, "delivery");
        sqlx::query(
            "UPDATE deliveries SET status = $1, attempts = attempts + 1, http_status = $2, error = $3, duration_ms = $4, \
             next_attempt_at = $5, finished_at = CASE WHEN $1 = 'pending' THEN NULL ELSE $6 END WHERE id = $7",
        )
        .bind(status)
        .bind(http_status)
        .bind(error)
        .bind(elapsed)
        .bind(now() + backoff(core, attempts + 1))
        .bind(now())
        .bind(id)
        .execute(&core.store.write)
        .await?;
    }
    Ok(())
}
