//! External Account Binding credentials: created by an admin (CLI or API),
//! used once by an ACME client to bind its account to a project and template.

use openssl::rand::rand_bytes;
use signet_ca::jose::b64;
use signet_ca::key;

use crate::app::App;
use crate::store::{StoreError, acme, new_id, now, projects, templates};

pub struct NewEab {
    pub kid: String,
    /// base64url HMAC key, shown once.
    pub hmac_key: String,
    pub project_id: String,
    pub template_id: String,
}

pub async fn create(app: &App, project: &str, template: &str) -> Result<NewEab, StoreError> {
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
    acme::insert_eab(
        &app.store.write,
        &acme::EabRow {
            id: new_id(),
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
        kid,
        hmac_key: b64(&raw),
        project_id,
        template_id,
    })
}
