//! CRL publishing: numbering, streaming the revoked serials, scheduling.

use std::time::Duration;

use signet_ca::crl::{CrlSpec, CrlWriter, Entry, Kind, REMOVE_FROM_CRL};
use sqlx::Row;

use crate::config::PublishOnRevoke;
use crate::core_state::Core;
use crate::store::batch::Stmt;
use crate::store::crls::{self, CrlRow};
use crate::store::{StoreError, TxConn, cas, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
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

pub fn delta_url(app: &Core, ca_id: &str) -> String {
    format!("{}/crl/{ca_id}/delta.crl", app.http_url)
}

/// Decode a hex serial into `buf` without allocating; returns the bytes.
fn serial_bytes<'b>(hex: &str, buf: &'b mut [u8; 32]) -> Result<&'b [u8], PublishError> {
    let corrupt = || PublishError::Store(StoreError::Corrupt(format!("serial {hex}")));
    let h = hex.as_bytes();
    if !h.len().is_multiple_of(2) || h.len() > 64 {
        return Err(corrupt());
    }
    let nib = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(corrupt()),
    };
    for i in 0..h.len() / 2 {
        buf[i] = (nib(h[2 * i])? << 4) | nib(h[2 * i + 1])?;
    }
    Ok(&buf[..h.len() / 2])
}

/// Stream rows of (serial, revoked_at, reason, invalidity_date) into the writer.
async fn stream_into(
    w: &mut CrlWriter<'_>,
    conn: &mut TxConn,
    sql: &'static str,
    ca_id: &str,
    since: i64,
    shard: Option<i64>,
    forced_reason: Option<u8>,
) -> Result<(), PublishError> {
    let mut q = Stmt::new(sql).bind(ca_id).bind(since);
    if let Some(s) = shard {
        q = q.bind(s);
    }
    let mut buf = [0u8; 32];
    conn.for_each(q, |r| {
        let serial = serial_bytes(r.try_get::<&str, _>(0)?, &mut buf)?;
        let reason: Option<i64> = r.try_get(2)?;
        w.push(&Entry {
            serial,
            revoked_at: r.try_get(1)?,
            reason: forced_reason.or_else(|| reason.and_then(|x| u8::try_from(x).ok())),
            invalidity_date: r.try_get(3)?,
        });
        Ok(())
    })
    .await
}

// A certificate drops off only after one CRL issued after its notAfter: keep
// it while it was unexpired at the previous full CRL, or if that CRL predates
// its revocation.
const FULL_SQL: &str = "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates \
     WHERE ca_id = $1 AND status = 'revoked' AND (not_after >= $2 OR revoked_at >= $2)";
const SHARD_SQL: &str = "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates \
     WHERE ca_id = $1 AND status = 'revoked' AND (not_after >= $2 OR revoked_at >= $2) AND crl_shard = $3";
const DELTA_SQL: &str = "SELECT serial, revoked_at, revocation_reason, invalidity_date FROM certificates \
     WHERE ca_id = $1 AND status = 'revoked' AND revoked_at >= $2";
const LIFTED_SQL: &str = "SELECT serial, unrevoked_at, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) FROM certificates \
     WHERE ca_id = $1 AND status = 'active' AND unrevoked_at >= $2";

/// Publish a new complete CRL of `kind` for a CA.
pub async fn publish(app: &Core, ca_id: &str, kind: CrlKind) -> Result<CrlRow, PublishError> {
    publish_scoped(app, ca_id, kind, None).await
}

/// Publish a CRL: the complete one (`shard` None), or the full CRL of one
/// shard. A delta needs a full CRL to be based on, so the first delta of a
/// CA publishes a full CRL first. Shards have no deltas.
pub async fn publish_scoped(
    app: &Core,
    ca_id: &str,
    kind: CrlKind,
    shard: Option<i64>,
) -> Result<CrlRow, PublishError> {
    if shard.is_some() && kind == CrlKind::Delta {
        return Err(PublishError::Ca("sharded CRLs have no deltas".into()));
    }
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, ca_id)
        .await
        .map_err(|e| PublishError::Ca(e.to_string()))?;
    let base = crls::latest_meta(&app.store.read, ca_id, "full", shard).await?;
    let base = match (kind, base) {
        (CrlKind::Delta, None) => {
            let f = Box::pin(publish(app, ca_id, CrlKind::Full)).await?;
            Some(crls::CrlMeta {
                number: f.number,
                base_number: None,
                this_update: f.this_update,
                next_update: f.next_update,
            })
        }
        (_, b) => b,
    };
    let rc = &app.config.revocation;
    let mut tx = app.store.write.begin().await.map_err(StoreError::from)?;
    // The row lock on the CA serialises publishers, across replicas too.
    let number = crls::next_number(&mut *tx, ca_id).await?;
    let this_update = now();
    let (spec, base_number, since) = match kind {
        CrlKind::Full => {
            let since = base.as_ref().map(|b| b.this_update).unwrap_or(0);
            let kind = match shard {
                None => Kind::Full {
                    freshest_url: Some(delta_url(app, ca_id)),
                    idp_url: None,
                },
                Some(s) => Kind::Full {
                    freshest_url: None,
                    idp_url: Some(app.crl_shard_url(ca_id, s)),
                },
            };
            let spec = CrlSpec {
                number: number as u64,
                this_update,
                next_update: this_update + rc.crl_validity_secs,
                kind,
            };
            (spec, None, since)
        }
        CrlKind::Delta => {
            let base = base.expect("published above");
            let kind = Kind::Delta {
                base: base.number as u64,
            };
            let spec = CrlSpec {
                number: number as u64,
                this_update,
                next_update: this_update + rc.delta_validity_secs,
                kind,
            };
            (
                spec,
                Some(base.number),
                base.this_update - DELTA_OVERLAP_SECS,
            )
        }
    };
    // Count first so the CRL buffer is allocated once at its final size.
    let expected: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM certificates WHERE ca_id = $1 AND status = 'revoked' AND COALESCE(crl_shard, -1) = COALESCE($2, crl_shard, -1)",
    )
    .bind(ca_id.to_string())
    .bind(shard)
    .fetch_one(&mut *tx)
    .await?;
    let sized = if kind == CrlKind::Full {
        expected as usize
    } else {
        0
    };
    let mut w = CrlWriter::new(&issuer, &spec, sized);
    match (kind, shard) {
        (CrlKind::Full, None) => {
            stream_into(&mut w, &mut tx, FULL_SQL, ca_id, since, None, None).await?
        }
        (CrlKind::Full, Some(_)) => {
            stream_into(&mut w, &mut tx, SHARD_SQL, ca_id, since, shard, None).await?
        }
        (CrlKind::Delta, _) => {
            stream_into(&mut w, &mut tx, DELTA_SQL, ca_id, since, None, None).await?;
            stream_into(
                &mut w,
                &mut tx,
                LIFTED_SQL,
                ca_id,
                since,
                None,
                Some(REMOVE_FROM_CRL),
            )
            .await?;
        }
    }
    let entries = w.len() as i64;
    let der = w.finish().map_err(|e| PublishError::Ca(e.to_string()))?;
    let row = CrlRow {
        ca_id: ca_id.to_string(),
        number,
        kind: kind.as_str().into(),
        base_number,
        this_update,
        next_update: spec.next_update,
        entries,
        shard,
        der,
    };
    crls::insert(&mut *tx, &row).await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(
        ca = ca_id,
        number,
        kind = kind.as_str(),
        shard,
        entries,
        "published CRL"
    );
    Ok(row)
}

/// Publish whatever is due for one CA: a full CRL when it is older than the
/// interval or close to its nextUpdate, a delta likewise or when its base moved.
pub async fn publish_due(app: &Core, ca_id: &str) -> Result<(), PublishError> {
    let rc = &app.config.revocation;
    let t = now();
    let full = crls::latest_meta(&app.store.read, ca_id, "full", None).await?;
    let full_due = full.as_ref().is_none_or(|f| {
        t - f.this_update >= rc.crl_full_interval_secs
            || f.next_update - t <= rc.crl_full_interval_secs
    });
    let full_number = if full_due {
        publish(app, ca_id, CrlKind::Full).await?.number
    } else {
        full.map(|f| f.number).unwrap_or(0)
    };
    let delta = crls::latest_meta(&app.store.read, ca_id, "delta", None).await?;
    let delta_due = delta.as_ref().is_none_or(|d| {
        d.base_number != Some(full_number)
            || t - d.this_update >= rc.delta_interval_secs
            || d.next_update - t <= rc.delta_interval_secs
    });
    if delta_due {
        publish(app, ca_id, CrlKind::Delta).await?;
    }
    let shards = app.config.revocation.crl_shards;
    for s in (0..i64::from(shards)).filter(|_| shards > 1) {
        let last = crls::latest_meta(&app.store.read, ca_id, "full", Some(s)).await?;
        if last.is_none_or(|f| {
            t - f.this_update >= rc.crl_full_interval_secs
                || f.next_update - t <= rc.crl_full_interval_secs
        }) {
            publish_scoped(app, ca_id, CrlKind::Full, Some(s)).await?;
        }
    }
    Ok(())
}

/// CAs Signet holds a key for, and so publishes CRLs for.
pub async fn signing_cas(app: &Core) -> Result<Vec<String>, StoreError> {
    Ok(cas::list(&app.store.read)
        .await?
        .into_iter()
        .filter(|c| c.status == "active")
        .map(|c| c.id)
        .collect())
}

pub async fn publish_all_due(app: &Core) {
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

/// Revocations waiting for their CRLs: CA id → the latest revocation time.
/// The replica that revoked publishes (so once across replicas), and skips
/// what another replica or the schedule published since.
#[derive(Default)]
pub struct RevokeTrigger {
    pending: std::sync::Mutex<std::collections::BTreeMap<String, i64>>,
    wake: tokio::sync::Notify,
}

impl RevokeTrigger {
    /// A certificate of `ca_id` was revoked (or its hold lifted) at `at`.
    pub fn revoked(&self, ca_id: &str, at: i64) {
        let mut p = self.pending.lock().expect("lock");
        let t = p.entry(ca_id.to_string()).or_insert(at);
        *t = (*t).max(at);
        drop(p);
        self.wake.notify_one();
    }

    /// Wait for revocations, then `delay` more, so that a burst makes one
    /// batch; returns CA id → latest revocation time.
    pub async fn next_batch(&self, delay: Duration) -> std::collections::BTreeMap<String, i64> {
        self.wake.notified().await;
        tokio::time::sleep(delay).await;
        std::mem::take(&mut *self.pending.lock().expect("lock"))
    }
}

/// Publish what does not yet cover a revocation made at `at`.
pub async fn publish_after_revocation(
    app: &Core,
    ca_id: &str,
    at: i64,
    mode: PublishOnRevoke,
) -> Result<(), PublishError> {
    // Only CAs whose key Signet holds publish (not an imported external issuer).
    if !signing_cas(app).await?.iter().any(|c| c == ca_id) {
        return Ok(());
    }
    // Strictly after: a CRL of the same second may predate the revocation.
    let stale = |m: Option<crls::CrlMeta>| m.is_none_or(|m| m.this_update <= at);
    if mode == PublishOnRevoke::Full
        && stale(crls::latest_meta(&app.store.read, ca_id, "full", None).await?)
    {
        publish(app, ca_id, CrlKind::Full).await?;
    }
    if stale(crls::latest_meta(&app.store.read, ca_id, "delta", None).await?) {
        publish(app, ca_id, CrlKind::Delta).await?;
    }
    Ok(())
}
