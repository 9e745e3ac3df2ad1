//! Clashes: venue bookings (with buffers) and a person's accepted events.

use chrono::{DateTime, Duration, Utc};

/// Whether `[a_start, a_end)` and `[b_start, b_end)` come closer than
/// `buffer` (touching intervals with no buffer do not overlap).
///
/// A venue's buffer is the time kept free between two bookings (setting up,
/// clearing away): with a 15-minute buffer, bookings need 15 minutes between
/// them. A negative buffer counts as none.
pub fn overlaps(
    a_start: DateTime<Utc>,
    a_end: DateTime<Utc>,
    b_start: DateTime<Utc>,
    b_end: DateTime<Utc>,
    buffer: Duration,
) -> bool {
    let buffer = buffer.max(Duration::zero());
    a_start < b_end + buffer && b_start < a_end + buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 14, h, m, 0).unwrap()
    }

    #[test]
    fn disjoint_intervals_do_not_overlap() {
        assert!(!overlaps(
            at(9, 0),
            at(10, 0),
            at(11, 0),
            at(12, 0),
            Duration::zero()
        ));
        assert!(!overlaps(
            at(11, 0),
            at(12, 0),
            at(9, 0),
            at(10, 0),
            Duration::zero()
        ));
    }

    #[test]
    fn touching_intervals_do_not_overlap() {
        assert!(!overlaps(
            at(9, 0),
            at(10, 0),
            at(10, 0),
            at(11, 0),
            Duration::zero()
        ));
        assert!(!overlaps(
            at(10, 0),
            at(11, 0),
            at(9, 0),
            at(10, 0),
            Duration::zero()
        ));
    }

    #[test]
    fn intersecting_and_nested_intervals_overlap() {
        assert!(overlaps(
            at(9, 0),
            at(10, 30),
            at(10, 0),
            at(11, 0),
            Duration::zero()
        ));
        assert!(overlaps(
            at(9, 0),
            at(12, 0),
            at(10, 0),
            at(11, 0),
            Duration::zero()
        ));
        assert!(overlaps(
            at(10, 0),
            at(11, 0),
            at(9, 0),
            at(12, 0),
            Duration::zero()
        ));
        assert!(overlaps(
            at(10, 0),
            at(11, 0),
            at(10, 0),
            at(11, 0),
            Duration::zero()
        ));
    }

    #[test]
    fn a_buffer_keeps_that_much_time_free_between_bookings() {
        let quarter = Duration::minutes(15);
        // 15 minutes apart: exactly the buffer, no clash.
        assert!(!overlaps(
            at(9, 0),
            at(10, 0),
            at(10, 15),
            at(11, 0),
            quarter
        ));
        // 14 minutes apart: one minute short of the buffer.
        assert!(overlaps(
            at(9, 0),
            at(10, 0),
            at(10, 14),
            at(11, 0),
            quarter
        ));
        // Touching bookings clash once there is any buffer.
        assert!(overlaps(at(9, 0), at(10, 0), at(10, 0), at(11, 0), quarter));
        // Symmetric.
        assert!(overlaps(
            at(10, 14),
            at(11, 0),
            at(9, 0),
            at(10, 0),
            quarter
        ));
    }

    #[test]
    fn a_negative_buffer_counts_as_none() {
        assert!(!overlaps(
            at(9, 0),
            at(10, 0),
            at(10, 0),
            at(11, 0),
            Duration::minutes(-30)
        ));
        assert!(overlaps(
            at(9, 0),
            at(10, 30),
            at(10, 0),
            at(11, 0),
            Duration::minutes(-30)
        ));
    }
}
