//! GraphQL enums for notifications' protobuf enums, each made by
//! [`proto_enum!`](crate::schema::convert::proto_enum): the protobuf
//! variants minus `UNSPECIFIED`, mapped both ways by exhaustive matches.
//!
//! The protobuf names are short (`Category`, `Channel`); in the one schema
//! over every service they are prefixed (`NotificationCategory`), while
//! their values keep the protobuf spelling (`IN_APP`, `NEWSLETTERS`).

use collegium_proto::notifications::v1 as pb;

use crate::schema::convert::proto_enum;

proto_enum!(
    "notifications",
    /// What a notification is about; preferences and templates are per
    /// category.
    NotificationCategory => Category {
        /// Invitations to events.
        Invitations,
        /// Changes to and cancellations of events.
        Changes,
        /// Reminders before events.
        Reminders,
        /// Scoring work: assignments, adjudication.
        Scoring,
        /// Programme rules: a cluster at risk of missing one.
        Compliance,
        /// Cluster newsletters and group messages.
        Newsletters,
        /// The person's account, roles and consent.
        Account,
    }
);

proto_enum!(
    "notifications",
    /// Where a notification reaches a person.
    NotificationChannel => Channel {
        /// The in-app inbox.
        InApp,
        Email,
    }
);

proto_enum!(
    "notifications",
    /// How often a person hears of one category on one channel.
    NotificationFrequency => Frequency {
        /// As it happens (outside quiet hours).
        Immediately,
        /// In a daily digest at the person's digest time.
        Daily,
        /// In a weekly digest on the person's digest weekday.
        Weekly,
        Off,
    }
);

proto_enum!(
    "notifications",
    /// Where one delivery of a notification to one person stands.
    DeliveryStatus => DeliveryStatus {
        Queued,
        /// Accepted by the SMTP server (e-mail) or stored (in-app).
        Sent,
        /// Failed for good after its retries; `lastError` says why.
        Failed,
        /// Waiting for a digest or the end of quiet hours.
        Held,
        /// Not sent: the person turned the category off or unsubscribed.
        Skipped,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EnumType, Value};

    /// Every GraphQL variant goes to a distinct, specified protobuf value and
    /// back, spelled as the protobuf spells it minus the prefix; every
    /// specified protobuf value has a GraphQL variant; UNSPECIFIED and
    /// unknown numbers have none.
    macro_rules! check_round_trip {
        ($name:ident, $proto:ident, $max:expr) => {{
            let mut seen = std::collections::HashSet::new();
            for v in $name::ALL {
                let p = v.to_proto();
                assert_ne!(p, pb::$proto::Unspecified);
                assert!(seen.insert(p as i32), "{v:?} maps to a used value");
                assert_eq!($name::from_proto(p as i32), Some(*v), "{v:?}");
                assert_eq!($name::from_service(p as i32).unwrap(), *v);
                let gql = match <$name as async_graphql::InputType>::to_value(v) {
                    Value::Enum(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                assert!(
                    p.as_str_name().ends_with(&format!("_{gql}")),
                    "{} vs {gql}",
                    p.as_str_name()
                );
                assert_ne!(gql, "UNSPECIFIED");
            }
            assert_eq!($name::from_proto(0), None);
            assert_eq!($name::from_proto(-1), None);
            assert_eq!($name::from_proto($max + 1), None);
            assert!(matches!(
                $name::from_service(0),
                Err(e) if e.message == "internal error"
            ));
            for n in 1..=$max {
                assert!($name::from_proto(n).is_some(), "{} {n}", stringify!($proto));
            }
            assert_eq!($name::ALL.len(), $max as usize);
            assert_eq!($name::items().len(), $max as usize);
        }};
    }

    #[test]
    fn enums_map_both_ways_without_unspecified() {
        check_round_trip!(NotificationCategory, Category, 7);
        check_round_trip!(NotificationChannel, Channel, 2);
        check_round_trip!(NotificationFrequency, Frequency, 4);
        check_round_trip!(DeliveryStatus, DeliveryStatus, 5);
    }

    #[test]
    fn graphql_names_are_the_proto_names_without_prefix() {
        fn names<T: EnumType>(items: &[async_graphql::resolver_utils::EnumItem<T>]) -> Vec<String> {
            items.iter().map(|i| i.name.to_string()).collect()
        }
        assert_eq!(
            names(NotificationCategory::items()),
            [
                "INVITATIONS",
                "CHANGES",
                "REMINDERS",
                "SCORING",
                "COMPLIANCE",
                "NEWSLETTERS",
                "ACCOUNT"
            ]
        );
        assert_eq!(names(NotificationChannel::items()), ["IN_APP", "EMAIL"]);
        assert_eq!(
            names(NotificationFrequency::items()),
            ["IMMEDIATELY", "DAILY", "WEEKLY", "OFF"]
        );
        assert_eq!(
            names(DeliveryStatus::items()),
            ["QUEUED", "SENT", "FAILED", "HELD", "SKIPPED"]
        );
        assert_eq!(
            NotificationChannel::InApp.to_proto().as_str_name(),
            "CHANNEL_IN_APP"
        );
    }
}
