//! The contract of [`ScoringStore`]: one suite, run against PostgreSQL (as
//! the non-owner app role, under row-level security) and SQLite (the embedded
//! mode). Every check is written once, against `&dyn Inspect` (the store
//! plus a look at its rows); the `contract!` macro turns each into a
//! `postgres::<name>` and a `sqlite::<name>` test, each on a fresh database.

mod store_support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use chrono::{DateTime, Duration, Utc};
use collegium_scoring::{
    domain::*,
    store::{AssignmentFilter, ExportRow, PromotionReport, StoredPortfolio, Submission},
};
use platform::{
    auth::TenantId,
    error::Error,
    events::{EventBus, SubscribeOptions, memory::MemoryBus},
    page::Page,
    retention::{self, Category, Count, Cutoffs},
    tx::AuditEntry,
};
use serde_json::json;
use store_support::*;
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
    rubrics_round_trip_and_list_by_programme_a_page_at_a_time,
    a_score_point_takes_at_most_four_anchor_papers,
    folders_are_one_per_student_and_year_and_a_refused_batch_writes_nothing,
    folders_list_by_year_and_school_a_page_at_a_time,
    promotion_moves_folders_up_a_grade_and_a_year_once,
    qualification_sets_and_attempts_round_trip,
    sessions_round_trip_list_by_year_and_cluster_and_take_folders_of_their_year,
    planning_sees_unread_folders_and_loads_and_a_clashing_plan_writes_nothing,
    a_single_read_settles_a_folder_and_a_sampled_one_waits_for_its_pair,
    paired_reads_resolve_by_the_sessions_rule_or_go_to_the_lead,
    corrections_are_new_versions_and_submissions_are_checked,
    a_closed_session_takes_only_third_reads,
    backreads_check_a_read_without_changing_its_result,
    two_readers_submitting_at_once_settle_the_pair_once,
    every_mutation_writes_its_audit_record_and_outbox_event,
    agreement_statistics_and_exports_count_current_pairs,
    tenants_never_see_or_touch_each_others_rows,
    a_persons_data_exports_whole_and_erases_once_keeping_their_scores,
    erasure_scrubs_the_persons_text_from_their_score_snapshots_only,
    retention_anonymises_a_tenants_old_folders_outside_open_sessions_only,
    anonymised_folders_read_without_a_student_and_are_not_promoted_or_scored_again,
);

// ------------------------------------------------------------------ helpers

fn scorers(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::now_v7()).collect()
}

fn ids_of<T>(items: &[T], id: impl Fn(&T) -> Uuid) -> Vec<Uuid> {
    items.iter().map(id).collect()
}

async fn result_of(s: &dyn Inspect, t: TenantId, session: Uuid, portfolio: Uuid) -> ResultRow {
    s.history(t, session, portfolio)
        .await
        .expect("history")
        .1
        .expect("the folder has a result row in the session")
}

#[track_caller]
fn assert_resolved(r: &ResultRow, score: FinalScore, method: Method) {
    assert!(!r.awaiting_third_read, "resolved, not awaiting: {r:?}");
    assert_eq!(r.final_score, Some(score), "final score of {r:?}");
    assert_eq!(r.method, Some(method), "method of {r:?}");
}

#[track_caller]
fn assert_pending(r: &ResultRow) {
    assert_eq!(
        (r.awaiting_third_read, &r.final_score, r.method),
        (false, &None, None),
        "waiting for its other read: {r:?}"
    );
}

fn correction(
    a: &Assignment,
    value: ScoreValue,
    reason: &str,
    when: chrono::DateTime<chrono::Utc>,
) -> Submission {
    Submission {
        correction: Some(reason.to_string()),
        ..submission(a, value, when)
    }
}

async fn correct(
    s: &dyn Inspect,
    t: TenantId,
    a: &Assignment,
    value: ScoreValue,
    reason: &str,
) -> collegium_scoring::store::Submitted {
    s.submit(
        t,
        &a.scorer_id.to_string(),
        correction(a, value, reason, at(20, 12, 0)),
    )
    .await
    .expect("the correction is taken")
}

/// Assignments of a session (all pages), optionally of one scorer.
async fn assignments(
    s: &dyn Inspect,
    t: TenantId,
    session: Uuid,
    scorer: Option<Uuid>,
    pending_only: bool,
) -> Vec<Assignment> {
    let f = AssignmentFilter {
        session_id: Some(session),
        scorer_id: scorer,
        pending_only,
    };
    all_pages(2, |page| s.list_assignments(t, &f, page)).await
}

type Cells = BTreeMap<(String, i32, i32), u64>;

/// Agreement cells keyed by (group, first, second); every cell of `rubric`.
/// Each scorer's paired reads in order (windows of one read), as agreed or not.
async fn reads_in_order(
    s: &dyn Inspect,
    t: TenantId,
    filter: &StatsFilter,
) -> Vec<(Uuid, Vec<bool>)> {
    s.exact_windows(t, filter, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, rates)| (k, rates.into_iter().map(|r| r == 1.0).collect()))
        .collect()
}

async fn cells(
    s: &dyn Inspect,
    t: TenantId,
    group: GroupBy,
    filter: &StatsFilter,
    rubric: Uuid,
) -> Cells {
    let mut out = Cells::new();
    for (key, r, a, b, n) in s.agreement_cells(t, group, filter).await.unwrap() {
        assert_eq!(r, rubric, "{group:?}: the cell's rubric");
        assert!(
            out.insert((key.clone(), a, b), n).is_none(),
            "{group:?}: one cell per group and pair ({key}, {a}, {b})"
        );
    }
    out
}

fn expect_cells(rows: &[(String, i32, i32, u64)]) -> Cells {
    let mut out = Cells::new();
    for (k, a, b, n) in rows {
        *out.entry((k.clone(), *a, *b)).or_default() += n;
    }
    out
}

// ------------------------------------------------------------------ rubrics

async fn rubrics_round_trip_and_list_by_programme_a_page_at_a_time(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let w1 = s
        .create_rubric(t, ACTOR, rubric("  writing ", " Narrative "))
        .await
        .unwrap();
    assert!(!w1.id.is_nil(), "an id is given");
    assert_eq!(
        (w1.programme.as_str(), w1.name.as_str()),
        ("writing", "Narrative"),
        "programme and name are trimmed"
    );
    let given = Uuid::now_v7();
    let r1 = s
        .create_rubric(
            t,
            ACTOR,
            Rubric {
                id: given,
                qualification_threshold: 0.8,
                ..rubric("reading", "Response")
            },
        )
        .await
        .unwrap();
    assert_eq!(r1.id, given, "a given id is kept");
    let w2 = create_rubric(s, t, "writing").await;

    let got = s.get_rubrics(t, &[r1.id]).await.unwrap();
    assert_eq!(got, vec![r1.clone()], "every field round-trips");
    assert_eq!(got[0].score_points.len(), 4);
    assert_eq!(got[0].dimensions[0].key, "organisation");
    assert_eq!(got[0].condition_codes[1].code, "off_topic");
    assert_eq!(got[0].qualification_threshold, 0.8);
    assert_eq!(
        s.get_rubrics(t, &[w1.id, Uuid::now_v7(), w1.id])
            .await
            .unwrap(),
        vec![w1.clone()],
        "unknown ids are skipped, repeated ids come once"
    );
    assert_eq!(s.get_rubrics(t, &[]).await.unwrap(), vec![]);

    let mut all = vec![w1.clone(), r1.clone(), w2.clone()];
    all.sort_by_key(|r| r.id);
    assert_eq!(
        all_pages(1, |page| s.list_rubrics(t, None, page)).await,
        all,
        "every rubric in id order, one a page"
    );
    let (first, next) = s.list_rubrics(t, None, Page::first(2)).await.unwrap();
    assert_eq!(first, all[..2].to_vec());
    assert_eq!(next, all[1].id.to_string(), "the token is the last id");
    let (rest, done) = s
        .list_rubrics(t, None, Page::new(2, &next).unwrap())
        .await
        .unwrap();
    assert_eq!((rest, done), (all[2..].to_vec(), String::new()));
    assert_eq!(
        all_pages(1, |page| s.list_rubrics(t, Some("writing"), page)).await,
        vec![w1.clone(), w2.clone()]
    );
    assert_eq!(
        all_pages(5, |page| s.list_rubrics(t, Some("reading"), page)).await,
        vec![r1.clone()]
    );
    assert_eq!(
        all_pages(5, |page| s.list_rubrics(t, Some("maths"), page)).await,
        vec![]
    );

    let before = s.counts(t).await;
    expect_conflict(s.create_rubric(t, ACTOR, r1.clone()).await, "id");
    assert_eq!(s.counts(t).await, before, "a refused rubric writes nothing");
}

async fn a_score_point_takes_at_most_four_anchor_papers(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let other = create_rubric(s, t, "reading").await;
    let mut threes = Vec::new();
    for i in 0..4 {
        let a = s
            .add_anchor(t, ACTOR, anchor(r.id, 3, &format!("three-{i}")))
            .await
            .unwrap_or_else(|e| panic!("anchor {i} of point 3: {e:?}"));
        assert!(!a.id.is_nil());
        assert_eq!((a.rubric_id, a.score_point), (r.id, 3));
        threes.push(a);
    }
    let two = s
        .add_anchor(t, ACTOR, anchor(r.id, 2, "two"))
        .await
        .unwrap();

    let before = s.counts(t).await;
    let message = expect_failed_precondition(
        s.add_anchor(t, ACTOR, anchor(r.id, 3, "fifth")).await,
        "score_point",
    );
    assert!(message.contains('4'), "{message}");
    assert_eq!(s.counts(t).await, before, "the fifth anchor wrote nothing");
    // The cap is per rubric and point.
    let other_three = s
        .add_anchor(t, ACTOR, anchor(other.id, 3, "other-three"))
        .await
        .unwrap();
    let one = s
        .add_anchor(t, ACTOR, anchor(r.id, 1, "one"))
        .await
        .unwrap();
    expect_not_found(
        s.add_anchor(t, ACTOR, anchor(Uuid::now_v7(), 1, "orphan"))
            .await,
    );

    let mut expected = vec![one.clone(), two.clone()];
    expected.extend(threes.iter().cloned());
    assert_eq!(
        s.anchors(t, r.id).await.unwrap(),
        expected,
        "by score point, then in the order added"
    );
    assert_eq!(s.anchors(t, other.id).await.unwrap(), vec![other_three]);
    assert_eq!(s.anchors(t, Uuid::now_v7()).await.unwrap(), vec![]);
    assert_eq!(
        s.anchor_counts(t, &[r.id, other.id, Uuid::now_v7()])
            .await
            .unwrap(),
        vec![(r.id, 1, 1), (r.id, 2, 1), (r.id, 3, 4), (other.id, 3, 1)]
    );
    assert_eq!(
        s.anchor_counts(t, &[other.id]).await.unwrap(),
        vec![(other.id, 3, 1)]
    );
    assert_eq!(s.anchor_counts(t, &[]).await.unwrap(), vec![]);
}

// ------------------------------------------------------------------ portfolios

async fn folders_are_one_per_student_and_year_and_a_refused_batch_writes_nothing(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let batch = vec![
        folder("ana", north, 4, YEAR),
        folder("ben", north, 5, YEAR),
        folder("cy", south, 4, YEAR),
    ];
    let created = create_folders(s, t, batch.clone()).await;
    assert_eq!(created.len(), 3);
    for (c, n) in created.iter().zip(&batch) {
        assert_eq!(c.portfolio, n.portfolio, "the folder as given");
        assert_eq!(c.student_enc, n.student_enc, "the sealed id as given");
        assert_eq!(c.portfolio.student_ref, "", "no clear id");
    }
    let ids = folder_ids(&created);
    let mut got = s
        .get_portfolios(t, &[ids[2], ids[0], ids[1], Uuid::now_v7()])
        .await
        .unwrap();
    got.sort_by_key(|p| p.portfolio.id);
    assert_eq!(got, created, "folders round-trip, opaque bytes included");
    assert_eq!(got[0].portfolio.pieces.len(), 2);

    // A student who has a folder of the year already: nothing of the batch is written.
    let before = s.counts(t).await;
    let message = expect_conflict(
        s.create_portfolios(
            t,
            ACTOR,
            vec![folder("dee", south, 4, YEAR), folder("ben", south, 5, YEAR)],
        )
        .await,
        "portfolios[1].student_ref",
    );
    assert!(message.contains(&YEAR.to_string()), "{message}");
    assert_eq!(s.counts(t).await, before, "a refused batch writes nothing");
    // The same student twice in one batch.
    expect_conflict(
        s.create_portfolios(
            t,
            ACTOR,
            vec![
                folder("eve", south, 4, YEAR),
                folder("fay", south, 4, YEAR),
                folder("eve", north, 4, YEAR),
            ],
        )
        .await,
        "portfolios[2].student_ref",
    );
    assert_eq!(s.counts(t).await, before, "a refused batch writes nothing");

    // Another year is another folder; the refused students were never stored.
    let later = create_folders(
        s,
        t,
        vec![
            folder("ben", north, 6, YEAR + 1),
            folder("dee", south, 4, YEAR),
            folder("eve", south, 4, YEAR),
        ],
    )
    .await;
    assert_eq!(later.len(), 3);
    assert_eq!(
        s.counts(t).await["portfolios"],
        before["portfolios"] + 3,
        "three more folders"
    );
}

async fn folders_list_by_year_and_school_a_page_at_a_time(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let created = create_folders(
        s,
        t,
        vec![
            folder("ana", north, 4, YEAR),
            folder("ben", south, 4, YEAR),
            folder("cy", north, 5, YEAR),
            folder("ana", north, 5, YEAR + 1),
            folder("dee", south, 3, YEAR + 1),
        ],
    )
    .await;
    let pick =
        |is: &[usize]| -> Vec<StoredPortfolio> { is.iter().map(|i| created[*i].clone()).collect() };
    assert_eq!(
        all_pages(2, |page| s.list_portfolios(t, None, None, page)).await,
        created,
        "every folder in id order, two a page"
    );
    assert_eq!(
        all_pages(2, |page| s.list_portfolios(t, Some(YEAR), None, page)).await,
        pick(&[0, 1, 2])
    );
    assert_eq!(
        all_pages(1, |page| s.list_portfolios(
            t,
            Some(YEAR),
            Some(north),
            page
        ))
        .await,
        pick(&[0, 2])
    );
    assert_eq!(
        all_pages(1, |page| s.list_portfolios(t, None, Some(south), page)).await,
        pick(&[1, 4])
    );
    assert_eq!(
        all_pages(5, |page| s.list_portfolios(
            t,
            Some(YEAR + 1),
            Some(north),
            page
        ))
        .await,
        pick(&[3])
    );
    assert_eq!(
        all_pages(5, |page| s.list_portfolios(t, Some(YEAR + 2), None, page)).await,
        vec![]
    );
    assert_eq!(
        all_pages(5, |page| s.list_portfolios(
            t,
            None,
            Some(Uuid::now_v7()),
            page
        ))
        .await,
        vec![]
    );
    let (page, next) = s
        .list_portfolios(t, Some(YEAR), None, Page::first(2))
        .await
        .unwrap();
    assert_eq!(page, pick(&[0, 1]));
    assert_eq!(next, created[1].portfolio.id.to_string());
}

async fn promotion_moves_folders_up_a_grade_and_a_year_once(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let this = create_folders(
        s,
        t,
        vec![
            folder("ana", north, 3, YEAR),
            folder("ben", south, 4, YEAR),
            folder("cy", north, 5, YEAR),
            folder("dee", south, 3, YEAR),
            folder("old", north, 2, YEAR - 1),
        ],
    )
    .await;
    // Dee has next year's folder already.
    let dee_next = create_folders(s, t, vec![folder("dee", south, 4, YEAR + 1)])
        .await
        .remove(0);
    let before = s.counts(t).await;
    let audited = s.audit(t).await.len();

    let report = s.promote_portfolios(t, ACTOR, YEAR, 5).await.unwrap();
    assert_eq!(
        report,
        PromotionReport {
            promoted: 2,
            already_promoted: 1,
            graduated: 1,
        }
    );
    let next = all_pages(10, |page| s.list_portfolios(t, Some(YEAR + 1), None, page)).await;
    assert_eq!(next.len(), 3, "ana, ben and dee have next year's folders");
    assert!(next.contains(&dee_next), "dee's own folder is untouched");
    for prev in &this[..2] {
        let moved = next
            .iter()
            .find(|n| n.portfolio.previous_id == Some(prev.portfolio.id))
            .unwrap_or_else(|| panic!("a folder follows {:?}", prev.portfolio));
        assert_ne!(moved.portfolio.id, prev.portfolio.id);
        assert_eq!(
            moved.portfolio,
            Portfolio {
                id: moved.portfolio.id,
                grade_level: prev.portfolio.grade_level + 1,
                academic_year: YEAR + 1,
                previous_id: Some(prev.portfolio.id),
                ..prev.portfolio.clone()
            },
            "same school and pieces, the next grade and year"
        );
        assert_eq!(moved.student_enc, prev.student_enc, "the same student");
    }
    assert!(
        !next
            .iter()
            .any(|n| n.portfolio.previous_id == Some(this[2].portfolio.id)),
        "the final grade graduates"
    );
    assert_eq!(
        all_pages(10, |page| s.list_portfolios(t, Some(YEAR), None, page)).await,
        this[..4].to_vec(),
        "this year's folders stay as they were"
    );
    assert_eq!(
        all_pages(10, |page| s.list_portfolios(t, Some(YEAR - 1), None, page)).await,
        this[4..].to_vec(),
        "other years are not promoted"
    );
    let promoted: Vec<Audited> = s.audit(t).await[audited..].to_vec();
    assert_eq!(
        promoted
            .iter()
            .map(|a| a.action.as_str())
            .collect::<Vec<_>>(),
        ["portfolio.promoted", "portfolio.promoted"]
    );
    // The promoted student holds next year's place.
    expect_conflict(
        s.create_portfolios(t, ACTOR, vec![folder("ana", north, 4, YEAR + 1)])
            .await,
        "portfolios[0].student_ref",
    );

    // Running it again changes nothing.
    let after = s.counts(t).await;
    assert_eq!(after["portfolios"], before["portfolios"] + 2);
    assert_eq!(
        s.promote_portfolios(t, ACTOR, YEAR, 5).await.unwrap(),
        PromotionReport {
            promoted: 0,
            already_promoted: 3,
            graduated: 1,
        }
    );
    assert_eq!(s.counts(t).await, after, "a second run writes nothing");
    assert_eq!(
        s.promote_portfolios(t, ACTOR, YEAR + 5, 5).await.unwrap(),
        PromotionReport::default(),
        "a year without folders"
    );
}

// ------------------------------------------------------------------ qualification

async fn qualification_sets_and_attempts_round_trip(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let r2 = create_rubric(s, t, "reading").await;
    let create = |rubric: Uuid, year: i32, kind: SetKind, name: &'static str| async move {
        s.create_set(t, ACTOR, qualification_set(rubric, year, kind, name))
            .await
            .unwrap()
    };
    let q = create(r.id, YEAR, SetKind::Qualifying, "Q1").await;
    assert!(!q.id.is_nil());
    assert_eq!(q.papers.len(), 4);
    let c = create(r.id, YEAR, SetKind::Calibration, "C1").await;
    let old = create(r.id, YEAR - 1, SetKind::Qualifying, "Q0").await;
    let reading = create(r2.id, YEAR, SetKind::Qualifying, "R1").await;

    assert_eq!(s.get_set(t, q.id).await.unwrap(), Some(q.clone()));
    assert_eq!(
        s.get_set(t, c.id).await.unwrap().unwrap().kind,
        SetKind::Calibration
    );
    assert_eq!(s.get_set(t, Uuid::now_v7()).await.unwrap(), None);
    assert_eq!(
        s.list_sets(t, r.id, Some(YEAR)).await.unwrap(),
        vec![q.clone(), c.clone()]
    );
    assert_eq!(
        s.list_sets(t, r.id, None).await.unwrap(),
        vec![q.clone(), c.clone(), old.clone()]
    );
    assert_eq!(
        s.list_sets(t, r2.id, None).await.unwrap(),
        vec![reading.clone()]
    );
    assert_eq!(s.list_sets(t, r.id, Some(YEAR + 1)).await.unwrap(), vec![]);
    let before = s.counts(t).await;
    expect_not_found(
        s.create_set(
            t,
            ACTOR,
            qualification_set(Uuid::now_v7(), YEAR, SetKind::Qualifying, "X"),
        )
        .await,
    );

    let [a, b] = [Uuid::now_v7(), Uuid::now_v7()];
    let record = |attempt: QualificationAttempt| async move {
        s.record_attempt(t, ACTOR, attempt).await.unwrap()
    };
    let a1 = record(attempt(&q, a, &[1, 2, 3, 3])).await;
    assert!(!a1.id.is_nil());
    assert_eq!(a1.submitted_at.timestamp_subsec_nanos(), 0, "whole seconds");
    assert_eq!(a1.exact(), 3);
    assert!(a1.passed);
    let a2 = record(attempt(&c, a, &[2, 2, 2, 2])).await;
    assert!(!a2.passed);
    let b1 = record(attempt(&q, b, &[1, 2, 3, 4])).await;
    let a_old = record(attempt(&old, a, &[1, 1, 1, 1])).await;
    let a_reading = record(attempt(&reading, a, &[4, 3, 2, 1])).await;

    assert_eq!(
        s.attempts(t, a, r.id, YEAR).await.unwrap(),
        vec![a1.clone(), a2.clone()],
        "a scorer's attempts on the rubric's sets of the year, oldest first"
    );
    assert_eq!(s.attempts(t, b, r.id, YEAR).await.unwrap(), vec![b1]);
    assert_eq!(s.attempts(t, a, r.id, YEAR - 1).await.unwrap(), vec![a_old]);
    assert_eq!(
        s.attempts(t, a, r2.id, YEAR).await.unwrap(),
        vec![a_reading]
    );
    assert_eq!(
        s.attempts(t, Uuid::now_v7(), r.id, YEAR).await.unwrap(),
        vec![]
    );
    assert_eq!(s.attempts(t, a, r.id, YEAR + 1).await.unwrap(), vec![]);
    assert_eq!(
        a1.results,
        q.papers
            .iter()
            .zip([1, 2, 3, 3])
            .map(|(p, g)| (p.id, g, p.true_score))
            .collect::<Vec<_>>(),
        "(paper, given, agreed) in paper order"
    );
    // An attempt at a set that does not exist is refused.
    let mut orphan = attempt(&q, a, &[1, 2, 3, 4]);
    orphan.set_id = Uuid::now_v7();
    let counted = s.counts(t).await;
    assert!(s.record_attempt(t, ACTOR, orphan).await.is_err());
    assert_eq!(s.counts(t).await, counted, "nothing written");
    assert_eq!(
        counted["qualification_sets"], before["qualification_sets"],
        "the refused set was not written"
    );
}

// ------------------------------------------------------------------ sessions

async fn sessions_round_trip_list_by_year_and_cluster_and_take_folders_of_their_year(
    s: &dyn Inspect,
) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let (c1, c2, lead) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let since = chrono::Utc::now();
    let s1 = create_session(
        s,
        t,
        Session {
            second_read_share: 0.3,
            backread_share: 0.15,
            allow_own_school: true,
            calibration_since: Some(since),
            ..session(r.id, c1, YEAR, lead, ResolutionRule::AdjacentHigher)
        },
    )
    .await;
    assert!(!s1.id.is_nil());
    assert_eq!(
        (s1.status, s1.portfolios, s1.closed_at),
        (SessionStatus::Open, 0, None)
    );
    assert_eq!(
        s1.calibration_since,
        Some(chrono::SubsecRound::trunc_subsecs(since, 0)),
        "instants in whole seconds"
    );
    let s2 = create_session(s, t, session(r.id, c2, YEAR, lead, ResolutionRule::Exact)).await;
    let s3 = create_session(
        s,
        t,
        session(r.id, c1, YEAR + 1, lead, ResolutionRule::AdjacentAverage),
    )
    .await;
    assert_eq!(
        s.get_sessions(t, &[s1.id, Uuid::now_v7()]).await.unwrap(),
        vec![s1.clone()],
        "every field round-trips"
    );
    let list = |year: Option<i32>, cluster: Option<Uuid>| async move {
        ids_of(
            &all_pages(1, |page| s.list_sessions(t, year, cluster, page)).await,
            |x| x.id,
        )
    };
    assert_eq!(list(None, None).await, vec![s1.id, s2.id, s3.id]);
    assert_eq!(list(Some(YEAR), None).await, vec![s1.id, s2.id]);
    assert_eq!(list(None, Some(c1)).await, vec![s1.id, s3.id]);
    assert_eq!(list(Some(YEAR), Some(c1)).await, vec![s1.id]);
    assert_eq!(list(Some(YEAR + 5), None).await, Vec::<Uuid>::new());
    assert_eq!(
        s.list_sessions(t, None, None, Page::first(2))
            .await
            .unwrap(),
        (vec![s1.clone(), s2.clone()], s2.id.to_string())
    );
    expect_not_found(
        s.create_session(
            t,
            ACTOR,
            session(Uuid::now_v7(), c1, YEAR, lead, ResolutionRule::Exact),
        )
        .await,
    );

    // Folders of the session's year.
    let school = Uuid::now_v7();
    let f = create_folders(
        s,
        t,
        vec![
            folder("ana", school, 4, YEAR),
            folder("ben", school, 4, YEAR),
            folder("cy", school, 4, YEAR),
            folder("dee", school, 4, YEAR + 1),
        ],
    )
    .await;
    let f = folder_ids(&f);
    let added = s
        .add_session_portfolios(t, ACTOR, s1.id, &f[..2])
        .await
        .unwrap();
    assert_eq!(
        added,
        Session {
            portfolios: 2,
            ..s1.clone()
        }
    );
    // A read given meanwhile survives adding the folder again.
    let reader = Uuid::now_v7();
    let first = assign(
        s,
        t,
        s1.id,
        vec![read(s1.id, f[0], reader, ReadKind::First)],
    )
    .await;
    give(s, t, &first[0], points(3), at(1, 9, 0)).await;
    let again = s
        .add_session_portfolios(t, ACTOR, s1.id, &[f[1], f[0], f[2], f[2]])
        .await
        .unwrap();
    assert_eq!(again.portfolios, 3, "adding again is idempotent");
    assert_resolved(
        &result_of(s, t, s1.id, f[0]).await,
        FinalScore::Score(3.0),
        Method::SingleRead,
    );
    assert_eq!(
        s.list_results(t, s1.id, false, first_page())
            .await
            .unwrap()
            .0
            .len(),
        3
    );

    let before = s.counts(t).await;
    expect_invalid(
        s.add_session_portfolios(t, ACTOR, s2.id, &[f[0], f[3]])
            .await,
        &["portfolio_ids[1]"],
    );
    expect_invalid(
        s.add_session_portfolios(t, ACTOR, s2.id, &[Uuid::now_v7(), f[1]])
            .await,
        &["portfolio_ids[0]"],
    );
    assert_eq!(
        s.counts(t).await,
        before,
        "a refused addition writes nothing"
    );
    assert_eq!(s.get_sessions(t, &[s2.id]).await.unwrap()[0].portfolios, 0);
    expect_not_found(
        s.add_session_portfolios(t, ACTOR, Uuid::now_v7(), &f[..1])
            .await,
    );
    // Next year's session takes next year's folder.
    assert_eq!(
        s.add_session_portfolios(t, ACTOR, s3.id, &f[3..])
            .await
            .unwrap()
            .portfolios,
        1
    );

    let closed = s.close_session(t, ACTOR, s2.id, &[]).await.unwrap();
    assert_eq!(closed.status, SessionStatus::Closed);
    assert!(closed.closed_at.is_some());
    assert_eq!(s.get_sessions(t, &[s2.id]).await.unwrap(), vec![closed]);
    expect_failed_precondition(
        s.add_session_portfolios(t, ACTOR, s2.id, &f[..1]).await,
        "session_id",
    );
}

async fn planning_sees_unread_folders_and_loads_and_a_clashing_plan_writes_nothing(
    s: &dyn Inspect,
) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let (north, south) = (Uuid::now_v7(), Uuid::now_v7());
    let [a, b, c, lead]: [Uuid; 4] = scorers(4).try_into().unwrap();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            vec![
                folder("ana", north, 4, YEAR),
                folder("ben", south, 4, YEAR),
                folder("cy", north, 4, YEAR),
            ],
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let (unread, loads) = s.planning_state(t, sess.id).await.unwrap();
    assert_eq!(
        unread
            .iter()
            .map(|u| (u.portfolio_id, u.school_id))
            .collect::<Vec<_>>(),
        vec![(f[0], north), (f[1], south), (f[2], north)]
    );
    assert_eq!(loads, vec![]);

    let reads = assign(
        s,
        t,
        sess.id,
        vec![
            read(sess.id, f[0], a, ReadKind::First),
            read(sess.id, f[0], b, ReadKind::Second),
            read(sess.id, f[1], b, ReadKind::First),
        ],
    )
    .await;
    let (unread, mut loads) = s.planning_state(t, sess.id).await.unwrap();
    loads.sort();
    assert_eq!(ids_of(&unread, |u| u.portfolio_id), vec![f[2]]);
    assert_eq!(loads, vec![(a, 1), (b, 2)], "first and second reads count");

    // Another planner assigned f[0]'s first read meanwhile: nothing of the plan is written.
    let before = s.counts(t).await;
    expect_conflict(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![
                read(sess.id, f[2], c, ReadKind::First),
                read(sess.id, f[0], c, ReadKind::First),
            ],
        )
        .await,
        "session_id",
    );
    assert_eq!(s.counts(t).await, before, "a clashing plan writes nothing");
    expect_conflict(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![
                read(sess.id, f[2], c, ReadKind::First),
                read(sess.id, f[2], a, ReadKind::First),
            ],
        )
        .await,
        "session_id",
    );
    assert!(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![read(sess.id, Uuid::now_v7(), c, ReadKind::First)],
        )
        .await
        .is_err(),
        "a folder outside the session is refused"
    );
    assert_eq!(s.counts(t).await, before, "refused plans write nothing");
    let (unread, _) = s.planning_state(t, sess.id).await.unwrap();
    assert_eq!(ids_of(&unread, |u| u.portfolio_id), vec![f[2]]);
    expect_not_found(
        s.add_assignments(
            t,
            ACTOR,
            Uuid::now_v7(),
            vec![read(sess.id, f[2], c, ReadKind::First)],
        )
        .await,
    );
    expect_not_found(s.planning_state(t, Uuid::now_v7()).await);

    // Reading the plan back.
    assert_eq!(
        s.get_assignments(t, &[reads[2].id, Uuid::now_v7()])
            .await
            .unwrap(),
        vec![reads[2].clone()]
    );
    assert_eq!(assignments(s, t, sess.id, None, false).await, reads);
    assert_eq!(
        assignments(s, t, sess.id, Some(b), false).await,
        reads[1..].to_vec()
    );
    give(s, t, &reads[2], points(2), at(1, 10, 0)).await;
    assert_eq!(
        assignments(s, t, sess.id, Some(b), true).await,
        vec![reads[1].clone()],
        "pending only"
    );
    let mine = assignments(s, t, sess.id, Some(b), false).await;
    assert_eq!(
        mine.iter().map(|x| x.submitted).collect::<Vec<_>>(),
        [false, true]
    );
    let any_session = AssignmentFilter {
        scorer_id: Some(a),
        ..AssignmentFilter::default()
    };
    assert_eq!(
        s.list_assignments(t, &any_session, first_page())
            .await
            .unwrap()
            .0,
        vec![reads[0].clone()]
    );
    let (unread, mut loads) = s.planning_state(t, sess.id).await.unwrap();
    loads.sort();
    assert_eq!(ids_of(&unread, |u| u.portfolio_id), vec![f[2]]);
    assert_eq!(loads, vec![(a, 1), (b, 2)]);
    assign(s, t, sess.id, vec![read(sess.id, f[2], c, ReadKind::First)]).await;
    let (unread, mut loads) = s.planning_state(t, sess.id).await.unwrap();
    loads.sort();
    assert_eq!(unread, vec![]);
    assert_eq!(loads, vec![(a, 1), (b, 2), (c, 1)]);

    s.close_session(t, ACTOR, sess.id, &[]).await.unwrap();
    expect_failed_precondition(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![read(sess.id, f[2], a, ReadKind::Second)],
        )
        .await,
        "session_id",
    );
    // Closing withdrew the reads nobody gave.
    assert_eq!(
        assignments(s, t, sess.id, None, false).await,
        vec![Assignment {
            submitted: true,
            ..reads[2].clone()
        }]
    );
}

// ------------------------------------------------------------------ submissions

async fn a_single_read_settles_a_folder_and_a_sampled_one_waits_for_its_pair(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            vec![
                folder("ana", school, 4, YEAR),
                folder("ben", school, 4, YEAR),
                folder("cy", school, 4, YEAR),
            ],
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let reads = assign(
        s,
        t,
        sess.id,
        vec![
            read(sess.id, f[0], a, ReadKind::First),
            read(sess.id, f[1], a, ReadKind::First),
            read(sess.id, f[1], b, ReadKind::Second),
            read(sess.id, f[2], a, ReadKind::First),
            read(sess.id, f[2], b, ReadKind::Second),
        ],
    )
    .await;

    // Not sampled for a second read: the first read stands.
    let single = give(s, t, &reads[0], points(3), at(1, 9, 0)).await;
    assert_resolved(&single.result, FinalScore::Score(3.0), Method::SingleRead);
    assert!(!single.third_read_assigned);
    assert_eq!(
        single.score,
        Score {
            id: single.score.id,
            assignment_id: reads[0].id,
            session_id: sess.id,
            portfolio_id: f[0],
            scorer_id: a,
            kind: ReadKind::First,
            version: 1,
            value: points(3),
            reason: String::new(),
            submitted_by: a.to_string(),
            submitted_at: at(1, 9, 0),
        }
    );
    assert_eq!(
        (
            single.result.session_id,
            single.result.portfolio_id,
            single.result.school_id
        ),
        (sess.id, f[0], school)
    );
    assert_eq!(single.result.decided_at, at(1, 9, 0));
    assert_eq!(
        s.history(t, sess.id, f[0]).await.unwrap(),
        (vec![single.score.clone()], Some(single.result.clone()))
    );

    // Sampled: the first read alone waits for the second.
    let first = give(s, t, &reads[1], points(2), at(1, 9, 5)).await;
    assert_pending(&first.result);
    assert_pending(&result_of(s, t, sess.id, f[1]).await);
    // Either read may come first.
    let second_first = give(s, t, &reads[4], points(4), at(1, 9, 6)).await;
    assert_pending(&second_first.result);
    let pair = give(s, t, &reads[3], points(4), at(1, 9, 7)).await;
    assert_resolved(&pair.result, FinalScore::Score(4.0), Method::Exact);

    // A second read planned after the first read settled it: it waits again.
    let late = assign(
        s,
        t,
        sess.id,
        vec![read(sess.id, f[0], b, ReadKind::Second)],
    )
    .await;
    assert_pending(&result_of(s, t, sess.id, f[0]).await);
    let settled = give(s, t, &late[0], points(3), at(1, 9, 8)).await;
    assert_resolved(&settled.result, FinalScore::Score(3.0), Method::Exact);

    let progress = s.progress(t, sess.id).await.unwrap();
    assert_eq!(
        (
            progress.portfolios,
            progress.reads_assigned,
            progress.reads_submitted,
            progress.resolved,
            progress.awaiting_third_read
        ),
        (3, 6, 5, 2, 0)
    );
    let by: BTreeMap<Uuid, (u32, u32, usize)> = progress
        .scorers
        .iter()
        .map(|p| (p.scorer_id, (p.assigned, p.submitted, p.not_backread.len())))
        .collect();
    assert_eq!(by, BTreeMap::from([(a, (3, 3, 3)), (b, (3, 2, 2))]));
    expect_not_found(s.progress(t, Uuid::now_v7()).await);

    let results = all_pages(1, |page| s.list_results(t, sess.id, false, page)).await;
    assert_eq!(ids_of(&results, |x| x.portfolio_id), f);
    assert_pending(&results[1]);
    assert_eq!(
        s.list_results(t, sess.id, true, first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
}

async fn paired_reads_resolve_by_the_sessions_rule_or_go_to_the_lead(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let names = ["p0", "p1", "p2", "p3", "p4", "p5", "p6"];
    let f = folder_ids(
        &create_folders(
            s,
            t,
            names.iter().map(|n| folder(n, school, 4, YEAR)).collect(),
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f[..5]).await;
    let mut plan = Vec::new();
    for p in &f[..4] {
        plan.push(read(sess.id, *p, a, ReadKind::First));
        plan.push(read(sess.id, *p, b, ReadKind::Second));
    }
    // f[4]: both reads planned for the same scorer.
    plan.push(read(sess.id, f[4], a, ReadKind::First));
    plan.push(read(sess.id, f[4], a, ReadKind::Second));
    let reads = assign(s, t, sess.id, plan).await;
    let pair = |i: usize| (&reads[2 * i], &reads[2 * i + 1]);

    // Exact agreement.
    let (x, y) = pair(0);
    give(s, t, x, points(3), at(2, 9, 0)).await;
    let exact = give(s, t, y, points(3), at(2, 9, 1)).await;
    assert_resolved(&exact.result, FinalScore::Score(3.0), Method::Exact);
    // Adjacent under adjacent_average: the mean.
    let (x, y) = pair(1);
    give(s, t, x, points(2), at(2, 9, 2)).await;
    let adjacent = give(s, t, y, points(3), at(2, 9, 3)).await;
    assert_resolved(
        &adjacent.result,
        FinalScore::Score(2.5),
        Method::AdjacentAverage,
    );
    assert!(!adjacent.third_read_assigned);
    // The same condition code twice.
    let (x, y) = pair(3);
    give(s, t, x, condition("blank"), at(2, 9, 4)).await;
    let blank = give(s, t, y, condition("blank"), at(2, 9, 5)).await;
    assert_resolved(
        &blank.result,
        FinalScore::Condition("blank".into()),
        Method::Exact,
    );
    assert_eq!(
        result_of(s, t, sess.id, f[3]).await,
        blank.result,
        "a condition code round-trips"
    );

    // Further apart: the session's lead reads it.
    let (x, y) = pair(2);
    give(s, t, x, points(1), at(2, 9, 6)).await;
    let before_events = s.outbox(t).await.len();
    let apart = give(s, t, y, points(4), at(2, 9, 7)).await;
    assert!(apart.third_read_assigned);
    assert!(apart.result.awaiting_third_read);
    assert_eq!(
        (&apart.result.final_score, apart.result.method),
        (&None, None)
    );
    assert!(
        apart.result.reason.contains("3 points"),
        "{}",
        apart.result.reason
    );
    let thirds = assignments(s, t, sess.id, Some(lead), false).await;
    assert_eq!(thirds.len(), 1, "one third read for the lead: {thirds:?}");
    let third = thirds[0].clone();
    assert_eq!(
        (third.portfolio_id, third.kind, third.submitted),
        (f[2], ReadKind::Third, false)
    );
    let events = s.outbox(t).await[before_events..].to_vec();
    let detected: Vec<&Outboxed> = events
        .iter()
        .filter(|e| e.event_type == "scoring.discrepancy.detected")
        .collect();
    assert_eq!(detected.len(), 1, "{events:?}");
    let payload = &detected[0].payload;
    assert_eq!(payload["portfolio_id"], json!(f[2]));
    assert_eq!(payload["session_id"], json!(sess.id));
    assert_eq!(payload["lead_id"], json!(lead));
    assert_eq!(payload["assignment_id"], json!(third.id));
    assert_eq!(
        ids_of(
            &s.list_results(t, sess.id, true, first_page())
                .await
                .unwrap()
                .0,
            |x| x.portfolio_id
        ),
        vec![f[2]]
    );
    assert_eq!(s.progress(t, sess.id).await.unwrap().awaiting_third_read, 1);

    // The lead's read is final.
    let decided = give(s, t, &third, points(2), at(2, 10, 0)).await;
    assert_resolved(&decided.result, FinalScore::Score(2.0), Method::ThirdRead);
    assert!(!decided.third_read_assigned);
    assert_eq!(
        s.list_results(t, sess.id, true, first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    let (history, result) = s.history(t, sess.id, f[2]).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.kind, h.value.score))
            .collect::<Vec<_>>(),
        [
            (ReadKind::First, Some(1)),
            (ReadKind::Second, Some(4)),
            (ReadKind::Third, Some(2))
        ]
    );
    assert_eq!(result, Some(decided.result));
    assert_eq!(
        assignments(s, t, sess.id, Some(lead), false).await.len(),
        1,
        "no further third read"
    );

    // The first reader cannot give the second read.
    let (x, y) = pair(4);
    give(s, t, x, points(2), at(2, 11, 0)).await;
    let before = s.counts(t).await;
    expect_failed_precondition(
        s.submit(t, &a.to_string(), submission(y, points(2), at(2, 11, 1)))
            .await,
        "assignment_id",
    );
    assert_eq!(s.counts(t).await, before, "a refused read writes nothing");
    assert_pending(&result_of(s, t, sess.id, f[4]).await);

    // The other rules: exact sends adjacent reads to the lead, adjacent_higher takes the higher.
    let strict = session_with(s, t, r.id, lead, ResolutionRule::Exact, &f[5..6]).await;
    let higher = session_with(s, t, r.id, lead, ResolutionRule::AdjacentHigher, &f[6..7]).await;
    for (sess, folder, want) in [
        (&strict, f[5], None),
        (
            &higher,
            f[6],
            Some((FinalScore::Score(3.0), Method::AdjacentHigher)),
        ),
    ] {
        let two = assign(
            s,
            t,
            sess.id,
            vec![
                read(sess.id, folder, a, ReadKind::First),
                read(sess.id, folder, b, ReadKind::Second),
            ],
        )
        .await;
        give(s, t, &two[0], points(3), at(3, 9, 0)).await;
        let done = give(s, t, &two[1], points(2), at(3, 9, 1)).await;
        match want {
            Some((score, method)) => {
                assert_resolved(&done.result, score, method);
                assert!(!done.third_read_assigned);
            }
            None => {
                assert!(done.result.awaiting_third_read, "{:?}", done.result);
                assert!(done.third_read_assigned);
                assert!(
                    done.result.reason.contains("1 point"),
                    "{}",
                    done.result.reason
                );
            }
        }
    }
}

async fn corrections_are_new_versions_and_submissions_are_checked(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            vec![
                folder("ana", school, 4, YEAR),
                folder("ben", school, 4, YEAR),
                folder("cy", school, 4, YEAR),
            ],
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let reads = assign(
        s,
        t,
        sess.id,
        vec![
            read(sess.id, f[0], a, ReadKind::First),
            read(sess.id, f[0], b, ReadKind::Second),
            read(sess.id, f[1], a, ReadKind::First),
            read(sess.id, f[2], a, ReadKind::First),
        ],
    )
    .await;

    let v1 = give(s, t, &reads[0], points(2), at(4, 9, 0)).await.score;
    let v2 = s
        .submit(
            t,
            &a.to_string(),
            correction(&reads[0], points(3), "misread the rubric", at(4, 9, 30)),
        )
        .await
        .unwrap();
    assert_eq!(
        v2.score,
        Score {
            id: v2.score.id,
            version: 2,
            value: points(3),
            reason: "misread the rubric".into(),
            submitted_at: at(4, 9, 30),
            ..v1.clone()
        }
    );
    assert_ne!(v2.score.id, v1.id);
    assert_pending(&v2.result);
    // The pair uses the corrected read.
    let second = give(s, t, &reads[1], points(3), at(4, 10, 0)).await;
    assert_resolved(&second.result, FinalScore::Score(3.0), Method::Exact);
    let (history, _) = s.history(t, sess.id, f[0]).await.unwrap();
    assert_eq!(
        history,
        vec![v1.clone(), v2.score.clone(), second.score.clone()],
        "every version, the first unchanged"
    );
    assert_eq!((history[0].version, history[0].value.score), (1, Some(2)));
    assert_eq!(history[0].reason, "");

    // A correction after the pair formed: apart, then adjacent again.
    let apart = correct(s, t, &reads[1], points(1), "wrong paper").await;
    assert_eq!(apart.score.version, 2);
    assert!(apart.result.awaiting_third_read);
    assert!(apart.third_read_assigned);
    assert_eq!(assignments(s, t, sess.id, Some(lead), true).await.len(), 1);
    let back = correct(s, t, &reads[1], points(4), "right paper after all").await;
    assert_eq!(back.score.version, 3);
    assert_resolved(
        &back.result,
        FinalScore::Score(3.5),
        Method::AdjacentAverage,
    );
    assert_eq!(
        assignments(s, t, sess.id, Some(lead), false).await,
        vec![],
        "the lead's read is no longer needed"
    );

    // A single read corrected.
    give(s, t, &reads[2], points(2), at(4, 11, 0)).await;
    let fixed = correct(s, t, &reads[2], points(4), "typo").await;
    assert_resolved(&fixed.result, FinalScore::Score(4.0), Method::SingleRead);
    let (history, result) = s.history(t, sess.id, f[1]).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.version, h.value.score))
            .collect::<Vec<_>>(),
        [(1, Some(2)), (2, Some(4))]
    );
    assert_eq!(result, Some(fixed.result));

    // Refusals, none of which writes anything.
    let before = s.counts(t).await;
    expect_conflict(
        s.submit(
            t,
            &a.to_string(),
            submission(&reads[0], points(1), at(4, 12, 0)),
        )
        .await,
        "assignment_id",
    );
    expect_failed_precondition(
        s.submit(
            t,
            &a.to_string(),
            correction(&reads[3], points(1), "nothing to correct", at(4, 12, 0)),
        )
        .await,
        "assignment_id",
    );
    expect_forbidden(
        s.submit(
            t,
            &b.to_string(),
            Submission {
                scorer_id: b,
                ..submission(&reads[3], points(1), at(4, 12, 0))
            },
        )
        .await,
    );
    expect_forbidden(
        s.submit(
            t,
            &b.to_string(),
            Submission {
                scorer_id: b,
                ..correction(&reads[0], points(1), "not mine", at(4, 12, 0))
            },
        )
        .await,
    );
    expect_not_found(
        s.submit(
            t,
            &a.to_string(),
            Submission {
                assignment_id: Uuid::now_v7(),
                ..submission(&reads[3], points(1), at(4, 12, 0))
            },
        )
        .await,
    );
    assert_eq!(
        s.counts(t).await,
        before,
        "refused submissions write nothing"
    );
    assert_eq!(
        s.history(t, sess.id, f[2]).await.unwrap(),
        (vec![], Some(result_of(s, t, sess.id, f[2]).await)),
        "no score for the unread folder"
    );
    assert_eq!(
        result_of(s, t, sess.id, f[0]).await.final_score,
        Some(FinalScore::Score(3.5))
    );
}

async fn a_closed_session_takes_only_third_reads(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            ["ana", "ben", "cy", "dee"]
                .iter()
                .map(|n| folder(n, school, 4, YEAR))
                .collect(),
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let reads = assign(
        s,
        t,
        sess.id,
        vec![
            read(sess.id, f[0], a, ReadKind::First),
            read(sess.id, f[0], b, ReadKind::Second),
            read(sess.id, f[1], a, ReadKind::First),
            read(sess.id, f[2], a, ReadKind::First),
            read(sess.id, f[3], a, ReadKind::First),
            read(sess.id, f[3], b, ReadKind::Second),
        ],
    )
    .await;
    give(s, t, &reads[0], points(1), at(5, 9, 0)).await;
    assert!(
        give(s, t, &reads[1], points(4), at(5, 9, 1))
            .await
            .third_read_assigned
    );
    give(s, t, &reads[3], points(2), at(5, 9, 2)).await;
    give(s, t, &reads[4], points(2), at(5, 9, 3)).await;
    let third = assignments(s, t, sess.id, Some(lead), false)
        .await
        .remove(0);

    let before_events = s.outbox(t).await.len();
    let closed = s
        .close_session(t, ACTOR, sess.id, &[(a, vec!["too lenient".into()])])
        .await
        .unwrap();
    assert_eq!(
        closed,
        Session {
            status: SessionStatus::Closed,
            closed_at: closed.closed_at,
            portfolios: 4,
            ..sess.clone()
        }
    );
    assert!(closed.closed_at.is_some());
    assert_eq!(
        s.get_sessions(t, &[sess.id]).await.unwrap(),
        vec![closed.clone()]
    );
    let events = s.outbox(t).await[before_events..].to_vec();
    assert_eq!(
        events
            .iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>(),
        ["scoring.session.closed", "scoring.scorer.flagged"]
    );
    assert_eq!(events[0].payload["id"], json!(sess.id));
    assert_eq!(events[0].payload["awaiting_third_read"], json!(1));
    assert_eq!(events[0].payload["lead_id"], json!(lead));
    assert_eq!(events[0].payload["cluster_id"], json!(sess.cluster_id));
    assert_eq!(events[1].payload["scorer_id"], json!(a));
    assert_eq!(events[1].payload["session_id"], json!(sess.id));
    assert_eq!(events[1].payload["reasons"], json!(["too lenient"]));

    // Reads nobody gave are withdrawn; only the lead's third read remains to do.
    assert_eq!(
        assignments(s, t, sess.id, None, true).await,
        vec![third.clone()]
    );
    assert_eq!(
        ids_of(&assignments(s, t, sess.id, None, false).await, |x| x.id),
        vec![reads[0].id, reads[1].id, reads[3].id, reads[4].id, third.id]
    );

    let before = s.counts(t).await;
    expect_failed_precondition(
        s.submit(
            t,
            &a.to_string(),
            submission(&reads[2], points(3), at(5, 10, 0)),
        )
        .await,
        "session_id",
    );
    expect_failed_precondition(
        s.submit(
            t,
            &b.to_string(),
            submission(&reads[5], points(3), at(5, 10, 0)),
        )
        .await,
        "session_id",
    );
    expect_failed_precondition(
        s.submit(
            t,
            &a.to_string(),
            correction(&reads[3], points(3), "late", at(5, 10, 0)),
        )
        .await,
        "session_id",
    );
    expect_failed_precondition(s.close_session(t, ACTOR, sess.id, &[]).await, "session_id");
    expect_failed_precondition(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![read(sess.id, f[1], b, ReadKind::First)],
        )
        .await,
        "session_id",
    );
    assert_eq!(
        s.counts(t).await,
        before,
        "a closed session takes none of these"
    );

    // The lead still settles the disagreement.
    let decided = give(s, t, &third, points(3), at(5, 11, 0)).await;
    assert_resolved(&decided.result, FinalScore::Score(3.0), Method::ThirdRead);
    let amended = correct(s, t, &third, points(2), "second look").await;
    assert_eq!(amended.score.version, 2);
    assert_resolved(&amended.result, FinalScore::Score(2.0), Method::ThirdRead);
    let progress = s.progress(t, sess.id).await.unwrap();
    assert_eq!(
        (
            progress.portfolios,
            progress.reads_assigned,
            progress.reads_submitted,
            progress.resolved,
            progress.awaiting_third_read
        ),
        (4, 5, 5, 2, 0),
        "withdrawn reads no longer count"
    );
    expect_not_found(s.close_session(t, ACTOR, Uuid::now_v7(), &[]).await);
}

async fn backreads_check_a_read_without_changing_its_result(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            vec![
                folder("ana", school, 4, YEAR),
                folder("ben", school, 4, YEAR),
            ],
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let reads = assign(
        s,
        t,
        sess.id,
        vec![
            read(sess.id, f[0], a, ReadKind::First),
            read(sess.id, f[1], b, ReadKind::First),
        ],
    )
    .await;
    let settled = give(s, t, &reads[0], points(3), at(10, 9, 0)).await.result;
    give(s, t, &reads[1], points(2), at(10, 9, 1)).await;
    let progress = s.progress(t, sess.id).await.unwrap();
    assert_eq!(
        progress
            .scorers
            .iter()
            .map(|p| (p.scorer_id, p.not_backread.clone(), p.backreads))
            .collect::<Vec<_>>(),
        vec![(a, vec![reads[0].id], 0), (b, vec![reads[1].id], 0)]
    );

    let check = Assignment {
        reviews_score_id: Some(reads[0].id),
        ..read(sess.id, f[0], lead, ReadKind::Backread)
    };
    assign(s, t, sess.id, vec![check.clone()]).await;
    assert_eq!(
        s.get_assignments(t, &[check.id]).await.unwrap(),
        vec![check.clone()]
    );
    // One backread per read.
    expect_conflict(
        s.add_assignments(
            t,
            ACTOR,
            sess.id,
            vec![Assignment {
                reviews_score_id: Some(reads[0].id),
                ..read(sess.id, f[0], lead, ReadKind::Backread)
            }],
        )
        .await,
        "session_id",
    );
    let progress = s.progress(t, sess.id).await.unwrap();
    assert_eq!(
        progress
            .scorers
            .iter()
            .map(|p| (p.scorer_id, p.not_backread.clone(), p.backreads))
            .collect::<Vec<_>>(),
        vec![(a, vec![], 1), (b, vec![reads[1].id], 0)],
        "the lead's backread is not a read of their own"
    );
    assert_eq!((progress.reads_assigned, progress.reads_submitted), (3, 2));

    let backread = give(s, t, &check, points(2), at(10, 10, 0)).await;
    assert_eq!(backread.score.kind, ReadKind::Backread);
    assert_eq!(backread.result, settled, "a backread changes no result");
    assert!(!backread.third_read_assigned);
    let (history, result) = s.history(t, sess.id, f[0]).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| (h.kind, h.scorer_id))
            .collect::<Vec<_>>(),
        [(ReadKind::First, a), (ReadKind::Backread, lead)]
    );
    assert_eq!(result, Some(settled));
    assert_eq!(s.progress(t, sess.id).await.unwrap().reads_submitted, 3);
    assert_eq!(
        s.agreement_cells(t, GroupBy::Scorer, &StatsFilter::default())
            .await
            .unwrap(),
        vec![],
        "a backread is no pair"
    );
}

async fn two_readers_submitting_at_once_settle_the_pair_once(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();
    let names: Vec<String> = (0..9).map(|i| format!("student-{i}")).collect();
    let f = folder_ids(
        &create_folders(
            s,
            t,
            names.iter().map(|n| folder(n, school, 4, YEAR)).collect(),
        )
        .await,
    );
    let sess = session_with(s, t, r.id, lead, ResolutionRule::AdjacentAverage, &f).await;
    let mut plan = Vec::new();
    for p in &f[..8] {
        plan.push(read(sess.id, *p, a, ReadKind::First));
        plan.push(read(sess.id, *p, b, ReadKind::Second));
    }
    plan.push(read(sess.id, f[8], a, ReadKind::First));
    let reads = assign(s, t, sess.id, plan).await;
    let (as_a, as_b) = (a.to_string(), b.to_string());
    let mut awaiting = 0;
    for i in 0..8 {
        let (x, y) = (&reads[2 * i], &reads[2 * i + 1]);
        let (vx, vy) = [(3, 3), (2, 3), (1, 4), (4, 3)][i % 4];
        let when = at(11, 9, i as u32);
        let (rx, ry) = tokio::join!(
            s.submit(t, &as_a, submission(x, points(vx), when)),
            s.submit(t, &as_b, submission(y, points(vy), when)),
        );
        let (rx, ry) = (rx.expect("the first read"), ry.expect("the second read"));
        // Whichever committed second saw the other's read.
        let saw_pair: Vec<_> = [&rx, &ry]
            .into_iter()
            .filter(|x| x.result.final_score.is_some() || x.result.awaiting_third_read)
            .collect();
        assert_eq!(saw_pair.len(), 1, "folder {i}: {rx:?} {ry:?}");
        let result = result_of(s, t, sess.id, f[i]).await;
        assert_eq!(&result, &saw_pair[0].result, "folder {i}");
        if (vx - vy).abs() > 1 {
            awaiting += 1;
            assert!(result.awaiting_third_read, "folder {i}: {result:?}");
            assert!(saw_pair[0].third_read_assigned);
        } else {
            assert!(result.final_score.is_some(), "folder {i}: {result:?}");
        }
    }
    let progress = s.progress(t, sess.id).await.unwrap();
    assert_eq!(
        (progress.resolved, progress.awaiting_third_read),
        (6, awaiting)
    );
    assert_eq!(
        assignments(s, t, sess.id, Some(lead), false).await.len(),
        awaiting as usize,
        "one third read per disagreement"
    );
    assert_eq!(
        cells(s, t, GroupBy::Session, &StatsFilter::default(), r.id)
            .await
            .values()
            .sum::<u64>(),
        8,
        "every pair counted once"
    );

    // The same read sent twice at once: one is taken, the other is a conflict.
    let x = &reads[16];
    let (one, two) = tokio::join!(
        s.submit(t, &as_a, submission(x, points(2), at(11, 10, 0))),
        s.submit(t, &as_a, submission(x, points(3), at(11, 10, 0))),
    );
    let taken = match (one, two) {
        (Ok(done), Err(Error::Conflict(_))) | (Err(Error::Conflict(_)), Ok(done)) => done,
        other => panic!("one submission wins: {other:?}"),
    };
    let (history, result) = s.history(t, sess.id, f[8]).await.unwrap();
    assert_eq!(history, vec![taken.score.clone()]);
    assert_eq!(result, Some(taken.result));
}

// ------------------------------------------------------------------ audit and outbox

/// Follows a tenant's audit log and outbox: after each call, exactly the
/// expected records, each with its event `scoring.<action>` written in the
/// same transaction.
struct Trail<'a> {
    s: &'a dyn Inspect,
    t: TenantId,
    audited: usize,
    outboxed: usize,
}

impl<'a> Trail<'a> {
    async fn new(s: &'a dyn Inspect, t: TenantId) -> Self {
        Self {
            s,
            t,
            audited: s.audit(t).await.len(),
            outboxed: s.outbox(t).await.len(),
        }
    }

    /// The calls since the last check wrote exactly these audit records
    /// (action, target) and the matching events (payload `id` = target), in
    /// any order. Returns the new events.
    async fn expect(&mut self, what: &str, want: &[(&str, Uuid)]) -> Vec<Outboxed> {
        let log = self.s.audit(self.t).await;
        let new = &log[self.audited..];
        let mut got: Vec<(String, String)> = new
            .iter()
            .map(|a| (a.action.clone(), a.target_id.clone()))
            .collect();
        got.sort();
        let mut expected: Vec<(String, String)> = want
            .iter()
            .map(|(a, id)| (a.to_string(), id.to_string()))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{what}: audit records");
        for a in new {
            assert!(!a.actor.is_empty(), "{what}: the actor of {a:?}");
            assert_eq!(
                a.target_kind,
                a.action.split('.').next().unwrap(),
                "{what}: {a:?}"
            );
            assert!(a.after.is_some(), "{what}: the state after, {a:?}");
        }
        self.audited = log.len();

        let outbox = self.s.outbox(self.t).await;
        let events = outbox[self.outboxed..].to_vec();
        let mut got: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                (
                    e.event_type.clone(),
                    e.payload["id"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        got.sort();
        let mut expected: Vec<(String, String)> = want
            .iter()
            .map(|(a, id)| (format!("scoring.{a}"), id.to_string()))
            .collect();
        expected.sort();
        assert_eq!(got, expected, "{what}: outbox events");
        for e in &events {
            assert!(
                e.payload["actor"].as_str().is_some_and(|a| !a.is_empty()),
                "{what}: actor in {}",
                e.payload
            );
            let text = e.payload.to_string();
            assert!(
                !text.contains("student_index")
                    && !text.contains("student_enc")
                    && !text.contains("student_ref")
                    && !text.contains("sealed:"),
                "{what}: no student id on the bus: {text}"
            );
        }
        self.outboxed = outbox.len();
        events
    }

    async fn expect_nothing(&mut self, what: &str) {
        self.expect(what, &[]).await;
    }
}

async fn every_mutation_writes_its_audit_record_and_outbox_event(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let mut trail = Trail::new(s, t).await;
    let school = Uuid::now_v7();
    let [a, b, lead]: [Uuid; 3] = scorers(3).try_into().unwrap();

    let r = create_rubric(s, t, "writing").await;
    trail
        .expect("create_rubric", &[("rubric.created", r.id)])
        .await;
    let anchor = s
        .add_anchor(t, ACTOR, anchor(r.id, 2, "two"))
        .await
        .unwrap();
    trail
        .expect("add_anchor", &[("anchor.added", anchor.id)])
        .await;
    s.add_anchor(t, ACTOR, store_support::anchor(Uuid::now_v7(), 2, "x"))
        .await
        .unwrap_err();
    trail.expect_nothing("an anchor of no rubric").await;

    let folders = create_folders(
        s,
        t,
        vec![
            folder("ana", school, 4, YEAR),
            folder("ben", school, 4, YEAR),
            folder("cy", school, 3, YEAR - 1),
        ],
    )
    .await;
    let f = folder_ids(&folders);
    let events = trail
        .expect(
            "create_portfolios",
            &[
                ("portfolio.created", f[0]),
                ("portfolio.created", f[1]),
                ("portfolio.created", f[2]),
            ],
        )
        .await;
    assert_eq!(events[0].payload["after"]["school_id"], json!(school));
    s.create_portfolios(
        t,
        ACTOR,
        vec![
            folder("dee", school, 4, YEAR),
            folder("ana", school, 4, YEAR),
        ],
    )
    .await
    .unwrap_err();
    trail.expect_nothing("a refused batch").await;
    s.promote_portfolios(t, ACTOR, YEAR - 1, 12).await.unwrap();
    let promoted = all_pages(10, |page| s.list_portfolios(t, Some(YEAR), None, page))
        .await
        .into_iter()
        .find(|p| p.portfolio.previous_id == Some(f[2]))
        .expect("cy's folder was promoted");
    trail
        .expect(
            "promote_portfolios",
            &[("portfolio.promoted", promoted.portfolio.id)],
        )
        .await;
    s.promote_portfolios(t, ACTOR, YEAR - 1, 12).await.unwrap();
    trail.expect_nothing("promoting again").await;

    let set = s
        .create_set(
            t,
            ACTOR,
            qualification_set(r.id, YEAR, SetKind::Qualifying, "Q"),
        )
        .await
        .unwrap();
    trail
        .expect("create_set", &[("qualification_set.created", set.id)])
        .await;
    let tried = s
        .record_attempt(t, ACTOR, attempt(&set, a, &[1, 2, 3, 4]))
        .await
        .unwrap();
    trail
        .expect(
            "record_attempt",
            &[("qualification_attempt.recorded", tried.id)],
        )
        .await;

    let sess = create_session(
        s,
        t,
        session(
            r.id,
            Uuid::now_v7(),
            YEAR,
            lead,
            ResolutionRule::AdjacentAverage,
        ),
    )
    .await;
    trail
        .expect("create_session", &[("session.created", sess.id)])
        .await;
    s.add_session_portfolios(t, ACTOR, sess.id, &f[..2])
        .await
        .unwrap();
    trail
        .expect(
            "add_session_portfolios",
            &[("session.portfolios_added", sess.id)],
        )
        .await;
    s.add_session_portfolios(t, ACTOR, sess.id, &f[..2])
        .await
        .unwrap();
    trail.expect_nothing("the same folders added again").await;
    s.add_session_portfolios(t, ACTOR, sess.id, &[f[2]])
        .await
        .unwrap_err();
    trail.expect_nothing("a folder of another year").await;

    let reads = vec![
        read(sess.id, f[0], a, ReadKind::First),
        read(sess.id, f[0], b, ReadKind::Second),
        read(sess.id, f[1], a, ReadKind::First),
    ];
    s.add_assignments(t, ACTOR, sess.id, reads.clone())
        .await
        .unwrap();
    let ready = trail
        .expect(
            "add_assignments",
            &[("assignment.ready", sess.id), ("assignment.ready", sess.id)],
        )
        .await;
    let told: BTreeSet<String> = ready
        .iter()
        .map(|e| e.payload["scorer_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        told,
        BTreeSet::from([a.to_string(), b.to_string()]),
        "once per scorer"
    );
    for e in &ready {
        assert_eq!(e.payload["session_id"], json!(sess.id));
        assert_eq!(e.payload["session_name"], json!(sess.name));
        assert_eq!(e.payload["event_id"], json!(sess.event_id));
        let reads = if e.payload["scorer_id"] == json!(a) {
            json!({ "first": 2 })
        } else {
            json!({ "second": 1 })
        };
        assert_eq!(e.payload["after"]["reads"], reads, "{}", e.payload);
    }
    s.add_assignments(
        t,
        ACTOR,
        sess.id,
        vec![read(sess.id, f[1], b, ReadKind::First)],
    )
    .await
    .unwrap_err();
    trail.expect_nothing("a clashing plan").await;

    let first = give(s, t, &reads[0], points(1), at(6, 9, 0)).await;
    let events = trail
        .expect("a first read", &[("score.submitted", first.score.id)])
        .await;
    assert_eq!(events[0].payload["session_id"], json!(sess.id));
    assert_eq!(events[0].payload["portfolio_id"], json!(f[0]));
    assert_eq!(events[0].payload["actor"], json!(a.to_string()));
    let second = give(s, t, &reads[1], points(4), at(6, 9, 1)).await;
    let third = assignments(s, t, sess.id, Some(lead), false)
        .await
        .remove(0);
    let events = trail
        .expect(
            "a second read far apart",
            &[
                ("score.submitted", second.score.id),
                ("result.decided", f[0]),
                ("discrepancy.detected", f[0]),
            ],
        )
        .await;
    let detected = events
        .iter()
        .find(|e| e.event_type == "scoring.discrepancy.detected")
        .unwrap();
    assert_eq!(detected.payload["assignment_id"], json!(third.id));
    let single = give(s, t, &reads[2], points(3), at(6, 9, 2)).await;
    trail
        .expect(
            "a single read",
            &[
                ("score.submitted", single.score.id),
                ("result.decided", f[1]),
            ],
        )
        .await;
    let corrected = correct(s, t, &reads[2], points(2), "typo").await;
    let events = trail
        .expect(
            "a correction",
            &[
                ("score.corrected", corrected.score.id),
                ("result.decided", f[1]),
            ],
        )
        .await;
    let score_event = events
        .iter()
        .find(|e| e.event_type == "scoring.score.corrected")
        .unwrap();
    assert_eq!(score_event.payload["after"]["reason"], json!("typo"));
    assert_eq!(score_event.payload["after"]["version"], json!(2));
    s.submit(
        t,
        &a.to_string(),
        submission(&reads[2], points(1), at(6, 9, 3)),
    )
    .await
    .unwrap_err();
    trail.expect_nothing("a second submission").await;
    s.submit(
        t,
        &b.to_string(),
        Submission {
            scorer_id: b,
            ..submission(&reads[2], points(1), at(6, 9, 3))
        },
    )
    .await
    .unwrap_err();
    trail.expect_nothing("someone else's read").await;

    let closed = s
        .close_session(
            t,
            ACTOR,
            sess.id,
            &[(a, vec!["severe".into()]), (b, vec!["lenient".into()])],
        )
        .await
        .unwrap();
    trail
        .expect(
            "close_session",
            &[
                ("session.closed", closed.id),
                ("scorer.flagged", a),
                ("scorer.flagged", b),
            ],
        )
        .await;
    s.close_session(t, ACTOR, sess.id, &[]).await.unwrap_err();
    trail.expect_nothing("closing again").await;
    let decided = give(s, t, &third, points(2), at(6, 10, 0)).await;
    trail
        .expect(
            "a third read after the close",
            &[
                ("score.submitted", decided.score.id),
                ("result.decided", f[0]),
            ],
        )
        .await;

    // Reads write nothing.
    s.get_rubrics(t, &[r.id]).await.unwrap();
    s.list_rubrics(t, None, first_page()).await.unwrap();
    s.anchors(t, r.id).await.unwrap();
    s.anchor_counts(t, &[r.id]).await.unwrap();
    s.get_portfolios(t, &f).await.unwrap();
    s.list_portfolios(t, None, None, first_page())
        .await
        .unwrap();
    s.get_set(t, set.id).await.unwrap();
    s.list_sets(t, r.id, None).await.unwrap();
    s.attempts(t, a, r.id, YEAR).await.unwrap();
    s.get_sessions(t, &[sess.id]).await.unwrap();
    s.list_sessions(t, None, None, first_page()).await.unwrap();
    s.planning_state(t, sess.id).await.unwrap();
    s.get_assignments(t, &[third.id]).await.unwrap();
    s.list_assignments(t, &AssignmentFilter::default(), first_page())
        .await
        .unwrap();
    s.history(t, sess.id, f[0]).await.unwrap();
    s.list_results(t, sess.id, false, first_page())
        .await
        .unwrap();
    s.progress(t, sess.id).await.unwrap();
    s.agreement_cells(t, GroupBy::Scorer, &StatsFilter::default())
        .await
        .unwrap();
    s.exact_windows(t, &StatsFilter::default(), 1)
        .await
        .unwrap();
    s.export_rows(t, YEAR, None).await.unwrap();
    trail.expect_nothing("reads").await;

    // The relay publishes exactly the committed events, once each.
    let rows = s.outbox(t).await;
    let bus = MemoryBus::new();
    assert_eq!(s.relay(&bus).await, rows.len());
    assert_eq!(s.relay(&bus).await, 0, "a published row is not sent again");
    let collected = Arc::new(Collect::default());
    let subscription = bus
        .subscribe(SubscribeOptions::new("contract", "test"), collected.clone())
        .await
        .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while collected.0.lock().unwrap().len() < rows.len() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("every relayed event is delivered");
    subscription.stop().await;
    let delivered = collected.0.lock().unwrap().clone();
    assert!(
        delivered.iter().all(|e| e.tenant == t),
        "the tenant's own events"
    );
    assert_eq!(
        delivered
            .into_iter()
            .map(|e| Outboxed {
                event_type: e.event_type,
                payload: e.payload,
            })
            .collect::<Vec<_>>(),
        rows,
        "in the order written"
    );
}

// ------------------------------------------------------------------ statistics and exports

async fn agreement_statistics_and_exports_count_current_pairs(s: &dyn Inspect) {
    let t = TenantId::new_v7();
    let r = create_rubric(s, t, "writing").await;
    // Ids in creation order: a < b < c, x < y.
    let [a, b, c, lead]: [Uuid; 4] = scorers(4).try_into().unwrap();
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    let (c1, c2) = (Uuid::now_v7(), Uuid::now_v7());
    let stored = create_folders(
        s,
        t,
        vec![
            folder("p1", x, 4, YEAR),
            folder("p2", y, 4, YEAR),
            folder("p3", x, 5, YEAR),
            folder("p4", y, 5, YEAR),
            folder("p5", x, 6, YEAR),
            folder("p6", y, 6, YEAR + 1),
            folder("p7", y, 3, YEAR),
        ],
    )
    .await;
    let [p1, p2, p3, p4, p5, p6, p7]: [Uuid; 7] = folder_ids(&stored).try_into().unwrap();
    let (rubric_id, rule) = (r.id, ResolutionRule::AdjacentAverage);
    let new_session = |cluster: Uuid, year: i32, folders: Vec<Uuid>| async move {
        let created = create_session(s, t, session(rubric_id, cluster, year, lead, rule)).await;
        s.add_session_portfolios(t, ACTOR, created.id, &folders)
            .await
            .unwrap()
    };
    let s1 = new_session(c1, YEAR, vec![p1, p2, p3, p4, p7]).await;
    let s2 = new_session(c2, YEAR, vec![p5]).await;
    let s3 = new_session(c1, YEAR + 1, vec![p6]).await;
    let pair = |sess: &Session, p: Uuid, first: Uuid, second: Uuid| {
        vec![
            read(sess.id, p, first, ReadKind::First),
            read(sess.id, p, second, ReadKind::Second),
        ]
    };
    let r1 = assign(
        s,
        t,
        s1.id,
        [
            pair(&s1, p1, a, b),
            pair(&s1, p2, a, b),
            pair(&s1, p3, b, c),
            pair(&s1, p7, a, c),
            vec![read(s1.id, p4, a, ReadKind::First)],
        ]
        .concat(),
    )
    .await;
    let r2 = assign(s, t, s2.id, pair(&s2, p5, c, a)).await;
    let r3 = assign(s, t, s3.id, pair(&s3, p6, a, b)).await;
    // The pairs form in this order: p2, p1, p5, p3, p6 (then p7, conditions only).
    let mut minute = 0;
    let mut next = || {
        minute += 1;
        at(7, 9, minute)
    };
    give(s, t, &r1[2], points(2), next()).await; // p2 a
    give(s, t, &r1[3], points(3), next()).await; // p2 b
    give(s, t, &r1[0], points(3), next()).await; // p1 a
    give(s, t, &r1[1], points(3), next()).await; // p1 b
    give(s, t, &r2[0], points(2), next()).await; // p5 c
    give(s, t, &r2[1], points(2), next()).await; // p5 a
    give(s, t, &r1[4], points(4), next()).await; // p3 b
    assert!(
        give(s, t, &r1[5], points(1), next())
            .await
            .result
            .awaiting_third_read
    ); // p3 c
    give(s, t, &r3[0], points(1), next()).await; // p6 a
    give(s, t, &r3[1], points(2), next()).await; // p6 b
    give(s, t, &r1[8], points(2), next()).await; // p4 a, single read
    give(s, t, &r1[6], condition("blank"), next()).await; // p7 a
    give(s, t, &r1[7], condition("blank"), next()).await; // p7 c

    let k = |id: Uuid| id.to_string();
    let all = StatsFilter::default();
    let cell = |key: String, a: i32, b: i32| (key, a, b, 1u64);
    assert_eq!(
        cells(s, t, GroupBy::Session, &all, r.id).await,
        expect_cells(&[
            cell(k(s1.id), 3, 3),
            cell(k(s1.id), 2, 3),
            cell(k(s1.id), 4, 1),
            cell(k(s2.id), 2, 2),
            cell(k(s3.id), 1, 2),
        ]),
        "by session; single reads and condition codes are no pairs"
    );
    assert_eq!(
        cells(s, t, GroupBy::Cluster, &all, r.id).await,
        expect_cells(&[
            cell(k(c1), 3, 3),
            cell(k(c1), 2, 3),
            cell(k(c1), 4, 1),
            cell(k(c1), 1, 2),
            cell(k(c2), 2, 2),
        ])
    );
    assert_eq!(
        cells(s, t, GroupBy::School, &all, r.id).await,
        expect_cells(&[
            cell(k(x), 3, 3),
            cell(k(x), 4, 1),
            cell(k(x), 2, 2),
            cell(k(y), 2, 3),
            cell(k(y), 1, 2),
        ])
    );
    assert_eq!(
        cells(s, t, GroupBy::Year, &all, r.id).await,
        expect_cells(&[
            cell(YEAR.to_string(), 3, 3),
            cell(YEAR.to_string(), 2, 3),
            cell(YEAR.to_string(), 4, 1),
            cell(YEAR.to_string(), 2, 2),
            cell((YEAR + 1).to_string(), 1, 2),
        ])
    );
    assert_eq!(
        cells(s, t, GroupBy::Scorer, &all, r.id).await,
        expect_cells(&[
            // a: first of p1, p2, p6; second of p5.
            cell(k(a), 3, 3),
            cell(k(a), 2, 3),
            cell(k(a), 1, 2),
            cell(k(a), 2, 2),
            // b: second of p1, p2, p6; first of p3 — own score first.
            cell(k(b), 3, 3),
            cell(k(b), 3, 2),
            cell(k(b), 2, 1),
            cell(k(b), 4, 1),
            // c: second of p3, first of p5.
            cell(k(c), 1, 4),
            cell(k(c), 2, 2),
        ]),
        "by scorer, each pair counts for both readers"
    );
    let this_year = StatsFilter {
        academic_year: Some(YEAR),
        ..StatsFilter::default()
    };
    assert_eq!(
        cells(s, t, GroupBy::Scorer, &this_year, r.id).await,
        expect_cells(&[
            cell(k(a), 3, 3),
            cell(k(a), 2, 3),
            cell(k(a), 2, 2),
            cell(k(b), 3, 3),
            cell(k(b), 3, 2),
            cell(k(b), 4, 1),
            cell(k(c), 1, 4),
            cell(k(c), 2, 2),
        ])
    );
    let first_session = StatsFilter {
        session_id: Some(s1.id),
        ..StatsFilter::default()
    };
    assert_eq!(
        cells(s, t, GroupBy::Session, &first_session, r.id).await,
        expect_cells(&[
            cell(k(s1.id), 3, 3),
            cell(k(s1.id), 2, 3),
            cell(k(s1.id), 4, 1),
        ])
    );
    let second_cluster = StatsFilter {
        cluster_id: Some(c2),
        ..StatsFilter::default()
    };
    assert_eq!(
        cells(s, t, GroupBy::School, &second_cluster, r.id).await,
        expect_cells(&[cell(k(x), 2, 2)])
    );
    let first_cluster = StatsFilter {
        cluster_id: Some(c1),
        ..StatsFilter::default()
    };
    assert_eq!(
        cells(s, t, GroupBy::Year, &first_cluster, r.id).await,
        expect_cells(&[
            cell(YEAR.to_string(), 3, 3),
            cell(YEAR.to_string(), 2, 3),
            cell(YEAR.to_string(), 4, 1),
            cell((YEAR + 1).to_string(), 1, 2),
        ])
    );
    let nowhere = StatsFilter {
        academic_year: Some(YEAR + 3),
        ..StatsFilter::default()
    };
    assert_eq!(
        cells(s, t, GroupBy::Session, &nowhere, r.id).await,
        Cells::new()
    );

    // In the order the pairs formed, not the folders' order.
    assert_eq!(
        reads_in_order(s, t, &all).await,
        vec![
            (a, vec![false, true, true, false]),
            (b, vec![false, true, false, false]),
            (c, vec![true, false]),
        ]
    );
    // Windows of two and three reads: rates per full window, the partial
    // last window (and a scorer with no full window) left out.
    assert_eq!(
        s.exact_windows(t, &all, 2).await.unwrap(),
        vec![(a, vec![0.5, 0.5]), (b, vec![0.5, 0.0]), (c, vec![0.5])]
    );
    assert_eq!(
        s.exact_windows(t, &all, 3).await.unwrap(),
        vec![(a, vec![2.0 / 3.0]), (b, vec![1.0 / 3.0])]
    );
    assert_eq!(
        reads_in_order(s, t, &this_year).await,
        vec![
            (a, vec![false, true, true]),
            (b, vec![false, true, false]),
            (c, vec![true, false]),
        ]
    );
    assert_eq!(
        reads_in_order(
            s,
            t,
            &StatsFilter {
                session_id: Some(s2.id),
                ..StatsFilter::default()
            }
        )
        .await,
        vec![(a, vec![true]), (c, vec![true])]
    );
    assert_eq!(reads_in_order(s, t, &nowhere).await, vec![]);

    // Exports: resolved folders of the year, by school.
    let export = |year: i32, school: Option<Uuid>| async move {
        s.export_rows(t, year, school)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                assert_eq!(e.academic_year, year);
                (e.result.portfolio_id, e.result.final_score, e.result.method)
            })
            .collect::<Vec<_>>()
    };
    let score = |v: f64| Some(FinalScore::Score(v));
    assert_eq!(
        export(YEAR, None).await,
        vec![
            (p1, score(3.0), Some(Method::Exact)),
            (p5, score(2.0), Some(Method::Exact)),
            (p2, score(2.5), Some(Method::AdjacentAverage)),
            (p4, score(2.0), Some(Method::SingleRead)),
            (
                p7,
                Some(FinalScore::Condition("blank".into())),
                Some(Method::Exact)
            ),
        ],
        "p3 awaits its third read and p6 is next year's"
    );
    assert_eq!(
        export(YEAR, Some(x))
            .await
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        vec![p1, p5]
    );
    assert_eq!(
        export(YEAR + 1, None).await,
        vec![(p6, score(1.5), Some(Method::AdjacentAverage))]
    );
    assert_eq!(export(YEAR + 2, None).await, vec![]);
    assert_eq!(export(YEAR, Some(Uuid::now_v7())).await, vec![]);
    let rows = s.export_rows(t, YEAR, Some(x)).await.unwrap();
    assert_eq!(rows[0].student_enc, stored[0].student_enc, "the sealed id");
    assert_eq!((rows[0].grade_level, rows[1].grade_level), (4, 6));
    assert_eq!(rows[0].result, result_of(s, t, s1.id, p1).await);

    // Settled and corrected: the statistics follow the current reads.
    let third = assignments(s, t, s1.id, Some(lead), false).await.remove(0);
    give(s, t, &third, points(2), next()).await;
    assert_eq!(
        export(YEAR, Some(x))
            .await
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        vec![p1, p3, p5]
    );
    correct(s, t, &r1[3], points(2), "agreed on review").await; // p2 b: 3 → 2
    assert_eq!(
        cells(s, t, GroupBy::Session, &first_session, r.id).await,
        expect_cells(&[
            cell(k(s1.id), 3, 3),
            cell(k(s1.id), 2, 2),
            cell(k(s1.id), 4, 1),
        ])
    );
    assert_eq!(
        reads_in_order(s, t, &first_session).await,
        vec![
            (a, vec![true, true]),
            (b, vec![true, true, false]),
            (c, vec![false]),
        ],
        "the corrected pair keeps its place"
    );
}

// ------------------------------------------------------------------ tenant isolation

async fn tenants_never_see_or_touch_each_others_rows(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    let b_counts = s.counts(tb).await;
    let b_audit = s.audit(tb).await;
    let b_outbox = s.outbox(tb).await;
    let b_folders = folder_ids(&b.folders);
    let b_reads: Vec<Uuid> = ids_of(&b.reads, |r| r.id);
    let bs = b.session.id;

    // Reads: B's rows do not exist in A, through every read method.
    assert_eq!(s.get_rubrics(ta, &[b.rubric.id]).await.unwrap(), vec![]);
    assert_eq!(
        all_pages(50, |page| s.list_rubrics(ta, None, page)).await,
        vec![a.rubric.clone()]
    );
    assert_eq!(
        s.list_rubrics(ta, Some(&b.rubric.programme), first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(s.anchors(ta, b.rubric.id).await.unwrap(), vec![]);
    assert_eq!(s.anchor_counts(ta, &[b.rubric.id]).await.unwrap(), vec![]);
    assert_eq!(s.get_portfolios(ta, &b_folders).await.unwrap(), vec![]);
    assert_eq!(
        folder_ids(&all_pages(50, |page| s.list_portfolios(ta, None, None, page)).await),
        folder_ids(&a.folders)
    );
    assert_eq!(
        s.list_portfolios(ta, Some(YEAR), Some(b.school), first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    assert_eq!(s.get_set(ta, b.set.id).await.unwrap(), None);
    assert_eq!(s.list_sets(ta, b.rubric.id, None).await.unwrap(), vec![]);
    assert_eq!(
        s.attempts(ta, b.first, b.rubric.id, YEAR).await.unwrap(),
        vec![]
    );
    assert_eq!(s.get_sessions(ta, &[bs]).await.unwrap(), vec![]);
    assert_eq!(
        ids_of(
            &all_pages(50, |page| s.list_sessions(ta, None, None, page)).await,
            |x| x.id
        ),
        vec![a.session.id]
    );
    assert_eq!(
        s.list_sessions(ta, None, Some(b.session.cluster_id), first_page())
            .await
            .unwrap()
            .0,
        vec![]
    );
    expect_not_found(s.planning_state(ta, bs).await);
    assert_eq!(s.get_assignments(ta, &b_reads).await.unwrap(), vec![]);
    for filter in [
        AssignmentFilter {
            session_id: Some(bs),
            ..AssignmentFilter::default()
        },
        AssignmentFilter {
            scorer_id: Some(b.first),
            ..AssignmentFilter::default()
        },
    ] {
        assert_eq!(
            s.list_assignments(ta, &filter, first_page())
                .await
                .unwrap()
                .0,
            vec![],
            "{filter:?}"
        );
    }
    assert_eq!(
        ids_of(
            &s.list_assignments(ta, &AssignmentFilter::default(), first_page())
                .await
                .unwrap()
                .0,
            |x| x.id
        ),
        ids_of(&a.reads, |x| x.id)
    );
    for folder in &b_folders {
        assert_eq!(s.history(ta, bs, *folder).await.unwrap(), (vec![], None));
    }
    assert_eq!(
        s.list_results(ta, bs, false, first_page()).await.unwrap().0,
        vec![]
    );
    expect_not_found(s.progress(ta, bs).await);
    let of_b = StatsFilter {
        session_id: Some(bs),
        ..StatsFilter::default()
    };
    for group in [
        GroupBy::Scorer,
        GroupBy::Session,
        GroupBy::Cluster,
        GroupBy::School,
        GroupBy::Year,
    ] {
        assert_eq!(
            s.agreement_cells(ta, group, &of_b).await.unwrap(),
            vec![],
            "{group:?}"
        );
        let mine = s
            .agreement_cells(ta, group, &StatsFilter::default())
            .await
            .unwrap();
        assert_eq!(
            mine.iter().map(|c| c.4).sum::<u64>(),
            if group == GroupBy::Scorer { 2 } else { 1 },
            "{group:?}: only A's pair"
        );
        assert!(mine.iter().all(|c| c.1 == a.rubric.id), "{group:?}");
    }
    assert_eq!(reads_in_order(s, ta, &of_b).await, vec![]);
    assert_eq!(
        reads_in_order(s, ta, &StatsFilter::default()).await,
        vec![(a.first, vec![true]), (a.second, vec![true])]
    );
    assert_eq!(
        s.export_rows(ta, YEAR, Some(b.school)).await.unwrap(),
        vec![]
    );
    assert_eq!(
        s.export_rows(ta, YEAR, None)
            .await
            .unwrap()
            .iter()
            .map(|e| e.result.portfolio_id)
            .collect::<Vec<_>>(),
        folder_ids(&a.folders)
    );

    // Writes with B's ids are refused in A.
    expect_not_found(
        s.add_anchor(ta, ACTOR, anchor(b.rubric.id, 1, "intruder"))
            .await,
    );
    expect_not_found(
        s.create_set(
            ta,
            ACTOR,
            qualification_set(b.rubric.id, YEAR, SetKind::Calibration, "intruder"),
        )
        .await,
    );
    assert!(
        s.record_attempt(ta, ACTOR, attempt(&b.set, a.first, &[1, 1, 1, 1]))
            .await
            .is_err()
    );
    expect_not_found(
        s.create_session(
            ta,
            ACTOR,
            session(
                b.rubric.id,
                Uuid::now_v7(),
                YEAR,
                a.lead,
                ResolutionRule::Exact,
            ),
        )
        .await,
    );
    expect_not_found(
        s.add_session_portfolios(ta, ACTOR, bs, &folder_ids(&a.folders))
            .await,
    );
    expect_invalid(
        s.add_session_portfolios(ta, ACTOR, a.session.id, &b_folders[..1])
            .await,
        &["portfolio_ids[0]"],
    );
    expect_not_found(
        s.add_assignments(
            ta,
            ACTOR,
            bs,
            vec![read(bs, b_folders[1], a.second, ReadKind::Second)],
        )
        .await,
    );
    assert!(
        s.add_assignments(
            ta,
            ACTOR,
            a.session.id,
            vec![read(a.session.id, b_folders[1], a.second, ReadKind::Second)],
        )
        .await
        .is_err()
    );
    expect_not_found(
        s.submit(
            ta,
            &b.first.to_string(),
            Submission {
                correction: Some("hijack".into()),
                ..submission(&b.reads[0], points(1), at(9, 9, 0))
            },
        )
        .await,
    );
    expect_not_found(s.close_session(ta, ACTOR, bs, &[]).await);
    // A's own year-end work leaves B's folders alone, and a student index
    // is unique per tenant only.
    assert_eq!(
        s.promote_portfolios(ta, ACTOR, YEAR, 13)
            .await
            .unwrap()
            .promoted,
        2
    );
    create_folders(s, ta, vec![folder("beta-1", b.school, 4, YEAR)]).await;

    // B is exactly as it was.
    assert_eq!(s.counts(tb).await, b_counts);
    assert_eq!(s.audit(tb).await, b_audit);
    assert_eq!(s.outbox(tb).await, b_outbox);
    assert_eq!(
        s.get_rubrics(tb, &[b.rubric.id]).await.unwrap(),
        vec![b.rubric.clone()]
    );
    let mut kept = s.get_portfolios(tb, &b_folders).await.unwrap();
    kept.sort_by_key(|p| p.portfolio.id);
    assert_eq!(kept, b.folders);
    assert_eq!(s.get_set(tb, b.set.id).await.unwrap(), Some(b.set.clone()));
    assert_eq!(
        s.attempts(tb, b.first, b.rubric.id, YEAR).await.unwrap(),
        vec![b.attempt.clone()]
    );
    assert_eq!(
        s.get_sessions(tb, &[bs]).await.unwrap()[0].status,
        SessionStatus::Open
    );
    assert_eq!(s.history(tb, bs, b_folders[0]).await.unwrap().0.len(), 2);
    assert_eq!(s.progress(tb, bs).await.unwrap().resolved, 2);
    assert!(matches!(
        s.submit(
            tb,
            &b.first.to_string(),
            submission(&b.reads[0], points(1), at(9, 9, 0))
        )
        .await,
        Err(Error::Conflict(_))
    ));
    // And A still has its own.
    assert_eq!(
        s.get_rubrics(ta, &[a.rubric.id]).await.unwrap(),
        vec![a.rubric.clone()]
    );
}

// ---------------------------------------------------------------- data-subject requests

fn erased(counts: &[(String, u64)]) -> u64 {
    counts.iter().map(|(_, n)| n).sum()
}

async fn a_persons_data_exports_whole_and_erases_once_keeping_their_scores(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    // The first reader corrects a read with a reason, once under a labelled
    // actor; the second reader corrects theirs too (not to be touched).
    s.submit(
        ta,
        &format!("{} (Ana Example)", a.first),
        correction(
            &a.reads[2],
            points(3),
            "Ana misread the rubric",
            at(20, 12, 0),
        ),
    )
    .await
    .expect("the correction is taken");
    correct(s, ta, &a.reads[1], points(4), "second reader's reason").await;
    correct(s, tb, &b.reads[2], points(3), "beta's own reason").await;

    // Export: everything of the person, nothing of anyone else.
    let doc = s.export_person(ta, a.first).await.unwrap();
    assert_eq!(doc["person_id"], json!(a.first));
    let assignment_ids: BTreeSet<String> = doc["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        assignment_ids,
        BTreeSet::from([a.reads[0].id.to_string(), a.reads[2].id.to_string()])
    );
    let scores = doc["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 3, "every version they gave: {doc}");
    assert!(scores.iter().all(|x| x["scorer_id"] == json!(a.first)));
    assert!(
        scores
            .iter()
            .any(|x| x["reason"] == "Ana misread the rubric" && x["version"] == 2)
    );
    let submitted_at = scores[0]["submitted_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(submitted_at).is_ok(),
        "instants are RFC 3339: {submitted_at}"
    );
    let attempts = doc["qualification_attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["id"], json!(a.attempt.id));
    assert_eq!(doc["sessions_led"], json!([]));
    let led = s.export_person(ta, a.lead).await.unwrap();
    assert_eq!(led["sessions_led"][0]["id"], json!(a.session.id));
    assert_eq!(led["scores"], json!([]));
    // Another tenant's person is nothing.
    let none = s.export_person(tb, a.first).await.unwrap();
    for list in [
        "assignments",
        "scores",
        "qualification_attempts",
        "sessions_led",
    ] {
        assert_eq!(none[list], json!([]), "{list} of another tenant's person");
    }

    // Erasing A's person in tenant B touches nothing.
    let b_counts = s.counts(tb).await;
    let b_reason = s
        .history(tb, b.session.id, b.reads[2].portfolio_id)
        .await
        .unwrap();
    let counts = s.erase_person(tb, ACTOR, a.first).await.unwrap();
    assert_eq!(erased(&counts), 0, "{counts:?}");
    assert_eq!(
        s.history(tb, b.session.id, b.reads[2].portfolio_id)
            .await
            .unwrap(),
        b_reason
    );
    // The request itself is still on B's record (it names no one of B's).
    let mut b_expected = b_counts.clone();
    *b_expected.get_mut("audit_log").unwrap() += 1;
    *b_expected.get_mut("outbox").unwrap() += 1;
    assert_eq!(s.counts(tb).await, b_expected);
    let b_counts = b_expected;

    // Erasure in A: reasons blanked, submitted_by the id only, rows kept.
    let a_counts = s.counts(ta).await;
    let before: Vec<Score> = s
        .history(ta, a.session.id, a.reads[0].portfolio_id)
        .await
        .unwrap()
        .0;
    let counts = s.erase_person(ta, ACTOR, a.first).await.unwrap();
    assert_eq!(
        counts,
        vec![
            // The audit snapshots of their three score versions.
            ("audit_snapshots_scrubbed".to_string(), 3),
            ("score_reasons_blanked".to_string(), 1),
            ("score_submitters_pseudonymised".to_string(), 1),
        ]
    );
    let after = s.export_person(ta, a.first).await.unwrap();
    let scores = after["scores"].as_array().unwrap();
    assert_eq!(scores.len(), 3, "their scores are kept");
    assert!(scores.iter().all(|x| x["reason"] == ""));
    assert!(
        scores
            .iter()
            .all(|x| x["submitted_by"] == json!(a.first.to_string()))
    );
    assert_eq!(after["assignments"], doc["assignments"]);
    assert_eq!(
        after["qualification_attempts"],
        doc["qualification_attempts"]
    );
    // The other reader's correction of the same folder keeps its reason.
    let (history, result) = s
        .history(ta, a.session.id, a.reads[0].portfolio_id)
        .await
        .unwrap();
    let theirs: Vec<&Score> = history.iter().filter(|x| x.scorer_id == a.second).collect();
    assert_eq!(
        theirs,
        before
            .iter()
            .filter(|x| x.scorer_id == a.second)
            .collect::<Vec<_>>()
    );
    assert!(theirs.iter().any(|x| x.reason == "second reader's reason"));
    assert!(result.is_some(), "the result stands");

    // The audit record and event: the erasure itself, no personal data.
    let mut expected = a_counts.clone();
    *expected.get_mut("audit_log").unwrap() += 1;
    *expected.get_mut("outbox").unwrap() += 1;
    assert_eq!(
        s.counts(ta).await,
        expected,
        "nothing deleted, one audit row and event"
    );
    let audit = s.audit(ta).await;
    let last = audit.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.target_kind.as_str(),
            last.target_id.clone(),
            last.actor.as_str()
        ),
        ("person.erased", "person", a.first.to_string(), ACTOR)
    );
    assert!(!format!("{:?}", last.after).contains("Ana"));
    let outbox = s.outbox(ta).await;
    let event = outbox.last().unwrap();
    assert_eq!(event.event_type, "scoring.person.erased");
    assert_eq!(event.payload["person_id"], json!(a.first));
    assert!(!event.payload.to_string().contains("Ana"));

    // Idempotent: a second erasure changes nothing and says so.
    let again = s.erase_person(ta, ACTOR, a.first).await.unwrap();
    assert_eq!(erased(&again), 0, "{again:?}");
    assert_eq!(s.export_person(ta, a.first).await.unwrap(), after);
    // Tenant B as it was.
    assert_eq!(s.counts(tb).await, b_counts);
}

/// The keys erasure removes from a score's audit snapshot.
const SCRUBBED_KEYS: [&str; 2] = ["reason", "submitted_by"];

/// `snapshot` without the keys erasure removes.
fn without_scrubbed(snapshot: &serde_json::Value) -> serde_json::Value {
    let mut v = snapshot.clone();
    let object = v.as_object_mut().expect("a snapshot is a JSON object");
    for key in SCRUBBED_KEYS {
        object.remove(key);
    }
    v
}

/// The one audit record of `action` about `target`.
#[track_caller]
fn record_of<'a>(log: &'a [Audited], action: &str, target: Uuid) -> &'a Audited {
    let found: Vec<&Audited> = log
        .iter()
        .filter(|a| a.action == action && a.target_id == target.to_string())
        .collect();
    assert_eq!(found.len(), 1, "one {action} record of {target}: {log:?}");
    found[0]
}

async fn erasure_scrubs_the_persons_text_from_their_score_snapshots_only(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    // The person corrects a read with a reason, under a labelled actor; the
    // other reader of the tenant corrects theirs; tenant B's first reader too.
    let ana = s
        .submit(
            ta,
            &format!("{} (Ana Example)", a.first),
            correction(
                &a.reads[2],
                points(3),
                "Ana misread the rubric",
                at(20, 12, 0),
            ),
        )
        .await
        .expect("the correction is taken")
        .score;
    let ben = correct(s, ta, &a.reads[1], points(4), "Ben's second thoughts")
        .await
        .score;
    let beta = correct(s, tb, &b.reads[2], points(3), "beta's own reason")
        .await
        .score;

    // Before: the snapshot of the person's correction holds their text.
    let a_log = s.audit(ta).await;
    let theirs = record_of(&a_log, "score.corrected", ana.id).clone();
    let snapshot = theirs.after.clone().expect("the score as stored");
    assert_eq!(snapshot["reason"], json!("Ana misread the rubric"));
    assert_eq!(
        snapshot["submitted_by"],
        json!(format!("{} (Ana Example)", a.first))
    );
    // Tenant B holds a record about the very same score id, with the same
    // text (another tenant's record of that id is none of A's erasure).
    s.plant_audit(
        tb,
        AuditEntry {
            tenant: tb,
            actor: ACTOR.to_string(),
            action: "score.corrected".to_string(),
            target_kind: "score".to_string(),
            target_id: ana.id.to_string(),
            at: Utc::now(),
            before: Some(snapshot.clone()),
            after: Some(snapshot.clone()),
        },
    )
    .await;
    let b_log = s.audit(tb).await;
    assert_eq!(
        record_of(&b_log, "score.corrected", beta.id)
            .after
            .as_ref()
            .unwrap()["reason"],
        json!("beta's own reason")
    );

    // The person's score versions: the seed's two reads and the correction.
    let exported = s.export_person(ta, a.first).await.unwrap();
    let their_scores: BTreeSet<String> = exported["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(their_scores.len(), 3, "{exported}");
    assert!(their_scores.contains(&ana.id.to_string()));

    let counts = s.erase_person(ta, ACTOR, a.first).await.unwrap();
    assert_eq!(
        counts.first(),
        Some(&("audit_snapshots_scrubbed".to_string(), 3)),
        "one record per score version of theirs: {counts:?}"
    );
    let kinds: Vec<&str> = counts.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "counts in name order");

    // After: the same records in the same order, plus the erasure's own.
    let a_after = s.audit(ta).await;
    let (erasure, kept) = a_after.split_last().unwrap();
    assert_eq!(erasure.action, "person.erased");
    assert_eq!(kept.len(), a_log.len(), "no audit record removed");
    for (was, now) in a_log.iter().zip(kept) {
        if was.action.starts_with("score.") && their_scores.contains(&was.target_id) {
            // Theirs: the text gone, everything else as written.
            let want = Audited {
                before: was.before.as_ref().map(without_scrubbed),
                after: was.after.as_ref().map(without_scrubbed),
                ..was.clone()
            };
            assert_eq!(now, &want, "their score's record is scrubbed");
            for key in SCRUBBED_KEYS {
                assert!(
                    was.after.as_ref().unwrap().get(key).is_some(),
                    "{key} was in {was:?}"
                );
            }
        } else {
            assert_eq!(now, was, "anyone else's record is untouched");
        }
    }
    let scrubbed = record_of(kept, "score.corrected", ana.id)
        .after
        .clone()
        .unwrap();
    assert_eq!(scrubbed.get("reason"), None, "{scrubbed}");
    assert_eq!(scrubbed.get("submitted_by"), None, "{scrubbed}");
    for key in [
        "id",
        "assignment_id",
        "session_id",
        "portfolio_id",
        "scorer_id",
        "kind",
        "version",
        "value",
        "submitted_at",
    ] {
        assert_eq!(scrubbed[key], snapshot[key], "{key} kept: {scrubbed}");
    }
    assert_eq!(scrubbed["scorer_id"], json!(a.first));
    assert_eq!(scrubbed["value"]["score"], json!(3));
    for r in kept {
        let text = format!("{:?} {:?}", r.before, r.after);
        assert!(
            !text.contains("Ana misread") && !text.contains("Ana Example"),
            "no snapshot of A holds the person's text: {r:?}"
        );
    }
    // The other reader's correction in the same tenant keeps its text.
    let bens = record_of(kept, "score.corrected", ben.id)
        .after
        .clone()
        .unwrap();
    assert_eq!(bens["reason"], json!("Ben's second thoughts"));
    assert_eq!(bens["submitted_by"], json!(a.second.to_string()));
    // Tenant B, the record of the same score id included, as it was.
    assert_eq!(s.audit(tb).await, b_log);
    let planted = record_of(&b_log, "score.corrected", ana.id);
    assert_eq!(
        planted.after.as_ref().unwrap()["reason"],
        json!("Ana misread the rubric")
    );
    assert_eq!(
        planted.before.as_ref().unwrap()["reason"],
        json!("Ana misread the rubric")
    );

    // Idempotent: a second erasure scrubs nothing and says so.
    let again = s.erase_person(ta, ACTOR, a.first).await.unwrap();
    assert!(
        again.contains(&("audit_snapshots_scrubbed".to_string(), 0)),
        "{again:?}"
    );
    assert_eq!(erased(&again), 0, "{again:?}");
    let twice = s.audit(ta).await;
    assert_eq!(twice.len(), a_after.len() + 1);
    assert_eq!(&twice[..a_after.len()], a_after.as_slice());
}

// ---------------------------------------------------------------- retention

/// Long before any cutoff the tests use.
fn long_ago() -> DateTime<Utc> {
    Utc::now() - Duration::days(800)
}

/// `days` days before now: the cutoff of a period of that many days.
fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

/// A report's counts in (category, kind) order.
fn by_kind(mut counts: Vec<Count>) -> Vec<Count> {
    counts.sort_by(|x, y| (x.category, &x.kind).cmp(&(y.category, &y.kind)));
    counts
}

/// What a tenant holds, as far as retention may touch it.
#[derive(Debug, PartialEq)]
struct Holdings {
    counts: BTreeMap<&'static str, i64>,
    audit: Vec<Audited>,
    outbox: Vec<Outboxed>,
    /// The folders asked for, by id.
    folders: Vec<StoredPortfolio>,
    exports: Vec<ExportRow>,
}

async fn holdings(s: &dyn Inspect, t: TenantId, folders: &[Uuid]) -> Holdings {
    let mut found = s.get_portfolios(t, folders).await.unwrap();
    found.sort_by_key(|p| p.portfolio.id);
    assert_eq!(found.len(), folders.len(), "every folder asked for exists");
    Holdings {
        counts: s.counts(t).await,
        audit: s.audit(t).await,
        outbox: s.outbox(t).await,
        folders: found,
        exports: s.export_rows(t, YEAR, None).await.unwrap(),
    }
}

async fn retention_anonymises_a_tenants_old_folders_outside_open_sessions_only(s: &dyn Inspect) {
    let a = seed_tenant(s, "alpha").await;
    let b = seed_tenant(s, "beta").await;
    let (ta, tb) = (a.tenant, b.tenant);
    // A: besides the seeded folders (scored in a session still open), a
    // folder in no session, one scored in a session since closed, and a
    // recent one.
    let extra = create_folders(
        s,
        ta,
        vec![
            folder("alpha-free", a.school, 4, YEAR),
            folder("alpha-closed", a.school, 4, YEAR),
            folder("alpha-recent", a.school, 4, YEAR),
        ],
    )
    .await;
    let (free, closed, recent) = (
        extra[0].portfolio.id,
        extra[1].portfolio.id,
        extra[2].portfolio.id,
    );
    let done = session_with(
        s,
        ta,
        a.rubric.id,
        a.lead,
        ResolutionRule::AdjacentAverage,
        &[closed],
    )
    .await;
    let done_read = assign(
        s,
        ta,
        done.id,
        vec![read(done.id, closed, a.first, ReadKind::First)],
    )
    .await;
    give(s, ta, &done_read[0], points(4), at(3, 9, 0)).await;
    s.close_session(ta, ACTOR, done.id, &[])
        .await
        .expect("the session closes");
    let b_free = create_folder(s, tb, "beta-free", b.school).await;
    // Every folder but A's recent one was created long ago (B's too), and
    // every event of A so far was published long ago.
    let mut a_old = folder_ids(&a.folders);
    a_old.extend([free, closed]);
    s.backdate_folders(ta, &a_old, long_ago()).await;
    let mut b_all = folder_ids(&b.folders);
    b_all.push(b_free.portfolio.id);
    s.backdate_folders(tb, &b_all, long_ago()).await;
    s.relay(&MemoryBus::new()).await;
    let published = s.backdate_published(ta, long_ago()).await;
    let a_ids = sorted(a_old.iter().copied().chain([recent]));
    let b_ids = sorted(b_all.iter().copied());

    let cutoffs = Cutoffs::new([
        (Category::StudentWork, days_ago(400)),
        (Category::AuditLog, days_ago(400)),
        (Category::PublishedEvents, days_ago(30)),
        // Not scoring's: ignored, and not reported.
        (Category::EventFeedback, days_ago(400)),
    ]);
    let expected = by_kind(vec![
        // alpha-free and alpha-closed; not the recent one, nor the two in
        // the open session.
        Count::new(Category::StudentWork, "portfolios", 2),
        Count::new(Category::AuditLog, "audit_records", 0),
        Count::new(Category::PublishedEvents, "outbox_events", published),
    ]);
    let a_before = holdings(s, ta, &a_ids).await;
    let b_before = holdings(s, tb, &b_ids).await;
    assert_eq!(
        published, a_before.counts["outbox"] as u64,
        "every event of A was published"
    );

    // A dry run counts exactly what the real run does and changes nothing,
    // not even the audit log.
    let dry = s.apply_retention(ta, ACTOR, &cutoffs, true).await.unwrap();
    assert_eq!(by_kind(dry), expected);
    assert_eq!(holdings(s, ta, &a_ids).await, a_before);

    let applied = s.apply_retention(ta, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(by_kind(applied.clone()), expected);
    let after = holdings(s, ta, &a_ids).await;
    for (now, before) in after.folders.iter().zip(&a_before.folders) {
        let id = before.portfolio.id;
        if id == free || id == closed {
            assert!(now.is_anonymised(), "{id} is anonymised");
            assert!(now.student_enc.is_empty(), "the sealed student id is gone");
            assert_eq!(now.portfolio.pieces, vec![], "the student's work is gone");
            assert_eq!(
                Portfolio {
                    pieces: before.portfolio.pieces.clone(),
                    ..now.portfolio.clone()
                },
                before.portfolio,
                "school, grade, year and lineage stay"
            );
            let (index, enc) = s.folder_secrets(ta, id).await;
            assert_eq!(
                index,
                id.as_bytes().to_vec(),
                "the blind index is the folder's own id, no student's"
            );
            assert!(enc.is_empty());
        } else {
            assert_eq!(now, before, "kept: recent, or in an open session");
        }
    }
    // Scores, reads and results stay; the published events went; one
    // audit record and one event were written.
    let mut counts = a_before.counts.clone();
    *counts.get_mut("audit_log").unwrap() += 1;
    *counts.get_mut("outbox").unwrap() = 1;
    assert_eq!(after.counts, counts);
    assert_eq!(after.exports.len(), a_before.exports.len());
    for (now, before) in after.exports.iter().zip(&a_before.exports) {
        assert_eq!(now.result, before.result, "results stay");
        let gone = now.result.portfolio_id == closed;
        assert_eq!(now.anonymised, gone);
        assert_eq!(now.student_enc.is_empty(), gone);
    }
    assert!(
        after
            .exports
            .iter()
            .any(|e| e.result.portfolio_id == closed),
        "the closed session's result is still exported"
    );
    assert_eq!(s.history(ta, done.id, closed).await.unwrap().0.len(), 1);
    let (last, earlier) = after.audit.split_last().unwrap();
    assert_eq!(
        earlier,
        a_before.audit.as_slice(),
        "no audit record expired"
    );
    assert_eq!(
        (
            last.action.as_str(),
            last.target_kind.as_str(),
            last.target_id.clone(),
            last.actor.as_str()
        ),
        ("retention.applied", "tenant", ta.0.to_string(), ACTOR)
    );
    assert_eq!(
        last.after,
        Some(retention::audit_summary(&cutoffs, &applied))
    );
    assert_eq!(
        last.after.as_ref().unwrap()["counts"]["student_work.portfolios"],
        json!(2)
    );
    assert_eq!(after.outbox.len(), 1);
    assert_eq!(after.outbox[0].event_type, "scoring.retention.applied");
    assert_eq!(after.outbox[0].payload["id"], json!(ta.0));
    assert_eq!(after.outbox[0].payload["actor"], json!(ACTOR));

    // B's folders are as old, and untouched.
    assert_eq!(holdings(s, tb, &b_ids).await, b_before);

    // A second run has nothing left to do, and says so.
    let again = s.apply_retention(ta, ACTOR, &cutoffs, false).await.unwrap();
    assert_eq!(
        by_kind(again),
        by_kind(vec![
            Count::new(Category::StudentWork, "portfolios", 0),
            Count::new(Category::AuditLog, "audit_records", 0),
            Count::new(Category::PublishedEvents, "outbox_events", 0),
        ])
    );
    let twice = holdings(s, ta, &a_ids).await;
    assert_eq!(twice.folders, after.folders);
    assert_eq!(twice.exports, after.exports);
    assert_eq!(twice.audit.len(), after.audit.len() + 1);
    assert_eq!(holdings(s, tb, &b_ids).await, b_before);
}

async fn anonymised_folders_read_without_a_student_and_are_not_promoted_or_scored_again(
    s: &dyn Inspect,
) {
    let a = seed_tenant(s, "alpha").await;
    let t = a.tenant;
    let gone = create_folder(s, t, "alpha-gone", a.school)
        .await
        .portfolio
        .id;
    let mut old = folder_ids(&a.folders);
    old.push(gone);
    s.backdate_folders(t, &old, long_ago()).await;
    let student_work = Cutoffs::new([(Category::StudentWork, days_ago(400))]);
    assert_eq!(
        s.apply_retention(t, ACTOR, &student_work, false)
            .await
            .unwrap(),
        vec![Count::new(Category::StudentWork, "portfolios", 1)],
        "the seeded folders are in an open session"
    );

    // Read back by id and in lists, without a student or pieces.
    let got = s.get_portfolios(t, &[gone]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(got[0].is_anonymised() && got[0].student_enc.is_empty());
    assert!(got[0].portfolio.pieces.is_empty());
    let listed = all_pages(1, |page| {
        s.list_portfolios(t, Some(YEAR), Some(a.school), page)
    })
    .await;
    assert_eq!(
        sorted(folder_ids(&listed)),
        sorted(old.iter().copied()),
        "listed with the others"
    );
    assert_eq!(
        listed
            .iter()
            .filter(|p| p.is_anonymised())
            .collect::<Vec<_>>(),
        vec![&got[0]]
    );

    // The blind index no longer finds the student: a new folder of theirs
    // for the year is taken, while a student with a folder is still refused.
    create_folders(s, t, vec![folder("alpha-gone", a.school, 4, YEAR)]).await;
    expect_conflict(
        s.create_portfolios(t, ACTOR, vec![folder("alpha-1", a.school, 4, YEAR)])
            .await,
        "portfolios[0].student_ref",
    );
    // Nothing is left to read in it: no session takes it.
    expect_invalid(
        s.add_session_portfolios(t, ACTOR, a.session.id, &[gone])
            .await,
        &["portfolio_ids[0]"],
    );
    // Year-end promotion moves the others on and skips it.
    assert_eq!(
        s.promote_portfolios(t, ACTOR, YEAR, 13).await.unwrap(),
        PromotionReport {
            promoted: 3,
            already_promoted: 0,
            graduated: 0,
        }
    );
    let next = all_pages(50, |page| s.list_portfolios(t, Some(YEAR + 1), None, page)).await;
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|p| p.portfolio.previous_id != Some(gone)));
    assert!(next.iter().all(|p| !p.is_anonymised()));

    // Once their session is closed, the seeded folders go too, and their
    // results stay.
    s.close_session(t, ACTOR, a.session.id, &[])
        .await
        .expect("the session closes");
    let results = s
        .list_results(t, a.session.id, false, first_page())
        .await
        .unwrap()
        .0;
    assert_eq!(
        s.apply_retention(t, ACTOR, &student_work, true)
            .await
            .unwrap(),
        vec![Count::new(Category::StudentWork, "portfolios", 2)]
    );
    assert_eq!(
        s.apply_retention(t, ACTOR, &student_work, false)
            .await
            .unwrap(),
        vec![Count::new(Category::StudentWork, "portfolios", 2)]
    );
    let seeded = s.get_portfolios(t, &folder_ids(&a.folders)).await.unwrap();
    assert!(seeded.iter().all(StoredPortfolio::is_anonymised));
    assert_eq!(
        s.list_results(t, a.session.id, false, first_page())
            .await
            .unwrap()
            .0,
        results
    );
    let exports = s.export_rows(t, YEAR, None).await.unwrap();
    assert_eq!(exports.len(), 2);
    assert!(
        exports
            .iter()
            .all(|e| e.anonymised && e.student_enc.is_empty())
    );
}
