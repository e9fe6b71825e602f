//! Leases for background jobs that must run on one replica at a time: the
//! holder renews its lease each round; another replica takes it over once
//! it has expired (its holder stopped or died).

use sqlx::{Any, Executor};

use super::Result;

/// Take or renew the lease `name` for `ttl_secs`: true when `holder` has it.
pub async fn acquire<'e>(
    db: impl Executor<'e, Database = Any>,
    name: &str,
    holder: &str,
    now: i64,
    ttl_secs: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < $4",
    )
    .bind(name.to_string())
    .bind(holder.to_string())
    .bind(now + ttl_secs)
    .bind(now)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}
