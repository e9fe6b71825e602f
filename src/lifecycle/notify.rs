//! Notifications: certificates expiring without a successor, renewals that
//! succeeded or failed, requests waiting for approval, revocations. Each is
//! a row (event, certificate, threshold, channel) that is UNIQUE, inserted
//! in the transaction of what it announces, and sent by a leased job: a
//! restart or a second replica never sends one twice, and a failed send is
//! retried with backoff.

use std::collections::HashMap;
use std::time::Instant;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};

use super::{backoff, webhook};

use crate::core_state::Core;
use crate::policy::TemplateSpec;
use crate::store::batch::Stmt;
use crate::store::{StoreError, new_id, now};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    Expiring,
    RenewalSucceeded,
    RenewalFailed,
    ApprovalPending,
    Revoked,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Expiring => "expiring",
            Event::RenewalSucceeded => "renewal_succeeded",
            Event::RenewalFailed => "renewal_failed",
            Event::ApprovalPending => "approval_pending",
            Event::Revoked => "revoked",
        }
    }
}

/// The channels configured: webhook, email, both or none.
fn channels(core: &Core) -> Vec<&'static str> {
    let n = &core.config.notifications;
    let mut out = Vec::new();
    if !n.webhook_url.is_empty() {
        out.push("webhook");
    }
    if !n.smtp.host.is_empty() {
        out.push("email");
    }
    out
}

/// Statements that record `event` for a certificate, once per channel: run
/// them in the transaction of what they announce.
pub fn enqueue(core: &Core, event: Event, certificate_id: &str, threshold_days: i64) -> Vec<Stmt> {
    let t = now();
    channels(core)
        .into_iter()
        .map(|ch| {
            Stmt::new(
                "INSERT INTO notifications (id, event, certificate_id, threshold_days, channel, status, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT DO NOTHING",
            )
            .bind(new_id())
            .bind(event.as_str())
            .bind(certificate_id.to_string())
            .bind(threshold_days)
            .bind(ch)
            .bind(t)
        })
        .collect()
}

/// Record expiring-certificate notices: for each active certificate inside
/// its template's smallest threshold not yet announced, with no successor
/// (one that `replaces` it, or a newer active certificate for the same names
/// from the same template or requester: an ACME or SCEP client that renewed).
pub async fn scan_expiring(core: &Core) -> Result<u64, StoreError> {
    if channels(core).is_empty() {
        return Ok(0);
    }
    let t = now();
    let templates = super::template_specs(core).await?;
    let max_days = templates
        .values()
        .flat_map(|s| s.notify_before_days.iter().copied())
        .chain([30])
        .max()
        .unwrap_or(30);
    type Row = (String, i64, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.id, c.not_after, c.template_id FROM certificates c \
         WHERE c.status = 'active' AND c.not_after > $1 AND c.not_after <= $2 \
         AND NOT EXISTS (SELECT 1 FROM certificates s WHERE s.replaces_id = c.id AND s.status = 'active') \
         AND NOT EXISTS (SELECT 1 FROM certificates n WHERE n.status = 'active' AND n.id <> c.id \
              AND n.not_after > c.not_after AND n.sans = c.sans \
              AND (n.template_id = c.template_id OR n.requested_by = c.requested_by)) \
         ORDER BY c.not_after LIMIT 5000",
    )
    .bind(t)
    .bind(t + i64::from(max_days) * 86400)
    .fetch_all(&core.store.read)
    .await?;
    let mut recorded = 0;
    for (id, not_after, template) in rows {
        let days = template
            .as_ref()
            .and_then(|t| templates.get(t))
            .map(|s| s.notify_before_days.clone())
            .unwrap_or_else(|| vec![30, 14, 7, 1]);
        // The smallest threshold already crossed: a certificate first seen 5
        // days before it expires is announced once, at 7, not at 30 and 14 too.
        let left = not_after - t;
        let Some(threshold) = days.iter().filter(|d| left <= i64::from(**d) * 86400).min() else {
            continue;
        };
        for stmt in enqueue(core, Event::Expiring, &id, i64::from(*threshold)) {
            recorded += stmt.execute(&core.store.write).await?;
        }
    }
    Ok(recorded)
}

/// Who hears of a certificate's events by email: the global list, its
/// template's and its project's.
async fn email_recipients(
    core: &Core,
    specs: &HashMap<String, TemplateSpec>,
    cert: &Value,
) -> Result<Vec<String>, StoreError> {
    let mut to = core.config.notifications.email_to.clone();
    if let Some(t) = cert["template_id"].as_str()
        && let Some(spec) = specs.get(t)
    {
        to.extend(spec.notify_email.iter().cloned());
    }
    if let Some(p) = cert["project_id"].as_str() {
        let extra: Option<String> =
            sqlx::query_scalar("SELECT notify_email FROM projects WHERE id = $1")
                .bind(p.to_string())
                .fetch_optional(&core.store.read)
                .await?;
        to.extend(
            extra
                .and_then(|e| serde_json::from_str::<Vec<String>>(&e).ok())
                .unwrap_or_default(),
        );
    }
    to.sort();
    to.dedup();
    Ok(to)
}

fn subject_line(event: &str, threshold: i64, cert: &Value) -> String {
    let cn = cert["common_name"].as_str().unwrap_or("(no CN)");
    match event {
        "expiring" => format!(
            "[Signet] {cn} expires within {threshold} days ({})",
            cert["not_after"].as_str().unwrap_or("")
        ),
        "renewal_succeeded" => format!("[Signet] {cn} was renewed"),
        "renewal_failed" => format!("[Signet] renewal of {cn} failed"),
        "approval_pending" => format!("[Signet] a request for {cn} waits for approval"),
        "revoked" => format!("[Signet] {cn} was revoked"),
        other => format!("[Signet] {other}: {cn}"),
    }
}

async fn send_email(core: &Core, to: &[String], subject: &str, body: &str) -> Result<(), String> {
    let smtp = &core.config.notifications.smtp;
    if to.is_empty() {
        return Err("no email recipients (notifications.email_to, the template's or the project's notify_email)".into());
    }
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("from {:?}: {e}", smtp.from))?;
    let mut b = Message::builder().from(from).subject(subject);
    for r in to {
        b = b.to(r.parse().map_err(|e| format!("recipient {r:?}: {e}"))?);
    }
    let msg = b
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| e.to_string())?;
    // The system's roots and Signet's own: an internal relay often carries
    // a certificate from this CA.
    let tls = || -> Result<TlsParameters, String> {
        let mut b = TlsParameters::builder(smtp.host.clone());
        if let Ok(pem) = std::fs::read(core.config.data_dir.join("root.pem")) {
            b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| e.to_string())?);
        }
        b.build_native().map_err(|e| e.to_string())
    };
    let security = match smtp.security.as_str() {
        "none" => Tls::None,
        "tls" => Tls::Wrapper(tls()?),
        _ => Tls::Required(tls()?),
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .tls(security)
        .timeout(Some(std::time::Duration::from_secs(20)));
    let builder = if smtp.username.is_empty() {
        builder
    } else {
        builder.credentials(Credentials::new(
            smtp.username.clone(),
            smtp.password.clone(),
        ))
    };
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Send what is due; a failure waits and is tried again (up to the
/// lifecycle's attempt limit), so one bad recipient never blocks the rest.
pub async fn send_round(core: &Core) -> Result<(), StoreError> {
    type Row = (String, String, String, i64, String, i64);
    let due: Vec<Row> = sqlx::query_as(
        "SELECT id, event, certificate_id, threshold_days, channel, attempts FROM notifications \
         WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 200",
    )
    .bind(now())
    .fetch_all(&core.store.read)
    .await?;
    let n = &core.config.notifications;
    // Templates are read once a round, not once a message.
    let specs = if due.is_empty() {
        HashMap::new()
    } else {
        super::template_specs(core).await?
    };
    for (id, event, cert_id, threshold, channel, attempts) in due {
        let cert = super::certificate_summary(core, &cert_id).await?;
        let started = Instant::now();
        let (outcome, recipients) = match channel.as_str() {
            "email" => {
                let to = email_recipients(core, &specs, &cert).await?;
                let subject = subject_line(&event, threshold, &cert);
                let body = format!(
                    "{subject}\n\n{}\n\nSignet ({})",
                    serde_json::to_string_pretty(&cert).unwrap_or_default(),
                    core.https_url
                );
                (send_email(core, &to, &subject, &body).await, to.join(", "))
            }
            _ => {
                let doc = json!({"event": event, "threshold_days": threshold, "certificate": cert, "sent_at": crate::timefmt::rfc3339(now())});
                let r = webhook::post(core, &n.webhook_url, n.webhook_secret.as_bytes(), &doc)
                    .await
                    .and_then(|status| {
                        if (200..300).contains(&status) {
                            Ok(())
                        } else {
                            Err(format!("HTTP {status}"))
                        }
                    });
                (r, n.webhook_url.clone())
            }
        };
        let failed_for_good = attempts + 1 >= i64::from(core.config.lifecycle.delivery_attempts);
        let (status, error, next) = match &outcome {
            Ok(()) => ("sent", None, now()),
            Err(e) if failed_for_good => ("failed", Some(e.clone()), now()),
            Err(e) => (
                "pending",
                Some(e.clone()),
                now() + backoff(core, attempts + 1),
            ),
        };
        core.metrics.notification(status);
        tracing::info!(notification = %id, %event, %channel, status, elapsed_ms = started.elapsed().as_millis() as u64, error = ?error, "notification");
        sqlx::query(
            "UPDATE notifications SET status = $1, attempts = attempts + 1, error = $2, next_attempt_at = $3, \
             recipients = $4, sent_at = CASE WHEN $1 = 'sent' THEN $5 ELSE sent_at END WHERE id = $6",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(recipients)
        .bind(now())
        .bind(id)
        .execute(&core.store.write)
        .await?;
    }
    Ok(())
}
