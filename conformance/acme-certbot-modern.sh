#!/usr/bin/env bash
# certbot 5 from PyPI (Debian's 2.1 predates these features): ACME profiles,
# an unknown profile, IP identifiers (RFC 8738) and ARI-driven renewal (RFC 9773).
source "$(dirname "$0")/lib/common.sh"
build

VENV="$REPO/target/conformance-venv"
if [ ! -x "$VENV/bin/certbot" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'certbot>=5,<6'
fi
echo "conformance: $("$VENV/bin/certbot" --version 2>&1) from PyPI"

HTTP01_PORT=${HTTP01_PORT:-5402}
DATA="$WORK/data"
mkdir -p "$DATA"
cat > "$DATA/signet.toml" <<'TOML'
[templates.short]
description = "7-day certificates"
dns = ["*"]                     # an omitted allow-list allows nothing
default_validity_days = 7
max_validity_days = 7
TOML
export SIGNET_ACME__VALIDATION__HTTP01_PORT=$HTTP01_PORT
export SIGNET_ACME__VALIDATION__HOSTS='*.example.test=127.0.0.1'
start_server "$DATA"
log "server: $DIRECTORY"

export REQUESTS_CA_BUNDLE="$DATA/root.pem"
CB=("$VENV/bin/certbot" --non-interactive --server "$DIRECTORY" --config-dir "$WORK/cb/c" --work-dir "$WORK/cb/w" --logs-dir "$WORK/cb/l")
LIVE="$WORK/cb/c/live"
STANDALONE=(--standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" --preferred-challenges http-01)
days() { python3 - "$1" <<'PY'
import subprocess, sys
from datetime import datetime
out = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-startdate", "-enddate"], capture_output=True, text=True).stdout
d = {k: datetime.strptime(v.strip(), "%b %d %H:%M:%S %Y %Z") for k, v in (l.split("=", 1) for l in out.splitlines())}
print(round((d["notAfter"] - d["notBefore"]).total_seconds() / 86400))
PY
}

register() { "${CB[@]}" register --agree-tos --email ops@example.test; }
check "certbot 5: register without EAB (not required here)" register

profile() {
  "${CB[@]}" certonly --cert-name short -d prof.example.test --required-profile short "${STANDALONE[@]}"
  verify_chain "$LIVE/short/cert.pem" "$LIVE/short/chain.pem"
  [ "$(days "$LIVE/short/cert.pem")" = 7 ]
}
check "certbot 5: --required-profile short gives a 7-day certificate" profile

unknown_profile() {
  ! "${CB[@]}" certonly --cert-name nope -d nope.example.test --required-profile nope "${STANDALONE[@]}" >"$WORK/nope.log" 2>&1
  grep -q "invalidProfile" "$WORK/nope.log" "$WORK/cb/l/letsencrypt.log"
}
check "certbot 5: unknown profile is refused with invalidProfile" unknown_profile

ip_identifier() {
  "${CB[@]}" certonly --cert-name ip --ip-address 127.0.0.1 "${STANDALONE[@]}"
  verify_chain "$LIVE/ip/cert.pem" "$LIVE/ip/chain.pem"
  openssl x509 -in "$LIVE/ip/cert.pem" -noout -ext subjectAltName | grep -q 'IP Address:127.0.0.1'
}
check "certbot 5: IP identifier over http-01" ip_identifier

ari_renewal() {
  local before after
  before=$(openssl x509 -in "$LIVE/short/cert.pem" -noout -serial)
  # Fresh certificate: ARI's window is in the future, so nothing is renewed.
  "${CB[@]}" renew --cert-name short --no-random-sleep-on-renew
  [ "$(openssl x509 -in "$LIVE/short/cert.pem" -noout -serial)" = "$before" ]
  grep -q "renewalInfo\|renewal-info" "$WORK/cb/l/letsencrypt.log"
  # Revoked: ARI says "renew now", and certbot renews without being forced.
  "${CB[@]}" revoke --cert-name short --reason superseded --no-delete-after-revoke
  sed -i '/^ari_retry_after/d' "$WORK/cb/c/renewal/short.conf"
  "${CB[@]}" renew --cert-name short --no-random-sleep-on-renew
  after=$(openssl x509 -in "$LIVE/short/cert.pem" -noout -serial)
  [ "$before" != "$after" ]
  verify_chain "$LIVE/short/cert.pem" "$LIVE/short/chain.pem"
}
check "certbot 5: ARI keeps a fresh certificate and renews a revoked one" ari_renewal

summary
