"""The web dashboard in a real browser (Debian's chromium, driven by
Playwright): sign in, request a certificate with a generated key and open its
PKCS#12 with openssl, find it in the list and on its page, an approval by a
second user with self-approval refused, a revocation with a reason, an EAB key
shown once, a template whose validation errors show next to their fields, the
SCEP profiles and a one-time challenge, the users with their last use, a
project created, edited and deleted, the audit chain verified. Every page must load nothing from
another origin and carry a Content-Security-Policy. Screenshots go to OUT.

usage: ui_test.py BASE_URL ROOT_PEM ADMIN_TOKEN OPERATOR_TOKEN OUT_DIR
"""

import subprocess
import sys
from urllib.parse import urlparse

from playwright.sync_api import expect, sync_playwright

base, root, admin_token, operator_token, out = sys.argv[1:6]
origin = urlparse(base).netloc
foreign = []
shots = 0


def shot(page, name):
    global shots
    shots += 1
    page.screenshot(path=f"{out}/{shots:02d}-{name}.png", full_page=True)


def sign_in(page, token):
    page.goto(base + "/ui/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    ctx = browser.new_context(ignore_https_errors=False, accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).netloc not in (origin, "") and not r.url.startswith(("data:", "blob:")) else None)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not any(f"status of {c}" in m.text for c in (401, 403, 409, 422)) else None)  # the refusals this test provokes

    # The page and its security headers.
    resp = page.goto(base + "/ui/")
    csp = resp.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp.split("style-src")[0], csp
    assert resp.headers.get("x-frame-options") == "DENY"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "sign-in")
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#banner")).to_contain_text("invalid")

    sign_in(page, admin_token)
    cookie = [c for c in ctx.cookies() if c["name"] == "signet_session"][0]
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", cookie
    assert page.evaluate("() => Object.keys(localStorage).length + Object.keys(sessionStorage).length") == 0
    shot(page, "overview")
    # A mutation with the cookie but without the CSRF token is refused.
    status = page.evaluate("""() => fetch('/api/v1/tokens', {method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({role: 'admin'})}).then(r => r.status)""")
    assert status == 403, status

    # Request with a generated key, download the PKCS#12 once, open it.
    page.get_by_role("link", name="Request").click()
    expect(page.get_by_role("heading", name="Request a certificate")).to_be_visible()
    page.get_by_label("Common name").fill("ui.example.test")
    page.get_by_label("SANs (comma-separated)").fill("ui.example.test")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("The policy allows it.")).to_be_visible()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Issued:")).to_be_visible()
    page.get_by_label("Password (8+ characters)").fill("ui-pass-1234")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download key and certificate (PKCS#12)").click()
    dl.value.save_as(f"{out}/ui.p12")
    shot(page, "requested")
    pem = subprocess.run(["openssl", "pkcs12", "-in", f"{out}/ui.p12", "-passin", "pass:ui-pass-1234", "-nodes"],
                         check=True, capture_output=True, text=True).stdout
    assert "PRIVATE KEY" in pem and "BEGIN CERTIFICATE" in pem

    # In the list, and on its page.
    page.get_by_role("link", name="Certificates").click()
    expect(page.get_by_role("heading", name="Certificates")).to_be_visible()
    page.get_by_label("Common name").fill("ui.example")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="ui.example.test").click()
    expect(page.get_by_role("heading", name="ui.example.test")).to_be_visible()
    expect(page.locator("dd .status")).to_have_text("active")
    shot(page, "detail")

    # Revoke with a reason.
    page.get_by_label("Reason").select_option("keyCompromise")
    page.get_by_label("Comment").first.fill("test of the UI")
    page.get_by_label("I understand this cannot be undone").check()
    page.get_by_role("button", name="Revoke").click()
    expect(page.locator("dd .status")).to_have_text("revoked")
    expect(page.get_by_text("keyCompromise by token:")).to_be_visible()
    shot(page, "revoked")

    # A request under an approval template: self-approval refused, then a second user approves.
    page.get_by_role("link", name="Request").click()
    expect(page.get_by_role("heading", name="Request a certificate")).to_be_visible()
    page.get_by_label("Template").select_option(label="two-eyes")
    page.get_by_label("Common name").fill("held.example.test")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("Waiting for approval")).to_be_visible()
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    expect(page.get_by_role("cell", name="0 of 1")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#banner")).to_contain_text("cannot approve their own")
    expect(page.locator("#banner")).to_contain_text("request req_")
    shot(page, "self-approval-refused")
    sign_out(page)
    sign_in(page, operator_token)
    expect(page.get_by_role("link", name="Tokens")).to_have_count(0)  # an operator cannot manage tokens
    page.get_by_role("link", name="Approvals").click()
    expect(page.get_by_role("heading", name="Approvals")).to_be_visible()
    page.get_by_role("button", name="Approve").click()
    expect(page.locator("#banner")).to_contain_text("Approved: issued.")
    expect(page.get_by_text("Nothing waits for approval.")).to_be_visible()
    shot(page, "approved")
    sign_out(page)

    # An EAB key is shown once.
    sign_in(page, admin_token)
    page.get_by_role("link", name="ACME").click()
    expect(page.get_by_role("heading", name="ACME external account binding")).to_be_visible()
    page.get_by_role("button", name="Create EAB credential").click()
    expect(page.get_by_text("shown once")).to_be_visible()
    secret = page.locator("code.secret").nth(1).inner_text()
    assert len(secret) > 40
    shot(page, "eab-created")
    page.reload()
    expect(page.get_by_role("heading", name="ACME external account binding")).to_be_visible()
    assert secret not in page.content()

    # Users: the operator who approved above shows with its role and a last use.
    page.get_by_role("link", name="Tokens").click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="second-user").first
    expect(row).to_contain_text("operator")
    expect(row).to_contain_text("1 of 1")
    expect(row).not_to_contain_text("never")
    shot(page, "users")

    # Projects: create one limited to a template, edit it, see a bad name refused, delete it.
    page.get_by_role("link", name="Projects").click()
    expect(page.get_by_role("heading", name="New project")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("payments")
    page.get_by_label("Allowed templates (none selected: any)").select_option(label="two-eyes")
    page.get_by_label("Notification emails (comma-separated)").fill("pay-ops@example.test")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("#banner")).to_contain_text("Project payments created.")
    row = page.get_by_role("row").filter(has_text="payments")
    expect(row).to_contain_text("two-eyes")
    expect(row).to_contain_text("pay-ops@example.test")
    row.get_by_role("button", name="Edit").click()
    page.get_by_label("Description").first.fill("card payments")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#banner")).to_contain_text("Saved.")
    expect(page.get_by_role("row").filter(has_text="payments")).to_contain_text("card payments")
    page.get_by_label("Name", exact=True).fill("bad name!")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator("p.error")).to_contain_text("name")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("row").filter(has_text="payments").get_by_role("button", name="Delete").click()
    expect(page.locator("#banner")).to_contain_text("Deleted payments.")
    expect(page.get_by_role("row").filter(has_text="payments")).to_have_count(0)
    shot(page, "projects")

    # A template built in the form, with the API's validation errors next to their fields.
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_role("heading", name="New template")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("ui-made")
    page.get_by_label("dns", exact=True).fill("*.ui.example.test")
    page.get_by_label("default validity days", exact=True).fill("1000")
    key_types = page.get_by_role("group", name="key types")
    for box in key_types.get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#spec-default_validity_days-error")).to_contain_text("exceeds max_validity_days")
    expect(page.locator("#spec-key_types-error")).to_contain_text("must not be empty")
    expect(page.get_by_label("default validity days", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#spec-max_validity_days-error")).to_have_text("")
    shot(page, "template-errors")
    page.get_by_label("default validity days", exact=True).fill("30")
    key_types.get_by_label("ec-p256", exact=True).check()
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Template ui-made")).to_be_visible()
    expect(page.get_by_label("dns", exact=True)).to_have_value("*.ui.example.test")
    expect(page.get_by_role("group", name="key types").get_by_label("ec-p256", exact=True)).to_be_checked()
    expect(page.get_by_role("group", name="key types").get_by_label("rsa-2048", exact=True)).not_to_be_checked()
    page.get_by_label("renew before", exact=True).fill("soon")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#spec-renew_before-error")).to_contain_text("neither a fraction")
    page.get_by_label("renew before", exact=True).fill("12h")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#banner")).to_contain_text("Saved.")
    expect(page.locator("#spec-renew_before-error")).to_have_text("")
    shot(page, "template-saved")

    # SCEP: the profiles with their device URLs, a one-time challenge shown once.
    page.get_by_role("link", name="SCEP").click()
    expect(page.get_by_role("heading", name="Profiles")).to_be_visible()
    expect(page.get_by_role("cell", name="one-time")).to_be_visible()
    expect(page.locator("code", has_text="/scep/mdm")).to_be_visible()
    page.get_by_label("Profile").select_option("mdm")
    page.get_by_label("Bound to CN (optional)").fill("device-7")
    page.get_by_role("button", name="Mint challenge").click()
    expect(page.get_by_text("One-time challenge for mdm")).to_be_visible()
    challenge = page.locator("code.secret").inner_text()
    assert len(challenge) == 32, challenge
    expect(page.get_by_role("cell", name="device-7")).to_be_visible()
    shot(page, "scep")
    page.reload()
    expect(page.get_by_role("cell", name="device-7")).to_be_visible()
    assert challenge not in page.content()

    # The audit chain.
    page.get_by_role("link", name="Audit").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text("Audit chain intact")).to_be_visible()
    shot(page, "audit")

    # Phone width still reads.
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="Overview").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shot(page, "overview-phone")
    sign_out(page)
    browser.close()

assert not foreign, f"requests to other origins: {foreign}"
assert not errors, f"console errors: {errors}"
print(f"ui: all checks passed; {shots} screenshots in {out}")
