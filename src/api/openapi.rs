//! `GET /api/v1/openapi.json`, generated from the route table.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::ROUTES;
use crate::api::ApiState;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/openapi.json", get(|| async { Json(document()) }))
        .route("/api/v1/docs", get(|| async { axum::response::Html(DOCS) }))
}

/// Path parameters plus the headers every operation takes.
fn headers(method: &str, mut params: Vec<Value>) -> Vec<Value> {
    params.push(json!({"$ref": "#/components/parameters/RequestId"}));
    if method == "POST" {
        params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    params
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, permission, summary) in ROUTES {
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let op = json!({
            "summary": summary,
            "operationId": format!("{}_{}", method.to_lowercase(), path.trim_start_matches("/api/v1/").replace(['/', '{', '}', '-'], "_")),
            "security": [{"bearer": []}],
            "x-permission": permission,
            "parameters": headers(method, params),
            "responses": {
                "2XX": {"description": "success"},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "default": {"$ref": "#/components/responses/Error"}
            }
        });
        paths
            .entry(path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(method.to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Signet management API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "RequestId": {"name": "X-Request-ID", "in": "header", "required": false, "schema": {"type": "string"},
                              "description": "Echoed on the response (generated when absent) and recorded in the audit log"},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
                                   "description": "A repeat within 24 h replays the original response; another body under the key is 422; a repeat while the first runs is 409"}
            },
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"}, "request_id": {"type": "string"}
                }}}
            }}}}}
        }
    })
}

/// A self-contained page that renders openapi.json: no CDN, so it works on
/// an air-gapped network.
const DOCS: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Signet API</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}code{background:#f4f4f4;padding:0 .2em}
.m{font-weight:bold;font-family:monospace}</style></head>
<body><h1>Signet management API</h1>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code>. Errors are <code>{"error":{"code","message","details","request_id"}}</code>.
POSTs accept <code>Idempotency-Key</code>. The machine-readable document is <a href="openapi.json">openapi.json</a>.</p>
<table id="t"><tr><th>method</th><th>path</th><th>permission</th><th>what</th></tr></table>
<script>
fetch('openapi.json').then(r => r.json()).then(doc => {
  const t = document.getElementById('t');
  for (const [path, ops] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(ops)) {
    const tr = t.insertRow();
    [m.toUpperCase(), path, op['x-permission'], op.summary].forEach((v, i) => {
      const td = tr.insertCell(); td.textContent = v; if (i === 0) td.className = 'm';
    });
  }
});
</script></body></html>"#;
