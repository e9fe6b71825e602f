//! `signet audit`.

use clap::Subcommand;

use super::client::Client;

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Have the server recompute the audit log's hash chain.
    Verify,
}

pub async fn run(c: &Client, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::Verify = cmd;
    let v = c.get("/audit-events/verify").await?;
    let valid = v["valid"] == true;
    c.show(&v, |v| {
        if valid {
            println!("audit chain intact: {} events", v["events"]);
        } else {
            println!("audit chain BROKEN: {}", v["error"]);
        }
    });
    anyhow::ensure!(valid, "the audit chain does not verify");
    Ok(())
}
