//! Retention in the schema (tenant admins): the tenant's period per data
//! category, setting one, running the retention job now (or a dry run that
//! only counts), and the record of past runs, scheduled or by hand.
//!
//! The run itself is `crate::fanout::Services::run_retention`, the same code
//! the scheduled `collegium retention run` uses.

use async_graphql::{Context, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use collegium_proto::{common::v1 as common, membership::v1 as mpb};

use super::{
    convert::{instant, unary},
    paging::{Page, connection, page_request},
    privacy::services,
};
use crate::error::graphql_error;

/// One category's retention period for the tenant.
#[derive(SimpleObject)]
pub struct RetentionPeriod {
    /// e.g. `audit_log`, `notifications`, `inactive_people`.
    pub category: String,
    /// Days kept; null = kept until erased by hand.
    pub days: Option<u32>,
    /// True while the tenant has not set it (the platform default applies).
    pub is_default: bool,
    /// The shortest period the category accepts.
    pub min_days: u32,
    /// What expiry does: `deleted` or `anonymised`.
    pub action: String,
    pub description: String,
    /// The services holding data of the category.
    pub services: Vec<String>,
}

impl From<mpb::RetentionPeriod> for RetentionPeriod {
    fn from(p: mpb::RetentionPeriod) -> Self {
        Self {
            category: p.category,
            days: p.days,
            is_default: p.is_default,
            min_days: p.min_days,
            action: p.action,
            description: p.description,
            services: p.services,
        }
    }
}

fn periods(p: mpb::RetentionPolicy) -> Vec<RetentionPeriod> {
    p.periods.into_iter().map(Into::into).collect()
}

/// What a run did (or, dry, would do) to one kind of record in one service.
#[derive(SimpleObject)]
pub struct RetentionCount {
    pub service: String,
    pub category: String,
    /// e.g. `audit_records`, `inbox_items`, `portfolios`.
    pub kind: String,
    /// `deleted` or `anonymised`.
    pub action: String,
    pub count: u64,
}

/// A category's cutoff in a run: what it covers and is older is expired.
#[derive(SimpleObject)]
pub struct RetentionCutoff {
    pub category: String,
    pub before: DateTime<Utc>,
}

/// One run of the retention job for the tenant.
pub struct RetentionRun(mpb::RetentionRun);

#[Object]
impl RetentionRun {
    async fn id(&self) -> async_graphql::ID {
        async_graphql::ID(self.0.id.clone())
    }
    /// A person id, or `service:retention` for the scheduled job.
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    async fn started_at(&self) -> Result<DateTime<Utc>> {
        instant("retention_run.started_at", &self.0.started_at)
    }
    async fn finished_at(&self) -> Result<DateTime<Utc>> {
        instant("retention_run.finished_at", &self.0.finished_at)
    }
    async fn cutoffs(&self) -> Result<Vec<RetentionCutoff>> {
        self.0
            .cutoffs
            .iter()
            .map(|c| {
                Ok(RetentionCutoff {
                    category: c.category.clone(),
                    before: instant("retention_run.cutoffs.before", &c.before)?,
                })
            })
            .collect()
    }
    /// Every service's counts, by service, category and kind.
    async fn counts(&self) -> Vec<RetentionCount> {
        self.0
            .reports
            .iter()
            .flat_map(|r: &common::RetentionReport| {
                r.counts.iter().map(|c| RetentionCount {
                    service: r.service.clone(),
                    category: c.category.clone(),
                    kind: c.kind.clone(),
                    action: c.action.clone(),
                    count: c.count,
                })
            })
            .collect()
    }
    /// Null when every service finished; otherwise what failed (the rest
    /// was still applied, and the next run picks up what was left).
    async fn error(&self) -> Option<&str> {
        Some(self.0.error.as_str()).filter(|e| !e.is_empty())
    }
}

#[derive(InputObject)]
pub struct SetRetentionPeriodInput {
    pub category: String,
    /// Days to keep; null keeps the data until erased by hand.
    pub days: Option<u32>,
    /// Back to the platform default (leave `days` null).
    #[graphql(default)]
    pub reset: bool,
}

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// The tenant's retention period for every category (tenant admins).
    async fn retention_policy(&self, ctx: &Context<'_>) -> Result<Vec<RetentionPeriod>> {
        let mut m = services(ctx)?.membership.clone();
        Ok(periods(
            unary(m.get_retention_policy(mpb::GetRetentionPolicyRequest {})).await?,
        ))
    }

    /// Runs of the retention job, newest first (tenant admins).
    async fn retention_runs(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Page<RetentionRun>> {
        let mut m = services(ctx)?.membership.clone();
        let after_given = after.is_some();
        let page = unary(m.list_retention_runs(mpb::ListRetentionRunsRequest {
            page: Some(page_request(first, after)?),
        }))
        .await?;
        Ok(connection(
            after_given,
            page.runs
                .into_iter()
                .map(|r| (r.id.clone(), RetentionRun(r)))
                .collect(),
            page.page,
        ))
    }
}

/// People `runRetention` erases at most in one call (the rest wait for the
/// next run), so the request stays well inside its deadline.
pub const MAX_ERASURES_PER_RUN: usize = 200;

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Sets one category's period (tenant admins; audited). Answers the
    /// whole policy.
    async fn set_retention_period(
        &self,
        ctx: &Context<'_>,
        input: SetRetentionPeriodInput,
    ) -> Result<Vec<RetentionPeriod>> {
        let mut m = services(ctx)?.membership.clone();
        Ok(periods(
            unary(m.set_retention_period(mpb::SetRetentionPeriodRequest {
                category: input.category,
                days: input.days,
                reset: input.reset,
            }))
            .await?,
        ))
    }

    /// Runs the retention job for the tenant now (tenant admins): every
    /// service expires what is past the tenant's periods, and people
    /// inactive past theirs are erased. `dryRun` only counts. The run is
    /// recorded either way; a service that failed is named in `error`.
    async fn run_retention(&self, ctx: &Context<'_>, dry_run: bool) -> Result<RetentionRun> {
        services(ctx)?
            .run_retention(dry_run, MAX_ERASURES_PER_RUN)
            .await
            .map(RetentionRun)
            .map_err(graphql_error)
    }
}
