#!/usr/bin/env bash
# Relying-party view of revocation against a running server: certificates from
# lego, revoked over ACME; CRL and OCSP URLs taken from the certificates
# themselves; checked with `openssl crl`, `openssl verify -crl_check` and
# `openssl ocsp`.
source "$(dirname "$0")/lib/common.sh"
echo "conformance: revocation with $(openssl version)"
build

HTTP01_PORT=${HTTP01_PORT:-5402}
DATA="$WORK/data"
mkdir -p "$DATA"
export SIGNET_ACME__VALIDATION__HTTP01_PORT=$HTTP01_PORT
export SIGNET_ACME__VALIDATION__HOSTS='*.example.test=127.0.0.1'
start_server "$DATA"
log "server: $DIRECTORY"

export LEGO_CA_CERTIFICATES="$DATA/root.pem"
LEGO=(lego --server "$DIRECTORY" --accept-tos --email ops@example.test --path "$WORK/lego" --key-type ec256)
L="$WORK/lego/certificates"
for n in good revoked; do
  "${LEGO[@]}" --domains "$n.example.test" --http --http.port "127.0.0.1:$HTTP01_PORT" run >"$WORK/lego-$n.log" 2>&1
done
"${LEGO[@]}" --domains revoked.example.test revoke --keep --reason 1 >"$WORK/lego-revoke.log" 2>&1
TOKEN=$(cat "$DATA/admin.token")
CRL_URL=$(openssl x509 -in "$L/good.example.test.crt" -noout -ext crlDistributionPoints | grep -o 'http://[^ ]*')
OCSP_URL=$(openssl x509 -in "$L/good.example.test.crt" -noout -ocsp_uri)
CA_ID=$(basename "$CRL_URL" .crl)
log "CRL: $CRL_URL  OCSP: $OCSP_URL"

regenerate() {
  curl -sf --cacert "$DATA/root.pem" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"type\":\"$1\"}" "$HTTPS/api/v1/ca/$CA_ID/crl/regenerate"
}

crl_lists_revocation() {
  regenerate full
  curl -sf -o "$WORK/full.crl" "$CRL_URL"
  openssl crl -inform DER -in "$WORK/full.crl" -noout -text >"$WORK/full.txt"
  local serial
  serial=$(openssl x509 -in "$L/revoked.example.test.crt" -noout -serial | cut -d= -f2)
  grep -q "Serial Number: $serial" "$WORK/full.txt"
  grep -q "Key Compromise" "$WORK/full.txt"
  grep -q "Next Update" "$WORK/full.txt"
}
check "full CRL lists the ACME revocation with its reason" crl_lists_revocation

verify_with_crl() {
  openssl crl -inform DER -in "$WORK/full.crl" -out "$WORK/full.pem"
  openssl verify -crl_check -CAfile "$DATA/root.pem" -untrusted "$L/good.example.test.issuer.crt" -CRLfile "$WORK/full.pem" "$L/good.example.test.crt"
  ! openssl verify -crl_check -CAfile "$DATA/root.pem" -untrusted "$L/revoked.example.test.issuer.crt" -CRLfile "$WORK/full.pem" "$L/revoked.example.test.crt" >"$WORK/v.log" 2>&1
  grep -q "certificate revoked" "$WORK/v.log"
}
check "openssl verify -crl_check: good accepted, revoked rejected" verify_with_crl

verify_with_delta() {
  "${LEGO[@]}" --domains late.example.test --http --http.port "127.0.0.1:$HTTP01_PORT" run >"$WORK/lego-late.log" 2>&1
  "${LEGO[@]}" --domains late.example.test revoke --keep --reason 4 >>"$WORK/lego-late.log" 2>&1
  regenerate delta
  curl -sf "$CRL_URL" | openssl crl -inform DER -out "$WORK/crls.pem"
  curl -sf "${CRL_URL%.crl}/delta.crl" | openssl crl -inform DER >>"$WORK/crls.pem"
  ! openssl verify -crl_check -use_deltas -CAfile "$DATA/root.pem" -untrusted "$L/late.example.test.issuer.crt" -CRLfile "$WORK/crls.pem" "$L/late.example.test.crt" >"$WORK/vd.log" 2>&1
  grep -q "certificate revoked" "$WORK/vd.log"
  openssl verify -crl_check -use_deltas -CAfile "$DATA/root.pem" -untrusted "$L/good.example.test.issuer.crt" -CRLfile "$WORK/crls.pem" "$L/good.example.test.crt"
}
check "openssl verify -crl_check -use_deltas: delta-only revocation rejected" verify_with_delta

# No regenerate: the running server publishes on its own after a revocation.
cdp_within_seconds() {
  "${LEGO[@]}" --domains prompt.example.test --http --http.port "127.0.0.1:$HTTP01_PORT" run >"$WORK/lego-prompt.log" 2>&1
  "${LEGO[@]}" --domains prompt.example.test revoke --keep --reason 5 >>"$WORK/lego-prompt.log" 2>&1
  local cert="$L/prompt.example.test.crt" cdp i
  cdp=$(openssl x509 -in "$cert" -noout -ext crlDistributionPoints | grep -o 'http://[^ ]*')
  for i in $(seq 1 20); do
    curl -sf "$cdp" | openssl crl -inform DER -out "$WORK/prompt.pem"
    if ! openssl verify -crl_check -CAfile "$DATA/root.pem" -untrusted "$L/prompt.example.test.issuer.crt" \
        -CRLfile "$WORK/prompt.pem" "$cert" >"$WORK/vp.log" 2>&1; then
      grep -q "certificate revoked" "$WORK/vp.log" && return 0
    fi
    sleep 0.5
  done
  return 1
}
check "a revocation reaches the CRL at the certificate's CDP within 10 s" cdp_within_seconds

ocsp_statuses() {
  local o=(openssl ocsp -issuer "$L/good.example.test.issuer.crt" -CAfile "$DATA/root.pem" -url "$OCSP_URL")
  "${o[@]}" -cert "$L/good.example.test.crt" 2>&1 | tee "$WORK/o1" | grep -q ": good"
  "${o[@]}" -sha256 -cert "$L/revoked.example.test.crt" | tee "$WORK/o2" | grep -q ": revoked"
  grep -q "keyCompromise" "$WORK/o2"
  "${o[@]}" -serial 0x1234 | grep -q ": unknown"
  grep -q "Response verify OK" "$WORK/o1"
}
check "openssl ocsp: good, revoked (SHA-256 CertID) and unknown" ocsp_statuses

summary
