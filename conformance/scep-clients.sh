#!/usr/bin/env bash
# SCEP with real clients: micromdm's scepclient (Debian package `scep`),
# which signs with SHA-1 and encrypts with single DES whatever GetCACaps
# says. Covers GetCACaps/GetCACert, enrolment with the static challenge, a
# one-time challenge (and its reuse), PENDING → approve → poll, renewal with
# the current certificate, a wrong challenge, an EC CA behind an RSA RA and
# an RSA CA answering itself; then certmonger's SCEP helper as a second client.
# Every certificate goes through `openssl verify`.
source "$(dirname "$0")/lib/common.sh"
echo "conformance: SCEP with micromdm scepclient $(dpkg-query -W -f='${Version}' scep 2>/dev/null) and certmonger $(dpkg-query -W -f='${Version}' certmonger 2>/dev/null)"
build

DATA="$WORK/data"
mkdir -p "$DATA"
cat >"$DATA/signet.toml" <<'EOF'
[scep.profiles.onetime]
challenge = "one-time"

[scep.profiles.manual]
challenge = "none"
EOF
start_server "$DATA"
TOKEN=$(cat "$DATA/admin.token")
SECRET=$(cat "$DATA/scep-challenge")
log "server: $HTTP/scep/default"

api() { # api METHOD PATH [JSON]
  curl -sf --cacert "$DATA/root.pem" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -X "$1" ${3:+-d "$3"} "$HTTPS$2"
}

# The RA's SHA-256 fingerprint: scepclient then encrypts to the RA only
# (without it, it also tries the EC CA certificate, which cannot decrypt).
curl -sf -o "$WORK/cacert.p7" "$HTTP/scep/default?operation=GetCACert"
openssl pkcs7 -inform DER -in "$WORK/cacert.p7" -print_certs | awk '/BEGIN/{n++} n==2' >"$WORK/ra.pem"
RA_FP=$(openssl x509 -in "$WORK/ra.pem" -outform DER | sha256sum | cut -d' ' -f1)

# enrol DIR PROFILE CN [CHALLENGE] [BASE_URL]: one scepclient run in its own
# directory (the client caches csr.pem and self.pem in the working directory).
enrol() {
  local dir="$WORK/$1" profile=$2 cn=$3 challenge=${4:-} base=${5:-$HTTP}
  mkdir -p "$dir"
  (cd "$dir" && rm -f csr.pem self.pem && timeout 120 scepclient -server-url "$base/scep/$profile" \
    -private-key key.pem -certificate cert.pem -cn "$cn" ${challenge:+-challenge "$challenge"} \
    ${FP:+-ca-fingerprint "$FP"} >>client.log 2>&1)
}

caps_and_ca_cert() {
  curl -sf "$HTTP/scep/default?operation=GetCACaps" >"$WORK/caps"
  for c in POSTPKIOperation SHA-256 AES SCEPStandard Renewal; do grep -qx "$c" "$WORK/caps"; done
  curl -sf -D "$WORK/h" -o /dev/null "$HTTP/scep/default/pkiclient.exe?operation=GetCACert"
  grep -qi 'content-type: application/x-x509-ca-ra-cert' "$WORK/h"
  openssl x509 -in "$WORK/ra.pem" -noout -text | grep -q 'Digital Signature, Key Encipherment'
  openssl x509 -in "$WORK/ra.pem" -noout -text | grep -q 'rsaEncryption'
  verify_chain "$WORK/ra.pem" "$DATA/ca-chain.pem"
}
check "GetCACaps and GetCACert (EC CA + RSA RA as x-x509-ca-ra-cert)" caps_and_ca_cert

FP=$RA_FP
static_enrol() {
  enrol static default device-static "$SECRET"
  verify_chain "$WORK/static/cert.pem" "$DATA/ca-chain.pem"
  openssl x509 -in "$WORK/static/cert.pem" -noout -subject | grep -q 'CN = device-static'
}
check "enrol with the static challenge (DES + SHA-1 request, EC CA via RSA RA)" static_enrol

wrong_challenge() {
  if enrol wrong default device-wrong "not-the-secret"; then return 1; fi
  grep -q 'failInfo: badRequest' "$WORK/wrong/client.log"
  [ ! -s "$WORK/wrong/cert.pem" ]
}
check "a wrong challenge gets FAILURE badRequest" wrong_challenge

one_time() {
  local otp
  otp=$(api POST /api/v1/scep/challenges '{"profile":"onetime","ttl_seconds":600}' | jq -r .challenge)
  enrol otp1 onetime device-otp "$otp"
  verify_chain "$WORK/otp1/cert.pem" "$DATA/ca-chain.pem"
  if enrol otp2 onetime device-otp-again "$otp"; then return 1; fi
  grep -q 'failInfo: badRequest' "$WORK/otp2/client.log"
  # Minted on the command line instead, bound to the device's CN.
  otp=$("$SIGNET" scep challenge --data-dir "$DATA" --profile onetime --cn device-otp-cli --json | jq -r .challenge)
  enrol otp3 onetime device-otp-cli "$otp"
  verify_chain "$WORK/otp3/cert.pem" "$DATA/ca-chain.pem"
}
check "enrol with one-time challenges (API and CLI); reuse is refused" one_time

pending_approve_poll() {
  enrol manual manual device-manual &
  local client=$! id=""
  for _ in $(seq 1 100); do
    id=$(api GET '/api/v1/certificates?status=pending_approval' | jq -r '.items[0].id // empty')
    [ -n "$id" ] && break
    sleep 0.2
  done
  [ -n "$id" ]
  grep -q 'PENDING' "$WORK/manual/client.log"
  api POST "/api/v1/certificates/$id/approve" '{"comment":"conformance"}' >/dev/null
  # scepclient re-sends its request every 30 s until it is answered.
  wait "$client"
  verify_chain "$WORK/manual/cert.pem" "$DATA/ca-chain.pem"
}
check "PENDING, approved through the API, then the client's poll gets the certificate" pending_approve_poll

renew() {
  local before after
  before=$(openssl x509 -in "$WORK/static/cert.pem" -noout -serial)
  # No challenge: the request is signed with the current certificate.
  enrol static default device-static
  after=$(openssl x509 -in "$WORK/static/cert.pem" -noout -serial)
  [ "$before" != "$after" ]
  verify_chain "$WORK/static/cert.pem" "$DATA/ca-chain.pem"
  api GET "/api/v1/certificates?common_name=device-static" | jq -e '[.items[] | select(.replaces_id != null)] | length == 1'
}
check "renew with the current certificate (no challenge)" renew

# certmonger (Debian 0.79): AES-256 + SHA-256, PKIOperation by GET, decimal
# transactionIDs, and it verifies the RA's signature against the chain from
# GetCACert. Enrol with the static challenge, then `getcert resubmit`, which
# renews with a request signed by the current certificate.
certmonger_enrol_and_renew() { # URL SECRET DATA_DIR CN
  local url=$1 secret=$2 data=$3 cn=$4 dir="$WORK/certmonger-$4" nick="signet-$$-$4"
  mkdir -p "$dir/home"
  cat >"$dir/run.sh" <<EOF
set -e
getcert add-scep-ca -s -c $nick -u $url
for i in \$(seq 1 100); do getcert list-cas -s -c $nick | grep -q 'SCEP CA certificate thumbprint' && break; sleep 0.1; done
getcert request -s -c $nick -I $nick-req -k $dir/dev.key -f $dir/dev.pem -N CN=$cn -L "$secret" -w
getcert list -s -i $nick-req | grep 'status:'
openssl x509 -in $dir/dev.pem -noout -serial >$dir/serial1
getcert resubmit -s -i $nick-req -w
getcert list -s -i $nick-req | grep 'status:'
openssl x509 -in $dir/dev.pem -noout -serial >$dir/serial2
getcert stop-tracking -s -i $nick-req
getcert remove-ca -s -c $nick
touch $dir/done
EOF
  HOME="$dir/home" timeout 180 dbus-run-session -- certmonger -s -n -c "bash $dir/run.sh" >"$dir/log" 2>&1 || true
  cat "$dir/log"
  [ -e "$dir/done" ]
  openssl verify -CAfile "$data/root.pem" -untrusted "$data/ca-chain.pem" "$dir/dev.pem"
  if cmp -s "$dir/serial1" "$dir/serial2"; then return 1; fi
  [ "$(sqlite3 "$data/signet.db" "SELECT COUNT(*) FROM certificates WHERE common_name = '$cn' AND replaces_id IS NOT NULL")" = 1 ]
}
check "certmonger: enrol (AES-256, GET), then renew with getcert resubmit" \
  certmonger_enrol_and_renew "$HTTP/scep/default" "$SECRET" "$DATA" certmonger-ec

# A second server whose CA key is RSA: GetCACert is the CA certificate alone
# and the CA decrypts and signs itself.
DATA_RSA="$WORK/data-rsa"
"$SIGNET" init --data-dir "$DATA_RSA" --ca-key-type rsa-2048 >"$WORK/init-rsa.log" 2>&1
cat >"$DATA_RSA/signet.toml" <<'EOF'
[scep.profiles.with-ra]
ra = "always"
EOF
OUT_BEFORE="$WORK/server.out"
mv "$OUT_BEFORE" "$WORK/server-ec.out"
start_server "$DATA_RSA"
rsa_ca() {
  curl -sf -D "$WORK/h2" -o "$WORK/rsa-ca.der" "$HTTP/scep/default?operation=GetCACert"
  grep -qi 'content-type: application/x-x509-ca-cert' "$WORK/h2"
  FP="" enrol rsa default device-rsa "$(cat "$DATA_RSA/scep-challenge")"
  openssl verify -CAfile "$DATA_RSA/root.pem" -untrusted "$DATA_RSA/ca-chain.pem" "$WORK/rsa/cert.pem"
}
check "RSA CA: single-certificate GetCACert, enrol without an RA" rsa_ca
check "certmonger, RSA CA with ra = \"always\" (it cannot verify a lone intermediate)" \
  certmonger_enrol_and_renew "$HTTP/scep/with-ra" "$(cat "$DATA_RSA/scep-challenge")" "$DATA_RSA" certmonger-rsa

summary
