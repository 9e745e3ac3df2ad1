//! GraphQL enums for scoring's protobuf enums, each made by
//! [`proto_enum!`](crate::schema::convert::proto_enum): the protobuf
//! variants minus `UNSPECIFIED`, mapped both ways by exhaustive matches.
//!
//! Protobuf names that say little outside the scoring package are prefixed
//! in the one schema over every service (`SetKind` is
//! `QualificationSetKind`, `SessionStatus` is `ScoringSessionStatus`,
//! `GroupBy` is `AgreementGroupBy`), while their values keep the protobuf
//! spelling (`CALIBRATION`, `BACKREAD`).

use collegium_proto::scoring::v1 as pb;

use crate::schema::convert::proto_enum;

proto_enum!(
    "scoring",
    /// What a qualification set is for.
    QualificationSetKind => SetKind {
        /// Passed once per academic year before a scorer may score.
        Qualifying,
        /// Taken again after a break in scoring, when a session requires it.
        Calibration,
    }
);

proto_enum!(
    "scoring",
    /// Where a scoring session is in its life.
    ScoringSessionStatus => SessionStatus {
        /// Portfolios may be added, reads assigned and scores submitted.
        Open,
        /// No more scores; corrections go through `correctScore`.
        Closed,
    }
);

proto_enum!(
    "scoring",
    /// Which read of a portfolio an assignment or a score is.
    ReadKind => ReadKind {
        First,
        /// The blind second read of the sampled portfolios.
        Second,
        /// The cluster lead's read when first and second reads disagree.
        Third,
        /// A check of another scorer's read.
        Backread,
    }
);

proto_enum!(
    "scoring",
    /// What agreement statistics are grouped by.
    AgreementGroupBy => GroupBy {
        Scorer,
        Session,
        Cluster,
        School,
        /// The academic year.
        Year,
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EnumType, Value};

    /// Every GraphQL variant goes to a distinct, specified protobuf value and
    /// back; every specified protobuf value has a GraphQL variant.
    macro_rules! check_round_trip {
        ($name:ident, $proto:ident, $max:expr) => {{
            for v in $name::ALL {
                let p = v.to_proto();
                assert_ne!(p, pb::$proto::Unspecified);
                assert_eq!($name::from_proto(p as i32), Some(*v), "{v:?}");
                // GraphQL spells the variant as the proto does, minus the prefix.
                let gql = match <$name as async_graphql::InputType>::to_value(v) {
                    Value::Enum(n) => n.to_string(),
                    other => panic!("{other:?}"),
                };
                assert!(
                    p.as_str_name().ends_with(&format!("_{gql}")),
                    "{} vs {gql}",
                    p.as_str_name()
                );
            }
            assert_eq!($name::from_proto(0), None);
            assert_eq!($name::from_proto(-1), None);
            assert_eq!($name::from_proto($max + 1), None);
            for n in 1..=$max {
                assert!($name::from_proto(n).is_some(), "{} {n}", stringify!($proto));
            }
            assert_eq!($name::ALL.len(), $max as usize);
        }};
    }

    #[test]
    fn enums_map_both_ways_without_unspecified() {
        check_round_trip!(QualificationSetKind, SetKind, 2);
        check_round_trip!(ScoringSessionStatus, SessionStatus, 2);
        check_round_trip!(ReadKind, ReadKind, 4);
        check_round_trip!(AgreementGroupBy, GroupBy, 5);
    }

    #[test]
    fn graphql_names_are_the_proto_names_without_prefix() {
        let names: Vec<String> = ReadKind::items()
            .iter()
            .map(|item| item.name.to_string())
            .collect();
        assert_eq!(names, ["FIRST", "SECOND", "THIRD", "BACKREAD"]);
        assert_eq!(
            QualificationSetKind::Calibration.to_proto().as_str_name(),
            "SET_KIND_CALIBRATION"
        );
        assert!(matches!(
            ScoringSessionStatus::from_service(0),
            Err(e) if e.message == "internal error"
        ));
        assert!(ReadKind::from_service(9).is_err());
    }
}
