//! A tenant's retention policy and the record of its retention runs.
//!
//! The categories, their defaults and minimum periods are the platform's
//! (`platform::retention`); a tenant sets a period per category (or none:
//! kept until erased by hand) and otherwise gets the default. The retention
//! job (`collegium retention run`, or `runRetention` in GraphQL) reads the
//! policy, has every service apply it, and records the run here with what
//! each service reported.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platform::retention::Category;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One category's period as the tenant has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPeriod {
    pub category: Category,
    /// Days kept; `None` = until erased by hand.
    pub days: Option<u32>,
    /// Not set by the tenant: the platform default applies.
    pub is_default: bool,
}

/// Every category's period, in the platform's order: the tenant's own where
/// set (`stored`), the default elsewhere.
pub fn policy(stored: &[(Category, Option<u32>)]) -> Vec<RetentionPeriod> {
    let stored: BTreeMap<Category, Option<u32>> = stored.iter().copied().collect();
    Category::ALL
        .into_iter()
        .map(|category| match stored.get(&category) {
            Some(days) => RetentionPeriod {
                category,
                days: *days,
                is_default: false,
            },
            None => RetentionPeriod {
                category,
                days: category.default_days(),
                is_default: true,
            },
        })
        .collect()
}

/// What one service reported in a run (the proto `RetentionReport`, kept as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub service: String,
    pub dry_run: bool,
    pub counts: Vec<ReportCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportCount {
    pub category: String,
    pub kind: String,
    pub action: String,
    pub count: u64,
}

/// A run to record.
#[derive(Debug, Clone)]
pub struct NewRetentionRun {
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    /// Category name → cutoff (RFC 3339).
    pub cutoffs: BTreeMap<String, String>,
    pub reports: Vec<ServiceReport>,
    pub error: Option<String>,
}

/// One recorded run of the retention job for the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionRun {
    pub id: Uuid,
    pub actor: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub cutoffs: BTreeMap<String, String>,
    pub reports: Vec<ServiceReport>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_period_overrides_the_default_and_none_keeps_the_data() {
        let p = policy(&[
            (Category::AuditLog, Some(400)),
            (Category::Notifications, None),
        ]);
        assert_eq!(p.len(), Category::ALL.len());
        let get = |c| p.iter().find(|x| x.category == c).unwrap().clone();
        assert_eq!(
            get(Category::AuditLog),
            RetentionPeriod {
                category: Category::AuditLog,
                days: Some(400),
                is_default: false
            }
        );
        // Set to "keep": no period although the default has one.
        assert_eq!(get(Category::Notifications).days, None);
        assert!(!get(Category::Notifications).is_default);
        // Untouched: the default.
        assert_eq!(get(Category::PublishedEvents).days, Some(30));
        assert!(get(Category::PublishedEvents).is_default);
        assert_eq!(get(Category::InactivePeople).days, None);
    }
}
