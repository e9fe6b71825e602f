//! ACME errors as RFC 7807 problem documents with `urn:ietf:params:acme:error:*` types.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use signet_ca::CaError;

use crate::issuance::IssueError;
use crate::store::StoreError;

#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: &'static str,
    pub detail: String,
    pub status: StatusCode,
    pub subproblems: Vec<Value>,
    pub algorithms: Option<Vec<&'static str>>,
}

macro_rules! kinds {
    ($($f:ident => $kind:literal, $status:ident;)*) => {
        impl Problem {
            $(pub fn $f(detail: impl Into<String>) -> Problem {
                Problem { kind: $kind, detail: detail.into(), status: StatusCode::$status, subproblems: Vec::new(), algorithms: None }
            })*
        }
    };
}

kinds! {
    malformed => "malformed", BAD_REQUEST;
    bad_nonce => "badNonce", BAD_REQUEST;
    bad_signature_algorithm => "badSignatureAlgorithm", BAD_REQUEST;
    bad_public_key => "badPublicKey", BAD_REQUEST;
    unauthorized => "unauthorized", FORBIDDEN;
    account_does_not_exist => "accountDoesNotExist", BAD_REQUEST;
    external_account_required => "externalAccountRequired", BAD_REQUEST;
    rejected_identifier => "rejectedIdentifier", BAD_REQUEST;
    unsupported_identifier => "unsupportedIdentifier", BAD_REQUEST;
    invalid_profile => "invalidProfile", BAD_REQUEST;
    bad_csr => "badCSR", BAD_REQUEST;
    order_not_ready => "orderNotReady", FORBIDDEN;
    already_revoked => "alreadyRevoked", BAD_REQUEST;
    already_replaced => "alreadyReplaced", CONFLICT;
    bad_revocation_reason => "badRevocationReason", BAD_REQUEST;
    invalid_contact => "invalidContact", BAD_REQUEST;
    unsupported_contact => "unsupportedContact", BAD_REQUEST;
    connection => "connection", BAD_REQUEST;
    dns => "dns", BAD_REQUEST;
    incorrect_response => "incorrectResponse", FORBIDDEN;
    tls => "tls", BAD_REQUEST;
    conflict => "conflict", CONFLICT;
    not_found => "malformed", NOT_FOUND;
    server_internal => "serverInternal", INTERNAL_SERVER_ERROR;
    unavailable => "serverInternal", SERVICE_UNAVAILABLE;
}

impl Problem {
    pub fn type_uri(&self) -> String {
        format!("urn:ietf:params:acme:error:{}", self.kind)
    }

    pub fn to_json(&self) -> Value {
        let mut v =
            json!({"type": self.type_uri(), "detail": self.detail, "status": self.status.as_u16()});
        if !self.subproblems.is_empty() {
            v["subproblems"] = Value::Array(self.subproblems.clone());
        }
        if let Some(a) = &self.algorithms {
            v["algorithms"] = json!(a);
        }
        v
    }

    /// A subproblem about one identifier (RFC 8555 §6.7.1).
    pub fn with_sub(mut self, sub: &Problem, id_type: &str, value: &str) -> Problem {
        let mut s = sub.to_json();
        s["identifier"] = json!({"type": id_type, "value": value});
        self.subproblems.push(s);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(kind = self.kind, detail = %self.detail, "ACME request failed");
        } else {
            tracing::info!(kind = self.kind, detail = %self.detail, "ACME request refused");
        }
        let body = self.to_json().to_string();
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                header::RETRY_AFTER,
                crate::store::UNAVAILABLE_RETRY_SECS.into(),
            );
        }
        r
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => {
                Problem::unavailable(format!("database unavailable: {m}"))
            }
            StoreError::NotFound => Problem::not_found("no such resource"),
            StoreError::Conflict(m) => Problem::conflict(m),
            other => Problem::server_internal(other.to_string()),
        }
    }
}

impl From<IssueError> for Problem {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Denied(vs) => {
                let detail = vs
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join("; ");
                // Name rules are about identifiers; the rest is about the CSR.
                const NAME_RULES: [&str; 7] = [
                    "dns",
                    "ip",
                    "email",
                    "uri",
                    "allow_wildcard",
                    "common_name",
                    "identifiers",
                ];
                if vs.iter().any(|v| NAME_RULES.contains(&v.rule.as_str())) {
                    Problem::rejected_identifier(detail)
                } else {
                    Problem::bad_csr(format!("the CSR is not allowed by the template: {detail}"))
                }
            }
            IssueError::KeyCompromised => Problem::bad_public_key(e.to_string()),
            IssueError::Ca(c @ (CaError::WeakKey(_) | CaError::UnsupportedKey(_))) => {
                Problem::bad_public_key(c.to_string())
            }
            IssueError::Ca(c) => Problem::bad_csr(c.to_string()),
            IssueError::Store(s) => s.into(),
            IssueError::Unknown(what, name) => {
                Problem::malformed(format!("unknown {what} {name:?}"))
            }
            IssueError::Conflict(m) => Problem::conflict(m),
            IssueError::CaUnavailable(m) => Problem::unavailable(m),
        }
    }
}

pub type AcmeResult<T> = Result<T, Problem>;
