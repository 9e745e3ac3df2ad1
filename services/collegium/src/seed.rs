//! Demo data for `collegium dev`: one tenant per programme of DESIGN.md §1,
//! with clusters, centres, people in every role, consent given and missing.
//! Written through the store, so it is audited like any other change.

use chrono::NaiveDate;
use collegium_membership::{
    MembershipStore,
    domain::{
        ConsentSubject, Constituency, Contact, NewCluster, NewConsent, NewMentorship,
        NewOrganisation, NewPerson, NewResearchOptOut, NewTenant, OrganisationKind,
        SHARE_CONTACT_PURPOSE, TenantKind, TenantSettings,
    },
};
use platform::auth::{Role, TenantId};
use uuid::Uuid;

const ACTOR: &str = "service:seed";

/// A demo login printed by `collegium dev`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DemoLogin {
    pub tenant_slug: String,
    pub label: String,
    pub email: String,
}

struct Seeder<'a> {
    store: &'a dyn MembershipStore,
    tenant: TenantId,
    slug: String,
    logins: Vec<DemoLogin>,
}

impl<'a> Seeder<'a> {
    async fn tenant(
        store: &'a dyn MembershipStore,
        slug: &str,
        name: &str,
        kind: TenantKind,
        settings: TenantSettings,
    ) -> anyhow::Result<Self> {
        let tenant = store
            .create_tenant(NewTenant {
                slug: slug.into(),
                name: name.into(),
                kind,
                settings,
            })
            .await?;
        Ok(Self {
            store,
            tenant: tenant.id,
            slug: slug.into(),
            logins: vec![],
        })
    }

    async fn org(
        &self,
        name: &str,
        kind: OrganisationKind,
        ext: &str,
        email: &str,
    ) -> anyhow::Result<Uuid> {
        Ok(self
            .store
            .create_organisation(
                self.tenant,
                ACTOR,
                NewOrganisation {
                    name: name.into(),
                    kind,
                    external_id: Some(ext.into()),
                    contact: Contact {
                        email: Some(email.into()),
                        phone: Some("+1 555 0100".into()),
                        address: None,
                    },
                },
            )
            .await?
            .id)
    }

    /// A person with `local@<slug>.example`; `login` makes it a printed demo login.
    async fn person(
        &mut self,
        given: &str,
        family: &str,
        local: &str,
        org: Option<Uuid>,
        login: Option<&str>,
    ) -> anyhow::Result<Uuid> {
        let email = format!("{local}@{}.example", self.slug);
        let id = self
            .store
            .create_person(
                self.tenant,
                ACTOR,
                NewPerson {
                    given_name: given.into(),
                    family_name: family.into(),
                    contact: Contact {
                        email: Some(email.clone()),
                        phone: Some(format!("+1 555 01{:02}", self.logins.len() + 10)),
                        address: None,
                    },
                    organisation_id: org,
                    external_id: Some(format!("{}-{local}", self.slug)),
                    time_zone: None,
                },
            )
            .await?
            .id;
        if let Some(label) = login {
            self.logins.push(DemoLogin {
                tenant_slug: self.slug.clone(),
                label: label.into(),
                email,
            });
        }
        Ok(id)
    }

    async fn grant(&self, person: Uuid, role: Role, cluster: Option<Uuid>) -> anyhow::Result<()> {
        self.store
            .grant_role(self.tenant, ACTOR, person, role, cluster)
            .await?;
        Ok(())
    }

    async fn cluster(&self, name: &str, lead: Uuid, centres: Vec<Uuid>) -> anyhow::Result<Uuid> {
        let id = self
            .store
            .create_cluster(
                self.tenant,
                ACTOR,
                NewCluster {
                    name: name.into(),
                    description: String::new(),
                    lead_person_id: Some(lead),
                    centre_ids: centres,
                },
            )
            .await?
            .id;
        self.grant(lead, Role::ClusterLead, Some(id)).await?;
        Ok(id)
    }

    async fn consent(&self, subject: ConsentSubject, by_proxy: bool) -> anyhow::Result<()> {
        self.store
            .record_consent(
                self.tenant,
                NewConsent {
                    subject,
                    purpose: SHARE_CONTACT_PURPOSE.into(),
                    purpose_version: 1,
                    recorded_by: ACTOR.into(),
                    by_proxy,
                    remark: if by_proxy {
                        "signed consent form received by post".into()
                    } else {
                        String::new()
                    },
                },
            )
            .await?;
        Ok(())
    }
}

fn settings(tz: &str, locale: &str, month: u32, day: u32) -> TenantSettings {
    TenantSettings {
        time_zone: tz.into(),
        locale: locale.into(),
        academic_year_start_month: month,
        academic_year_start_day: day,
    }
}

/// Seeds the three demo tenants unless any tenant exists. Returns the demo logins.
pub async fn seed_if_empty(store: &dyn MembershipStore) -> anyhow::Result<Vec<DemoLogin>> {
    if !store.list_tenants().await?.is_empty() {
        return Ok(vec![]);
    }
    let mut logins = district(store).await?;
    logins.extend(awarding_body(store).await?);
    logins.extend(partnership(store).await?);
    Ok(logins)
}

/// The writing-portfolio cluster network of a school district.
async fn district(store: &dyn MembershipStore) -> anyhow::Result<Vec<DemoLogin>> {
    let mut s = Seeder::tenant(
        store,
        "lakeside",
        "Lakeside School District",
        TenantKind::District,
        settings("America/Chicago", "en-US", 8, 1),
    )
    .await?;
    use OrganisationKind::*;
    let office = s
        .org(
            "Lakeside District Office",
            DistrictOffice,
            "LSD-000",
            "office@lakeside.example",
        )
        .await?;
    let schools = [
        s.org(
            "Maple Elementary",
            School,
            "LSD-101",
            "maple@lakeside.example",
        )
        .await?,
        s.org(
            "Birch Middle School",
            School,
            "LSD-201",
            "birch@lakeside.example",
        )
        .await?,
        s.org(
            "Cedar High School",
            School,
            "LSD-301",
            "cedar@lakeside.example",
        )
        .await?,
        s.org(
            "Aspen Elementary",
            School,
            "LSD-102",
            "aspen@lakeside.example",
        )
        .await?,
    ];
    let dac = s
        .person(
            "Dana",
            "Alvarez",
            "dac",
            Some(office),
            Some("District Assessment Coordinator (tenant admin)"),
        )
        .await?;
    s.grant(dac, Role::TenantAdmin, None).await?;
    let lead_n = s
        .person(
            "Lee",
            "Nakamura",
            "lead.north",
            Some(schools[0]),
            Some("Cluster Leader, North cluster"),
        )
        .await?;
    let lead_s = s
        .person("Sam", "Okafor", "lead.south", Some(schools[2]), None)
        .await?;
    let north = s
        .cluster(
            "North Writing Cluster",
            lead_n,
            vec![schools[0], schools[1]],
        )
        .await?;
    let south = s
        .cluster(
            "South Writing Cluster",
            lead_s,
            vec![schools[2], schools[3]],
        )
        .await?;
    let teachers = [
        (
            "Tess",
            "Morgan",
            "teacher.maple",
            0,
            north,
            Some("Cluster Teacher, Maple Elementary"),
        ),
        ("Omar", "Haddad", "omar.haddad", 0, north, None),
        ("Priya", "Raman", "priya.raman", 1, north, None),
        // North's scorers besides the three above (see seed_scoring.rs):
        // Grace qualifies, Malik attends the training but fails the
        // qualifying set, Rosa misses the training.
        ("Grace", "Lin", "grace.lin", 1, north, None),
        ("Malik", "Johnson", "malik.johnson", 1, north, None),
        ("Rosa", "Delgado", "rosa.delgado", 0, north, None),
        ("Jon", "Kowalski", "jon.kowalski", 2, south, None),
        ("Ana", "Silva", "ana.silva", 3, south, None),
    ];
    for (given, family, local, school, cluster, login) in teachers {
        let t = s
            .person(given, family, local, Some(schools[school]), login)
            .await?;
        s.grant(t, Role::Teacher, Some(cluster)).await?;
    }
    for (i, school) in schools.iter().enumerate() {
        let bac = s
            .person(
                "Building",
                &format!("Coordinator {}", i + 1),
                &format!("bac{}", i + 1),
                Some(*school),
                None,
            )
            .await?;
        s.grant(bac, Role::BuildingCoordinator, None).await?;
        let principal = s
            .person(
                "Principal",
                &format!("of school {}", i + 1),
                &format!("principal{}", i + 1),
                Some(*school),
                None,
            )
            .await?;
        s.grant(principal, Role::Principal, None).await?;
    }
    let observer = s
        .person(
            "Olive",
            "Watts",
            "observer",
            Some(office),
            Some("Observer (read only)"),
        )
        .await?;
    s.grant(observer, Role::Observer, None).await?;
    // A family's research opt-out for one of the demo portfolios: research
    // extracts of the scored year leave this student out.
    store
        .record_opt_out(
            s.tenant,
            ACTOR,
            NewResearchOptOut {
                student_ref: crate::seed_scoring::OPTED_OUT_STUDENT.into(),
                organisation_id: schools[0],
                recorded_for: "Parent, by signed form".into(),
            },
        )
        .await?;
    Ok(s.logins)
}

/// Language-qualification cluster support groups of an awarding body.
async fn awarding_body(store: &dyn MembershipStore) -> anyhow::Result<Vec<DemoLogin>> {
    let mut s = Seeder::tenant(
        store,
        "northern-awards",
        "Northern Language Awards",
        TenantKind::AwardingBody,
        settings("Europe/London", "en-GB", 9, 1),
    )
    .await?;
    let hq = s
        .org(
            "Northern Language Awards",
            OrganisationKind::DistrictOffice,
            "NLA-HQ",
            "support@northern-awards.example",
        )
        .await?;
    let admin = s
        .person(
            "Ruth",
            "Bennett",
            "admin",
            Some(hq),
            Some("Awarding body administrator (tenant admin)"),
        )
        .await?;
    s.grant(admin, Role::TenantAdmin, None).await?;
    let mut centres = vec![];
    let towns = [
        "Leeds",
        "York",
        "Hull",
        "Bradford",
        "Harrogate",
        "Wakefield",
        "Halifax",
        "Huddersfield",
        "Ripon",
        "Selby",
    ];
    for (i, town) in towns.iter().enumerate() {
        let slug = town.to_lowercase();
        let c = s
            .org(
                &format!("{town} Language Centre"),
                OrganisationKind::Centre,
                &format!("C{:05}", 10_000 + i),
                &format!("office@{slug}-centre.example"),
            )
            .await?;
        centres.push(c);
    }
    let coord_a = s
        .person(
            "Grace",
            "Holloway",
            "coordinator.leeds",
            Some(centres[0]),
            Some("Cluster Coordinator, West Yorkshire (consent given)"),
        )
        .await?;
    let coord_b = s
        .person(
            "Tom",
            "Ashworth",
            "coordinator.york",
            Some(centres[1]),
            None,
        )
        .await?;
    let west = s
        .cluster("West Yorkshire Cluster", coord_a, centres[..5].to_vec())
        .await?;
    let east = s
        .cluster("North & East Cluster", coord_b, centres[5..].to_vec())
        .await?;
    // Consent on record for one coordinator and half the centres; missing for the rest.
    s.consent(ConsentSubject::Person(coord_a), false).await?;
    for c in centres.iter().step_by(2) {
        s.consent(ConsentSubject::Organisation(*c), true).await?;
    }
    for (i, centre) in centres.iter().enumerate() {
        let cluster = if i < 5 { west } else { east };
        let login = (i == 3).then_some("Teacher at Bradford centre (no consent given)");
        let t = s
            .person(
                "Teacher",
                towns[i],
                &format!("teacher.{}", towns[i].to_lowercase()),
                Some(*centre),
                login,
            )
            .await?;
        s.grant(t, Role::Teacher, Some(cluster)).await?;
    }
    Ok(s.logins)
}

/// An innovation & induction research–practice partnership.
async fn partnership(store: &dyn MembershipStore) -> anyhow::Result<Vec<DemoLogin>> {
    let mut s = Seeder::tenant(
        store,
        "riverside-rpp",
        "Riverside Research–Practice Partnership",
        TenantKind::ResearchPartnership,
        settings("America/Los_Angeles", "en-US", 7, 1),
    )
    .await?;
    use OrganisationKind::*;
    let office = s
        .org(
            "Riverside Unified District Office",
            DistrictOffice,
            "RUSD-0",
            "office@riverside-rpp.example",
        )
        .await?;
    let uni = s
        .org(
            "Riverside State University",
            University,
            "RSU",
            "research@riverside-rpp.example",
        )
        .await?;
    let schools = [
        s.org(
            "Harbor View Elementary",
            School,
            "RUSD-11",
            "harbor@riverside-rpp.example",
        )
        .await?,
        s.org(
            "Mission Middle School",
            School,
            "RUSD-21",
            "mission@riverside-rpp.example",
        )
        .await?,
        s.org(
            "Eastside High School",
            School,
            "RUSD-31",
            "eastside@riverside-rpp.example",
        )
        .await?,
    ];
    let admin = s
        .person(
            "Carmen",
            "Ruiz",
            "admin",
            Some(office),
            Some("Partnership administrator (tenant admin)"),
        )
        .await?;
    s.grant(admin, Role::TenantAdmin, None).await?;
    let chief = s
        .person(
            "Marcus",
            "Bell",
            "chief.academic",
            Some(office),
            Some("Chief Academic Officer, cluster lead"),
        )
        .await?;
    let cluster = s
        .cluster("Innovation Cluster", chief, schools.to_vec())
        .await?;
    let researcher = s
        .person(
            "Helen",
            "Park",
            "researcher",
            Some(uni),
            Some("Researcher (data team)"),
        )
        .await?;
    s.grant(researcher, Role::Researcher, None).await?;
    // The data team's agreement: scores, this academic year, destroyed a
    // year after it ends (so Helen's extracts are covered and logged).
    s.store
        .create_agreement(
            s.tenant,
            ACTOR,
            collegium_membership::domain::research::NewResearchAgreement {
                title: "Induction and scoring study".into(),
                purpose: "How the induction programme relates to portfolio scores".into(),
                data_scope: [collegium_membership::domain::research::DataScope::Scores].into(),
                researcher_ids: vec![researcher],
                starts_on: NaiveDate::from_ymd_opt(2026, 8, 1).expect("valid date"),
                ends_on: NaiveDate::from_ymd_opt(2027, 7, 31).expect("valid date"),
                destroy_by: NaiveDate::from_ymd_opt(2028, 7, 31).expect("valid date"),
            },
        )
        .await?;
    let starts = NaiveDate::from_ymd_opt(2026, 8, 17).expect("valid date");
    for (i, school) in schools.iter().enumerate() {
        let mentor = s
            .person(
                "Master",
                &format!("Teacher {}", i + 1),
                &format!("mentor{}", i + 1),
                Some(*school),
                (i == 0).then_some("Master teacher (mentor)"),
            )
            .await?;
        s.grant(mentor, Role::Mentor, Some(cluster)).await?;
        s.grant(mentor, Role::Teacher, Some(cluster)).await?;
        let novice = s
            .person(
                "New",
                &format!("Teacher {}", i + 1),
                &format!("new.teacher{}", i + 1),
                Some(*school),
                (i == 0).then_some("New teacher in induction"),
            )
            .await?;
        s.grant(novice, Role::NewTeacher, Some(cluster)).await?;
        store
            .create_mentorship(
                s.tenant,
                ACTOR,
                NewMentorship {
                    mentor_id: mentor,
                    new_teacher_id: novice,
                    starts_on: starts,
                    planned_end_on: collegium_membership::domain::validate::induction_end(starts),
                },
            )
            .await?;
    }
    let panel = store
        .create_panel(
            s.tenant,
            ACTOR,
            "Standing Advisory Panel",
            "Sets the partnership's research priorities",
        )
        .await?
        .id;
    let members = [
        ("Helen", "Park", Constituency::Researcher, Some(researcher)),
        ("Marcus", "Bell", Constituency::DistrictLeader, Some(chief)),
        ("Board", "Member", Constituency::BoardMember, None),
        ("Family", "Representative", Constituency::Family, None),
        ("Student", "Representative", Constituency::Student, None),
        ("Union", "Representative", Constituency::Union, None),
        ("Community", "Member", Constituency::Community, None),
    ];
    for (i, (given, family, constituency, existing)) in members.into_iter().enumerate() {
        let person = match existing {
            Some(p) => p,
            None => {
                let p = s
                    .person(given, family, &format!("panel{}", i + 1), None, None)
                    .await?;
                s.grant(p, Role::PanelMember, None).await?;
                p
            }
        };
        store
            .set_panel_member(s.tenant, ACTOR, panel, person, Some(constituency))
            .await?;
    }
    for (i, school) in schools.iter().enumerate() {
        store
            .record_opt_out(
                s.tenant,
                ACTOR,
                NewResearchOptOut {
                    student_ref: format!("S-{:06}", 4711 + i),
                    organisation_id: *school,
                    recorded_for: "Parent, by signed form".into(),
                },
            )
            .await?;
    }
    Ok(s.logins)
}
