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
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::{attachment, open_key, visible};
use crate::api::ApiState;
use crate::api::auth::Principal;
use crate::api::json::ApiJson;
use crate::error::ApiError;

/// `GET …/export` query, or `POST …/export` body (the only way to send a
/// password: query strings end up in logs).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExportQuery {
    /// pem (default), der, pkcs7 or pkcs12
    format: Option<String>,
    /// Default true.
    include_chain: Option<bool>,
    /// pem or pkcs12 only; needs certificate:write and a password.
    include_key: Option<bool>,
    /// At least 8 characters; encrypts the key (POST only).
    password: Option<String>,
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// What an export asks for, checked before anything is read.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Pem,
    Der,
    Pkcs7,
    Pkcs12,
}

#[derive(Debug, PartialEq)]
struct Wanted {
    format: Format,
    include_key: bool,
    include_chain: bool,
}

impl Wanted {
    fn parse(q: &ExportQuery) -> Result<Wanted, ApiError> {
        let format = match q.format.as_deref().unwrap_or("pem") {
            "pem" => Format::Pem,
            "der" => Format::Der,
            "pkcs7" => Format::Pkcs7,
            "pkcs12" => Format::Pkcs12,
            other => {
                return Err(ApiError::validation(format!(
                    "unknown format {other:?} (pem, der, pkcs7, pkcs12)"
                )));
            }
        };
        let include_key = q.include_key.unwrap_or(false) || format == Format::Pkcs12;
        if include_key && matches!(format, Format::Der | Format::Pkcs7) {
            return Err(ApiError::validation(format!(
                "{} cannot carry a private key; use pem or pkcs12",
                q.format.as_deref().unwrap_or_default()
            )));
        }
        if include_key && q.password.as_deref().is_none_or(|pw| pw.len() < 8) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password_required",
                "exporting a key needs a password of at least 8 characters",
            ));
        }
        Ok(Wanted {
            format,
            include_key,
            include_chain: q.include_chain.unwrap_or(true),
        })
    }
}

pub async fn export(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    if q.password.is_some() {
        return Err(ApiError::bad_request(
            "a password does not belong in a URL: POST the same fields as a JSON body to this route",
        ));
    }
    export_as(&app, &p, &id, q).await
}

pub async fn export_post(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(q): ApiJson<ExportQuery>,
) -> Result<Response, ApiError> {
    export_as(&app, &p, &id, q).await
}

async fn export_as(
    app: &ApiState,
    p: &Principal,
    id: &str,
    q: ExportQuery,
) -> Result<Response, ApiError> {
    p.require("certificate:read")?;
    let wanted = Wanted::parse(&q)?;
    if wanted.include_key {
        p.require("certificate:write")?;
    }
    let row = visible(app, p, id).await?;
    let der = row.der.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            "the certificate is not issued",
        )
    })?;
    let cert = X509::from_der(&der).map_err(internal)?;
    let mut chain: Vec<X509> = Vec::new();
    if wanted.include_chain {
        let issuer = app
            .cas
            .get(&app.store, &app.master_key, &row.ca_id)
            .await
            .map_err(internal)?;
        if issuer
            .cert
            .public_key()
            .map(|k| signet_ca::signed_by(&cert, &k))
            .unwrap_or(false)
        {
            chain.push(issuer.cert.clone());
            chain.extend(issuer.chain.iter().cloned());
        }
    }
    let name = row
        .common_name
        .clone()
        .unwrap_or_else(|| row.id.clone())
        .replace(['"', '/', '\\'], "_");
    let key = if wanted.include_key {
        Some(open_key(app, &row)?)
    } else {
        None
    };
    let pw = q.password.clone().unwrap_or_default();
    let (content_type, file, body) =
        encode(wanted.format, &cert, &chain, key.as_deref(), &pw, &name)?;
    crate::api::audit_event(
        app,
        p,
        "certificate.exported",
        id,
        "high",
        json!({"format": q.format.as_deref().unwrap_or("pem"), "include_key": wanted.include_key, "include_chain": wanted.include_chain}),
    )
    .await?;
    Ok(attachment(content_type, file, body))
}

/// The certificate (and chain, and key when given) in a format: its content
/// type, file name and bytes. Keys are encrypted under `password`: PKCS#8
/// with AES-256-CBC in PEM, and in PKCS#12 AES-256-CBC with PBKDF2 and a
/// SHA-256 MAC, not the legacy RC2/3DES defaults.
fn encode(
    format: Format,
    cert: &X509,
    chain: &[X509],
    key: Option<&openssl::pkey::PKeyRef<openssl::pkey::Private>>,
    password: &str,
    name: &str,
) -> Result<(&'static str, String, Vec<u8>), ApiError> {
    let stack = |with_leaf: bool| -> Result<Stack<X509>, ApiError> {
        let mut s = Stack::new().map_err(internal)?;
        for c in with_leaf.then_some(cert).into_iter().chain(chain) {
            s.push(c.clone()).map_err(internal)?;
        }
        Ok(s)
    };
    Ok(match format {
        Format::Pem => {
            let mut out = cert.to_pem().map_err(internal)?;
            for c in chain {
                out.extend(c.to_pem().map_err(internal)?);
            }
            if let Some(k) = key {
                out.extend(
                    k.private_key_to_pem_pkcs8_passphrase(
                        Cipher::aes_256_cbc(),
                        password.as_bytes(),
                    )
                    .map_err(internal)?,
                );
            }
            ("application/x-pem-file", format!("{name}.pem"), out)
        }
        Format::Der => (
            "application/pkix-cert",
            format!("{name}.cer"),
            cert.to_der().map_err(internal)?,
        ),
        Format::Pkcs7 => {
            let certs = stack(true)?;
            let p7 = CmsContentInfo::sign::<openssl::pkey::Private>(
                None,
                None,
                Some(&certs),
                None,
                CMSOptions::BINARY | CMSOptions::PARTIAL,
            )
            .map_err(internal)?;
            (
                "application/pkcs7-mime",
                format!("{name}.p7b"),
                p7.to_der().map_err(internal)?,
            )
        }
        Format::Pkcs12 => {
            let key = key.ok_or_else(|| internal("key missing"))?;
            let p12 = Pkcs12::builder()
                .name(name)
                .pkey(key)
                .cert(cert)
                .ca(stack(false)?)
                .key_algorithm(Nid::AES_256_CBC)
                .cert_algorithm(Nid::AES_256_CBC)
                .mac_md(MessageDigest::sha256())
                .build2(password)
                .map_err(internal)?;
            (
                "application/x-pkcs12",
                format!("{name}.p12"),
                p12.to_der().map_err(internal)?,
            )
        }
    })
}

/// `GET …/private_key`: only `format=pem&unencrypted=true`, the explicit
/// ask for a plain key.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KeyQuery {
    /// pem
    format: Option<String>,
    /// true: the key unencrypted (audited as such).
    unencrypted: Option<bool>,
}

/// `POST …/private_key`: the key as encrypted PKCS#8.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// At least 8 characters.
    password: String,
}

pub async fn private_key(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Result<Response, ApiError> {
    if q.format.as_deref() != Some("pem") || q.unencrypted != Some(true) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_required",
            "POST {\"password\": …} to this route for an encrypted PKCS#8 key, \
             or ask for format=pem&unencrypted=true explicitly",
        ));
    }
    release_key(&app, &p, &id, None).await
}

pub async fn private_key_post(
    State(app): State<ApiState>,
    p: Principal,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<KeyBody>,
) -> Result<Response, ApiError> {
    if b.password.len() < 8 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "password_required",
            "a password must have at least 8 characters",
        ));
    }
    release_key(&app, &p, &id, Some(&b.password)).await
}

async fn release_key(
    app: &ApiState,
    p: &Principal,
    id: &str,
    password: Option<&str>,
) -> Result<Response, ApiError> {
    p.require("certificate:write")?;
    let row = visible(app, p, id).await?;
    let key = open_key(app, &row)?;
    let pem = match password {
        Some(pw) => key.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pw.as_bytes()),
        None => key.private_key_to_pem_pkcs8(),
    }
    .map_err(internal)?;
    crate::api::audit_event(
        app,
        p,
        "certificate.private_key_read",
        id,
        "high",
        json!({"encrypted": password.is_some()}),
    )
    .await?;
    Ok(attachment(
        "application/x-pem-file",
        format!("{id}.key"),
        pem,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(format: &str, key: bool, pw: &str) -> ExportQuery {
        ExportQuery {
            format: Some(format.into()),
            include_chain: None,
            include_key: Some(key),
            password: Some(pw.into()),
        }
    }

    #[test]
    fn a_key_needs_a_format_that_carries_it_and_a_password() {
        assert!(
            Wanted::parse(&q("pkcs12", false, "long-enough"))
                .unwrap()
                .include_key
        );
        assert_eq!(
            Wanted::parse(&q("der", false, "")).unwrap().format,
            Format::Der
        );
        for (f, key, pw) in [
            ("der", true, "long-enough"),
            ("pkcs7", true, "long-enough"),
            ("pem", true, "short"),
            ("pfx", false, ""),
        ] {
            assert!(Wanted::parse(&q(f, key, pw)).is_err(), "{f} {key} {pw}");
        }
    }

    #[test]
    fn every_format_encodes_and_a_pkcs12_opens_with_its_password() {
        let key = signet_ca::key::KeyType::EcP256.generate().unwrap();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        for f in [Format::Pem, Format::Der, Format::Pkcs7] {
            let (_, file, body) = encode(f, &cert, &[], None, "", "leaf").unwrap();
            assert!(file.starts_with("leaf.") && !body.is_empty());
        }
        let (_, _, p12) = encode(
            Format::Pkcs12,
            &cert,
            &[],
            Some(&key),
            "correct-horse",
            "leaf",
        )
        .unwrap();
        let parsed = Pkcs12::from_der(&p12)
            .unwrap()
            .parse2("correct-horse")
            .unwrap();
        assert!(parsed.pkey.unwrap().public_eq(&key));
        assert!(
            Pkcs12::from_der(&p12)
                .unwrap()
                .parse2("wrong-horse")
                .is_err()
        );
    }
}
