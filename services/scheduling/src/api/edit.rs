//! Editing events: one event, one occurrence of a series, or a series from
//! one occurrence on.
//!
//! Times are edited as local wall-clock times in the event's zone, so a
//! series moved from 16:00 to 17:00 is at 17:00 local on both sides of a
//! daylight-saving change: each occurrence is shifted by the same *local*
//! delta and converted back to an instant in its own offset.
//!
//! A series keeps agreeing with its RRULE (what calendars show): when a
//! series edit from a later occurrence moves times or the zone, the series is
//! split there — the earlier part's rule ends before it, the rest becomes a
//! new series whose DTSTART is the moved occurrence — as RFC 5545 clients
//! do for "this and following". Occurrences edited on their own (`detached`)
//! keep their own fields and times; they follow the split so that their
//! RECURRENCE-ID still names an instance of their series' rule.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use platform::error::{Error, Result};
use uuid::Uuid;

use crate::domain::{Event, recurrence};

/// Field changes other than times.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub title: Option<String>,
    pub agenda: Option<String>,
    /// `Some(None)` clears the venue.
    pub venue_id: Option<Option<Uuid>>,
    pub online_url: Option<Option<String>>,
    pub capacity: Option<u32>,
    pub approval_required: Option<bool>,
}

impl Changes {
    pub fn apply(&self, e: &mut Event) {
        if let Some(t) = &self.title {
            e.title = t.clone();
        }
        if let Some(a) = &self.agenda {
            e.agenda = a.clone();
        }
        if let Some(v) = self.venue_id {
            e.venue_id = v;
        }
        if let Some(u) = &self.online_url {
            e.online_url = u.clone();
        }
        if let Some(c) = self.capacity {
            e.capacity = c;
        }
        if let Some(a) = self.approval_required {
            e.approval_required = a;
        }
    }
}

/// Local wall-clock time of an instant in `tz`.
pub fn local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// A local time in `tz` as an instant, with the rules of `parse_local`
/// (a skipped time is refused naming `field`, a repeated one is the earlier).
pub fn instant(field: &str, t: NaiveDateTime, tz: Tz) -> Result<DateTime<Utc>> {
    recurrence::parse_local(field, &t.format("%Y-%m-%dT%H:%M:%S").to_string(), tz)
}

/// How times move: by a local delta of start and end, and into a new zone.
#[derive(Debug, Clone, Copy)]
pub struct Retime {
    pub old_tz: Tz,
    pub new_tz: Tz,
    pub d_start: Duration,
    pub d_end: Duration,
}

impl Retime {
    /// From the named event's old times and the requested local times.
    pub fn new(
        e: &Event,
        old_tz: Tz,
        new_tz: Tz,
        starts_local: Option<NaiveDateTime>,
        ends_local: Option<NaiveDateTime>,
    ) -> Self {
        let (ls, le) = (local(e.starts_at, old_tz), local(e.ends_at, old_tz));
        let ns = starts_local.unwrap_or(ls);
        // A new start alone moves the event and keeps its length.
        let ne = ends_local.unwrap_or(le + (ns - ls));
        Self {
            old_tz,
            new_tz,
            d_start: ns - ls,
            d_end: ne - le,
        }
    }

    pub fn is_noop(&self) -> bool {
        self.old_tz == self.new_tz && self.d_start.is_zero() && self.d_end.is_zero()
    }

    /// Whether the series' rule moves (start time or zone).
    pub fn moves_rule(&self) -> bool {
        self.old_tz != self.new_tz || !self.d_start.is_zero()
    }

    pub fn start(&self, field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>> {
        instant(field, local(t, self.old_tz) + self.d_start, self.new_tz)
    }

    pub fn end(&self, field: &str, t: DateTime<Utc>) -> Result<DateTime<Utc>> {
        instant(field, local(t, self.old_tz) + self.d_end, self.new_tz)
    }

    /// Moves an event's start and end (not its RECURRENCE-ID).
    pub fn times(&self, e: &mut Event) -> Result<()> {
        e.starts_at = self.start("starts_local", e.starts_at)?;
        e.ends_at = self.end("ends_local", e.ends_at)?;
        e.time_zone = self.new_tz.name().to_string();
        Ok(())
    }
}

/// The rule with its end replaced: `COUNT=n` or `UNTIL=<utc>`.
pub fn with_end(rrule: &str, count: Option<usize>, until: Option<DateTime<Utc>>) -> String {
    let body = rrule.trim();
    let body = body.strip_prefix("RRULE:").unwrap_or(body);
    let mut parts: Vec<String> = body
        .split(';')
        .filter(|p| {
            let upper = p.to_ascii_uppercase();
            !p.is_empty() && !upper.starts_with("COUNT=") && !upper.starts_with("UNTIL=")
        })
        .map(str::to_string)
        .collect();
    if let Some(n) = count {
        parts.push(format!("COUNT={n}"));
    } else if let Some(u) = until {
        parts.push(format!("UNTIL={}", u.format("%Y%m%dT%H%M%SZ")));
    }
    parts.join(";")
}

fn has_count(rrule: &str) -> bool {
    rrule
        .to_ascii_uppercase()
        .split(';')
        .any(|p| p.trim_start_matches("RRULE:").starts_with("COUNT="))
}

/// New versions of the occurrences a series edit changes, from `named` on.
/// `series` is every occurrence of the series; `new_series_id` is used when
/// the edit splits the series.
pub fn series_edit(
    series: Vec<Event>,
    named: &Event,
    changes: &Changes,
    retime: &Retime,
    new_series_id: Uuid,
) -> Result<Vec<Event>> {
    let this_rid = named.recurrence_id.unwrap_or(named.starts_at);
    let rrule = named.rrule.clone().unwrap_or_default();
    let dtstart = named.series_start.unwrap_or(this_rid);
    let moves = retime.moves_rule();
    if moves
        && (local(named.starts_at, retime.old_tz) + retime.d_start).date()
            != local(named.starts_at, retime.old_tz).date()
    {
        return Err(Error::invalid(
            "starts_local",
            "a series edit changes the time of day only; move one occurrence to another day \
             with scope THIS",
        ));
    }

    // Where the rule is cut, and the rule of each part.
    let (split, head_rule, tail_rule, tail_start) = if moves {
        let instances =
            recurrence::expand(&rrule, local(dtstart, retime.old_tz), retime.old_tz, &[])?;
        let before = instances.iter().filter(|i| **i < this_rid).count();
        let from_here = instances.len() - before;
        let counted = has_count(&rrule);
        let tail_rule = if counted {
            with_end(&rrule, Some(from_here), None)
        } else {
            let last = instances.last().copied().unwrap_or(this_rid);
            with_end(&rrule, None, Some(retime.start("starts_local", last)?))
        };
        let head_rule = if counted {
            with_end(&rrule, Some(before), None)
        } else {
            with_end(&rrule, None, Some(this_rid - Duration::seconds(1)))
        };
        let tail_start = if before == 0 {
            retime.start("starts_local", dtstart)?
        } else {
            retime.start("starts_local", this_rid)?
        };
        (before > 0, head_rule, tail_rule, tail_start)
    } else {
        (false, rrule.clone(), rrule.clone(), dtstart)
    };
    let tail_series = if split {
        new_series_id
    } else {
        named.series_id.unwrap_or(new_series_id)
    };

    let mut out = Vec::new();
    for mut e in series {
        let rid = e.recurrence_id.unwrap_or(e.starts_at);
        if rid < this_rid {
            if split {
                e.rrule = Some(head_rule.clone());
                out.push(e);
            }
            continue;
        }
        // Cancelled occurrences move with the rest, so they still name an
        // instance of their series' rule.
        let target = e.id == named.id || !e.detached;
        if !target && !moves {
            continue;
        }
        if target {
            changes.apply(&mut e);
            retime.times(&mut e)?;
        }
        if moves {
            e.recurrence_id = Some(retime.start("starts_local", rid)?);
            e.series_id = Some(tail_series);
            e.series_start = Some(tail_start);
            e.rrule = Some(tail_rule.clone());
        }
        out.push(e);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ends_are_replaced() {
        assert_eq!(
            with_end("FREQ=WEEKLY;COUNT=10;BYDAY=WE", Some(4), None),
            "FREQ=WEEKLY;BYDAY=WE;COUNT=4"
        );
        let until = "2026-11-04T16:59:59Z".parse().unwrap();
        assert_eq!(
            with_end("RRULE:FREQ=DAILY;UNTIL=20261201T000000Z", None, Some(until)),
            "FREQ=DAILY;UNTIL=20261104T165959Z"
        );
        assert!(has_count("FREQ=DAILY;count=3"));
        assert!(!has_count("FREQ=DAILY;UNTIL=20261201T000000Z"));
    }
}
