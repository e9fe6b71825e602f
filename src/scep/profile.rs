//! SCEP profiles from the configuration, resolved to the CA their template
//! names (read from the store each time, so a template edited through the
//! API takes effect on every replica).

use crate::config::ScepProfile;
use crate::core_state::Core;
use crate::error::ApiError;
use crate::policy::TemplateSpec;
use crate::store::{StoreError, cas, templates};

pub struct Profile<'a> {
    pub name: &'a str,
    pub cfg: &'a ScepProfile,
    pub ca_id: String,
}

fn not_found(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no SCEP profile {what}"),
    )
}

pub async fn resolve<'a>(app: &'a Core, name: &str) -> Result<Profile<'a>, ApiError> {
    let (name, cfg) = app
        .config
        .scep
        .profiles
        .get_key_value(name)
        .ok_or_else(|| not_found(&format!("{name:?}")))?;
    let ca_id = template_ca(app, &cfg.template).await?;
    Ok(Profile {
        name: name.as_str(),
        cfg,
        ca_id,
    })
}

/// The profile serving a CA (by id or name), for `/api/v1/scep/{ca}`.
pub async fn for_ca<'a>(app: &'a Core, ca: &str) -> Result<Profile<'a>, ApiError> {
    let row = cas::find(&app.store.read, ca).await.map_err(|e| match e {
        StoreError::NotFound => not_found(&format!("for CA {ca:?}")),
        other => other.into(),
    })?;
    for name in app.config.scep.profiles.keys() {
        let p = resolve(app, name).await?;
        if p.ca_id == row.id {
            return Ok(p);
        }
    }
    Err(not_found(&format!("for CA {ca:?}")))
}

async fn template_ca(app: &Core, template: &str) -> Result<String, ApiError> {
    let misconfigured = |m: String| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "misconfigured",
            m,
        )
    };
    let row = templates::find(&app.store.read, template)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => misconfigured(format!(
                "the SCEP profile's template {template:?} does not exist"
            )),
            other => other.into(),
        })?;
    let spec: TemplateSpec = serde_json::from_str(&row.spec).map_err(StoreError::from)?;
    if spec.ca.is_empty() {
        return app
            .cas
            .default_id(&app.store)
            .await
            .map_err(|e| misconfigured(e.to_string()));
    }
    Ok(cas::find(&app.store.read, &spec.ca).await?.id)
}
