#!/usr/bin/env bash
# The OpenAPI document, checked by third-party tools: it validates
# (openapi-spec-validator), every route in the code is in it, and a Python
# client generated from it (openapi-python-client) drives a whole flow.
source "$(dirname "$0")/lib/common.sh"
build
DATA="$WORK/data"
start_server "$DATA"
VENV=${SIGNET_VENV:-$REPO/target/venv}
[ -x "$VENV/bin/openapi-python-client" ] || {
  python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet openapi-spec-validator openapi-python-client
}
curl -sf --cacert "$DATA/root.pem" "$HTTPS/api/v1/openapi.json" -o "$WORK/openapi.json"

check "openapi.json validates (openapi-spec-validator)" "$VENV/bin/openapi-spec-validator" "$WORK/openapi.json"

routes_documented() {
  # Every `.route("/api/v1/…", method(…))` in the code, against the document.
  python3 - "$REPO/src" "$WORK/openapi.json" <<'PY'
import json, pathlib, re, sys
doc = json.load(open(sys.argv[2]))["paths"]
missing = []
for f in pathlib.Path(sys.argv[1]).rglob("*.rs"):
    text = f.read_text()
    for m in re.finditer(r'\.route\(\s*"(/api/v1/[^"]*)",\s*((?:[^()]|\([^()]*\))*)\)', text):
        path, handlers = m.group(1), m.group(2)
        if "{file}" in path or path.endswith("/pkiclient.exe"):
            continue  # the reference's own assets; SCEP's alias of /api/v1/scep/{ca}
        for method in re.findall(r'\b(get|post|put|delete)\(', handlers):
            if method not in doc.get(path, {}):
                missing.append(f"{method.upper()} {path} ({f.name})")
if missing:
    sys.exit("not in openapi.json: " + ", ".join(missing))
print("every route is documented")
PY
}
check "every /api/v1 route in the code is in the document" routes_documented

generate_and_run() {
  rm -rf "$WORK/gen" && mkdir -p "$WORK/gen"
  "$VENV/bin/openapi-python-client" generate --path "$WORK/openapi.json" \
    --output-path "$WORK/gen/signet_client" --meta none >"$WORK/gen.log" 2>&1 \
    || { cat "$WORK/gen.log"; return 1; }
  PYTHONPATH="$WORK/gen" "$VENV/bin/python" "$CONF_DIR/api_client_flow.py" \
    "$HTTPS" "$(cat "$DATA/admin.token")" "$DATA/root.pem" "$WORK"
}
check "a generated Python client: project, request, second-identity approval, PKCS#12, revoke, audit" generate_and_run

docs_offline() {
  curl -sf --cacert "$DATA/root.pem" "$HTTPS/api/v1/docs" -o "$WORK/docs.html"
  curl -sf --cacert "$DATA/root.pem" "$HTTPS/api/v1/docs/swagger-ui-bundle.js" -o "$WORK/bundle.js"
  grep -q 'src="/api/v1/docs/swagger-ui-bundle.js"' "$WORK/docs.html"
  [ "$(stat -c %s "$WORK/bundle.js")" -gt 1000000 ]
  ! grep -Eq '(src|href)="https?://' "$WORK/docs.html"
}
check "/api/v1/docs serves Swagger UI from the binary, no outside URL" docs_offline
summary
