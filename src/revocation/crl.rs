//! CRL publishing: numbering, streaming the revoked serials, scheduling.

use std::time::Duration;

use futures::TryStreamExt;
use signet_ca::crl::{self, CrlSpec, Entry, Kind, REMOVE_FROM_CRL, RevokedList};
use signet_ca::serial;
use sqlx::Row;

use crate::app::{App, AppState};
use crate::store::crls::{self, CrlRow};
use crate::store::{StoreError, cas, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrlKind {
    Full,
    Delta,
}

impl CrlKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CrlKind::Full => "full",
            CrlKind::Delta => "delta",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("CA: {0}")]
    Ca(String),
}

impl From<sqlx::Error> for PublishError {
    fn from(e: sqlx::Error) -> Self {
        PublishError::Store(e.into())
    }
}

/// Revocations committed just before a base CRL's thisUpdate might have
/// missed its snapshot; deltas look back this far to be sure to carry them.
const DELTA_OVERLAP_SECS: i64 = 300;

pub fn delta_url(app: &App, ca_id: &str) -> String {
    format!("{}/crl/{ca_id}/delta.crl", app.http_url)
}

fn entry(
    serial_hex: &str,
    revoked_at: i64,
    reason: Option<i64>,
    invalidity: Option<i64>,
) -> Result<Entry, PublishError> {
    Ok(Entry {
        serial: serial::from_hex(serial_hex)
            .ok_or_else(|| StoreError::Corrupt(format!("serial {serial_hex}")))?,
        revoked_at,
        reason: reason.and_then(|r| u8::try_from(r).ok()),
        invalidity_date: invalidity,
    })
}

/// Publish a new CRL of `kind` for a CA. A delta needs a full CRL to be
/// based on, so the first delta of a CA publishes a full CRL first.
pub async fn publish(app: &App, ca_id: &str, kind: CrlKind) -> Result<CrlRow, PublishError> {
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, ca_id)
        .await
        .map_err(|e| PublishError::Ca(e.to_string()))?;
    let base = crls::latest(&app.store.read, ca_id, "full").await?;
    let base = match (kind, base) {
        (CrlKind::Delta, None) => Some(Box::pin(publish(app, ca_id, CrlKind::Full)).await?),
        (_, b) => b,
    };
    let rc = &app.config.revocation;
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    // The row lock on the CA serialises publishers, across replicas too.
    let number = crls::next_number(&mut *tx, ca_id).await?;
    let this_update = now();
    let mut list = RevokedList::default();
    let (spec, base_number) = match kind {
        CrlKind::Full => {
            // A certificate drops off only after one CRL issued after its
            // notAfter: keep it while it was unexpired at the previous full
            // CRL, or if that CRL predates its revocation.
            let since = base.as_ref().map(|b| b.this_update).unwrap_or(0);
            let mut rows = sqlx::query(
                "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates \
                 WHERE ca_id = $1 AND status = 'revoked' AND (not_after >= $2 OR revoked_at >= $2)",
            )
            .bind(ca_id.to_string())
            .bind(since)
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                list.push(&entry(
                    &r.try_get::<String, _>(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                )?);
            }
            drop(rows);
            let kind = Kind::Full {
                freshest_url: Some(delta_url(app, ca_id)),
            };
            (
                CrlSpec {
                    number: number as u64,
                    this_update,
                    next_update: this_update + rc.crl_validity_secs,
                    kind,
                },
                None,
            )
        }
        CrlKind::Delta => {
            let base = base.expect("published above");
            let since = base.this_update - DELTA_OVERLAP_SECS;
            let mut rows = sqlx::query(
                "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates \
                 WHERE ca_id = $1 AND status = 'revoked' AND revoked_at >= $2 AND not_after >= $3",
            )
            .bind(ca_id.to_string())
            .bind(since)
            .bind(base.this_update)
            .fetch(&mut *tx);
            while let Some(r) = rows.try_next().await? {
                list.push(&entry(
                    &r.try_get::<String, _>(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                )?);
            }
            drop(rows);
            let mut lifted = sqlx::query("SELECT serial, unrevoked_at FROM certificates WHERE ca_id = $1 AND status = 'active' AND unrevoked_at >= $2")
                .bind(ca_id.to_string())
                .bind(since)
                .fetch(&mut *tx);
            while let Some(r) = lifted.try_next().await? {
                list.push(&entry(
                    &r.try_get::<String, _>(0)?,
                    r.try_get(1)?,
                    Some(i64::from(REMOVE_FROM_CRL)),
                    None,
                )?);
            }
            drop(lifted);
            let kind = Kind::Delta {
                base: base.number as u64,
            };
            (
                CrlSpec {
                    number: number as u64,
                    this_update,
                    next_update: this_update + rc.delta_validity_secs,
                    kind,
                },
                Some(base.number),
            )
        }
    };
    let entries = list.len() as i64;
    let der = crl::build_from(&issuer, &spec, list).map_err(|e| PublishError::Ca(e.to_string()))?;
    let row = CrlRow {
        ca_id: ca_id.to_string(),
        number,
        kind: kind.as_str().into(),
        base_number,
        this_update,
        next_update: spec.next_update,
        entries,
        der,
    };
    crls::insert(&mut *tx, &row).await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(
        ca = ca_id,
        number,
        kind = kind.as_str(),
        entries,
        "published CRL"
    );
    Ok(row)
}

/// Publish whatever is due for one CA: a full CRL when it is older than the
/// interval or close to its nextUpdate, a delta likewise or when its base moved.
pub async fn publish_due(app: &App, ca_id: &str) -> Result<(), PublishError> {
    let rc = &app.config.revocation;
    let t = now();
    let full = crls::latest(&app.store.read, ca_id, "full").await?;
    let full_due = full.as_ref().is_none_or(|f| {
        t - f.this_update >= rc.crl_full_interval_secs
            || f.next_update - t <= rc.crl_full_interval_secs
    });
    let full_number = if full_due {
        publish(app, ca_id, CrlKind::Full).await?.number
    } else {
        full.map(|f| f.number).unwrap_or(0)
    };
    let delta = crls::latest(&app.store.read, ca_id, "delta").await?;
    let delta_due = delta.as_ref().is_none_or(|d| {
        d.base_number != Some(full_number)
            || t - d.this_update >= rc.delta_interval_secs
            || d.next_update - t <= rc.delta_interval_secs
    });
    if delta_due {
        publish(app, ca_id, CrlKind::Delta).await?;
    }
    Ok(())
}

/// CAs Signet holds a key for, and so publishes CRLs for.
pub async fn signing_cas(app: &App) -> Result<Vec<String>, StoreError> {
    Ok(cas::list(&app.store.read)
        .await?
        .into_iter()
        .filter(|c| c.status == "active")
        .map(|c| c.id)
        .collect())
}

pub async fn publish_all_due(app: &App) {
    match signing_cas(app).await {
        Ok(ids) => {
            for id in ids {
                if let Err(e) = publish_due(app, &id).await {
                    tracing::error!(ca = %id, error = %e, "CRL publication failed");
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot list CAs for CRL publication"),
    }
}

/// Run the schedule forever. The first round runs at once, so a schedule
/// missed while the server was down is caught at start.
pub fn spawn_scheduler(app: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(
            app.config.revocation.check_interval_secs,
        ));
        loop {
            tick.tick().await;
            publish_all_due(&app).await;
        }
    });
}
