//! Roster import through GraphQL: a multipart `importRoster` upload to the
//! real membership service (in-process, SQLite), the job followed with
//! `rosterImportJob`, listed with `rosterImportJobs`; admin-only, two
//! tenants kept apart, and the upload body limit.

use std::{sync::Arc, time::Duration};

use collegium_membership::{
    MembershipStore,
    domain::{NewTenant, TenantKind, TenantSettings},
};
use platform::auth::{Grant, PersonId, Role, TenantId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use testkit::TestIssuer;
use tokio::net::TcpListener;

use crate::helpers::*;

const PEOPLE: &str = "external_id,given_name,family_name,email\n\
    p1,Ana,Lima,ana@lakeside.example\n\
    p2,Bo,Chen,bo@lakeside.example\n\
    p3,Cy,,cy@lakeside.example\n";

const IMPORT: &str = "mutation($input: ImportRosterInput!) { importRoster(input: $input) { \
    id format apply state fileNames bytes } }";

const JOB: &str = "query($id: ID!) { rosterImportJob(id: $id) { id state outcome message \
    importJobId progress { rowsTotal rowsWritten batchesDone batchesTotal } \
    report { people { created updated deactivated unchanged } rejectedCount \
    rejected { file row reason } changes { change entity externalId row } } } }";

struct Setup {
    gw: TestGateway,
    store: Arc<dyn MembershipStore>,
    a: TenantId,
    b: TenantId,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Setup {
    fn token(&self, t: TenantId, role: Role) -> String {
        self.gw.issuer.token(
            t,
            PersonId::new_v7(),
            &[Grant {
                role,
                cluster: None,
            }],
        )
    }
}

async fn setup(adjust: impl FnOnce(&mut collegium_gateway::GatewayConfig)) -> Setup {
    let dir = std::env::temp_dir().join(testkit::unique("gw-roster"));
    std::fs::create_dir_all(&dir).unwrap();
    let store: Arc<dyn MembershipStore> = Arc::new(
        collegium_membership::open_sqlite(&dir.join("membership.db"))
            .await
            .unwrap(),
    );
    let mut tenants = vec![];
    for slug in ["roster-a", "roster-b"] {
        let t = store
            .create_tenant(NewTenant {
                slug: slug.into(),
                name: slug.into(),
                kind: TenantKind::District,
                settings: TenantSettings::default(),
            })
            .await
            .unwrap();
        tenants.push(t.id);
    }
    let issuer = TestIssuer::new();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let membership = collegium_membership::start(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        store.clone(),
        issuer.verifier.clone(),
        async {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}", membership.addr);
    let gw = spawn_gateway_trusting(issuer, |c| {
        c.membership_url = url;
        adjust(c);
    })
    .await;
    Setup {
        gw,
        store,
        a: tenants[0],
        b: tenants[1],
        _stop: stop,
    }
}

/// A GraphQL multipart request (the multipart request spec) with `files`
/// bound to `variables.input.files`.
async fn upload(
    gw: &TestGateway,
    token: &str,
    input: Value,
    files: &[(&str, &[u8])],
) -> (StatusCode, String) {
    let boundary = "collegium-test-boundary";
    let mut body: Vec<u8> = vec![];
    let mut input = input;
    input["files"] = json!(vec![Value::Null; files.len()]);
    let operations = json!({ "query": IMPORT, "variables": { "input": input } });
    let map: serde_json::Map<String, Value> = (0..files.len())
        .map(|i| (i.to_string(), json!([format!("variables.input.files.{i}")])))
        .collect();
    for (name, value) in [
        ("operations", operations.to_string()),
        ("map", Value::Object(map).to_string()),
    ] {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (i, (file, bytes)) in files.iter().enumerate() {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{i}\"; \
                 filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let resp = gw
        .client
        .post(format!("{}/graphql", gw.base))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

async fn started(gw: &TestGateway, token: &str, input: Value, files: &[(&str, &[u8])]) -> Value {
    let (status, text) = upload(gw, token, input, files).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["importRoster"].clone()
}

async fn finished(gw: &TestGateway, token: &str, id: &str) -> Value {
    for _ in 0..400 {
        let (_, body) = gw
            .post(
                Some(token),
                json!({ "query": JOB, "variables": { "id": id } }),
            )
            .await;
        let job = &body["data"]["rosterImportJob"];
        assert!(job.is_object(), "{body}");
        if job["state"] == "FINISHED" {
            return job.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

#[tokio::test]
async fn an_uploaded_people_csv_dry_runs_then_applies() {
    let s = setup(|_| {}).await;
    let admin = s.token(s.a, Role::TenantAdmin);
    let job = started(
        &s.gw,
        &admin,
        json!({ "format": "PEOPLE_CSV" }),
        &[("people.csv", PEOPLE.as_bytes())],
    )
    .await;
    assert_eq!(job["format"], "PEOPLE_CSV");
    assert_eq!(job["apply"], false);
    assert_eq!(job["fileNames"], json!(["people.csv"]));
    assert_eq!(job["bytes"], PEOPLE.len());
    let dry = finished(&s.gw, &admin, job["id"].as_str().unwrap()).await;
    assert_eq!(dry["outcome"], "DRY_RUN", "{dry}");
    let report = &dry["report"];
    assert_eq!(report["people"]["created"], 2, "{dry}");
    assert_eq!(report["rejectedCount"], 1);
    assert_eq!(report["rejected"][0]["file"], "people.csv");
    assert_eq!(report["rejected"][0]["row"], 4);
    assert!(report["changes"].as_array().unwrap().len() == 2);
    assert!(
        s.store
            .roster_snapshot(s.a)
            .await
            .unwrap()
            .people
            .is_empty()
    );

    let job = started(
        &s.gw,
        &admin,
        json!({ "format": "PEOPLE_CSV", "apply": true }),
        &[("people.csv", PEOPLE.as_bytes())],
    )
    .await;
    let applied = finished(&s.gw, &admin, job["id"].as_str().unwrap()).await;
    assert_eq!(applied["outcome"], "APPLIED", "{applied}");
    assert_eq!(applied["progress"]["rowsWritten"], 2);
    assert!(applied["importJobId"].is_string());
    assert_eq!(s.store.roster_snapshot(s.a).await.unwrap().people.len(), 2);

    let (_, body) = s
        .gw
        .query(
            Some(&admin),
            "{ rosterImportJobs(first: 1) { edges { node { id outcome } } pageInfo { hasNextPage } } }",
        )
        .await;
    let list = &body["data"]["rosterImportJobs"];
    assert_eq!(list["edges"][0]["node"]["id"], applied["id"], "{body}");
    assert_eq!(list["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn imports_are_admin_only_and_per_tenant() {
    let s = setup(|_| {}).await;
    let admin_a = s.token(s.a, Role::TenantAdmin);
    let admin_b = s.token(s.b, Role::TenantAdmin);
    let job = started(
        &s.gw,
        &admin_a,
        json!({ "format": "PEOPLE_CSV", "apply": true }),
        &[("people.csv", PEOPLE.as_bytes())],
    )
    .await;
    let id = job["id"].as_str().unwrap().to_string();
    let done = finished(&s.gw, &admin_a, &id).await;
    assert_eq!(done["outcome"], "APPLIED");
    let people_a = s.store.roster_snapshot(s.a).await.unwrap().people;

    // A teacher of A may neither upload nor read.
    let teacher = s.token(s.a, Role::Teacher);
    let (status, text) = upload(
        &s.gw,
        &teacher,
        json!({ "format": "PEOPLE_CSV", "apply": true }),
        &[("people.csv", PEOPLE.as_bytes())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(codes(&serde_json::from_str(&text).unwrap()), ["FORBIDDEN"]);
    let (_, body) =
        s.gw.post(
            Some(&teacher),
            json!({ "query": JOB, "variables": { "id": id } }),
        )
        .await;
    assert_eq!(codes(&body), ["FORBIDDEN"], "{body}");

    // B's admin sees nothing of A's, by either id.
    for id in [&id, done["importJobId"].as_str().unwrap()] {
        let (_, body) =
            s.gw.post(
                Some(&admin_b),
                json!({ "query": JOB, "variables": { "id": id } }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert!(body["data"]["rosterImportJob"].is_null(), "{body}");
    }
    let (_, body) =
        s.gw.query(
            Some(&admin_b),
            "{ rosterImportJobs { edges { node { id } } } }",
        )
        .await;
    assert_eq!(
        body["data"]["rosterImportJobs"]["edges"],
        json!([]),
        "{body}"
    );

    // B's import of a bulk file (deactivating whoever is missing, confirmed)
    // never touches A's people.
    let job = started(
        &s.gw,
        &admin_b,
        json!({ "format": "PEOPLE_CSV", "apply": true, "confirmThreshold": true }),
        &[(
            "b.csv",
            b"external_id,given_name,family_name,email\np1,Other,Person,\n".as_slice(),
        )],
    )
    .await;
    let b_done = finished(&s.gw, &admin_b, job["id"].as_str().unwrap()).await;
    assert_eq!(b_done["outcome"], "APPLIED", "{b_done}");
    assert_eq!(s.store.roster_snapshot(s.a).await.unwrap().people, people_a);
    assert_eq!(s.store.roster_snapshot(s.b).await.unwrap().people.len(), 1);
}

#[tokio::test]
async fn uploads_have_their_own_body_limit() {
    let s = setup(|c| {
        c.max_body_bytes = 1024;
        c.max_upload_bytes = 64 * 1024;
    })
    .await;
    let admin = s.token(s.a, Role::TenantAdmin);
    // Over the JSON body limit, under the upload limit: accepted.
    let mut big = String::from("external_id,given_name,family_name,email\n");
    for i in 0..100 {
        big.push_str(&format!("p{i},Given{i},Family{i},p{i}@lakeside.example\n"));
    }
    assert!(big.len() > 2048);
    let job = started(
        &s.gw,
        &admin,
        json!({ "format": "PEOPLE_CSV" }),
        &[("people.csv", big.as_bytes())],
    )
    .await;
    let dry = finished(&s.gw, &admin, job["id"].as_str().unwrap()).await;
    assert_eq!(dry["report"]["people"]["created"], 100, "{dry}");
    // Over the upload limit: 413.
    let huge = big.repeat(40);
    let (status, _) = upload(
        &s.gw,
        &admin,
        json!({ "format": "PEOPLE_CSV" }),
        &[("people.csv", huge.as_bytes())],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // A JSON body still has the small limit.
    let padding = " ".repeat(4096);
    let resp =
        s.gw.client
            .post(format!("{}/graphql", s.gw.base))
            .bearer_auth(&admin)
            .json(&json!({ "query": format!("{{ __typename {padding}}}") }))
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
