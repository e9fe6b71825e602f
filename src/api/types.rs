//! Shapes shared by the REST routes, with their JSON Schemas (the OpenAPI
//! document is generated from these types).

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// Unix seconds, rendered as an RFC 3339 UTC timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

pub use crate::timefmt::{date, rfc3339};

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(self.0))
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "format": "date-time"})
    }
    fn inline_schema() -> bool {
        true
    }
}

pub fn ts(secs: Option<i64>) -> Option<Timestamp> {
    secs.map(Timestamp)
}

/// A page of a list: the items and the opaque cursor of the next page
/// (null at the end).
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "Page_of_{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }
}
