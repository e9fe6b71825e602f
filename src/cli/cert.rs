//! `signet cert`: list, show, revoke, approve, reject.

use anyhow::Context;
use clap::Subcommand;
use signet::bootstrap::InitOptions;
use signet::issuance::{self, Outcome};

use super::{Common, load, offline_app, os_identity};

#[derive(Subcommand)]
pub enum CertCmd {
    /// Newest first.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    Show {
        #[command(flatten)]
        common: Common,
        id: String,
    },
    /// Revoke with an RFC 5280 reason name or code.
    Revoke {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Approve a pending request as the operating-system user running this
    /// command (N-of-M counts distinct identities).
    Approve {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
    Reject {
        #[command(flatten)]
        common: Common,
        id: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

pub async fn run(cmd: CertCmd) -> anyhow::Result<()> {
    match cmd {
        CertCmd::List {
            common,
            status,
            limit,
        } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            // (id, status, serial, common name, not after)
            type Listed = (String, String, Option<String>, Option<String>, Option<i64>);
            let rows: Vec<Listed> = sqlx::query_as(
                "SELECT id, status, serial, common_name, not_after FROM certificates WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(status)
            .bind(limit)
            .fetch_all(&app.store.read)
            .await?;
            println!(
                "{:<32}  {:<16}  {:<32}  {:<10}  common name",
                "id", "status", "serial", "not after"
            );
            for (id, st, serial, cn, na) in rows {
                let na = na
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(|d| d.date().to_string())
                    .unwrap_or_default();
                println!(
                    "{id:<32}  {st:<16}  {:<32}  {na:<10}  {}",
                    serial.unwrap_or_default(),
                    cn.unwrap_or_default()
                );
            }
            app.store.close().await;
        }
        CertCmd::Show { common, id } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let row = signet::store::certificates::get(&app.store.read, &id)
                .await
                .with_context(|| format!("no certificate {id}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&signet::api::certificate_view(&row))?
            );
            if let Some(der) = &row.der {
                print!(
                    "{}",
                    String::from_utf8_lossy(&openssl::x509::X509::from_der(der)?.to_pem()?)
                );
            }
            app.store.close().await;
        }
        CertCmd::Revoke { common, id, reason } => {
            let app = offline_app(load(&common)?, &InitOptions::default()).await?;
            let code = reason.parse::<i64>().ok().or_else(|| {
                signet::revocation::REASONS
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(&reason))
                    .map(|(c, _)| *c)
            });
            let code = code.with_context(|| format!("unknown reason {reason:?}"))?;
            let row = signet::store::certificates::get(&app.store.read, &id)
                .await
                .with_context(|| format!("no certificate {id}"))?;
            signet::revocation::revoke(&app, &row, code, &os_identity()).await?;
            println!("revoked: {id} (reason {code})");
            // No publisher runs in this process: publish before exiting.
            let mode = app.config.revocation.publish_on_revoke;
            if mode != signet::config::PublishOnRevoke::Off {
                signet::revocation::crl::publish_after_revocation(
                    &app,
                    &row.ca_id,
                    signet::store::now(),
                    mode,
                )
                .await?;
            }
            app.store.close().await;
        }
        CertCmd::Approve {
            common,
            id,
            comment,
        } => decide(common, id, comment, true).await?,
        CertCmd::Reject {
            common,
            id,
            comment,
        } => decide(common, id, comment, false).await?,
    }
    Ok(())
}

/// Approve or reject as the operating-system user running the command.
async fn decide(
    common: Common,
    id: String,
    comment: Option<String>,
    approve: bool,
) -> anyhow::Result<()> {
    let approver = os_identity();
    let app = offline_app(load(&common)?, &InitOptions::default()).await?;
    if approve {
        match issuance::approve(&app, &id, &approver, comment.as_deref()).await? {
            Outcome::Issued(r) => {
                println!("issued: {} serial {}", r.id, r.serial.unwrap_or_default())
            }
            Outcome::Pending(r) => println!("approval recorded; {} still pending", r.id),
        }
    } else {
        issuance::reject(&app, &id, &approver, comment.as_deref()).await?;
        println!("rejected: {id}");
    }
    app.store.close().await;
    Ok(())
}
