//! `signet token`.

use anyhow::Context;
use clap::Subcommand;
use signet::bootstrap::InitOptions;
use signet::store::projects;

use super::{Common, load, offline_app};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token; the secret is printed once.
    Create {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        role: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long)]
        expires_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: TokenCmd) -> anyhow::Result<()> {
    let TokenCmd::Create {
        common,
        role,
        project,
        name,
        expires_days,
        json,
    } = cmd;
    if !signet::tokens::ROLES.contains(&role.as_str()) {
        anyhow::bail!(
            "unknown role {role:?} (expected one of {})",
            signet::tokens::ROLES.join(", ")
        );
    }
    let cfg = load(&common)?;
    let app = offline_app(cfg, &InitOptions::default()).await?;
    let project_id = match &project {
        Some(p) => Some(
            projects::find(&app.store.read, p)
                .await
                .with_context(|| format!("unknown project {p:?}"))?
                .id,
        ),
        None => None,
    };
    let expires = expires_days.map(|d| signet::store::now() + i64::from(d) * 86400);
    let (id, secret) =
        signet::tokens::create(&app.store, &name, &role, project_id.as_deref(), expires).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"id": id, "token": secret, "role": role, "project": project, "expires_at": expires})
        );
    } else {
        println!("token id: {id}\nrole: {role}\ntoken (shown once): {secret}");
    }
    app.store.close().await;
    Ok(())
}
