//! `signet eab`.

use anyhow::Context;
use clap::Subcommand;
use signet::bootstrap::InitOptions;

use super::{Common, load, offline_app};

#[derive(Subcommand)]
pub enum EabCmd {
    /// Create a credential bound to a project and template; the HMAC key is printed once.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value = "default")]
        project: String,
        #[arg(long, default_value = "default")]
        template: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: EabCmd) -> anyhow::Result<()> {
    let EabCmd::Create {
        common,
        project,
        template,
        json,
    } = cmd;
    let app = offline_app(load(&common)?, &InitOptions::default()).await?;
    let e = signet::eab::create(&app, &project, &template)
        .await
        .with_context(|| {
            format!("cannot create EAB for project {project:?} and template {template:?}")
        })?;
    if json {
        println!(
            "{}",
            serde_json::json!({"kid": e.kid, "hmac_key": e.hmac_key, "project": project, "template": template})
        );
    } else {
        println!(
            "kid: {}\nhmac key (base64url, shown once): {}",
            e.kid, e.hmac_key
        );
    }
    app.store.close().await;
    Ok(())
}
