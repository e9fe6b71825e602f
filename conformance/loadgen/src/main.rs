//! `signet-loadgen`: measurements for BENCHMARKS.md.
//!
//! - `seed-revoked`: put N revoked certificates straight into a data dir's store.
//! - `crl`: time one full CRL for the default CA, and report this process's peak RSS.
//! - `ocsp`: answer N OCSP requests in-process and report CPU time per response.

mod measure;

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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::SeedRevoked { data_dir, count } => measure::seed_revoked(&data_dir, count).await,
        Cmd::Crl { data_dir } => measure::crl(&data_dir).await,
        Cmd::Ocsp { data_dir, count } => measure::ocsp(&data_dir, count).await,
    }
}
