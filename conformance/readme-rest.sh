#!/usr/bin/env bash
# The README's REST examples, run as written (in order, in one shell) against
# a fresh server, so that they cannot rot. Any failing command fails the check.
source "$(dirname "$0")/lib/common.sh"
build
DATA="$WORK/data"
mkdir -p "$DATA"
# Example 9 mints a challenge on a one-time SCEP profile.
printf '[scep.profiles.devices]\nchallenge = "one-time"\n' >"$DATA/signet.toml"
start_server "$DATA"
mkdir -p "$WORK/run"
ln -s "$DATA" "$WORK/run/signet-data"
awk '/<!-- rest-examples:begin -->/ {on=1; next} /<!-- rest-examples:end -->/ {on=0}
     on && /^```sh$/ {code=1; next} on && /^```$/ {code=0; print ""; next} code' \
  "$REPO/README.md" >"$WORK/examples.sh"
blocks=$(grep -c '^```sh$' <(awk '/rest-examples:begin/,/rest-examples:end/' "$REPO/README.md"))
[ "$blocks" -ge 11 ] || { echo "found $blocks example blocks in the README"; exit 1; }

run_examples() {
  cd "$WORK/run"
  bash -euo pipefail "$WORK/examples.sh" >"$WORK/examples.out"
  cat "$WORK/examples.out"
  # What the examples printed says they did what they say.
  grep -q '"status": "active"' "$WORK/examples.out"
  grep -q 'subject=CN *= *pay.example.test' "$WORK/examples.out"
  grep -qx 'active' "$WORK/examples.out"          # the uploaded CSR, and the approval
  grep -q '"ocsp_status": "revoked"' "$WORK/examples.out"
  grep -q '"eab_hmac_key": "' "$WORK/examples.out"
  tail -1 "$WORK/examples.out" | grep -qx true    # audit verify
}
check "README REST examples ($blocks blocks) run as written" run_examples
summary
