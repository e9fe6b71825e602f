#!/bin/bash
# A/B of SQLite durability (synchronous FULL vs NORMAL) and of the access log
# (log level info vs warn): alternating 12 s ACME runs, 16 workers, release build.
# Not part of CI; BENCHMARKS.md "Durable commits" holds its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p signet --bin signet -p signet-loadgen
R=$(pwd)/target/release
run() {
  local mode=$1 lvl=$2 d; d=$(mktemp -d)
  SIGNET_SQLITE_SYNCHRONOUS=$mode SIGNET_LOG__LEVEL=$lvl SIGNET_ACME__VALIDATION__HTTP01_PORT=5499 \
  SIGNET_ACME__VALIDATION__HOSTS='*.load.example.test=127.0.0.1' \
    $R/signet serve --data-dir $d --listen 127.0.0.1:18443 --http-listen 127.0.0.1:18080 >$d/out 2>$d/log &
  local pid=$!
  for _ in $(seq 1 100); do grep -q '^acme directory' $d/out 2>/dev/null && break; sleep 0.1; done
  $R/signet-loadgen acme --directory https://127.0.0.1:18443/acme/directory --ca-bundle $d/root.pem \
    --concurrency 16 --duration-secs ${SECS:-12} --http-port 5499 --server-pid $pid --request-timeout-secs 5 \
    | jq -c "{mode: \"$mode\", log: \"$lvl\", fps: (.flows_per_second|floor), cpu_ms: .server_cpu_ms_per_flow, p99: .steps.flow.p99_ms, errors}"
  kill $pid; wait $pid 2>/dev/null || true; rm -rf $d
}
for i in 1 2; do run full info; run normal info; run full warn; done
