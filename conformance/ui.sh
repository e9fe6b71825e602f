#!/usr/bin/env bash
# The web dashboard in a real browser: Playwright (PyPI) drives Debian's
# chromium against a real server. Screenshots land in target/ui/.
source "$(dirname "$0")/lib/common.sh"
build
DATA="$WORK/data"
# A second SCEP profile, with one-time challenges, for the SCEP page.
export SIGNET_SCEP__PROFILES__MDM__CHALLENGE=one-time
start_server "$DATA"
VENV=${SIGNET_VENV:-$REPO/target/venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import playwright' 2>/dev/null || "$VENV/bin/pip" install --quiet playwright
OUT="$REPO/target/ui"
rm -rf "$OUT" && mkdir -p "$OUT"
ADMIN=$(tr -d '\n' <"$DATA/admin.token")
api() { curl -sS --fail-with-body --cacert "$DATA/root.pem" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$@"; }
api -X POST "$HTTPS/api/v1/templates" -d '{"name": "two-eyes", "spec": {"dns": ["*.example.test"], "approvals_required": 1}}' >/dev/null
OPERATOR=$(api -X POST "$HTTPS/api/v1/tokens" -d '{"role": "operator", "name": "second-user"}' | jq -r .token)
# chromium must trust the server's root: the URL is https://127.0.0.1 with a
# certificate from this CA, so give chromium an NSS database that holds it.
NSSDB="$WORK/home/.pki/nssdb"
mkdir -p "$NSSDB"
certutil -d "sql:$NSSDB" -N --empty-password
certutil -d "sql:$NSSDB" -A -t "C,," -n signet-root -i "$DATA/root.pem"
ui_flow() {
  HOME="$WORK/home" "$VENV/bin/python" "$CONF_DIR/ui_test.py" "$HTTPS" "$DATA/root.pem" "$ADMIN" "$OPERATOR" "$OUT"
}
check "dashboard in chromium: sign-in, request + PKCS#12, list, detail, revoke, approval by a second user, EAB once, template form errors, SCEP profiles and a challenge, users and last use, projects, audit verify, CSP, no outside request" ui_flow
summary
