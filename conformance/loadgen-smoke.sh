#!/usr/bin/env bash
# A 5-second run of the ACME load generator against a running server, so the
# benchmark tool cannot rot. The figures of a debug build mean nothing;
# conformance/bench.sh measures.
source "$(dirname "$0")/lib/common.sh"
build
HTTP01_PORT=${HTTP01_PORT:-5402}
DATA="$WORK/data"
export SIGNET_ACME__VALIDATION__HTTP01_PORT=$HTTP01_PORT
export SIGNET_ACME__VALIDATION__HOSTS='*.load.example.test=127.0.0.1'
start_server "$DATA"
echo "conformance: loadgen smoke against $DIRECTORY"
smoke() {
  "$LOADGEN" acme --directory "$DIRECTORY" --ca-bundle "$DATA/root.pem" --concurrency 2 --duration-secs 5 \
    --http-port "$HTTP01_PORT" --server-pid "${PIDS[0]}" >"$WORK/loadgen.json"
  python3 - "$WORK/loadgen.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["flows"] > 0 and not r["errors"], r
print(f'  {r["flows"]} flows in {r["seconds"]:.1f} s, no errors')
PY
}
check "loadgen: 5 s of full ACME flows with no error" smoke
summary
