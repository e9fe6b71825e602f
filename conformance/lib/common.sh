# Shared helpers for conformance scripts: build, start a server, check results.
set -euo pipefail
CONF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO=$(cd "$CONF_DIR/.." && pwd)
WORK=$(mktemp -d /tmp/signet-conformance.XXXXXX)
PIDS=()
PASSED=0
FAILED=0

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$FAILED" -eq 0 ]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT

log() { printf '  %s\n' "$*"; }
pass() { PASSED=$((PASSED + 1)); printf '  ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf '  FAIL %s\n' "$*"; }

# check NAME CMD...: run a check, record pass/fail, keep going. The check
# runs as its own job so that `set -e` holds inside it (bash ignores -e in
# anything called from an `if`), and any failing step fails the check.
check() {
  local name=$1 rc=0; shift
  ( set -e; "$@" ) >"$WORK/check.log" 2>&1 &
  wait $! || rc=$?
  if [ "$rc" -eq 0 ]; then pass "$name"; else fail "$name"; sed 's/^/       /' "$WORK/check.log" | tail -25; fi
}

# build: every workspace binary, with the same target set (and so the same
# resolved features) as `cargo test --workspace`, so that after the tests this
# compiles nothing: a per-package build resolves other features and would
# build the dependency tree a second time, which doubles CI's disk use.
build() {
  (cd "$REPO" && cargo build --quiet --workspace --all-targets)
  local bin="${CARGO_TARGET_DIR:-$REPO/target}/debug"
  SIGNET="$bin/signet"
  TESTDNS="$bin/signet-testdns"
  LOADGEN="$bin/signet-loadgen"
}

# start_server DATA_DIR: runs `signet serve` on free ports; sets HTTPS, HTTP, DIRECTORY.
start_server() {
  local data=$1
  "$SIGNET" serve --data-dir "$data" --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 >"$WORK/server.out" 2>"$WORK/server.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    grep -q '^acme directory:' "$WORK/server.out" 2>/dev/null && break
    sleep 0.1
  done
  HTTPS=$(awk '/^https:/ {print $2}' "$WORK/server.out")
  HTTP=$(awk '/^http:/ {print $2}' "$WORK/server.out")
  DIRECTORY=$(awk '/^acme directory:/ {print $3}' "$WORK/server.out")
  [ -n "$DIRECTORY" ] || { cat "$WORK/server.log"; echo "server did not start"; exit 1; }
}

# verify_chain LEAF CHAIN: openssl verify against the server's root.
verify_chain() {
  openssl verify -CAfile "$DATA/root.pem" -untrusted "$2" "$1"
}

summary() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
