//! `signet-loadgen`: measurements for BENCHMARKS.md.
//!
//! - `seed-revoked`: put N revoked certificates straight into a data dir's store.
//! - `crl`: time one full CRL for the default CA, and report this process's peak RSS.
//! - `ocsp`: answer N OCSP requests in-process and report CPU time per response.
//! - `acme`, `scep`, `list`: load against a running server (see each command).

mod acme;
mod measure;
mod scep;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    SeedRevoked {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        count: u64,
    },
    Crl {
        #[arg(long)]
        data_dir: PathBuf,
    },
    Ocsp {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        count: u64,
    },
    /// Latency of `GET /api/v1/certificates` queries against a running server.
    List {
        /// Base URL of the HTTPS listener.
        #[arg(long)]
        url: String,
        #[arg(long)]
        ca_bundle: PathBuf,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 200)]
        count: u64,
        /// Time the dashboard's certificate list page instead: each sample
        /// is its three requests (templates, projects, the page of 50).
        #[arg(long)]
        dashboard: bool,
    },
    /// SCEP PKCSReq enrolments against a profile with a static challenge.
    Scep {
        /// The profile URL, e.g. http://127.0.0.1:8080/scep/default.
        #[arg(long)]
        url: String,
        #[arg(long)]
        challenge: String,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// DES + SHA-1 requests, as micromdm's scepclient sends them.
        #[arg(long)]
        legacy: bool,
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Full ACME flows against a directory (Signet or any other ACME server).
    Acme {
        #[arg(long)]
        directory: String,
        /// PEM bundle that signs the server's TLS certificate.
        #[arg(long)]
        ca_bundle: Option<PathBuf>,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Stop after this many flows (default: only the duration limits).
        #[arg(long, default_value_t = u64::MAX)]
        count: u64,
        /// Names per order are 1..=N, cycling.
        #[arg(long, default_value_t = 3)]
        names: usize,
        /// Loopback port of our http-01 responder (the server must validate on it).
        #[arg(long, default_value_t = 5402)]
        http_port: u16,
        /// Names are generated under this domain, which must resolve to 127.0.0.1 for the server.
        #[arg(long, default_value = "load.example.test")]
        domain: String,
        /// The server's pid, to report its CPU seconds per flow from /proc.
        #[arg(long)]
        server_pid: Option<u32>,
        /// A request that takes longer fails the flow (a hung server shows
        /// as timeouts in `errors` instead of stretching the run).
        #[arg(long, default_value_t = 30)]
        request_timeout_secs: u64,
        #[arg(long, requires = "eab_hmac")]
        eab_kid: Option<String>,
        /// base64url HMAC key.
        #[arg(long, requires = "eab_kid")]
        eab_hmac: Option<String>,
        /// Append the serial of every certificate received to this file.
        #[arg(long)]
        record: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::SeedRevoked { data_dir, count } => measure::seed_revoked(&data_dir, count).await,
        Cmd::Crl { data_dir } => measure::crl(&data_dir).await,
        Cmd::Ocsp { data_dir, count } => measure::ocsp(&data_dir, count).await,
        Cmd::List {
            url,
            ca_bundle,
            token,
            count,
            dashboard,
        } => measure::list(&url, &ca_bundle, &token, count, dashboard).await,
        Cmd::Scep {
            url,
            challenge,
            concurrency,
            count,
            legacy,
            server_pid,
        } => {
            scep::run(scep::Options {
                url,
                challenge,
                concurrency,
                count,
                legacy,
                server_pid,
            })
            .await
        }
        Cmd::Acme {
            directory,
            ca_bundle,
            concurrency,
            duration_secs,
            count,
            names,
            http_port,
            domain,
            server_pid,
            request_timeout_secs,
            eab_kid,
            eab_hmac,
            record,
        } => {
            let eab = match (eab_kid, eab_hmac) {
                (Some(k), Some(h)) => Some((
                    k,
                    signet_ca::jose::b64_decode(&h)
                        .map_err(|e| anyhow::anyhow!("eab hmac: {e}"))?,
                )),
                _ => None,
            };
            acme::run(acme::Options {
                directory,
                ca_bundle,
                concurrency,
                duration: std::time::Duration::from_secs(duration_secs),
                max_flows: count,
                names: names.max(1),
                http_port,
                domain,
                server_pid,
                request_timeout: std::time::Duration::from_secs(request_timeout_secs),
                eab,
                record,
            })
            .await
        }
    }
}
