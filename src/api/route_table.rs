//! Every REST route with the permission it needs and the Rust types of its
//! query, body and answer. Authorization reads the permissions from here,
//! and the OpenAPI document is generated from it (schemas by schemars from
//! the same types the handlers use), so neither can drift from the code.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::audit::{AuditEvent, AuditQuery, AuditVerification};
use super::cas::{Ca, ChainQuery, CreateCa, CrlQuery, ImportCa, Regenerate};
use super::certificates::export::{ExportQuery, KeyBody, KeyQuery};
use super::certificates::import::{BulkBody, ImportBody};
use super::certificates::list::ListQuery;
use super::certificates::view::Certificate;
use super::certificates::{
    Comment, DryRun, RenewalHistory, RevocationStatus, RevokeBody, SubmitBody, UpdateBody,
};
use super::credentials::{
    AcmeAccount, CreateEab, CreateToken, EabCreated, EabCredential, Token, TokenCreated,
};
use super::lifecycle::{
    Delivery, Distribution, Queued, QueuedRenewal, Renewal, RenewalsQuery, RotationConfig, Target,
    TargetBody,
};
use super::projects::{Project, ProjectBody};
use super::scep::{
    Challenge, ChallengeCreated, CreateChallenge, ListParams, Profile as ScepProfile,
};
use super::sessions::{Session, SignIn, Stats};
use super::templates::{Create as CreateTemplate, Replace as ReplaceTemplate, Template};
use super::types::Page;
use super::users::{User, UserDetail};

pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, as a reference into the document's components.
pub fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// Any JSON object (answers whose shape depends on the request).
fn object(_: &mut SchemaGenerator) -> Schema {
    schemars::json_schema!({"type": "object"})
}

#[derive(Clone, Copy)]
pub enum Body {
    None,
    Json(SchemaFn),
    /// `multipart/form-data` with a `file` and an optional `password`.
    Multipart,
}

#[derive(Clone, Copy)]
pub enum Answer {
    Json(u16, SchemaFn),
    /// 201 when issued at once, 202 when it waits for approval.
    Issued(SchemaFn),
    NoContent,
    /// A download in one of these content types.
    File(&'static [&'static str]),
}

#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub permission: &'static str,
    pub summary: &'static str,
    pub query: Option<SchemaFn>,
    pub body: Body,
    pub answer: Answer,
}

const fn r(
    method: &'static str,
    path: &'static str,
    permission: &'static str,
    summary: &'static str,
) -> Route {
    Route {
        method,
        path,
        permission,
        summary,
        query: None,
        body: Body::None,
        answer: Answer::Json(200, object),
    }
}

impl Route {
    const fn query(mut self, f: SchemaFn) -> Self {
        self.query = Some(f);
        self
    }
    const fn body(mut self, f: SchemaFn) -> Self {
        self.body = Body::Json(f);
        self
    }
    const fn multipart(mut self) -> Self {
        self.body = Body::Multipart;
        self
    }
    const fn ok(mut self, f: SchemaFn) -> Self {
        self.answer = Answer::Json(200, f);
        self
    }
    const fn created(mut self, f: SchemaFn) -> Self {
        self.answer = Answer::Json(201, f);
        self
    }
    const fn issued(mut self, f: SchemaFn) -> Self {
        self.answer = Answer::Issued(f);
        self
    }
    const fn accepted(mut self, f: SchemaFn) -> Self {
        self.answer = Answer::Json(202, f);
        self
    }
    const fn no_content(mut self) -> Self {
        self.answer = Answer::NoContent;
        self
    }
    const fn file(mut self, types: &'static [&'static str]) -> Self {
        self.answer = Answer::File(types);
        self
    }
}

const CERT_FILES: &[&str] = &[
    "application/x-pem-file",
    "application/pkix-cert",
    "application/pkcs7-mime",
    "application/x-pkcs12",
];
const PEM: &[&str] = &["application/x-pem-file"];

const C: &str = "/api/v1/certificates";

/// The permission of routes that need no token (the sign-in itself).
pub const PUBLIC: &str = "";

pub static ROUTES: &[Route] = &[
    r("POST", "/api/v1/sessions", PUBLIC, "Sign in: exchange an API token for a session cookie (HttpOnly, Secure, SameSite=Strict) and a CSRF token")
        .body(s::<SignIn>).created(s::<Session>),
    r("GET", "/api/v1/sessions/current", "certificate:read", "Who is calling: role, permissions, project, and a session's CSRF token")
        .ok(s::<Session>),
    r("DELETE", "/api/v1/sessions/current", "certificate:read", "Sign out: revoke the session and clear its cookie").no_content(),
    r("GET", "/api/v1/stats", "certificate:read", "Counts for the overview: by status, expiring, pending, failed renewals, CRLs")
        .ok(s::<Stats>),
    r("POST", "/api/v1/certificates/csr", "certificate:request",
      "Submit a CSR (uploaded_csr) or have the key generated (mazevault_generated); 201 issued, 202 pending approval; ?dry_run=true shows the plan")
        .query(s::<DryRun>).body(s::<SubmitBody>).issued(s::<Certificate>),
    r("POST", C, "certificate:request", "The same as POST /certificates/csr")
        .query(s::<DryRun>).body(s::<SubmitBody>).issued(s::<Certificate>),
    r("GET", C, "certificate:read", "List certificates: filters, sort, cursor pagination; newest first")
        .query(s::<ListQuery>).ok(s::<Page<Certificate>>),
    r("GET", "/api/v1/certificates/{id}", "certificate:read", "One certificate with its validity status")
        .ok(s::<Certificate>),
    r("PUT", "/api/v1/certificates/{id}", "certificate:write", "Update tags, description, auto_renew")
        .body(s::<UpdateBody>).ok(s::<Certificate>),
    r("POST", "/api/v1/certificates/{id}/approve", "certificate:approve", "Approve a pending request (N-of-M, no self-approval)")
        .body(s::<Comment>).ok(s::<Certificate>),
    r("POST", "/api/v1/certificates/{id}/reject", "certificate:approve", "Reject a pending request")
        .body(s::<Comment>).ok(s::<Certificate>),
    r("POST", "/api/v1/certificates/{id}/revoke", "certificate:revoke", "Revoke with an RFC 5280 reason, a comment and an optional invalidity date")
        .body(s::<RevokeBody>).ok(s::<Certificate>),
    r("POST", "/api/v1/certificates/{id}/unrevoke", "certificate:revoke", "Lift a certificateHold")
        .ok(s::<Certificate>),
    r("GET", "/api/v1/certificates/{id}/status", "certificate:read", "Revocation status: OCSP answer, reason, who, and the first CRL that lists it")
        .ok(s::<RevocationStatus>),
    r("GET", "/api/v1/certificates/{id}/export", "certificate:read", "Export the certificate as pem, der or pkcs7 (no key: keys are exported by POST)")
        .query(s::<ExportQuery>).file(CERT_FILES),
    r("POST", "/api/v1/certificates/{id}/export", "certificate:read", "Export, with the key under a password for pem and pkcs12 (needs certificate:write; audited)")
        .body(s::<ExportQuery>).file(CERT_FILES),
    r("GET", "/api/v1/certificates/{id}/private_key", "certificate:write", "The server-held key unencrypted: only with format=pem&unencrypted=true (audited)")
        .query(s::<KeyQuery>).file(PEM),
    r("POST", "/api/v1/certificates/{id}/private_key", "certificate:write", "The server-held key as encrypted PKCS#8 (audited)")
        .body(s::<KeyBody>).file(PEM),
    r("POST", "/api/v1/certificates/{id}/archive", "certificate:archive", "Archive").ok(s::<Certificate>),
    r("POST", "/api/v1/certificates/{id}/restore", "certificate:archive", "Restore from the archive").ok(s::<Certificate>),
    r("DELETE", "/api/v1/certificates/{id}/permanent", "certificate:permanent_delete", "Delete for good (not while issued and unexpired)")
        .no_content(),
    r("POST", "/api/v1/certificates/{id}/renew", "certificate:request", "Renew with the same template; a new key for server-generated keys")
        .issued(s::<Certificate>),
    r("GET", "/api/v1/certificates/{id}/renewal-history", "certificate:read", "Predecessors and successors")
        .ok(s::<RenewalHistory>),
    r("GET", "/api/v1/renewals", "certificate:read", "The automatic-renewal status of every certificate the scheduler renews")
        .query(s::<RenewalsQuery>).ok(s::<Page<Renewal>>),
    r("GET", "/api/v1/renewal-queue", "certificate:read", "Renewals waiting for approval").ok(s::<Page<QueuedRenewal>>),
    r("POST", "/api/v1/renewal-queue/{id}/approve", "certificate:approve", "Approve a queued renewal (N-of-M, no self-approval)")
        .body(s::<Comment>).ok(s::<Certificate>),
    r("POST", "/api/v1/renewal-queue/{id}/cancel", "certificate:approve", "Cancel a queued renewal (it is not retried)")
        .body(s::<Comment>).ok(s::<Certificate>),
    r("GET", "/api/v1/certificates/{id}/rotation/config", "rotation:read", "Rotation settings: delivery on renewal, auto_renew, renew_before")
        .ok(s::<RotationConfig>),
    r("PUT", "/api/v1/certificates/{id}/rotation/config", "rotation:write", "Change the rotation settings")
        .body(s::<RotationConfig>).ok(s::<RotationConfig>),
    r("POST", "/api/v1/certificates/{id}/rotation/trigger", "rotation:execute", "Renew the line now; the successor goes to every target")
        .issued(s::<Certificate>),
    r("GET", "/api/v1/certificates/{id}/rotation/history", "rotation:read", "Deliveries to the line's targets, newest first")
        .ok(s::<Page<Delivery>>),
    r("POST", "/api/v1/certificates/{id}/targets", "rotation:write", "Add a rotation target (file or webhook; a webhook's secret is shown once)")
        .body(s::<TargetBody>).created(s::<Target>),
    r("GET", "/api/v1/certificates/{id}/targets", "rotation:read", "The line's rotation targets").ok(s::<Page<Target>>),
    r("GET", "/api/v1/certificates/{id}/targets/{targetId}", "rotation:read", "One rotation target").ok(s::<Target>),
    r("PUT", "/api/v1/certificates/{id}/targets/{targetId}", "rotation:write", "Change a rotation target")
        .body(s::<TargetBody>).ok(s::<Target>),
    r("DELETE", "/api/v1/certificates/{id}/targets/{targetId}", "rotation:write", "Remove a rotation target").no_content(),
    r("POST", "/api/v1/certificates/{id}/targets/{targetId}/sync", "rotation:execute", "Deliver the current certificate to the target again")
        .accepted(s::<Queued>),
    r("GET", "/api/v1/distributions", "rotation:read", "Every rotation target with its certificate and last delivery")
        .ok(s::<Page<Distribution>>),
    r("POST", "/api/v1/certificates/import", "certificate:import", "Import a certificate, optional key and chain")
        .body(s::<ImportBody>).created(s::<Certificate>),
    r("POST", "/api/v1/certificates/import/preview", "certificate:import", "Parse and validate an import; store nothing")
        .body(s::<ImportBody>),
    r("POST", "/api/v1/certificates/import/bulk", "certificate:import", "Import a PEM bundle (202 and an operation)")
        .body(s::<BulkBody>).accepted(object),
    r("POST", "/api/v1/certificates/import/file", "certificate:import", "Import a multipart file: PEM, DER or PKCS#12 (field password for PKCS#12)")
        .multipart().created(s::<Certificate>),
    r("GET", "/api/v1/projects", "certificate:read", "List projects (a project-scoped token sees its own)")
        .ok(s::<Page<Project>>),
    r("POST", "/api/v1/projects", "project:write", "Create a project").body(s::<ProjectBody>).created(s::<Project>),
    r("GET", "/api/v1/projects/{projectId}", "certificate:read", "One project, by id or name").ok(s::<Project>),
    r("PUT", "/api/v1/projects/{projectId}", "project:write", "Replace a project's settings")
        .body(s::<ProjectBody>).ok(s::<Project>),
    r("DELETE", "/api/v1/projects/{projectId}", "project:write", "Delete a project nothing refers to").no_content(),
    r("GET", "/api/v1/templates", "certificate:read", "List templates").ok(s::<Page<Template>>),
    r("GET", "/api/v1/templates/{id}", "certificate:read", "One template").ok(s::<Template>),
    r("POST", "/api/v1/templates", "template:write", "Create a template")
        .body(s::<CreateTemplate>).created(s::<Template>),
    r("PUT", "/api/v1/templates/{id}", "template:write", "Replace a template's spec")
        .body(s::<ReplaceTemplate>).ok(s::<Template>),
    r("DELETE", "/api/v1/templates/{id}", "template:write", "Delete an unused template").no_content(),
    r("GET", "/api/v1/cas", "ca:read", "List CAs").ok(s::<Page<Ca>>),
    r("GET", "/api/v1/cas/{id}", "ca:read", "One CA").ok(s::<Ca>),
    r("GET", "/api/v1/cas/{id}/chain", "ca:read", "The CA's chain, PEM or DER")
        .query(s::<ChainQuery>).file(&["application/x-pem-file", "application/pkix-cert"]),
    r("POST", "/api/v1/cas", "ca:admin", "Create an intermediate CA under an existing one")
        .body(s::<CreateCa>).created(s::<Ca>),
    r("POST", "/api/v1/cas/import", "ca:admin", "Import an existing CA certificate, its key and chain")
        .body(s::<ImportCa>).created(s::<Ca>),
    r("GET", "/api/v1/ca/{id}/crl", "ca:read", "The current CRL (full or delta), DER or PEM")
        .query(s::<CrlQuery>).file(&["application/pkix-crl", "application/x-pem-file"]),
    r("POST", "/api/v1/ca/{id}/crl/regenerate", "ca:admin", "Publish a full or delta CRL now")
        .body(s::<Regenerate>).created(object),
    r("POST", "/api/v1/eab-credentials", "acme:eab", "Create an EAB credential (the HMAC key is shown once)")
        .body(s::<CreateEab>).created(s::<EabCreated>),
    r("GET", "/api/v1/eab-credentials", "acme:eab", "List EAB credentials, used and unused")
        .ok(s::<Page<EabCredential>>),
    r("DELETE", "/api/v1/eab-credentials/{id}", "acme:eab", "Revoke a credential and deactivate the accounts bound to it")
        .no_content(),
    r("POST", "/api/v1/acme/eab-credentials", "acme:eab", "The same as POST /eab-credentials")
        .body(s::<CreateEab>).created(s::<EabCreated>),
    r("GET", "/api/v1/acme/eab-credentials", "acme:eab", "The same as GET /eab-credentials")
        .ok(s::<Page<EabCredential>>),
    r("DELETE", "/api/v1/acme/eab-credentials/{id}", "acme:eab", "The same as DELETE /eab-credentials/{id}")
        .no_content(),
    r("GET", "/api/v1/acme-accounts", "acme:eab", "ACME accounts, newest first").ok(s::<Page<AcmeAccount>>),
    r("POST", "/api/v1/acme-accounts/{id}/deactivate", "acme:eab", "Deactivate an ACME account for good")
        .no_content(),
    r("POST", "/api/v1/tokens", "token:write", "Create an API token (shown once)")
        .body(s::<CreateToken>).created(s::<TokenCreated>),
    r("GET", "/api/v1/tokens", "token:write", "List API tokens").ok(s::<Page<Token>>),
    r("DELETE", "/api/v1/tokens/{id}", "token:write", "Revoke an API token").no_content(),
    r("GET", "/api/v1/users", "token:write", "List users: the names API tokens carry, with their live roles, projects and last use")
        .ok(s::<Page<User>>),
    r("GET", "/api/v1/users/{name}", "token:write", "One user and all of its tokens (never a secret)")
        .ok(s::<UserDetail>),
    r("GET", "/api/v1/audit-events", "audit:read", "Audit events, newest first")
        .query(s::<AuditQuery>).ok(s::<Page<AuditEvent>>),
    r("GET", "/api/v1/audit-events/verify", "audit:read", "Verify the audit hash chain")
        .ok(s::<AuditVerification>),
    r("GET", "/api/v1/audit-logs", "audit:read", "The same as /audit-events")
        .query(s::<AuditQuery>).ok(s::<Page<AuditEvent>>),
    r("GET", "/api/v1/audit-logs/verify", "audit:read", "The same as /audit-events/verify")
        .ok(s::<AuditVerification>),
    r("GET", "/api/v1/operations/{id}", "certificate:read", "The state and result of a 202 operation"),
    r("POST", "/api/v1/scep/challenges", "scep:challenge", "Mint a one-time SCEP challenge password (shown once; optionally bound to a CN and SANs)")
        .body(s::<CreateChallenge>).created(s::<ChallengeCreated>),
    r("GET", "/api/v1/scep/challenges", "scep:challenge", "List one-time SCEP challenges (never the secrets)")
        .query(s::<ListParams>).ok(s::<Page<Challenge>>),
    r("GET", "/api/v1/scep/profiles", "certificate:read", "List the SCEP profiles: URL, template, challenge mode (never a secret)")
        .ok(s::<Page<ScepProfile>>),
];
