//! A scored year for the demo district, written through the scoring
//! service's own gRPC API (and scheduling's, for training attendance) with
//! the token of whoever would do each step in real life: the tenant admin
//! sets up the rubric, anchors, qualifying set and portfolios, each scorer
//! takes the qualifying set and submits their own reads, the cluster leads
//! run their sessions. So the demo data passes the same rules (eligibility,
//! blind double reads, own-school exclusion, adjudication) as anything a
//! person enters.
//!
//! What it writes for `lakeside` (the writing-portfolio programme; the other
//! demo programmes do not score portfolios):
//!
//! - a 4-point rubric (Novice, Apprentice, Proficient, Distinguished) with two
//!   dimensions and three condition codes, 3 anchor papers per score point,
//!   and a qualifying set of 10 pre-scored papers for 2026/27;
//! - 60 portfolios of pseudonymous students of the four schools;
//! - North's scorers: Tess, Omar, Priya and Grace trained (attendance at the
//!   North scoring training) and qualified; Malik trained but failed the
//!   qualifying set twice; Rosa qualified but missed the training. Eligible
//!   scorers are only the first four, and the session's assignment report
//!   says why the other two were left out;
//! - North's scoring session of 10 November 2026 (the scheduled event),
//!   **closed**: 40 portfolios, 60% of them read blind a second time (never
//!   by a reader of the portfolio's own school), mostly in agreement, some
//!   adjacent, one pair two points apart that still awaits the cluster
//!   lead's third read (third reads stay open after a close, by design), two
//!   condition-coded folders, the lead's backreads done;
//! - South's session of February 2027, open with its 20 portfolios and no
//!   reads yet (South trains in January).
//!
//! One student of Maple Elementary has a research opt-out (written by the
//! membership seed), so the research extract leaves them out.
//!
//! Seeds a tenant only when it has no rubric yet, so a restart writes
//! nothing twice. A data directory seeded before the scoring demo existed
//! lacks North's extra scorers; it is left alone (delete the directory for
//! the full demo).

use std::collections::HashMap;

use collegium_membership::{
    MembershipStore,
    domain::{OrganisationFilter, Tenant, TenantKind},
};
use collegium_proto::{
    common::v1::PageRequest,
    scheduling::v1::{self as spb, scheduling_service_client::SchedulingServiceClient},
    scoring::v1::{self as pb, scoring_service_client::ScoringServiceClient},
};
use platform::{
    auth::{Grant, PersonId, TokenSigner},
    grpc::ForwardCaller,
    page::{MAX_PAGE_SIZE, Page},
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};
use uuid::Uuid;

type Scoring = ScoringServiceClient<InterceptedService<Channel, ForwardCaller>>;
type Scheduling = SchedulingServiceClient<InterceptedService<Channel, ForwardCaller>>;

/// The academic year of the demo (2026 = 2026/27).
const YEAR: i32 = 2026;

/// The Maple Elementary student whose family opted out of research: the
/// last of the school's folders, not the pair left awaiting a third read
/// (the third double-read folder of a school), so the research extract has
/// one student to leave out.
pub const OPTED_OUT_STUDENT: &str = "LS-101-0020";

/// North's scorers by e-mail local part, and what happened to each.
const NORTH_SCORERS: [Scorer; 6] = [
    Scorer::qualified("teacher.maple", &[9]),
    Scorer::qualified("omar.haddad", &[8]),
    Scorer::qualified("priya.raman", &[10]),
    Scorer::qualified("grace.lin", &[6, 8]),
    // Trained, but agreed on 5 and then 6 of 10 papers (70% needed).
    Scorer {
        local: "malik.johnson",
        trained: true,
        attempts: &[5, 6],
    },
    // Took the qualifying set online and passed, but missed the training:
    // anyone who scores must have been trained that year.
    Scorer {
        local: "rosa.delgado",
        trained: false,
        attempts: &[9],
    },
];

struct Scorer {
    local: &'static str,
    trained: bool,
    /// Papers agreed exactly on each qualifying attempt (of 10).
    attempts: &'static [usize],
}

impl Scorer {
    const fn qualified(local: &'static str, attempts: &'static [usize]) -> Self {
        Self {
            local,
            trained: true,
            attempts,
        }
    }
}

/// A reader's verdict on a folder: score points or a condition code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Score(i32),
    Code(&'static str),
}

/// North's folders per school (Maple's come first, then Birch's).
const NORTH_FOLDERS_PER_SCHOOL: usize = 20;

/// What each North folder deserves, in the order they were created (Maple's
/// 20, then Birch's 20): mostly 2s and 3s, a few 1s and 4s, one blank folder
/// and one written in another language (the 0s).
fn truth(i: usize) -> Verdict {
    const SCORES: [i32; 40] = [
        2, 3, 2, 1, 3, 0, 2, 3, 4, 2, 3, 2, 2, 3, 1, 3, 2, 4, 3, 2, //
        3, 2, 3, 4, 2, 3, 0, 2, 3, 3, 1, 2, 3, 4, 2, 3, 2, 3, 2, 3,
    ];
    match i {
        5 => Verdict::Code("blank"),
        26 => Verdict::Code("non_scorable_language"),
        _ => Verdict::Score(SCORES[i % SCORES.len()]),
    }
}

/// How far a blind second read is from the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offset {
    Agree,
    /// One point off, up (`true`) or down (at the ends of the scale, the
    /// only way there is).
    Adjacent(bool),
    /// Two points off: only the cluster lead's third read can settle it.
    Apart,
}

impl Offset {
    fn apply(self, first: i32) -> i32 {
        match self {
            Offset::Agree => first,
            Offset::Adjacent(up) if (up && first < 4) || first == 1 => first + 1,
            Offset::Adjacent(_) => first - 1,
            Offset::Apart if first <= 2 => first + 2,
            Offset::Apart => first - 2,
        }
    }
}

/// The offsets of the scored pairs, given each pair's first read and the
/// school (0 or 1) of its folder, in folder order. Which folders get a
/// second read depends on the session (the sample is seeded with its id), so
/// the plan is made from the pairs there are: within each school's pairs
/// every seventh is one point off, and exactly one pair of the school with
/// more pairs is two apart. Adjacent reads lean against the difference so
/// far, so second readers are neither harsher nor kinder overall. The
/// readers of one school's folders are always the same two scorers (the
/// other school's qualified ones), so that pair is flagged when the session
/// closes and the other usually is not.
fn offsets(pairs: &[(i32, usize)]) -> Vec<Offset> {
    let count = |g: usize| pairs.iter().filter(|(_, s)| *s == g).count();
    let wide = usize::from(count(1) >= count(0));
    let apart_at = count(wide).saturating_sub(1).min(2);
    let mut seen = [0usize; 2];
    let mut plan: Vec<Offset> = pairs
        .iter()
        .map(|&(_, g)| {
            let k = seen[g];
            seen[g] += 1;
            if g == wide && k == apart_at {
                Offset::Apart
            } else if k % 7 == 5 {
                Offset::Adjacent(true)
            } else {
                Offset::Agree
            }
        })
        .collect();
    // Each school's adjacent reads lean against that school's difference
    // so far (the two-apart pair's, in the wide one), and against the
    // session's when the school's is even.
    let shift = |o: Offset, first: i32| o.apply(first) - first;
    let mut drift = [0i32; 2];
    for (&(first, g), o) in pairs.iter().zip(&plan) {
        if *o == Offset::Apart {
            drift[g] += shift(*o, first);
        }
    }
    for (&(first, g), o) in pairs.iter().zip(plan.iter_mut()) {
        if let Offset::Adjacent(_) = o {
            let up = drift[g] < 0 || (drift[g] == 0 && drift[0] + drift[1] <= 0);
            *o = Offset::Adjacent(up);
            drift[g] += shift(*o, first);
        }
    }
    plan
}

/// The analytic dimensions that go with an overall score.
fn dimensions(score: i32, salt: usize) -> Vec<pb::DimensionScore> {
    let conventions = if salt.is_multiple_of(3) && score > 1 {
        score - 1
    } else {
        score
    };
    vec![
        pb::DimensionScore {
            key: "ideas".into(),
            score,
        },
        pb::DimensionScore {
            key: "conventions".into(),
            score: conventions,
        },
    ]
}

fn submission(assignment_id: &str, verdict: Verdict, salt: usize) -> pb::SubmitScoreRequest {
    match verdict {
        Verdict::Score(s) => pb::SubmitScoreRequest {
            assignment_id: assignment_id.into(),
            score: Some(s),
            dimensions: dimensions(s, salt),
            condition_code: None,
        },
        Verdict::Code(c) => pb::SubmitScoreRequest {
            assignment_id: assignment_id.into(),
            score: None,
            dimensions: vec![],
            condition_code: Some(c.into()),
        },
    }
}

fn page(token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: MAX_PAGE_SIZE,
        page_token: token.into(),
    })
}

struct Ctx<'a> {
    store: &'a dyn MembershipStore,
    signer: &'a TokenSigner,
    scoring: Channel,
    scheduling: Channel,
    tenant: Tenant,
}

impl Ctx<'_> {
    /// A short-lived token for `person` with their grants, as they would log in.
    async fn token(&self, person: Uuid) -> anyhow::Result<String> {
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
        Ok(self.signer.person_token(
            self.tenant.id,
            PersonId(person),
            &grants,
            chrono::Duration::minutes(10),
        ))
    }

    async fn scoring(&self, person: Uuid) -> anyhow::Result<Scoring> {
        Ok(ScoringServiceClient::with_interceptor(
            self.scoring.clone(),
            ForwardCaller::new(&self.token(person).await?)?,
        ))
    }

    async fn scheduling(&self, person: Uuid) -> anyhow::Result<Scheduling> {
        Ok(SchedulingServiceClient::with_interceptor(
            self.scheduling.clone(),
            ForwardCaller::new(&self.token(person).await?)?,
        ))
    }

    /// The person with e-mail `local@<slug>.example`, if present.
    async fn person(&self, local: &str) -> Option<Uuid> {
        let email = format!("{local}@{}.example", self.tenant.slug);
        self.store
            .person_by_email(self.tenant.id, &email)
            .await
            .ok()
            .map(|p| p.id)
    }
}

/// Seeds the scored year unless the tenant has a rubric already. Returns
/// whether anything was written.
pub async fn seed_if_empty(
    store: &dyn MembershipStore,
    signer: &TokenSigner,
    scoring_url: &str,
    scheduling_url: &str,
) -> anyhow::Result<bool> {
    let scoring = platform::grpc::channel(scoring_url)?;
    let scheduling = platform::grpc::channel(scheduling_url)?;
    let mut seeded = false;
    for tenant in store.list_tenants().await? {
        // The writing-portfolio programme is the district's.
        if tenant.kind != TenantKind::District {
            continue;
        }
        let ctx = Ctx {
            store,
            signer,
            scoring: scoring.clone(),
            scheduling: scheduling.clone(),
            tenant,
        };
        seeded |= district(&ctx).await?;
    }
    Ok(seeded)
}

/// The people and places the district's scored year needs.
struct Cast {
    admin: Uuid,
    north: Uuid,
    north_lead: Uuid,
    north_schools: Vec<(Uuid, String)>,
    south: Uuid,
    south_lead: Uuid,
    south_schools: Vec<(Uuid, String)>,
    scorers: Vec<(Uuid, &'static Scorer)>,
}

async fn cast(ctx: &Ctx<'_>, admin: Uuid) -> anyhow::Result<Option<Cast>> {
    let (clusters, _) = ctx
        .store
        .list_clusters(ctx.tenant.id, &Default::default(), Page::first(100))
        .await?;
    let (orgs, _) = ctx
        .store
        .list_organisations(
            ctx.tenant.id,
            &OrganisationFilter::default(),
            Page::first(100),
        )
        .await?;
    let code: HashMap<Uuid, String> = orgs
        .into_iter()
        .filter_map(|o| Some((o.id, o.external_id?)))
        .collect();
    let cluster = |prefix: &str| {
        clusters
            .iter()
            .find(|c| c.name.starts_with(prefix))
            .and_then(|c| {
                let schools = c
                    .centre_ids
                    .iter()
                    .filter_map(|s| Some((*s, code.get(s)?.clone())))
                    .collect::<Vec<_>>();
                Some((c.id, c.lead_person_id?, schools))
            })
    };
    let (Some((north, north_lead, north_schools)), Some((south, south_lead, south_schools))) =
        (cluster("North"), cluster("South"))
    else {
        return Ok(None);
    };
    let mut scorers = Vec::new();
    for scorer in &NORTH_SCORERS {
        match ctx.person(scorer.local).await {
            Some(id) => scorers.push((id, scorer)),
            None => return Ok(None),
        }
    }
    if north_schools.len() < 2 || south_schools.len() < 2 {
        return Ok(None);
    }
    Ok(Some(Cast {
        admin,
        north,
        north_lead,
        north_schools,
        south,
        south_lead,
        south_schools,
        scorers,
    }))
}

/// The scheduled event of `kind` for `cluster` in the demo year.
async fn event(
    admin: &mut Scheduling,
    cluster: Uuid,
    kind: spb::EventKind,
) -> anyhow::Result<Option<spb::Event>> {
    let page = admin
        .list_events(spb::ListEventsRequest {
            cluster_id: Some(cluster.to_string()),
            kind: Some(kind as i32),
            academic_year: Some(YEAR),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(page.events.into_iter().next())
}

async fn district(ctx: &Ctx<'_>) -> anyhow::Result<bool> {
    let Some(admin_id) = ctx.person("dac").await else {
        return Ok(false);
    };
    let mut admin = ctx.scoring(admin_id).await?;
    let existing = admin
        .list_rubrics(pb::ListRubricsRequest::default())
        .await?
        .into_inner();
    if !existing.rubrics.is_empty() {
        return Ok(false);
    }
    let Some(cast) = cast(ctx, admin_id).await? else {
        tracing::warn!(
            tenant = %ctx.tenant.slug,
            "no scoring demo: this data directory predates it (delete it for the full demo)"
        );
        return Ok(false);
    };
    let mut admin_schedule = ctx.scheduling(cast.admin).await?;
    let (Some(training), Some(north_event), Some(south_event)) = (
        event(
            &mut admin_schedule,
            cast.north,
            spb::EventKind::ScoringTraining,
        )
        .await?,
        event(
            &mut admin_schedule,
            cast.north,
            spb::EventKind::ScoringSession,
        )
        .await?,
        event(
            &mut admin_schedule,
            cast.south,
            spb::EventKind::ScoringSession,
        )
        .await?,
    ) else {
        tracing::warn!(tenant = %ctx.tenant.slug, "no scoring demo: the scoring events are missing");
        return Ok(false);
    };

    let rubric = rubric(&mut admin).await?;
    let set = qualifying_set(&mut admin, &rubric).await?;

    // Training is scheduling's record: who was at North's scoring training
    // (the schedule seed marked the cluster; this makes the scorers' part
    // explicit, whatever the order people were listed in).
    admin_schedule
        .record_attendance(spb::RecordAttendanceRequest {
            event_id: training.id.clone(),
            marks: cast
                .scorers
                .iter()
                .map(|(id, s)| spb::AttendanceMark {
                    person_id: id.to_string(),
                    status: if s.trained {
                        spb::AttendanceStatus::Present
                    } else {
                        spb::AttendanceStatus::NoShow
                    } as i32,
                })
                .collect(),
        })
        .await?;
    for (id, scorer) in &cast.scorers {
        let mut own = ctx.scoring(*id).await?;
        for exact in scorer.attempts {
            own.submit_qualification_attempt(pb::SubmitQualificationAttemptRequest {
                set_id: set.id.clone(),
                scores: set
                    .papers
                    .iter()
                    .enumerate()
                    .map(|(i, p)| pb::PaperScore {
                        paper_id: p.id.clone(),
                        score: if i < *exact {
                            p.true_score
                        } else if p.true_score < 4 {
                            p.true_score + 1
                        } else {
                            p.true_score - 1
                        },
                    })
                    .collect(),
            })
            .await?;
        }
    }

    // The folders: 20 per North school, 10 per South school.
    let mut folders = Vec::new();
    for (i, (school, code)) in cast.north_schools.iter().take(2).enumerate() {
        folders.extend(portfolios(
            *school,
            code,
            if i == 0 { 4 } else { 7 },
            NORTH_FOLDERS_PER_SCHOOL,
        ));
    }
    for (i, (school, code)) in cast.south_schools.iter().take(2).enumerate() {
        folders.extend(portfolios(*school, code, if i == 0 { 10 } else { 4 }, 10));
    }
    let created = admin
        .create_portfolios(pb::CreatePortfoliosRequest {
            portfolios: folders,
        })
        .await?
        .into_inner()
        .portfolios;
    let north_schools: Vec<String> = cast
        .north_schools
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let (north_folders, south_folders): (Vec<_>, Vec<_>) = created
        .into_iter()
        .partition(|p| north_schools.contains(&p.school_id));

    north_session(ctx, &cast, &rubric, &north_event, &north_folders).await?;

    // South scores in February, after its January training: the session is
    // set up with its folders, and nobody is assigned yet.
    let mut south_lead = ctx.scoring(cast.south_lead).await?;
    let session = south_lead
        .create_session(pb::CreateSessionRequest {
            event_id: south_event.id.clone(),
            rubric_id: rubric.id.clone(),
            cluster_id: cast.south.to_string(),
            academic_year: YEAR,
            name: "South cluster portfolio scoring, February 2027".into(),
            second_read_share: Some(0.25),
            ..Default::default()
        })
        .await?
        .into_inner();
    south_lead
        .add_session_portfolios(pb::AddSessionPortfoliosRequest {
            session_id: session.id,
            portfolio_ids: south_folders.iter().map(|p| p.id.clone()).collect(),
        })
        .await?;
    Ok(true)
}

async fn rubric(admin: &mut Scoring) -> anyhow::Result<pb::Rubric> {
    let point = |value: i32, label: &str| pb::ScorePoint {
        value,
        label: label.into(),
    };
    let code = |code: &str, label: &str| pb::ConditionCode {
        code: code.into(),
        label: label.into(),
    };
    let rubric = admin
        .create_rubric(pb::CreateRubricRequest {
            programme: "writing-portfolio".into(),
            name: "Writing Portfolio Rubric 2026/27".into(),
            score_points: vec![
                point(1, "Novice"),
                point(2, "Apprentice"),
                point(3, "Proficient"),
                point(4, "Distinguished"),
            ],
            dimensions: vec![
                pb::Dimension {
                    key: "ideas".into(),
                    name: "Ideas and development".into(),
                    min: 1,
                    max: 4,
                },
                pb::Dimension {
                    key: "conventions".into(),
                    name: "Conventions".into(),
                    min: 1,
                    max: 4,
                },
            ],
            condition_codes: vec![
                code("blank", "Blank or nearly blank"),
                code("insufficient", "Too little writing to score"),
                code(
                    "non_scorable_language",
                    "Written in a language other than English",
                ),
            ],
            // The default for 4 points: 70% exact agreement.
            qualification_threshold: None,
        })
        .await?
        .into_inner();
    const ANCHORS: [(&str, &str, &str); 12] = [
        (
            "Lost dog",
            "narrative",
            "A sequence of events without a clear focus; few details.",
        ),
        (
            "Why we need recess",
            "opinion",
            "States an opinion; reasons are listed but not developed.",
        ),
        (
            "Frogs",
            "informational",
            "Facts copied in a list; no introduction or conclusion.",
        ),
        (
            "My grandmother's kitchen",
            "narrative",
            "A focus emerges but details are general; simple transitions.",
        ),
        (
            "School uniforms",
            "opinion",
            "Reasons support the opinion but some wander off topic.",
        ),
        (
            "How volcanoes form",
            "informational",
            "Organised by topic; explanations are thin in places.",
        ),
        (
            "The night the power went out",
            "narrative",
            "Clear focus, purposeful details and pacing; minor slips in conventions.",
        ),
        (
            "Should the library stay open late?",
            "opinion",
            "Reasons developed with evidence; a counter-argument addressed briefly.",
        ),
        (
            "The water cycle",
            "informational",
            "Well organised with precise vocabulary; conclusion follows from the body.",
        ),
        (
            "Crossing the river",
            "narrative",
            "Controlled voice; details chosen for effect; conventions nearly flawless.",
        ),
        (
            "A four-day school week",
            "opinion",
            "Compelling reasoning; evidence weighed; counter-arguments answered.",
        ),
        (
            "Bees and the food we eat",
            "informational",
            "Insightful synthesis of sources; sophisticated structure and style.",
        ),
    ];
    for (i, (title, genre, note)) in ANCHORS.iter().enumerate() {
        let point = i as i32 / 3 + 1;
        admin
            .add_anchor_paper(pb::AddAnchorPaperRequest {
                rubric_id: rubric.id.clone(),
                score_point: point,
                title: format!("{title} ({genre})"),
                work_ref: format!(
                    "https://files.lakeside.example/anchors/2026/point-{point}-{}.pdf",
                    i % 3 + 1
                ),
                annotation: format!("Scored {point}: {note}"),
            })
            .await?;
    }
    Ok(rubric)
}

/// The qualifying set, as the admin sees it (with the agreed scores).
async fn qualifying_set(
    admin: &mut Scoring,
    rubric: &pb::Rubric,
) -> anyhow::Result<pb::QualificationSet> {
    const PAPERS: [(&str, i32); 10] = [
        ("The broken kite", 2),
        ("Should pets be allowed in class?", 3),
        ("Sharks", 1),
        ("Moving day", 3),
        ("Recycling at home", 2),
        ("The lighthouse keeper", 4),
        ("Homework on weekends", 2),
        ("Life in a tide pool", 3),
        ("My best friend", 1),
        ("Why the bus should come later", 4),
    ];
    Ok(admin
        .create_qualification_set(pb::CreateQualificationSetRequest {
            rubric_id: rubric.id.clone(),
            academic_year: YEAR,
            kind: pb::SetKind::Qualifying as i32,
            name: "Qualifying set A, 2026/27".into(),
            papers: PAPERS
                .iter()
                .enumerate()
                .map(|(i, (title, score))| pb::PrescoredPaper {
                    id: String::new(),
                    title: (*title).into(),
                    work_ref: format!(
                        "https://files.lakeside.example/qualifying/2026/a-{:02}.pdf",
                        i + 1
                    ),
                    true_score: *score,
                })
                .collect(),
        })
        .await?
        .into_inner())
}

/// `n` folders of students of `school` (external id like `LSD-101`), with
/// pseudonymous student ids `LS-101-0001`…
fn portfolios(school: Uuid, code: &str, grade: i32, n: usize) -> Vec<pb::NewPortfolio> {
    let number = code.rsplit('-').next().unwrap_or(code);
    (1..=n)
        .map(|k| {
            let student = format!("LS-{number}-{k:04}");
            let pieces = [
                ("narrative", "A day I will remember"),
                ("informational", "An animal of our state"),
                ("opinion", "A change our school should make"),
            ]
            .iter()
            .map(|(genre, title)| pb::Piece {
                genre: (*genre).into(),
                title: (*title).into(),
                work_ref: format!(
                    "https://files.lakeside.example/portfolios/2026/{student}/{genre}.pdf"
                ),
            })
            .collect();
            pb::NewPortfolio {
                student_ref: student,
                school_id: school.to_string(),
                grade_level: grade,
                academic_year: YEAR,
                pieces,
            }
        })
        .collect()
}

/// North's session, from planning to close.
async fn north_session(
    ctx: &Ctx<'_>,
    cast: &Cast,
    rubric: &pb::Rubric,
    event: &spb::Event,
    folders: &[pb::Portfolio],
) -> anyhow::Result<()> {
    let mut lead = ctx.scoring(cast.north_lead).await?;
    let session = lead
        .create_session(pb::CreateSessionRequest {
            event_id: event.id.clone(),
            rubric_id: rubric.id.clone(),
            cluster_id: cast.north.to_string(),
            academic_year: YEAR,
            name: "North cluster portfolio scoring, November 2026".into(),
            // 60% of the folders are read twice, so the session has about
            // 24 pairs and each scorer about a dozen: enough for the
            // agreement statistics and their flags (10 pairs at least).
            second_read_share: Some(0.6),
            backread_share: Some(0.1),
            resolution_rule: "adjacent_average".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    lead.add_session_portfolios(pb::AddSessionPortfoliosRequest {
        session_id: session.id.clone(),
        portfolio_ids: folders.iter().map(|p| p.id.clone()).collect(),
    })
    .await?;
    // Everyone is put forward; Malik (not qualified) and Rosa (not trained)
    // come back in the report's refused_scorers with the reasons.
    let report = lead
        .assign_session(pb::AssignSessionRequest {
            session_id: session.id.clone(),
            scorer_ids: cast.scorers.iter().map(|(id, _)| id.to_string()).collect(),
        })
        .await?
        .into_inner();
    tracing::debug!(
        assigned = report.assigned,
        refused = report.refused_scorers.len(),
        unassignable = report.unassignable.len(),
        "north session assigned"
    );

    let assignments = session_assignments(&mut lead, &session.id).await?;
    let index: HashMap<&str, usize> = folders
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut reads: Vec<(usize, &pb::Assignment)> = assignments
        .iter()
        .filter(|a| a.kind == pb::ReadKind::First as i32 || a.kind == pb::ReadKind::Second as i32)
        .filter_map(|a| Some((*index.get(a.portfolio_id.as_str())?, a)))
        .collect();
    reads.sort_by_key(|(i, a)| (a.kind, *i));

    // First reads give the folder's due; second reads of scored folders
    // are off as planned; condition-coded folders get the same code twice.
    let paired: Vec<usize> = reads
        .iter()
        .filter(|(i, a)| {
            a.kind == pb::ReadKind::Second as i32 && matches!(truth(*i), Verdict::Score(_))
        })
        .map(|(i, _)| *i)
        .collect();
    let plan: HashMap<usize, Offset> = paired
        .iter()
        .copied()
        .zip(offsets(
            &paired
                .iter()
                .map(|i| {
                    let first = match truth(*i) {
                        Verdict::Score(s) => s,
                        Verdict::Code(_) => 0,
                    };
                    (first, usize::from(*i >= NORTH_FOLDERS_PER_SCHOOL))
                })
                .collect::<Vec<_>>(),
        ))
        .collect();
    let mut clients: HashMap<String, Scoring> = HashMap::new();
    for (i, a) in reads {
        let verdict = match truth(i) {
            Verdict::Score(s) if a.kind == pb::ReadKind::Second as i32 => {
                Verdict::Score(plan.get(&i).copied().unwrap_or(Offset::Agree).apply(s))
            }
            v => v,
        };
        let client = match clients.get_mut(&a.scorer_id) {
            Some(c) => c,
            None => {
                let c = ctx.scoring(a.scorer_id.parse()?).await?;
                clients.entry(a.scorer_id.clone()).or_insert(c)
            }
        };
        client
            .submit_score(submission(&a.id, verdict, i + a.kind as usize))
            .await?;
    }

    // The lead backreads a sample of each scorer's reads before closing.
    lead.plan_backreads(pb::SessionRef {
        session_id: session.id.clone(),
    })
    .await?;
    for a in session_assignments(&mut lead, &session.id).await? {
        if a.kind != pb::ReadKind::Backread as i32 || a.submitted {
            continue;
        }
        if let Some(i) = index.get(a.portfolio_id.as_str()) {
            lead.submit_score(submission(&a.id, truth(*i), *i)).await?;
        }
    }
    // Closed with the two-points-apart pair still awaiting the lead's third read.
    lead.close_session(pb::SessionRef {
        session_id: session.id,
    })
    .await?;
    Ok(())
}

async fn session_assignments(
    lead: &mut Scoring,
    session: &str,
) -> anyhow::Result<Vec<pb::Assignment>> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = lead
            .list_session_assignments(pb::ListSessionAssignmentsRequest {
                page: page(&token),
                session_id: session.into(),
                scorer_id: String::new(),
            })
            .await?
            .into_inner();
        out.extend(page.assignments);
        token = page.page.map(|p| p.next_page_token).unwrap_or_default();
        if token.is_empty() {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_pair_awaits_a_third_read_and_second_readers_do_not_lean() {
        for n in 1..=24 {
            // Pairs of both schools, in folder order, over the scale.
            let pairs: Vec<(i32, usize)> = (0..n)
                .map(|k| (k % 4 + 1, usize::from(k * 3 % 5 < 2)))
                .collect();
            let plan = offsets(&pairs);
            assert_eq!(plan.len(), pairs.len());
            assert_eq!(plan.iter().filter(|o| **o == Offset::Apart).count(), 1);
            let drift: i32 = pairs
                .iter()
                .zip(&plan)
                .map(|(&(first, _), o)| o.apply(first) - first)
                .sum();
            assert!(drift.abs() <= 2, "{n} pairs drift by {drift}");
            for (&(first, _), o) in pairs.iter().zip(&plan) {
                let second = o.apply(first);
                assert!((1..=4).contains(&second), "{first} {o:?}");
                let gap = (second - first).abs();
                assert_eq!(gap == 2, *o == Offset::Apart);
            }
        }
    }

    #[test]
    fn the_opted_out_student_is_one_of_the_demo_folders() {
        let refs: Vec<String> = portfolios(Uuid::nil(), "LSD-101", 4, NORTH_FOLDERS_PER_SCHOOL)
            .into_iter()
            .map(|p| p.student_ref)
            .collect();
        assert!(refs.contains(&OPTED_OUT_STUDENT.to_string()), "{refs:?}");
    }
}
