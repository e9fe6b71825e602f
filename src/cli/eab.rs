//! `signet eab`: ACME External Account Binding credentials.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, s};

#[derive(Subcommand)]
pub enum EabCmd {
    /// Create a credential bound to a project and template; the HMAC key is printed once.
    Create {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        template: Option<String>,
    },
    List,
    /// Revoke a credential (id or kid); the accounts bound to it are deactivated.
    Revoke {
        id: String,
    },
}

pub async fn run(c: &Client, cmd: EabCmd) -> anyhow::Result<()> {
    match cmd {
        EabCmd::Create { project, template } => {
            let (_, v) = c
                .post(
                    "/eab-credentials",
                    &json!({"project_id": project, "template_id": template}),
                )
                .await?;
            c.show(&v, |v| {
                println!(
                    "kid: {}\nhmac key (base64url, shown once): {}",
                    s(v, "kid"),
                    s(v, "hmac_key")
                )
            });
        }
        EabCmd::List => {
            let v = c.get("/eab-credentials").await?;
            c.show(&v["items"], |items| {
                for e in items.as_array().into_iter().flatten() {
                    let state = match (e["revoked"].as_bool(), e["used"].as_bool()) {
                        (Some(true), _) => "revoked",
                        (_, Some(true)) => "used",
                        _ => "unused",
                    };
                    println!(
                        "{}  {}  {state}  {}",
                        s(e, "id"),
                        s(e, "kid"),
                        s(e, "created_at")
                    );
                }
            });
        }
        EabCmd::Revoke { id } => {
            c.delete(&format!("/eab-credentials/{id}")).await?;
            if !c.json {
                println!("revoked: {id}");
            }
        }
    }
    Ok(())
}
