//! Seats and the waiting list.

use uuid::Uuid;

use super::{Rsvp, RsvpStatus};

/// What an "accept" becomes: a seat, the waiting list, or pending approval.
pub fn on_accept(seat_limit: Option<u32>, accepted: u32, approval_required: bool) -> RsvpStatus {
    if approval_required {
        return RsvpStatus::PendingApproval;
    }
    match seat_limit {
        None => RsvpStatus::Accepted,
        Some(limit) if accepted < limit => RsvpStatus::Accepted,
        Some(_) => RsvpStatus::Waitlisted,
    }
}

/// Who moves from the waiting list to a seat when `accepted` people hold
/// seats under `seat_limit`: the longest-waiting first, as many as fit.
///
/// Without a limit everyone waiting moves up. Only RSVPs with status
/// `Waitlisted` are considered; ties in waiting time go by person id so the
/// order is the same on every run.
pub fn promotions(seat_limit: Option<u32>, accepted: u32, waiting: &[Rsvp]) -> Vec<Uuid> {
    let mut queue: Vec<&Rsvp> = waiting
        .iter()
        .filter(|r| r.status == RsvpStatus::Waitlisted)
        .collect();
    // Someone waiting without a recorded time joins the end of the queue.
    queue.sort_by_key(|r| (r.waitlisted_at.is_none(), r.waitlisted_at, r.person_id));
    let free = match seat_limit {
        None => queue.len(),
        Some(limit) => limit.saturating_sub(accepted) as usize,
    };
    queue.into_iter().take(free).map(|r| r.person_id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 9, 0, 0).unwrap()
    }

    fn waiting(n: u128, minutes: i64) -> Rsvp {
        Rsvp {
            event_id: Uuid::from_u128(1),
            person_id: Uuid::from_u128(n),
            status: RsvpStatus::Waitlisted,
            waitlisted_at: Some(t0() + Duration::minutes(minutes)),
            updated_at: t0(),
        }
    }

    #[test]
    fn approval_comes_before_seats() {
        assert_eq!(on_accept(Some(10), 0, true), RsvpStatus::PendingApproval);
        assert_eq!(on_accept(None, 0, true), RsvpStatus::PendingApproval);
        assert_eq!(on_accept(Some(1), 5, true), RsvpStatus::PendingApproval);
    }

    #[test]
    fn no_limit_always_gives_a_seat() {
        assert_eq!(on_accept(None, 10_000, false), RsvpStatus::Accepted);
    }

    #[test]
    fn a_seat_while_there_is_room_then_the_waiting_list() {
        assert_eq!(on_accept(Some(2), 0, false), RsvpStatus::Accepted);
        assert_eq!(on_accept(Some(2), 1, false), RsvpStatus::Accepted);
        assert_eq!(on_accept(Some(2), 2, false), RsvpStatus::Waitlisted);
        assert_eq!(on_accept(Some(2), 3, false), RsvpStatus::Waitlisted);
        assert_eq!(on_accept(Some(0), 0, false), RsvpStatus::Waitlisted);
    }

    #[test]
    fn the_longest_waiting_move_up_first_as_many_as_fit() {
        let list = [waiting(3, 30), waiting(1, 10), waiting(2, 20)];
        assert_eq!(
            promotions(Some(5), 3, &list),
            [Uuid::from_u128(1), Uuid::from_u128(2)]
        );
        assert_eq!(promotions(Some(5), 4, &list), [Uuid::from_u128(1)]);
    }

    #[test]
    fn nobody_moves_when_the_event_is_full_or_overfull() {
        let list = [waiting(1, 10)];
        assert!(promotions(Some(5), 5, &list).is_empty());
        assert!(promotions(Some(5), 7, &list).is_empty());
    }

    #[test]
    fn without_a_limit_everyone_waiting_moves_up_in_order() {
        let list = [waiting(2, 20), waiting(1, 10)];
        assert_eq!(
            promotions(None, 100, &list),
            [Uuid::from_u128(1), Uuid::from_u128(2)]
        );
    }

    #[test]
    fn ties_go_by_person_id_and_unknown_times_go_last() {
        let mut late = waiting(0, 0);
        late.waitlisted_at = None;
        let list = [waiting(9, 10), late, waiting(4, 10)];
        assert_eq!(
            promotions(Some(10), 0, &list),
            [Uuid::from_u128(4), Uuid::from_u128(9), Uuid::from_u128(0)]
        );
    }

    #[test]
    fn only_people_on_the_waiting_list_are_promoted() {
        let mut declined = waiting(1, 0);
        declined.status = RsvpStatus::Declined;
        let list = [declined, waiting(2, 5)];
        assert_eq!(promotions(Some(10), 0, &list), [Uuid::from_u128(2)]);
    }

    #[test]
    fn an_empty_waiting_list_promotes_nobody() {
        assert!(promotions(Some(10), 0, &[]).is_empty());
        assert!(promotions(None, 0, &[]).is_empty());
    }
}
