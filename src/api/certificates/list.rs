//! `GET /api/v1/certificates`: filters (comma-separated values are ORs),
//! sort, and keyset pagination with an opaque cursor (stable under inserts).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::Row;

use super::view;
use crate::api::ApiState;
use crate::api::auth::Principal;
use crate::error::ApiError;
use crate::store::certificates::CertRow;
use crate::store::{Backend, StoreError, now};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ListQuery {
    status: Option<String>,
    ca_id: Option<String>,
    project_id: Option<String>,
    template_id: Option<String>,
    channel: Option<String>,
    common_name: Option<String>,
    san: Option<String>,
    expiring_within_days: Option<i64>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// The statuses a certificate row can have.
const STATUSES: [&str; 7] = [
    "pending_approval",
    "rejected",
    "issuing",
    "active",
    "revoked",
    "archived",
    "failed",
];

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", msg)
}

/// Above this many matches a substring filter walks the page order instead of
/// the trigram index: the matches are then dense enough that a page fills
/// within a few thousand rows, while sorting them all would cost more.
const INDEXED_MATCHES_MAX: usize = 2000;

/// The WHERE clause for "`col` contains `needle`" (case-insensitive on both
/// stores). On SQLite a needle of three or more characters is looked up in
/// the FTS5 trigram index (migration 0009) first; when it matches few rows the
/// clause names their rowids, so the page is a handful of row lookups rather
/// than a scan. PostgreSQL's planner uses its pg_trgm index for ILIKE itself.
async fn substring(
    app: &ApiState,
    col: &'static str,
    needle: &str,
    binds: &mut Vec<Bind>,
) -> Result<String, ApiError> {
    // `%`, `_` and `\` in the needle are literal characters.
    let literal = !needle.contains(['%', '_', '\\']);
    let pattern = format!(
        "%{}%",
        needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    if app.store.backend == Backend::Postgres {
        binds.push(Bind::Text(pattern));
        return Ok(format!("{col} ILIKE ${} ESCAPE '\\'", binds.len()));
    }
    binds.push(Bind::Text(pattern.clone()));
    let like = format!("{col} LIKE ${} ESCAPE '\\'", binds.len());
    // FTS5 answers LIKE from its trigrams only without an ESCAPE clause.
    if literal && needle.chars().count() >= 3 {
        let rowids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT rowid FROM certificates_text WHERE {col} LIKE $1 LIMIT {}",
            INDEXED_MATCHES_MAX + 1
        )))
        .bind(pattern)
        .fetch_all(&app.store.read)
        .await
        .map_err(StoreError::from)?;
        if rowids.len() <= INDEXED_MATCHES_MAX {
            let list: Vec<String> = rowids.iter().map(i64::to_string).collect();
            // The LIKE stays: it costs nothing on these few rows.
            return Ok(format!("(rowid IN ({}) AND {like})", list.join(",")));
        }
    }
    Ok(like)
}

pub async fn list(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    p.require("certificate:read")?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(bad("limit must be 1..=500"));
    }
    let (sort_col, is_int) = match q.sort.as_deref().unwrap_or("id") {
        "id" | "created_at" => ("id", false),
        "not_after" => ("not_after", true),
        "common_name" => ("common_name", false),
        other => {
            return Err(bad(format!(
                "cannot sort by {other:?} (id, created_at, not_after, common_name)"
            )));
        }
    };
    let desc = match q.order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        other => return Err(bad(format!("order must be asc or desc, not {other:?}"))),
    };
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    let param = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let any_of =
        |col: &str, v: &Option<String>, clauses: &mut Vec<String>, binds: &mut Vec<Bind>| {
            if let Some(v) = v {
                let ors: Vec<String> = v
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| format!("{col} = {}", param(Bind::Text(s.to_string()), binds)))
                    .collect();
                if !ors.is_empty() {
                    clauses.push(format!("({})", ors.join(" OR ")));
                }
            }
        };
    let project = match (&p.token.project_id, &q.project_id) {
        (Some(own), _) => Some(own.clone()), // scoped tokens see only their project
        (None, asked) => asked.clone(),
    };
    if let Some(st) = &q.status
        && let Some(bad_status) = st
            .split(',')
            .find(|s| !s.is_empty() && !STATUSES.contains(s))
    {
        return Err(bad(format!(
            "unknown status {bad_status:?} (allowed: {})",
            STATUSES.join(", ")
        )));
    }
    any_of("status", &q.status, &mut clauses, &mut binds);
    any_of("ca_id", &q.ca_id, &mut clauses, &mut binds);
    any_of("project_id", &project, &mut clauses, &mut binds);
    any_of("template_id", &q.template_id, &mut clauses, &mut binds);
    any_of("channel", &q.channel, &mut clauses, &mut binds);
    if let Some(cn) = &q.common_name {
        let clause = substring(&app, "common_name", cn, &mut binds).await?;
        clauses.push(clause);
    }
    if let Some(san) = &q.san {
        // SANs are stored as a JSON array of strings: match a whole entry.
        let needle = format!("\"{}\"", san.replace('"', ""));
        let clause = substring(&app, "sans", &needle, &mut binds).await?;
        clauses.push(clause);
    }
    if let Some(days) = q.expiring_within_days {
        let (a, b) = (binds.len() + 1, binds.len() + 2);
        binds.push(Bind::Int(now()));
        binds.push(Bind::Int(now() + days * 86400));
        clauses.push(format!(
            "not_after > ${a} AND not_after <= ${b} AND status = 'active'"
        ));
    }
    if let Some(c) = &q.cursor {
        let raw = URL_SAFE_NO_PAD
            .decode(c)
            .map_err(|_| bad("invalid cursor"))?;
        let cur: Value = serde_json::from_slice(&raw).map_err(|_| bad("invalid cursor"))?;
        let id = cur["id"]
            .as_str()
            .ok_or_else(|| bad("invalid cursor"))?
            .to_string();
        let op = if desc { "<" } else { ">" };
        if sort_col == "id" {
            let n = binds.len() + 1;
            binds.push(Bind::Text(id));
            clauses.push(format!("id {op} ${n}"));
        } else {
            let (a, b) = (binds.len() + 1, binds.len() + 2);
            binds.push(if is_int {
                Bind::Int(cur["v"].as_i64().unwrap_or(0))
            } else {
                Bind::Text(cur["v"].as_str().unwrap_or("").to_string())
            });
            binds.push(Bind::Text(id));
            // NULLs sort as the empty value so the keyset stays total.
            let col = if is_int {
                format!("COALESCE({sort_col}, 0)")
            } else {
                format!("COALESCE({sort_col}, '')")
            };
            clauses.push(format!(
                "({col} {op} ${a} OR ({col} = ${a} AND id {op} ${b}))"
            ));
        }
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let dir = if desc { "DESC" } else { "ASC" };
    let order = if sort_col == "id" {
        format!("id {dir}")
    } else if is_int {
        format!("COALESCE({sort_col}, 0) {dir}, id {dir}")
    } else {
        format!("COALESCE({sort_col}, '') {dir}, id {dir}")
    };
    let sql = format!(
        "SELECT id, ca_id, serial, status, subject, common_name, sans, not_before, not_after, key_type, public_key, csr, plan, \
         NULL AS der, fingerprint, NULL AS key_sealed, template_id, project_id, channel, requested_by, approvals_required, failure, \
         revoked_at, revocation_reason, replaces_id, crl_shard, created_at, updated_at, (key_sealed IS NOT NULL) AS has_key \
         FROM certificates {where_sql} ORDER BY {order} LIMIT {}",
        limit + 1
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
        };
    }
    let rows = query
        .fetch_all(&app.store.read)
        .await
        .map_err(StoreError::from)?;
    let more = rows.len() as i64 > limit;
    let mut items = Vec::new();
    let mut last: Option<(String, Value)> = None;
    for r in rows.iter().take(limit as usize) {
        let row = <CertRow as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(r)
            .map_err(StoreError::from)?;
        let mut v = view(&row);
        v["server_generated_key"] = json!(
            r.try_get::<bool, _>("has_key")
                .unwrap_or(r.try_get::<i64, _>("has_key").unwrap_or(0) != 0)
        );
        let sort_value = match sort_col {
            "not_after" => json!(row.not_after.unwrap_or(0)),
            "common_name" => json!(row.common_name.clone().unwrap_or_default()),
            _ => Value::Null,
        };
        last = Some((row.id.clone(), sort_value));
        items.push(v);
    }
    let next = match (more, last) {
        (true, Some((id, v))) => {
            Some(URL_SAFE_NO_PAD.encode(json!({"id": id, "v": v}).to_string()))
        }
        _ => None,
    };
    Ok(Json(json!({"items": items, "next_cursor": next})))
}
