//! Export (PEM, DER, PKCS#7, PKCS#12) and private-key retrieval. Anything
//! that releases a key is a high-severity audit event.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use serde::Deserialize;
use serde_json::json;

use super::{attachment, open_key, visible};
use crate::api::ApiState;
use crate::api::auth::Principal;
use crate::error::ApiError;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ExportQuery {
    format: Option<String>,
    include_chain: Option<bool>,
    include_key: Option<bool>,
    password: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

pub async fn export(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    p.require("certificate:read")?;
    let row = visible(&app, &p, &id).await?;
    let der = row.der.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the certificate is not issued",
        )
    })?;
    let format = q.format.as_deref().unwrap_or("pem");
    let include_key = q.include_key.unwrap_or(false) || format == "pkcs12";
    let include_chain = q.include_chain.unwrap_or(true);
    if include_key {
        p.require("certificate:write")?;
        if q.password.as_deref().is_none_or(|pw| pw.len() < 8) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password_required",
                "exporting a key needs a password of at least 8 characters",
            ));
        }
    }
    let cert = X509::from_der(&der).map_err(internal)?;
    let issuer = app
        .cas
        .get(&app.store, &app.master_key, &row.ca_id)
        .await
        .map_err(internal)?;
    let mut chain: Vec<X509> = Vec::new();
    if include_chain
        && issuer
            .cert
            .public_key()
            .map(|k| signet_ca::signed_by(&cert, &k))
            .unwrap_or(false)
    {
        chain.push(issuer.cert.clone());
        chain.extend(issuer.chain.iter().cloned());
    }
    let name = row
        .common_name
        .clone()
        .unwrap_or_else(|| row.id.clone())
        .replace(['"', '/', '\\'], "_");
    let key = if include_key {
        Some(open_key(&app, &row)?)
    } else {
        None
    };
    let pw = q.password.clone().unwrap_or_default();
    let resp = match format {
        "pem" => {
            let mut out = cert.to_pem().map_err(internal)?;
            for c in &chain {
                out.extend(c.to_pem().map_err(internal)?);
            }
            if let Some(k) = &key {
                out.extend(
                    k.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pw.as_bytes())
                        .map_err(internal)?,
                );
            }
            attachment("application/x-pem-file", format!("{name}.pem"), out)
        }
        "der" if key.is_none() => attachment("application/pkix-cert", format!("{name}.cer"), der),
        "pkcs7" if key.is_none() => {
            let mut certs = Stack::new().map_err(internal)?;
            certs.push(cert.clone()).map_err(internal)?;
            for c in &chain {
                certs.push(c.clone()).map_err(internal)?;
            }
            let p7 = CmsContentInfo::sign::<openssl::pkey::Private>(
                None,
                None,
                Some(&certs),
                None,
                CMSOptions::BINARY | CMSOptions::PARTIAL,
            )
            .map_err(internal)?;
            attachment(
                "application/pkcs7-mime",
                format!("{name}.p7b"),
                p7.to_der().map_err(internal)?,
            )
        }
        "pkcs12" => {
            let key = key.ok_or_else(|| internal("key missing"))?;
            let mut ca = Stack::new().map_err(internal)?;
            for c in &chain {
                ca.push(c.clone()).map_err(internal)?;
            }
            // AES-256-CBC with PBKDF2 and a SHA-256 MAC, not the legacy RC2/3DES defaults.
            let p12 = Pkcs12::builder()
                .name(&name)
                .pkey(&key)
                .cert(&cert)
                .ca(ca)
                .key_algorithm(Nid::AES_256_CBC)
                .cert_algorithm(Nid::AES_256_CBC)
                .mac_md(MessageDigest::sha256())
                .build2(&pw)
                .map_err(internal)?;
            attachment(
                "application/x-pkcs12",
                format!("{name}.p12"),
                p12.to_der().map_err(internal)?,
            )
        }
        "der" | "pkcs7" => {
            return Err(ApiError::validation(format!(
                "{format} cannot carry a private key; use pem or pkcs12"
            )));
        }
        other => {
            return Err(ApiError::validation(format!(
                "unknown format {other:?} (pem, der, pkcs7, pkcs12)"
            )));
        }
    };
    crate::api::audit_event(
        &app,
        &p,
        "certificate.exported",
        &id,
        "high",
        json!({"format": format, "include_key": include_key, "include_chain": include_chain}),
    )
    .await?;
    Ok(resp)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct KeyQuery {
    password: Option<String>,
}

pub async fn private_key(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Response, ApiError> {
    p.require("certificate:write")?;
    let row = visible(&app, &p, &id).await?;
    let key = open_key(&app, &row)?;
    let pem = match q.password.as_deref() {
        Some(pw) if pw.len() >= 8 => {
            key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pw.as_bytes())
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password_required",
                "a password must have at least 8 characters",
            ));
        }
        None => key.private_key_to_pem_pkcs8(),
    }
    .map_err(internal)?;
    crate::api::audit_event(
        &app,
        &p,
        "certificate.private_key_read",
        &id,
        "high",
        json!({"encrypted": q.password.is_some()}),
    )
    .await?;
    Ok(attachment(
        "application/x-pem-file",
        format!("{id}.key"),
        pem,
    ))
}
