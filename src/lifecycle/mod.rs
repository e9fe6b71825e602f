//! The certificate lifecycle after issuance: renewal by the scheduler
//! (`renewal`), delivery of each renewed certificate to where it is used
//! (`rotation`), and notifications (`notify`). Each job holds a lease, so it
//! runs on one replica at a time; everything it does is recorded in the
//! store first, so a crash or a second replica neither repeats nor loses it.

pub mod notify;
pub mod renewal;
pub mod rotation;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::core_state::CoreState;
use crate::jobs::spawn_leased;
use crate::policy::TemplateSpec;
use crate::store::{StoreError, now};
use crate::timefmt::rfc3339;

pub fn start(app: &CoreState) {
    let every = Duration::from_secs(app.config.lifecycle.tick_secs.max(1));
    spawn_leased(
        app.store.clone(),
        app.clone(),
        "renewals",
        every,
        |app| async move {
            if let Err(e) = renewal::run_round(&app).await {
                tracing::warn!(error = %e, "renewal round failed; retrying next tick");
            }
        },
    );
    spawn_leased(
        app.store.clone(),
        app.clone(),
        "deliveries",
        every,
        |app| async move {
            if let Err(e) = rotation::run_round(&app).await {
                tracing::warn!(error = %e, "delivery round failed; retrying next tick");
            }
        },
    );
    spawn_leased(
        app.store.clone(),
        app.clone(),
        "notifications",
        every,
        |app| async move {
            if let Err(e) = notify::scan_expiring(&app).await {
                tracing::warn!(error = %e, "expiry scan failed; retrying next tick");
            }
            if let Err(e) = notify::send_round(&app).await {
                tracing::warn!(error = %e, "sending notifications failed; retrying next tick");
            }
        },
    );
    // Every replica answers /metrics, so each refreshes the gauges itself.
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = refresh_gauges(&app).await {
                tracing::debug!(error = %e, "lifecycle gauges not refreshed");
            }
        }
    });
}

/// How long to wait before attempt `n + 1` after `n` failures.
pub fn backoff(core: &crate::core_state::Core, failures: i64) -> i64 {
    let l = &core.config.lifecycle;
    let exp = failures.clamp(1, 20) as u32 - 1;
    (l.retry_base_secs.saturating_mul(1u64 << exp)).min(l.retry_max_secs) as i64
}

/// Every template's spec by id (templates are few).
pub async fn template_specs(
    core: &crate::core_state::Core,
) -> Result<HashMap<String, TemplateSpec>, StoreError> {
    Ok(crate::store::templates::list(&core.store.read)
        .await?
        .into_iter()
        .filter_map(|t| Some((t.id, serde_json::from_str(&t.spec).ok()?)))
        .collect())
}

/// What a notification or a webhook says about a certificate.
pub async fn certificate_summary(
    core: &crate::core_state::Core,
    id: &str,
) -> Result<Value, StoreError> {
    let r = crate::store::certificates::get(&core.store.read, id).await?;
    let sans: Vec<Value> = serde_json::from_str::<Vec<Value>>(&r.sans)
        .unwrap_or_default()
        .into_iter()
        .map(|s| s["value"].clone())
        .collect();
    Ok(json!({
        "id": r.id, "common_name": r.common_name, "san": sans, "serial": r.serial,
        "status": r.status, "not_after": r.not_after.map(rfc3339), "ca_id": r.ca_id,
        "template_id": r.template_id, "project_id": r.project_id, "channel": r.channel,
        "replaces_id": r.replaces_id,
    }))
}

/// Expiring counts and the oldest failed renewal, for `/metrics`.
async fn refresh_gauges(core: &crate::core_state::Core) -> Result<(), StoreError> {
    let t = now();
    let mut expiring = [0i64; 3];
    for (i, days) in [1i64, 7, 30].iter().enumerate() {
        expiring[i] = sqlx::query_scalar(
            "SELECT COUNT(*) FROM certificates WHERE status = 'active' AND not_after > $1 AND not_after <= $2",
        )
        .bind(t)
        .bind(t + days * 86400)
        .fetch_one(&core.store.read)
        .await?;
    }
    let oldest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(last_renew_attempt_at) FROM certificates WHERE renewal_status = 'failed' AND status = 'active'",
    )
    .fetch_one(&core.store.read)
    .await?;
    core.metrics
        .set_lifecycle(expiring, oldest.map(|o| (t - o).max(0)).unwrap_or(0));
    Ok(())
}
