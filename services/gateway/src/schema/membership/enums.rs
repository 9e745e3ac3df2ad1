//! GraphQL enums for membership's protobuf enums, each made by
//! [`proto_enum!`](crate::schema::convert::proto_enum): the protobuf
//! variants minus `UNSPECIFIED`, mapped both ways by exhaustive matches.

use collegium_proto::membership::v1 as pb;

use crate::schema::convert::proto_enum;

proto_enum!(
    "membership",
    /// What kind of organisation a tenant is.
    TenantKind => TenantKind {
        /// A school district running a programme of clusters.
        District,
        /// An awarding body supporting clusters of centres.
        AwardingBody,
        /// A research–practice partnership.
        ResearchPartnership,
    }
);

proto_enum!(
    "membership",
    /// What kind of place an organisation is.
    OrganisationKind => OrganisationKind {
        School,
        /// An exam centre (school, college) of an awarding body.
        Centre,
        DistrictOffice,
        University,
    }
);

proto_enum!(
    "membership",
    /// A role a person holds tenant-wide or in one cluster.
    Role => Role {
        TenantAdmin,
        /// Cluster leader (district programmes) or coordinator (awarding bodies).
        ClusterLead,
        Teacher,
        Mentor,
        NewTeacher,
        PanelMember,
        Researcher,
        Observer,
        /// Building assessment coordinator.
        BuildingCoordinator,
        Principal,
    }
);

proto_enum!(
    "membership",
    /// Whom an advisory panel member speaks for.
    Constituency => Constituency {
        Researcher,
        DistrictLeader,
        BoardMember,
        Family,
        Student,
        Union,
        Community,
    }
);

impl Role {
    /// The role's name as membership spells it in tokens, audiences and
    /// messages: `building_coordinator` for `BUILDING_COORDINATOR`.
    pub fn token_name(self) -> String {
        self.to_proto()
            .as_str_name()
            .trim_start_matches("ROLE_")
            .to_ascii_lowercase()
    }

    /// The role a service names so (`building_coordinator`); `None` for a
    /// name this gateway does not know.
    pub fn from_token_name(name: &str) -> Option<Self> {
        let proto = pb::Role::from_str_name(&format!("ROLE_{}", name.to_ascii_uppercase()))?;
        Self::from_proto(proto as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EnumType, Value};

    /// Every GraphQL variant goes to a distinct, specified protobuf value and
    /// back; every protobuf value but UNSPECIFIED has a GraphQL variant.
    macro_rules! check_round_trip {
        ($name:ident, $proto:ident, $max:expr) => {{
            for v in $name::ALL {
                let p = v.to_proto();
                assert_ne!(p, pb::$proto::Unspecified);
                assert_eq!($name::from_proto(p as i32), Some(*v), "{v:?}");
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
        check_round_trip!(TenantKind, TenantKind, 3);
        check_round_trip!(OrganisationKind, OrganisationKind, 4);
        check_round_trip!(Role, Role, 10);
        check_round_trip!(Constituency, Constituency, 7);
    }

    #[test]
    fn graphql_names_are_screaming_snake_case_of_the_proto_names() {
        assert_eq!(
            TenantKind::AwardingBody.to_proto().as_str_name(),
            "TENANT_KIND_AWARDING_BODY"
        );
        let names: Vec<String> = Role::items()
            .iter()
            .map(|item| item.name.to_string())
            .collect();
        assert_eq!(names[0], "TENANT_ADMIN");
        assert_eq!(names[8], "BUILDING_COORDINATOR");
        for r in Role::ALL {
            let gql = match <Role as async_graphql::InputType>::to_value(r) {
                Value::Enum(n) => n.to_string(),
                other => panic!("{other:?}"),
            };
            let proto = r.to_proto().as_str_name();
            assert_eq!(proto, format!("ROLE_{gql}"));
        }
        assert!(matches!(
            Role::from_service(0),
            Err(e) if e.message == "internal error"
        ));
    }

    #[test]
    fn role_names_are_the_ones_tokens_carry_both_ways() {
        for (gql, platform_role) in Role::ALL.iter().zip(platform::auth::Role::ALL) {
            assert_eq!(gql.token_name(), platform_role.as_str());
            assert_eq!(Role::from_token_name(platform_role.as_str()), Some(*gql));
        }
        assert_eq!(
            Role::BuildingCoordinator.token_name(),
            "building_coordinator"
        );
        for unknown in ["", "unspecified", "wizard", "ROLE_TEACHER"] {
            assert_eq!(Role::from_token_name(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn the_token_roles_and_the_graphql_roles_agree() {
        // Principals carry platform roles; GraphQL shows the service's.
        assert_eq!(Role::ALL.len(), platform::auth::Role::ALL.len());
        for (gql, platform_role) in Role::ALL.iter().zip(platform::auth::Role::ALL) {
            assert_eq!(
                gql.to_proto().as_str_name(),
                format!("ROLE_{}", platform_role.as_str().to_uppercase())
            );
        }
    }
}
