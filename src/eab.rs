//! External Account Binding credentials: created by an admin (CLI or API),
//! used once by an ACME client to bind its account to a project and template.

use openssl::rand::rand_bytes;
use signet_ca::jose::b64;
use signet_ca::key;

use crate::core_state::Core;
use crate::store::{StoreError, acme, new_id, now, projects, templates};

pub struct NewEab {
    pub id: String,
    pub kid: String,
    /// base64url HMAC key, shown once.
    pub hmac_key: String,
    pub project_id: String,
    pub template_id: String,
}

pub async fn create(app: &Core, project: &str, template: &str) -> Result<NewEab, StoreError> {
    let project_id = projects::find(&app.store.read, project).await?.id;
    let template_id = templates::find(&app.store.read, template).await?.id;
    let mut raw = [0u8; 32];
    rand_bytes(&mut raw).map_err(|e| StoreError::Other(e.to_string()))?;
    let mut kid_raw = [0u8; 12];
    rand_bytes(&mut kid_raw).map_err(|e| StoreError::Other(e.to_string()))?;
    let kid = format!("kid_{}", b64(&kid_raw));
    // The MAC key must be recoverable to verify MACs, so it is sealed, not hashed.
    let hmac_sealed = key::seal(&app.master_key, kid.as_bytes(), &raw)
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let id = new_id();
    acme::insert_eab(
        &app.store.write,
        &acme::EabRow {
            id: id.clone(),
            kid: kid.clone(),
            hmac_sealed,
            project_id: Some(project_id.clone()),
            template_id: Some(template_id.clone()),
            created_at: now(),
            used_at: None,
            account_id: None,
            revoked_at: None,
        },
    )
    .await?;
    Ok(NewEab {
        id,
        kid,
        hmac_key: b64(&raw),
        project_id,
        template_id,
    })
}

/// Revoke a credential (by id or kid) and deactivate the accounts bound to
/// it, in one transaction; false when there is no such unrevoked credential.
/// Account caches start over (`Core::account_rows_epoch`).
pub async fn revoke(core: &Core, id_or_kid: &str) -> Result<bool, StoreError> {
    let mut tx = core.store.write.begin().await?;
    let done = sqlx::query(
        "UPDATE eab_credentials SET revoked_at = $1 WHERE (id = $2 OR kid = $2) AND revoked_at IS NULL",
    )
    .bind(now())
    .bind(id_or_kid.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE acme_accounts SET status = 'deactivated' WHERE eab_id IN \
         (SELECT id FROM eab_credentials WHERE id = $1 OR kid = $1)",
    )
    .bind(id_or_kid.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    core.account_rows_epoch
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    Ok(true)
}

/// Deactivate a valid ACME account; false if it was not valid.
pub async fn deactivate_account(core: &Core, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE acme_accounts SET status = 'deactivated' WHERE id = $1 AND status = 'valid'",
    )
    .bind(id.to_string())
    .execute(&core.store.write)
    .await?;
    core.account_rows_epoch
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    Ok(done.rows_affected() == 1)
}
