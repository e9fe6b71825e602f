//! `signet project`: create, list.

use clap::Subcommand;
use serde_json::json;

use super::client::{Client, s};

#[derive(Subcommand)]
pub enum ProjectCmd {
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Template id or name used when a request names none.
        #[arg(long)]
        default_template: Option<String>,
        /// The templates the project's requests may use (repeatable; none means any).
        #[arg(long = "allowed-template")]
        allowed_templates: Vec<String>,
    },
    List,
}

pub async fn run(c: &Client, cmd: ProjectCmd) -> anyhow::Result<()> {
    match cmd {
        ProjectCmd::Create {
            name,
            description,
            default_template,
            allowed_templates,
        } => {
            let (_, v) = c
                .post(
                    "/projects",
                    &json!({"name": name, "description": description,
                            "default_template_id": default_template, "allowed_templates": allowed_templates}),
                )
                .await?;
            c.show(&v, |v| {
                println!("project {} created: {}", s(v, "name"), s(v, "id"))
            });
        }
        ProjectCmd::List => {
            let v = c.get("/projects").await?;
            c.show(&v["items"], |items| {
                for p in items.as_array().into_iter().flatten() {
                    println!("{}  {}  {}", s(p, "id"), s(p, "name"), s(p, "description"));
                }
            });
        }
    }
    Ok(())
}
