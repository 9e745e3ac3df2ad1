//! Who may see whose contact details.
//!
//! Awarding bodies share coordinators' and centres' contact details with
//! other centres only after signed consent. The rule, applied to every read:
//! a person's (or centre's) contact is visible to the person themselves, to
//! members of the same centre, to tenant admins and services — and to everyone
//! else in the tenant only while a `share-contact-with-cluster` consent is on
//! record and not withdrawn.

use uuid::Uuid;

/// The reader, as far as contact visibility is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub person: Option<Uuid>,
    pub organisation: Option<Uuid>,
    /// Tenant admins and services.
    pub sees_all: bool,
}

pub fn may_see_person(
    viewer: &Viewer,
    person: Uuid,
    person_org: Option<Uuid>,
    consented: bool,
) -> bool {
    viewer.sees_all
        || consented
        || viewer.person == Some(person)
        || (person_org.is_some() && viewer.organisation == person_org)
}

pub fn may_see_organisation(viewer: &Viewer, organisation: Uuid, consented: bool) -> bool {
    viewer.sees_all || consented || viewer.organisation == Some(organisation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_centres_see_contacts_only_with_consent() {
        let (me, my_org, them, their_org) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let viewer = Viewer {
            person: Some(me),
            organisation: Some(my_org),
            sees_all: false,
        };
        assert!(!may_see_person(&viewer, them, Some(their_org), false));
        assert!(may_see_person(&viewer, them, Some(their_org), true));
        assert!(may_see_person(&viewer, them, Some(my_org), false));
        assert!(may_see_person(&viewer, me, None, false));
        assert!(!may_see_person(&viewer, them, None, false));
        assert!(!may_see_organisation(&viewer, their_org, false));
        assert!(may_see_organisation(&viewer, my_org, false));
        let admin = Viewer {
            sees_all: true,
            ..viewer
        };
        assert!(may_see_person(&admin, them, Some(their_org), false));
    }
}
