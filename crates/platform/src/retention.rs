//! Retention: how long a tenant keeps each category of data, and what every
//! service's `ApplyRetention` is given and answers.
//!
//! A tenant's policy (membership keeps it) gives each [`Category`] a period
//! in days, or none (kept until erased by hand). The retention job turns the
//! periods into cutoffs (`now − period`) and sends them to every service;
//! each applies the categories it holds and reports per kind of record what
//! it deleted or anonymised (or, in a dry run, would have).
//!
//! | category | held by | past the period |
//! |---|---|---|
//! | `inactive_people` | every service | people inactive that long are erased as by a data-subject request |
//! | `student_work` | scoring | portfolios lose the student's identity and their pieces; scores stay |
//! | `event_feedback` | scheduling | feedback on events that ended before the cutoff is deleted |
//! | `expense_claims` | scheduling | claims decided before the cutoff are deleted |
//! | `notifications` | notifications | inbox items, their delivery log and cluster messages are deleted |
//! | `roster_uploads` | membership | finished roster uploads (their reports list rejected rows) are deleted |
//! | `audit_log` | every service | audit records are deleted |
//! | `published_events` | every service | outbox rows already handed to the bus are deleted (and notifications' `processed_events`) |
//!
//! A service re-checks every cutoff against the category's minimum period,
//! so no caller can expire data younger than the platform allows.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use collegium_proto::common::v1 as common;

use crate::{
    auth::Principal,
    error::{Error, Result},
    fields::ts,
};

/// The longest period a tenant may set (about a century).
pub const MAX_DAYS: u32 = 36_500;

/// A category of data with one retention period per tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    InactivePeople,
    StudentWork,
    EventFeedback,
    ExpenseClaims,
    Notifications,
    RosterUploads,
    AuditLog,
    PublishedEvents,
}

/// What expiry does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Deleted,
    Anonymised,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Deleted => "deleted",
            Action::Anonymised => "anonymised",
        }
    }
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::InactivePeople,
        Category::StudentWork,
        Category::EventFeedback,
        Category::ExpenseClaims,
        Category::Notifications,
        Category::RosterUploads,
        Category::AuditLog,
        Category::PublishedEvents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::InactivePeople => "inactive_people",
            Category::StudentWork => "student_work",
            Category::EventFeedback => "event_feedback",
            Category::ExpenseClaims => "expense_claims",
            Category::Notifications => "notifications",
            Category::RosterUploads => "roster_uploads",
            Category::AuditLog => "audit_log",
            Category::PublishedEvents => "published_events",
        }
    }

    pub fn parse(field: &str, name: &str) -> Result<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == name.trim())
            .ok_or_else(|| {
                let known: Vec<_> = Category::ALL.iter().map(|c| c.as_str()).collect();
                Error::invalid(
                    field,
                    format!("unknown category {name:?}; one of {}", known.join(", ")),
                )
            })
    }

    /// The services holding data of the category.
    pub fn services(self) -> &'static [&'static str] {
        const ALL: &[&str] = &["membership", "scheduling", "scoring", "notifications"];
        match self {
            Category::InactivePeople | Category::AuditLog | Category::PublishedEvents => ALL,
            Category::StudentWork => &["scoring"],
            Category::EventFeedback | Category::ExpenseClaims => &["scheduling"],
            Category::Notifications => &["notifications"],
            Category::RosterUploads => &["membership"],
        }
    }

    pub fn action(self) -> Action {
        match self {
            Category::InactivePeople | Category::StudentWork => Action::Anonymised,
            _ => Action::Deleted,
        }
    }

    /// The period of a tenant that has not set one. Only operational data
    /// expires by default; records a tenant answers for are kept until the
    /// tenant decides.
    pub fn default_days(self) -> Option<u32> {
        match self {
            Category::Notifications => Some(365),
            Category::RosterUploads => Some(90),
            Category::PublishedEvents => Some(30),
            _ => None,
        }
    }

    /// The shortest period the category accepts.
    pub fn min_days(self) -> u32 {
        match self {
            Category::InactivePeople | Category::EventFeedback => 30,
            Category::StudentWork | Category::ExpenseClaims | Category::AuditLog => 365,
            Category::Notifications => 30,
            Category::PublishedEvents | Category::RosterUploads => 7,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Category::InactivePeople => {
                "People marked inactive (by an admin or a roster import) for longer than the \
                 period are erased as by a data-subject request: personal fields anonymised in \
                 every service, records others rely on kept without identity."
            }
            Category::StudentWork => {
                "Portfolios created before the cutoff and in no open scoring session lose the \
                 student's identity (sealed id and blind index) and their pieces; scores, reads \
                 and agreement statistics stay."
            }
            Category::EventFeedback => {
                "Feedback given on events that ended before the cutoff is deleted."
            }
            Category::ExpenseClaims => {
                "Expense claims approved or rejected before the cutoff are deleted."
            }
            Category::Notifications => {
                "Inbox items created before the cutoff with their delivery log, and cluster \
                 messages sent before it, are deleted (deliveries still queued are kept)."
            }
            Category::RosterUploads => {
                "Roster uploads (GraphQL importRoster) finished before the cutoff are deleted \
                 with their reports, which list rejected rows with names and e-mail addresses; \
                 an applied import stays in the audit log and the import job record."
            }
            Category::AuditLog => "Audit records written before the cutoff are deleted.",
            Category::PublishedEvents => {
                "Domain events already handed to the event bus before the cutoff are deleted \
                 from each service's outbox, with the notifications consumer's record of the \
                 events it handled before it."
            }
        }
    }

    /// Checks a period a tenant wants to set; `None` keeps the data.
    pub fn validate_days(self, field: &str, days: Option<u32>) -> Result<()> {
        match days {
            Some(d) if d < self.min_days() => Err(Error::invalid(
                field,
                format!(
                    "{} must be kept at least {} days",
                    self.as_str(),
                    self.min_days()
                ),
            )),
            Some(d) if d > MAX_DAYS => Err(Error::invalid(
                field,
                format!("at most {MAX_DAYS} days; leave it empty to keep the data"),
            )),
            _ => Ok(()),
        }
    }

    /// The latest cutoff the category allows at `now`.
    pub fn latest_cutoff(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now - Duration::days(i64::from(self.min_days()))
    }
}

/// The cutoff of a period at `now`.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(days))
}

/// The cutoffs of a tenant's periods at `now`: one per category with a
/// period (`None` keeps the data).
pub fn cutoffs_at(
    now: DateTime<Utc>,
    periods: impl IntoIterator<Item = (Category, Option<u32>)>,
) -> Cutoffs {
    Cutoffs::new(
        periods
            .into_iter()
            .filter_map(|(c, days)| days.map(|d| (c, cutoff(now, d)))),
    )
}

/// The cutoffs of one `ApplyRetention` call, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cutoffs(BTreeMap<Category, DateTime<Utc>>);

impl Cutoffs {
    pub fn new(cutoffs: impl IntoIterator<Item = (Category, DateTime<Utc>)>) -> Self {
        Self(cutoffs.into_iter().collect())
    }

    /// Parses a request's cutoffs: every category known and named once,
    /// every instant RFC 3339 and at least the category's minimum period
    /// before `now`. Errors name the field (`cutoffs[1].before`).
    pub fn from_request(cutoffs: &[common::RetentionCutoff], now: DateTime<Utc>) -> Result<Self> {
        let mut out = BTreeMap::new();
        for (i, c) in cutoffs.iter().enumerate() {
            let category = Category::parse(&format!("cutoffs[{i}].category"), &c.category)?;
            let field = format!("cutoffs[{i}].before");
            let before = crate::fields::opt_instant(&field, &c.before)?
                .ok_or_else(|| Error::invalid(&field, "required"))?;
            if before > category.latest_cutoff(now) {
                return Err(Error::invalid(
                    &field,
                    format!(
                        "{} is kept at least {} days: the cutoff must be {} or earlier",
                        category.as_str(),
                        category.min_days(),
                        ts(category.latest_cutoff(now))
                    ),
                ));
            }
            if out.insert(category, before).is_some() {
                return Err(Error::invalid(
                    format!("cutoffs[{i}].category"),
                    format!("{} is named twice", category.as_str()),
                ));
            }
        }
        Ok(Self(out))
    }

    pub fn get(&self, category: Category) -> Option<DateTime<Utc>> {
        self.0.get(&category).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Category, DateTime<Utc>)> + '_ {
        self.0.iter().map(|(c, t)| (*c, *t))
    }

    pub fn to_proto(&self) -> Vec<common::RetentionCutoff> {
        self.iter()
            .map(|(c, t)| common::RetentionCutoff {
                category: c.as_str().to_string(),
                before: ts(t),
            })
            .collect()
    }

    /// `{"audit_log": "2025-11-25T00:00:00Z", …}` for audit records.
    pub fn to_json(&self) -> serde_json::Value {
        self.iter()
            .map(|(c, t)| (c.as_str().to_string(), serde_json::Value::String(ts(t))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

/// What expiry did (or would do) to one kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub category: Category,
    /// The kind of record, e.g. `audit_records`.
    pub kind: String,
    pub count: u64,
}

impl Count {
    pub fn new(category: Category, kind: &str, count: u64) -> Self {
        Self {
            category,
            kind: kind.to_string(),
            count,
        }
    }
}

/// One service's answer: counts sorted by category and kind.
pub fn report(service: &str, dry_run: bool, mut counts: Vec<Count>) -> common::RetentionReport {
    counts.sort_by(|a, b| (a.category, &a.kind).cmp(&(b.category, &b.kind)));
    common::RetentionReport {
        service: service.to_string(),
        dry_run,
        counts: counts
            .into_iter()
            .map(|c| common::RetentionCount {
                category: c.category.as_str().to_string(),
                kind: c.kind,
                action: c.category.action().as_str().to_string(),
                count: c.count,
            })
            .collect(),
    }
}

/// A service's whole `ApplyRetention`: tenant admins and Collegium's own
/// services only, the cutoffs checked ([`Cutoffs::from_request`]), `apply`
/// doing the service's work, the answer sorted ([`report`]).
pub async fn answer<F, Fut>(
    p: &Principal,
    r: &common::ApplyRetentionRequest,
    service: &str,
    apply: F,
) -> Result<common::RetentionReport>
where
    F: FnOnce(Cutoffs) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Count>>>,
{
    p.require_tenant_admin()?;
    let cutoffs = Cutoffs::from_request(&r.cutoffs, Utc::now())?;
    Ok(report(service, r.dry_run, apply(cutoffs).await?))
}

/// The audit record's `after` of an applied retention: cutoffs and counts.
pub fn audit_summary(cutoffs: &Cutoffs, counts: &[Count]) -> serde_json::Value {
    let counts: BTreeMap<String, u64> = counts
        .iter()
        .map(|c| (format!("{}.{}", c.category.as_str(), c.kind), c.count))
        .collect();
    serde_json::json!({ "cutoffs": cutoffs.to_json(), "counts": counts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn req(category: &str, before: &str) -> common::RetentionCutoff {
        common::RetentionCutoff {
            category: category.into(),
            before: before.into(),
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for c in Category::ALL {
            assert_eq!(Category::parse("category", c.as_str()).unwrap(), c);
        }
        let e = Category::parse("category", "everything").unwrap_err();
        assert_eq!(e.violations()[0].field, "category");
        assert!(e.to_string().contains("audit_log"), "{e}");
    }

    #[test]
    fn a_cutoff_younger_than_the_minimum_period_is_refused() {
        // Published events are kept at least 7 days.
        let ok = Cutoffs::from_request(&[req("published_events", "2026-11-18T12:00:00Z")], now())
            .unwrap();
        assert_eq!(
            ok.get(Category::PublishedEvents),
            Some("2026-11-18T12:00:00Z".parse().unwrap())
        );
        let e = Cutoffs::from_request(
            &[
                req("published_events", "2026-11-01T00:00:00Z"),
                req("audit_log", "2026-11-18T12:00:01Z"),
            ],
            now(),
        )
        .unwrap_err();
        assert_eq!(e.violations()[0].field, "cutoffs[1].before", "{e:?}");
    }

    #[test]
    fn bad_cutoffs_name_their_field() {
        for (cutoffs, field) in [
            (
                vec![req("nope", "2020-01-01T00:00:00Z")],
                "cutoffs[0].category",
            ),
            (vec![req("audit_log", "last year")], "cutoffs[0].before"),
            (vec![req("audit_log", "")], "cutoffs[0].before"),
            (
                vec![
                    req("audit_log", "2020-01-01T00:00:00Z"),
                    req("audit_log", "2021-01-01T00:00:00Z"),
                ],
                "cutoffs[1].category",
            ),
        ] {
            let e = Cutoffs::from_request(&cutoffs, now()).unwrap_err();
            assert_eq!(e.violations()[0].field, field, "{e:?}");
        }
    }

    #[test]
    fn periods_are_bounded_by_the_category() {
        assert!(Category::AuditLog.validate_days("days", None).is_ok());
        assert!(Category::AuditLog.validate_days("days", Some(365)).is_ok());
        assert!(Category::AuditLog.validate_days("days", Some(364)).is_err());
        assert!(
            Category::PublishedEvents
                .validate_days("days", Some(MAX_DAYS + 1))
                .is_err()
        );
        // Every default honours its own minimum.
        for c in Category::ALL {
            assert!(c.validate_days("days", c.default_days()).is_ok(), "{c:?}");
        }
    }

    #[test]
    fn cutoffs_cover_exactly_the_categories_with_a_period() {
        let c = cutoffs_at(
            now(),
            [
                (Category::AuditLog, Some(400)),
                (Category::StudentWork, None),
                (Category::PublishedEvents, Some(30)),
            ],
        );
        assert_eq!(
            c.get(Category::AuditLog),
            Some("2025-10-21T12:00:00Z".parse().unwrap())
        );
        assert_eq!(
            c.get(Category::PublishedEvents),
            Some("2026-10-26T12:00:00Z".parse().unwrap())
        );
        assert_eq!(c.get(Category::StudentWork), None);
        assert_eq!(c.iter().count(), 2);
    }

    #[test]
    fn a_report_is_sorted_and_says_what_happened() {
        let r = report(
            "scoring",
            true,
            vec![
                Count::new(Category::AuditLog, "audit_records", 3),
                Count::new(Category::StudentWork, "portfolios", 2),
            ],
        );
        assert!(r.dry_run);
        assert_eq!(r.counts[0].category, "student_work");
        assert_eq!(r.counts[0].action, "anonymised");
        assert_eq!(r.counts[1].category, "audit_log");
        assert_eq!(r.counts[1].action, "deleted");
    }
}
