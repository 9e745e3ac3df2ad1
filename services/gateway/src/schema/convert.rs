//! What every service's part of the schema does the same way: one gRPC call
//! with its failure mapped through the one error conversion, ids in and out,
//! the services' times and dates, blank strings, and the GraphQL twin of a
//! protobuf enum ([`proto_enum!`]).
//!
//! A value a service should never send (an instant that does not parse, an
//! enum number this gateway does not know) is an internal error: logged
//! with the field that carried it, shown to the client as the generic
//! "internal error".

use std::future::Future;

use async_graphql::{ID, Result};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use platform::Error;
use uuid::Uuid;

use crate::error::{graphql_error, status_error};

/// Awaits one gRPC call and maps its failure through the one conversion.
pub(crate) async fn unary<T>(
    call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    call.await
        .map(tonic::Response::into_inner)
        .map_err(status_error)
}

/// One page of protobuf records as `(cursor, node)` pairs for
/// [`connection`](super::paging::connection).
pub(crate) fn nodes<P, N>(
    items: Vec<P>,
    id: impl Fn(&P) -> String,
    wrap: impl Fn(P) -> N,
) -> Vec<(String, N)> {
    items.into_iter().map(|p| (id(&p), wrap(p))).collect()
}

/// An id the service wrote into a record. One that is not a UUID cannot name
/// anything the caller may load, so it resolves to nothing.
pub(crate) fn reference(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

/// An `ID` argument, checked here so the error names the argument.
pub(crate) fn id_argument(name: &str, id: &ID) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| graphql_error(Error::invalid(name, "not a valid id")))
}

/// An RFC 3339 instant from a service; `field` names it for the log.
pub(crate) fn instant(field: &str, value: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            graphql_error(Error::internal(anyhow::anyhow!(
                "upstream sent {field} = {value:?}, not an RFC 3339 instant"
            )))
        })
}

/// An instant the service leaves blank (or out) when there is none.
pub(crate) fn optional_instant(
    field: &str,
    value: Option<&String>,
) -> Result<Option<DateTime<Utc>>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| instant(field, v))
        .transpose()
}

/// A calendar date (`YYYY-MM-DD`) from a service.
pub(crate) fn date(field: &str, value: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        graphql_error(Error::internal(anyhow::anyhow!(
            "upstream sent {field} = {value:?}, not a YYYY-MM-DD date"
        )))
    })
}

/// A date the service leaves blank (or out) when there is none.
pub(crate) fn optional_date(field: &str, value: Option<&str>) -> Result<Option<NaiveDate>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| date(field, v))
        .transpose()
}

/// Protobuf's blank string as GraphQL's null.
pub(crate) fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_string())
}

/// An instant as the services take it: RFC 3339 in UTC, `…Z`.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A GraphQL enum with the variants of a protobuf enum minus `UNSPECIFIED`,
/// which is protobuf's "not set" and never a meaningful answer. Both
/// directions are exhaustive matches, so a variant added to the `.proto`
/// fails the build until the schema exposes it too.
///
/// Invoked as `proto_enum!("service", /// docs
/// Name => ProtoName { Variant, … })` in a module where `pb` is the
/// service's generated protobuf module.
macro_rules! proto_enum {
    (
        $service:literal,
        $(#[$meta:meta])*
        $name:ident => $proto:ident {
            $( $(#[$vmeta:meta])* $variant:ident ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(::async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            #[cfg(test)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The GraphQL value of a protobuf value; `None` for
            /// `UNSPECIFIED` and for numbers this build does not know.
            pub fn from_proto(value: i32) -> Option<Self> {
                match pb::$proto::try_from(value).ok()? {
                    pb::$proto::Unspecified => None,
                    $( pb::$proto::$variant => Some($name::$variant), )+
                }
            }

            /// The protobuf value sent to the service.
            pub fn to_proto(self) -> pb::$proto {
                match self {
                    $( $name::$variant => pb::$proto::$variant, )+
                }
            }

            /// For output fields: a value the service should never send
            /// (unset, or newer than this gateway) is an internal error.
            #[allow(dead_code)]
            pub(crate) fn from_service(value: i32) -> ::async_graphql::Result<Self> {
                Self::from_proto(value).ok_or_else(|| {
                    $crate::error::graphql_error(::platform::Error::internal(::anyhow::anyhow!(
                        "{} sent {} = {value}, which this gateway does not know",
                        $service,
                        stringify!($proto)
                    )))
                })
            }
        }
    };
}

pub(crate) use proto_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_go_out_in_utc_and_come_back() {
        let t = instant("x", "2026-10-14T16:00:00+02:00").unwrap();
        assert_eq!(rfc3339(t), "2026-10-14T14:00:00Z");
        assert_eq!(optional_instant("x", Some(&String::new())).unwrap(), None);
        let err = instant("event.starts_at", "yesterday").unwrap_err();
        assert_eq!(err.message, "internal error");
        assert_eq!(optional_date("x", Some("")).unwrap(), None);
        assert!(optional_date("x", Some("2026-13-01")).is_err());
    }

    #[test]
    fn ids_that_are_not_uuids_resolve_to_nothing_or_name_the_argument() {
        assert_eq!(reference("nope"), None);
        let err = id_argument("eventId", &ID("bob".into())).unwrap_err();
        let ext = serde_json::to_value(err.extensions.unwrap()).unwrap();
        assert_eq!(ext["fields"][0]["field"], "eventId");
    }
}
