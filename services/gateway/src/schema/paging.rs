//! Relay connections over the services' page tokens.
//!
//! A list field takes `first` and `after`; they travel to the service as
//! `page_size` and `page_token`, and the service's `next_page_token` comes
//! back as the cursor of the page's last edge. The platform's page token is
//! the id of the last item of the previous page (`platform::page`), so every
//! edge's cursor is its node's id and any of them can resume the list; the
//! last edge carries the service's own token whenever there is a next page,
//! so `pageInfo.endCursor` is exactly what the service asked to be sent back.

use async_graphql::{
    ObjectType, OutputType,
    connection::{Connection, EmptyFields},
};
use collegium_proto::common::v1::{PageInfo, PageRequest};
use platform::{Error, page::MAX_PAGE_SIZE};

use crate::error::graphql_error;

/// A Relay connection whose cursors are page tokens.
pub type Page<N> = Connection<String, N>;

/// `first`/`after` as the service's page request. `first` is checked here
/// so the client hears about its own argument, not the service's field.
pub fn page_request(
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let page_size = match first {
        None => 0, // the service's default page
        Some(n) if n < 1 || n as u32 > MAX_PAGE_SIZE => {
            return Err(graphql_error(Error::invalid(
                "first",
                format!("must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
            )));
        }
        Some(n) => n as u32,
    };
    Ok(PageRequest {
        page_size,
        page_token: after.unwrap_or_default(),
    })
}

/// A Relay connection whose cursors are page tokens, with fields of its own
/// next to `edges` and `pageInfo` (an inbox's `unreadCount`).
pub type PageWith<N, F> = Connection<String, N, F>;

/// Builds the connection from one page of nodes and the service's page info.
pub fn connection<N: OutputType>(
    after_given: bool,
    nodes: Vec<(String, N)>,
    page: Option<PageInfo>,
) -> Page<N> {
    connection_with(after_given, nodes, page, EmptyFields)
}

/// [`connection`] with the connection's own `fields`.
pub fn connection_with<N: OutputType, F: ObjectType>(
    after_given: bool,
    nodes: Vec<(String, N)>,
    page: Option<PageInfo>,
    fields: F,
) -> PageWith<N, F> {
    let next = page.map(|p| p.next_page_token).unwrap_or_default();
    let has_next = !next.is_empty();
    // Paging forward, "previous" can only mean "this is not the first page".
    let mut connection = Connection::with_additional_fields(after_given, has_next, fields);
    let count = nodes.len();
    connection
        .edges
        .extend(nodes.into_iter().enumerate().map(|(i, (id, node))| {
            let cursor = if has_next && i + 1 == count {
                next.clone()
            } else {
                id
            };
            async_graphql::connection::Edge::new(cursor, node)
        }));
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_is_bounded_and_named() {
        assert_eq!(page_request(None, None).unwrap().page_size, 0);
        let p = page_request(Some(500), Some("abc".into())).unwrap();
        assert_eq!((p.page_size, p.page_token.as_str()), (500, "abc"));
        for bad in [0, -1, 501, 1000] {
            let err = page_request(Some(bad), None).unwrap_err();
            let ext = serde_json::to_value(err.extensions.unwrap()).unwrap();
            assert_eq!(ext["code"], "BAD_USER_INPUT");
            assert_eq!(ext["fields"][0]["field"], "first");
        }
    }

    #[test]
    fn the_last_cursor_is_the_services_token() {
        let nodes = vec![("a".to_string(), 1), ("b".to_string(), 2)];
        let c = connection(
            false,
            nodes.clone(),
            Some(PageInfo {
                next_page_token: "tok".into(),
            }),
        );
        let cursors: Vec<_> = c.edges.iter().map(|e| e.cursor.clone()).collect();
        assert_eq!(cursors, ["a", "tok"]);
        assert!(c.has_next_page && !c.has_previous_page);
        let c = connection(true, nodes, None);
        let cursors: Vec<_> = c.edges.iter().map(|e| e.cursor.clone()).collect();
        assert_eq!(cursors, ["a", "b"]);
        assert!(!c.has_next_page && c.has_previous_page);
    }
}
