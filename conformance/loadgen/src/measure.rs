//! In-process measurements against a real data dir and store.

use std::path::Path;
use std::time::Instant;

use signet::bootstrap::{self, InitOptions};
use signet::config::Config;
use signet::revocation::crl::{self, CrlKind};
use signet::server::base_url;
use signet::store::now;

async fn open(data_dir: &Path) -> anyhow::Result<signet::AppState> {
    let cfg = Config::load(Some(data_dir), None)?;
    let https = base_url("https", &cfg.public_url, cfg.listen);
    let http = base_url("http", &cfg.public_http_url, cfg.http_listen);
    bootstrap::start(cfg, &InitOptions::default(), https, http).await
}

/// Peak resident set size of this process, from /proc (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// User + system CPU seconds of this process.
pub fn cpu_seconds() -> f64 {
    proc_cpu_seconds("self")
}

/// Where the CPU went during a run: the server process (when a pid was
/// given), this load generator, and the whole machine (from /proc/stat), so
/// a report shows both cost per unit and whether the cores were saturated.
pub struct CpuMeter {
    pid: Option<u32>,
    at_start: f64,
    self_at_start: f64,
    machine_at_start: (f64, f64),
}

/// What a run cost, in CPU seconds.
pub struct CpuUse {
    pub server: Option<f64>,
    pub loadgen: f64,
    /// Busy CPU seconds of all cores (user, nice, system, irq, softirq, steal).
    pub machine_busy: f64,
    /// All CPU seconds the cores had (busy + idle + iowait).
    pub machine_total: f64,
}

impl CpuMeter {
    pub fn start(pid: Option<u32>) -> CpuMeter {
        let at_start = pid.map(|p| proc_cpu_seconds(&p.to_string())).unwrap_or(0.0);
        CpuMeter {
            pid,
            at_start,
            self_at_start: cpu_seconds(),
            machine_at_start: machine_cpu_seconds(),
        }
    }
    fn seconds(&self) -> Option<f64> {
        self.pid
            .map(|p| proc_cpu_seconds(&p.to_string()) - self.at_start)
    }
    pub fn finish(&self) -> CpuUse {
        let (busy, total) = machine_cpu_seconds();
        CpuUse {
            server: self.seconds(),
            loadgen: cpu_seconds() - self.self_at_start,
            machine_busy: busy - self.machine_at_start.0,
            machine_total: total - self.machine_at_start.1,
        }
    }
}

impl CpuUse {
    /// Per-unit figures for a report, in milliseconds of CPU.
    pub fn report(&self, units: u64) -> serde_json::Value {
        let per = |s: f64| {
            if units > 0 {
                s * 1000.0 / units as f64
            } else {
                0.0
            }
        };
        serde_json::json!({
            "server_ms_per_unit": self.server.map(per),
            "loadgen_ms_per_unit": per(self.loadgen),
            "machine_busy_ms_per_unit": per(self.machine_busy),
            "machine_busy_fraction": if self.machine_total > 0.0 { self.machine_busy / self.machine_total } else { 0.0 },
        })
    }
}

/// (busy, total) CPU seconds of all cores since boot.
fn machine_cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0.0);
    // user nice system idle iowait irq softirq steal
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    (busy / 100.0, (busy + at(3) + at(4)) / 100.0)
}

fn proc_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

pub async fn seed_revoked(data_dir: &Path, count: u64) -> anyhow::Result<()> {
    let app = open(data_dir).await?;
    let ca = app.cas.default_id(&app.store).await?;
    let t = now();
    let start = Instant::now();
    const BATCH: u64 = 500;
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let mut sql = String::from(
            "INSERT INTO certificates (id, ca_id, serial, status, subject, common_name, sans, not_before, not_after, key_type, public_key, plan, \
             channel, requested_by, revoked_at, revocation_reason, created_at, updated_at) VALUES ",
        );
        for i in 0..n {
            let k = done + i;
            let serial = signet_ca::serial::to_hex(&signet_ca::serial::random()?);
            let reason = [0, 1, 4, 5][(k % 4) as usize];
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('seed{k:012}','{ca}','{serial}','revoked','CN=seed{k}','seed{k}','[\"seed{k}.bench.test\"]',{nb},{na},'ec-p256',X'00','{{}}','api','bench',{ra},{reason},{t},{t})",
                nb = t - 86400,
                na = t + 86400 * 90,
                ra = t - (k % 86400) as i64,
            ));
        }
        let mut tx = app.store.write.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        done += n;
    }
    println!(
        "seeded {count} revoked certificates in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn crl(data_dir: &Path) -> anyhow::Result<()> {
    let app = open(data_dir).await?;
    let ca = app.cas.default_id(&app.store).await?;
    let rss_before = peak_rss_mib();
    let start = Instant::now();
    let row = crl::publish(&app, &ca, CrlKind::Full).await?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"entries": row.entries, "crl_bytes": row.der.len(), "seconds": secs, "peak_rss_mib_before": rss_before, "peak_rss_mib": peak_rss_mib()})
    );
    Ok(())
}

pub async fn ocsp(data_dir: &Path, count: u64) -> anyhow::Result<()> {
    use openssl::hash::MessageDigest;
    let app = open(data_dir).await?;
    let ca = app.cas.default_id(&app.store).await?;
    let issuer = app.cas.get(&app.store, &app.master_key, &ca).await?;
    // One real request for a revoked serial of this CA, built by openssl.
    let serial: String = sqlx::query_scalar(
        "SELECT serial FROM certificates WHERE ca_id = $1 AND der IS NOT NULL LIMIT 1",
    )
    .bind(ca.clone())
    .fetch_one(&app.store.read)
    .await?;
    let mut req = openssl::ocsp::OcspRequest::new()?;
    // OcspCertId::from_cert needs a subject certificate: use the stored leaf.
    let der: Vec<u8> = sqlx::query_scalar("SELECT der FROM certificates WHERE serial = $1")
        .bind(serial)
        .fetch_one(&app.store.read)
        .await?;
    let leaf = openssl::x509::X509::from_der(&der)?;
    req.add_id(openssl::ocsp::OcspCertId::from_cert(
        MessageDigest::sha1(),
        &leaf,
        &issuer.cert,
    )?)?;
    let body = req.to_der()?;
    // Warm the caches (CA key, issuer-hash index).
    signet::revocation::ocsp::respond(&app, &body).await;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    for _ in 0..count {
        let r = signet::revocation::ocsp::respond(&app, &body).await;
        assert!(r.len() > 100, "an error status instead of a response");
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{}",
        serde_json::json!({"responses": count, "wall_seconds": wall, "cpu_seconds": cpu, "cpu_ms_per_response": cpu * 1000.0 / count as f64, "responses_per_second_one_task": count as f64 / wall})
    );
    Ok(())
}

/// p50/p99 of typical list queries over HTTPS, one at a time (first page and a later page).
pub async fn list(
    url: &str,
    ca_bundle: &Path,
    token: &str,
    count: u64,
    dashboard: bool,
) -> anyhow::Result<()> {
    let mut b = reqwest::Client::builder();
    for c in reqwest::Certificate::from_pem_bundle(&std::fs::read(ca_bundle)?)? {
        b = b.add_root_certificate(c);
    }
    let http = b.build()?;
    let api_queries = [
        "limit=50",
        "status=revoked&limit=50",
        "status=active,revoked&sort=not_after&order=desc&limit=50",
        "expiring_within_days=30&limit=50",
        "common_name=seed12345&limit=50",
        "common_name=seed99&limit=50",
        "san=seed4242.bench.test&limit=50",
    ];
    // What the dashboard's list page asks for: newest first, a status, a
    // name search, soonest expiry.
    let page_queries = [
        "limit=50",
        "status=revoked&limit=50",
        "common_name=seed99&limit=50",
        "sort=expires_at&order=asc&limit=50",
    ];
    let queries: &[&str] = if dashboard {
        &page_queries
    } else {
        &api_queries
    };
    // The page's other requests (its pickers), made with each page load.
    let extra: &[&str] = if dashboard {
        &["/api/v1/templates", "/api/v1/projects"]
    } else {
        &[]
    };
    let mut report = serde_json::Map::new();
    for q in queries {
        let mut ms = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..count {
            let full = match &cursor {
                Some(c) => format!("{url}/api/v1/certificates?{q}&cursor={c}"),
                None => format!("{url}/api/v1/certificates?{q}"),
            };
            let start = Instant::now();
            for e in extra {
                let r = http
                    .get(format!("{url}{e}"))
                    .bearer_auth(token)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "{e}: {}", r.status());
                r.bytes().await?;
            }
            let r = http.get(&full).bearer_auth(token).send().await?;
            anyhow::ensure!(r.status().is_success(), "{full}: {}", r.status());
            let v: serde_json::Value = r.json().await?;
            ms.push(start.elapsed().as_secs_f64() * 1000.0);
            // Walk forward so later pages are measured too, then start over.
            cursor = v["next_cursor"].as_str().map(String::from);
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        let pct = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
        report.insert(
            q.to_string(),
            serde_json::json!({"p50_ms": pct(0.5), "p99_ms": pct(0.99)}),
        );
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}
