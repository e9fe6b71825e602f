//! `signet scep`.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, s};

#[derive(Subcommand)]
pub enum ScepCmd {
    /// Mint a one-time challenge for a profile with challenge = "one-time"; printed once.
    Challenge {
        #[arg(long, default_value = "default")]
        profile: String,
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
        /// The CSR must carry exactly this CN.
        #[arg(long)]
        cn: Option<String>,
        /// The CSR may only request these SANs (repeatable).
        #[arg(long = "san")]
        sans: Vec<String>,
    },
}

pub async fn run(c: &Client, cmd: ScepCmd) -> anyhow::Result<()> {
    let ScepCmd::Challenge {
        profile,
        ttl_secs,
        cn,
        sans,
    } = cmd;
    let (_, v) = c
        .post(
            "/scep/challenges",
            &json!({"profile": profile, "ttl_seconds": ttl_secs, "subject_cn": cn, "sans": sans}),
        )
        .await?;
    c.show(&v, |v| {
        println!(
            "challenge (shown once): {}\nexpires at: {}",
            s(v, "challenge"),
            s(v, "expires_at")
        )
    });
    Ok(())
}
