//! Work that spans every service for one tenant, with one bearer token:
//! erasing a person everywhere, and a run of the retention job.
//!
//! The gateway does it with the caller's token (`erasePerson`,
//! `runRetention`); `collegium retention run` does it with a short-lived
//! service token per tenant. Each service checks the token itself (tenant
//! admins and services only), so this module decides order, not access.

use std::{collections::BTreeMap, time::Duration};

use chrono::Utc;
use collegium_proto::{
    common::v1 as common,
    membership::v1::{self as mpb, membership_service_client::MembershipServiceClient},
    notifications::v1::notifications_service_client::NotificationsServiceClient,
    scheduling::v1::scheduling_service_client::SchedulingServiceClient,
    scoring::v1::scoring_service_client::ScoringServiceClient,
};
use platform::{
    Error,
    fields::ts,
    grpc::ForwardCaller,
    retention::{self, Category},
};
use tonic::{Status, service::interceptor::InterceptedService, transport::Channel};

use crate::upstream::Upstreams;

type With = InterceptedService<Channel, ForwardCaller>;

/// How long one service may take over its share of a retention run (one
/// tenant's expiry in one transaction, or one erasure). The channels cap it
/// too: the gateway's at `platform::grpc::DEFAULT_DEADLINE`, the retention
/// job's (`Upstreams::to_with_deadline`) at this.
pub const JOB_CALL_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// A request carrying [`JOB_CALL_DEADLINE`] as its `grpc-timeout`.
fn long<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(JOB_CALL_DEADLINE);
    r
}

/// The four services' clients, each sending one token.
#[derive(Clone)]
pub struct Services {
    pub membership: MembershipServiceClient<With>,
    pub scheduling: SchedulingServiceClient<With>,
    pub scoring: ScoringServiceClient<With>,
    pub notifications: NotificationsServiceClient<With>,
}

/// What erasing a person changed in one service, per kind of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    pub service: &'static str,
    pub kind: String,
    pub count: u64,
}

/// A service's failure, naming the service.
fn failed(service: &str, status: Status) -> Error {
    let e = Error::from_status(status);
    match e {
        Error::Internal(inner) => Error::internal(anyhow::anyhow!("{service}: {inner}")),
        Error::Unavailable(m) => Error::Unavailable(format!("{service}: {m}")),
        other => other,
    }
}

impl Services {
    pub fn new(upstreams: &Upstreams, token: &str) -> platform::Result<Self> {
        let caller = || ForwardCaller::new(token);
        Ok(Self {
            membership: MembershipServiceClient::with_interceptor(
                upstreams.membership.clone(),
                caller()?,
            ),
            scheduling: SchedulingServiceClient::with_interceptor(
                upstreams.scheduling.clone(),
                caller()?,
            ),
            scoring: ScoringServiceClient::with_interceptor(upstreams.scoring.clone(), caller()?),
            notifications: NotificationsServiceClient::with_interceptor(
                upstreams.notifications.clone(),
                caller()?,
            ),
        })
    }

    /// Erases `person` in every service, membership last, so the person
    /// stays identifiable until the others are done; the first failure
    /// stops it (names the service), and running it again finishes the job
    /// (every service's erasure is idempotent).
    pub async fn erase_person(&self, person: &str) -> platform::Result<Vec<Erased>> {
        let request = common::PersonDataRequest {
            person_id: person.to_string(),
        };
        // One request and report type; each service its own client type.
        macro_rules! erase {
            ($client:ident) => {{
                let report = self
                    .$client
                    .clone()
                    .erase_person_data(long(request.clone()))
                    .await
                    .map_err(|s| failed(stringify!($client), s))?
                    .into_inner();
                report.counts.into_iter().map(|c| Erased {
                    service: stringify!($client),
                    kind: c.kind,
                    count: c.count,
                })
            }};
        }
        let mut out = Vec::new();
        out.extend(erase!(notifications));
        out.extend(erase!(scoring));
        out.extend(erase!(scheduling));
        // Last: the person stays identifiable until the rest is done.
        out.extend(erase!(membership));
        Ok(out)
    }

    /// One run of the retention job for the token's tenant:
    ///
    /// 1. read the tenant's policy (refused unless admin or service) and
    ///    turn it into cutoffs at now;
    /// 2. `inactive_people`: list the people inactive since before its
    ///    cutoff and erase each everywhere ([`Self::erase_person`]); a dry
    ///    run only counts them;
    /// 3. every service's `ApplyRetention` with all cutoffs (each applies
    ///    what it holds), one service's failure not stopping the others;
    /// 4. record the run, with every report and any failure, in membership.
    ///
    /// At most `max_erasures` people are erased in one run (the rest are
    /// counted as `people_deferred` and left to the next run), so a run
    /// stays bounded. Errs only when the policy cannot be read or the run
    /// not recorded; a failed service is in the recorded run's `error`.
    pub async fn run_retention(
        &self,
        dry_run: bool,
        max_erasures: usize,
    ) -> platform::Result<mpb::RetentionRun> {
        let started_at = Utc::now();
        let policy = self
            .membership
            .clone()
            .get_retention_policy(mpb::GetRetentionPolicyRequest {})
            .await
            .map_err(|s| failed("membership", s))?
            .into_inner();
        // A minute's margin: a service whose clock is a little behind ours
        // must not see a cutoff at a category's minimum as too young.
        let cutoffs = retention::cutoffs_at(
            started_at - chrono::Duration::minutes(1),
            policy
                .periods
                .iter()
                .filter_map(|p| Some((Category::parse("category", &p.category).ok()?, p.days))),
        );
        let mut reports: BTreeMap<&'static str, Vec<common::RetentionCount>> = BTreeMap::new();
        let mut errors = Vec::new();

        if let Some(before) = cutoffs.get(Category::InactivePeople) {
            match self.expired_people(&ts(before)).await {
                Err(e) => errors.push(format!("listing inactive people: {e}")),
                Ok(people) if dry_run => {
                    let this_run = people.len().min(max_erasures);
                    let membership = reports.entry("membership").or_default();
                    membership.push(inactive_count("people", this_run as u64));
                    membership.push(inactive_count(
                        "people_deferred",
                        (people.len() - this_run) as u64,
                    ));
                }
                Ok(people) => {
                    let mut sums: BTreeMap<(&'static str, String), u64> = BTreeMap::new();
                    let mut erased = 0;
                    let this_run = people.len().min(max_erasures);
                    for person in &people[..this_run] {
                        match self.erase_person(person).await {
                            Ok(counts) => {
                                erased += 1;
                                for c in counts {
                                    *sums.entry((c.service, c.kind)).or_default() += c.count;
                                }
                            }
                            Err(e) => {
                                errors.push(format!("erasing inactive person {person}: {e}"));
                                break;
                            }
                        }
                    }
                    let membership = reports.entry("membership").or_default();
                    membership.push(inactive_count("people", erased));
                    membership.push(inactive_count(
                        "people_deferred",
                        (people.len() - this_run) as u64,
                    ));
                    for ((service, kind), count) in sums {
                        reports
                            .entry(service)
                            .or_default()
                            .push(inactive_count(&kind, count));
                    }
                }
            }
        }

        let request = common::ApplyRetentionRequest {
            cutoffs: cutoffs.to_proto(),
            dry_run,
        };
        let (mut s, mut c, mut n, mut m) = (
            self.scheduling.clone(),
            self.scoring.clone(),
            self.notifications.clone(),
            self.membership.clone(),
        );
        let (s, c, n, m) = tokio::join!(
            s.apply_retention(long(request.clone())),
            c.apply_retention(long(request.clone())),
            n.apply_retention(long(request.clone())),
            m.apply_retention(long(request.clone())),
        );
        for (service, answer) in [
            ("scheduling", s),
            ("scoring", c),
            ("notifications", n),
            ("membership", m),
        ] {
            match answer {
                Ok(r) => reports
                    .entry(service)
                    .or_default()
                    .extend(r.into_inner().counts),
                Err(status) => errors.push(format!(
                    "{service}: {} ({:?})",
                    status.message(),
                    status.code()
                )),
            }
        }

        let run = self
            .membership
            .clone()
            .record_retention_run(mpb::RecordRetentionRunRequest {
                dry_run,
                started_at: ts(started_at),
                cutoffs: cutoffs.to_proto(),
                reports: reports
                    .into_iter()
                    .map(|(service, counts)| common::RetentionReport {
                        service: service.to_string(),
                        dry_run,
                        counts,
                    })
                    .collect(),
                error: errors.join("; "),
            })
            .await
            .map_err(|s| failed("membership", s))?
            .into_inner();
        Ok(run)
    }

    /// Every person past the `inactive_people` cutoff, all pages.
    async fn expired_people(&self, before: &str) -> platform::Result<Vec<String>> {
        let mut people = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .membership
                .clone()
                .list_expired_people(mpb::ListExpiredPeopleRequest {
                    before: before.to_string(),
                    page: Some(common::PageRequest {
                        page_size: platform::page::MAX_PAGE_SIZE,
                        page_token: token,
                    }),
                })
                .await
                .map_err(|s| failed("membership", s))?
                .into_inner();
            people.extend(page.person_ids);
            token = page.page.map(|p| p.next_page_token).unwrap_or_default();
            if token.is_empty() {
                return Ok(people);
            }
        }
    }
}

fn inactive_count(kind: &str, count: u64) -> common::RetentionCount {
    common::RetentionCount {
        category: Category::InactivePeople.as_str().into(),
        kind: kind.into(),
        action: Category::InactivePeople.action().as_str().into(),
        count,
    }
}
