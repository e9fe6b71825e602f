//! SCEP load: PKCSReq enrolments against a profile with a static challenge.
//! The pkiMessages (CSR, envelope, signature) are built before the clock
//! starts, so the 2 cores go to the server, whose CPU time per enrolment is
//! the figure reported.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use openssl::pkcs7::Pkcs7;
use openssl::x509::{X509, X509NameBuilder};
use serde_json::json;
use signet_ca::key::KeyType;
use signet_ca::raw_cert::RawCert;
use signet_ca::scep::{self, Attrs, ContentCipher, Digest, MessageType};

pub struct Options {
    /// The profile URL, e.g. http://127.0.0.1:8080/scep/default.
    pub url: String,
    pub challenge: String,
    pub concurrency: usize,
    pub count: usize,
    pub legacy: bool,
    pub server_pid: Option<u32>,
}

/// The certificate requests are encrypted to: the RA, or the CA itself.
async fn recipient(http: &reqwest::Client, url: &str) -> anyhow::Result<X509> {
    let r = http
        .get(format!("{url}?operation=GetCACert"))
        .send()
        .await?;
    let ra = r.headers().get("content-type").map(|v| v.as_bytes())
        == Some(b"application/x-x509-ca-ra-cert");
    let body = r.bytes().await?;
    if !ra {
        return Ok(X509::from_der(&body)?);
    }
    let p7 = Pkcs7::from_der(&body)?;
    let certs = p7
        .signed()
        .and_then(|s| s.certificates())
        .context("no certificates in GetCACert")?;
    // Signet sends the CA, the RA, then the rest of the chain.
    Ok(certs.get(1).context("no RA in GetCACert")?.to_owned())
}

fn messages(o: &Options, to: &RawCert) -> anyhow::Result<Vec<Vec<u8>>> {
    // A few device keys, cycled: RSA key generation is not what is measured.
    let devices: Vec<_> = (0..8)
        .map(|i| -> anyhow::Result<_> {
            let key = KeyType::Rsa2048.generate()?;
            let cert = signet_ca::scep::self_signed_signer(&key, &format!("load-device-{i}"))?;
            Ok((key, cert))
        })
        .collect::<Result<_, _>>()?;
    let (cipher, digest) = if o.legacy {
        (ContentCipher::Des, Digest::Sha1)
    } else {
        (ContentCipher::Aes128, Digest::Sha256)
    };
    // Distinct subjects across runs: some servers (micromdm) refuse a DN twice.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (0..o.count)
        .map(|i| {
            let (key, cert) = &devices[i % devices.len()];
            let mut name = X509NameBuilder::new()?;
            name.append_entry_by_text("CN", &format!("load-{run}-{i}"))?;
            let csr = scep::csr_with_challenge(key, &name.build(), Some(&o.challenge))?;
            let env = scep::envelope(to, &csr, cipher)?;
            let attrs = Attrs {
                message_type: MessageType::PkcsReq,
                transaction_id: &format!("load-{run}-{i}"),
                sender_nonce: &[7; 16],
                recipient_nonce: None,
                status: None,
                failure: None,
            };
            Ok(scep::sign_message(cert, key, digest, &attrs, &env, &[])?)
        })
        .collect()
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    signet_ca::scep::enable_legacy_ciphers();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let to = recipient(&http, &o.url).await?;
    let prepared = Instant::now();
    let queue = Arc::new(Mutex::new(messages(&o, &RawCert::try_from(&*to)?)?));
    let prepare_secs = prepared.elapsed().as_secs_f64();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let failures = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let meter = crate::measure::CpuMeter::start(o.server_pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..o.concurrency {
        let (queue, hist, failures, http) =
            (queue.clone(), hist.clone(), failures.clone(), http.clone());
        let url = format!("{}?operation=PKIOperation", o.url);
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(msg) = queue.lock().expect("lock").pop() else {
                    break;
                };
                let s = Instant::now();
                let outcome = enrol(&http, &url, msg).await;
                match outcome {
                    Ok(()) => {
                        let _ = hist
                            .lock()
                            .expect("lock")
                            .record(s.elapsed().as_micros() as u64);
                    }
                    Err(e) => {
                        *failures
                            .lock()
                            .expect("lock")
                            .entry(e.to_string())
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
    let h = hist.lock().expect("lock");
    let ok = h.len();
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let report = json!({
        "url": o.url,
        "concurrency": o.concurrency,
        "request": if o.legacy { "DES + SHA-1 (micromdm-style)" } else { "AES-128 + SHA-256" },
        "prepare_seconds": prepare_secs,
        "enrolments": ok,
        "seconds": wall,
        "enrolments_per_second": ok as f64 / wall,
        "server_cpu_seconds": cpu,
        "server_cpu_ms_per_enrolment": cpu.map(|c| if ok > 0 { c * 1000.0 / ok as f64 } else { 0.0 }),
        "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99),
        "cpu": cpu_use.report(ok),
        "failures": *failures.lock().expect("lock"),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if ok == 0 {
        bail!("no enrolment succeeded");
    }
    Ok(())
}

/// POST one pkiMessage; the CertRep must say SUCCESS.
async fn enrol(http: &reqwest::Client, url: &str, msg: Vec<u8>) -> anyhow::Result<()> {
    let r = http.post(url).body(msg).send().await?;
    if !r.status().is_success() {
        bail!("HTTP {}", r.status());
    }
    let rep = scep::parse(&r.bytes().await?).map_err(anyhow::Error::msg)?;
    match rep.pki_status.as_deref() {
        Some("0") => Ok(()),
        other => bail!(
            "pkiStatus {other:?} failInfo {:?} {:?}",
            rep.fail_info,
            rep.fail_text
        ),
    }
}
