//! Scoring through the gateway, with scoring down or faked: GraphQL fields
//! need a token and report an unreachable service as UNAVAILABLE; what the
//! gateway checks itself is refused before any call; arguments and inputs
//! reach the service field for field with the caller's token, and answers
//! come back in the schema's shape; the service's refusals come back
//! through the one error conversion naming the field as GraphQL spells it;
//! relations are batched per request; and each tenant sees only its own
//! records (the fake takes the tenant from the verified token, as the
//! service does).

use collegium_proto::{
    common::v1::PageRequest,
    scheduling::v1::{self as scheduling_pb, scheduling_service_server::SchedulingServiceServer},
    scoring::v1::{self as pb, scoring_service_server::ScoringServiceServer},
};
use platform::{
    auth::{Grant, PersonId, Role, TenantId},
    grpc::Authenticate,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestIssuer;
use uuid::Uuid;

use crate::{
    fake_scheduling::FakeScheduling,
    fake_scoring::{FakeScoring, NOW},
    helpers::{
        FakeUpstream, TestGateway, assert_unauthenticated, codes, fake_upstream, spawn_gateway,
        spawn_gateway_trusting, spawn_gateway_with,
    },
};

/// `NOW` as the schema's `DateTime` writes it.
const NOW_OUT: &str = "2027-03-01T09:00:00+00:00";

fn debug<T: std::fmt::Debug>(request: T) -> String {
    format!("{request:?}")
}

fn uuid() -> String {
    Uuid::now_v7().to_string()
}

/// A person of a tenant, with a token both the gateway and the fake trust.
struct Caller {
    tenant: TenantId,
    person: String,
    token: String,
}

/// A gateway in front of a fake scoring (and, when given, a fake
/// scheduling); membership stays down.
struct Setup {
    gw: TestGateway,
    fake: FakeScoring,
    _scoring: FakeUpstream,
    _scheduling: Option<FakeUpstream>,
}

async fn setup_with(scheduling: Option<FakeScheduling>) -> Setup {
    let issuer = TestIssuer::new();
    let fake = FakeScoring::default();
    let scoring = fake_upstream(tonic::service::Routes::new(
        ScoringServiceServer::with_interceptor(
            fake.clone(),
            Authenticate::new(issuer.verifier.clone()),
        ),
    ))
    .await;
    let scheduling = match scheduling {
        Some(f) => {
            Some(fake_upstream(tonic::service::Routes::new(SchedulingServiceServer::new(f))).await)
        }
        None => None,
    };
    let scoring_url = scoring.url.clone();
    let scheduling_url = scheduling.as_ref().map(|s| s.url.clone());
    let gw = spawn_gateway_trusting(issuer, |c| {
        c.scoring_url = scoring_url;
        if let Some(url) = scheduling_url {
            c.scheduling_url = url;
        }
    })
    .await;
    Setup {
        gw,
        fake,
        _scoring: scoring,
        _scheduling: scheduling,
    }
}

async fn setup() -> Setup {
    setup_with(None).await
}

impl Setup {
    /// A tenant admin of `tenant`.
    fn caller(&self, tenant: TenantId) -> Caller {
        let person = PersonId::new_v7();
        let token = self.gw.issuer.token(
            tenant,
            person,
            &[Grant {
                role: Role::TenantAdmin,
                cluster: None,
            }],
        );
        Caller {
            tenant,
            person: person.to_string(),
            token,
        }
    }

    /// The data of a request that must succeed.
    async fn data(&self, who: &Caller, query: &str) -> Value {
        let (status, body) = self.gw.query(Some(&who.token), query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "{query}\n{body}");
        body["data"].clone()
    }

    /// The whole answer to a request expected to fail.
    async fn refused(&self, who: &Caller, query: &str) -> Value {
        let (_, body) = self.gw.query(Some(&who.token), query).await;
        assert!(body.get("errors").is_some(), "{query}\n{body}");
        body
    }

    /// Every call so far was answered for `who`'s tenant and carried
    /// `who`'s own token.
    fn assert_every_call_was(&self, who: &Caller) {
        let bearer = format!("Bearer {}", who.token);
        let calls = self.fake.calls.lock().unwrap().clone();
        assert!(!calls.is_empty());
        for call in calls {
            assert_eq!(
                call.authorization.as_deref(),
                Some(bearer.as_str()),
                "{call:?}"
            );
            assert_eq!(call.tenant, who.tenant, "{call:?}");
        }
    }

    /// A rubric of `who`'s tenant, made through the gateway.
    async fn rubric(&self, who: &Caller, programme: &str, name: &str) -> String {
        let data = self
            .data(
                who,
                &format!(
                    r#"mutation {{ createRubric(input: {{ programme: "{programme}", name: "{name}",
                        scorePoints: [{{ value: 1, label: "Beginning" }}, {{ value: 2, label: "Developing" }},
                                      {{ value: 3, label: "Secure" }}],
                        conditionCodes: [{{ code: "blank", label: "Blank" }}],
                        qualificationThreshold: 0.5 }}) {{ id }} }}"#
                ),
            )
            .await;
        data["createRubric"]["id"].as_str().unwrap().to_string()
    }

    /// A session of `who`'s tenant on `rubric`, made through the gateway.
    async fn session(&self, who: &Caller, rubric: &str, name: &str) -> String {
        let data = self
            .data(
                who,
                &format!(
                    r#"mutation {{ createScoringSession(input: {{ eventId: "{}", rubricId: "{rubric}",
                        clusterId: "{}", academicYear: 2026, name: "{name}" }}) {{ id }} }}"#,
                    uuid(),
                    uuid()
                ),
            )
            .await;
        data["createScoringSession"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// Every top-level scoring field, with the minimum it needs, and its name.
fn every_scoring_field() -> Vec<(String, &'static str)> {
    let id = uuid();
    vec![
        ("{ rubrics { edges { node { id } } } }".into(), "rubrics"),
        (format!("{{ rubric(id: \"{id}\") {{ id }} }}"), "rubric"),
        ("{ portfolios { edges { node { id } } } }".into(), "portfolios"),
        (format!("{{ portfolio(id: \"{id}\") {{ id }} }}"), "portfolio"),
        ("{ qualificationSets(rubricId: \"r\") { id } }".into(), "qualificationSets"),
        (
            "{ eligibility(sessionId: \"s\") { eligible } }".into(),
            "eligibility",
        ),
        (
            "{ scoringSessions { edges { node { id } } } }".into(),
            "scoringSessions",
        ),
        (
            format!("{{ scoringSession(id: \"{id}\") {{ id }} }}"),
            "scoringSession",
        ),
        (
            "{ myAssignments { edges { node { id } } } }".into(),
            "myAssignments",
        ),
        (
            "{ sessionAssignments(sessionId: \"s\") { edges { node { id } } } }".into(),
            "sessionAssignments",
        ),
        (
            "{ scoreHistory(sessionId: \"s\", portfolioId: \"p\") { scores { id } } }".into(),
            "scoreHistory",
        ),
        (
            "{ results(sessionId: \"s\") { edges { node { state } } } }".into(),
            "results",
        ),
        (
            "{ agreementStats(groupBy: YEAR) { key } }".into(),
            "agreementStats",
        ),
        (
            "{ schoolScoresCsv(academicYear: 2026, schoolId: \"o\") { csv } }".into(),
            "schoolScoresCsv",
        ),
        (
            "{ researchExtractCsv(academicYear: 2026) { csv } }".into(),
            "researchExtractCsv",
        ),
        (
            r#"mutation { createRubric(input: { programme: "w", name: "n",
                scorePoints: [{ value: 1, label: "a" }] }) { id } }"#
                .into(),
            "createRubric",
        ),
        (
            r#"mutation { addAnchorPaper(input: { rubricId: "r", scorePoint: 1, title: "t",
                workRef: "w" }) { id } }"#
                .into(),
            "addAnchorPaper",
        ),
        (
            "mutation { createPortfolios(input: { portfolios: [] }) { id } }".into(),
            "createPortfolios",
        ),
        (
            "mutation { promotePortfolios(input: { fromYear: 2026 }) { promoted } }".into(),
            "promotePortfolios",
        ),
        (
            r#"mutation { createQualificationSet(input: { rubricId: "r", academicYear: 2026,
                kind: QUALIFYING, name: "n", papers: [] }) { id } }"#
                .into(),
            "createQualificationSet",
        ),
        (
            r#"mutation { submitQualificationAttempt(input: { setId: "q", scores: [] }) { passed } }"#
                .into(),
            "submitQualificationAttempt",
        ),
        (
            r#"mutation { createScoringSession(input: { eventId: "e", rubricId: "r",
                clusterId: "c", academicYear: 2026, name: "n" }) { id } }"#
                .into(),
            "createScoringSession",
        ),
        (
            r#"mutation { addSessionPortfolios(input: { sessionId: "s", portfolioIds: [] }) { id } }"#
                .into(),
            "addSessionPortfolios",
        ),
        (
            r#"mutation { assignScoringSession(input: { sessionId: "s", scorerIds: [] }) { assigned } }"#
                .into(),
            "assignScoringSession",
        ),
        (
            r#"mutation { planBackreads(input: { sessionId: "s" }) { assigned } }"#.into(),
            "planBackreads",
        ),
        (
            r#"mutation { closeScoringSession(input: { sessionId: "s" }) { status } }"#.into(),
            "closeScoringSession",
        ),
        (
            r#"mutation { submitScore(input: { assignmentId: "a", score: 3 }) { id } }"#.into(),
            "submitScore",
        ),
        (
            r#"mutation { correctScore(input: { assignmentId: "a", score: 2, reason: "r" }) { id } }"#
                .into(),
            "correctScore",
        ),
    ]
}

#[tokio::test]
async fn scoring_fields_need_a_token() {
    let gw = spawn_gateway().await;
    for (query, _) in every_scoring_field() {
        let (status, body) = gw.query(None, &query).await;
        assert_unauthenticated(status, &body);
    }
}

#[tokio::test]
async fn scoring_fields_meeting_a_down_scoring_are_unavailable() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    let fields = every_scoring_field();
    assert_eq!(fields.len(), 28, "15 queries and 13 mutations");
    for (query, path) in fields {
        let (status, body) = gw.query(Some(&token), &query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(codes(&body), ["UNAVAILABLE"], "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], json!([path]), "{body}");
    }
}

/// Each of these is refused by the gateway itself: scoring is down, so a
/// call would have shown as UNAVAILABLE instead.
#[tokio::test]
async fn what_the_gateway_checks_is_bad_input_naming_the_field_before_any_call() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    let cases = [
        ("{ rubric(id: \"bob\") { id } }", "id"),
        ("{ portfolio(id: \"42\") { id } }", "id"),
        ("{ scoringSession(id: \"\") { id } }", "id"),
        ("{ rubrics(first: 0) { edges { node { id } } } }", "first"),
        (
            "{ results(sessionId: \"s\", first: 501) { edges { node { state } } } }",
            "first",
        ),
        (
            "{ myAssignments(first: -1) { edges { node { id } } } }",
            "first",
        ),
        (
            r#"mutation { submitScore(input: { assignmentId: "a", score: 3,
                conditionCode: "blank" }) { id } }"#,
            "conditionCode",
        ),
        (
            r#"mutation { submitScore(input: { assignmentId: "a" }) { id } }"#,
            "score",
        ),
        (
            r#"mutation { correctScore(input: { assignmentId: "a", reason: "r" }) { id } }"#,
            "score",
        ),
    ];
    for (query, field) in cases {
        let (_, body) = gw.query(Some(&token), query).await;
        assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{query}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["fields"][0]["field"], field,
            "{body}"
        );
    }
}

#[tokio::test]
async fn dev_mode_introspection_shows_the_scoring_types() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    let (_, body) = gw.query(None, "{ __schema { types { name } } }").await;
    let names: Vec<&str> = body["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "Rubric",
        "RubricConnection",
        "AnchorPaper",
        "Portfolio",
        "QualificationSet",
        "ScoringSession",
        "ScoringSessionConnection",
        "Assignment",
        "Score",
        "PortfolioResult",
        "AgreementRow",
        "ScoringExport",
        "QualificationSetKind",
        "ScoringSessionStatus",
        "ReadKind",
        "AgreementGroupBy",
        "CreateRubricInput",
        "SubmitScoreInput",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
}

#[tokio::test]
async fn rubrics_and_anchor_papers_round_trip_with_the_callers_token() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let data = s
        .data(
            &me,
            r#"mutation { createRubric(input: { programme: "writing", name: "Portfolio rubric",
                scorePoints: [{ value: 1, label: "Beginning" }, { value: 2, label: "Developing" }],
                dimensions: [{ key: "voice", name: "Voice", min: 1, max: 4 }],
                conditionCodes: [{ code: "blank", label: "Blank" }],
                qualificationThreshold: 0.7 }) {
                id programme name scorePoints { value label } dimensions { key name min max }
                conditionCodes { code label } qualificationThreshold
                anchorCounts { scorePoint count } anchorPapers { id } createdAt } }"#,
        )
        .await;
    let rubric = &data["createRubric"];
    let a = rubric["id"].as_str().unwrap().to_string();
    assert_eq!(
        rubric,
        &json!({
            "id": a, "programme": "writing", "name": "Portfolio rubric",
            "scorePoints": [{ "value": 1, "label": "Beginning" }, { "value": 2, "label": "Developing" }],
            "dimensions": [{ "key": "voice", "name": "Voice", "min": 1, "max": 4 }],
            "conditionCodes": [{ "code": "blank", "label": "Blank" }],
            "qualificationThreshold": 0.7,
            "anchorCounts": [{ "scorePoint": 1, "count": 0 }, { "scorePoint": 2, "count": 0 }],
            "anchorPapers": [], "createdAt": NOW_OUT,
        })
    );
    assert_eq!(
        s.fake.request("create_rubric"),
        debug(pb::CreateRubricRequest {
            programme: "writing".into(),
            name: "Portfolio rubric".into(),
            score_points: vec![
                pb::ScorePoint {
                    value: 1,
                    label: "Beginning".into(),
                },
                pb::ScorePoint {
                    value: 2,
                    label: "Developing".into(),
                },
            ],
            dimensions: vec![pb::Dimension {
                key: "voice".into(),
                name: "Voice".into(),
                min: 1,
                max: 4,
            }],
            condition_codes: vec![pb::ConditionCode {
                code: "blank".into(),
                label: "Blank".into(),
            }],
            qualification_threshold: Some(0.7),
        })
    );

    // An anchor paper; its rubric, read afresh, counts it.
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ addAnchorPaper(input: {{ rubricId: "{a}", scorePoint: 2,
                    title: "Developing anchor", workRef: "doc://a2", annotation: "Clear voice" }}) {{
                    rubricId scorePoint title workRef annotation
                    rubric {{ anchorCounts {{ scorePoint count }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["addAnchorPaper"],
        json!({
            "rubricId": a, "scorePoint": 2, "title": "Developing anchor",
            "workRef": "doc://a2", "annotation": "Clear voice",
            "rubric": { "anchorCounts": [{ "scorePoint": 1, "count": 0 }, { "scorePoint": 2, "count": 1 }] },
        })
    );
    assert_eq!(
        s.fake.request("add_anchor_paper"),
        debug(pb::AddAnchorPaperRequest {
            rubric_id: a.clone(),
            score_point: 2,
            title: "Developing anchor".into(),
            work_ref: "doc://a2".into(),
            annotation: "Clear voice".into(),
        })
    );

    // Left out, the optional parts are empty and the threshold unset.
    let data = s
        .data(
            &me,
            r#"mutation { b: createRubric(input: { programme: "writing", name: "Short",
                scorePoints: [{ value: 0, label: "No" }, { value: 1, label: "Yes" }] }) { id }
                c: createRubric(input: { programme: "languages", name: "Oral",
                scorePoints: [{ value: 1, label: "A" }, { value: 2, label: "B" }] }) { id } }"#,
        )
        .await;
    let b = data["b"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        s.fake.calls("create_rubric")[1].request,
        debug(pb::CreateRubricRequest {
            programme: "writing".into(),
            name: "Short".into(),
            score_points: vec![
                pb::ScorePoint {
                    value: 0,
                    label: "No".into(),
                },
                pb::ScorePoint {
                    value: 1,
                    label: "Yes".into(),
                },
            ],
            dimensions: vec![],
            condition_codes: vec![],
            qualification_threshold: None,
        })
    );

    // A connection of one programme, a page at a time.
    let data = s
        .data(
            &me,
            r#"{ rubrics(first: 1, programme: "writing") {
                edges { cursor node { name anchorPapers { title scorePoint } } }
                pageInfo { hasNextPage hasPreviousPage endCursor } } }"#,
        )
        .await;
    assert_eq!(
        data["rubrics"],
        json!({
            "edges": [{ "cursor": a, "node": { "name": "Portfolio rubric",
                "anchorPapers": [{ "title": "Developing anchor", "scorePoint": 2 }] } }],
            "pageInfo": { "hasNextPage": true, "hasPreviousPage": false, "endCursor": a },
        })
    );
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ rubrics(first: 1, after: "{a}", programme: "writing") {{
                    edges {{ node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["rubrics"],
        json!({
            "edges": [{ "node": { "id": b } }],
            "pageInfo": { "hasNextPage": false, "hasPreviousPage": true },
        })
    );
    assert_eq!(
        s.fake.calls("list_rubrics")[1].request,
        debug(pb::ListRubricsRequest {
            page: Some(PageRequest {
                page_size: 1,
                page_token: a.clone(),
            }),
            programme: "writing".into(),
        })
    );

    // By id: one GetRubrics for every rubric the request names; an unknown
    // id is null; anchor papers are asked for once per rubric.
    let before = s.fake.calls("get_rubrics").len();
    let anchors_before = s.fake.calls("list_anchor_papers").len();
    let nobody = uuid();
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ a: rubric(id: "{a}") {{ name anchorPapers {{ title }} }}
                     again: rubric(id: "{a}") {{ anchorPapers {{ workRef }} }}
                     b: rubric(id: "{b}") {{ name }} none: rubric(id: "{nobody}") {{ name }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "a": { "name": "Portfolio rubric", "anchorPapers": [{ "title": "Developing anchor" }] },
            "again": { "anchorPapers": [{ "workRef": "doc://a2" }] },
            "b": { "name": "Short" },
            "none": null,
        })
    );
    let lookups = s.fake.calls("get_rubrics");
    assert_eq!(lookups.len(), before + 1, "{lookups:?}");
    for id in [&a, &b, &nobody] {
        assert!(lookups[before].request.contains(id.as_str()));
    }
    assert_eq!(s.fake.calls("list_anchor_papers").len(), anchors_before + 1);
    s.assert_every_call_was(&me);
}

#[tokio::test]
async fn portfolios_round_trip_and_are_promoted_at_year_end() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let school = uuid();
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ createPortfolios(input: {{ portfolios: [
                    {{ studentRef: "S-001", schoolId: "{school}", gradeLevel: 4, academicYear: 2026,
                       pieces: [{{ genre: "narrative", title: "My summer", workRef: "doc://1" }}] }},
                    {{ studentRef: "S-002", schoolId: "{school}", gradeLevel: 12, academicYear: 2026 }}] }}) {{
                    id studentRef schoolId gradeLevel academicYear pieces {{ genre title workRef }}
                    previousId previous {{ id }} }} }}"#
            ),
        )
        .await;
    let created = data["createPortfolios"].as_array().unwrap();
    let (first, last) = (
        created[0]["id"].as_str().unwrap().to_string(),
        created[1]["id"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        created[0],
        json!({
            "id": first, "studentRef": "S-001", "schoolId": school, "gradeLevel": 4,
            "academicYear": 2026,
            "pieces": [{ "genre": "narrative", "title": "My summer", "workRef": "doc://1" }],
            "previousId": null, "previous": null,
        })
    );
    assert_eq!(created[1]["pieces"], json!([]));
    assert_eq!(
        s.fake.request("create_portfolios"),
        debug(pb::CreatePortfoliosRequest {
            portfolios: vec![
                pb::NewPortfolio {
                    student_ref: "S-001".into(),
                    school_id: school.clone(),
                    grade_level: 4,
                    academic_year: 2026,
                    pieces: vec![pb::Piece {
                        genre: "narrative".into(),
                        title: "My summer".into(),
                        work_ref: "doc://1".into(),
                    }],
                },
                pb::NewPortfolio {
                    student_ref: "S-002".into(),
                    school_id: school.clone(),
                    grade_level: 12,
                    academic_year: 2026,
                    pieces: vec![],
                },
            ],
        })
    );

    let data = s
        .data(
            &me,
            &format!(
                r#"{{ portfolios(first: 10, academicYear: 2026, schoolId: "{school}") {{
                    edges {{ node {{ id gradeLevel }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["portfolios"]["edges"],
        json!([{ "node": { "id": first, "gradeLevel": 4 } }, { "node": { "id": last, "gradeLevel": 12 } }])
    );
    assert_eq!(
        s.fake.request("list_portfolios"),
        debug(pb::ListPortfoliosRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            academic_year: 2026,
            school_id: school.clone(),
        })
    );

    // Year end: grade 4 moves up, grade 12 graduates; a second run
    // promotes nothing twice.
    let data = s
        .data(
            &me,
            r#"mutation { promotePortfolios(input: { fromYear: 2026 }) {
                promoted alreadyPromoted graduated } }"#,
        )
        .await;
    assert_eq!(
        data["promotePortfolios"],
        json!({ "promoted": 1, "alreadyPromoted": 0, "graduated": 1 })
    );
    let data = s
        .data(
            &me,
            r#"mutation { promotePortfolios(input: { fromYear: 2026, finalGrade: 13 }) {
                promoted alreadyPromoted graduated } }"#,
        )
        .await;
    assert_eq!(
        data["promotePortfolios"],
        json!({ "promoted": 1, "alreadyPromoted": 1, "graduated": 0 })
    );
    let promotions = s.fake.calls("promote_portfolios");
    assert_eq!(
        promotions[0].request,
        debug(pb::PromotePortfoliosRequest {
            from_year: 2026,
            final_grade: None,
        })
    );
    assert_eq!(
        promotions[1].request,
        debug(pb::PromotePortfoliosRequest {
            from_year: 2026,
            final_grade: Some(13),
        })
    );

    // The new folders point back to last year's, loaded in one batch.
    let data = s
        .data(
            &me,
            r#"{ portfolios(academicYear: 2027) { edges { node {
                gradeLevel academicYear previousId previous { id gradeLevel studentRef } } } } }"#,
        )
        .await;
    assert_eq!(
        data["portfolios"]["edges"],
        json!([
            { "node": { "gradeLevel": 5, "academicYear": 2027, "previousId": first,
                "previous": { "id": first, "gradeLevel": 4, "studentRef": "S-001" } } },
            { "node": { "gradeLevel": 13, "academicYear": 2027, "previousId": last,
                "previous": { "id": last, "gradeLevel": 12, "studentRef": "S-002" } } },
        ])
    );
    assert_eq!(s.fake.calls("get_portfolios").len(), 1);

    // What a blind reader is sent: no student id, which is null, not "".
    let blind = uuid();
    s.fake.with(me.tenant, |t| {
        t.portfolios.push(pb::Portfolio {
            id: blind.clone(),
            school_id: school.clone(),
            grade_level: 4,
            academic_year: 2026,
            ..Default::default()
        })
    });
    let data = s
        .data(
            &me,
            &format!(r#"{{ portfolio(id: "{blind}") {{ id studentRef }} }}"#),
        )
        .await;
    assert_eq!(
        data["portfolio"],
        json!({ "id": blind, "studentRef": null })
    );
    s.assert_every_call_was(&me);
}

#[tokio::test]
async fn qualification_sets_attempts_and_eligibility_round_trip() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let rubric = s.rubric(&me, "writing", "Portfolio rubric").await;
    let session = s.session(&me, &rubric, "Spring scoring").await;
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ createQualificationSet(input: {{ rubricId: "{rubric}", academicYear: 2026,
                    kind: QUALIFYING, name: "Autumn qualifying", papers: [
                    {{ title: "P1", workRef: "doc://p1", trueScore: 1 }},
                    {{ title: "P2", workRef: "doc://p2", trueScore: 3 }}] }}) {{
                    id rubricId academicYear kind name papers {{ id title workRef trueScore }}
                    rubric {{ name }} }} }}"#
            ),
        )
        .await;
    let set = &data["createQualificationSet"];
    let set_id = set["id"].as_str().unwrap().to_string();
    let paper = |i: usize| set["papers"][i]["id"].as_str().unwrap().to_string();
    let (p1, p2) = (paper(0), paper(1));
    assert_eq!(
        set,
        &json!({
            "id": set_id, "rubricId": rubric, "academicYear": 2026, "kind": "QUALIFYING",
            "name": "Autumn qualifying",
            "papers": [
                { "id": p1, "title": "P1", "workRef": "doc://p1", "trueScore": 1 },
                { "id": p2, "title": "P2", "workRef": "doc://p2", "trueScore": 3 },
            ],
            "rubric": { "name": "Portfolio rubric" },
        })
    );
    assert_eq!(
        s.fake.request("create_qualification_set"),
        debug(pb::CreateQualificationSetRequest {
            rubric_id: rubric.clone(),
            academic_year: 2026,
            kind: pb::SetKind::Qualifying as i32,
            name: "Autumn qualifying".into(),
            papers: vec![
                pb::PrescoredPaper {
                    id: String::new(),
                    title: "P1".into(),
                    work_ref: "doc://p1".into(),
                    true_score: 1,
                },
                pb::PrescoredPaper {
                    id: String::new(),
                    title: "P2".into(),
                    work_ref: "doc://p2".into(),
                    true_score: 3,
                },
            ],
        })
    );

    let data = s
        .data(
            &me,
            &format!(
                r#"{{ mine: qualificationSets(rubricId: "{rubric}", academicYear: 2026) {{ id kind }}
                     all: qualificationSets(rubricId: "{rubric}") {{ id }}
                     none: qualificationSets(rubricId: "{rubric}", academicYear: 2025) {{ id }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "mine": [{ "id": set_id, "kind": "QUALIFYING" }],
            "all": [{ "id": set_id }],
            "none": [],
        })
    );
    let lists = s.fake.calls("list_qualification_sets");
    assert_eq!(lists.len(), 3);
    assert!(lists.contains(&crate::fake_scoring::Call {
        rpc: "list_qualification_sets",
        request: debug(pb::ListQualificationSetsRequest {
            rubric_id: rubric.clone(),
            academic_year: 2026,
        }),
        authorization: Some(format!("Bearer {}", me.token)),
        tenant: me.tenant,
    }));
    assert!(lists.iter().any(|c| c.request
        == debug(pb::ListQualificationSetsRequest {
            rubric_id: rubric.clone(),
            academic_year: 0,
        })));

    // Not qualified yet: the caller is not eligible, and is told why.
    let eligibility = format!(
        "{{ eligibility(sessionId: \"{session}\") {{ scorerId eligible reasons trained qualified calibrated }} }}"
    );
    let data = s.data(&me, &eligibility).await;
    assert_eq!(
        data["eligibility"],
        json!({
            "scorerId": me.person, "eligible": false,
            "reasons": ["has not passed a qualifying set of this rubric in 2026/27"],
            "trained": true, "qualified": false, "calibrated": true,
        })
    );
    assert_eq!(
        s.fake.calls("get_eligibility")[0].request,
        debug(pb::GetEligibilityRequest {
            session_id: session.clone(),
            scorer_id: String::new(),
        })
    );

    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ submitQualificationAttempt(input: {{ setId: "{set_id}", scores: [
                    {{ paperId: "{p1}", score: 1 }}, {{ paperId: "{p2}", score: 2 }}] }}) {{
                    setId scorerId papers exact exactShare threshold passed submittedAt
                    results {{ paperId given agreed }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["submitQualificationAttempt"],
        json!({
            "setId": set_id, "scorerId": me.person, "papers": 2, "exact": 1,
            "exactShare": 0.5, "threshold": 0.5, "passed": true, "submittedAt": NOW_OUT,
            "results": [
                { "paperId": p1, "given": 1, "agreed": 1 },
                { "paperId": p2, "given": 2, "agreed": 3 },
            ],
        })
    );
    assert_eq!(
        s.fake.request("submit_qualification_attempt"),
        debug(pb::SubmitQualificationAttemptRequest {
            set_id: set_id.clone(),
            scores: vec![
                pb::PaperScore {
                    paper_id: p1.clone(),
                    score: 1,
                },
                pb::PaperScore {
                    paper_id: p2.clone(),
                    score: 2,
                },
            ],
        })
    );
    let data = s.data(&me, &eligibility).await;
    assert_eq!(data["eligibility"]["eligible"], true);
    assert_eq!(data["eligibility"]["reasons"], json!([]));

    // Someone else's eligibility: the scorer id travels.
    let other = uuid();
    let data = s
        .data(
            &me,
            &format!(
                "{{ eligibility(sessionId: \"{session}\", scorerId: \"{other}\") {{ scorerId eligible }} }}"
            ),
        )
        .await;
    assert_eq!(
        data["eligibility"],
        json!({ "scorerId": other, "eligible": false })
    );
    assert_eq!(
        s.fake.calls("get_eligibility")[2].request,
        debug(pb::GetEligibilityRequest {
            session_id: session.clone(),
            scorer_id: other.clone(),
        })
    );
    s.assert_every_call_was(&me);
}

#[tokio::test]
async fn sessions_round_trip_with_their_event_rubric_and_progress() {
    let event = scheduling_pb::Event {
        id: uuid(),
        kind: scheduling_pb::EventKind::ScoringSession as i32,
        title: "Spring scoring session".into(),
        starts_at: "2027-03-10T14:00:00Z".into(),
        ends_at: "2027-03-10T17:00:00Z".into(),
        time_zone: "Europe/London".into(),
        status: scheduling_pb::EventStatus::Published as i32,
        academic_year: 2026,
        ..Default::default()
    };
    let scheduling = FakeScheduling {
        others: vec![event.clone()],
        ..Default::default()
    };
    let s = setup_with(Some(scheduling.clone())).await;
    let me = s.caller(TenantId::new_v7());
    let rubric = s.rubric(&me, "writing", "Portfolio rubric").await;
    let (cluster, lead) = (uuid(), uuid());
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ createScoringSession(input: {{ eventId: "{}", rubricId: "{rubric}",
                    clusterId: "{cluster}", academicYear: 2026, name: "Spring scoring",
                    secondReadShare: 0.25, backreadShare: 0.05, allowOwnSchool: true,
                    resolutionRule: "exact", calibrationSince: "2027-01-10T08:00:00+01:00",
                    leadId: "{lead}" }}) {{
                    id eventId rubricId clusterId academicYear name status secondReadShare
                    backreadShare allowOwnSchool resolutionRule calibrationSince leadId
                    portfolioCount createdAt closedAt }} }}"#,
                event.id
            ),
        )
        .await;
    let first = data["createScoringSession"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        data["createScoringSession"],
        json!({
            "id": first, "eventId": event.id, "rubricId": rubric, "clusterId": cluster,
            "academicYear": 2026, "name": "Spring scoring", "status": "OPEN",
            "secondReadShare": 0.25, "backreadShare": 0.05, "allowOwnSchool": true,
            "resolutionRule": "exact", "calibrationSince": "2027-01-10T07:00:00+00:00",
            "leadId": lead, "portfolioCount": 0, "createdAt": NOW_OUT, "closedAt": null,
        })
    );
    assert_eq!(
        s.fake.calls("create_session")[0].request,
        debug(pb::CreateSessionRequest {
            event_id: event.id.clone(),
            rubric_id: rubric.clone(),
            cluster_id: cluster.clone(),
            academic_year: 2026,
            name: "Spring scoring".into(),
            second_read_share: Some(0.25),
            backread_share: Some(0.05),
            allow_own_school: true,
            resolution_rule: "exact".into(),
            calibration_since: Some("2027-01-10T07:00:00Z".into()),
            lead_id: lead.clone(),
        })
    );

    // Left out, the defaults are the service's.
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ createScoringSession(input: {{ eventId: "{}", rubricId: "{rubric}",
                    clusterId: "{cluster}", academicYear: 2026, name: "Catch-up" }}) {{
                    id secondReadShare backreadShare allowOwnSchool resolutionRule
                    calibrationSince leadId }} }}"#,
                event.id
            ),
        )
        .await;
    let second = data["createScoringSession"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        data["createScoringSession"],
        json!({
            "id": second, "secondReadShare": 0.2, "backreadShare": 0.1, "allowOwnSchool": false,
            "resolutionRule": "adjacent_average", "calibrationSince": null, "leadId": me.person,
        })
    );
    assert_eq!(
        s.fake.calls("create_session")[1].request,
        debug(pb::CreateSessionRequest {
            event_id: event.id.clone(),
            rubric_id: rubric.clone(),
            cluster_id: cluster.clone(),
            academic_year: 2026,
            name: "Catch-up".into(),
            second_read_share: None,
            backread_share: None,
            allow_own_school: false,
            resolution_rule: String::new(),
            calibration_since: None,
            lead_id: String::new(),
        })
    );

    // Portfolios and scorers: the caller has qualified, `other` has not.
    let (p1, p2, other) = (uuid(), uuid(), uuid());
    s.fake.with(me.tenant, |t| {
        for id in [&p1, &p2] {
            t.portfolios.push(pb::Portfolio {
                id: id.clone(),
                school_id: uuid(),
                grade_level: 4,
                academic_year: 2026,
                pieces: vec![pb::Piece {
                    genre: "narrative".into(),
                    title: format!("Story {id}"),
                    work_ref: "doc://x".into(),
                }],
                ..Default::default()
            });
        }
        t.qualified.push(me.person.clone());
    });
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ addSessionPortfolios(input: {{ sessionId: "{first}",
                    portfolioIds: ["{p1}", "{p2}"] }}) {{ id portfolioCount }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["addSessionPortfolios"],
        json!({ "id": first, "portfolioCount": 2 })
    );
    assert_eq!(
        s.fake.calls("add_session_portfolios")[0].request,
        debug(pb::AddSessionPortfoliosRequest {
            session_id: first.clone(),
            portfolio_ids: vec![p1.clone(), p2.clone()],
        })
    );
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ assignScoringSession(input: {{ sessionId: "{first}",
                    scorerIds: ["{}", "{other}"] }}) {{
                    assigned refusedScorers {{ scorerId eligible reasons qualified }}
                    unassignable {{ portfolioId }} }} }}"#,
                me.person
            ),
        )
        .await;
    assert_eq!(
        data["assignScoringSession"],
        json!({
            "assigned": 2,
            "refusedScorers": [{ "scorerId": other, "eligible": false, "qualified": false,
                "reasons": ["has not passed a qualifying set of this rubric in 2026/27"] }],
            "unassignable": [],
        })
    );
    assert_eq!(
        s.fake.request("assign_session"),
        debug(pb::AssignSessionRequest {
            session_id: first.clone(),
            scorer_ids: vec![me.person.clone(), other.clone()],
        })
    );
    // With no eligible scorer, each portfolio is unassignable, with why.
    s.data(
        &me,
        &format!(
            r#"mutation {{ addSessionPortfolios(input: {{ sessionId: "{second}",
                portfolioIds: ["{p1}"] }}) {{ id }} }}"#
        ),
    )
    .await;
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ assignScoringSession(input: {{ sessionId: "{second}",
                    scorerIds: ["{other}"] }}) {{
                    assigned unassignable {{ portfolioId kind reason portfolio {{ gradeLevel }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["assignScoringSession"],
        json!({
            "assigned": 0,
            "unassignable": [{ "portfolioId": p1, "kind": "FIRST", "reason": "no eligible scorer",
                "portfolio": { "gradeLevel": 4 } }],
        })
    );

    // The list: the rubric both sessions share and the event are each
    // asked for once; progress is asked per session.
    let rubric_lookups = s.fake.calls("get_rubrics").len();
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ scoringSessions(first: 10, academicYear: 2026, clusterId: "{cluster}") {{
                    edges {{ node {{ name status rubric {{ name }} event {{ title kind }}
                    progress {{ sessionId portfolios readsAssigned readsSubmitted resolved
                        awaitingThirdRead scorers {{ scorerId assigned submitted
                        backreadsRequired backreadsDone }} }} }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["scoringSessions"]["edges"],
        json!([
            { "node": { "name": "Spring scoring", "status": "OPEN",
                "rubric": { "name": "Portfolio rubric" },
                "event": { "title": "Spring scoring session", "kind": "SCORING_SESSION" },
                "progress": { "sessionId": first, "portfolios": 2, "readsAssigned": 2,
                    "readsSubmitted": 0, "resolved": 0, "awaitingThirdRead": 0,
                    "scorers": [{ "scorerId": me.person, "assigned": 2, "submitted": 0,
                        "backreadsRequired": 0, "backreadsDone": 0 }] } } },
            { "node": { "name": "Catch-up", "status": "OPEN",
                "rubric": { "name": "Portfolio rubric" },
                "event": { "title": "Spring scoring session", "kind": "SCORING_SESSION" },
                "progress": { "sessionId": second, "portfolios": 1, "readsAssigned": 0,
                    "readsSubmitted": 0, "resolved": 0, "awaitingThirdRead": 0, "scorers": [] } } },
        ])
    );
    assert_eq!(
        s.fake.request("list_sessions"),
        debug(pb::ListSessionsRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            academic_year: 2026,
            cluster_id: cluster.clone(),
        })
    );
    assert_eq!(s.fake.calls("get_rubrics").len(), rubric_lookups + 1);
    assert_eq!(s.fake.calls("get_session_progress").len(), 2);
    let events = scheduling.calls("get_events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].authorization.as_deref(),
        Some(format!("Bearer {}", me.token).as_str())
    );

    // Backreads, then closing; a closed session cannot be closed again.
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ planBackreads(input: {{ sessionId: "{first}" }}) {{ assigned }} }}"#
            ),
        )
        .await;
    assert_eq!(data["planBackreads"]["assigned"], 0);
    assert_eq!(
        s.fake.request("plan_backreads"),
        debug(pb::SessionRef {
            session_id: first.clone(),
        })
    );
    let close = format!(
        r#"mutation {{ closeScoringSession(input: {{ sessionId: "{first}" }}) {{ id status closedAt }} }}"#
    );
    let data = s.data(&me, &close).await;
    assert_eq!(
        data["closeScoringSession"],
        json!({ "id": first, "status": "CLOSED", "closedAt": NOW_OUT })
    );
    assert_eq!(
        s.fake.calls("close_session")[0].request,
        debug(pb::SessionRef {
            session_id: first.clone(),
        })
    );
    let body = s.refused(&me, &close).await;
    assert_eq!(codes(&body), ["FAILED_PRECONDITION"], "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["closeScoringSession"]));
    // By id, after the change.
    let data = s
        .data(
            &me,
            &format!(r#"{{ scoringSession(id: "{first}") {{ status closedAt }} }}"#),
        )
        .await;
    assert_eq!(
        data["scoringSession"],
        json!({ "status": "CLOSED", "closedAt": NOW_OUT })
    );
    s.assert_every_call_was(&me);
}

/// A tenant with a rubric, an open session, three portfolios and reads:
/// `mine` (first reads of p1 and p2 and a second read of p3) for `me`,
/// `theirs` for someone else.
struct Reading {
    session: String,
    portfolios: [String; 3],
    mine: [String; 3],
    theirs: String,
    school: String,
}

fn seed_reading(s: &Setup, me: &Caller) -> Reading {
    let (rubric, session, school) = (uuid(), uuid(), uuid());
    let portfolios = [uuid(), uuid(), uuid()];
    let mine = [uuid(), uuid(), uuid()];
    let theirs = uuid();
    s.fake.with(me.tenant, |t| {
        t.rubrics.push(pb::Rubric {
            id: rubric.clone(),
            programme: "writing".into(),
            name: "Portfolio rubric".into(),
            condition_codes: vec![pb::ConditionCode {
                code: "blank".into(),
                label: "Blank".into(),
            }],
            created_at: NOW.into(),
            ..Default::default()
        });
        t.sessions.push(pb::ScoringSession {
            id: session.clone(),
            rubric_id: rubric.clone(),
            name: "Spring scoring".into(),
            status: pb::SessionStatus::Open as i32,
            created_at: NOW.into(),
            ..Default::default()
        });
        for id in &portfolios {
            t.portfolios.push(pb::Portfolio {
                id: id.clone(),
                school_id: school.clone(),
                grade_level: 4,
                academic_year: 2026,
                ..Default::default()
            });
        }
        let read = |id: &str, portfolio: &str, scorer: &str, kind: pb::ReadKind| pb::Assignment {
            id: id.into(),
            session_id: session.clone(),
            portfolio_id: portfolio.into(),
            scorer_id: scorer.into(),
            kind: kind as i32,
            pieces: vec![pb::Piece {
                genre: "narrative".into(),
                title: "My summer".into(),
                work_ref: "doc://1".into(),
            }],
            grade_level: 4,
            ..Default::default()
        };
        t.assignments.extend([
            read(&mine[0], &portfolios[0], &me.person, pb::ReadKind::First),
            read(&mine[1], &portfolios[1], &me.person, pb::ReadKind::First),
            read(&mine[2], &portfolios[2], &me.person, pb::ReadKind::Second),
            read(&theirs, &portfolios[0], &uuid(), pb::ReadKind::Second),
        ]);
    });
    Reading {
        session,
        portfolios,
        mine,
        theirs,
        school,
    }
}

#[tokio::test]
async fn reads_scores_and_results_round_trip() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let r = seed_reading(&s, &me);
    let (session, [p1, p2, _], [a1, a2, a3]) = (&r.session, &r.portfolios, &r.mine);

    let data = s
        .data(
            &me,
            &format!(
                r#"{{ myAssignments(first: 2, sessionId: "{session}", pendingOnly: true) {{
                    edges {{ node {{ id sessionId portfolioId scorerId kind submitted
                        pieces {{ genre title workRef }} gradeLevel reviewsScoreId
                        session {{ name }} }} }}
                    pageInfo {{ hasNextPage endCursor }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["myAssignments"]["edges"][0]["node"],
        json!({
            "id": a1, "sessionId": session, "portfolioId": p1, "scorerId": me.person,
            "kind": "FIRST", "submitted": false,
            "pieces": [{ "genre": "narrative", "title": "My summer", "workRef": "doc://1" }],
            "gradeLevel": 4, "reviewsScoreId": null, "session": { "name": "Spring scoring" },
        })
    );
    assert_eq!(
        data["myAssignments"]["pageInfo"],
        json!({ "hasNextPage": true, "endCursor": a2 })
    );
    assert_eq!(
        s.fake.request("list_my_assignments"),
        debug(pb::ListMyAssignmentsRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: String::new(),
            }),
            session_id: session.clone(),
            pending_only: true,
        })
    );

    // A score, and a condition code instead of one.
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{
                    scored: submitScore(input: {{ assignmentId: "{a1}", score: 3,
                        dimensions: [{{ key: "voice", score: 2 }}] }}) {{
                        assignmentId sessionId portfolioId scorerId kind version score
                        dimensions {{ key score }} conditionCode reason submittedById submittedAt
                        session {{ name }} portfolio {{ id }} }}
                    blank: submitScore(input: {{ assignmentId: "{a2}", conditionCode: "blank" }}) {{
                        score conditionCode dimensions {{ key }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["scored"],
        json!({
            "assignmentId": a1, "sessionId": session, "portfolioId": p1, "scorerId": me.person,
            "kind": "FIRST", "version": 1, "score": 3, "dimensions": [{ "key": "voice", "score": 2 }],
            "conditionCode": null, "reason": null, "submittedById": me.person,
            "submittedAt": NOW_OUT, "session": { "name": "Spring scoring" }, "portfolio": { "id": p1 },
        })
    );
    assert_eq!(
        data["blank"],
        json!({ "score": null, "conditionCode": "blank", "dimensions": [] })
    );
    let submits = s.fake.calls("submit_score");
    assert_eq!(
        submits[0].request,
        debug(pb::SubmitScoreRequest {
            assignment_id: a1.clone(),
            score: Some(3),
            dimensions: vec![pb::DimensionScore {
                key: "voice".into(),
                score: 2,
            }],
            condition_code: None,
        })
    );
    assert_eq!(
        submits[1].request,
        debug(pb::SubmitScoreRequest {
            assignment_id: a2.clone(),
            score: None,
            dimensions: vec![],
            condition_code: Some("blank".into()),
        })
    );

    // A correction is a new version with its reason; both stay in history.
    let data = s
        .data(
            &me,
            &format!(
                r#"mutation {{ correctScore(input: {{ assignmentId: "{a1}", score: 2,
                    reason: "misread the scale" }}) {{ version score reason dimensions {{ key }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["correctScore"],
        json!({ "version": 2, "score": 2, "reason": "misread the scale", "dimensions": [] })
    );
    assert_eq!(
        s.fake.request("correct_score"),
        debug(pb::CorrectScoreRequest {
            assignment_id: a1.clone(),
            score: Some(2),
            dimensions: vec![],
            condition_code: None,
            reason: "misread the scale".into(),
        })
    );
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ scoreHistory(sessionId: "{session}", portfolioId: "{p1}") {{
                    scores {{ version score reason }}
                    result {{ sessionId portfolioId schoolId state finalScore finalCondition
                        method reason decidedAt }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["scoreHistory"],
        json!({
            "scores": [
                { "version": 1, "score": 3, "reason": null },
                { "version": 2, "score": 2, "reason": "misread the scale" },
            ],
            "result": { "sessionId": session, "portfolioId": p1, "schoolId": r.school,
                "state": "resolved", "finalScore": 3.0, "finalCondition": null,
                "method": "single_read", "reason": "one read", "decidedAt": NOW_OUT },
        })
    );
    assert_eq!(
        s.fake.request("get_score_history"),
        debug(pb::GetScoreHistoryRequest {
            session_id: session.clone(),
            portfolio_id: p1.clone(),
        })
    );

    // Results; one still waits for a third read, without a decision.
    let waiting = uuid();
    s.fake.with(me.tenant, |t| {
        t.results.push(pb::Result {
            session_id: session.clone(),
            portfolio_id: waiting.clone(),
            school_id: r.school.clone(),
            state: "awaiting_third_read".into(),
            reason: "first and second reads differ by 2".into(),
            decided_at: NOW.into(),
            ..Default::default()
        })
    });
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ all: results(sessionId: "{session}", first: 10) {{
                        edges {{ cursor node {{ portfolioId state finalScore finalCondition method }} }} }}
                     waiting: results(sessionId: "{session}", awaitingThirdReadOnly: true) {{
                        edges {{ node {{ portfolioId state finalScore reason decidedAt }} }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["all"]["edges"],
        json!([
            { "cursor": p1, "node": { "portfolioId": p1, "state": "resolved", "finalScore": 3.0,
                "finalCondition": null, "method": "single_read" } },
            { "cursor": p2, "node": { "portfolioId": p2, "state": "resolved", "finalScore": null,
                "finalCondition": "blank", "method": "single_read" } },
            { "cursor": waiting, "node": { "portfolioId": waiting, "state": "awaiting_third_read",
                "finalScore": null, "finalCondition": null, "method": null } },
        ])
    );
    assert_eq!(
        data["waiting"]["edges"],
        json!([{ "node": { "portfolioId": waiting, "state": "awaiting_third_read",
            "finalScore": null, "reason": "first and second reads differ by 2", "decidedAt": NOW_OUT } }])
    );
    let results = s.fake.calls("list_results");
    assert!(results.iter().any(|c| c.request
        == debug(pb::ListResultsRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            session_id: session.clone(),
            awaiting_third_read_only: false,
        })));
    assert!(results.iter().any(|c| c.request
        == debug(pb::ListResultsRequest {
            page: Some(PageRequest::default()),
            session_id: session.clone(),
            awaiting_third_read_only: true,
        })));

    // Backreads of the submitted reads, listed per scorer in the session.
    let data = s
        .data(
            &me,
            &format!(r#"mutation {{ planBackreads(input: {{ sessionId: "{session}" }}) {{ assigned }} }}"#),
        )
        .await;
    assert_eq!(data["planBackreads"]["assigned"], 2);
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ sessionAssignments(sessionId: "{session}", first: 10, scorerId: "{}") {{
                    edges {{ node {{ id kind submitted reviewsScoreId }} }} }} }}"#,
                me.person
            ),
        )
        .await;
    let nodes: Vec<&Value> = data["sessionAssignments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(nodes.len(), 5, "{data}");
    assert_eq!(nodes[0]["id"], a1.as_str());
    assert_eq!(nodes[0]["submitted"], true);
    assert_eq!(nodes[2]["id"], a3.as_str());
    assert_eq!(nodes[2]["kind"], "SECOND");
    assert_eq!(nodes[2]["submitted"], false);
    assert_eq!(nodes[3]["kind"], "BACKREAD");
    assert!(nodes[3]["reviewsScoreId"].is_string(), "{data}");
    assert_eq!(
        s.fake.request("list_session_assignments"),
        debug(pb::ListSessionAssignmentsRequest {
            page: Some(PageRequest {
                page_size: 10,
                page_token: String::new(),
            }),
            session_id: session.clone(),
            scorer_id: me.person.clone(),
        })
    );
    s.assert_every_call_was(&me);
}

#[tokio::test]
async fn agreement_statistics_and_exports_round_trip() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let rubric = s.rubric(&me, "writing", "Portfolio rubric").await;
    let (session, cluster) = (uuid(), uuid());
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ agreementStats(groupBy: SESSION, academicYear: 2026, sessionId: "{session}",
                    clusterId: "{cluster}") {{
                    key rubricId rubric {{ name }} pairs exact adjacent qwk smd
                    firstDistribution {{ score count }} secondDistribution {{ score count }}
                    scaleMin matrix flags flagReasons driftWindows driftWarning }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data["agreementStats"],
        json!([{
            "key": session, "rubricId": rubric, "rubric": { "name": "Portfolio rubric" },
            "pairs": 12, "exact": 0.75, "adjacent": 1.0, "qwk": 0.8125, "smd": null,
            "firstDistribution": [{ "score": 1, "count": 5 }, { "score": 2, "count": 7 }],
            "secondDistribution": [{ "score": 1, "count": 6 }, { "score": 2, "count": 6 }],
            "scaleMin": 1, "matrix": [[4, 1], [2, 5]],
            "flags": ["too_few_pairs"], "flagReasons": ["12 paired reads; flags need 20"],
            "driftWindows": [0.8, 0.7], "driftWarning": false,
        }])
    );
    assert_eq!(
        s.fake.request("get_agreement_stats"),
        debug(pb::GetAgreementStatsRequest {
            group_by: pb::GroupBy::Session as i32,
            academic_year: 2026,
            session_id: session.clone(),
            cluster_id: cluster.clone(),
        })
    );
    let data = s
        .data(&me, "{ agreementStats(groupBy: YEAR) { key } }")
        .await;
    assert_eq!(data["agreementStats"], json!([{ "key": "0" }]));
    assert_eq!(
        s.fake.calls("get_agreement_stats")[1].request,
        debug(pb::GetAgreementStatsRequest {
            group_by: pb::GroupBy::Year as i32,
            academic_year: 0,
            session_id: String::new(),
            cluster_id: String::new(),
        })
    );

    let school = uuid();
    let data = s
        .data(
            &me,
            &format!(
                r#"{{ school: schoolScoresCsv(academicYear: 2026, schoolId: "{school}") {{
                        fileName csv rows excluded }}
                     research: researchExtractCsv(academicYear: 2026) {{ fileName csv rows excluded }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "school": { "fileName": format!("scores-{school}-2026.csv"),
                "csv": "portfolio_id,final_score\r\np1,3\r\n", "rows": 1, "excluded": 0 },
            "research": { "fileName": "research-2026.csv",
                "csv": "student,final_score\r\nx1,3\r\n", "rows": 1, "excluded": 2 },
        })
    );
    assert_eq!(
        s.fake.calls("export_school_scores")[0].request,
        debug(pb::ExportSchoolScoresRequest {
            academic_year: 2026,
            school_id: school.clone(),
        })
    );
    // Left out, the school is every school (or a principal's own).
    let data = s
        .data(&me, "{ schoolScoresCsv(academicYear: 2026) { rows } }")
        .await;
    assert_eq!(data["schoolScoresCsv"]["rows"], 1);
    assert_eq!(
        s.fake.calls("export_school_scores")[1].request,
        debug(pb::ExportSchoolScoresRequest {
            academic_year: 2026,
            school_id: String::new(),
        })
    );
    assert_eq!(
        s.fake.request("export_research_extract"),
        debug(pb::ExportResearchExtractRequest {
            academic_year: 2026
        })
    );
    s.assert_every_call_was(&me);
}

#[tokio::test]
async fn the_services_refusals_come_back_with_their_codes_naming_the_fields() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let r = seed_reading(&s, &me);
    let rubric = s.rubric(&me, "writing", "Portfolio rubric").await;
    let set = s
        .data(
            &me,
            &format!(
                r#"mutation {{ createQualificationSet(input: {{ rubricId: "{rubric}", academicYear: 2026,
                    kind: CALIBRATION, name: "January", papers: [] }}) {{ id kind }} }}"#
            ),
        )
        .await;
    assert_eq!(set["createQualificationSet"]["kind"], "CALIBRATION");
    let set = set["createQualificationSet"]["id"].as_str().unwrap();
    let nobody = uuid();
    let cases = [
        (
            r#"mutation { createRubric(input: { programme: "w", name: "bad scale",
                scorePoints: [{ value: 1, label: "a" }, { value: 3, label: "c" }] }) { id } }"#
                .to_string(),
            "createRubric",
            "BAD_USER_INPUT",
            Some("scorePoints[1].value"),
        ),
        (
            format!(
                r#"mutation {{ addAnchorPaper(input: {{ rubricId: "{nobody}", scorePoint: 1,
                    title: "t", workRef: "w" }}) {{ id }} }}"#
            ),
            "addAnchorPaper",
            "NOT_FOUND",
            None,
        ),
        (
            format!(
                r#"mutation {{ addAnchorPaper(input: {{ rubricId: "{rubric}", scorePoint: 7,
                    title: "t", workRef: "w" }}) {{ id }} }}"#
            ),
            "addAnchorPaper",
            "BAD_USER_INPUT",
            Some("scorePoint"),
        ),
        (
            format!(
                r#"mutation {{ createScoringSession(input: {{ eventId: "e", rubricId: "{nobody}",
                    clusterId: "c", academicYear: 2026, name: "n" }}) {{ id }} }}"#
            ),
            "createScoringSession",
            "BAD_USER_INPUT",
            Some("rubricId"),
        ),
        (
            format!(
                r#"mutation {{ addSessionPortfolios(input: {{ sessionId: "{}",
                    portfolioIds: ["{}", "{nobody}"] }}) {{ id }} }}"#,
                r.session, r.portfolios[0]
            ),
            "addSessionPortfolios",
            "BAD_USER_INPUT",
            Some("portfolioIds[1]"),
        ),
        (
            format!(
                r#"mutation {{ submitQualificationAttempt(input: {{ setId: "{set}",
                    scores: [{{ paperId: "{nobody}", score: 1 }}] }}) {{ passed }} }}"#
            ),
            "submitQualificationAttempt",
            "BAD_USER_INPUT",
            Some("scores[0].paperId"),
        ),
        (
            format!(
                r#"mutation {{ submitScore(input: {{ assignmentId: "{}", conditionCode: "illegible" }}) {{ id }} }}"#,
                r.mine[2]
            ),
            "submitScore",
            "BAD_USER_INPUT",
            Some("conditionCode"),
        ),
        (
            format!(
                r#"mutation {{ submitScore(input: {{ assignmentId: "{}", score: 2 }}) {{ id }} }}"#,
                r.theirs
            ),
            "submitScore",
            "FORBIDDEN",
            None,
        ),
        (
            format!(
                r#"mutation {{ correctScore(input: {{ assignmentId: "{}", score: 2, reason: " " }}) {{ id }} }}"#,
                r.mine[0]
            ),
            "correctScore",
            "NOT_FOUND",
            None,
        ),
        (
            format!(r#"{{ eligibility(sessionId: "{nobody}") {{ eligible }} }}"#),
            "eligibility",
            "NOT_FOUND",
            None,
        ),
        (
            format!(
                r#"{{ sessionAssignments(sessionId: "{nobody}") {{ edges {{ node {{ id }} }} }} }}"#
            ),
            "sessionAssignments",
            "NOT_FOUND",
            None,
        ),
    ];
    for (query, path, code, field) in cases {
        let body = s.refused(&me, &query).await;
        assert_eq!(codes(&body), [code], "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], json!([path]), "{body}");
        let fields = &body["errors"][0]["extensions"]["fields"];
        match field {
            Some(field) => assert_eq!(fields[0]["field"], field, "{body}"),
            None => assert!(fields.is_null(), "{body}"),
        }
    }

    // A read submitted twice is a conflict; a read of a closed session is
    // refused as a failed precondition.
    let submit = format!(
        r#"mutation {{ submitScore(input: {{ assignmentId: "{}", score: 2 }}) {{ version }} }}"#,
        r.mine[0]
    );
    assert_eq!(s.data(&me, &submit).await["submitScore"]["version"], 1);
    let body = s.refused(&me, &submit).await;
    assert_eq!(codes(&body), ["CONFLICT"], "{body}");
    s.data(
        &me,
        &format!(
            r#"mutation {{ closeScoringSession(input: {{ sessionId: "{}" }}) {{ id }} }}"#,
            r.session
        ),
    )
    .await;
    let body = s
        .refused(
            &me,
            &format!(
                r#"mutation {{ submitScore(input: {{ assignmentId: "{}", score: 2 }}) {{ id }} }}"#,
                r.mine[1]
            ),
        )
        .await;
    assert_eq!(codes(&body), ["FAILED_PRECONDITION"], "{body}");
}

#[tokio::test]
async fn values_the_gateway_does_not_know_are_internal_errors_of_their_field() {
    let s = setup().await;
    let me = s.caller(TenantId::new_v7());
    let r = seed_reading(&s, &me);
    let broken = uuid();
    s.fake.with(me.tenant, |t| {
        // Unset (protobuf's 0), and a number newer than this gateway.
        t.sessions.push(pb::ScoringSession {
            id: broken.clone(),
            name: "Broken".into(),
            status: 0,
            created_at: "yesterday".into(),
            ..Default::default()
        });
        t.assignments[0].kind = 42;
    });
    let (_, body) =
        s.gw.query(
            Some(&me.token),
            &format!(
                r#"{{ scoringSession(id: "{broken}") {{ name status }}
                     other: scoringSession(id: "{broken}") {{ name createdAt }} }}"#
            ),
        )
        .await;
    assert_eq!(codes(&body), ["INTERNAL", "INTERNAL"], "{body}");
    let paths: Vec<&Value> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["path"])
        .collect();
    assert!(
        paths.contains(&&json!(["scoringSession", "status"])),
        "{body}"
    );
    assert!(paths.contains(&&json!(["other", "createdAt"])), "{body}");
    for e in body["errors"].as_array().unwrap() {
        assert_eq!(e["message"], "internal error", "{body}");
    }
    // The rest of the record is still served.
    assert_eq!(body["data"]["scoringSession"]["name"], "Broken", "{body}");
    let (_, body) =
        s.gw.query(
            Some(&me.token),
            &format!(
                r#"{{ myAssignments(sessionId: "{}") {{ edges {{ node {{ id kind }} }} }} }}"#,
                r.session
            ),
        )
        .await;
    assert_eq!(codes(&body), ["INTERNAL"], "{body}");
    assert_eq!(
        body["errors"][0]["path"],
        json!(["myAssignments", "edges", 0, "node", "kind"]),
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "internal error");
}

#[tokio::test]
async fn each_tenant_sees_only_its_own_scoring_records() {
    let s = setup().await;
    let a = s.caller(TenantId::new_v7());
    let b = s.caller(TenantId::new_v7());
    let rubric = s.rubric(&a, "writing", "A's rubric").await;
    let session = s.session(&a, &rubric, "A's session").await;
    let portfolio = s
        .data(
            &a,
            &format!(
                r#"mutation {{ createPortfolios(input: {{ portfolios: [{{ studentRef: "S-A",
                    schoolId: "{}", gradeLevel: 4, academicYear: 2026 }}] }}) {{ id }} }}"#,
                uuid()
            ),
        )
        .await["createPortfolios"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.fake.calls.lock().unwrap().clear();

    // B lists nothing, and A's ids are not B's: null by id, "not found"
    // wherever an id is the subject of the call.
    let data = s
        .data(
            &b,
            &format!(
                r#"{{ rubrics {{ edges {{ node {{ id }} }} }}
                     scoringSessions {{ edges {{ node {{ id }} }} }}
                     portfolios {{ edges {{ node {{ id }} }} }}
                     rubric(id: "{rubric}") {{ name }}
                     scoringSession(id: "{session}") {{ name }}
                     portfolio(id: "{portfolio}") {{ studentRef }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "rubrics": { "edges": [] }, "scoringSessions": { "edges": [] },
            "portfolios": { "edges": [] },
            "rubric": null, "scoringSession": null, "portfolio": null,
        })
    );
    for (query, path) in [
        (
            format!(
                r#"mutation {{ closeScoringSession(input: {{ sessionId: "{session}" }}) {{ id }} }}"#
            ),
            "closeScoringSession",
        ),
        (
            format!(
                r#"mutation {{ addAnchorPaper(input: {{ rubricId: "{rubric}", scorePoint: 1,
                    title: "t", workRef: "w" }}) {{ id }} }}"#
            ),
            "addAnchorPaper",
        ),
        (
            format!(r#"{{ eligibility(sessionId: "{session}") {{ eligible }} }}"#),
            "eligibility",
        ),
        (
            format!(
                r#"{{ scoreHistory(sessionId: "{session}", portfolioId: "{portfolio}") {{ scores {{ id }} }} }}"#
            ),
            "scoreHistory",
        ),
    ] {
        let body = s.refused(&b, &query).await;
        assert_eq!(codes(&body), ["NOT_FOUND"], "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], json!([path]));
    }
    // Nothing of A's was touched, and every one of those calls was B's.
    s.assert_every_call_was(&b);
    s.fake.calls.lock().unwrap().clear();
    let data = s
        .data(
            &a,
            &format!(
                r#"{{ rubrics {{ edges {{ node {{ id anchorCounts {{ count }} }} }} }}
                     scoringSession(id: "{session}") {{ status rubric {{ name }} }} }}"#
            ),
        )
        .await;
    assert_eq!(
        data,
        json!({
            "rubrics": { "edges": [{ "node": { "id": rubric,
                "anchorCounts": [{ "count": 0 }, { "count": 0 }, { "count": 0 }] } }] },
            "scoringSession": { "status": "OPEN", "rubric": { "name": "A's rubric" } },
        })
    );
    s.assert_every_call_was(&a);
    // The tenant is the token's, not the person's: another person of A's
    // tenant sees A's records.
    let colleague = s.caller(a.tenant);
    s.fake.calls.lock().unwrap().clear();
    let data = s
        .data(
            &colleague,
            &format!(r#"{{ rubric(id: "{rubric}") {{ name }} }}"#),
        )
        .await;
    assert_eq!(data["rubric"]["name"], "A's rubric");
    s.assert_every_call_was(&colleague);
}
