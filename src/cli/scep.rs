//! `signet scep`.

use clap::Subcommand;
use signet::bootstrap::InitOptions;

use super::{Common, load, offline_app};

#[derive(Subcommand)]
pub enum ScepCmd {
    /// Mint a one-time challenge for a profile with challenge = "one-time"; printed once.
    Challenge {
        #[command(flatten)]
        common: Common,
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
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ScepCmd) -> anyhow::Result<()> {
    let ScepCmd::Challenge {
        common,
        profile,
        ttl_secs,
        cn,
        sans,
        json,
    } = cmd;
    let app = offline_app(load(&common)?, &InitOptions::default()).await?;
    let m = signet::challenges::mint(&app, &profile, ttl_secs, cn.as_deref(), &sans, "cli")
        .await?
        .map_err(anyhow::Error::msg)?;
    let mut tx = app.store.write.begin().await?;
    signet::store::audit::record(
        &mut tx,
        signet::store::audit::Event {
            actor: "cli",
            action: "scep.challenge_created",
            target: Some(&m.id),
            severity: "info",
            request_id: None,
            details: serde_json::json!({"profile": profile, "expires_at": m.expires_at, "subject_cn": cn, "sans": sans}),
        },
    )
    .await?;
    tx.commit().await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"id": m.id, "challenge": m.secret, "profile": profile, "expires_at": m.expires_at})
        );
    } else {
        println!(
            "challenge (shown once): {}\nexpires at: {}",
            m.secret, m.expires_at
        );
    }
    app.store.close().await;
    Ok(())
}
