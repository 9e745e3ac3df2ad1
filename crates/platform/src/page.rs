//! Cursor pagination. Every list is ordered by its UUIDv7 id (time-ordered),
//! and the page token is the last id of the previous page, so a page is one
//! index range scan on `(tenant_id, id)` whatever the list's length.

use uuid::Uuid;

use crate::error::{Error, Result};

/// Items per page when the caller asks for none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page the server returns.
pub const MAX_PAGE_SIZE: u32 = 500;

/// A decoded page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub after: Option<Uuid>,
    pub size: u32,
}

impl Page {
    /// Validates a size and opaque token from a request.
    pub fn new(size: u32, token: &str) -> Result<Self> {
        let size = match size {
            0 => DEFAULT_PAGE_SIZE,
            n if n > MAX_PAGE_SIZE => {
                return Err(Error::invalid(
                    "page.page_size",
                    format!("at most {MAX_PAGE_SIZE}"),
                ));
            }
            n => n,
        };
        let after = if token.is_empty() {
            None
        } else {
            Some(
                Uuid::parse_str(token)
                    .map_err(|_| Error::invalid("page.page_token", "not a token from this list"))?,
            )
        };
        Ok(Page { after, size })
    }

    pub fn first(size: u32) -> Self {
        Page { after: None, size }
    }

    /// Rows to fetch: one more than the page, to know whether another follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Trims the extra row and returns the next page token ("" when done).
    pub fn finish<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, String) {
        if rows.len() > self.size as usize {
            rows.truncate(self.size as usize);
            let next = rows.last().map(|r| id(r).to_string()).unwrap_or_default();
            (rows, next)
        } else {
            (rows, String::new())
        }
    }

    /// The lower bound for `id > $n` (the nil UUID on the first page).
    pub fn after_or_nil(&self) -> Uuid {
        self.after.unwrap_or(Uuid::nil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_defaulted_and_capped() {
        assert_eq!(Page::new(0, "").unwrap().size, DEFAULT_PAGE_SIZE);
        let err = Page::new(MAX_PAGE_SIZE + 1, "").unwrap_err();
        assert_eq!(err.violations()[0].field, "page.page_size");
        assert_eq!(
            Page::new(1, "zzz").unwrap_err().violations()[0].field,
            "page.page_token"
        );
    }

    #[test]
    fn finish_reports_the_next_token_only_when_more_rows_exist() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page::first(2);
        let (rows, next) = page.finish(ids.clone(), |u| *u);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, ids[1].to_string());
        let (rows, next) = Page::first(3).finish(ids, |u| *u);
        assert_eq!((rows.len(), next.as_str()), (3, ""));
    }
}
