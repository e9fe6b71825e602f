//! `signet token`: API tokens.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, s};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create a token; the secret is printed once.
    Create {
        /// admin, operator, requester or auditor
        #[arg(long)]
        role: String,
        /// Scope the token to one project.
        #[arg(long)]
        project: Option<String>,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long)]
        expires_days: Option<u32>,
    },
    List,
    Revoke {
        id: String,
    },
    /// The users the tokens belong to: live roles, token counts, last use.
    Users,
}

pub async fn run(c: &Client, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            role,
            project,
            name,
            expires_days,
        } => {
            let (_, v) = c
                .post(
                    "/tokens",
                    &json!({"role": role, "project_id": project, "name": name, "expires_in_days": expires_days}),
                )
                .await?;
            c.show(&v, |v| {
                println!(
                    "token id: {}\nrole: {}\ntoken (shown once): {}",
                    s(v, "id"),
                    s(v, "role"),
                    s(v, "token")
                )
            });
        }
        TokenCmd::List => {
            let v = c.get("/tokens").await?;
            c.show(&v["items"], |items| {
                for t in items.as_array().into_iter().flatten() {
                    let state = if t["revoked"] == true {
                        "revoked"
                    } else {
                        "live"
                    };
                    let used = t["last_used_at"].as_str().unwrap_or("never used");
                    println!(
                        "{}  {}  {}  {state}  {used}",
                        s(t, "id"),
                        s(t, "name"),
                        s(t, "role")
                    );
                }
            });
        }
        TokenCmd::Users => {
            let v = c.get("/users").await?;
            c.show(&v["items"], |items| {
                for u in items.as_array().into_iter().flatten() {
                    let roles: Vec<&str> = u["roles"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str())
                        .collect();
                    println!(
                        "{}  {}  {} of {} tokens live  {}",
                        s(u, "name"),
                        if roles.is_empty() {
                            "-".to_string()
                        } else {
                            roles.join(",")
                        },
                        u["live_token_count"],
                        u["token_count"],
                        u["last_used_at"].as_str().unwrap_or("never used")
                    );
                }
            });
        }
        TokenCmd::Revoke { id } => {
            c.delete(&format!("/tokens/{id}")).await?;
            if !c.json {
                println!("revoked: {id}");
            }
        }
    }
    Ok(())
}
