"""A whole admin flow through a Python client generated from Signet's
OpenAPI document by openapi-python-client: create a project, submit a
generated-key request under an approval template, approve it as a second
identity, export PKCS#12, revoke, read the audit log. Exits non-zero on the
first surprise.

usage: api_client_flow.py BASE_URL ADMIN_TOKEN ROOT_PEM OUT_DIR
"""

import datetime
import subprocess
import sys
import uuid

from signet_client import AuthenticatedClient
from signet_client.api.audit_events import get_audit_events, get_audit_events_verify
from signet_client.api.certificates import (
    get_certificates,
    get_certificates_id_status,
    post_certificates_csr,
    post_certificates_id_approve,
    post_certificates_id_export,
    post_certificates_id_revoke,
    project_get_certificates,
)
from signet_client.api.projects import get_projects, post_projects
from signet_client.api.templates import post_templates
from signet_client.api.tokens import post_tokens
from signet_client.models import (
    Certificate,
    Comment,
    CreateToken,
    ErrorBody,
    ExportQuery,
    ProjectBody,
    RevokeBody,
    SubmitBody,
    TemplateCreate,
)

base, admin_token, root, out = sys.argv[1:5]
suffix = uuid.uuid4().hex[:8]


def client(token, strict=True):
    return AuthenticatedClient(base_url=base, token=token, verify_ssl=root, raise_on_unexpected_status=strict)


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")


admin = client(admin_token)
tmpl = post_templates.sync(
    client=admin,
    body=TemplateCreate.from_dict(
        {"name": f"two-eyes-{suffix}", "spec": {"dns": ["*"], "approvals_required": 1}}
    ),
)
expect(tmpl.name == f"two-eyes-{suffix}", "template created")

project = post_projects.sync(
    client=admin,
    body=ProjectBody(name=f"payments-{suffix}", description="flow test", default_template_id=tmpl.id),
)
expect(project.default_template_id == tmpl.id, "project created with its default template")
expect(any(p.id == project.id for p in get_projects.sync(client=admin).items), "project listed")

cn = f"pay-{suffix}.example.test"
submitted = post_certificates_csr.sync_detailed(
    client=admin,
    body=SubmitBody.from_dict(
        {
            "csr_source_mode": "mazevault_generated",
            "project_id": project.name,
            "requested_cn": cn,
            "requested_san": [f"dns:{cn}"],
            "requested_key_algorithm": "ECDSA",
            "requested_key_size": 384,
        }
    ),
)
expect(submitted.status_code == 202, f"request waits for approval ({submitted.status_code})")
cert = submitted.parsed
expect(isinstance(cert, Certificate) and cert.status == "pending_approval", "pending_approval")

self_approval = post_certificates_id_approve.sync_detailed(cert.id, client=admin, body=Comment())
expect(self_approval.status_code == 409 and isinstance(self_approval.parsed, ErrorBody),
       f"self-approval refused: {self_approval.parsed.error.message if self_approval.parsed else ''}")

op = post_tokens.sync(client=admin, body=CreateToken(role="operator", name=f"approver-{suffix}"))
approver = client(op.token)
approved = post_certificates_id_approve.sync(cert.id, client=approver, body=Comment(comment="looks right"))
expect(approved.status == "active" and approved.key_type == "ec-p384", "approved by a second identity and issued")
expect(isinstance(approved.expires_at, datetime.datetime), "timestamps parse as RFC 3339 date-times")

scoped = project_get_certificates.sync(project.name, client=admin)
expect([c.id for c in scoped.items] == [cert.id], "the project's URL lists its certificate")

# The generator types JSON answers only; a download is the raw response.
p12 = post_certificates_id_export.sync_detailed(
    cert.id, client=client(admin_token, strict=False), body=ExportQuery(format_="pkcs12", password="flow-pass-123")
)
expect(p12.status_code == 200 and p12.headers["content-type"] == "application/x-pkcs12", "PKCS#12 exported")
with open(f"{out}/flow.p12", "wb") as f:
    f.write(p12.content)
subprocess.run(
    ["openssl", "pkcs12", "-in", f"{out}/flow.p12", "-passin", "pass:flow-pass-123", "-nodes", "-out", f"{out}/flow.pem"],
    check=True,
)
with open(f"{out}/flow.pem") as f:
    expect("PRIVATE KEY" in f.read(), "openssl opens the PKCS#12 and finds the key")

revoked = post_certificates_id_revoke.sync(
    cert.id, client=admin, body=RevokeBody(reason="keyCompromise", comment="flow test")
)
expect(revoked.status == "revoked" and revoked.revocation_comment == "flow test", "revoked with a comment")
status = get_certificates_id_status.sync(cert.id, client=admin)
expect(status.ocsp_status == "revoked" and status.revocation_reason == "keyCompromise"
       and status.revoked_by.startswith("token:"), "revocation status says who and why")

listed = get_certificates.sync(client=admin, status="revoked", project_id=project.name)
expect([c.id for c in listed.items] == [cert.id], "filters accept a project name")

events = get_audit_events.sync(client=admin, target=cert.id)
actions = [e.action for e in events.items]
expect({"certificate.revoked", "certificate.exported", "certificate.approved"} <= set(actions), f"audit trail {actions}")
expect(get_audit_events_verify.sync(client=admin).valid, "audit chain verifies")
print("api client flow: all checks passed")
