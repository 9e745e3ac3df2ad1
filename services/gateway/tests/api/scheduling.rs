//! Scheduling through the gateway, with scheduling down or faked: GraphQL
//! fields need a token and report an unreachable service as UNAVAILABLE;
//! what the gateway checks itself is refused before any call; relations
//! are batched per request; the calendar route needs no bearer token,
//! refuses malformed tokens without a call and maps the service's answers
//! to 200 / 404 / 503.

use std::sync::{Arc, Mutex};

use collegium_proto::scheduling::v1::{
    self as pb, IcsDocument, RenderFeedRequest,
    calendar_feed_service_server::{CalendarFeedService, CalendarFeedServiceServer},
    scheduling_service_server::SchedulingServiceServer,
};
use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::{
    fake_scheduling::{FakeScheduling, VENUE_PAGE},
    helpers::{
        FakeUpstream, TestGateway, assert_unauthenticated, codes, fake_upstream, spawn_gateway,
        spawn_gateway_with,
    },
};

const ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Collegium//EN\r\nEND:VCALENDAR\r\n";

/// The token a `RenderFeed` call carried, and its `authorization` metadata.
type FeedCall = (String, Option<String>);

/// Answers `RenderFeed` by the token's first part, and records what it got.
#[derive(Default, Clone)]
struct FakeFeeds {
    calls: Arc<Mutex<Vec<FeedCall>>>,
}

#[tonic::async_trait]
impl CalendarFeedService for FakeFeeds {
    async fn render_feed(
        &self,
        request: tonic::Request<RenderFeedRequest>,
    ) -> Result<tonic::Response<IcsDocument>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        let token = request.into_inner().token;
        self.calls
            .lock()
            .unwrap()
            .push((token.clone(), authorization));
        match token.split('.').next().unwrap() {
            "live" => Ok(tonic::Response::new(IcsDocument {
                file_name: "calendar.ics".into(),
                ics: ICS.into(),
            })),
            "revoked" => Err(tonic::Status::not_found(
                "calendar feed revoked on 2026-11-01",
            )),
            "mistyped" => Err(tonic::Status::invalid_argument("secret does not match")),
            "foreign" => Err(tonic::Status::permission_denied("tenant mismatch")),
            _ => Err(tonic::Status::internal("disk on fire")),
        }
    }
}

impl FakeFeeds {
    fn calls(&self) -> Vec<FeedCall> {
        self.calls.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn scheduling_fields_need_a_token() {
    let gw = spawn_gateway().await;
    for query in [
        "{ venues { edges { node { id } } } }",
        "{ events { edges { node { id title } } } }",
        "{ myCalendarFeed { url } }",
        "{ eventIcs(eventId: \"0190f1e2-aaaa-7bbb-8ccc-123456789abc\") }",
        "mutation { revokeMyCalendarFeed { token } }",
        "mutation { createVenue(input: { name: \"Hall\" }) { id } }",
    ] {
        let (status, body) = gw.query(None, query).await;
        assert_unauthenticated(status, &body);
    }
}

#[tokio::test]
async fn scheduling_fields_meeting_a_down_scheduling_are_unavailable() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    for (query, path) in [
        ("{ venues { edges { node { id } } } }", "venues"),
        ("{ ruleSettings { minNetworkMeetings } }", "ruleSettings"),
        ("{ myCalendarFeed { url } }", "myCalendarFeed"),
        (
            "mutation { rsvp(input: { eventId: \"e\", response: ACCEPTED }) { status } }",
            "rsvp",
        ),
    ] {
        let (status, body) = gw.query(Some(&token), query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(codes(&body), ["UNAVAILABLE"], "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], serde_json::json!([path]));
    }
}

#[tokio::test]
async fn batched_event_lookups_meeting_a_down_scheduling_are_unavailable() {
    // `event(id:)` goes through the per-request DataLoader (GetEvents).
    let gw = spawn_gateway().await;
    let query = format!(
        "{{ a: event(id: \"{}\") {{ id }} b: event(id: \"{}\") {{ id }} }}",
        Uuid::now_v7(),
        Uuid::now_v7()
    );
    let (_, body) = gw.query(Some(&gw.token()), &query).await;
    assert_eq!(codes(&body), ["UNAVAILABLE", "UNAVAILABLE"], "{body}");
}

/// Each of these is refused by the gateway itself: scheduling is down, so
/// a call would have shown as UNAVAILABLE instead.
#[tokio::test]
async fn what_the_gateway_checks_is_bad_input_naming_the_field_before_any_call() {
    let gw = spawn_gateway().await;
    let token = gw.token();
    let cases = [
        ("{ event(id: \"bob\") { id } }", "id"),
        ("{ events(first: 1000) { edges { node { id } } } }", "first"),
        (
            "{ rsvps(eventId: \"e\", first: 0) { edges { node { status } } } }",
            "first",
        ),
        (
            r#"mutation { addMaterial(input: { eventId: "e", title: "Anchors",
                url: "https://x.org/a",
                file: { fileName: "a.pdf", contentType: "application/pdf", contentBase64: "AA==" } }) { id } }"#,
            "file",
        ),
        (
            r#"mutation { addMaterial(input: { eventId: "e", title: "Anchors" }) { id } }"#,
            "url",
        ),
        (
            r#"mutation { addMaterial(input: { eventId: "e", title: "Anchors",
                file: { fileName: "a.pdf", contentType: "application/pdf", contentBase64: "%%%" } }) { id } }"#,
            "file.contentBase64",
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
async fn an_audience_must_be_exactly_one_kind() {
    let gw = spawn_gateway().await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            r#"mutation { invite(input: { eventId: "e",
                audiences: [{ clusterId: "c", organisationId: "o" }] }) { invited } }"#,
        )
        .await;
    // Refused by validation (@oneOf), before execution.
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("oneOf") || message.contains("exactly one"),
        "{body}"
    );
}

#[tokio::test]
async fn dev_mode_introspection_shows_the_scheduling_types() {
    let gw = spawn_gateway_with(|c| c.dev_mode = true).await;
    let (_, body) = gw.query(None, "{ __schema { types { name } } }").await;
    let names: Vec<&str> = body["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for expected in [
        "EventConnection",
        "Event",
        "Venue",
        "RsvpStatus",
        "AudienceInput",
        "CalendarFeed",
        "ComplianceReport",
        "AddMaterialInput",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
}

#[tokio::test]
async fn the_calendar_route_is_unavailable_when_scheduling_is_down() {
    let gw = spawn_gateway().await;
    let resp = gw.get("/calendar/live.feed.secret.ics").await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn a_malformed_feed_token_is_not_found_without_a_call() {
    let feeds = FakeFeeds::default();
    let scheduling = fake_upstream(tonic::service::Routes::new(CalendarFeedServiceServer::new(
        feeds.clone(),
    )))
    .await;
    let url = scheduling.url.clone();
    let gw = spawn_gateway_with(|c| c.scheduling_url = url).await;
    for path in [
        "/calendar/live.feed.ics",
        "/calendar/live.feed.secret.extra.ics",
        "/calendar/live.feed.secret",
        "/calendar/live..secret.ics",
        "/calendar/live.feed.sec%2Fret.ics",
        "/calendar/live.feed.sec%20ret.ics",
        "/calendar/.ics",
    ] {
        let resp = gw.get(path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.text().await.unwrap(), "not found\n");
    }
    assert_eq!(feeds.calls(), []);
    // Down scheduling too: still 404, not 503, since nothing is asked.
    let gw = spawn_gateway().await;
    let resp = gw.get("/calendar/no-dots.ics").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_live_feed_is_served_as_text_calendar_without_a_bearer_token() {
    let feeds = FakeFeeds::default();
    let scheduling = fake_upstream(tonic::service::Routes::new(CalendarFeedServiceServer::new(
        feeds.clone(),
    )))
    .await;
    let url = scheduling.url.clone();
    let gw = spawn_gateway_with(|c| c.scheduling_url = url).await;
    // A bearer token sent along is neither needed nor forwarded.
    let resp = gw
        .client
        .get(format!("{}/calendar/live.f1_-.S3cr3t.ics", gw.base))
        .bearer_auth(gw.token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert_eq!(resp.headers()["cache-control"], "private, max-age=300");
    assert_eq!(resp.text().await.unwrap(), ICS);
    let resp = gw.get("/calendar/live.f2.s.ics").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        feeds.calls(),
        [
            ("live.f1_-.S3cr3t".to_string(), None),
            ("live.f2.s".to_string(), None)
        ]
    );
}

#[tokio::test]
async fn a_refused_feed_token_is_a_bare_not_found() {
    let feeds = FakeFeeds::default();
    let scheduling = fake_upstream(tonic::service::Routes::new(CalendarFeedServiceServer::new(
        feeds.clone(),
    )))
    .await;
    let url = scheduling.url.clone();
    let gw = spawn_gateway_with(|c| c.scheduling_url = url).await;
    for token in ["revoked.f.s", "mistyped.f.s", "foreign.f.s"] {
        let resp = gw.get(&format!("/calendar/{token}.ics")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{token}");
        // Nothing of the service's reason reaches the caller.
        assert_eq!(resp.text().await.unwrap(), "not found\n");
    }
    let resp = gw.get("/calendar/broken.f.s.ics").await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!resp.text().await.unwrap().contains("disk"));
    assert_eq!(feeds.calls().len(), 4);
}

fn venue(name: &str) -> pb::Venue {
    pb::Venue {
        id: Uuid::now_v7().to_string(),
        name: name.into(),
        address: format!("{name} Road 1"),
        capacity: 40,
        buffer_minutes: 15,
    }
}

fn event(title: &str, venue: Option<&pb::Venue>, prepares_for: Option<&pb::Event>) -> pb::Event {
    pb::Event {
        id: Uuid::now_v7().to_string(),
        kind: pb::EventKind::ScoringTraining as i32,
        title: title.into(),
        starts_at: "2026-10-14T21:00:00Z".into(),
        ends_at: "2026-10-15T00:00:00Z".into(),
        time_zone: "America/Chicago".into(),
        venue_id: venue.map(|v| v.id.clone()),
        status: pb::EventStatus::Published as i32,
        academic_year: 2026,
        training_hours: 3,
        prepares_for_event_id: prepares_for.map(|e| e.id.clone()),
        accepted_count: 12,
        waitlist_count: 2,
        ..Default::default()
    }
}

/// A gateway in front of `fake` (membership stays down).
async fn gateway_with_fake(fake: &FakeScheduling, public_url: &str) -> (TestGateway, FakeUpstream) {
    let upstream = fake_upstream(tonic::service::Routes::new(SchedulingServiceServer::new(
        fake.clone(),
    )))
    .await;
    let (url, public_url) = (upstream.url.clone(), public_url.to_string());
    let gw = spawn_gateway_with(|c| {
        c.scheduling_url = url;
        c.public_url = public_url;
    })
    .await;
    (gw, upstream)
}

#[tokio::test]
async fn relations_are_loaded_in_batches_with_the_callers_token() {
    let venues: Vec<_> = ["Hall", "Library", "Gym", "Annex", "Barn"]
        .into_iter()
        .map(venue)
        .collect();
    let session = event("Scoring session", Some(&venues[1]), None);
    let listed = vec![
        event("Training A", Some(&venues[0]), Some(&session)),
        event("Training B", Some(&venues[2]), Some(&session)),
        event("Training C", Some(&venues[0]), None),
        event("Online training", None, None),
    ];
    let fake = FakeScheduling {
        venues: venues.clone(),
        listed: listed.clone(),
        others: vec![session.clone()],
        ..Default::default()
    };
    let (gw, _upstream) = gateway_with_fake(&fake, "http://127.0.0.1:8080").await;
    let token = gw.token();
    let (_, body) = gw
        .query(
            Some(&token),
            "{ events(first: 10) { edges { node { title venue { name capacity } \
               preparesFor { title venue { name } } acceptedCount waitlistCount \
               trainingHours kind checkInCode } } pageInfo { hasNextPage } } }",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let nodes: Vec<&Value> = body["data"]["events"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(nodes[0]["venue"]["name"], "Hall");
    assert_eq!(nodes[0]["venue"]["capacity"], 40);
    assert_eq!(nodes[0]["preparesFor"]["title"], "Scoring session");
    assert_eq!(nodes[0]["preparesFor"]["venue"]["name"], "Library");
    assert_eq!(nodes[1]["venue"]["name"], "Gym");
    assert_eq!(nodes[1]["preparesFor"]["title"], "Scoring session");
    assert_eq!(nodes[2]["preparesFor"], Value::Null);
    assert_eq!(nodes[3]["venue"], Value::Null);
    assert_eq!(nodes[0]["kind"], "SCORING_TRAINING");
    assert_eq!(nodes[0]["acceptedCount"], 12);
    assert_eq!(nodes[0]["waitlistCount"], 2);
    assert_eq!(nodes[0]["trainingHours"], 3);
    assert_eq!(nodes[0]["checkInCode"], Value::Null);
    assert_eq!(body["data"]["events"]["pageInfo"]["hasNextPage"], true);

    // Venues: pages read only as far as the venues asked for (Gym is on the
    // second page of two-venue pages), then remembered for the request.
    assert_eq!(VENUE_PAGE, 2);
    let pages: Vec<_> = fake
        .calls("list_venues")
        .into_iter()
        .map(|c| c.detail[0].clone())
        .collect();
    assert_eq!(pages, ["", "2"]);
    // Events: the session two trainings prepare for, asked for once.
    let lookups = fake.calls("get_events");
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0].detail, std::slice::from_ref(&session.id));
    // Every call carried the caller's own token.
    let bearer = format!("Bearer {token}");
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 4, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c.authorization.as_deref() == Some(bearer.as_str())),
        "{calls:?}"
    );

    // A second request starts with empty caches.
    let (_, body) = gw
        .query(
            Some(&token),
            &format!(
                "{{ event(id: \"{}\") {{ venue {{ name }} }} }}",
                listed[1].id
            ),
        )
        .await;
    assert_eq!(body["data"]["event"]["venue"]["name"], "Gym", "{body}");
    assert_eq!(fake.calls("list_venues").len(), 4);
    assert_eq!(fake.calls("get_events").len(), 2);
}

#[tokio::test]
async fn a_new_calendar_feed_url_is_built_on_the_public_url() {
    let fake = FakeScheduling {
        feed_token: "t.f.s3cr3t".into(),
        ..Default::default()
    };
    let (gw, _upstream) = gateway_with_fake(&fake, "https://collegium.example.org/").await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            "{ myCalendarFeed { token url active createdAt } }",
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let feed = &body["data"]["myCalendarFeed"];
    assert_eq!(
        feed["url"],
        "https://collegium.example.org/calendar/t.f.s3cr3t.ics"
    );
    assert_eq!(feed["token"], "t.f.s3cr3t");
    assert_eq!(feed["active"], true);
    assert_eq!(feed["createdAt"], "2026-11-24T09:00:00+00:00");
}

#[tokio::test]
async fn an_active_feed_shown_again_has_no_url() {
    let fake = FakeScheduling::default();
    let (gw, _upstream) = gateway_with_fake(&fake, "http://127.0.0.1:8080").await;
    let (_, body) = gw
        .query(Some(&gw.token()), "{ myCalendarFeed { token url active } }")
        .await;
    assert_eq!(
        body["data"]["myCalendarFeed"],
        serde_json::json!({ "token": null, "url": null, "active": true }),
        "{body}"
    );
}

#[tokio::test]
async fn the_services_field_violations_come_back_as_the_input_fields() {
    let fake = FakeScheduling::default();
    let (gw, _upstream) = gateway_with_fake(&fake, "http://127.0.0.1:8080").await;
    let (_, body) = gw
        .query(
            Some(&gw.token()),
            r#"mutation { createEvent(input: { kind: NETWORK_MEETING, title: "Autumn meeting",
                startsLocal: "2026-10-14T18:00", endsLocal: "2026-10-14T16:00",
                timeZone: "Europe/London" }) { id } }"#,
        )
        .await;
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    let field = &body["errors"][0]["extensions"]["fields"][0];
    assert_eq!(field["field"], "startsLocal", "{body}");
    assert_eq!(field["description"], "must be before ends_local");
    assert_eq!(fake.calls("create_event").len(), 1);
}
