//! gRPC ↔ domain, and who may do what.
//!
//! The tenant of every call is the verified token's; ids in requests are
//! looked up inside that tenant only, so another tenant's id is simply "not
//! found" (existence is checked before permission). Authorisation is by role
//! and relationship:
//!
//! - tenant admins (and Collegium services) act on everything;
//! - a cluster lead manages the events owned by *their* cluster (edit,
//!   publish, cancel, invite, attendance, registrations, questionnaire,
//!   materials, feedback summary); events owned by the tenant are the admins';
//! - everyone in the tenant reads venues and events, drafts only where they
//!   may manage them;
//! - people answer, check in, claim and give feedback for themselves only;
//! - expense claims are decided and exported by tenant admins.
//!
//! Membership is asked (with the caller's token) for the tenant's settings,
//! clusters and audiences; see [`crate::membership`].

mod convert;
mod edit;
mod export;
pub mod feed;

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
};

use chrono::{Duration, Utc};
use chrono_tz::Tz;
use collegium_proto::{common::v1 as common, scheduling::v1 as pb};
use platform::{
    auth::{Principal, Role, TenantId},
    error::{Error, Result, Violations},
    grpc::principal,
    page::{MAX_PAGE_SIZE, Page},
    privacy, retention,
};
use rand::Rng;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub use feed::CalendarFeedApi;

use self::{convert::*, edit::Changes};
use crate::{
    domain::{
        self, Event, EventFilter, EventKind, EventStatus, RsvpStatus, academic_year,
        compliance::{self, ComplianceInput},
        recurrence, validate,
    },
    materials::{MAX_FILE_BYTES, MaterialStore},
    membership::{MembershipClient, TenantCalendar},
    store::{Paged, SchedulingStore},
};

/// The name this service gives in its data-subject and retention answers.
const SERVICE: &str = "scheduling";
/// Self check-in opens this long before the start and closes this long after the end.
pub const CHECK_IN_MARGIN_MINUTES: i64 = 60;
/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 6;

/// The gRPC service over a store, membership and the material store.
#[derive(Clone)]
pub struct SchedulingApi {
    store: Arc<dyn SchedulingStore>,
    membership: MembershipClient,
    materials: MaterialStore,
}

/// Runs a handler body and maps its error in the one place that does so.
async fn respond<T>(f: impl Future<Output = Result<T>>) -> Result<Response<T>, Status> {
    f.await.map(Response::new).map_err(Error::into_status)
}

/// A new check-in code.
fn check_in_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LENGTH)
        .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Whether the caller manages this event.
fn may_manage(p: &Principal, e: &Event) -> bool {
    p.is_tenant_admin() || e.cluster_id.is_some_and(|c| p.leads_cluster(c))
}

fn require_manage(p: &Principal, e: &Event) -> Result<()> {
    if may_manage(p, e) {
        Ok(())
    } else if e.cluster_id.is_some() {
        Err(Error::forbidden(
            "requires the cluster_lead role for the event's cluster or tenant_admin",
        ))
    } else {
        Err(Error::forbidden(
            "events of the whole tenant are managed by tenant admins",
        ))
    }
}

/// The calling person; services act for no one.
fn me(p: &Principal, what: &str) -> Result<Uuid> {
    p.person()
        .map(|m| m.0)
        .ok_or_else(|| Error::forbidden(format!("only a person may {what}")))
}

/// A zone the store holds (validated when written).
fn stored_zone(e: &Event) -> Result<Tz> {
    e.time_zone.parse::<Tz>().map_err(|_| {
        Error::internal(anyhow::anyhow!(
            "event {} has an unknown zone {:?}",
            e.id,
            e.time_zone
        ))
    })
}

fn year_of(cal: &TenantCalendar, at: chrono::DateTime<Utc>) -> i32 {
    academic_year::academic_year_of(
        at,
        cal.time_zone,
        cal.academic_year_start_month,
        cal.academic_year_start_day,
    )
}

/// Every page of a store list.
async fn all_pages<T, F, Fut>(mut list: F) -> Result<Vec<T>>
where
    F: FnMut(Page) -> Fut,
    Fut: Future<Output = Result<Paged<T>>>,
{
    let mut all = Vec::new();
    let mut page = Page::first(MAX_PAGE_SIZE);
    loop {
        let (items, next) = list(page).await?;
        all.extend(items);
        if next.is_empty() {
            return Ok(all);
        }
        page = Page::new(MAX_PAGE_SIZE, &next)?;
    }
}

impl SchedulingApi {
    pub fn new(
        store: Arc<dyn SchedulingStore>,
        membership: MembershipClient,
        materials: MaterialStore,
    ) -> Self {
        Self {
            store,
            membership,
            materials,
        }
    }

    /// An event of the caller's tenant that the caller may see (drafts only
    /// for those who manage them; to others a draft does not exist).
    async fn event(&self, p: &Principal, id: Uuid) -> Result<Event> {
        let e = self
            .store
            .get_events(p.tenant, &[id])
            .await?
            .pop()
            .ok_or_else(|| Error::not_found("event"))?;
        if e.status == EventStatus::Draft && !may_manage(p, &e) {
            return Err(Error::not_found("event"));
        }
        Ok(e)
    }

    /// An event the caller manages: NOT_FOUND before FORBIDDEN.
    async fn managed_event(&self, p: &Principal, id: Uuid) -> Result<Event> {
        let e = self.event(p, id).await?;
        require_manage(p, &e)?;
        Ok(e)
    }

    async fn events_out(&self, p: &Principal, events: Vec<Event>) -> Result<Vec<pb::Event>> {
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let counts: HashMap<Uuid, domain::SeatCounts> = if ids.is_empty() {
            HashMap::new()
        } else {
            self.store
                .seat_counts(p.tenant, &ids)
                .await?
                .into_iter()
                .collect()
        };
        Ok(events
            .into_iter()
            .map(|e| {
                let c = counts.get(&e.id).copied().unwrap_or_default();
                let show = may_manage(p, &e);
                event_out(e, c, show)
            })
            .collect())
    }

    async fn event_out(&self, p: &Principal, e: Event) -> Result<pb::Event> {
        Ok(self
            .events_out(p, vec![e])
            .await?
            .pop()
            .expect("one event in, one out"))
    }

    /// 1-based places on the waiting list of an event.
    async fn waitlist_positions(&self, t: TenantId, event: Uuid) -> Result<HashMap<Uuid, u32>> {
        let waiting = all_pages(|page| {
            self.store
                .list_rsvps(t, event, Some(RsvpStatus::Waitlisted), page)
        })
        .await?;
        Ok(waiting
            .into_iter()
            .enumerate()
            .map(|(i, r)| (r.person_id, i as u32 + 1))
            .collect())
    }

    async fn rsvps_out(
        &self,
        t: TenantId,
        event: Uuid,
        rsvps: Vec<domain::Rsvp>,
    ) -> Result<Vec<pb::Rsvp>> {
        let positions = if rsvps.iter().any(|r| r.status == RsvpStatus::Waitlisted) {
            self.waitlist_positions(t, event).await?
        } else {
            HashMap::new()
        };
        Ok(rsvps
            .into_iter()
            .map(|r| pb::Rsvp {
                event_id: r.event_id.to_string(),
                person_id: r.person_id.to_string(),
                status: rsvp_status_out(r.status) as i32,
                waitlist_position: positions.get(&r.person_id).copied().unwrap_or(0),
                updated_at: ts(r.updated_at),
                clashes_with: vec![],
            })
            .collect())
    }

    async fn venue_exists(&self, t: TenantId, venue: Uuid) -> Result<()> {
        if self.store.get_venues(t, &[venue]).await?.is_empty() {
            return Err(Error::invalid("venue_id", "no such venue"));
        }
        Ok(())
    }

    /// Every event of a filter (compliance looks at whole years).
    async fn all_events(&self, t: TenantId, filter: &EventFilter) -> Result<Vec<Event>> {
        all_pages(|page| self.store.list_events(t, filter, page)).await
    }

    async fn attended(
        &self,
        t: TenantId,
        people: &[Uuid],
        kinds: &[EventKind],
        year: i32,
    ) -> Result<Vec<(Uuid, Event)>> {
        let mut all = Vec::new();
        for chunk in people.chunks(MAX_PAGE_SIZE as usize) {
            all.extend(self.store.attended(t, chunk, kinds, year).await?);
        }
        Ok(all)
    }

    async fn create_event(&self, p: &Principal, r: pb::CreateEventRequest) -> Result<pb::Event> {
        let cluster = opt_id("cluster_id", &r.cluster_id)?;
        match cluster {
            Some(c) => {
                self.membership.require_cluster(p, "cluster_id", c).await?;
                p.require_cluster_lead(c)?;
            }
            None => p.require_tenant_admin()?,
        }
        let mut v = Violations::new();
        let kind = collect(&mut v, kind_in("kind", r.kind));
        let venue = collect(&mut v, opt_id("venue_id", &r.venue_id)).flatten();
        let prepares = collect(
            &mut v,
            opt_id("prepares_for_event_id", &r.prepares_for_event_id),
        )
        .flatten();
        let tz = collect(&mut v, zone("time_zone", &r.time_zone));
        let (starts, ends) = match tz {
            Some(tz) => (
                collect(
                    &mut v,
                    recurrence::parse_local("starts_local", &r.starts_local, tz),
                ),
                collect(
                    &mut v,
                    recurrence::parse_local("ends_local", &r.ends_local, tz),
                ),
            ),
            None => (None, None),
        };
        let rrule = non_empty(&r.rrule);
        let exdates: Vec<_> = r
            .exdates_local
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                collect(
                    &mut v,
                    recurrence::parse_naive(&format!("exdates_local[{i}]"), x),
                )
            })
            .collect();
        if rrule.is_none() && !r.exdates_local.is_empty() {
            v.add("exdates_local", "exceptions need a recurrence rule");
        }
        v.finish()?;
        let (Some(kind), Some(tz), Some(starts_at), Some(ends_at)) = (kind, tz, starts, ends)
        else {
            return Err(Error::invalid("request", "incomplete"));
        };
        if let Some(venue) = venue {
            self.venue_exists(p.tenant, venue).await?;
        }
        if let Some(session) = prepares {
            let found = self.store.get_events(p.tenant, &[session]).await?;
            if !found
                .first()
                .is_some_and(|s| s.kind == EventKind::ScoringSession)
            {
                return Err(Error::invalid(
                    "prepares_for_event_id",
                    "not a scoring session of this tenant",
                ));
            }
        }
        let cal = self.membership.tenant_calendar(p).await?;
        let now = Utc::now();
        let base = Event {
            id: Uuid::nil(),
            kind,
            cluster_id: cluster,
            title: r.title.trim().to_string(),
            agenda: r.agenda,
            starts_at,
            ends_at,
            time_zone: tz.name().to_string(),
            venue_id: venue,
            online_url: non_empty(&r.online_url),
            capacity: r.capacity,
            status: if r.publish {
                EventStatus::Published
            } else {
                EventStatus::Draft
            },
            academic_year: year_of(&cal, starts_at),
            approval_required: r.approval_required,
            training_hours: r.training_hours,
            prepares_for_event_id: prepares,
            series_id: None,
            recurrence_id: None,
            rrule: None,
            series_start: None,
            detached: false,
            sequence: 0,
            check_in_code: String::new(),
            created_by: p.actor(),
            created_at: now,
            updated_at: now,
        };
        let events = match &rrule {
            None => vec![Event {
                id: Uuid::now_v7(),
                check_in_code: check_in_code(),
                ..base
            }],
            Some(rule) => {
                validate::event(&base)?;
                let dtstart = recurrence::parse_naive("starts_local", &r.starts_local)?;
                let starts = recurrence::expand(rule, dtstart, tz, &exdates)?;
                if starts.is_empty() {
                    return Err(Error::invalid(
                        "rrule",
                        "the rule and its exceptions leave no occurrence",
                    ));
                }
                let length = ends_at - starts_at;
                let series = Uuid::now_v7();
                starts
                    .into_iter()
                    .map(|s| Event {
                        id: Uuid::now_v7(),
                        starts_at: s,
                        ends_at: s + length,
                        academic_year: year_of(&cal, s),
                        series_id: Some(series),
                        recurrence_id: Some(s),
                        rrule: Some(rule.clone()),
                        series_start: Some(starts_at),
                        check_in_code: check_in_code(),
                        ..base.clone()
                    })
                    .collect()
            }
        };
        for e in &events {
            validate::event(e)?;
        }
        let created = self
            .store
            .create_events(p.tenant, &p.actor(), events)
            .await?;
        let first = created
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal(anyhow::anyhow!("no event stored")))?;
        self.event_out(p, first).await
    }

    async fn update_event(&self, p: &Principal, r: pb::UpdateEventRequest) -> Result<pb::Event> {
        let e = self.managed_event(p, id("id", &r.id)?).await?;
        if e.status == EventStatus::Cancelled {
            return Err(Error::FailedPrecondition(
                "the event is cancelled; create a new one instead".into(),
            ));
        }
        let mut v = Violations::new();
        let old_tz = stored_zone(&e)?;
        let new_tz = match &r.time_zone {
            Some(z) => collect(&mut v, zone("time_zone", z)),
            None => Some(old_tz),
        };
        let starts_local = r
            .starts_local
            .as_deref()
            .and_then(|s| collect(&mut v, recurrence::parse_naive("starts_local", s)));
        let ends_local = r
            .ends_local
            .as_deref()
            .and_then(|s| collect(&mut v, recurrence::parse_naive("ends_local", s)));
        let venue_id = match r.venue_id.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(x) => collect(&mut v, id("venue_id", x)).map(Some),
        };
        v.finish()?;
        let new_tz = new_tz.unwrap_or(old_tz);
        if let Some(Some(venue)) = venue_id {
            self.venue_exists(p.tenant, venue).await?;
        }
        let changes = Changes {
            title: r.title.map(|t| t.trim().to_string()),
            agenda: r.agenda,
            venue_id,
            online_url: r.online_url.as_deref().map(non_empty),
            capacity: r.capacity,
            approval_required: r.approval_required,
        };
        let retime = edit::Retime::new(&e, old_tz, new_tz, starts_local, ends_local);
        let nothing = changes.title.is_none()
            && changes.agenda.is_none()
            && changes.venue_id.is_none()
            && changes.online_url.is_none()
            && changes.capacity.is_none()
            && changes.approval_required.is_none()
            && retime.is_noop();
        if nothing {
            return self.event_out(p, e).await;
        }
        let series_scope = pb::EditScope::try_from(r.scope) == Ok(pb::EditScope::Series);
        let mut events = match e.series_id {
            Some(series) if series_scope => {
                let all = self.store.series(p.tenant, series).await?;
                edit::series_edit(all, &e, &changes, &retime, Uuid::now_v7())?
            }
            _ => {
                let mut n = e.clone();
                changes.apply(&mut n);
                retime.times(&mut n)?;
                n.detached = n.series_id.is_some();
                vec![n]
            }
        };
        if !retime.is_noop() {
            let cal = self.membership.tenant_calendar(p).await?;
            for n in &mut events {
                n.academic_year = year_of(&cal, n.starts_at);
            }
        }
        for n in &events {
            validate::event(n)?;
        }
        let updated = self
            .store
            .update_events(p.tenant, &p.actor(), "event.changed", None, events)
            .await?;
        let named = updated
            .into_iter()
            .find(|n| n.id == e.id)
            .ok_or_else(|| Error::internal(anyhow::anyhow!("the edited event was not returned")))?;
        self.event_out(p, named).await
    }

    async fn compliance(
        &self,
        p: &Principal,
        r: pb::GetComplianceRequest,
    ) -> Result<pb::ComplianceReport> {
        let cluster = id("cluster_id", &r.cluster_id)?;
        let info = self
            .membership
            .cluster(p, cluster)
            .await?
            .ok_or_else(|| Error::not_found("cluster"))?;
        p.require_cluster_lead(cluster)?;
        let cal = self.membership.tenant_calendar(p).await?;
        let now = Utc::now();
        let year = match r.academic_year {
            0 => year_of(&cal, now),
            y if (1900..=9999).contains(&y) => y,
            _ => return Err(Error::invalid("academic_year", "a year such as 2026")),
        };
        let (_, year_ends_at) = academic_year::bounds(
            year,
            cal.time_zone,
            cal.academic_year_start_month,
            cal.academic_year_start_day,
        );
        let t = p.tenant;
        let of_kind = |kind, include_cancelled| EventFilter {
            cluster_id: Some(cluster),
            kind: Some(kind),
            academic_year: Some(year),
            include_drafts: true,
            include_cancelled,
            ..Default::default()
        };
        let network_meetings = self
            .all_events(t, &of_kind(EventKind::NetworkMeeting, true))
            .await?;
        let trainings = self
            .all_events(t, &of_kind(EventKind::ScoringTraining, false))
            .await?;
        let sessions = self
            .all_events(t, &of_kind(EventKind::ScoringSession, false))
            .await?;
        let scorers = self.membership.cluster_teachers(p, cluster).await?;
        let scorer_trainings = self
            .attended(t, &scorers, &[EventKind::ScoringTraining], year)
            .await?;
        let leader = info.lead_person_id;
        let leader_attended = match leader {
            Some(l) => self
                .attended(
                    t,
                    &[l],
                    &[
                        EventKind::LeaderTraining,
                        EventKind::RecordingViewing,
                        EventKind::ScoringTraining,
                    ],
                    year,
                )
                .await?
                .into_iter()
                .map(|(_, e)| e)
                .collect(),
            None => vec![],
        };
        let input = ComplianceInput {
            academic_year: year,
            year_ends_at,
            now,
            rules: self.store.rule_settings(t).await?,
            network_meetings,
            scorers,
            scorer_trainings,
            leader,
            leader_attended,
            trainings,
            sessions,
        };
        Ok(pb::ComplianceReport {
            cluster_id: cluster.to_string(),
            academic_year: year,
            items: compliance::evaluate(&input)
                .into_iter()
                .map(compliance_out)
                .collect(),
        })
    }

    async fn add_material(&self, p: &Principal, r: pb::AddMaterialRequest) -> Result<pb::Material> {
        let e = self.managed_event(p, id("event_id", &r.event_id)?).await?;
        let mut v = Violations::new();
        let title = r.title.trim().to_string();
        if title.is_empty() {
            v.add("title", "required");
        } else if title.chars().count() > 200 {
            v.add("title", "at most 200 characters");
        }
        let material_id = Uuid::now_v7();
        let mut material = domain::Material {
            id: material_id,
            event_id: e.id,
            title,
            url: None,
            object_key: None,
            file_name: None,
            content_type: None,
            size_bytes: 0,
            added_by: p.actor(),
            added_at: Utc::now(),
        };
        let mut upload = None;
        match r.source {
            None => v.add("source", "give a url or a file"),
            Some(pb::add_material_request::Source::Url(u)) => match url::Url::parse(u.trim()) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    material.url = Some(parsed.to_string());
                }
                _ => v.add("url", "an http or https address"),
            },
            Some(pb::add_material_request::Source::File(f)) => {
                let name = f.file_name.trim().to_string();
                if name.is_empty()
                    || name == "."
                    || name == ".."
                    || name.chars().count() > 255
                    || name
                        .chars()
                        .any(|c| c == '/' || c == '\\' || c.is_control())
                {
                    v.add(
                        "file.file_name",
                        "a file name (no folders, at most 255 characters)",
                    );
                }
                if f.content.is_empty() {
                    v.add("file.content", "the file is empty");
                } else if f.content.len() > MAX_FILE_BYTES {
                    v.add("file.content", "at most 25 MiB");
                }
                let content_type = non_empty(&f.content_type)
                    .unwrap_or_else(|| "application/octet-stream".to_string());
                if content_type.len() > 255 || content_type.chars().any(char::is_control) {
                    v.add("file.content_type", "a media type such as application/pdf");
                }
                material.size_bytes = f.content.len() as u64;
                material.object_key = Some(MaterialStore::key(p.tenant, e.id, material_id, &name));
                material.file_name = Some(name);
                material.content_type = Some(content_type);
                upload = Some(f.content);
            }
        }
        v.finish()?;
        if let (Some(key), Some(content)) = (&material.object_key, upload) {
            self.materials.put(key, content).await?;
        }
        match self
            .store
            .add_material(p.tenant, &p.actor(), material.clone())
            .await
        {
            Ok(m) => Ok(material_out(m)),
            Err(err) => {
                if let Some(key) = &material.object_key
                    && let Err(cleanup) = self.materials.delete(key).await
                {
                    tracing::warn!(%key, error = %cleanup, "orphaned material object");
                }
                Err(err)
            }
        }
    }

    async fn feedback_summary(&self, p: &Principal, event: Uuid) -> Result<pb::FeedbackSummary> {
        let e = self.managed_event(p, event).await?;
        let questions = self.store.questionnaire(p.tenant, e.id).await?;
        let answers = self.store.feedback_answers(p.tenant, e.id).await?;
        let summaries = questions
            .into_iter()
            .map(|q| {
                let given: Vec<&domain::Answer> = answers
                    .iter()
                    .flat_map(|a| a.iter().filter(|x| x.question_id == q.id))
                    .collect();
                let mut s = pb::QuestionSummary {
                    question: None,
                    responses: 0,
                    mean_rating: 0.0,
                    rating_counts: vec![],
                    texts: vec![],
                };
                match q.kind {
                    domain::QuestionKind::Rating => {
                        let ratings: Vec<u8> = given.iter().filter_map(|a| a.rating).collect();
                        let mut counts = vec![0u32; 5];
                        for r in &ratings {
                            if (1..=5).contains(r) {
                                counts[usize::from(*r) - 1] += 1;
                            }
                        }
                        s.responses = ratings.len() as u32;
                        if !ratings.is_empty() {
                            s.mean_rating = ratings.iter().map(|r| f64::from(*r)).sum::<f64>()
                                / ratings.len() as f64;
                        }
                        s.rating_counts = counts;
                    }
                    domain::QuestionKind::Text => {
                        s.texts = given
                            .iter()
                            .filter_map(|a| a.text.clone())
                            .filter(|t| !t.trim().is_empty())
                            .collect();
                        s.responses = s.texts.len() as u32;
                    }
                }
                s.question = Some(question_out(q));
                s
            })
            .collect();
        Ok(pb::FeedbackSummary {
            event_id: e.id.to_string(),
            respondents: answers.len() as u32,
            questions: summaries,
        })
    }
}

#[tonic::async_trait]
impl pb::scheduling_service_server::SchedulingService for SchedulingApi {
    // ---------------------------------------------------------------- data-subject requests

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::PersonData>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let t = p.tenant;
        respond(privacy::export(&p, &r, SERVICE, |person| async move {
            self.store.export_person_data(t, person).await
        }))
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn erase_person_data(
        &self,
        req: Request<common::PersonDataRequest>,
    ) -> Result<Response<common::ErasureReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        let (t, actor) = (p.tenant, p.actor());
        respond(privacy::erase(&p, &r, SERVICE, |person| async move {
            self.store.erase_person_data(t, &actor, person).await
        }))
        .await
    }

    // ---------------------------------------------------------------- retention

    /// Tenant admins and Collegium's retention job (a service token): the
    /// cutoffs are re-checked against each category's minimum period here,
    /// whoever sends them. What each category does is
    /// `SchedulingStore::apply_retention`'s.
    #[tracing::instrument(skip_all, fields(tenant, dry_run))]
    async fn apply_retention(
        &self,
        req: Request<common::ApplyRetentionRequest>,
    ) -> Result<Response<common::RetentionReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        tracing::Span::current().record("dry_run", r.dry_run);
        let (tenant, actor, dry_run) = (p.tenant, p.actor(), r.dry_run);
        respond(retention::answer(&p, &r, SERVICE, |cutoffs| async move {
            self.store
                .apply_retention(tenant, &actor, &cutoffs, dry_run)
                .await
        }))
        .await
    }

    // ---------------------------------------------------------------- venues

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_venue(
        &self,
        req: Request<pb::CreateVenueRequest>,
    ) -> Result<Response<pb::Venue>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            // Venues are shared by the tenant; cluster leads book them for
            // their meetings, so they may add the places they use.
            if !(p.is_tenant_admin() || p.has_role(Role::ClusterLead)) {
                return Err(Error::forbidden("requires tenant_admin or cluster_lead"));
            }
            let venue = domain::Venue {
                id: Uuid::now_v7(),
                name: r.name.trim().to_string(),
                address: r.address.trim().to_string(),
                capacity: r.capacity,
                buffer_minutes: r.buffer_minutes,
            };
            validate::venue(&venue)?;
            Ok(venue_out(
                self.store.create_venue(p.tenant, &p.actor(), venue).await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_venue(
        &self,
        req: Request<pb::UpdateVenueRequest>,
    ) -> Result<Response<pb::Venue>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let venue_id = id("id", &r.id)?;
            let mut venue = self
                .store
                .get_venues(p.tenant, &[venue_id])
                .await?
                .pop()
                .ok_or_else(|| Error::not_found("venue"))?;
            p.require_tenant_admin()?;
            let patch = domain::VenuePatch {
                name: r.name.map(|n| n.trim().to_string()),
                address: r.address.map(|a| a.trim().to_string()),
                capacity: r.capacity,
                buffer_minutes: r.buffer_minutes,
            };
            if let Some(n) = &patch.name {
                venue.name = n.clone();
            }
            if let Some(a) = &patch.address {
                venue.address = a.clone();
            }
            if let Some(c) = patch.capacity {
                venue.capacity = c;
            }
            if let Some(b) = patch.buffer_minutes {
                venue.buffer_minutes = b;
            }
            validate::venue(&venue)?;
            Ok(venue_out(
                self.store
                    .update_venue(p.tenant, &p.actor(), venue_id, patch)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_venues(
        &self,
        req: Request<pb::ListVenuesRequest>,
    ) -> Result<Response<pb::VenuePage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let (venues, next) = self.store.list_venues(p.tenant, page(&r.page)?).await?;
            Ok(pb::VenuePage {
                venues: venues.into_iter().map(venue_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- events

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn create_event(
        &self,
        req: Request<pb::CreateEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(self.create_event(&p, r)).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_event(
        &self,
        req: Request<pb::UpdateEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(self.update_event(&p, r)).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn publish_event(
        &self,
        req: Request<pb::EventRef>,
    ) -> Result<Response<pb::Event>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            if e.status == EventStatus::Cancelled {
                return Err(Error::FailedPrecondition(
                    "a cancelled event cannot be published".into(),
                ));
            }
            let mut publish = Vec::new();
            if e.status == EventStatus::Draft {
                publish.push(e.clone());
            }
            if let Some(series) = e.series_id {
                for o in self.store.series(p.tenant, series).await? {
                    if o.status == EventStatus::Draft && o.id != e.id {
                        publish.push(o);
                    }
                }
            }
            if publish.is_empty() {
                return self.event_out(&p, e).await;
            }
            for o in &mut publish {
                o.status = EventStatus::Published;
            }
            let published = self
                .store
                .update_events(p.tenant, &p.actor(), "event.published", None, publish)
                .await?;
            let named = published
                .into_iter()
                .find(|o| o.id == e.id)
                .unwrap_or(Event {
                    status: EventStatus::Published,
                    ..e
                });
            self.event_out(&p, named).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn cancel_event(
        &self,
        req: Request<pb::CancelEventRequest>,
    ) -> Result<Response<pb::Event>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("id", &r.id)?).await?;
            if r.reason.chars().count() > 1000 {
                return Err(Error::invalid("reason", "at most 1000 characters"));
            }
            let series_scope = pb::EditScope::try_from(r.scope) == Ok(pb::EditScope::Series);
            let mut cancel = Vec::new();
            if e.status != EventStatus::Cancelled {
                cancel.push(e.clone());
            }
            if let (Some(series), true) = (e.series_id, series_scope) {
                let from = e.recurrence_id.unwrap_or(e.starts_at);
                for o in self.store.series(p.tenant, series).await? {
                    if o.id != e.id
                        && o.status != EventStatus::Cancelled
                        && o.recurrence_id.unwrap_or(o.starts_at) >= from
                    {
                        cancel.push(o);
                    }
                }
            }
            if cancel.is_empty() {
                return self.event_out(&p, e).await;
            }
            for o in &mut cancel {
                o.status = EventStatus::Cancelled;
            }
            let reason = Some(r.reason.trim()).filter(|r| !r.is_empty());
            let cancelled = self
                .store
                .update_events(p.tenant, &p.actor(), "event.cancelled", reason, cancel)
                .await?;
            let named = cancelled.into_iter().find(|o| o.id == e.id).unwrap_or(e);
            self.event_out(&p, named).await
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_events(
        &self,
        req: Request<pb::GetByIdsRequest>,
    ) -> Result<Response<pb::EventList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let wanted = ids("ids", &r.ids)?;
            let found = self.store.get_events(p.tenant, &wanted).await?;
            let visible = found
                .into_iter()
                .filter(|e| e.status != EventStatus::Draft || may_manage(&p, e))
                .collect();
            Ok(pb::EventList {
                events: self.events_out(&p, visible).await?,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_events(
        &self,
        req: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::EventPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut v = Violations::new();
            let cluster_id = collect(&mut v, opt_id("cluster_id", &r.cluster_id)).flatten();
            let person_id = collect(&mut v, opt_id("person_id", &r.person_id)).flatten();
            let kind = match r.kind {
                Some(k) => collect(&mut v, kind_in("kind", k)),
                None => None,
            };
            let from = collect(&mut v, opt_instant("from", &r.from)).flatten();
            let to = collect(&mut v, opt_instant("to", &r.to)).flatten();
            let page = collect(&mut v, page(&r.page));
            v.finish()?;
            if r.include_drafts
                && !p.is_tenant_admin()
                && !cluster_id.is_some_and(|c| p.leads_cluster(c))
            {
                return Err(Error::forbidden(
                    "drafts are listed for tenant admins, or for a cluster lead naming their cluster_id",
                ));
            }
            if let Some(person) = person_id
                && !p.is_tenant_admin()
                && p.person().map(|m| m.0) != Some(person)
            {
                return Err(Error::forbidden("you may list only your own invitations"));
            }
            let filter = EventFilter {
                cluster_id,
                kind,
                from,
                to,
                academic_year: r.academic_year,
                include_drafts: r.include_drafts,
                include_cancelled: r.include_cancelled,
                person_id,
            };
            let (events, next) = self
                .store
                .list_events(p.tenant, &filter, page.unwrap_or(Page::first(50)))
                .await?;
            Ok(pb::EventPage {
                events: self.events_out(&p, events).await?,
                page: page_info(next),
            })
        })
        .await
    }

    // ---------------------------------------------------------------- invitations and RSVPs

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn invite(
        &self,
        req: Request<pb::InviteRequest>,
    ) -> Result<Response<pb::InviteResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            if r.audiences.is_empty() {
                return Err(Error::invalid("audiences", "name at least one audience"));
            }
            let mut v = Violations::new();
            let audiences: Vec<_> = r
                .audiences
                .iter()
                .enumerate()
                .filter_map(|(i, a)| collect(&mut v, audience_in(i, a)))
                .collect();
            v.finish()?;
            if e.status == EventStatus::Cancelled {
                return Err(Error::FailedPrecondition("the event is cancelled".into()));
            }
            if e.ends_at <= Utc::now() {
                return Err(Error::FailedPrecondition("the event is over".into()));
            }
            let people = self.membership.resolve(&p, &audiences).await?;
            let (invited, already_invited) = self
                .store
                .invite(p.tenant, &p.actor(), e.id, &people)
                .await?;
            Ok(pb::InviteResponse {
                invited,
                already_invited,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn rsvp(&self, req: Request<pb::RsvpRequest>) -> Result<Response<pb::Rsvp>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "answer an invitation")?;
            let event_id = id("event_id", &r.event_id)?;
            let answer = match pb::RsvpStatus::try_from(r.response) {
                Ok(pb::RsvpStatus::Accepted) => RsvpStatus::Accepted,
                Ok(pb::RsvpStatus::Declined) => RsvpStatus::Declined,
                Ok(pb::RsvpStatus::Tentative) => RsvpStatus::Tentative,
                _ => {
                    return Err(Error::invalid(
                        "response",
                        "answer ACCEPTED, DECLINED or TENTATIVE",
                    ));
                }
            };
            let e = self.event(&p, event_id).await?;
            let outcome = self
                .store
                .respond(p.tenant, &p.actor(), e.id, person, answer, Utc::now())
                .await?;
            let clashes: Vec<String> = self
                .store
                .accepted_overlapping(p.tenant, person, e.starts_at, e.ends_at)
                .await?
                .into_iter()
                .filter(|c| c.id != e.id)
                .map(|c| c.id.to_string())
                .collect();
            let mut out = self
                .rsvps_out(p.tenant, e.id, vec![outcome.rsvp])
                .await?
                .pop()
                .expect("one RSVP in, one out");
            out.clashes_with = clashes;
            Ok(out)
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn decide_registration(
        &self,
        req: Request<pb::DecideRegistrationRequest>,
    ) -> Result<Response<pb::Rsvp>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            let person = id("person_id", &r.person_id)?;
            let outcome = self
                .store
                .decide_registration(p.tenant, &p.actor(), e.id, person, r.approve)
                .await?;
            Ok(self
                .rsvps_out(p.tenant, e.id, vec![outcome.rsvp])
                .await?
                .pop()
                .expect("one RSVP in, one out"))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_rsvps(
        &self,
        req: Request<pb::ListRsvpsRequest>,
    ) -> Result<Response<pb::RsvpPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            let status = r.status.map(|s| rsvp_status_in("status", s)).transpose()?;
            let (rsvps, next) = self
                .store
                .list_rsvps(p.tenant, e.id, status, page(&r.page)?)
                .await?;
            Ok(pb::RsvpPage {
                rsvps: self.rsvps_out(p.tenant, e.id, rsvps).await?,
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_clashes(
        &self,
        req: Request<pb::ListClashesRequest>,
    ) -> Result<Response<pb::EventList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = id("person_id", &r.person_id)?;
            if !p.is_tenant_admin() && p.person().map(|m| m.0) != Some(person) {
                return Err(Error::forbidden("you may look only at your own clashes"));
            }
            let mut v = Violations::new();
            let from = collect(&mut v, instant("starts_at", &r.starts_at));
            let to = collect(&mut v, instant("ends_at", &r.ends_at));
            v.finish()?;
            let (Some(from), Some(to)) = (from, to) else {
                return Err(Error::invalid("request", "incomplete"));
            };
            if to <= from {
                return Err(Error::invalid("ends_at", "must be after starts_at"));
            }
            let events = self
                .store
                .accepted_overlapping(p.tenant, person, from, to)
                .await?;
            Ok(pb::EventList {
                events: self.events_out(&p, events).await?,
            })
        })
        .await
    }

    // ---------------------------------------------------------------- attendance

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn record_attendance(
        &self,
        req: Request<pb::RecordAttendanceRequest>,
    ) -> Result<Response<pb::AttendanceList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            if r.marks.is_empty() {
                return Err(Error::invalid("marks", "mark at least one person"));
            }
            if r.marks.len() > MAX_PAGE_SIZE as usize {
                return Err(Error::invalid(
                    "marks",
                    format!("at most {MAX_PAGE_SIZE} marks per call"),
                ));
            }
            let mut v = Violations::new();
            let marks: Vec<(Uuid, domain::AttendanceStatus)> = r
                .marks
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    let person =
                        collect(&mut v, id(&format!("marks[{i}].person_id"), &m.person_id));
                    let status = collect(
                        &mut v,
                        attendance_status_in(&format!("marks[{i}].status"), m.status),
                    );
                    person.zip(status)
                })
                .collect();
            v.finish()?;
            if e.status != EventStatus::Published {
                return Err(Error::FailedPrecondition(
                    "attendance is recorded for published events".into(),
                ));
            }
            if Utc::now() < e.starts_at - Duration::minutes(CHECK_IN_MARGIN_MINUTES) {
                return Err(Error::FailedPrecondition(
                    "attendance is recorded from an hour before the start".into(),
                ));
            }
            let records = self
                .store
                .record_attendance(p.tenant, &p.actor(), e.id, &marks, "owner")
                .await?;
            Ok(pb::AttendanceList {
                records: records.into_iter().map(attendance_out).collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn check_in(
        &self,
        req: Request<pb::CheckInRequest>,
    ) -> Result<Response<pb::Attendance>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "check in")?;
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            if e.status != EventStatus::Published {
                return Err(Error::FailedPrecondition(
                    "check-in is open for published events only".into(),
                ));
            }
            let now = Utc::now();
            let margin = Duration::minutes(CHECK_IN_MARGIN_MINUTES);
            if now < e.starts_at - margin || now > e.ends_at + margin {
                return Err(Error::FailedPrecondition(
                    "check-in is open from an hour before the start until an hour after the end"
                        .into(),
                ));
            }
            let code = r.code.trim().to_ascii_uppercase();
            if !feed::constant_time_eq(code.as_bytes(), e.check_in_code.as_bytes()) {
                return Err(Error::invalid("code", "not this event's check-in code"));
            }
            let record = self
                .store
                .record_attendance(
                    p.tenant,
                    &p.actor(),
                    e.id,
                    &[(person, domain::AttendanceStatus::Present)],
                    "check_in",
                )
                .await?
                .pop()
                .ok_or_else(|| Error::internal(anyhow::anyhow!("no attendance returned")))?;
            Ok(attendance_out(record))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_attendance(
        &self,
        req: Request<pb::ListAttendanceRequest>,
    ) -> Result<Response<pb::AttendancePage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let event = opt_id("event_id", &r.event_id)?;
            let mut person = opt_id("person_id", &r.person_id)?;
            if !p.is_tenant_admin() {
                let managed = match event {
                    Some(ev) => may_manage(&p, &self.event(&p, ev).await?),
                    None => false,
                };
                if !managed {
                    // Others see their own attendance only.
                    let mine = me(&p, "list attendance")?;
                    if person.is_some_and(|x| x != mine) {
                        return Err(Error::forbidden(
                            "you may list only your own attendance or that of events you manage",
                        ));
                    }
                    person = Some(mine);
                }
            }
            let (records, next) = self
                .store
                .list_attendance(p.tenant, event, person, page(&r.page)?)
                .await?;
            Ok(pb::AttendancePage {
                records: records.into_iter().map(attendance_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_training_status(
        &self,
        req: Request<pb::GetTrainingStatusRequest>,
    ) -> Result<Response<pb::TrainingStatus>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = id("person_id", &r.person_id)?;
            if !(1900..=9999).contains(&r.academic_year) {
                return Err(Error::invalid("academic_year", "a year such as 2026"));
            }
            let own = p.person().map(|m| m.0) == Some(person);
            if !(own || p.is_tenant_admin() || p.has_role(Role::ClusterLead)) {
                return Err(Error::forbidden(
                    "training records are seen by the person, cluster leads and tenant admins",
                ));
            }
            let latest = self
                .store
                .attended(
                    p.tenant,
                    &[person],
                    &[EventKind::ScoringTraining],
                    r.academic_year,
                )
                .await?
                .into_iter()
                .map(|(_, e)| e)
                .max_by_key(|e| e.starts_at);
            Ok(match latest {
                Some(e) => {
                    let day = stored_zone(&e)
                        .map(|tz| e.starts_at.with_timezone(&tz).date_naive())
                        .unwrap_or(e.starts_at.date_naive());
                    pb::TrainingStatus {
                        trained: true,
                        event_id: Some(e.id.to_string()),
                        attended_on: day.to_string(),
                        training_hours: e.training_hours,
                    }
                }
                None => pb::TrainingStatus {
                    trained: false,
                    event_id: None,
                    attended_on: String::new(),
                    training_hours: 0,
                },
            })
        })
        .await
    }

    // ---------------------------------------------------------------- programme rules

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_rule_settings(
        &self,
        req: Request<pb::GetRuleSettingsRequest>,
    ) -> Result<Response<pb::RuleSettings>, Status> {
        let p = principal(&req)?;
        respond(async { Ok(rules_out(self.store.rule_settings(p.tenant).await?)) }).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn update_rule_settings(
        &self,
        req: Request<pb::RuleSettings>,
    ) -> Result<Response<pb::RuleSettings>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let mut v = Violations::new();
            if r.min_network_meetings > 52 {
                v.add("min_network_meetings", "at most 52 a year");
            }
            if r.training_window_days > 366 {
                v.add("training_window_days", "at most 366 days");
            }
            v.finish()?;
            let rules = domain::RuleSettings {
                min_network_meetings: r.min_network_meetings,
                require_trained_scorers: r.require_trained_scorers,
                require_leader_sequence: r.require_leader_sequence,
                training_window_days: r.training_window_days,
            };
            Ok(rules_out(
                self.store
                    .set_rule_settings(p.tenant, &p.actor(), rules)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_compliance(
        &self,
        req: Request<pb::GetComplianceRequest>,
    ) -> Result<Response<pb::ComplianceReport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(self.compliance(&p, r)).await
    }

    // ---------------------------------------------------------------- materials

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn add_material(
        &self,
        req: Request<pb::AddMaterialRequest>,
    ) -> Result<Response<pb::Material>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(self.add_material(&p, r)).await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_materials(
        &self,
        req: Request<pb::EventRef>,
    ) -> Result<Response<pb::MaterialList>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            Ok(pb::MaterialList {
                materials: self
                    .store
                    .list_materials(p.tenant, e.id)
                    .await?
                    .into_iter()
                    .map(material_out)
                    .collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_material_content(
        &self,
        req: Request<pb::MaterialRef>,
    ) -> Result<Response<pb::MaterialContent>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let m = self
                .store
                .get_material(p.tenant, id("material_id", &r.material_id)?)
                .await?;
            // The material is as visible as its event.
            self.event(&p, m.event_id).await?;
            let content = match &m.object_key {
                Some(key) => self.materials.get(key).await?,
                None => vec![],
            };
            Ok(pb::MaterialContent {
                material: Some(material_out(m)),
                content,
            })
        })
        .await
    }

    // ---------------------------------------------------------------- expense claims

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn submit_claim(
        &self,
        req: Request<pb::SubmitClaimRequest>,
    ) -> Result<Response<pb::ExpenseClaim>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "claim expenses")?;
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            let claim = domain::ExpenseClaim {
                id: Uuid::now_v7(),
                event_id: e.id,
                person_id: person,
                travel_amount: r.travel_amount,
                subsistence_amount: r.subsistence_amount,
                currency: r.currency.trim().to_ascii_uppercase(),
                description: r.description.trim().to_string(),
                status: domain::ClaimStatus::Submitted,
                decided_by: None,
                decided_at: None,
                decision_reason: None,
                submitted_at: Utc::now(),
            };
            validate::claim(&claim)?;
            Ok(claim_out(
                self.store.submit_claim(p.tenant, &p.actor(), claim).await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn decide_claim(
        &self,
        req: Request<pb::DecideClaimRequest>,
    ) -> Result<Response<pb::ExpenseClaim>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let claim = self.store.get_claim(p.tenant, id("id", &r.id)?).await?;
            p.require_tenant_admin()?;
            let reason = non_empty(&r.reason);
            if !r.approve && reason.is_none() {
                return Err(Error::invalid("reason", "a rejection needs a reason"));
            }
            Ok(claim_out(
                self.store
                    .decide_claim(p.tenant, &p.actor(), claim.id, r.approve, reason)
                    .await?,
            ))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn list_claims(
        &self,
        req: Request<pb::ListClaimsRequest>,
    ) -> Result<Response<pb::ExpenseClaimPage>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let mut filter = domain::ClaimFilter {
                event_id: opt_id("event_id", &r.event_id)?,
                status: r.status.map(|s| claim_status_in("status", s)).transpose()?,
                person_id: opt_id("person_id", &r.person_id)?,
                ..Default::default()
            };
            if !p.is_tenant_admin() {
                let mine = me(&p, "list claims")?;
                if filter.person_id.is_some_and(|x| x != mine) {
                    return Err(Error::forbidden("you may list only your own claims"));
                }
                filter.person_id = Some(mine);
            }
            let (claims, next) = self
                .store
                .list_claims(p.tenant, &filter, page(&r.page)?)
                .await?;
            Ok(pb::ExpenseClaimPage {
                claims: claims.into_iter().map(claim_out).collect(),
                page: page_info(next),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn export_approved_claims(
        &self,
        req: Request<pb::ExportClaimsRequest>,
    ) -> Result<Response<pb::CsvExport>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            p.require_tenant_admin()?;
            let mut v = Violations::new();
            let from = collect(&mut v, opt_instant("from", &r.from)).flatten();
            let to = collect(&mut v, opt_instant("to", &r.to)).flatten();
            v.finish()?;
            let filter = domain::ClaimFilter {
                status: Some(domain::ClaimStatus::Approved),
                decided_from: from,
                decided_to: to,
                ..Default::default()
            };
            let claims = all_pages(|page| self.store.list_claims(p.tenant, &filter, page)).await?;
            let event_ids: Vec<Uuid> = claims
                .iter()
                .map(|c| c.event_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut titles = HashMap::new();
            for chunk in event_ids.chunks(MAX_PAGE_SIZE as usize) {
                for e in self.store.get_events(p.tenant, chunk).await? {
                    titles.insert(e.id, e.title);
                }
            }
            Ok(pb::CsvExport {
                file_name: format!("approved-claims-{}.csv", Utc::now().format("%Y-%m-%d")),
                csv: export::claims_csv(&claims, &titles)?,
                rows: claims.len() as u32,
            })
        })
        .await
    }

    // ---------------------------------------------------------------- feedback

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn set_questionnaire(
        &self,
        req: Request<pb::SetQuestionnaireRequest>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.managed_event(&p, id("event_id", &r.event_id)?).await?;
            let mut v = Violations::new();
            let questions: Vec<domain::Question> = r
                .questions
                .iter()
                .enumerate()
                .filter_map(|(i, q)| {
                    let qid = if q.id.trim().is_empty() {
                        Some(Uuid::now_v7())
                    } else {
                        collect(&mut v, id(&format!("questions[{i}].id"), &q.id))
                    };
                    let kind = collect(
                        &mut v,
                        question_kind_in(&format!("questions[{i}].kind"), q.kind),
                    );
                    Some(domain::Question {
                        id: qid?,
                        text: q.text.trim().to_string(),
                        kind: kind?,
                    })
                })
                .collect();
            v.finish()?;
            validate::questionnaire(&questions)?;
            let stored = self
                .store
                .set_questionnaire(p.tenant, &p.actor(), e.id, questions)
                .await?;
            Ok(pb::Questionnaire {
                event_id: e.id.to_string(),
                questions: stored.into_iter().map(question_out).collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_questionnaire(
        &self,
        req: Request<pb::EventRef>,
    ) -> Result<Response<pb::Questionnaire>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            if !may_manage(&p, &e) {
                let mine = me(&p, "answer a questionnaire")?;
                let invited = self.store.get_rsvp(p.tenant, e.id, mine).await?.is_some();
                let attended = invited
                    || !self
                        .store
                        .list_attendance(p.tenant, Some(e.id), Some(mine), Page::first(1))
                        .await?
                        .0
                        .is_empty();
                if !attended {
                    return Err(Error::forbidden(
                        "the questionnaire is for the people invited to or attending the event",
                    ));
                }
            }
            Ok(pb::Questionnaire {
                event_id: e.id.to_string(),
                questions: self
                    .store
                    .questionnaire(p.tenant, e.id)
                    .await?
                    .into_iter()
                    .map(question_out)
                    .collect(),
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn submit_feedback(
        &self,
        req: Request<pb::SubmitFeedbackRequest>,
    ) -> Result<Response<pb::SubmitFeedbackResponse>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let person = me(&p, "give feedback")?;
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            let mut v = Violations::new();
            let answers: Vec<domain::Answer> = r
                .answers
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    let question_id = collect(
                        &mut v,
                        id(&format!("answers[{i}].question_id"), &a.question_id),
                    )?;
                    let rating = match a.rating {
                        0 => None,
                        n => match u8::try_from(n) {
                            Ok(n) => Some(n),
                            Err(_) => {
                                v.add(format!("answers[{i}].rating"), "a rating from 1 to 5");
                                return None;
                            }
                        },
                    };
                    Some(domain::Answer {
                        question_id,
                        rating,
                        text: non_empty(&a.text),
                    })
                })
                .collect();
            v.finish()?;
            let questions = self.store.questionnaire(p.tenant, e.id).await?;
            if questions.is_empty() {
                return Err(Error::FailedPrecondition(
                    "this event has no questionnaire".into(),
                ));
            }
            validate::answers(&questions, &answers)?;
            self.store
                .submit_feedback(p.tenant, &p.actor(), e.id, person, answers)
                .await?;
            Ok(pb::SubmitFeedbackResponse {})
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_feedback_summary(
        &self,
        req: Request<pb::EventRef>,
    ) -> Result<Response<pb::FeedbackSummary>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            self.feedback_summary(&p, id("event_id", &r.event_id)?)
                .await
        })
        .await
    }

    // ---------------------------------------------------------------- calendars

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_my_calendar_feed(
        &self,
        req: Request<pb::GetMyCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let p = principal(&req)?;
        respond(async {
            let person = me(&p, "have a calendar feed")?;
            if let Some(feed) = self.store.active_feed(p.tenant, person).await? {
                // Only the secret's hash is kept: the token was shown once.
                return Ok(pb::CalendarFeed {
                    token: String::new(),
                    created_at: ts(feed.created_at),
                    active: true,
                });
            }
            let feed_id = Uuid::now_v7();
            let (token, secret_hash) = feed::new_token(p.tenant, feed_id);
            let feed = self
                .store
                .create_feed(
                    p.tenant,
                    &p.actor(),
                    domain::CalendarFeed {
                        id: feed_id,
                        person_id: person,
                        secret_hash,
                        created_at: Utc::now(),
                        revoked_at: None,
                    },
                )
                .await?;
            Ok(pb::CalendarFeed {
                token,
                created_at: ts(feed.created_at),
                active: true,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn revoke_my_calendar_feed(
        &self,
        req: Request<pb::GetMyCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let p = principal(&req)?;
        respond(async {
            let person = me(&p, "have a calendar feed")?;
            self.store
                .revoke_feeds(p.tenant, &p.actor(), person)
                .await?;
            Ok(pb::CalendarFeed {
                token: String::new(),
                created_at: String::new(),
                active: false,
            })
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant))]
    async fn get_event_ics(
        &self,
        req: Request<pb::EventRef>,
    ) -> Result<Response<pb::IcsDocument>, Status> {
        let p = principal(&req)?;
        let r = req.into_inner();
        respond(async {
            let e = self.event(&p, id("event_id", &r.event_id)?).await?;
            let file_name = format!("{}.ics", e.series_id.unwrap_or(e.id));
            let name = e.title.clone();
            let ics = feed::calendar(self.store.as_ref(), p.tenant, &name, vec![e]).await?;
            Ok(pb::IcsDocument { file_name, ics })
        })
        .await
    }
}
