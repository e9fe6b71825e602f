//! `signet template`: list, show, apply.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{Client, s};

#[derive(Subcommand)]
pub enum TemplateCmd {
    List,
    Show {
        id: String,
    },
    /// Create or replace a template from a TOML or JSON file:
    /// `name = "web"` and a `[spec]` table (or {"name", "spec"}).
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
}

fn read_template(path: &PathBuf) -> anyhow::Result<(String, Value)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text)?
    } else {
        let t: toml::Value =
            toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
        serde_json::to_value(t)?
    };
    let name = v["name"]
        .as_str()
        .with_context(|| format!("{} has no name", path.display()))?
        .to_string();
    Ok((name, v.get("spec").cloned().unwrap_or(json!({}))))
}

pub async fn run(c: &Client, cmd: TemplateCmd) -> anyhow::Result<()> {
    match cmd {
        TemplateCmd::List => {
            let v = c.get("/templates").await?;
            c.show(&v["items"], |items| {
                for t in items.as_array().into_iter().flatten() {
                    println!("{}  {}", s(t, "id"), s(t, "name"));
                }
            });
        }
        TemplateCmd::Show { id } => {
            let v = c.get(&format!("/templates/{id}")).await?;
            c.show(&v, |v| {
                println!("{} ({})", s(v, "name"), s(v, "id"));
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v["spec"]).unwrap_or_default()
                );
            });
        }
        TemplateCmd::Apply { file } => {
            let (name, spec) = read_template(&file)?;
            let exists = c.get(&format!("/templates/{name}")).await.is_ok();
            let v = if exists {
                c.call(
                    reqwest::Method::PUT,
                    &format!("/templates/{name}"),
                    Some(&json!({"spec": spec})),
                )
                .await?
                .1
            } else {
                c.post("/templates", &json!({"name": name, "spec": spec}))
                    .await?
                    .1
            };
            let verb = if exists { "replaced" } else { "created" };
            c.show(&v, |v| {
                println!("template {} {verb}: {}", s(v, "name"), s(v, "id"))
            });
        }
    }
    Ok(())
}
