//! The contract of [`MembershipStore`]: one suite, run against PostgreSQL (as
//! the non-owner app role, under row-level security) and SQLite (the embedded
//! mode). Every check is written once, against `&dyn MembershipStore`; the
//! `contract!` macro turns each into a `postgres::<name>` and a
//! `sqlite::<name>` test, each on a fresh database.

mod support;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use collegium_membership::{MembershipStore, domain::*};
use platform::{
    auth::{Role, TenantId},
    error::Result,
    events::{EventBus, EventEnvelope, EventHandler, SubscribeOptions, memory::MemoryBus},
    page::Page,
};
use serde_json::json;
use support::*;
use uuid::Uuid;

macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_db, store) = super::postgres_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }

        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (_file, store) = super::sqlite_store().await;
                    super::bounded(super::$name(&store)).await;
                }
            )+
        }
    };
}

contract!(
    tenant_slugs_are_unique_and_settings_are_checked,
    organisations_are_kept_with_external_ids_unique_per_tenant,
    clusters_gain_and_lose_centres_and_a_lead,
    people_have_unique_emails_and_a_bad_email_writes_nothing,
    people_are_listed_by_organisation_cluster_role_and_name,
    lists_page_through_seven_items_three_at_a_time,
    role_grants_are_unique_while_active_and_revocable,
    mentorships_refuse_self_mentoring_and_ending_twice,
    panels_gain_and_lose_members,
    consent_is_recorded_withdrawn_and_kept_as_history,
    research_opt_outs_are_unique_while_active,
    every_mutation_writes_one_audit_record_and_one_event,
    tenants_never_see_or_touch_each_others_rows,
    research_agreements_are_checked_listed_and_revoked,
    an_agreement_covers_named_researchers_for_its_scope_between_its_dates,
    disclosures_are_logged_only_under_a_covering_agreement,
    tenants_never_see_each_others_agreements_or_disclosures,
    a_persons_data_is_exported_whole_and_only_in_their_tenant,
    erasure_anonymises_a_person_keeps_records_and_is_idempotent,
    retention_periods_default_set_keep_and_reset_each_audited,
    people_inactive_before_the_cutoff_are_listed_for_erasure,
    retention_expires_only_the_tenants_audit_records_before_the_cutoff,
    retention_runs_are_recorded_and_listed_newest_first,
    roster_uploads_are_shared_kept_as_they_ended_and_expire,
);

fn ids<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}

async fn tenant_slugs_are_unique_and_settings_are_checked(store: &dyn MembershipStore) {
    let north = store.create_tenant(new_tenant("north")).await.unwrap();
    assert_eq!(
        (north.slug.as_str(), north.name.as_str(), north.kind),
        ("north", "Tenant north", TenantKind::District)
    );
    assert_eq!(north.settings, TenantSettings::default());
    assert_eq!(store.get_tenant(north.id).await.unwrap(), north);
    assert_eq!(store.tenant_by_slug("north").await.unwrap(), north);

    expect_conflict(store.create_tenant(new_tenant("north")).await, "slug");
    let bad_zone = NewTenant {
        settings: TenantSettings {
            time_zone: "Mars/Olympus_Mons".into(),
            ..TenantSettings::default()
        },
        ..new_tenant("south")
    };
    expect_invalid(store.create_tenant(bad_zone).await, &["settings.time_zone"]);
    let bad_rest = NewTenant {
        settings: TenantSettings {
            locale: "english!".into(),
            academic_year_start_month: 13,
            ..TenantSettings::default()
        },
        ..new_tenant("south")
    };
    expect_invalid(
        store.create_tenant(bad_rest).await,
        &["settings.locale", "settings.academic_year_start_month"],
    );
    let bad_day = NewTenant {
        settings: TenantSettings {
            academic_year_start_month: 2,
            academic_year_start_day: 29,
            ..TenantSettings::default()
        },
        ..new_tenant("south")
    };
    expect_invalid(
        store.create_tenant(bad_day).await,
        &["settings.academic_year_start_day"],
    );
    expect_invalid(
        store.create_tenant(new_tenant("South Side")).await,
        &["slug"],
    );
    // The refusals wrote nothing.
    expect_not_found(store.tenant_by_slug("south").await);
    assert_eq!(store.list_tenants().await.unwrap(), vec![north.clone()]);

    let south = store.create_tenant(new_tenant("south")).await.unwrap();
    assert_eq!(
        store.list_tenants().await.unwrap(),
        vec![north.clone(), south.clone()]
    );
    expect_not_found(store.get_tenant(TenantId::new_v7()).await);

    let chicago = TenantSettings {
        time_zone: "America/Chicago".into(),
        locale: "en-US".into(),
        academic_year_start_month: 8,
        academic_year_start_day: 15,
    };
    expect_invalid(
        store
            .update_tenant_settings(
                north.id,
                ACTOR,
                TenantSettings {
                    time_zone: "Nowhere/City".into(),
                    ..chicago.clone()
                },
            )
            .await,
        &["settings.time_zone"],
    );
    let updated = store
        .update_tenant_settings(north.id, ACTOR, chicago.clone())
        .await
        .unwrap();
    assert_eq!(updated.settings, chicago);
    assert_eq!((updated.id, &updated.slug), (north.id, &north.slug));
    assert_eq!(store.get_tenant(north.id).await.unwrap(), updated);
    assert_eq!(store.get_tenant(south.id).await.unwrap(), south);
    expect_not_found(
        store
            .update_tenant_settings(TenantId::new_v7(), ACTOR, chicago)
            .await,
    );
}

async fn organisations_are_kept_with_external_ids_unique_per_tenant(store: &dyn MembershipStore) {
    let a = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    let hill = store
        .create_organisation(
            a,
            ACTOR,
            NewOrganisation {
                name: "  Hill School ".into(),
                kind: OrganisationKind::School,
                external_id: Some("C-100".into()),
                contact: Contact {
                    email: Some(" Office@Hill.Example.org ".into()),
                    phone: Some("+44 20 7946 0000".into()),
                    address: Some(" 1 Hill Road ".into()),
                },
            },
        )
        .await
        .unwrap();
    assert_eq!(hill.name, "Hill School");
    assert_eq!(hill.kind, OrganisationKind::School);
    assert_eq!(hill.external_id.as_deref(), Some("C-100"));
    assert_eq!(
        hill.contact,
        Contact {
            email: Some("office@hill.example.org".into()),
            phone: Some("+44 20 7946 0000".into()),
            address: Some("1 Hill Road".into()),
        }
    );
    assert_eq!(
        store.get_organisations(a, &[hill.id]).await.unwrap(),
        vec![hill.clone()]
    );

    // external_id is unique within a tenant, not across tenants.
    expect_conflict(
        store
            .create_organisation(a, ACTOR, new_org("Other School", Some("C-100")))
            .await,
        "external_id",
    );
    let hill_in_b = store
        .create_organisation(b, ACTOR, new_org("Hill School", Some("C-100")))
        .await
        .unwrap();
    assert_ne!(hill_in_b.id, hill.id);
    // Any number of organisations may have none.
    let dale = store
        .create_organisation(a, ACTOR, new_org("Dale Centre", None))
        .await
        .unwrap();
    let vale = store
        .create_organisation(a, ACTOR, new_org("Vale Centre", None))
        .await
        .unwrap();

    let renamed = store
        .update_organisation(
            a,
            ACTOR,
            hill.id,
            OrganisationPatch {
                name: Some("Hill Academy".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        renamed,
        Organisation {
            name: "Hill Academy".into(),
            ..hill.clone()
        }
    );
    expect_conflict(
        store
            .update_organisation(
                a,
                ACTOR,
                dale.id,
                OrganisationPatch {
                    external_id: Some("C-100".into()),
                    ..Default::default()
                },
            )
            .await,
        "external_id",
    );
    let with_id = store
        .update_organisation(
            a,
            ACTOR,
            dale.id,
            OrganisationPatch {
                external_id: Some("C-200".into()),
                contact: Some(Contact {
                    email: Some("dale@example.org".into()),
                    ..Contact::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(with_id.external_id.as_deref(), Some("C-200"));
    assert_eq!(with_id.contact.email.as_deref(), Some("dale@example.org"));
    expect_invalid(
        store
            .update_organisation(
                a,
                ACTOR,
                hill.id,
                OrganisationPatch {
                    name: Some("  ".into()),
                    contact: Some(Contact {
                        email: Some("not an address".into()),
                        ..Contact::default()
                    }),
                    ..Default::default()
                },
            )
            .await,
        &["name", "contact.email"],
    );
    expect_invalid(
        store.create_organisation(a, ACTOR, new_org("", None)).await,
        &["name"],
    );
    expect_not_found(
        store
            .update_organisation(
                a,
                ACTOR,
                Uuid::now_v7(),
                OrganisationPatch {
                    name: Some("Ghost".into()),
                    ..Default::default()
                },
            )
            .await,
    );

    let all = |filter: OrganisationFilter| async move {
        let (items, next) = store
            .list_organisations(a, &filter, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        ids(&items, |o| o.id)
    };
    assert_eq!(
        all(OrganisationFilter::default()).await,
        sorted([hill.id, dale.id, vale.id])
    );
    let named = |s: &str| OrganisationFilter {
        name_contains: Some(s.into()),
    };
    assert_eq!(all(named("ACADEMY")).await, vec![hill.id]);
    assert_eq!(all(named("centre")).await, sorted([dale.id, vale.id]));
    assert_eq!(all(named("nowhere")).await, Vec::<Uuid>::new());
    assert_eq!(
        store
            .get_organisations(a, &[hill.id, Uuid::now_v7(), hill_in_b.id])
            .await
            .unwrap(),
        vec![renamed]
    );
    assert_eq!(
        store
            .list_organisations(b, &OrganisationFilter::default(), Page::first(50))
            .await
            .unwrap()
            .0,
        vec![hill_in_b]
    );
}

async fn clusters_gain_and_lose_centres_and_a_lead(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let (o1, o2, o3) = (
        org(store, t, "One School").await,
        org(store, t, "Two School").await,
        org(store, t, "Three School").await,
    );
    let lead = person(store, t, "Lena", Some(o1.id)).await;
    let other = person(store, t, "Omar", Some(o2.id)).await;

    let cluster = store
        .create_cluster(
            t,
            ACTOR,
            new_cluster("North", Some(lead.id), &[o2.id, o1.id, o2.id]),
        )
        .await
        .unwrap();
    assert_eq!(cluster.name, "North");
    assert_eq!(cluster.lead_person_id, Some(lead.id));
    // A centre named twice is a member once.
    assert_eq!(cluster.centre_ids, sorted([o1.id, o2.id]));

    let added = store
        .set_cluster_centre(t, ACTOR, cluster.id, o3.id, true)
        .await
        .unwrap();
    assert_eq!(added.centre_ids, sorted([o1.id, o2.id, o3.id]));
    let removed = store
        .set_cluster_centre(t, ACTOR, cluster.id, o1.id, false)
        .await
        .unwrap();
    assert_eq!(removed.centre_ids, sorted([o2.id, o3.id]));
    // Adding a member again or removing a non-member changes nothing.
    assert_eq!(
        store
            .set_cluster_centre(t, ACTOR, cluster.id, o1.id, false)
            .await
            .unwrap(),
        removed
    );
    assert_eq!(
        store
            .set_cluster_centre(t, ACTOR, cluster.id, o3.id, true)
            .await
            .unwrap(),
        removed
    );
    expect_invalid(
        store
            .set_cluster_centre(t, ACTOR, cluster.id, Uuid::now_v7(), true)
            .await,
        &["organisation_id"],
    );
    expect_not_found(
        store
            .set_cluster_centre(t, ACTOR, Uuid::now_v7(), o1.id, true)
            .await,
    );
    assert_eq!(
        store.get_clusters(t, &[cluster.id]).await.unwrap(),
        vec![removed.clone()]
    );

    let leaderless = store
        .update_cluster(
            t,
            ACTOR,
            cluster.id,
            ClusterPatch {
                lead_person_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        leaderless,
        Cluster {
            lead_person_id: None,
            ..removed.clone()
        }
    );
    let relead = store
        .update_cluster(
            t,
            ACTOR,
            cluster.id,
            ClusterPatch {
                name: Some(" North East ".into()),
                description: Some("Science".into()),
                lead_person_id: Some(Some(other.id)),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            relead.name.as_str(),
            relead.description.as_str(),
            relead.lead_person_id
        ),
        ("North East", "Science", Some(other.id))
    );
    assert_eq!(relead.centre_ids, removed.centre_ids);
    expect_invalid(
        store
            .update_cluster(
                t,
                ACTOR,
                cluster.id,
                ClusterPatch {
                    lead_person_id: Some(Some(Uuid::now_v7())),
                    ..Default::default()
                },
            )
            .await,
        &["lead_person_id"],
    );
    expect_not_found(
        store
            .update_cluster(t, ACTOR, Uuid::now_v7(), ClusterPatch::default())
            .await,
    );
    expect_invalid(
        store
            .create_cluster(t, ACTOR, new_cluster("X", Some(Uuid::now_v7()), &[]))
            .await,
        &["lead_person_id"],
    );
    expect_invalid(
        store
            .create_cluster(t, ACTOR, new_cluster("X", None, &[o1.id, Uuid::now_v7()]))
            .await,
        &["centre_ids[1]"],
    );
    expect_invalid(
        store
            .create_cluster(t, ACTOR, new_cluster(" ", None, &[]))
            .await,
        &["name"],
    );

    let south = store
        .create_cluster(t, ACTOR, new_cluster("South", None, &[o1.id]))
        .await
        .unwrap();
    assert_eq!(south.lead_person_id, None);
    let listed = |organisation_id: Option<Uuid>| async move {
        let (items, next) = store
            .list_clusters(t, &ClusterFilter { organisation_id }, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        ids(&items, |c| c.id)
    };
    // The refused creations wrote nothing: two clusters in all.
    assert_eq!(listed(None).await, sorted([cluster.id, south.id]));
    assert_eq!(listed(Some(o1.id)).await, vec![south.id]);
    assert_eq!(listed(Some(o3.id)).await, vec![cluster.id]);
    assert_eq!(listed(Some(Uuid::now_v7())).await, Vec::<Uuid>::new());
}

async fn people_have_unique_emails_and_a_bad_email_writes_nothing(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let school = org(store, t, "Hill School").await;
    let ana = store
        .create_person(
            t,
            ACTOR,
            new_person(
                " Ana ",
                "Silva",
                Some(" Ana.Silva@School.Example.org "),
                Some(school.id),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (ana.given_name.as_str(), ana.family_name.as_str()),
        ("Ana", "Silva")
    );
    assert_eq!(
        ana.contact.email.as_deref(),
        Some("ana.silva@school.example.org")
    );
    assert_eq!(ana.organisation_id, Some(school.id));
    assert!(ana.active);
    assert_eq!(
        store
            .person_by_email(t, "ANA.SILVA@school.example.org")
            .await
            .unwrap(),
        ana
    );
    expect_conflict(
        store
            .create_person(
                t,
                ACTOR,
                new_person("Ana", "Other", Some("ana.silva@SCHOOL.example.org"), None),
            )
            .await,
        "contact.email",
    );
    let with_ref = store
        .create_person(
            t,
            ACTOR,
            NewPerson {
                external_id: Some("P-1".into()),
                ..new_person("Ben", "Ref", Some("ben@school.example.org"), None)
            },
        )
        .await
        .unwrap();
    assert_eq!(with_ref.external_id.as_deref(), Some("P-1"));
    expect_conflict(
        store
            .create_person(
                t,
                ACTOR,
                NewPerson {
                    external_id: Some("P-1".into()),
                    ..new_person("Cai", "Ref", Some("cai@school.example.org"), None)
                },
            )
            .await,
        "external_id",
    );

    // A bad address is refused before anything is written.
    let bus = MemoryBus::new();
    drain(store, &bus).await;
    let audit_before = all_audit(store, t).await;
    let people_before = all_people(store, t).await;
    for bad in ["not-an-email", "dee@school", "a@b.org, c@d.org"] {
        expect_invalid(
            store
                .create_person(t, ACTOR, new_person("Dee", "Bad", Some(bad), None))
                .await,
            &["contact.email"],
        );
    }
    expect_invalid(
        store
            .update_person(
                t,
                ACTOR,
                with_ref.id,
                PersonPatch {
                    contact: Some(Contact {
                        email: Some("ben@".into()),
                        ..Contact::default()
                    }),
                    ..Default::default()
                },
            )
            .await,
        &["contact.email"],
    );
    expect_conflict(
        store
            .update_person(
                t,
                ACTOR,
                with_ref.id,
                PersonPatch {
                    contact: Some(Contact {
                        email: Some("Ana.Silva@school.example.org".into()),
                        ..Contact::default()
                    }),
                    ..Default::default()
                },
            )
            .await,
        "contact.email",
    );
    assert_eq!(all_audit(store, t).await, audit_before);
    assert_eq!(all_people(store, t).await, people_before);
    assert_eq!(drain(store, &bus).await, 0, "no outbox event was written");

    expect_invalid(
        store
            .create_person(
                t,
                ACTOR,
                NewPerson {
                    time_zone: Some("Mars/Base".into()),
                    ..new_person(" ", "", None, None)
                },
            )
            .await,
        &["given_name", "family_name", "time_zone"],
    );
    expect_invalid(
        store
            .create_person(
                t,
                ACTOR,
                new_person("Eve", "Nowhere", None, Some(Uuid::now_v7())),
            )
            .await,
        &["organisation_id"],
    );
    let moved = store
        .update_person(
            t,
            ACTOR,
            with_ref.id,
            PersonPatch {
                organisation_id: Some(Some(school.id)),
                time_zone: Some(Some("Europe/London".into())),
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        moved,
        Person {
            organisation_id: Some(school.id),
            time_zone: Some("Europe/London".into()),
            active: false,
            ..with_ref.clone()
        }
    );
    expect_not_found(store.person_by_email(t, "nobody@school.example.org").await);
    expect_not_found(
        store
            .update_person(t, ACTOR, Uuid::now_v7(), PersonPatch::default())
            .await,
    );
}

async fn people_are_listed_by_organisation_cluster_role_and_name(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let (o1, o2, o3) = (
        org(store, t, "One").await,
        org(store, t, "Two").await,
        org(store, t, "Three").await,
    );
    let cluster = store
        .create_cluster(t, ACTOR, new_cluster("North", None, &[o1.id]))
        .await
        .unwrap();
    let create = |given: &'static str, family: &'static str, organisation: Option<Uuid>| async move {
        store
            .create_person(t, ACTOR, new_person(given, family, None, organisation))
            .await
            .unwrap()
            .id
    };
    // At a centre of the cluster.
    let member = create("Ana", "Silva", Some(o1.id)).await;
    // Elsewhere, but a teacher in the cluster.
    let role_holder = create("Ben", "Jones", Some(o2.id)).await;
    // Elsewhere, a teacher tenant-wide.
    let tenant_teacher = create("Cai", "Wong", Some(o2.id)).await;
    // Elsewhere, a mentor in the cluster whose grant was revoked.
    let revoked = create("Dia", "Khan", Some(o3.id)).await;
    let percent = create("Eli", "100% Sure", None).await;
    let underscore = create("Fay", "Under_Score", None).await;
    let plain = create("Gus", "Underscore", None).await;
    store
        .grant_role(t, ACTOR, role_holder, Role::Teacher, Some(cluster.id))
        .await
        .unwrap();
    store
        .grant_role(t, ACTOR, tenant_teacher, Role::Teacher, None)
        .await
        .unwrap();
    let grant = store
        .grant_role(t, ACTOR, revoked, Role::Mentor, Some(cluster.id))
        .await
        .unwrap();
    store.revoke_role(t, ACTOR, grant.id).await.unwrap();

    let listed = |filter: PersonFilter| async move {
        let (items, next) = store
            .list_people(t, &filter, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        ids(&items, |p| p.id)
    };
    let named = |s: &str| PersonFilter {
        name_contains: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        listed(PersonFilter::default()).await,
        sorted([
            member,
            role_holder,
            tenant_teacher,
            revoked,
            percent,
            underscore,
            plain
        ])
    );
    assert_eq!(
        listed(PersonFilter {
            organisation_id: Some(o2.id),
            ..Default::default()
        })
        .await,
        sorted([role_holder, tenant_teacher])
    );
    // People of the cluster's centres plus holders of an active role in it.
    assert_eq!(
        listed(PersonFilter {
            cluster_id: Some(cluster.id),
            ..Default::default()
        })
        .await,
        sorted([member, role_holder])
    );
    assert_eq!(
        listed(PersonFilter {
            role: Some(Role::Teacher),
            ..Default::default()
        })
        .await,
        sorted([role_holder, tenant_teacher])
    );
    assert_eq!(
        listed(PersonFilter {
            role: Some(Role::Teacher),
            cluster_id: Some(cluster.id),
            ..Default::default()
        })
        .await,
        vec![role_holder]
    );
    assert_eq!(
        listed(PersonFilter {
            role: Some(Role::Mentor),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        listed(PersonFilter {
            organisation_id: Some(Uuid::now_v7()),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    assert_eq!(
        listed(PersonFilter {
            cluster_id: Some(Uuid::now_v7()),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    // Case-insensitive, across given and family name; % and _ are literal.
    assert_eq!(listed(named("SILVA")).await, vec![member]);
    assert_eq!(listed(named("ana s")).await, vec![member]);
    assert_eq!(listed(named("%")).await, vec![percent]);
    assert_eq!(listed(named("0% s")).await, vec![percent]);
    assert_eq!(listed(named("_")).await, vec![underscore]);
    assert_eq!(listed(named("r_s")).await, vec![underscore]);
    assert_eq!(
        listed(named("underscore")).await,
        vec![plain],
        "_ must not match any character"
    );
    assert_eq!(listed(named("\\")).await, Vec::<Uuid>::new());
}

async fn lists_page_through_seven_items_three_at_a_time(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let mut people = Vec::new();
    let mut orgs = Vec::new();
    for i in 0..7 {
        people.push(person(store, t, &format!("Person{i}"), None).await.id);
        orgs.push(org(store, t, &format!("School {i}")).await.id);
    }

    let mut seen = Vec::new();
    let mut page = Page::first(3);
    let mut sizes = Vec::new();
    loop {
        let (items, next) = store
            .list_people(t, &PersonFilter::default(), page)
            .await
            .unwrap();
        sizes.push(items.len());
        if next.is_empty() {
            seen.extend(ids(&items, |p| p.id));
            break;
        }
        assert_eq!(next, items.last().unwrap().id.to_string());
        seen.extend(ids(&items, |p| p.id));
        page = Page::new(3, &next).unwrap();
        assert!(sizes.len() < 4, "more pages than expected: {sizes:?}");
    }
    assert_eq!(sizes, [3, 3, 1]);
    // In id order, each person once.
    assert_eq!(seen, sorted(people.clone()));

    let mut seen = Vec::new();
    let mut tokens = Vec::new();
    let mut page = Page::first(3);
    for _ in 0..3 {
        let (items, next) = store
            .list_organisations(t, &OrganisationFilter::default(), page)
            .await
            .unwrap();
        seen.push(ids(&items, |o| o.id));
        tokens.push(next.clone());
        if next.is_empty() {
            break;
        }
        page = Page::new(3, &next).unwrap();
    }
    let sorted_orgs = sorted(orgs);
    assert_eq!(
        seen,
        [
            sorted_orgs[0..3].to_vec(),
            sorted_orgs[3..6].to_vec(),
            sorted_orgs[6..].to_vec()
        ]
    );
    assert_eq!(
        tokens,
        [
            sorted_orgs[2].to_string(),
            sorted_orgs[5].to_string(),
            String::new()
        ]
    );
    // Exactly a page's worth: no token for an empty page after it.
    let (items, next) = store
        .list_organisations(t, &OrganisationFilter::default(), Page::first(7))
        .await
        .unwrap();
    assert_eq!((items.len(), next.as_str()), (7, ""));
}

async fn role_grants_are_unique_while_active_and_revocable(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let p = person(store, t, "Pat", None).await;
    let q = person(store, t, "Quinn", None).await;
    let cluster = store
        .create_cluster(t, ACTOR, new_cluster("North", None, &[]))
        .await
        .unwrap();

    let teacher = store
        .grant_role(t, ACTOR, p.id, Role::Teacher, None)
        .await
        .unwrap();
    assert_eq!(
        (
            teacher.person_id,
            teacher.role,
            teacher.cluster_id,
            teacher.revoked_at
        ),
        (p.id, Role::Teacher, None, None)
    );
    expect_conflict(
        store.grant_role(t, ACTOR, p.id, Role::Teacher, None).await,
        "role",
    );
    // The same role in a cluster is another scope.
    let in_cluster = store
        .grant_role(t, ACTOR, p.id, Role::Teacher, Some(cluster.id))
        .await
        .unwrap();
    expect_conflict(
        store
            .grant_role(t, ACTOR, p.id, Role::Teacher, Some(cluster.id))
            .await,
        "role",
    );
    expect_invalid(
        store
            .grant_role(t, ACTOR, p.id, Role::ClusterLead, None)
            .await,
        &["cluster_id"],
    );
    expect_invalid(
        store
            .grant_role(t, ACTOR, p.id, Role::TenantAdmin, Some(cluster.id))
            .await,
        &["cluster_id"],
    );
    expect_invalid(
        store
            .grant_role(t, ACTOR, Uuid::now_v7(), Role::Teacher, None)
            .await,
        &["person_id"],
    );
    expect_invalid(
        store
            .grant_role(t, ACTOR, p.id, Role::Observer, Some(Uuid::now_v7()))
            .await,
        &["cluster_id"],
    );
    let lead = store
        .grant_role(t, ACTOR, q.id, Role::ClusterLead, Some(cluster.id))
        .await
        .unwrap();
    assert_eq!(store.get_role_grant(t, teacher.id).await.unwrap(), teacher);

    let revoked = store.revoke_role(t, ACTOR, teacher.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        RoleGrant {
            revoked_at: None,
            ..revoked.clone()
        },
        teacher
    );
    expect_failed_precondition(store.revoke_role(t, ACTOR, teacher.id).await);
    expect_not_found(store.revoke_role(t, ACTOR, Uuid::now_v7()).await);
    expect_not_found(store.get_role_grant(t, Uuid::now_v7()).await);

    let listed = |person_id: Option<Uuid>, cluster_id: Option<Uuid>, include_revoked: bool| async move {
        let filter = RoleGrantFilter {
            person_id,
            cluster_id,
            include_revoked,
        };
        let (items, next) = store
            .list_role_grants(t, &filter, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        items
    };
    assert_eq!(
        listed(Some(p.id), None, false).await,
        vec![in_cluster.clone()]
    );
    assert_eq!(
        ids(&listed(Some(p.id), None, true).await, |g| g.id),
        sorted([revoked.id, in_cluster.id])
    );
    assert_eq!(
        ids(&listed(None, Some(cluster.id), false).await, |g| g.id),
        sorted([in_cluster.id, lead.id])
    );
    // Once revoked, the role may be granted again.
    let again = store
        .grant_role(t, ACTOR, p.id, Role::Teacher, None)
        .await
        .unwrap();
    assert_ne!(again.id, teacher.id);
    assert_eq!(
        ids(&listed(Some(p.id), None, false).await, |g| g.id),
        sorted([in_cluster.id, again.id])
    );
    assert_eq!(
        ids(&listed(None, None, true).await, |g| g.id),
        sorted([revoked.id, in_cluster.id, lead.id, again.id])
    );
}

async fn mentorships_refuse_self_mentoring_and_ending_twice(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let mentor = person(store, t, "Mara", None).await;
    let novice = person(store, t, "Noor", None).await;
    let bystander = person(store, t, "Olli", None).await;
    let new = |mentor_id: Uuid, new_teacher_id: Uuid, starts: &str, ends: &str| NewMentorship {
        mentor_id,
        new_teacher_id,
        starts_on: date(starts),
        planned_end_on: date(ends),
    };

    expect_invalid(
        store
            .create_mentorship(
                t,
                ACTOR,
                new(mentor.id, mentor.id, "2026-09-01", "2028-09-01"),
            )
            .await,
        &["new_teacher_id"],
    );
    expect_invalid(
        store
            .create_mentorship(
                t,
                ACTOR,
                new(mentor.id, novice.id, "2026-09-01", "2026-08-31"),
            )
            .await,
        &["planned_end_on"],
    );
    expect_invalid(
        store
            .create_mentorship(
                t,
                ACTOR,
                new(mentor.id, novice.id, "2026-09-01", "2026-09-01"),
            )
            .await,
        &["planned_end_on"],
    );
    expect_invalid(
        store
            .create_mentorship(
                t,
                ACTOR,
                new(Uuid::now_v7(), novice.id, "2026-09-01", "2028-09-01"),
            )
            .await,
        &["mentor_id"],
    );
    let m = store
        .create_mentorship(
            t,
            ACTOR,
            new(mentor.id, novice.id, "2026-09-01", "2028-09-01"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            m.mentor_id,
            m.new_teacher_id,
            m.starts_on,
            m.planned_end_on,
            m.ended_on
        ),
        (
            mentor.id,
            novice.id,
            date("2026-09-01"),
            date("2028-09-01"),
            None
        )
    );

    expect_invalid(
        store
            .end_mentorship(t, ACTOR, m.id, date("2026-08-31"))
            .await,
        &["ended_on"],
    );
    let ended = store
        .end_mentorship(t, ACTOR, m.id, date("2027-06-30"))
        .await
        .unwrap();
    assert_eq!(
        ended,
        Mentorship {
            ended_on: Some(date("2027-06-30")),
            ..m.clone()
        }
    );
    expect_failed_precondition(
        store
            .end_mentorship(t, ACTOR, m.id, date("2027-07-01"))
            .await,
    );
    expect_not_found(
        store
            .end_mentorship(t, ACTOR, Uuid::now_v7(), date("2027-07-01"))
            .await,
    );

    let listed = |person: Option<Uuid>| async move {
        store
            .list_mentorships(t, person, Page::first(50))
            .await
            .unwrap()
            .0
    };
    assert_eq!(listed(Some(mentor.id)).await, vec![ended.clone()]);
    assert_eq!(listed(Some(novice.id)).await, vec![ended.clone()]);
    assert_eq!(listed(Some(bystander.id)).await, vec![]);
    assert_eq!(listed(None).await, vec![ended]);
}

async fn panels_gain_and_lose_members(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let p = person(store, t, "Pia", None).await;
    let q = person(store, t, "Quin", None).await;
    let panel = store
        .create_panel(t, ACTOR, " Family Panel ", "Advises on homework policy")
        .await
        .unwrap();
    assert_eq!(
        (
            panel.name.as_str(),
            panel.purpose.as_str(),
            panel.members.len()
        ),
        ("Family Panel", "Advises on homework policy", 0)
    );
    expect_invalid(store.create_panel(t, ACTOR, "", "x").await, &["name"]);

    let member = |person_id: Uuid, constituency: Constituency| PanelMember {
        person_id,
        constituency,
    };
    let by_person = |mut m: Vec<PanelMember>| {
        m.sort_by_key(|m| m.person_id);
        m
    };
    let one = store
        .set_panel_member(t, ACTOR, panel.id, p.id, Some(Constituency::Family))
        .await
        .unwrap();
    assert_eq!(one.members, vec![member(p.id, Constituency::Family)]);
    let two = store
        .set_panel_member(t, ACTOR, panel.id, q.id, Some(Constituency::Student))
        .await
        .unwrap();
    assert_eq!(
        two.members,
        by_person(vec![
            member(p.id, Constituency::Family),
            member(q.id, Constituency::Student)
        ])
    );
    // Adding a member again changes their constituency.
    let changed = store
        .set_panel_member(t, ACTOR, panel.id, p.id, Some(Constituency::Union))
        .await
        .unwrap();
    assert_eq!(
        changed.members,
        by_person(vec![
            member(p.id, Constituency::Union),
            member(q.id, Constituency::Student)
        ])
    );
    let removed = store
        .set_panel_member(t, ACTOR, panel.id, p.id, None)
        .await
        .unwrap();
    assert_eq!(removed.members, vec![member(q.id, Constituency::Student)]);
    expect_failed_precondition(store.set_panel_member(t, ACTOR, panel.id, p.id, None).await);
    expect_invalid(
        store
            .set_panel_member(
                t,
                ACTOR,
                panel.id,
                Uuid::now_v7(),
                Some(Constituency::Family),
            )
            .await,
        &["person_id"],
    );
    expect_not_found(
        store
            .set_panel_member(t, ACTOR, Uuid::now_v7(), p.id, Some(Constituency::Family))
            .await,
    );
    assert_eq!(
        store.list_panels(t, Page::first(50)).await.unwrap(),
        (vec![removed], String::new())
    );
}

async fn consent_is_recorded_withdrawn_and_kept_as_history(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let centre = org(store, t, "Centre").await;
    let p = person(store, t, "Pia", Some(centre.id)).await;
    let other = person(store, t, "Oto", Some(centre.id)).await;
    let consent =
        |subject: ConsentSubject, purpose: &str, by_proxy: bool, remark: &str| NewConsent {
            subject,
            purpose: purpose.to_string(),
            purpose_version: 1,
            recorded_by: if by_proxy {
                ACTOR.to_string()
            } else {
                subject.id().to_string()
            },
            by_proxy,
            remark: remark.to_string(),
        };

    let own = store
        .record_consent(
            t,
            consent(
                ConsentSubject::Person(p.id),
                SHARE_CONTACT_PURPOSE,
                false,
                "",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            own.subject,
            own.purpose.as_str(),
            own.purpose_version,
            own.recorded_by.clone(),
            own.by_proxy,
            own.withdrawn_at
        ),
        (
            ConsentSubject::Person(p.id),
            SHARE_CONTACT_PURPOSE,
            1,
            p.id.to_string(),
            false,
            None
        )
    );
    expect_invalid(
        store
            .record_consent(
                t,
                consent(
                    ConsentSubject::Organisation(centre.id),
                    SHARE_CONTACT_PURPOSE,
                    true,
                    "  ",
                ),
            )
            .await,
        &["remark"],
    );
    expect_invalid(
        store
            .record_consent(
                t,
                NewConsent {
                    purpose_version: 0,
                    ..consent(ConsentSubject::Person(p.id), "Share Contact!", false, "")
                },
            )
            .await,
        &["purpose", "purpose_version"],
    );
    expect_invalid(
        store
            .record_consent(
                t,
                consent(
                    ConsentSubject::Person(Uuid::now_v7()),
                    SHARE_CONTACT_PURPOSE,
                    false,
                    "",
                ),
            )
            .await,
        &["subject.person_id"],
    );
    expect_invalid(
        store
            .record_consent(
                t,
                consent(
                    ConsentSubject::Organisation(Uuid::now_v7()),
                    SHARE_CONTACT_PURPOSE,
                    true,
                    "form",
                ),
            )
            .await,
        &["subject.organisation_id"],
    );
    let for_centre = store
        .record_consent(
            t,
            consent(
                ConsentSubject::Organisation(centre.id),
                SHARE_CONTACT_PURPOSE,
                true,
                " signed form, 1 September ",
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (for_centre.by_proxy, for_centre.remark.as_str()),
        (true, "signed form, 1 September")
    );
    let interviews = store
        .record_consent(
            t,
            consent(
                ConsentSubject::Person(other.id),
                "research-interviews",
                false,
                "",
            ),
        )
        .await
        .unwrap();

    let consented = |purpose: &'static str, subjects: Vec<Uuid>| async move {
        store.consented(t, purpose, &subjects).await.unwrap()
    };
    assert_eq!(
        consented(
            SHARE_CONTACT_PURPOSE,
            vec![p.id, centre.id, other.id, Uuid::now_v7()]
        )
        .await,
        HashSet::from([p.id, centre.id])
    );
    assert_eq!(
        consented("research-interviews", vec![p.id, other.id]).await,
        HashSet::from([other.id])
    );
    assert_eq!(
        consented(SHARE_CONTACT_PURPOSE, vec![]).await,
        HashSet::new()
    );

    let withdrawn = store
        .withdraw_consent(t, ACTOR, own.id, "changed my mind")
        .await
        .unwrap();
    assert!(withdrawn.withdrawn_at.is_some());
    assert_eq!(
        ConsentRecord {
            withdrawn_at: None,
            ..withdrawn.clone()
        },
        own
    );
    assert_eq!(
        consented(SHARE_CONTACT_PURPOSE, vec![p.id, centre.id]).await,
        HashSet::from([centre.id])
    );
    expect_failed_precondition(store.withdraw_consent(t, ACTOR, own.id, "again").await);
    expect_not_found(
        store
            .withdraw_consent(t, ACTOR, Uuid::now_v7(), "none")
            .await,
    );
    expect_not_found(store.get_consent(t, Uuid::now_v7()).await);
    assert_eq!(store.get_consent(t, own.id).await.unwrap(), withdrawn);

    let listed = |subject: Option<ConsentSubject>, include_withdrawn: bool| async move {
        let filter = ConsentFilter {
            subject,
            include_withdrawn,
        };
        let (items, next) = store
            .list_consents(t, &filter, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        ids(&items, |c| c.id)
    };
    let of_p = Some(ConsentSubject::Person(p.id));
    assert_eq!(listed(of_p, false).await, Vec::<Uuid>::new());
    assert_eq!(listed(of_p, true).await, vec![own.id]);
    assert_eq!(
        listed(Some(ConsentSubject::Organisation(centre.id)), false).await,
        vec![for_centre.id]
    );
    assert_eq!(
        listed(None, false).await,
        sorted([for_centre.id, interviews.id])
    );
    assert_eq!(
        listed(None, true).await,
        sorted([own.id, for_centre.id, interviews.id])
    );

    // Consent may be given again; the history keeps both records.
    let again = store
        .record_consent(
            t,
            NewConsent {
                purpose_version: 2,
                ..consent(
                    ConsentSubject::Person(p.id),
                    SHARE_CONTACT_PURPOSE,
                    false,
                    "",
                )
            },
        )
        .await
        .unwrap();
    assert_eq!(again.purpose_version, 2);
    assert_eq!(
        consented(SHARE_CONTACT_PURPOSE, vec![p.id]).await,
        HashSet::from([p.id])
    );
    assert_eq!(listed(of_p, true).await, sorted([own.id, again.id]));
}

async fn research_opt_outs_are_unique_while_active(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let hill = org(store, t, "Hill").await;
    let dale = org(store, t, "Dale").await;
    let new = |student_ref: &str, organisation_id: Uuid| NewResearchOptOut {
        student_ref: student_ref.to_string(),
        organisation_id,
        recorded_for: " Parent of the student ".to_string(),
    };

    let first = store
        .record_opt_out(t, ACTOR, new(" S-0001 ", hill.id))
        .await
        .unwrap();
    assert_eq!(
        (
            first.student_ref.as_str(),
            first.organisation_id,
            first.recorded_for.as_str(),
            first.recorded_by.as_str(),
            first.withdrawn_at
        ),
        ("S-0001", hill.id, "Parent of the student", ACTOR, None)
    );
    expect_conflict(
        store.record_opt_out(t, ACTOR, new("S-0001", dale.id)).await,
        "student_ref",
    );
    expect_invalid(
        store
            .record_opt_out(
                t,
                ACTOR,
                NewResearchOptOut {
                    recorded_for: " ".into(),
                    ..new("", hill.id)
                },
            )
            .await,
        &["student_ref", "recorded_for"],
    );
    expect_invalid(
        store
            .record_opt_out(t, ACTOR, new("S-0009", Uuid::now_v7()))
            .await,
        &["organisation_id"],
    );
    let second = store
        .record_opt_out(t, ACTOR, new("S-0002", dale.id))
        .await
        .unwrap();

    let withdrawn = store.withdraw_opt_out(t, ACTOR, first.id).await.unwrap();
    assert!(withdrawn.withdrawn_at.is_some());
    assert_eq!(
        ResearchOptOut {
            withdrawn_at: None,
            ..withdrawn.clone()
        },
        first
    );
    expect_failed_precondition(store.withdraw_opt_out(t, ACTOR, first.id).await);
    expect_not_found(store.withdraw_opt_out(t, ACTOR, Uuid::now_v7()).await);
    // Withdrawn, the student may be opted out again.
    let again = store
        .record_opt_out(t, ACTOR, new("S-0001", hill.id))
        .await
        .unwrap();
    assert_ne!(again.id, first.id);

    let listed = |organisation_id: Option<Uuid>, include_withdrawn: bool| async move {
        let filter = OptOutFilter {
            organisation_id,
            include_withdrawn,
        };
        let (items, next) = store
            .list_opt_outs(t, &filter, Page::first(50))
            .await
            .unwrap();
        assert_eq!(next, "");
        ids(&items, |o| o.id)
    };
    assert_eq!(listed(None, false).await, sorted([second.id, again.id]));
    assert_eq!(
        listed(None, true).await,
        sorted([first.id, second.id, again.id])
    );
    assert_eq!(listed(Some(hill.id), false).await, vec![again.id]);
    assert_eq!(
        listed(Some(hill.id), true).await,
        sorted([first.id, again.id])
    );
    assert_eq!(listed(Some(dale.id), false).await, vec![second.id]);
}

// ------------------------------------------------------------------ audit and outbox

/// Publishes every pending outbox row; returns how many.
async fn drain(store: &dyn MembershipStore, bus: &MemoryBus) -> usize {
    let mut total = 0;
    loop {
        let n = store.relay_outbox(bus, 100).await.expect("the relay runs");
        total += n;
        if n < 100 {
            return total;
        }
    }
}

/// Follows a tenant's audit log and the outbox: after each mutation, exactly
/// one new audit record and exactly one new event.
struct Trail<'a> {
    store: &'a dyn MembershipStore,
    bus: MemoryBus,
    tenant: TenantId,
    seen: HashSet<Uuid>,
    /// (event type, target) of every event expected on the bus, in order.
    expected_events: Vec<(String, Uuid, String)>,
}

impl<'a> Trail<'a> {
    fn new(store: &'a dyn MembershipStore, tenant: TenantId) -> Self {
        Self {
            store,
            bus: MemoryBus::new(),
            tenant,
            seen: HashSet::new(),
            expected_events: Vec::new(),
        }
    }

    async fn new_records(&self) -> Vec<AuditRecord> {
        all_audit(self.store, self.tenant)
            .await
            .into_iter()
            .filter(|r| !self.seen.contains(&r.id))
            .collect()
    }

    /// The last mutation wrote one audit record and one event.
    async fn expect(&mut self, action: &str, target: Uuid, actor: &str, has_before: bool) {
        let new = self.new_records().await;
        assert_eq!(new.len(), 1, "{action}: one audit record, got {new:#?}");
        let r = &new[0];
        let target_s = target.to_string();
        assert_eq!(
            (
                r.action.as_str(),
                r.target_kind.as_str(),
                r.target_id.as_str(),
                r.actor.as_str()
            ),
            (
                action,
                action.split('.').next().unwrap(),
                target_s.as_str(),
                actor
            ),
            "{action}: audit record {r:#?}"
        );
        let after = r
            .after
            .as_ref()
            .expect("every mutation records the state after");
        assert_eq!(after["id"], json!(target_s), "{action}: after {after}");
        match (&r.before, has_before) {
            (Some(before), true) => {
                assert_eq!(before["id"], json!(target_s), "{action}: before {before}");
                assert_ne!(before, after, "{action}: before and after differ");
            }
            (None, false) => {}
            (before, _) => {
                panic!("{action}: before should be present: {has_before}, is {before:?}")
            }
        }
        let (store, t) = (self.store, self.tenant);
        let of_target = all_pages(|page| store.list_audit(t, Some(&target_s), page)).await;
        assert!(of_target.contains(r), "{action}: listed under its target");
        assert!(
            of_target.iter().all(|x| x.target_id == target_s),
            "{action}: list_audit by target returns only that target: {of_target:#?}"
        );
        assert_eq!(
            drain(self.store, &self.bus).await,
            1,
            "{action}: one outbox event"
        );
        self.seen.insert(r.id);
        self.expected_events
            .push((format!("membership.{action}"), target, actor.to_string()));
    }

    /// The last call wrote neither an audit record nor an event.
    async fn expect_nothing(&mut self, what: &str) {
        let new = self.new_records().await;
        assert!(new.is_empty(), "{what}: no audit record, got {new:#?}");
        assert_eq!(
            drain(self.store, &self.bus).await,
            0,
            "{what}: no outbox event"
        );
    }
}

/// Collects what a bus delivers.
#[derive(Default)]
struct Collect(Mutex<Vec<EventEnvelope>>);

#[async_trait]
impl EventHandler for Collect {
    async fn handle(&self, event: &EventEnvelope) -> Result<()> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

async fn every_mutation_writes_one_audit_record_and_one_event(store: &dyn MembershipStore) {
    let tenant = store.create_tenant(new_tenant("alpha")).await.unwrap();
    let t = tenant.id;
    let mut trail = Trail::new(store, t);
    trail.expect("tenant.created", t.0, "operator", false).await;

    let settings = TenantSettings {
        time_zone: "Europe/Berlin".into(),
        ..TenantSettings::default()
    };
    store
        .update_tenant_settings(t, ACTOR, settings)
        .await
        .unwrap();
    trail
        .expect("tenant.settings_changed", t.0, ACTOR, true)
        .await;

    let o = store
        .create_organisation(t, ACTOR, new_org("Hill", Some("C-1")))
        .await
        .unwrap();
    trail
        .expect("organisation.created", o.id, ACTOR, false)
        .await;
    let o2 = store
        .create_organisation(t, ACTOR, new_org("Dale", None))
        .await
        .unwrap();
    trail
        .expect("organisation.created", o2.id, ACTOR, false)
        .await;
    expect_conflict(
        store
            .create_organisation(t, ACTOR, new_org("Copy", Some("C-1")))
            .await,
        "external_id",
    );
    trail.expect_nothing("duplicate external_id").await;
    store
        .update_organisation(
            t,
            ACTOR,
            o.id,
            OrganisationPatch {
                name: Some("Hill Academy".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    trail
        .expect("organisation.updated", o.id, ACTOR, true)
        .await;

    let p = store
        .create_person(
            t,
            ACTOR,
            new_person("Pia", "Lead", Some("pia@example.org"), Some(o.id)),
        )
        .await
        .unwrap();
    trail.expect("person.created", p.id, ACTOR, false).await;
    let q = store
        .create_person(t, ACTOR, new_person("Quin", "New", None, Some(o.id)))
        .await
        .unwrap();
    trail.expect("person.created", q.id, ACTOR, false).await;
    expect_invalid(
        store
            .create_person(t, ACTOR, new_person("Bad", "Mail", Some("bad@"), None))
            .await,
        &["contact.email"],
    );
    trail.expect_nothing("bad e-mail").await;
    store
        .update_person(
            t,
            ACTOR,
            q.id,
            PersonPatch {
                family_name: Some("Newer".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    trail.expect("person.updated", q.id, ACTOR, true).await;

    let c = store
        .create_cluster(t, ACTOR, new_cluster("North", Some(p.id), &[o.id]))
        .await
        .unwrap();
    trail.expect("cluster.created", c.id, ACTOR, false).await;
    expect_invalid(
        store
            .create_cluster(t, ACTOR, new_cluster("Half", None, &[o.id, Uuid::now_v7()]))
            .await,
        &["centre_ids[1]"],
    );
    trail.expect_nothing("cluster with an unknown centre").await;
    store
        .update_cluster(
            t,
            ACTOR,
            c.id,
            ClusterPatch {
                description: Some("Maths".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    trail.expect("cluster.updated", c.id, ACTOR, true).await;
    store
        .set_cluster_centre(t, ACTOR, c.id, o2.id, true)
        .await
        .unwrap();
    trail
        .expect("cluster.centre_added", c.id, ACTOR, true)
        .await;
    store
        .set_cluster_centre(t, ACTOR, c.id, o2.id, true)
        .await
        .unwrap();
    trail
        .expect_nothing("adding a centre that is a member")
        .await;
    store
        .set_cluster_centre(t, ACTOR, c.id, o2.id, false)
        .await
        .unwrap();
    trail
        .expect("cluster.centre_removed", c.id, ACTOR, true)
        .await;

    let g = store
        .grant_role(t, ACTOR, q.id, Role::Teacher, Some(c.id))
        .await
        .unwrap();
    trail.expect("role.granted", g.id, ACTOR, false).await;
    expect_conflict(
        store
            .grant_role(t, ACTOR, q.id, Role::Teacher, Some(c.id))
            .await,
        "role",
    );
    trail.expect_nothing("duplicate grant").await;
    store.revoke_role(t, ACTOR, g.id).await.unwrap();
    trail.expect("role.revoked", g.id, ACTOR, true).await;

    let m = store
        .create_mentorship(
            t,
            ACTOR,
            NewMentorship {
                mentor_id: p.id,
                new_teacher_id: q.id,
                starts_on: date("2026-09-01"),
                planned_end_on: date("2028-09-01"),
            },
        )
        .await
        .unwrap();
    trail.expect("mentorship.created", m.id, ACTOR, false).await;
    store
        .end_mentorship(t, ACTOR, m.id, date("2027-01-31"))
        .await
        .unwrap();
    trail.expect("mentorship.ended", m.id, ACTOR, true).await;
    expect_failed_precondition(
        store
            .end_mentorship(t, ACTOR, m.id, date("2027-02-01"))
            .await,
    );
    trail.expect_nothing("ending twice").await;

    let panel = store
        .create_panel(t, ACTOR, "Families", "Homework")
        .await
        .unwrap();
    trail.expect("panel.created", panel.id, ACTOR, false).await;
    store
        .set_panel_member(t, ACTOR, panel.id, q.id, Some(Constituency::Family))
        .await
        .unwrap();
    trail
        .expect("panel.member_added", panel.id, ACTOR, true)
        .await;
    store
        .set_panel_member(t, ACTOR, panel.id, q.id, None)
        .await
        .unwrap();
    trail
        .expect("panel.member_removed", panel.id, ACTOR, true)
        .await;
    expect_failed_precondition(store.set_panel_member(t, ACTOR, panel.id, q.id, None).await);
    trail.expect_nothing("removing a non-member").await;

    let own = p.id.to_string();
    let consent = store
        .record_consent(
            t,
            NewConsent {
                subject: ConsentSubject::Person(p.id),
                purpose: SHARE_CONTACT_PURPOSE.into(),
                purpose_version: 1,
                recorded_by: own.clone(),
                by_proxy: false,
                remark: String::new(),
            },
        )
        .await
        .unwrap();
    trail
        .expect("consent.recorded", consent.id, &own, false)
        .await;
    store
        .withdraw_consent(t, &own, consent.id, "no longer")
        .await
        .unwrap();
    trail
        .expect("consent.withdrawn", consent.id, &own, true)
        .await;

    let opt_out = store
        .record_opt_out(
            t,
            ACTOR,
            NewResearchOptOut {
                student_ref: "S-1".into(),
                organisation_id: o.id,
                recorded_for: "Parent".into(),
            },
        )
        .await
        .unwrap();
    trail
        .expect("research_opt_out.recorded", opt_out.id, ACTOR, false)
        .await;
    store.withdraw_opt_out(t, ACTOR, opt_out.id).await.unwrap();
    trail
        .expect("research_opt_out.withdrawn", opt_out.id, ACTOR, true)
        .await;

    // What the relay published, as a subscriber receives it.
    let collected = Arc::new(Collect::default());
    let subscription = trail
        .bus
        .subscribe(SubscribeOptions::new("contract", "test"), collected.clone())
        .await
        .unwrap();
    let expected = trail.expected_events.len();
    tokio::time::timeout(Duration::from_secs(10), async {
        while collected.0.lock().unwrap().len() < expected {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every relayed event is delivered");
    subscription.stop().await;
    let events = collected.0.lock().unwrap().clone();
    let delivered: Vec<(String, Uuid, String)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.tenant, t);
            (
                e.event_type.clone(),
                e.payload["id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .expect("the payload names the target"),
                e.payload["actor"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(delivered, trail.expected_events);
    assert_eq!(
        events.iter().map(|e| e.id).collect::<HashSet<_>>().len(),
        events.len(),
        "event ids are unique"
    );
}

// ------------------------------------------------------------------ tenant isolation

async fn tenants_never_see_or_touch_each_others_rows(store: &dyn MembershipStore) {
    let a = seed_tenant(store, "alpha").await;
    let b = seed_tenant(store, "beta").await;
    let ta = a.id();
    let tb = b.id();
    let audit_a = all_audit(store, ta).await;
    let audit_b = all_audit(store, tb).await;
    let b_targets = b.target_ids();
    assert!(!audit_a.is_empty() && !audit_b.is_empty());

    // Reads by id: B's ids do not exist in A.
    assert_eq!(
        store
            .get_organisations(ta, &[b.organisation.id])
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.get_clusters(ta, &[b.cluster.id]).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .get_people(ta, &[b.lead.id, b.new_teacher.id])
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.get_people(ta, &[a.lead.id, b.lead.id]).await.unwrap(),
        vec![a.lead.clone()]
    );
    expect_not_found(
        store
            .person_by_email(ta, b.lead.contact.email.as_deref().unwrap())
            .await,
    );
    expect_not_found(store.get_role_grant(ta, b.grant.id).await);
    expect_not_found(store.get_consent(ta, b.consent.id).await);
    assert_eq!(
        store
            .consented(ta, SHARE_CONTACT_PURPOSE, &[b.lead.id, a.lead.id])
            .await
            .unwrap(),
        HashSet::from([a.lead.id])
    );
    assert_eq!(store.get_tenant(ta).await.unwrap(), a.tenant);

    // Unfiltered lists: exactly A's rows.
    let first = Page::first(50);
    assert_eq!(
        store
            .list_organisations(ta, &OrganisationFilter::default(), first)
            .await
            .unwrap()
            .0,
        vec![a.organisation.clone()]
    );
    assert_eq!(
        store
            .list_clusters(ta, &ClusterFilter::default(), first)
            .await
            .unwrap()
            .0,
        vec![a.cluster.clone()]
    );
    assert_eq!(
        ids(&all_people(store, ta).await, |p| p.id),
        sorted([a.lead.id, a.new_teacher.id])
    );
    let every_grant = RoleGrantFilter {
        include_revoked: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_role_grants(ta, &every_grant, first)
            .await
            .unwrap()
            .0,
        vec![a.grant.clone()]
    );
    assert_eq!(
        store.list_mentorships(ta, None, first).await.unwrap().0,
        vec![a.mentorship.clone()]
    );
    assert_eq!(
        store.list_panels(ta, first).await.unwrap().0,
        vec![a.panel.clone()]
    );
    let every_consent = ConsentFilter {
        include_withdrawn: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_consents(ta, &every_consent, first)
            .await
            .unwrap()
            .0,
        vec![a.consent.clone()]
    );
    let every_opt_out = OptOutFilter {
        include_withdrawn: true,
        ..Default::default()
    };
    assert_eq!(
        store
            .list_opt_outs(ta, &every_opt_out, first)
            .await
            .unwrap()
            .0,
        vec![a.opt_out.clone()]
    );
    assert!(
        audit_a.iter().all(|r| !b_targets.contains(&r.target_id)),
        "A's audit log names none of B's rows"
    );

    // Lists filtered by B's ids: empty.
    assert_eq!(
        store
            .list_clusters(
                ta,
                &ClusterFilter {
                    organisation_id: Some(b.organisation.id)
                },
                first
            )
            .await
            .unwrap()
            .0,
        vec![]
    );
    for filter in [
        PersonFilter {
            organisation_id: Some(b.organisation.id),
            ..Default::default()
        },
        PersonFilter {
            cluster_id: Some(b.cluster.id),
            ..Default::default()
        },
    ] {
        assert_eq!(
            store.list_people(ta, &filter, first).await.unwrap().0,
            vec![],
            "{filter:?}"
        );
    }
    for filter in [
        RoleGrantFilter {
            person_id: Some(b.lead.id),
            include_revoked: true,
            ..Default::default()
        },
        RoleGrantFilter {
            cluster_id: Some(b.cluster.id),
            include_revoked: true,
            ..Default::default()
        },
    ] {
        assert_eq!(
            store.list_role_grants(ta, &filter, first).await.unwrap().0,
            vec![],
            "{filter:?}"
        );
    }
    assert_eq!(
        store
            .list_mentorships(ta, Some(b.lead.id), first)
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(
        store
            .list_consents(
                ta,
                &ConsentFilter {
                    subject: Some(ConsentSubject::Person(b.lead.id)),
                    include_withdrawn: true
                },
                first
            )
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(
        store
            .list_opt_outs(
                ta,
                &OptOutFilter {
                    organisation_id: Some(b.organisation.id),
                    include_withdrawn: true
                },
                first
            )
            .await
            .unwrap()
            .0,
        vec![]
    );
    for target in &b_targets {
        assert_eq!(
            store.list_audit(ta, Some(target), first).await.unwrap().0,
            vec![],
            "audit of {target}"
        );
    }

    // Writes naming B's rows: not found, or refused as a reference.
    expect_not_found(
        store
            .update_organisation(
                ta,
                ACTOR,
                b.organisation.id,
                OrganisationPatch {
                    name: Some("Taken".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    expect_not_found(
        store
            .update_cluster(
                ta,
                ACTOR,
                b.cluster.id,
                ClusterPatch {
                    name: Some("Taken".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    expect_not_found(
        store
            .set_cluster_centre(ta, ACTOR, b.cluster.id, a.organisation.id, true)
            .await,
    );
    expect_not_found(
        store
            .set_cluster_centre(ta, ACTOR, b.cluster.id, b.organisation.id, false)
            .await,
    );
    expect_invalid(
        store
            .set_cluster_centre(ta, ACTOR, a.cluster.id, b.organisation.id, true)
            .await,
        &["organisation_id"],
    );
    expect_invalid(
        store
            .update_cluster(
                ta,
                ACTOR,
                a.cluster.id,
                ClusterPatch {
                    lead_person_id: Some(Some(b.lead.id)),
                    ..Default::default()
                },
            )
            .await,
        &["lead_person_id"],
    );
    expect_invalid(
        store
            .create_cluster(
                ta,
                ACTOR,
                new_cluster("Stolen", None, &[a.organisation.id, b.organisation.id]),
            )
            .await,
        &["centre_ids[1]"],
    );
    expect_invalid(
        store
            .create_cluster(ta, ACTOR, new_cluster("Stolen", Some(b.lead.id), &[]))
            .await,
        &["lead_person_id"],
    );
    expect_not_found(
        store
            .update_person(
                ta,
                ACTOR,
                b.lead.id,
                PersonPatch {
                    given_name: Some("Taken".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    expect_invalid(
        store
            .update_person(
                ta,
                ACTOR,
                a.lead.id,
                PersonPatch {
                    organisation_id: Some(Some(b.organisation.id)),
                    ..Default::default()
                },
            )
            .await,
        &["organisation_id"],
    );
    expect_invalid(
        store
            .create_person(
                ta,
                ACTOR,
                new_person("Spy", "Ware", None, Some(b.organisation.id)),
            )
            .await,
        &["organisation_id"],
    );
    expect_invalid(
        store
            .grant_role(ta, ACTOR, b.lead.id, Role::Teacher, None)
            .await,
        &["person_id"],
    );
    expect_invalid(
        store
            .grant_role(ta, ACTOR, a.lead.id, Role::Teacher, Some(b.cluster.id))
            .await,
        &["cluster_id"],
    );
    expect_not_found(store.revoke_role(ta, ACTOR, b.grant.id).await);
    expect_invalid(
        store
            .create_mentorship(
                ta,
                ACTOR,
                NewMentorship {
                    mentor_id: a.lead.id,
                    new_teacher_id: b.new_teacher.id,
                    starts_on: date("2026-09-01"),
                    planned_end_on: date("2028-09-01"),
                },
            )
            .await,
        &["new_teacher_id"],
    );
    expect_not_found(
        store
            .end_mentorship(ta, ACTOR, b.mentorship.id, date("2027-01-01"))
            .await,
    );
    expect_not_found(
        store
            .set_panel_member(ta, ACTOR, b.panel.id, a.lead.id, Some(Constituency::Family))
            .await,
    );
    expect_not_found(
        store
            .set_panel_member(ta, ACTOR, b.panel.id, b.new_teacher.id, None)
            .await,
    );
    expect_invalid(
        store
            .set_panel_member(ta, ACTOR, a.panel.id, b.lead.id, Some(Constituency::Family))
            .await,
        &["person_id"],
    );
    expect_invalid(
        store
            .record_consent(
                ta,
                NewConsent {
                    subject: ConsentSubject::Person(b.lead.id),
                    purpose: SHARE_CONTACT_PURPOSE.into(),
                    purpose_version: 1,
                    recorded_by: ACTOR.into(),
                    by_proxy: true,
                    remark: "form".into(),
                },
            )
            .await,
        &["subject.person_id"],
    );
    expect_invalid(
        store
            .record_consent(
                ta,
                NewConsent {
                    subject: ConsentSubject::Organisation(b.organisation.id),
                    purpose: SHARE_CONTACT_PURPOSE.into(),
                    purpose_version: 1,
                    recorded_by: ACTOR.into(),
                    by_proxy: true,
                    remark: "form".into(),
                },
            )
            .await,
        &["subject.organisation_id"],
    );
    expect_not_found(
        store
            .withdraw_consent(ta, ACTOR, b.consent.id, "taken")
            .await,
    );
    expect_invalid(
        store
            .record_opt_out(
                ta,
                ACTOR,
                NewResearchOptOut {
                    student_ref: "S-X".into(),
                    organisation_id: b.organisation.id,
                    recorded_for: "Parent".into(),
                },
            )
            .await,
        &["organisation_id"],
    );
    expect_not_found(store.withdraw_opt_out(ta, ACTOR, b.opt_out.id).await);

    // Nothing was written in either tenant, and B's rows are as seeded.
    assert_eq!(all_audit(store, ta).await, audit_a);
    assert_eq!(all_audit(store, tb).await, audit_b);
    assert_eq!(
        store
            .list_clusters(ta, &ClusterFilter::default(), first)
            .await
            .unwrap()
            .0,
        vec![a.cluster.clone()]
    );
    assert_eq!(store.get_tenant(tb).await.unwrap(), b.tenant);
    assert_eq!(
        store
            .get_organisations(tb, &[b.organisation.id])
            .await
            .unwrap(),
        vec![b.organisation.clone()]
    );
    assert_eq!(
        store.get_clusters(tb, &[b.cluster.id]).await.unwrap(),
        vec![b.cluster.clone()]
    );
    let mut b_people = vec![b.lead.clone(), b.new_teacher.clone()];
    b_people.sort_by_key(|p| p.id);
    assert_eq!(
        store
            .get_people(tb, &[b.lead.id, b.new_teacher.id])
            .await
            .unwrap(),
        b_people
    );
    assert_eq!(store.get_role_grant(tb, b.grant.id).await.unwrap(), b.grant);
    assert_eq!(
        store.list_mentorships(tb, None, first).await.unwrap().0,
        vec![b.mentorship.clone()]
    );
    assert_eq!(
        store.list_panels(tb, first).await.unwrap().0,
        vec![b.panel.clone()]
    );
    assert_eq!(
        store.get_consent(tb, b.consent.id).await.unwrap(),
        b.consent
    );
    assert_eq!(
        store
            .list_opt_outs(tb, &every_opt_out, first)
            .await
            .unwrap()
            .0,
        vec![b.opt_out.clone()]
    );
}

// ------------------------------------------------------------------ research agreements and disclosures

async fn research_agreements_are_checked_listed_and_revoked(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let rae = person(store, t, "Rae", None).await;
    let ravi = person(store, t, "Ravi", None).await;
    let mut trail = Trail::new(store, t);
    trail
        .seen
        .extend(all_audit(store, t).await.iter().map(|r| r.id));
    drain(store, &trail.bus).await;

    // Bad input names each field and writes nothing.
    expect_invalid(
        store
            .create_agreement(
                t,
                ACTOR,
                NewResearchAgreement {
                    title: " ".into(),
                    data_scope: Default::default(),
                    researcher_ids: vec![],
                    ends_on: date("2026-08-01"),
                    destroy_by: date("2026-07-01"),
                    ..new_agreement(&[rae.id])
                },
            )
            .await,
        &[
            "title",
            "data_scope",
            "researcher_ids",
            "ends_on",
            "destroy_by",
        ],
    );
    trail.expect_nothing("a bad agreement").await;
    // A researcher who is not a person of the tenant, after one who is.
    expect_invalid(
        store
            .create_agreement(t, ACTOR, new_agreement(&[rae.id, Uuid::now_v7()]))
            .await,
        &["researcher_ids[1]"],
    );
    trail.expect_nothing("an agreement naming a stranger").await;
    let listed = |filter: AgreementFilter| async move {
        all_pages(|page| store.list_agreements(t, &filter, page))
            .await
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(listed(AgreementFilter::default()).await, Vec::<Uuid>::new());

    let both = store
        .create_agreement(
            t,
            ACTOR,
            NewResearchAgreement {
                title: " Both of them ".into(),
                data_scope: [DataScope::Scores, DataScope::Attendance].into(),
                ..new_agreement(&[ravi.id, rae.id, ravi.id])
            },
        )
        .await
        .unwrap();
    trail
        .expect("research_agreement.created", both.id, ACTOR, false)
        .await;
    assert_eq!(both.title, "Both of them");
    assert_eq!(both.researcher_ids, sorted([rae.id, ravi.id]));
    assert_eq!(
        both.data_scope,
        [DataScope::Attendance, DataScope::Scores].into()
    );
    assert_eq!(
        (
            both.starts_on,
            both.ends_on,
            both.destroy_by,
            both.created_by.as_str()
        ),
        (
            date("2026-09-01"),
            date("2027-08-31"),
            date("2028-08-31"),
            ACTOR
        )
    );
    assert_eq!(store.get_agreement(t, both.id).await.unwrap(), both);
    let only_rae = store
        .create_agreement(t, ACTOR, new_agreement(&[rae.id]))
        .await
        .unwrap();
    trail
        .expect("research_agreement.created", only_rae.id, ACTOR, false)
        .await;

    assert_eq!(
        listed(AgreementFilter::default()).await,
        vec![both.id, only_rae.id]
    );
    let of = |p: Uuid| AgreementFilter {
        researcher_id: Some(p),
        include_revoked: false,
    };
    assert_eq!(listed(of(rae.id)).await, vec![both.id, only_rae.id]);
    assert_eq!(listed(of(ravi.id)).await, vec![both.id]);

    let revoked = store.revoke_agreement(t, ACTOR, both.id).await.unwrap();
    trail
        .expect("research_agreement.revoked", both.id, ACTOR, true)
        .await;
    assert!(revoked.revoked_at.is_some());
    assert_eq!(
        ResearchAgreement {
            revoked_at: None,
            ..revoked.clone()
        },
        both
    );
    expect_failed_precondition(store.revoke_agreement(t, ACTOR, both.id).await);
    expect_not_found(store.revoke_agreement(t, ACTOR, Uuid::now_v7()).await);
    expect_not_found(store.get_agreement(t, Uuid::now_v7()).await);
    trail.expect_nothing("refused revocations").await;
    assert_eq!(listed(AgreementFilter::default()).await, vec![only_rae.id]);
    assert_eq!(listed(of(ravi.id)).await, Vec::<Uuid>::new());
    assert_eq!(
        listed(AgreementFilter {
            researcher_id: Some(ravi.id),
            include_revoked: true
        })
        .await,
        vec![both.id]
    );
}

async fn an_agreement_covers_named_researchers_for_its_scope_between_its_dates(
    store: &dyn MembershipStore,
) {
    let t = tenant(store, "alpha").await;
    let rae = person(store, t, "Rae", None).await;
    let ravi = person(store, t, "Ravi", None).await;
    let a = store
        .create_agreement(t, ACTOR, new_agreement(&[rae.id]))
        .await
        .unwrap();
    let covering = |p: Uuid, scope: DataScope, day: &'static str| async move {
        store
            .covering_agreement(t, p, scope, date(day))
            .await
            .unwrap()
            .map(|a| a.id)
    };
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2026-08-31").await,
        None
    );
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2026-09-01").await,
        Some(a.id)
    );
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2027-08-31").await,
        Some(a.id)
    );
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2027-09-01").await,
        None
    );
    assert_eq!(
        covering(rae.id, DataScope::Attendance, "2026-10-01").await,
        None
    );
    assert_eq!(
        covering(ravi.id, DataScope::Scores, "2026-10-01").await,
        None
    );

    // Of two covering agreements, the one ending last; revoked, neither covers.
    let longer = store
        .create_agreement(
            t,
            ACTOR,
            NewResearchAgreement {
                data_scope: [DataScope::Membership, DataScope::Scores].into(),
                ends_on: date("2028-08-31"),
                ..new_agreement(&[rae.id, ravi.id])
            },
        )
        .await
        .unwrap();
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2026-10-01").await,
        Some(longer.id)
    );
    assert_eq!(
        covering(ravi.id, DataScope::Membership, "2026-10-01").await,
        Some(longer.id)
    );
    store.revoke_agreement(t, ACTOR, longer.id).await.unwrap();
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2026-10-01").await,
        Some(a.id)
    );
    assert_eq!(
        covering(ravi.id, DataScope::Scores, "2026-10-01").await,
        None
    );
    store.revoke_agreement(t, ACTOR, a.id).await.unwrap();
    assert_eq!(
        covering(rae.id, DataScope::Scores, "2026-10-01").await,
        None
    );
}

async fn disclosures_are_logged_only_under_a_covering_agreement(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let rae = person(store, t, "Rae", None).await;
    let ravi = person(store, t, "Ravi", None).await;
    let admin = person(store, t, "Ada", None).await;
    let a = store
        .create_agreement(t, ACTOR, new_agreement(&[rae.id]))
        .await
        .unwrap();
    let b = store
        .create_agreement(t, ACTOR, new_agreement(&[ravi.id]))
        .await
        .unwrap();
    let mut trail = Trail::new(store, t);
    trail
        .seen
        .extend(all_audit(store, t).await.iter().map(|r| r.id));
    drain(store, &trail.bus).await;
    let day = date("2026-10-01");

    // Refusals write nothing: another researcher's agreement, outside its
    // dates, another scope, no such agreement, no such recipient, bad input.
    for refused in [
        store
            .record_disclosure(t, ACTOR, new_disclosure(Some(b.id), rae.id, day))
            .await,
        store
            .record_disclosure(
                t,
                ACTOR,
                new_disclosure(Some(a.id), rae.id, date("2027-09-01")),
            )
            .await,
        store
            .record_disclosure(
                t,
                ACTOR,
                NewDisclosure {
                    scope: DataScope::Attendance,
                    ..new_disclosure(Some(a.id), rae.id, day)
                },
            )
            .await,
    ] {
        expect_failed_precondition(refused);
    }
    expect_invalid(
        store
            .record_disclosure(t, ACTOR, new_disclosure(Some(Uuid::now_v7()), rae.id, day))
            .await,
        &["agreement_id"],
    );
    expect_invalid(
        store
            .record_disclosure(t, ACTOR, new_disclosure(None, Uuid::now_v7(), day))
            .await,
        &["recipient_id"],
    );
    expect_invalid(
        store
            .record_disclosure(
                t,
                ACTOR,
                NewDisclosure {
                    dataset: "  ".into(),
                    ..new_disclosure(Some(a.id), rae.id, day)
                },
            )
            .await,
        &["dataset"],
    );
    trail.expect_nothing("refused disclosures").await;

    let first = store
        .record_disclosure(
            t,
            &rae.id.to_string(),
            new_disclosure(Some(a.id), rae.id, day),
        )
        .await
        .unwrap();
    trail
        .expect("disclosure.recorded", first.id, &rae.id.to_string(), false)
        .await;
    assert_eq!(
        (
            first.agreement_id,
            first.recipient_id,
            first.scope,
            first.dataset.as_str(),
            first.rows,
            first.excluded
        ),
        (
            Some(a.id),
            rae.id,
            DataScope::Scores,
            "scores, academic year 2026",
            7,
            1
        )
    );
    let second = store
        .record_disclosure(t, ACTOR, new_disclosure(Some(b.id), ravi.id, day))
        .await
        .unwrap();
    trail
        .expect("disclosure.recorded", second.id, ACTOR, false)
        .await;
    // A tenant admin's own extract has no agreement.
    let own = store
        .record_disclosure(
            t,
            ACTOR,
            NewDisclosure {
                rows: 0,
                excluded: 0,
                ..new_disclosure(None, admin.id, day)
            },
        )
        .await
        .unwrap();
    trail
        .expect("disclosure.recorded", own.id, ACTOR, false)
        .await;
    // Revoked, the agreement covers nothing more.
    store.revoke_agreement(t, ACTOR, a.id).await.unwrap();
    trail
        .expect("research_agreement.revoked", a.id, ACTOR, true)
        .await;
    expect_failed_precondition(
        store
            .record_disclosure(t, ACTOR, new_disclosure(Some(a.id), rae.id, day))
            .await,
    );
    trail
        .expect_nothing("a disclosure under a revoked agreement")
        .await;

    let listed = |filter: DisclosureFilter| async move {
        all_pages(|page| store.list_disclosures(t, &filter, page))
            .await
            .into_iter()
            .map(|d| d.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(DisclosureFilter::default()).await,
        vec![first.id, second.id, own.id]
    );
    assert_eq!(
        listed(DisclosureFilter {
            agreement_id: Some(a.id),
            ..Default::default()
        })
        .await,
        vec![first.id]
    );
    assert_eq!(
        listed(DisclosureFilter {
            recipient_id: Some(ravi.id),
            ..Default::default()
        })
        .await,
        vec![second.id]
    );
    assert_eq!(
        listed(DisclosureFilter {
            agreement_id: Some(a.id),
            recipient_id: Some(ravi.id),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    let at = second.disclosed_at;
    assert_eq!(
        listed(DisclosureFilter {
            from: Some(at),
            ..Default::default()
        })
        .await,
        vec![second.id, own.id]
    );
    assert_eq!(
        listed(DisclosureFilter {
            until: Some(at),
            ..Default::default()
        })
        .await,
        vec![first.id]
    );
    assert_eq!(
        listed(DisclosureFilter {
            from: Some(at + chrono::Duration::days(1)),
            ..Default::default()
        })
        .await,
        Vec::<Uuid>::new()
    );
    let (page, next) = store
        .list_disclosures(t, &DisclosureFilter::default(), Page::first(2))
        .await
        .unwrap();
    assert_eq!(ids(&page, |d| d.id), vec![first.id, second.id]);
    let (rest, done) = store
        .list_disclosures(
            t,
            &DisclosureFilter::default(),
            Page::new(2, &next).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((ids(&rest, |d| d.id), done.as_str()), (vec![own.id], ""));

    // The report: one line a disclosure.
    let all_disclosures = DisclosureFilter::default();
    let all = all_pages(|page| store.list_disclosures(t, &all_disclosures, page)).await;
    let csv = collegium_membership::domain::research::disclosures_csv(
        &all.iter()
            .map(|d| (d.clone(), String::new()))
            .collect::<Vec<_>>(),
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.contains(&format!(
            ",{},,{},scores,\"scores, academic year 2026\",7,1",
            rae.id, a.id
        )),
        "{csv}"
    );
    assert!(
        csv.contains(&format!(
            ",{},,,scores,\"scores, academic year 2026\",0,0",
            admin.id
        )),
        "{csv}"
    );
}

async fn tenants_never_see_each_others_agreements_or_disclosures(store: &dyn MembershipStore) {
    let a = seed_tenant(store, "alpha").await;
    let b = seed_tenant(store, "beta").await;
    let (ta, tb) = (a.id(), b.id());
    let day = date("2026-10-01");
    let audit_b = all_audit(store, tb).await;
    let no_filter = AgreementFilter::default();
    let all_disclosures = DisclosureFilter::default();

    // B's agreement and disclosure are not A's.
    expect_not_found(store.get_agreement(ta, b.agreement.id).await);
    expect_not_found(store.revoke_agreement(ta, ACTOR, b.agreement.id).await);
    let agreements = all_pages(|p| store.list_agreements(ta, &no_filter, p)).await;
    assert_eq!(ids(&agreements, |x| x.id), vec![a.agreement.id]);
    let of_b = AgreementFilter {
        researcher_id: Some(b.new_teacher.id),
        include_revoked: true,
    };
    assert_eq!(
        all_pages(|p| store.list_agreements(ta, &of_b, p)).await,
        vec![]
    );
    let disclosures = all_pages(|p| store.list_disclosures(ta, &all_disclosures, p)).await;
    assert_eq!(ids(&disclosures, |x| x.id), vec![a.disclosure.id]);
    for filter in [
        DisclosureFilter {
            agreement_id: Some(b.agreement.id),
            ..Default::default()
        },
        DisclosureFilter {
            recipient_id: Some(b.new_teacher.id),
            ..Default::default()
        },
    ] {
        assert_eq!(
            all_pages(|p| store.list_disclosures(ta, &filter, p)).await,
            vec![]
        );
    }
    // B's researcher is covered in B only.
    assert_eq!(
        store
            .covering_agreement(ta, b.new_teacher.id, DataScope::Scores, day)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .covering_agreement(tb, b.new_teacher.id, DataScope::Scores, day)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(b.agreement.id)
    );
    // Writes in A cannot use B's agreement or name B's people.
    expect_invalid(
        store
            .record_disclosure(
                ta,
                ACTOR,
                new_disclosure(Some(b.agreement.id), a.new_teacher.id, day),
            )
            .await,
        &["agreement_id"],
    );
    expect_invalid(
        store
            .record_disclosure(ta, ACTOR, new_disclosure(None, b.new_teacher.id, day))
            .await,
        &["recipient_id"],
    );
    expect_invalid(
        store
            .create_agreement(ta, ACTOR, new_agreement(&[b.new_teacher.id]))
            .await,
        &["researcher_ids[0]"],
    );
    // Nothing of that reached B, and B's agreement is still in force.
    assert_eq!(all_audit(store, tb).await, audit_b);
    assert_eq!(
        store.get_agreement(tb, b.agreement.id).await.unwrap(),
        b.agreement
    );
    let b_disclosures = all_pages(|p| store.list_disclosures(tb, &all_disclosures, p)).await;
    assert_eq!(b_disclosures, vec![b.disclosure.clone()]);
}

/// The ids in one array of an export document.
fn export_ids(doc: &serde_json::Value, key: &str) -> Vec<String> {
    doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is an array in {doc}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_persons_data_is_exported_whole_and_only_in_their_tenant(store: &dyn MembershipStore) {
    let a = seed_tenant(store, "alpha").await;
    let b = seed_tenant(store, "beta").await;
    let t = a.id();
    // An opt-out the lead recorded themselves.
    let own_opt_out = store
        .record_opt_out(
            t,
            &a.lead.id.to_string(),
            NewResearchOptOut {
                student_ref: "alpha-S-2".into(),
                organisation_id: a.organisation.id,
                recorded_for: "Parent of S-2".into(),
            },
        )
        .await
        .unwrap();

    let doc = store.export_person_data(t, a.lead.id).await.unwrap();
    assert_eq!(doc["service"], json!("membership"));
    assert_eq!(doc["person_id"], json!(a.lead.id.to_string()));
    assert_eq!(doc["person"]["given_name"], json!("Lena"));
    assert_eq!(doc["person"]["family_name"], json!("Lead"));
    assert_eq!(doc["erased_at"], json!(null));
    chrono::DateTime::parse_from_rfc3339(doc["exported_at"].as_str().unwrap())
        .expect("instants are RFC 3339");
    chrono::DateTime::parse_from_rfc3339(doc["person"]["created_at"].as_str().unwrap())
        .expect("instants are RFC 3339");
    assert_eq!(
        export_ids(&doc, "role_grants"),
        vec![a.grant.id.to_string()]
    );
    assert_eq!(export_ids(&doc, "consents"), vec![a.consent.id.to_string()]);
    assert_eq!(
        export_ids(&doc, "mentorships"),
        vec![a.mentorship.id.to_string()]
    );
    assert_eq!(
        export_ids(&doc, "research_opt_outs_recorded"),
        vec![own_opt_out.id.to_string()]
    );
    assert!(doc["panel_memberships"].as_array().unwrap().is_empty());
    assert!(doc["research_agreements"].as_array().unwrap().is_empty());
    assert!(doc["disclosures"].as_array().unwrap().is_empty());
    let audit = doc["audit_records"].as_array().unwrap();
    let lead = a.lead.id.to_string();
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == json!("person.created") && r["target_id"] == json!(lead)),
        "the audit record of their creation: {audit:#?}"
    );
    assert!(
        audit.iter().any(|r| r["actor"] == json!(lead)),
        "the audit records of what they did: {audit:#?}"
    );
    assert!(
        audit
            .iter()
            .all(|r| r["actor"] == json!(lead) || r["target_id"] == json!(lead)),
        "only records of or by them: {audit:#?}"
    );

    let doc = store.export_person_data(t, a.new_teacher.id).await.unwrap();
    assert_eq!(doc["person"]["given_name"], json!("Nico"));
    assert_eq!(
        doc["mentorships"][0]["id"],
        json!(a.mentorship.id.to_string())
    );
    assert_eq!(
        doc["panel_memberships"][0]["panel_id"],
        json!(a.panel.id.to_string())
    );
    assert_eq!(doc["panel_memberships"][0]["constituency"], json!("family"));
    assert_eq!(
        export_ids(&doc, "research_agreements"),
        vec![a.agreement.id.to_string()]
    );
    assert_eq!(
        export_ids(&doc, "disclosures"),
        vec![a.disclosure.id.to_string()]
    );
    assert!(export_ids(&doc, "role_grants").is_empty());
    assert!(export_ids(&doc, "consents").is_empty());

    // Another tenant's person is not found, and nothing of B's is in A's export.
    expect_not_found(store.export_person_data(b.id(), a.lead.id).await);
    expect_not_found(store.export_person_data(t, Uuid::now_v7()).await);
    let text = store
        .export_person_data(t, a.lead.id)
        .await
        .unwrap()
        .to_string();
    for other in b.target_ids() {
        assert!(!text.contains(&other), "B's {other} in A's export");
    }
}

async fn erasure_anonymises_a_person_keeps_records_and_is_idempotent(store: &dyn MembershipStore) {
    let a = seed_tenant(store, "alpha").await;
    let b = seed_tenant(store, "beta").await;
    let t = a.id();
    let lead = a.lead.id;
    let b_before = store.export_person_data(b.id(), b.lead.id).await.unwrap();
    let teacher_before = store.get_people(t, &[a.new_teacher.id]).await.unwrap();

    // B's admin asking for A's person: not found, nothing erased.
    expect_not_found(store.erase_person_data(b.id(), ACTOR, lead).await);
    expect_not_found(store.erase_person_data(t, ACTOR, Uuid::now_v7()).await);
    assert_eq!(store.get_people(t, &[lead]).await.unwrap()[0], a.lead);

    let mut trail = Trail::new(store, t);
    trail.seen = all_audit(store, t).await.iter().map(|r| r.id).collect();
    drain(store, &trail.bus).await;

    let counts = store.erase_person_data(t, ACTOR, lead).await.unwrap();
    let count = |k: &str| {
        counts
            .get(k)
            .copied()
            .unwrap_or_else(|| panic!("{k} in {counts:?}"))
    };
    assert_eq!(count("person"), 1);
    assert_eq!(count("role_grants_revoked"), 1);
    assert_eq!(count("consents_withdrawn"), 1);
    assert_eq!(count("mentorships_ended"), 1);
    assert_eq!(count("cluster_leads_cleared"), 1);
    assert!(count("audit_records_scrubbed") >= 1, "{counts:?}");
    trail.expect("person.erased", lead, ACTOR, false).await;
    let erased = all_audit(store, t)
        .await
        .into_iter()
        .find(|r| r.action == "person.erased")
        .unwrap();
    let text = serde_json::to_string(&erased).unwrap();
    assert!(
        !text.contains("Lena") && !text.contains("lena@"),
        "no personal data: {text}"
    );

    // The row anonymised and kept.
    let person = store.get_people(t, &[lead]).await.unwrap().remove(0);
    assert_eq!(
        (person.given_name.as_str(), person.family_name.as_str()),
        ("Erased", "person")
    );
    assert_eq!(person.contact, Contact::default());
    assert_eq!(
        (person.external_id.clone(), person.time_zone.clone()),
        (None, None)
    );
    assert!(!person.active);
    assert_eq!(person.organisation_id, a.lead.organisation_id);
    let doc = store.export_person_data(t, lead).await.unwrap();
    assert!(doc["erased_at"].is_string(), "erased_at set: {doc}");
    // Records kept without identity: grant revoked, consent withdrawn, mentorship ended.
    assert!(
        store
            .get_role_grant(t, a.grant.id)
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert!(
        store
            .get_consent(t, a.consent.id)
            .await
            .unwrap()
            .withdrawn_at
            .is_some()
    );
    let (mentorships, _) = store
        .list_mentorships(t, Some(lead), Page::first(10))
        .await
        .unwrap();
    assert_eq!(mentorships.len(), 1);
    assert!(mentorships[0].ended_on.is_some());
    let cluster = store
        .get_clusters(t, &[a.cluster.id])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(cluster.lead_person_id, None);
    // Audit records of the person kept, their snapshots scrubbed.
    let lead_s = lead.to_string();
    let of_lead = all_pages(|page| store.list_audit(t, Some(&lead_s), page)).await;
    assert!(of_lead.iter().any(|r| r.action == "person.created"));
    for r in &of_lead {
        if r.action != "person.erased" {
            assert_eq!((&r.before, &r.after), (&None, &None), "scrubbed: {r:#?}");
        }
    }
    let everything = serde_json::to_string(&all_audit(store, t).await).unwrap();
    assert!(
        !everything.contains("lena@alpha"),
        "the old e-mail is gone from the audit log"
    );

    // Again: zeros, and no second record.
    let again = store.erase_person_data(t, ACTOR, lead).await.unwrap();
    assert!(again.values().all(|&n| n == 0), "{again:?}");
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        counts.keys().collect::<Vec<_>>()
    );
    trail.expect_nothing("a second erasure").await;

    // Nobody else touched: the other person of A, and B.
    assert_eq!(
        store.get_people(t, &[a.new_teacher.id]).await.unwrap(),
        teacher_before
    );
    let b_after = store.export_person_data(b.id(), b.lead.id).await.unwrap();
    assert_eq!(b_after["person"], b_before["person"]);
    assert_eq!(b_after["role_grants"], b_before["role_grants"]);
    assert_eq!(b_after["consents"], b_before["consents"]);
    assert_eq!(b_after["mentorships"], b_before["mentorships"]);
    assert_eq!(b_after["audit_records"], b_before["audit_records"]);
}

// ------------------------------------------------------------------ retention

async fn retention_periods_default_set_keep_and_reset_each_audited(store: &dyn MembershipStore) {
    use platform::retention::Category;
    let t = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    assert_eq!(store.retention_periods(t).await.unwrap(), vec![]);

    store
        .set_retention_period(t, ACTOR, Category::AuditLog, Some(Some(400)))
        .await
        .unwrap();
    store
        .set_retention_period(t, ACTOR, Category::Notifications, Some(None))
        .await
        .unwrap();
    // The same value again changes (and audits) nothing.
    store
        .set_retention_period(t, ACTOR, Category::AuditLog, Some(Some(400)))
        .await
        .unwrap();
    let mut periods = store.retention_periods(t).await.unwrap();
    periods.sort();
    assert_eq!(
        periods,
        vec![
            (Category::Notifications, None),
            (Category::AuditLog, Some(400))
        ]
    );
    // Below the category's minimum: refused, nothing written.
    expect_invalid(
        store
            .set_retention_period(t, ACTOR, Category::AuditLog, Some(Some(30)))
            .await,
        &["days"],
    );
    // Reset: back to the default.
    store
        .set_retention_period(t, ACTOR, Category::AuditLog, None)
        .await
        .unwrap();
    assert_eq!(
        store.retention_periods(t).await.unwrap(),
        vec![(Category::Notifications, None)]
    );
    let audited: Vec<_> = all_audit(store, t)
        .await
        .into_iter()
        .filter(|r| r.action == "retention.period_set")
        .collect();
    assert_eq!(audited.len(), 3, "{audited:?}");
    assert_eq!(audited[0].after.as_ref().unwrap()["days"], json!(400));
    assert_eq!(audited[2].before.as_ref().unwrap()["days"], json!(400));
    assert_eq!(audited[2].after.as_ref().unwrap()["default"], json!(true));
    // The other tenant's policy is its own.
    assert_eq!(store.retention_periods(b).await.unwrap(), vec![]);
}

async fn people_inactive_before_the_cutoff_are_listed_for_erasure(store: &dyn MembershipStore) {
    let t = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    let deactivate = |id: Uuid, active: bool| async move {
        store
            .update_person(
                t,
                ACTOR,
                id,
                PersonPatch {
                    active: Some(active),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
    };
    let gone = person(store, t, "Gone", None).await;
    let back = person(store, t, "Back", None).await;
    // Active throughout: never listed.
    person(store, t, "Here", None).await;
    let erased = person(store, t, "Erased", None).await;
    let other = person(store, b, "Other", None).await;
    let before_any = chrono::Utc::now();
    deactivate(gone.id, false).await;
    deactivate(back.id, false).await;
    deactivate(back.id, true).await;
    deactivate(erased.id, false).await;
    store.erase_person_data(t, ACTOR, erased.id).await.unwrap();
    store
        .update_person(
            b,
            ACTOR,
            other.id,
            PersonPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after_all = chrono::Utc::now();
    // An edit while inactive does not restart the clock.
    store
        .update_person(
            t,
            ACTOR,
            gone.id,
            PersonPatch {
                given_name: Some("Still gone".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let expired = |tenant: TenantId, before| async move {
        all_pages(|p| store.expired_people(tenant, before, p)).await
    };
    assert_eq!(expired(t, before_any).await, Vec::<Uuid>::new());
    assert_eq!(expired(t, after_all).await, vec![gone.id]);
    assert_eq!(expired(b, after_all).await, vec![other.id]);
}

async fn retention_expires_only_the_tenants_audit_records_before_the_cutoff(
    store: &dyn MembershipStore,
) {
    use platform::retention::{Category, Cutoffs};
    let t = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    person(store, t, "Old", None).await;
    person(store, b, "Other", None).await;
    let mid = chrono::Utc::now();
    let kept = person(store, t, "New", None).await;
    let audit_a = all_audit(store, t).await;
    let audit_b = all_audit(store, b).await;
    let old = audit_a.iter().filter(|r| r.at < mid).count() as u64;
    assert!(old >= 1 && (old as usize) < audit_a.len(), "{audit_a:?}");

    let cutoffs = Cutoffs::new([(Category::AuditLog, mid), (Category::PublishedEvents, mid)]);
    let counts = |c: &[platform::retention::Count]| {
        c.iter()
            .map(|c| (c.category, c.kind.clone(), c.count))
            .collect::<Vec<_>>()
    };
    let dry = store
        .apply_retention(t, ACTOR, &cutoffs, true)
        .await
        .unwrap();
    assert_eq!(
        counts(&dry),
        vec![
            (Category::AuditLog, "audit_records".to_string(), old),
            // Nothing was handed to a bus here: unpublished events are never expired.
            (Category::PublishedEvents, "outbox_events".to_string(), 0),
        ]
    );
    assert_eq!(
        all_audit(store, t).await,
        audit_a,
        "a dry run changes nothing"
    );

    let done = store
        .apply_retention(t, ACTOR, &cutoffs, false)
        .await
        .unwrap();
    assert_eq!(counts(&done), counts(&dry));
    let after = all_audit(store, t).await;
    assert!(after.iter().all(|r| r.at >= mid), "{after:?}");
    assert!(after.iter().any(|r| r.target_id == kept.id.to_string()));
    let applied: Vec<_> = after
        .iter()
        .filter(|r| r.action == "retention.applied")
        .collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(
        (
            applied[0].target_kind.as_str(),
            applied[0].target_id.clone()
        ),
        ("tenant", t.0.to_string())
    );
    assert_eq!(
        applied[0].after.as_ref().unwrap()["counts"]["audit_log.audit_records"],
        json!(old)
    );
    // The other tenant keeps everything.
    assert_eq!(all_audit(store, b).await, audit_b);

    // Again: nothing left to expire.
    let again = store
        .apply_retention(t, ACTOR, &cutoffs, false)
        .await
        .unwrap();
    assert!(again.iter().all(|c| c.count == 0), "{again:?}");
}

async fn retention_runs_are_recorded_and_listed_newest_first(store: &dyn MembershipStore) {
    use collegium_membership::domain::retention::{ReportCount, ServiceReport};
    let t = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    let run = |dry_run: bool, error: Option<&str>| NewRetentionRun {
        dry_run,
        started_at: chrono::Utc::now(),
        cutoffs: [("audit_log".to_string(), "2025-10-21T03:00:00Z".to_string())].into(),
        reports: vec![ServiceReport {
            service: "scheduling".into(),
            dry_run,
            counts: vec![ReportCount {
                category: "audit_log".into(),
                kind: "audit_records".into(),
                action: "deleted".into(),
                count: 12,
            }],
        }],
        error: error.map(str::to_string),
    };
    let first = store
        .record_retention_run(t, ACTOR, run(true, None))
        .await
        .unwrap();
    let second = store
        .record_retention_run(
            t,
            "service:retention",
            run(false, Some("scoring: unavailable")),
        )
        .await
        .unwrap();
    assert_eq!(second.actor, "service:retention");
    assert_eq!(second.reports[0].counts[0].count, 12);
    let listed = all_pages(|p| store.list_retention_runs(t, p)).await;
    assert_eq!(listed, vec![second.clone(), first.clone()]);
    // Paging keeps the order.
    let (page1, next) = store
        .list_retention_runs(t, Page::new(1, "").unwrap())
        .await
        .unwrap();
    assert_eq!(page1, vec![second.clone()]);
    let (page2, _) = store
        .list_retention_runs(t, Page::new(1, &next).unwrap())
        .await
        .unwrap();
    assert_eq!(page2, vec![first.clone()]);
    assert!(
        all_audit(store, t)
            .await
            .iter()
            .any(|r| r.action == "retention.run_recorded" && r.target_id == first.id.to_string())
    );
    assert_eq!(
        all_pages(|p| store.list_retention_runs(b, p)).await,
        Vec::<RetentionRun>::new()
    );
}

async fn roster_uploads_are_shared_kept_as_they_ended_and_expire(store: &dyn MembershipStore) {
    use platform::retention::{Category, Cutoffs};
    let t = tenant(store, "alpha").await;
    let b = tenant(store, "beta").await;
    let before_any = chrono::Utc::now();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    for id in [first, second] {
        store
            .start_roster_upload(t, ACTOR, id, b"reading".to_vec(), json!({ "id": id }))
            .await
            .unwrap();
    }
    assert_eq!(
        store.running_roster_upload(t, before_any).await.unwrap(),
        Some(second)
    );
    assert_eq!(
        store.running_roster_upload(b, before_any).await.unwrap(),
        None
    );
    store
        .save_roster_upload(t, first, b"writing".to_vec(), false)
        .await
        .unwrap();
    store
        .save_roster_upload(t, first, b"finished".to_vec(), true)
        .await
        .unwrap();
    // Once finished it stays as it ended.
    store
        .save_roster_upload(t, first, b"late progress".to_vec(), false)
        .await
        .unwrap();
    let saved = store.get_roster_upload(t, first).await.unwrap().unwrap();
    assert_eq!(
        (saved.job.as_slice(), saved.finished),
        (&b"finished"[..], true)
    );
    // Newest first, and paged in that order.
    let listed = all_pages(|p| store.list_roster_uploads(t, p)).await;
    assert_eq!(
        listed.iter().map(|u| u.id).collect::<Vec<_>>(),
        [second, first]
    );
    let (page1, next) = store
        .list_roster_uploads(t, Page::new(1, "").unwrap())
        .await
        .unwrap();
    assert_eq!(page1[0].id, second);
    let (page2, _) = store
        .list_roster_uploads(t, Page::new(1, &next).unwrap())
        .await
        .unwrap();
    assert_eq!(page2[0].id, first);
    // Starting is audited, progress is not.
    let audited: Vec<_> = all_audit(store, t)
        .await
        .into_iter()
        .filter(|r| r.target_id == first.to_string())
        .map(|r| r.action)
        .collect();
    assert_eq!(audited, ["roster_upload.started"]);

    // Another tenant can neither read nor write them.
    assert_eq!(store.get_roster_upload(b, first).await.unwrap(), None);
    expect_not_found(
        store
            .save_roster_upload(b, first, b"hijack".to_vec(), true)
            .await,
    );
    assert_eq!(
        all_pages(|p| store.list_roster_uploads(b, p)).await,
        Vec::<collegium_membership::roster::RosterUpload>::new()
    );
    let b_upload = Uuid::now_v7();
    store
        .start_roster_upload(b, ACTOR, b_upload, b"b's".to_vec(), json!({}))
        .await
        .unwrap();

    // Retention: a cutoff before them keeps both; one after removes A's only.
    let counts = |c: Vec<platform::retention::Count>| {
        c.into_iter()
            .filter(|c| c.category == Category::RosterUploads)
            .map(|c| c.count)
            .collect::<Vec<_>>()
    };
    let early = Cutoffs::new([(Category::RosterUploads, before_any)]);
    assert_eq!(
        counts(
            store
                .apply_retention(t, ACTOR, &early, false)
                .await
                .unwrap()
        ),
        [0]
    );
    let late = Cutoffs::new([(
        Category::RosterUploads,
        chrono::Utc::now() + chrono::Duration::minutes(1),
    )]);
    assert_eq!(
        counts(store.apply_retention(t, ACTOR, &late, true).await.unwrap()),
        [2]
    );
    assert_eq!(
        all_pages(|p| store.list_roster_uploads(t, p)).await.len(),
        2
    );
    assert_eq!(
        counts(store.apply_retention(t, ACTOR, &late, false).await.unwrap()),
        [2]
    );
    assert_eq!(store.get_roster_upload(t, first).await.unwrap(), None);
    assert!(
        store
            .get_roster_upload(b, b_upload)
            .await
            .unwrap()
            .is_some()
    );
}
