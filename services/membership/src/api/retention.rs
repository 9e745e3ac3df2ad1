//! Retention over gRPC: the tenant's policy (admins read and set it), the
//! people past the `inactive_people` period, membership's own expiry, and
//! the record of runs. Only tenant admins and Collegium's own services (the
//! retention job's service token) may call these.

use std::collections::BTreeMap;

use chrono::Utc;
use collegium_proto::{common::v1 as common, membership::v1 as pb};
use platform::{
    auth::Principal,
    error::{Error, Result},
    fields::{opt_instant, page, page_info, ts},
    retention::{self, Category},
};

use super::MembershipApi;
use crate::domain::{
    NewRetentionRun, RetentionPeriod, RetentionRun,
    retention::{ReportCount, ServiceReport, policy},
};

const SERVICE: &str = "membership";

fn period_out(p: &RetentionPeriod) -> pb::RetentionPeriod {
    let c = p.category;
    pb::RetentionPeriod {
        category: c.as_str().into(),
        days: p.days,
        is_default: p.is_default,
        min_days: c.min_days(),
        action: c.action().as_str().into(),
        description: c.description().into(),
        services: c.services().iter().map(|s| s.to_string()).collect(),
    }
}

fn report_in(r: common::RetentionReport) -> ServiceReport {
    ServiceReport {
        service: r.service,
        dry_run: r.dry_run,
        counts: r
            .counts
            .into_iter()
            .map(|c| ReportCount {
                category: c.category,
                kind: c.kind,
                action: c.action,
                count: c.count,
            })
            .collect(),
    }
}

fn report_out(r: ServiceReport) -> common::RetentionReport {
    common::RetentionReport {
        service: r.service,
        dry_run: r.dry_run,
        counts: r
            .counts
            .into_iter()
            .map(|c| common::RetentionCount {
                category: c.category,
                kind: c.kind,
                action: c.action,
                count: c.count,
            })
            .collect(),
    }
}

fn run_out(r: RetentionRun) -> pb::RetentionRun {
    pb::RetentionRun {
        id: r.id.to_string(),
        actor: r.actor,
        dry_run: r.dry_run,
        started_at: ts(r.started_at),
        finished_at: ts(r.finished_at),
        cutoffs: r
            .cutoffs
            .into_iter()
            .map(|(category, before)| common::RetentionCutoff { category, before })
            .collect(),
        reports: r.reports.into_iter().map(report_out).collect(),
        error: r.error.unwrap_or_default(),
    }
}

/// Most reports one run may carry (a service each, with room to grow) and
/// counts per report: a run record is small by construction.
const MAX_REPORTS: usize = 16;
const MAX_COUNTS: usize = 64;

impl MembershipApi {
    async fn policy_out(&self, p: &Principal) -> Result<pb::RetentionPolicy> {
        let stored = self.store.retention_periods(p.tenant).await?;
        Ok(pb::RetentionPolicy {
            periods: policy(&stored).iter().map(period_out).collect(),
        })
    }

    pub(super) async fn get_retention_policy_in(
        &self,
        p: &Principal,
        _r: pb::GetRetentionPolicyRequest,
    ) -> Result<pb::RetentionPolicy> {
        p.require_tenant_admin()?;
        self.policy_out(p).await
    }

    pub(super) async fn set_retention_period_in(
        &self,
        p: &Principal,
        r: pb::SetRetentionPeriodRequest,
    ) -> Result<pb::RetentionPolicy> {
        p.require_tenant_admin()?;
        let category = Category::parse("category", &r.category)?;
        let days = match (r.reset, r.days) {
            (true, Some(_)) => {
                return Err(Error::invalid(
                    "days",
                    "leave days empty when resetting to the default",
                ));
            }
            (true, None) => None,
            (false, days) => Some(days),
        };
        self.store
            .set_retention_period(p.tenant, &p.actor(), category, days)
            .await?;
        self.policy_out(p).await
    }

    pub(super) async fn list_expired_people_in(
        &self,
        p: &Principal,
        r: pb::ListExpiredPeopleRequest,
    ) -> Result<pb::ExpiredPeoplePage> {
        p.require_tenant_admin()?;
        let before = opt_instant("before", &r.before)?
            .ok_or_else(|| Error::invalid("before", "required"))?;
        // The same floor ApplyRetention enforces: nobody inactive for less
        // than the category's minimum is ever listed for erasure.
        let latest = Category::InactivePeople.latest_cutoff(Utc::now());
        if before > latest {
            return Err(Error::invalid(
                "before",
                format!(
                    "inactive people are kept at least {} days: {} or earlier",
                    Category::InactivePeople.min_days(),
                    ts(latest)
                ),
            ));
        }
        let (ids, next) = self
            .store
            .expired_people(p.tenant, before, page(&r.page)?)
            .await?;
        Ok(pb::ExpiredPeoplePage {
            person_ids: ids.into_iter().map(|id| id.to_string()).collect(),
            page: page_info(next),
        })
    }

    pub(super) async fn apply_retention_in(
        &self,
        p: &Principal,
        r: common::ApplyRetentionRequest,
    ) -> Result<common::RetentionReport> {
        let (tenant, actor, dry_run) = (p.tenant, p.actor(), r.dry_run);
        retention::answer(p, &r, SERVICE, |cutoffs| async move {
            self.store
                .apply_retention(tenant, &actor, &cutoffs, dry_run)
                .await
        })
        .await
    }

    pub(super) async fn record_retention_run_in(
        &self,
        p: &Principal,
        r: pb::RecordRetentionRunRequest,
    ) -> Result<pb::RetentionRun> {
        p.require_tenant_admin()?;
        let started_at = opt_instant("started_at", &r.started_at)?
            .ok_or_else(|| Error::invalid("started_at", "required"))?;
        if r.reports.len() > MAX_REPORTS {
            return Err(Error::invalid(
                "reports",
                format!("at most {MAX_REPORTS} reports"),
            ));
        }
        if let Some(i) = r.reports.iter().position(|x| x.counts.len() > MAX_COUNTS) {
            return Err(Error::invalid(
                format!("reports[{i}].counts"),
                format!("at most {MAX_COUNTS} counts"),
            ));
        }
        let mut cutoffs = BTreeMap::new();
        for (i, c) in r.cutoffs.iter().enumerate() {
            let category = Category::parse(&format!("cutoffs[{i}].category"), &c.category)?;
            let field = format!("cutoffs[{i}].before");
            let before = opt_instant(&field, &c.before)?
                .ok_or_else(|| Error::invalid(&field, "required"))?;
            cutoffs.insert(category.as_str().to_string(), ts(before));
        }
        let error =
            Some(r.error.trim().chars().take(2_000).collect::<String>()).filter(|e| !e.is_empty());
        let run = self
            .store
            .record_retention_run(
                p.tenant,
                &p.actor(),
                NewRetentionRun {
                    dry_run: r.dry_run,
                    started_at,
                    cutoffs,
                    reports: r.reports.into_iter().map(report_in).collect(),
                    error,
                },
            )
            .await?;
        Ok(run_out(run))
    }

    pub(super) async fn list_retention_runs_in(
        &self,
        p: &Principal,
        r: pb::ListRetentionRunsRequest,
    ) -> Result<pb::RetentionRunPage> {
        p.require_tenant_admin()?;
        let (runs, next) = self
            .store
            .list_retention_runs(p.tenant, page(&r.page)?)
            .await?;
        Ok(pb::RetentionRunPage {
            runs: runs.into_iter().map(run_out).collect(),
            page: page_info(next),
        })
    }
}
