//! `GET /api/v1/openapi.json`, generated from the route table.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::ROUTES;
use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(|| async { Json(document()) }))
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
            "parameters": params,
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
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"error": {"type": "object", "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"}, "request_id": {"type": "string"}
                }}}
            }}}}}
        }
    })
}
