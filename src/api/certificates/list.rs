//! `GET /api/v1/certificates`: filters (comma-separated values are ORs),
//! sort, and keyset pagination with an opaque cursor (stable under inserts).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::view::{Certificate, EXTRA_COLUMNS, Extras, render};
use crate::api::ApiState;
use crate::api::auth::Principal;
use crate::api::types::Page;
use crate::error::ApiError;
use crate::store::certificates::CertRow;
use crate::store::{Backend, StoreError, now, projects};

/// Filters take comma-separated values (an OR); filters combine with AND.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(default)]
pub struct ListQuery {
    /// pending_approval, rejected, issuing, active, revoked, archived, failed,
    /// renewal_failed
    status: Option<String>,
    ca_id: Option<String>,
    /// Project ids or names.
    project_id: Option<String>,
    template_id: Option<String>,
    /// How the certificates were requested: api, acme, scep, import.
    issuer_type: Option<String>,
    /// The same as issuer_type.
    channel: Option<String>,
    /// Substring of the common name, case-insensitive.
    common_name: Option<String>,
    /// One whole SAN value.
    san: Option<String>,
    /// Active certificates that expire within this many days.
    expiring_within_days: Option<i64>,
    /// id, created_at, expires_at (= not_after) or common_name
    sort: Option<String>,
    /// asc or desc; newest first by default for id and created_at, ascending otherwise.
    order: Option<String>,
    /// 1 to 500, default 50.
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Refused: this API pages with `cursor`.
    page: Option<String>,
    /// Refused: this API pages with `limit` and `cursor`.
    per_page: Option<String>,
}

enum Bind {
    Text(String),
    Int(i64),
}

/// The statuses a certificate row can have, and `renewal_failed` (active,
/// and its last automatic renewal failed).
const STATUSES: [&str; 8] = [
    "renewal_failed",
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

/// The page order: a column (`id`, `not_after` or `common_name`), whether it
/// is numeric, and the direction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SortBy {
    col: &'static str,
    is_int: bool,
    desc: bool,
}

impl SortBy {
    fn parse(sort: Option<&str>, order: Option<&str>) -> Result<SortBy, ApiError> {
        let (col, is_int) = match sort.unwrap_or("id") {
            "id" | "created_at" => ("id", false),
            "not_after" | "expires_at" => ("not_after", true),
            "common_name" => ("common_name", false),
            other => {
                return Err(bad(format!(
                    "cannot sort by {other:?} (id, created_at, expires_at, common_name)"
                )));
            }
        };
        // Ids are time-ordered (UUIDv7): newest first unless asked otherwise.
        let default_order = if col == "id" { "desc" } else { "asc" };
        let desc = match order.unwrap_or(default_order) {
            "asc" => false,
            "desc" => true,
            other => return Err(bad(format!("order must be asc or desc, not {other:?}"))),
        };
        Ok(SortBy { col, is_int, desc })
    }

    /// The column as compared: NULLs sort as the empty value so the keyset
    /// stays total.
    fn key(&self) -> String {
        match (self.col, self.is_int) {
            ("id", _) => "id".into(),
            (c, true) => format!("COALESCE({c}, 0)"),
            (c, false) => format!("COALESCE({c}, '')"),
        }
    }

    fn order_by(&self) -> String {
        let dir = if self.desc { "DESC" } else { "ASC" };
        if self.col == "id" {
            format!("id {dir}")
        } else {
            format!("{} {dir}, id {dir}", self.key())
        }
    }
}

/// The WHERE clauses and their arguments, numbered as they are added.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }

    /// `col` equals one of the comma-separated values.
    fn any_of(&mut self, col: &str, values: &Option<String>) {
        let Some(v) = values else { return };
        let ors: Vec<String> = v
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| format!("{col} = {}", self.param(Bind::Text(s.to_string()))))
            .collect();
        if !ors.is_empty() {
            self.clauses.push(format!("({})", ors.join(" OR ")));
        }
    }

    /// The filters that need no index lookup: statuses, ids, channel,
    /// expiry window, and the cursor.
    fn exact(
        q: &ListQuery,
        project: &Option<String>,
        sort: SortBy,
        now: i64,
    ) -> Result<Filter, ApiError> {
        let mut f = Filter::default();
        if let Some(st) = &q.status
            && let Some(unknown) = st
                .split(',')
                .find(|s| !s.is_empty() && !STATUSES.contains(s))
        {
            return Err(bad(format!(
                "unknown status {unknown:?} (allowed: {})",
                STATUSES.join(", ")
            )));
        }
        let plain: Option<String> = q.status.as_ref().map(|st| {
            st.split(',')
                .filter(|s| *s != "renewal_failed")
                .collect::<Vec<_>>()
                .join(",")
        });
        if q.status
            .as_deref()
            .is_some_and(|st| st.split(',').any(|s| s == "renewal_failed"))
        {
            let ors = match plain.as_deref() {
                Some(p) if !p.is_empty() => {
                    let list: Vec<String> = p
                        .split(',')
                        .map(|s| f.param(Bind::Text(s.to_string())))
                        .collect();
                    format!(" OR status IN ({})", list.join(", "))
                }
                _ => String::new(),
            };
            f.clauses.push(format!(
                "((status = 'active' AND renewal_status = 'failed'){ors})"
            ));
        } else {
            f.any_of("status", &plain);
        }
        f.any_of("ca_id", &q.ca_id);
        f.any_of("project_id", project);
        f.any_of("template_id", &q.template_id);
        f.any_of("channel", &q.channel);
        f.any_of("channel", &q.issuer_type);
        if let Some(days) = q.expiring_within_days {
            let a = f.param(Bind::Int(now));
            let b = f.param(Bind::Int(now + days * 86400));
            f.clauses.push(format!(
                "not_after > {a} AND not_after <= {b} AND status = 'active'"
            ));
        }
        if let Some(c) = &q.cursor {
            f.after_cursor(c, sort)?;
        }
        Ok(f)
    }

    /// Rows after the cursor's (value, id) in the page order.
    fn after_cursor(&mut self, cursor: &str, sort: SortBy) -> Result<(), ApiError> {
        let raw = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| bad("invalid cursor"))?;
        let cur: Value = serde_json::from_slice(&raw).map_err(|_| bad("invalid cursor"))?;
        let id = cur["id"]
            .as_str()
            .ok_or_else(|| bad("invalid cursor"))?
            .to_string();
        let op = if sort.desc { "<" } else { ">" };
        if sort.col == "id" {
            let n = self.param(Bind::Text(id));
            self.clauses.push(format!("id {op} {n}"));
            return Ok(());
        }
        let a = self.param(if sort.is_int {
            Bind::Int(cur["v"].as_i64().unwrap_or(0))
        } else {
            Bind::Text(cur["v"].as_str().unwrap_or("").to_string())
        });
        let b = self.param(Bind::Text(id));
        let key = sort.key();
        self.clauses
            .push(format!("({key} {op} {a} OR ({key} = {a} AND id {op} {b}))"));
        Ok(())
    }

    fn select(&self, sort: SortBy, limit: i64) -> String {
        let where_sql = if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        };
        format!(
            "SELECT id, ca_id, serial, status, subject, common_name, sans, not_before, not_after, key_type, public_key, csr, plan, \
             NULL AS der, fingerprint, NULL AS key_sealed, template_id, project_id, channel, requested_by, approvals_required, failure, \
             revoked_at, revocation_reason, replaces_id, crl_shard, created_at, updated_at, {EXTRA_COLUMNS} \
             FROM certificates {where_sql} ORDER BY {} LIMIT {}",
            sort.order_by(),
            limit + 1
        )
    }
}

pub async fn list(
    State(app): State<ApiState>,
    p: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<Certificate>>, ApiError> {
    p.require("certificate:read")?;
    if q.page.is_some() || q.per_page.is_some() {
        return Err(bad(
            "page and per_page are not supported: pass limit (1..=500) and then the next_cursor \
             of each response as cursor",
        ));
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(bad("limit must be 1..=500"));
    }
    let sort = SortBy::parse(q.sort.as_deref(), q.order.as_deref())?;
    // Scoped tokens see only their project; names are read as ids.
    let project = match (&p.token.project_id, &q.project_id) {
        (Some(own), _) => Some(own.clone()),
        (None, Some(asked)) => Some(project_ids(&app, asked).await?),
        (None, None) => None,
    };
    let mut f = Filter::exact(&q, &project, sort, now())?;
    if let Some(cn) = &q.common_name {
        let clause = substring(&app, "common_name", cn, &mut f.binds).await?;
        f.clauses.push(clause);
    }
    if let Some(san) = &q.san {
        // SANs are stored as a JSON array of strings: match a whole entry.
        let needle = format!("\"{}\"", san.replace('"', ""));
        let clause = substring(&app, "sans", &needle, &mut f.binds).await?;
        f.clauses.push(clause);
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(f.select(sort, limit)));
    for b in f.binds {
        query = match b {
            Bind::Text(s) => query.bind(s),
            Bind::Int(i) => query.bind(i),
        };
    }
    let rows = query
        .fetch_all(&app.store.read)
        .await
        .map_err(StoreError::from)?;
    page(&rows, sort, limit)
}

/// Comma-separated project ids or names as ids (an unknown one stays as
/// given and matches nothing).
async fn project_ids(app: &ApiState, asked: &str) -> Result<String, ApiError> {
    let mut ids = Vec::new();
    for name in asked.split(',').filter(|s| !s.is_empty()) {
        ids.push(match projects::find(&app.store.read, name).await {
            Ok(p) => p.id,
            Err(StoreError::NotFound) => name.to_string(),
            Err(e) => return Err(e.into()),
        });
    }
    Ok(ids.join(","))
}

/// The items of a page and the cursor after it.
fn page(
    rows: &[sqlx::any::AnyRow],
    sort: SortBy,
    limit: i64,
) -> Result<Json<Page<Certificate>>, ApiError> {
    let more = rows.len() as i64 > limit;
    let mut items = Vec::new();
    let mut last: Option<(String, Value)> = None;
    let t = now();
    for r in rows.iter().take(limit as usize) {
        let row = <CertRow as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(r)
            .map_err(StoreError::from)?;
        let extras = <Extras as sqlx::FromRow<'_, sqlx::any::AnyRow>>::from_row(r)
            .map_err(StoreError::from)?;
        let v = render(&row, &extras, t);
        let sort_value = match sort.col {
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
    Ok(Json(Page {
        items,
        next_cursor: next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `a=b&c=d` into the query struct, as axum's `Query` does.
    fn query(pairs: &str) -> ListQuery {
        let map: serde_json::Map<String, Value> = pairs
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                let v = v
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(v));
                (k.to_string(), v)
            })
            .collect();
        serde_json::from_value(Value::Object(map)).unwrap()
    }

    #[test]
    fn filters_are_numbered_or_lists_and_unknown_values_are_refused() {
        let sort = SortBy::parse(None, None).unwrap();
        let f =
            Filter::exact(&query("status=active,revoked&channel=acme"), &None, sort, 0).unwrap();
        assert_eq!(
            f.clauses,
            ["(status = $1 OR status = $2)", "(channel = $3)"]
        );
        assert_eq!(f.binds.len(), 3);
        assert!(Filter::exact(&query("status=bogus"), &None, sort, 0).is_err());
        assert!(SortBy::parse(Some("serial"), None).is_err());
        assert!(SortBy::parse(None, Some("up")).is_err());
    }

    #[test]
    fn a_cursor_continues_after_its_row_in_the_page_order() {
        let sort = SortBy::parse(Some("not_after"), Some("desc")).unwrap();
        let cursor = URL_SAFE_NO_PAD.encode(json!({"id": "x", "v": 5}).to_string());
        let f = Filter::exact(&query(&format!("cursor={cursor}")), &None, sort, 0).unwrap();
        assert_eq!(
            f.clauses,
            ["(COALESCE(not_after, 0) < $1 OR (COALESCE(not_after, 0) = $1 AND id < $2))"]
        );
        assert!(
            f.select(sort, 10)
                .contains("ORDER BY COALESCE(not_after, 0) DESC, id DESC LIMIT 11")
        );
        assert!(Filter::exact(&query("cursor=%%%"), &None, sort, 0).is_err());
    }
}
