//! Research data agreements and the disclosure log over gRPC: conversions
//! and who may do what. Tenant admins create and revoke agreements and read
//! all of them and the whole log; anyone else reads the agreements naming
//! them and the disclosures made to them. "Today" is the tenant's date.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use collegium_proto::membership::v1 as pb;
use platform::{
    auth::Principal,
    error::{Error, Result, Violations},
    page::{MAX_PAGE_SIZE, Page},
};
use uuid::Uuid;

use super::{MembershipApi, id, opt_id, page, page_info, ts};
use crate::domain::{
    self, DataScope,
    research::{disclosures_csv, not_covered},
    validate,
};

/// Most disclosures one CSV report holds; narrow the dates for more.
pub const MAX_EXPORT_ROWS: usize = 50_000;

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(super) fn agreement_out(a: domain::ResearchAgreement) -> pb::ResearchAgreement {
    pb::ResearchAgreement {
        id: a.id.to_string(),
        title: a.title,
        purpose: a.purpose,
        data_scope: a
            .data_scope
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        researcher_ids: a.researcher_ids.iter().map(Uuid::to_string).collect(),
        starts_on: day(a.starts_on),
        ends_on: day(a.ends_on),
        destroy_by: day(a.destroy_by),
        created_by: a.created_by,
        created_at: ts(a.created_at),
        revoked_at: a.revoked_at.map(ts),
    }
}

pub(super) fn disclosure_out(d: domain::Disclosure) -> pb::Disclosure {
    pb::Disclosure {
        id: d.id.to_string(),
        agreement_id: d.agreement_id.map(|a| a.to_string()),
        recipient_id: d.recipient_id.to_string(),
        scope: d.scope.as_str().to_string(),
        dataset: d.dataset,
        rows: d.rows,
        excluded: d.excluded,
        disclosed_at: ts(d.disclosed_at),
    }
}

fn me(p: &Principal) -> Result<Uuid> {
    p.person()
        .map(|m| m.0)
        .ok_or_else(|| Error::forbidden("research data is given to people, not services"))
}

/// Non-admins see only what concerns themselves.
fn own_only(p: &Principal, asked: Option<Uuid>, what: &str) -> Result<Option<Uuid>> {
    if p.is_tenant_admin() {
        return Ok(asked);
    }
    let me = me(p)?;
    match asked {
        Some(other) if other != me => Err(Error::forbidden(format!(
            "you may list only your own {what}"
        ))),
        _ => Ok(Some(me)),
    }
}

impl MembershipApi {
    /// The tenant's time zone.
    async fn zone(&self, p: &Principal) -> Result<chrono_tz::Tz> {
        let tenant = self.store.get_tenant(p.tenant).await?;
        Ok(tenant.settings.time_zone.parse().unwrap_or(chrono_tz::UTC))
    }

    async fn today(&self, p: &Principal) -> Result<NaiveDate> {
        let tz = self.zone(p).await?;
        Ok(Utc::now().with_timezone(&tz).date_naive())
    }

    pub(super) async fn create_research_agreement_in(
        &self,
        p: &Principal,
        r: pb::CreateResearchAgreementRequest,
    ) -> Result<pb::ResearchAgreement> {
        p.require_tenant_admin()?;
        let mut v = Violations::new();
        let mut scopes = std::collections::BTreeSet::new();
        for (i, s) in r.data_scope.iter().enumerate() {
            match DataScope::parse(s) {
                Some(s) => {
                    scopes.insert(s);
                }
                None => v.add(
                    format!("data_scope[{i}]"),
                    "one of attendance, membership, scores",
                ),
            }
        }
        let mut researchers = Vec::new();
        if r.researcher_ids.len() > domain::research::MAX_RESEARCHERS {
            v.add(
                "researcher_ids",
                format!("at most {} researchers", domain::research::MAX_RESEARCHERS),
            );
        } else {
            for (i, s) in r.researcher_ids.iter().enumerate() {
                match id(&format!("researcher_ids[{i}]"), s) {
                    Ok(u) => researchers.push(u),
                    Err(_) => v.add(format!("researcher_ids[{i}]"), "not a valid id"),
                }
            }
        }
        let starts = validate::date(&mut v, "starts_on", &r.starts_on);
        let ends = validate::date(&mut v, "ends_on", &r.ends_on);
        let destroy = validate::date(&mut v, "destroy_by", &r.destroy_by);
        v.finish()?;
        let (Some(starts_on), Some(ends_on), Some(destroy_by)) = (starts, ends, destroy) else {
            return Err(Error::invalid("request", "incomplete"));
        };
        let new = domain::NewResearchAgreement {
            title: r.title,
            purpose: r.purpose,
            data_scope: scopes,
            researcher_ids: researchers,
            starts_on,
            ends_on,
            destroy_by,
        };
        Ok(agreement_out(
            self.store
                .create_agreement(p.tenant, &p.actor(), new)
                .await?,
        ))
    }

    pub(super) async fn revoke_research_agreement_in(
        &self,
        p: &Principal,
        r: pb::RevokeResearchAgreementRequest,
    ) -> Result<pb::ResearchAgreement> {
        p.require_tenant_admin()?;
        Ok(agreement_out(
            self.store
                .revoke_agreement(p.tenant, &p.actor(), id("id", &r.id)?)
                .await?,
        ))
    }

    pub(super) async fn list_research_agreements_in(
        &self,
        p: &Principal,
        r: pb::ListResearchAgreementsRequest,
    ) -> Result<pb::ResearchAgreementPage> {
        let asked = opt_id("researcher_id", &r.researcher_id)?;
        let filter = domain::AgreementFilter {
            researcher_id: own_only(p, asked, "research agreements")?,
            include_revoked: r.include_revoked,
        };
        let (items, next) = self
            .store
            .list_agreements(p.tenant, &filter, page(&r.page)?)
            .await?;
        Ok(pb::ResearchAgreementPage {
            agreements: items.into_iter().map(agreement_out).collect(),
            page: page_info(next),
        })
    }

    pub(super) async fn check_research_access_in(
        &self,
        p: &Principal,
        r: pb::CheckResearchAccessRequest,
    ) -> Result<pb::ResearchAgreement> {
        let scope = DataScope::parse_field("scope", &r.scope)?;
        let me = me(p)?;
        let today = self.today(p).await?;
        match self
            .store
            .covering_agreement(p.tenant, me, scope, today)
            .await?
        {
            Some(a) => Ok(agreement_out(a)),
            None => Err(Error::FailedPrecondition(not_covered(scope, today))),
        }
    }

    pub(super) async fn record_disclosure_in(
        &self,
        p: &Principal,
        r: pb::RecordDisclosureRequest,
    ) -> Result<pb::Disclosure> {
        let scope = DataScope::parse_field("scope", &r.scope)?;
        let agreement_id = opt_id("agreement_id", &r.agreement_id)?;
        let recipient_id = me(p)?;
        if agreement_id.is_none() && !p.is_tenant_admin() {
            return Err(Error::invalid(
                "agreement_id",
                "required: only tenant admins receive extracts without a research agreement",
            ));
        }
        let new = domain::NewDisclosure {
            agreement_id,
            recipient_id,
            scope,
            dataset: r.dataset,
            rows: r.rows,
            excluded: r.excluded,
            on: self.today(p).await?,
        };
        Ok(disclosure_out(
            self.store
                .record_disclosure(p.tenant, &p.actor(), new)
                .await?,
        ))
    }

    async fn disclosure_filter(
        &self,
        p: &Principal,
        agreement_id: &Option<String>,
        researcher_id: &Option<String>,
        from: &Option<String>,
        to: &Option<String>,
    ) -> Result<domain::DisclosureFilter> {
        let mut v = Violations::new();
        let from = from
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| validate::date(&mut v, "from", s));
        let to = to
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| validate::date(&mut v, "to", s));
        if let (Some(f), Some(t)) = (from, to)
            && t < f
        {
            v.add("to", "must not be before from");
        }
        v.finish()?;
        let agreement_id = opt_id("agreement_id", agreement_id)?;
        let asked = opt_id("researcher_id", researcher_id)?;
        let recipient_id = own_only(p, asked, "disclosures")?;
        let tz = if from.is_some() || to.is_some() {
            self.zone(p).await?
        } else {
            chrono_tz::UTC
        };
        // A day starts at the tenant's local midnight; `to` is inclusive.
        let midnight = |d: NaiveDate| -> DateTime<Utc> {
            let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&local)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_else(|| Utc.from_utc_datetime(&local))
        };
        Ok(domain::DisclosureFilter {
            agreement_id,
            recipient_id,
            from: from.map(midnight),
            until: to.and_then(|d| d.succ_opt()).map(midnight),
        })
    }

    pub(super) async fn list_disclosures_in(
        &self,
        p: &Principal,
        r: pb::ListDisclosuresRequest,
    ) -> Result<pb::DisclosurePage> {
        let filter = self
            .disclosure_filter(p, &r.agreement_id, &r.researcher_id, &r.from, &r.to)
            .await?;
        let (items, next) = self
            .store
            .list_disclosures(p.tenant, &filter, page(&r.page)?)
            .await?;
        Ok(pb::DisclosurePage {
            disclosures: items.into_iter().map(disclosure_out).collect(),
            page: page_info(next),
        })
    }

    pub(super) async fn export_disclosures_in(
        &self,
        p: &Principal,
        r: pb::ExportDisclosuresRequest,
    ) -> Result<pb::DisclosureExport> {
        let filter = self
            .disclosure_filter(p, &r.agreement_id, &r.researcher_id, &r.from, &r.to)
            .await?;
        let mut all = Vec::new();
        let mut next = Page::first(MAX_PAGE_SIZE);
        loop {
            let (items, token) = self.store.list_disclosures(p.tenant, &filter, next).await?;
            all.extend(items);
            if all.len() > MAX_EXPORT_ROWS {
                return Err(Error::FailedPrecondition(format!(
                    "more than {MAX_EXPORT_ROWS} disclosures match: narrow from and to"
                )));
            }
            if token.is_empty() {
                break;
            }
            next = Page::new(MAX_PAGE_SIZE, &token)?;
        }
        let mut recipients: Vec<Uuid> = all.iter().map(|d| d.recipient_id).collect();
        recipients.sort();
        recipients.dedup();
        let mut names = std::collections::HashMap::new();
        for chunk in recipients.chunks(MAX_PAGE_SIZE as usize) {
            for person in self.store.get_people(p.tenant, chunk).await? {
                names.insert(
                    person.id,
                    format!("{} {}", person.given_name, person.family_name),
                );
            }
        }
        let rows: Vec<_> = all
            .into_iter()
            .map(|d| {
                let name = names.get(&d.recipient_id).cloned().unwrap_or_default();
                (d, name)
            })
            .collect();
        Ok(pb::DisclosureExport {
            file_name: format!("disclosures-{}.csv", self.today(p).await?),
            csv: disclosures_csv(&rows),
            rows: rows.len() as u32,
        })
    }
}
