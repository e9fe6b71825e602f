//! Renewal: by the scheduler before expiry, or on request (`POST /renew`,
//! rotation trigger). Every renewal goes through the issuance pipeline, so
//! the template's policy is evaluated again and a tightened template refuses
//! it visibly.
//!
//! A certificate's `renewal_status` moves: (none) → `scheduled` (with
//! `next_renewal_at`) → `renewing` (claimed) → `queued` (a successor exists,
//! written in the same transaction as the successor's row) → `renewed` (the
//! successor is active, targets moved and deliveries recorded) — or
//! `failed`, retried with backoff. Because the successor and `queued` commit
//! together, a crash at any point leaves either no successor (the claim
//! lapses and the renewal runs again) or exactly one.

use serde_json::json;
use signet_ca::issue::CertPlan;
use signet_ca::key::KeyType;
use signet_ca::names::San;

use super::{backoff, notify, rotation, template_specs};
use crate::core_state::Core;
use crate::issuance::{self, IssuanceRequest, IssueError, Outcome, RequestKey};
use crate::policy::Channel;
use crate::policy::renew::RenewBefore;
use crate::store::batch::Stmt;
use crate::store::certificates::{self as certs, CertRow};
use crate::store::{StoreError, audit, now};

pub const SCHEDULER: &str = "system:renewal";

/// The request that renews `row`: same template, project, subject and
/// names; a new key for a server-held one (the same key when the template
/// says `reuse_key`), the same public key for an uploaded CSR.
fn request_for(
    core: &Core,
    row: &CertRow,
    actor: &str,
    reuse_key: bool,
) -> Result<IssuanceRequest, IssueError> {
    if row.der.is_none() {
        return Err(IssueError::Conflict(
            "only an issued certificate can be renewed".into(),
        ));
    }
    if !matches!(row.channel.as_str(), "api" | "import") {
        return Err(IssueError::Conflict(format!(
            "{} clients renew their certificates themselves",
            row.channel.to_uppercase()
        )));
    }
    let sans: Vec<San> = serde_json::from_str(&row.sans).map_err(StoreError::from)?;
    let key = match (&row.key_sealed, &row.csr) {
        (Some(sealed), _) if reuse_key => RequestKey::Held(signet_ca::key::open_key(
            &core.master_key,
            row.id.as_bytes(),
            sealed,
        )?),
        (Some(_), _) => RequestKey::Generate(row.key_type.parse().unwrap_or(KeyType::EcP256)),
        (None, Some(csr)) => RequestKey::Csr(signet_ca::csr::parse(csr)?),
        (None, None) => {
            return Err(IssueError::Conflict(
                "no key to renew from: imported without its key, and no CSR".into(),
            ));
        }
    };
    let subject = serde_json::from_str::<CertPlan>(&row.plan)
        .map(|p| p.subject)
        .unwrap_or_else(|_| {
            row.common_name
                .iter()
                .map(|cn| ("CN".to_string(), cn.clone()))
                .collect()
        });
    let pred = row.id.clone();
    Ok(IssuanceRequest {
        channel: Channel::Api,
        requested_by: actor.to_string(),
        template: row.template_id.clone(),
        project: row.project_id.clone(),
        subject,
        sans,
        key,
        validity_days: None,
        replaces_id: Some(row.id.clone()),
        min_approvals: 0,
        // In the successor's own transaction: the predecessor knows it is
        // being renewed (so no second renewal starts), and the successor
        // inherits the certificate's settings.
        link: Some(Box::new(move |succ: &str| {
            vec![
                Stmt::new(
                    "UPDATE certificates SET renewal_status = 'queued', renewed_by = $1, last_renew_error = NULL \
                     WHERE id = $2",
                )
                .bind(succ.to_string())
                .bind(pred.clone()),
                Stmt::new(
                    "UPDATE certificates SET auto_renew = (SELECT auto_renew FROM certificates WHERE id = $2), \
                     renew_before = (SELECT renew_before FROM certificates WHERE id = $2), \
                     rotation_config = (SELECT rotation_config FROM certificates WHERE id = $2), \
                     tags = (SELECT tags FROM certificates WHERE id = $2), \
                     description = (SELECT description FROM certificates WHERE id = $2) WHERE id = $1",
                )
                .bind(succ.to_string())
                .bind(pred),
            ]
        })),
    })
}

/// Renew `row` now, as `actor`. An issued successor is settled at once;
/// one that waits for approval is settled by the scheduler when approved.
pub async fn renew(core: &Core, row: &CertRow, actor: &str) -> Result<Outcome, IssueError> {
    let reuse_key = match &row.template_id {
        Some(t) => template_specs(core)
            .await?
            .get(t)
            .is_some_and(|s| s.reuse_key),
        None => false,
    };
    let req = request_for(core, row, actor, reuse_key)?;
    let outcome = issuance::submit(core, req).await?;
    if matches!(outcome, Outcome::Issued(_)) {
        settle(core, &row.id).await?;
    }
    Ok(outcome)
}

/// A queued renewal whose successor is active becomes `renewed`: the
/// rotation targets move to the successor, a delivery to each is recorded,
/// and so is the notification, all in one transaction (and only once).
pub async fn settle(core: &Core, pred: &str) -> Result<bool, StoreError> {
    let mut tx = core.store.write.begin().await?;
    let found: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT p.renewed_by, p.rotation_config FROM certificates p JOIN certificates s ON s.id = p.renewed_by \
         WHERE p.id = $1 AND p.renewal_status = 'queued' AND s.status = 'active'",
    )
    .bind(pred.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let Some((succ, config)) = found else {
        return Ok(false);
    };
    let done = sqlx::query(
        "UPDATE certificates SET renewal_status = 'renewed', renew_failures = 0 WHERE id = $1 AND renewal_status = 'queued'",
    )
    .bind(pred.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let mut stmts = rotation::follow_stmts(pred, &succ);
    if rotation::enabled(config.as_deref()) {
        stmts.extend(rotation::delivery_stmts_for_line(&mut tx, pred, &succ, "renewal").await?);
    }
    stmts.extend(notify::enqueue(
        core,
        notify::Event::RenewalSucceeded,
        pred,
        0,
    ));
    for s in stmts {
        s.execute(&mut *tx).await?;
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor: SCHEDULER,
            action: "certificate.renewed",
            target: Some(pred),
            severity: "info",
            request_id: None,
            details: json!({"successor": succ}),
        },
    )
    .await?;
    tx.commit().await?;
    core.metrics.renewal("succeeded");
    Ok(true)
}

/// A renewal that did not happen: why, and when to try again.
async fn record_failure(core: &Core, id: &str, error: &str, retry: bool) -> Result<(), StoreError> {
    let failures: i64 = sqlx::query_scalar("SELECT renew_failures FROM certificates WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(&core.store.read)
        .await?;
    let next = retry.then(|| now() + backoff(core, failures + 1));
    let mut tx = core.store.write.begin().await?;
    sqlx::query(
        "UPDATE certificates SET renewal_status = 'failed', last_renew_error = $1, renew_failures = renew_failures + 1, \
         next_renewal_at = $2, renewed_by = NULL WHERE id = $3",
    )
    .bind(error.to_string())
    .bind(next)
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    for s in notify::enqueue(core, notify::Event::RenewalFailed, id, 0) {
        s.execute(&mut *tx).await?;
    }
    audit::record(
        &mut tx,
        audit::Event {
            actor: SCHEDULER,
            action: "certificate.renewal_failed",
            target: Some(id),
            severity: "high",
            request_id: None,
            details: json!({"error": error, "retry_at": next.map(crate::timefmt::rfc3339)}),
        },
    )
    .await?;
    tx.commit().await?;
    core.metrics.renewal("failed");
    Ok(())
}

/// One scheduler round: schedule, release stale claims, settle approved
/// renewals, then renew what is due.
pub async fn run_round(core: &Core) -> Result<(), StoreError> {
    let t = now();
    let specs = template_specs(core).await?;
    type Unscheduled = (
        String,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Unscheduled> = sqlx::query_as(
        "SELECT id, not_before, not_after, template_id, renew_before FROM certificates \
         WHERE auto_renew = 1 AND status = 'active' AND renewal_status IS NULL \
         AND channel IN ('api', 'import') AND (key_sealed IS NOT NULL OR csr IS NOT NULL) LIMIT 1000",
    )
    .fetch_all(&core.store.read)
    .await?;
    for (id, nb, na, template, own) in rows {
        let (Some(nb), Some(na)) = (nb, na) else {
            continue;
        };
        let rule = own
            .or_else(|| template.and_then(|t| specs.get(&t).map(|s| s.renew_before.clone())))
            .and_then(|r| RenewBefore::parse(&r).ok())
            .unwrap_or(RenewBefore::Fraction(1.0 / 3.0));
        sqlx::query(
            "UPDATE certificates SET renewal_status = 'scheduled', next_renewal_at = $1 WHERE id = $2 AND renewal_status IS NULL",
        )
        .bind(rule.due_at(nb, na))
        .bind(id)
        .execute(&core.store.write)
        .await?;
    }
    // A claim whose renewal never wrote a successor (a crash): run it again.
    sqlx::query(
        "UPDATE certificates SET renewal_status = 'scheduled' WHERE renewal_status = 'renewing' \
         AND renewed_by IS NULL AND last_renew_attempt_at < $1",
    )
    .bind(t - core.config.reconcile_after_secs)
    .execute(&core.store.write)
    .await?;
    // Successors that were waiting: approved, rejected or failed since.
    let queued: Vec<(String, String)> = sqlx::query_as(
        "SELECT p.id, s.status FROM certificates p JOIN certificates s ON s.id = p.renewed_by \
         WHERE p.renewal_status = 'queued' AND s.status IN ('active', 'rejected', 'failed') LIMIT 1000",
    )
    .fetch_all(&core.store.read)
    .await?;
    for (pred, status) in queued {
        match status.as_str() {
            "active" => {
                settle(core, &pred).await?;
            }
            // A rejection is a decision: not retried until the certificate's
            // settings change. A failed signature is retried.
            "rejected" => {
                record_failure(core, &pred, "the renewal request was rejected", false).await?
            }
            _ => record_failure(core, &pred, "the renewal request failed", true).await?,
        }
    }
    let due: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM certificates WHERE auto_renew = 1 AND status = 'active' AND next_renewal_at <= $1 \
         AND renewal_status IN ('scheduled', 'failed') ORDER BY next_renewal_at LIMIT 100",
    )
    .bind(t)
    .fetch_all(&core.store.read)
    .await?;
    for id in due {
        let claimed = sqlx::query(
            "UPDATE certificates SET renewal_status = 'renewing', last_renew_attempt_at = $1 \
             WHERE id = $2 AND renewal_status IN ('scheduled', 'failed') AND next_renewal_at <= $1",
        )
        .bind(t)
        .bind(id.clone())
        .execute(&core.store.write)
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let row = certs::get(&core.store.read, &id).await?;
        match renew(core, &row, SCHEDULER).await {
            Ok(Outcome::Issued(s)) => {
                tracing::info!(certificate = %id, successor = %s.id, "renewed")
            }
            Ok(Outcome::Pending(s)) => {
                core.metrics.renewal("queued");
                tracing::info!(certificate = %id, successor = %s.id, "renewal waits for approval")
            }
            Err(IssueError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::warn!(certificate = %id, error = %e, "renewal failed");
                record_failure(core, &id, &e.to_string(), true).await?;
            }
        }
    }
    Ok(())
}

/// New renewal settings for a certificate (`None` keeps one; an empty
/// `renew_before` falls back to the template's): it is scheduled again from
/// them, while a renewal under way finishes.
pub async fn reschedule(
    core: &Core,
    id: &str,
    auto_renew: Option<bool>,
    renew_before: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE certificates SET auto_renew = COALESCE($1, auto_renew), \
         renew_before = CASE WHEN $2 = '-' THEN renew_before WHEN $2 = '' THEN NULL ELSE $2 END, \
         renewal_status = CASE WHEN renewal_status IN ('renewing', 'queued', 'renewed') THEN renewal_status ELSE NULL END, \
         next_renewal_at = NULL, renew_failures = 0, updated_at = $3 WHERE id = $4",
    )
    .bind(auto_renew.map(i64::from))
    .bind(renew_before.unwrap_or("-").to_string())
    .bind(now())
    .bind(id.to_string())
    .execute(&core.store.write)
    .await?;
    Ok(())
}
