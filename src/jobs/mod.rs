//! Background work of the core, started in one place (`start`). Scheduled
//! jobs hold a lease in the store, so each runs on one replica at a time;
//! the CRL publisher after revocations runs on the replica that revoked. A
//! front's own jobs (ACME's nonce purge and order reconcile) use
//! `spawn_leased` too, and the shell starts them beside these.

use std::time::Duration;

use crate::config::PublishOnRevoke;
use crate::core_state::CoreState;
use crate::issuance;
use crate::revocation::crl;
use crate::store::{Store, leases, new_id, now};

/// Start the core's jobs: the CRL schedule, CRLs after revocations, the
/// reconcile of certificates left `issuing`, and the lifecycle (renewals,
/// deliveries, notifications).
pub fn start(app: &CoreState) {
    crate::lifecycle::start(app);
    // The first round runs at once, so a CRL that lapsed while the server
    // was down is published right away.
    let every = Duration::from_secs(app.config.revocation.check_interval_secs);
    spawn_leased(
        app.store.clone(),
        app.clone(),
        "crl-schedule",
        every,
        |app| async move {
            crl::publish_all_due(&app).await;
        },
    );
    spawn_revoke_publisher(app.clone());
    let after = app.config.reconcile_after_secs;
    spawn_leased(
        app.store.clone(),
        app.clone(),
        "reconcile-certificates",
        half(after),
        move |app| async move {
            if let Err(e) = issuance::reconcile(&app, now() - after).await {
                tracing::warn!(error = %e, "reconciling certificates failed; retrying next round");
            }
        },
    );
}

/// Half of a deadline in seconds (at least one second): how often a job
/// looks for what has passed it.
pub fn half(secs: i64) -> Duration {
    Duration::from_secs((secs.max(0) as u64 / 2).max(1))
}

/// Every `interval`, on the one replica holding the lease `name` in
/// `store`, run `round` with `state` (the core's, or a front's).
pub fn spawn_leased<S, F, Fut>(
    store: Store,
    state: S,
    name: &'static str,
    interval: Duration,
    round: F,
) where
    S: Clone + Send + Sync + 'static,
    F: Fn(S) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let holder = new_id();
        let ttl = (interval.as_secs() as i64).max(1) * 3;
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            match leases::acquire(&store.write, name, &holder, now(), ttl).await {
                Ok(true) => round(state.clone()).await,
                Ok(false) => {}
                Err(e) => tracing::warn!(job = name, error = %e, "cannot take the job lease"),
            }
        }
    });
}

/// Publish CRLs a moment after revocations (`revocation.publish_on_revoke`).
pub fn spawn_revoke_publisher(app: CoreState) {
    let mode = app.config.revocation.publish_on_revoke;
    if mode == PublishOnRevoke::Off {
        return;
    }
    let delay = Duration::from_millis(app.config.revocation.publish_on_revoke_delay_ms);
    tokio::spawn(async move {
        loop {
            for (ca_id, at) in app.revoke_trigger.next_batch(delay).await {
                if let Err(e) = crl::publish_after_revocation(&app, &ca_id, at, mode).await {
                    tracing::error!(ca = %ca_id, error = %e, "CRL publication after a revocation failed");
                }
            }
        }
    });
}
