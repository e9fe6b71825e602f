//! Unix seconds as the text people and APIs read.

pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The calendar day (UTC) of a timestamp, `YYYY-MM-DD`.
pub fn date(secs: i64) -> String {
    rfc3339(secs)[..10].to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::date(1_800_000_000), "2027-01-15");
    }
}
