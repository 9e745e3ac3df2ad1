//! A realistic academic year of events for the demo tenants, written through
//! the scheduling service's own gRPC API with the tenant admin's token (and
//! each teacher's own token for their RSVPs), so the demo data passes the
//! same rules as anything a person enters.
//!
//! The year is 2026/27 around "today" (late November 2026): trainings and
//! the first network meetings have been held with attendance recorded; later
//! meetings, a monthly study group across the DST change and the spring
//! scoring sessions are published with invitations and RSVPs.

use collegium_membership::{
    MembershipStore,
    domain::{PersonFilter, Tenant, TenantKind},
};
use collegium_proto::scheduling::v1::{
    self as pb, scheduling_service_client::SchedulingServiceClient,
};
use platform::{
    auth::{Grant, PersonId, Role, TokenSigner},
    grpc::ForwardCaller,
    page::Page,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

type Client = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

struct Ctx<'a> {
    store: &'a dyn MembershipStore,
    signer: &'a TokenSigner,
    channel: Channel,
    tenant: Tenant,
}

struct ClusterPeople {
    id: Uuid,
    lead: Option<Uuid>,
    teachers: Vec<Uuid>,
}

impl Ctx<'_> {
    async fn client_for(&self, person: Uuid) -> anyhow::Result<Client> {
        let (grants, _) = self
            .store
            .list_role_grants(
                self.tenant.id,
                &collegium_membership::domain::RoleGrantFilter {
                    person_id: Some(person),
                    ..Default::default()
                },
                Page::first(100),
            )
            .await?;
        let grants: Vec<Grant> = grants
            .into_iter()
            .map(|g| Grant {
                role: g.role,
                cluster: g.cluster_id,
            })
            .collect();
        let token = self.signer.person_token(
            self.tenant.id,
            PersonId(person),
            &grants,
            chrono::Duration::minutes(10),
        );
        Ok(SchedulingServiceClient::with_interceptor(
            self.channel.clone(),
            ForwardCaller::new(&token)?,
        ))
    }

    async fn people(&self, filter: PersonFilter) -> anyhow::Result<Vec<Uuid>> {
        let (people, _) = self
            .store
            .list_people(self.tenant.id, &filter, Page::first(500))
            .await?;
        Ok(people.into_iter().map(|p| p.id).collect())
    }

    async fn admin(&self) -> anyhow::Result<Uuid> {
        self.people(PersonFilter {
            role: Some(Role::TenantAdmin),
            ..Default::default()
        })
        .await?
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("{} has no tenant admin", self.tenant.slug))
    }

    async fn clusters(&self) -> anyhow::Result<Vec<ClusterPeople>> {
        let (clusters, _) = self
            .store
            .list_clusters(self.tenant.id, &Default::default(), Page::first(100))
            .await?;
        let mut out = vec![];
        for c in clusters {
            let teachers = self
                .people(PersonFilter {
                    cluster_id: Some(c.id),
                    role: Some(Role::Teacher),
                    ..Default::default()
                })
                .await?;
            out.push(ClusterPeople {
                id: c.id,
                lead: c.lead_person_id,
                teachers,
            });
        }
        Ok(out)
    }
}

/// One event to create: local times in the tenant's zone.
struct Plan<'a> {
    kind: pb::EventKind,
    cluster: Option<Uuid>,
    title: &'a str,
    agenda: &'a str,
    starts: &'a str,
    ends: &'a str,
    venue: Option<&'a str>,
    online_url: &'a str,
    capacity: u32,
    training_hours: u32,
    prepares_for: Option<&'a str>,
    rrule: &'a str,
}

impl Default for Plan<'_> {
    fn default() -> Self {
        Self {
            kind: pb::EventKind::NetworkMeeting,
            cluster: None,
            title: "",
            agenda: "",
            starts: "",
            ends: "",
            venue: None,
            online_url: "",
            capacity: 0,
            training_hours: 0,
            prepares_for: None,
            rrule: "",
        }
    }
}

async fn create(admin: &mut Client, tz: &str, plan: Plan<'_>) -> anyhow::Result<Vec<pb::Event>> {
    let event = admin
        .create_event(pb::CreateEventRequest {
            kind: plan.kind as i32,
            cluster_id: plan.cluster.map(|c| c.to_string()),
            title: plan.title.into(),
            agenda: plan.agenda.into(),
            starts_local: plan.starts.into(),
            ends_local: plan.ends.into(),
            time_zone: tz.into(),
            venue_id: plan.venue.map(str::to_string),
            online_url: plan.online_url.into(),
            capacity: plan.capacity,
            approval_required: false,
            training_hours: plan.training_hours,
            prepares_for_event_id: plan.prepares_for.map(str::to_string),
            rrule: plan.rrule.into(),
            exdates_local: vec![],
            publish: true,
        })
        .await?
        .into_inner();
    match &event.series_id {
        Some(series) => {
            let page = admin
                .list_events(pb::ListEventsRequest {
                    page: Some(collegium_proto::common::v1::PageRequest {
                        page_size: 500,
                        page_token: String::new(),
                    }),
                    include_drafts: true,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(page
                .events
                .into_iter()
                .filter(|e| e.series_id.as_deref() == Some(series))
                .collect())
        }
        None => Ok(vec![event]),
    }
}

/// Attendance for a held event: everyone present except `absent`.
async fn attended(
    admin: &mut Client,
    event: &pb::Event,
    people: &[Uuid],
    absent: &[Uuid],
) -> anyhow::Result<()> {
    let marks = people
        .iter()
        .map(|p| pb::AttendanceMark {
            person_id: p.to_string(),
            status: if absent.contains(p) {
                pb::AttendanceStatus::NoShow
            } else {
                pb::AttendanceStatus::Present
            } as i32,
        })
        .collect();
    admin
        .record_attendance(pb::RecordAttendanceRequest {
            event_id: event.id.clone(),
            marks,
        })
        .await?;
    Ok(())
}

/// Invites a cluster and has its teachers answer.
async fn invite_and_answer(
    ctx: &Ctx<'_>,
    admin: &mut Client,
    event: &pb::Event,
    cluster: &ClusterPeople,
) -> anyhow::Result<()> {
    admin
        .invite(pb::InviteRequest {
            event_id: event.id.clone(),
            audiences: vec![pb::Audience {
                audience: Some(pb::audience::Audience::ClusterId(cluster.id.to_string())),
            }],
        })
        .await?;
    for (i, teacher) in cluster.teachers.iter().enumerate() {
        let response = match i % 4 {
            3 => pb::RsvpStatus::Tentative,
            2 if i > 4 => pb::RsvpStatus::Declined,
            _ => pb::RsvpStatus::Accepted,
        };
        ctx.client_for(*teacher)
            .await?
            .rsvp(pb::RsvpRequest {
                event_id: event.id.clone(),
                response: response as i32,
            })
            .await?;
    }
    Ok(())
}

/// Seeds the year unless the scheduling service already has events.
pub async fn seed_if_empty(
    store: &dyn MembershipStore,
    signer: &TokenSigner,
    scheduling_url: &str,
) -> anyhow::Result<bool> {
    let channel = platform::grpc::channel(scheduling_url)?;
    let mut seeded = false;
    for tenant in store.list_tenants().await? {
        let ctx = Ctx {
            store,
            signer,
            channel: channel.clone(),
            tenant,
        };
        let mut admin = ctx.client_for(ctx.admin().await?).await?;
        let existing = admin
            .list_events(pb::ListEventsRequest {
                include_drafts: true,
                include_cancelled: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        if !existing.events.is_empty() {
            continue;
        }
        match ctx.tenant.kind {
            TenantKind::District => district(&ctx, &mut admin).await?,
            TenantKind::AwardingBody => awarding_body(&ctx, &mut admin).await?,
            TenantKind::ResearchPartnership => partnership(&ctx, &mut admin).await?,
        }
        seeded = true;
    }
    Ok(seeded)
}

async fn district(ctx: &Ctx<'_>, admin: &mut Client) -> anyhow::Result<()> {
    let tz = ctx.tenant.settings.time_zone.clone();
    let venue = admin
        .create_venue(pb::CreateVenueRequest {
            name: "District Professional Development Center".into(),
            address: "400 Lake Street, Room 210".into(),
            capacity: 40,
            buffer_minutes: 30,
        })
        .await?
        .into_inner()
        .id;
    let clusters = ctx.clusters().await?;
    let leads: Vec<Uuid> = clusters.iter().filter_map(|c| c.lead).collect();

    let regional = create(admin, &tz, Plan {
        kind: pb::EventKind::LeaderTraining,
        title: "Regional Cluster Leader Training 2026/27",
        agenda: "This year's rubric changes; running a 6-hour scoring training; record keeping.",
        starts: "2026-09-15T09:00",
        ends: "2026-09-15T15:00",
        venue: Some(&venue),
        ..Default::default()
    })
    .await?;
    attended(admin, &regional[0], &leads, &[]).await?;
    let recording = create(
        admin,
        &tz,
        Plan {
            kind: pb::EventKind::RecordingViewing,
            title: "Viewing: 2026/27 scoring-training recording",
            starts: "2026-09-22T16:00",
            ends: "2026-09-22T17:30",
            online_url: "https://video.lakeside.example/scoring-training-2026",
            ..Default::default()
        },
    )
    .await?;
    attended(admin, &recording[0], &leads, &[]).await?;

    for (i, cluster) in clusters.iter().enumerate() {
        let name = if i == 0 { "North" } else { "South" };
        let session = create(
            admin,
            &tz,
            Plan {
                kind: pb::EventKind::ScoringSession,
                cluster: Some(cluster.id),
                title: &format!("{name} cluster portfolio scoring session"),
                agenda: "Score grade 4 and 7 writing portfolios against the rubric and anchors.",
                starts: if i == 0 {
                    "2026-11-10T08:30"
                } else {
                    "2027-02-10T08:30"
                },
                ends: if i == 0 {
                    "2026-11-10T15:30"
                } else {
                    "2027-02-10T15:30"
                },
                venue: Some(&venue),
                capacity: 30,
                ..Default::default()
            },
        )
        .await?;
        let training = create(
            admin,
            &tz,
            Plan {
                kind: pb::EventKind::ScoringTraining,
                cluster: Some(cluster.id),
                title: &format!("{name} cluster scoring training (6 hours)"),
                agenda: "Rubric, anchor papers, practice scoring, qualifying set.",
                starts: if i == 0 {
                    "2026-10-27T09:00"
                } else {
                    "2027-01-27T09:00"
                },
                ends: if i == 0 {
                    "2026-10-27T15:00"
                } else {
                    "2027-01-27T15:00"
                },
                venue: Some(&venue),
                capacity: 30,
                training_hours: 6,
                prepares_for: Some(&session[0].id),
                ..Default::default()
            },
        )
        .await?;
        let meeting_fall = create(
            admin,
            &tz,
            Plan {
                cluster: Some(cluster.id),
                title: &format!("{name} cluster network meeting (fall)"),
                agenda: "Newsletter, study groups, professional library.",
                starts: if i == 0 {
                    "2026-10-08T16:00"
                } else {
                    "2026-10-15T16:00"
                },
                ends: if i == 0 {
                    "2026-10-08T17:30"
                } else {
                    "2026-10-15T17:30"
                },
                venue: Some(&venue),
                ..Default::default()
            },
        )
        .await?;
        let mut people = cluster.teachers.clone();
        people.extend(cluster.lead);
        if i == 0 {
            // North held its fall training; one teacher missed it, so the
            // compliance view shows a scorer at risk.
            let absent = cluster
                .teachers
                .last()
                .copied()
                .into_iter()
                .collect::<Vec<_>>();
            attended(admin, &training[0], &people, &absent).await?;
            attended(
                admin,
                &session[0],
                &cluster.teachers[..cluster.teachers.len() - 1],
                &[],
            )
            .await?;
        } else {
            invite_and_answer(ctx, admin, &training[0], cluster).await?;
            invite_and_answer(ctx, admin, &session[0], cluster).await?;
        }
        attended(admin, &meeting_fall[0], &people, &[]).await?;
        let meeting_spring = create(
            admin,
            &tz,
            Plan {
                cluster: Some(cluster.id),
                title: &format!("{name} cluster network meeting (spring)"),
                starts: if i == 0 {
                    "2027-03-10T16:00"
                } else {
                    "2027-03-17T16:00"
                },
                ends: if i == 0 {
                    "2027-03-10T17:30"
                } else {
                    "2027-03-17T17:30"
                },
                venue: Some(&venue),
                ..Default::default()
            },
        )
        .await?;
        invite_and_answer(ctx, admin, &meeting_spring[0], cluster).await?;
    }
    // A monthly study group across the November DST change.
    if let Some(north) = clusters.first() {
        let series = create(
            admin,
            &tz,
            Plan {
                kind: pb::EventKind::StudyGroup,
                cluster: Some(north.id),
                title: "Writing study group",
                agenda: "This month's chapter from the professional library.",
                starts: "2026-10-14T16:00",
                ends: "2026-10-14T17:00",
                online_url: "https://meet.lakeside.example/study-group",
                rrule: "FREQ=MONTHLY;BYDAY=2WE;COUNT=8",
                ..Default::default()
            },
        )
        .await?;
        if let Some(first) = series.first() {
            attended(admin, first, &north.teachers, &[]).await?;
        }
        if let Some(next) = series.iter().find(|e| e.starts_at.as_str() > "2026-12") {
            invite_and_answer(ctx, admin, next, north).await?;
        }
    }
    Ok(())
}

async fn awarding_body(ctx: &Ctx<'_>, admin: &mut Client) -> anyhow::Result<()> {
    let tz = ctx.tenant.settings.time_zone.clone();
    let clusters = ctx.clusters().await?;
    let leads: Vec<Uuid> = clusters.iter().filter_map(|c| c.lead).collect();
    let training = create(
        admin,
        &tz,
        Plan {
            kind: pb::EventKind::LeaderTraining,
            title: "Cluster Coordinator annual training (free)",
            agenda: "Running network meetings; this year's resource materials; expenses.",
            starts: "2026-09-19T10:00",
            ends: "2026-09-19T16:00",
            online_url: "https://meet.northern-awards.example/coordinators",
            ..Default::default()
        },
    )
    .await?;
    attended(admin, &training[0], &leads, &[]).await?;
    for (i, cluster) in clusters.iter().enumerate() {
        let venue = admin
            .create_venue(pb::CreateVenueRequest {
                name: format!("Cluster {} meeting room", i + 1),
                address: if i == 0 {
                    "Leeds Language Centre, Room 4".into()
                } else {
                    "York Language Centre, Hall B".into()
                },
                capacity: 25,
                buffer_minutes: 15,
            })
            .await?
            .into_inner()
            .id;
        let mut people = cluster.teachers.clone();
        people.extend(cluster.lead);
        if i == 0 {
            // West held one meeting and planned the second: "at risk" until it is held.
            let held = create(
                admin,
                &tz,
                Plan {
                    cluster: Some(cluster.id),
                    title: "Autumn network meeting",
                    agenda: "Speaking assessment: this year's resource pack.",
                    starts: "2026-10-15T14:00",
                    ends: "2026-10-15T16:30",
                    venue: Some(&venue),
                    capacity: 25,
                    ..Default::default()
                },
            )
            .await?;
            attended(admin, &held[0], &people, &[]).await?;
            if let Some(lead) = cluster.lead {
                let mut coordinator = ctx.client_for(lead).await?;
                coordinator
                    .submit_claim(pb::SubmitClaimRequest {
                        event_id: held[0].id.clone(),
                        travel_amount: 4_380,
                        subsistence_amount: 1_250,
                        currency: "GBP".into(),
                        description: "Rail Leeds–York return; lunch".into(),
                    })
                    .await?;
            }
        }
        // East has planned only one meeting so far: the view says "schedule 1 more".
        let spring = create(
            admin,
            &tz,
            Plan {
                cluster: Some(cluster.id),
                title: "Spring network meeting",
                agenda: "Writing moderation with the body's exemplars.",
                starts: "2027-03-18T14:00",
                ends: "2027-03-18T16:30",
                venue: Some(&venue),
                capacity: 25,
                ..Default::default()
            },
        )
        .await?;
        invite_and_answer(ctx, admin, &spring[0], cluster).await?;
    }
    Ok(())
}

async fn partnership(ctx: &Ctx<'_>, admin: &mut Client) -> anyhow::Result<()> {
    let tz = ctx.tenant.settings.time_zone.clone();
    let clusters = ctx.clusters().await?;
    let panel = create(
        admin,
        &tz,
        Plan {
            kind: pb::EventKind::PanelMeeting,
            title: "Standing Advisory Panel",
            agenda: "Priorities of the programme of work; data agreements; family feedback.",
            starts: "2026-09-17T18:00",
            ends: "2026-09-17T19:30",
            online_url: "https://meet.riverside-rpp.example/panel",
            rrule: "FREQ=MONTHLY;INTERVAL=3;COUNT=4",
            ..Default::default()
        },
    )
    .await?;
    let members = ctx
        .people(PersonFilter {
            role: Some(Role::PanelMember),
            ..Default::default()
        })
        .await?;
    if let Some(first) = panel.first() {
        attended(admin, first, &members, &[]).await?;
    }
    if let Some(cluster) = clusters.first() {
        let mentors = ctx
            .people(PersonFilter {
                cluster_id: Some(cluster.id),
                role: Some(Role::NewTeacher),
                ..Default::default()
            })
            .await?;
        let series = create(
            admin,
            &tz,
            Plan {
                kind: pb::EventKind::StudyGroup,
                cluster: Some(cluster.id),
                title: "New-teacher induction seminar",
                agenda: "High-leverage practices; mentor conversations.",
                starts: "2026-10-07T15:30",
                ends: "2026-10-07T17:00",
                online_url: "https://meet.riverside-rpp.example/induction",
                rrule: "FREQ=WEEKLY;INTERVAL=2;COUNT=12",
                ..Default::default()
            },
        )
        .await?;
        for held in series
            .iter()
            .filter(|e| e.starts_at.as_str() < "2026-11-24")
        {
            attended(admin, held, &mentors, &[]).await?;
        }
        let meeting = create(
            admin,
            &tz,
            Plan {
                cluster: Some(cluster.id),
                title: "Innovation cluster network meeting",
                agenda: "Scaling the literacy routines to two more schools.",
                starts: "2027-01-20T15:30",
                ends: "2027-01-20T17:00",
                online_url: "https://meet.riverside-rpp.example/cluster",
                ..Default::default()
            },
        )
        .await?;
        invite_and_answer(ctx, admin, &meeting[0], cluster).await?;
    }
    Ok(())
}
