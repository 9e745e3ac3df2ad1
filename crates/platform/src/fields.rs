//! Parsing of gRPC request fields shared by the services: every error names
//! the field as the caller spelled it.

use chrono::{DateTime, SecondsFormat, Utc};
use collegium_proto::common::v1 as common;
use uuid::Uuid;

use crate::{
    error::{Error, Result},
    page::{MAX_PAGE_SIZE, Page},
};

/// An instant as the APIs write it: RFC 3339, UTC, whole seconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A required id.
pub fn id(field: &str, value: &str) -> Result<Uuid> {
    Uuid::parse_str(value.trim()).map_err(|_| Error::invalid(field, "not a valid id"))
}

/// An optional id ("" or absent = none).
pub fn opt_id(field: &str, value: &str) -> Result<Option<Uuid>> {
    match value.trim() {
        "" => Ok(None),
        v => id(field, v).map(Some),
    }
}

/// Ids of a by-ids call, at most a page's worth.
pub fn ids(field: &str, values: &[String]) -> Result<Vec<Uuid>> {
    if values.len() > MAX_PAGE_SIZE as usize {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_PAGE_SIZE} ids per call"),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| id(&format!("{field}[{i}]"), v))
        .collect()
}

/// An optional RFC 3339 instant ("" = none).
pub fn opt_instant(field: &str, value: &str) -> Result<Option<DateTime<Utc>>> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| Error::invalid(field, "not an RFC 3339 instant, e.g. 2026-10-14T15:00:00Z"))
}

pub fn page(p: &Option<common::PageRequest>) -> Result<Page> {
    let p = p.clone().unwrap_or_default();
    Page::new(p.page_size, &p.page_token)
}

pub fn page_info(next: String) -> Option<common::PageInfo> {
    Some(common::PageInfo {
        next_page_token: next,
    })
}

/// An academic year such as 2026 (= 2026/27).
pub fn year(field: &str, value: i32) -> Result<i32> {
    if (1900..=9999).contains(&value) {
        Ok(value)
    } else {
        Err(Error::invalid(field, "a year such as 2026"))
    }
}

/// An optional academic year (0 = none).
pub fn opt_year(field: &str, value: i32) -> Result<Option<i32>> {
    if value == 0 {
        Ok(None)
    } else {
        year(field, value).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_field() {
        let e = ids("ids", &["x".into()]).unwrap_err();
        assert_eq!(e.violations()[0].field, "ids[0]");
        assert_eq!(opt_id("cluster_id", " ").unwrap(), None);
        assert_eq!(
            year("academic_year", 26).unwrap_err().violations()[0].field,
            "academic_year"
        );
        assert_eq!(opt_year("academic_year", 0).unwrap(), None);
        assert!(opt_instant("since", "yesterday").is_err());
    }
}
