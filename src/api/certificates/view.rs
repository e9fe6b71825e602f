//! The REST view of a certificate: one shape for every route that returns
//! one, named as the source documents name things.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::api::types::{Timestamp, date, ts};
use crate::revocation::REASONS;
use crate::store::certificates::{self as certs, CertRow};

/// One subject alternative name.
#[derive(Serialize, Deserialize, JsonSchema, Clone)]
pub struct SanEntry {
    /// dns, ip, email or uri
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// What is stored beside the row that only some routes read.
#[derive(Default, sqlx::FromRow)]
pub struct Extras {
    pub tags: String,
    pub description: Option<String>,
    pub auto_renew: i64,
    pub revoked_by: Option<String>,
    pub revocation_comment: Option<String>,
    pub has_key: i64,
    pub renew_before: Option<String>,
    pub renewal_status: Option<String>,
    pub next_renewal_at: Option<i64>,
    pub last_renew_attempt_at: Option<i64>,
    pub last_renew_error: Option<String>,
    pub renewed_by: Option<String>,
    pub approvals_given: i64,
}

pub const EXTRA_COLUMNS: &str = "tags, description, auto_renew, revoked_by, revocation_comment, \
    CAST(CASE WHEN key_sealed IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_key, renew_before, renewal_status, \
    next_renewal_at, last_renew_attempt_at, last_renew_error, renewed_by, \
    (SELECT COUNT(*) FROM approvals a WHERE a.certificate_id = certificates.id) AS approvals_given";

#[derive(Serialize, JsonSchema)]
pub struct Certificate {
    pub id: String,
    pub ca_id: String,
    /// Hex serial; null until the certificate is signed.
    pub serial: Option<String>,
    /// The serial as colon-separated hex pairs.
    pub serial_number: Option<String>,
    /// pending_approval, rejected, issuing, active, revoked, archived or failed
    pub status: String,
    /// valid, expiring_soon (< 30 days), expired or revoked
    pub validity_status: String,
    pub days_until_expiry: Option<i64>,
    /// `CN=x, O=y`, in certificate order.
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<SanEntry>,
    /// The SAN values alone.
    pub san: Vec<String>,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// The same instant as `not_after`.
    pub expires_at: Option<Timestamp>,
    /// The UTC day of `expires_at`, `YYYY-MM-DD`.
    pub expires_on: Option<String>,
    /// e.g. ec-p256, rsa-2048, ed25519
    pub key_type: String,
    /// server_generated (Signet made the key and holds it), imported (the
    /// key came with an import), or external (Signet never saw it).
    pub key_source: String,
    pub server_generated_key: bool,
    pub fingerprint_sha256: Option<String>,
    pub template_id: Option<String>,
    pub project_id: Option<String>,
    /// api, acme, scep or import
    pub channel: String,
    /// The same as `channel`: how the certificate was requested.
    pub issuer_type: String,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub approvals_required: i64,
    /// Approvals recorded so far (N of `approvals_required`).
    pub approvals_given: i64,
    pub revoked_at: Option<Timestamp>,
    /// RFC 5280 name, e.g. keyCompromise
    pub revocation_reason: Option<String>,
    pub revoked_by: Option<String>,
    pub revocation_comment: Option<String>,
    pub replaces_id: Option<String>,
    pub failure: Option<String>,
    pub tags: serde_json::Map<String, serde_json::Value>,
    pub description: Option<String>,
    pub auto_renew: bool,
    /// This certificate's own renewal point (else its template's): a
    /// fraction of the lifetime left (`1/3`) or a duration (`30d`, `10m`).
    pub renew_before: Option<String>,
    /// scheduled, due, renewing, queued (the successor waits for approval),
    /// renewed or failed; null when the scheduler does not renew it.
    pub renewal_status: Option<String>,
    pub next_renewal_at: Option<Timestamp>,
    pub last_renew_attempt_at: Option<Timestamp>,
    pub last_renew_error: Option<String>,
    /// The successor the last renewal requested.
    pub renewed_by: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The renewal state as people read it: a scheduled renewal whose time has
/// come is `due`.
pub fn renewal_state(status: Option<&str>, next: Option<i64>, now: i64) -> Option<String> {
    match (status, next) {
        (Some("scheduled"), Some(n)) if n <= now => Some("due".into()),
        (s, _) => s.map(str::to_string),
    }
}

pub fn reason_name(code: i64) -> Option<&'static str> {
    REASONS.iter().find(|(k, _)| *k == code).map(|(_, n)| *n)
}

fn colon_hex(serial: &str) -> String {
    let padded = if serial.len() % 2 == 1 {
        format!("0{serial}")
    } else {
        serial.to_string()
    };
    padded
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect::<Vec<_>>()
        .join(":")
}

pub fn render(row: &CertRow, x: &Extras, now: i64) -> Certificate {
    let days = row.not_after.map(|na| (na - now).div_euclid(86400));
    let validity = match (row.status.as_str(), row.not_after) {
        (certs::REVOKED, _) => "revoked",
        (_, Some(na)) if na <= now => "expired",
        (_, Some(_)) if days.is_some_and(|d| d < 30) => "expiring_soon",
        _ => "valid",
    };
    let sans: Vec<SanEntry> = serde_json::from_str(&row.sans).unwrap_or_default();
    let key_source = match (x.has_key != 0, row.channel.as_str()) {
        (true, "import") => "imported",
        (true, _) => "server_generated",
        (false, _) => "external",
    };
    Certificate {
        id: row.id.clone(),
        ca_id: row.ca_id.clone(),
        serial: row.serial.clone(),
        serial_number: row.serial.as_deref().map(colon_hex),
        status: row.status.clone(),
        validity_status: validity.into(),
        days_until_expiry: days,
        subject: signet_ca::names::dn_text_of_legacy(&row.subject),
        common_name: row.common_name.clone(),
        san: sans.iter().map(|s| s.value.clone()).collect(),
        sans,
        not_before: ts(row.not_before),
        not_after: ts(row.not_after),
        expires_at: ts(row.not_after),
        expires_on: row.not_after.map(date),
        key_type: row.key_type.clone(),
        key_source: key_source.into(),
        server_generated_key: key_source == "server_generated",
        fingerprint_sha256: row.fingerprint.clone(),
        template_id: row.template_id.clone(),
        project_id: row.project_id.clone(),
        channel: row.channel.clone(),
        issuer_type: row.channel.clone(),
        requested_by: row.requested_by.clone(),
        requested_at: Timestamp(row.created_at),
        approvals_required: row.approvals_required,
        approvals_given: x.approvals_given,
        revoked_at: ts(row.revoked_at),
        revocation_reason: row
            .revocation_reason
            .and_then(reason_name)
            .map(str::to_string),
        revoked_by: x.revoked_by.clone(),
        revocation_comment: x.revocation_comment.clone(),
        replaces_id: row.replaces_id.clone(),
        failure: row.failure.clone(),
        tags: serde_json::from_str(&x.tags).unwrap_or_default(),
        description: x.description.clone(),
        auto_renew: x.auto_renew != 0,
        renew_before: x.renew_before.clone(),
        renewal_status: renewal_state(x.renewal_status.as_deref(), x.next_renewal_at, now),
        next_renewal_at: ts(x.next_renewal_at),
        last_renew_attempt_at: ts(x.last_renew_attempt_at),
        last_renew_error: x.last_renew_error.clone(),
        renewed_by: x.renewed_by.clone(),
        created_at: Timestamp(row.created_at),
        updated_at: Timestamp(row.updated_at),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn serials_render_as_colon_pairs() {
        assert_eq!(super::colon_hex("1abcd"), "01:AB:CD");
    }
}
