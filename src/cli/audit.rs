//! `signet audit`.

use anyhow::Context;
use clap::Subcommand;
use signet::bootstrap::InitOptions;

use super::{Common, load, offline_app};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Recompute the audit log's hash chain.
    Verify {
        #[command(flatten)]
        common: Common,
    },
}

pub async fn run(cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::Verify { common } = cmd;
    let app = offline_app(load(&common)?, &InitOptions::default()).await?;
    let n = signet::store::audit::verify_chain(&app.store.read)
        .await
        .context("the audit chain does not verify")?;
    println!("audit chain intact: {n} events");
    app.store.close().await;
    Ok(())
}
