//! `GET /api/v1/openapi.json`, generated from the route table and the Rust
//! types it names, and `/api/v1/docs`, Swagger UI served from the binary.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::route_table::{Answer, Body, Route};
use super::{PROJECT_SCOPED, ROUTES};
use crate::api::ApiState;
use crate::error::ErrorBody;

pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    DOCUMENT.clone(),
                )
            }),
        )
        .route("/api/v1/docs", get(|| async { asset("index.html") }))
        .route(
            "/api/v1/docs/{file}",
            get(|axum::extract::Path(f): axum::extract::Path<String>| async move { asset(&f) }),
        )
}

/// The document depends only on the route table and the types, so it is
/// built once (about 10 ms and 160 KB), not on every request: the dashboard
/// reads it for the template form.
static DOCUMENT: std::sync::LazyLock<axum::body::Bytes> = std::sync::LazyLock::new(|| {
    serde_json::to_vec(&document())
        .expect("serialisable")
        .into()
});

/// Swagger UI (npm `swagger-ui-dist`, vendored under `assets/swagger-ui/`):
/// no CDN, so the reference works on an air-gapped network.
fn asset(name: &str) -> axum::response::Response {
    let (ct, body): (&str, &'static [u8]) = match name {
        "index.html" => (
            "text/html; charset=utf-8",
            include_bytes!("../../assets/swagger-ui/index.html"),
        ),
        "init.js" => (
            "text/javascript",
            include_bytes!("../../assets/swagger-ui/init.js"),
        ),
        "swagger-ui-bundle.js" => (
            "text/javascript",
            include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
        ),
        "swagger-ui.css" => (
            "text/css",
            include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
        ),
        _ => return crate::error::ApiError::not_found("file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ct),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

const ERRORS: [&str; 8] = ["400", "401", "403", "404", "409", "422", "429", "503"];

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|n| json!({"name": n, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// A query struct's fields as query parameters (all optional).
fn query_params(g: &mut SchemaGenerator, r: &Route) -> Vec<Value> {
    let Some(f) = r.query else { return Vec::new() };
    let schema = f(g);
    // A $ref: look the struct up among the definitions gathered so far.
    let resolved = match schema.get("$ref").and_then(Value::as_str) {
        Some(rf) => g
            .definitions()
            .get(rf.rsplit('/').next().unwrap_or_default())
            .cloned()
            .unwrap_or_default(),
        None => schema.to_value(),
    };
    let Some(props) = resolved.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .map(|(name, prop)| {
            let mut prop = prop.clone();
            let description = prop
                .as_object_mut()
                .and_then(|o| o.remove("description"))
                .unwrap_or(Value::Null);
            // `Option<T>` is "T or null"; a query parameter is simply absent.
            if let Some(types) = prop.get("type").and_then(Value::as_array).cloned() {
                let kept: Vec<Value> = types.into_iter().filter(|t| t != "null").collect();
                prop["type"] = if kept.len() == 1 {
                    kept[0].clone()
                } else {
                    json!(kept)
                };
            }
            let mut p = json!({"name": name, "in": "query", "required": false, "schema": prop});
            if !description.is_null() {
                p["description"] = description;
            }
            p
        })
        .collect()
}

fn operation(g: &mut SchemaGenerator, r: &Route, path: &str, id_prefix: &str) -> Value {
    let mut params = path_params(path);
    params.extend(query_params(g, r));
    params.push(json!({"$ref": "#/components/parameters/RequestId"}));
    if r.method == "POST" {
        params.push(json!({"$ref": "#/components/parameters/IdempotencyKey"}));
    }
    let mut responses = Map::new();
    match r.answer {
        Answer::Json(status, f) => {
            responses.insert(
                status.to_string(),
                json!({"description": "success", "content": {"application/json": {"schema": f(g)}}}),
            );
        }
        Answer::Issued(f) => {
            let schema = f(g);
            for (status, what) in [("201", "issued"), ("202", "waiting for approval")] {
                responses.insert(
                    status.into(),
                    json!({"description": what, "content": {"application/json": {"schema": schema.clone()}}}),
                );
            }
        }
        Answer::NoContent => {
            responses.insert("204".into(), json!({"description": "done"}));
        }
        Answer::File(types) => {
            let content: Map<String, Value> = types
                .iter()
                .map(|t| {
                    (
                        t.to_string(),
                        json!({"schema": {"type": "string", "format": "binary"}}),
                    )
                })
                .collect();
            responses.insert(
                "200".into(),
                json!({"description": "the file", "content": content}),
            );
        }
    }
    for e in ERRORS {
        responses.insert(e.into(), json!({"$ref": "#/components/responses/Error"}));
    }
    let op_id = format!(
        "{}{}_{}",
        id_prefix,
        r.method.to_lowercase(),
        path.trim_start_matches("/api/v1/")
            .replace("projects/{projectId}/", "")
            .replace(['/', '-', '.'], "_")
            .replace(['{', '}'], "")
    );
    let mut op = json!({
        "summary": r.summary,
        "operationId": op_id,
        "tags": [path
            .trim_start_matches("/api/v1/")
            .trim_start_matches("projects/{projectId}/")
            .split('/')
            .next()
            .unwrap_or_default()],
        "security": if r.permission.is_empty() { json!([]) } else { json!([{"bearer": []}, {"session": []}]) },
        "x-permission": if r.permission.is_empty() { "none" } else { r.permission },
        "parameters": params,
        "responses": responses,
    });
    match r.body {
        Body::None => {}
        Body::Json(f) => {
            op["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": f(g)}}});
        }
        Body::Multipart => {
            op["requestBody"] = json!({"required": true, "content": {"multipart/form-data": {"schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "PEM, DER or PKCS#12"},
                    "password": {"type": "string", "description": "For PKCS#12"},
                    "project_id": {"type": "string"}
                }
            }}}});
        }
    }
    op
}

/// The project-scoped twin of a flat route, if it has one.
fn scoped_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/")?;
    let resource = rest.split('/').next()?;
    PROJECT_SCOPED
        .contains(&resource)
        .then(|| format!("/api/v1/projects/{{projectId}}/{rest}"))
}

/// SCEP (RFC 8894) under the API prefix: no bearer token; the CMS message
/// carries the device's authentication.
fn scep_paths() -> Value {
    let op = |method: &str| {
        json!({
            "summary": format!("SCEP ({method}): GetCACaps, GetCACert, GetNextCACert, PKIOperation"),
            "operationId": format!("scep_{}", method.to_lowercase()),
            "tags": ["scep"],
            "security": [],
            "x-permission": "none (SCEP challenge password or a certificate signed by the CA)",
            "parameters": [
                {"name": "ca", "in": "path", "required": true, "schema": {"type": "string"}, "description": "CA id or name"},
                {"name": "operation", "in": "query", "required": true, "schema": {"type": "string",
                    "enum": ["GetCACaps", "GetCACert", "GetNextCACert", "PKIOperation"]}},
                {"name": "message", "in": "query", "required": false, "schema": {"type": "string"}, "description": "base64 PKIOperation message (GET)"}
            ],
            "responses": {"200": {"description": "SCEP answer", "content": {
                "application/x-x509-ca-cert": {"schema": {"type": "string", "format": "binary"}},
                "application/x-x509-ca-ra-cert": {"schema": {"type": "string", "format": "binary"}},
                "application/x-pki-message": {"schema": {"type": "string", "format": "binary"}},
                "text/plain": {"schema": {"type": "string"}}
            }}}
        })
    };
    let mut post = op("POST");
    post["requestBody"] = json!({"required": false, "content": {"application/x-pki-message": {"schema": {"type": "string", "format": "binary"}}}});
    json!({"get": op("GET"), "post": post})
}

/// A `oneOf` of string constants (an enum whose variants have doc comments)
/// as a plain `enum`, the descriptions joined.
fn plain_enum(m: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = m.get("oneOf") else {
        return;
    };
    let consts: Option<Vec<(Value, Option<String>)>> = variants
        .iter()
        .map(|v| {
            let c = v.get("const")?.clone();
            let d = v
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string);
            Some((c, d))
        })
        .collect();
    let Some(consts) = consts else { return };
    let notes: Vec<String> = consts
        .iter()
        .filter_map(|(c, d)| Some(format!("{}: {}", c.as_str()?, d.as_ref()?)))
        .collect();
    m.remove("oneOf");
    m.insert("type".into(), json!("string"));
    m.insert("enum".into(), consts.into_iter().map(|(c, _)| c).collect());
    if !notes.is_empty() {
        m.insert("description".into(), json!(notes.join("; ")));
    }
}

/// Spellings that common generators reject, made plain: `"default": null`
/// (it says nothing, and validators check it against the field's type) is
/// dropped, the schema `true` ("any value") becomes `{}`, and enums of
/// documented constants become plain enums.
fn plain_schemas(v: &mut Value) {
    match v {
        Value::Object(m) => {
            plain_enum(m);
            if m.get("default").is_some_and(Value::is_null) {
                m.remove("default");
            }
            if m.get("items") == Some(&Value::Bool(true)) {
                m.insert("items".into(), json!({}));
            }
            if let Some(Value::Object(props)) = m.get_mut("properties") {
                for p in props.values_mut().filter(|p| **p == Value::Bool(true)) {
                    *p = json!({});
                }
            }
            m.values_mut().for_each(plain_schemas);
        }
        Value::Array(a) => a.iter_mut().for_each(plain_schemas),
        _ => {}
    }
}

fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut paths = Map::new();
    let mut add = |path: String, method: &str, op: Value| {
        paths
            .entry(path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(method.to_lowercase(), op);
    };
    for r in ROUTES {
        add(
            r.path.to_string(),
            r.method,
            operation(&mut g, r, r.path, ""),
        );
        if let Some(scoped) = scoped_path(r.path) {
            let op = operation(&mut g, r, &scoped, "project_");
            add(scoped, r.method, op);
        }
    }
    paths.insert("/api/v1/scep/{ca}".into(), scep_paths());
    let error = g.subschema_for::<ErrorBody>();
    let schemas: Map<String, Value> = g.take_definitions(true).into_iter().collect();
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Signet management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Send `Authorization: Bearer <token>`. Every error is `{\"error\":{\"code\",\"message\",\"details\",\"request_id\"}}`. POSTs accept `Idempotency-Key`. Lists page with `limit` and `cursor`. Project-scoped resources are also under `/api/v1/projects/{projectId}/`."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "signet_session",
                            "description": "From POST /api/v1/sessions; mutations also send X-CSRF-Token"}
            },
            "parameters": {
                "RequestId": {"name": "X-Request-ID", "in": "header", "required": false, "schema": {"type": "string"},
                              "description": "Echoed on the response (generated when absent) and recorded in the audit log"},
                "IdempotencyKey": {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 255},
                                   "description": "A repeat within 24 h replays the original response; another body under the key, or a repeat while the first runs, is 409"}
            },
            "responses": {"Error": {"description": "error", "content": {"application/json": {"schema": error}}}},
            "schemas": schemas,
        }
    });
    plain_schemas(&mut doc);
    doc
}
