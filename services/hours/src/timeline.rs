//! From wall-clock hours to real instants, and sets of instant periods.
//!
//! A time zone's timeline is cut at its transitions into segments of constant UTC offset.
//! Within a segment the wall clock is `instant + offset`, strictly increasing, so the
//! instants whose wall time falls in `[date start, date end)` form one period that maps
//! back exactly by subtracting the offset. Walking segment by segment therefore handles:
//!
//! - gaps (spring forward): wall times that never happen belong to no segment, so a shift
//!   01:00-03:00 across a 02:00-03:00 gap lasts one real hour, and a shift starting inside
//!   the gap opens when the gap ends;
//! - overlaps (fall back): the repeated wall times belong to two segments, so a shift
//!   00:00-02:00 across a repeated 01:00-02:00 lasts three real hours;
//! - skipped or repeated dates (Pacific/Apia skipped 2011-12-30): a date whose wall times
//!   belong to no segment has no instants.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::model::DAY_MINUTES;

/// A half-open period of real time, `[start, end)`.
pub type Period = (Timestamp, Timestamp);

/// Wall-clock minutes `[start, end)` of a date, `end` up to [`DAY_MINUTES`].
pub(crate) type Minutes = (u16, u16);

/// The instants in `[lo, hi)` whose wall time in `tz` falls in the minutes that
/// `minutes_of` gives for its date; sorted, touching periods joined.
pub(crate) fn wall_periods(
    tz: &TimeZone,
    lo: Timestamp,
    hi: Timestamp,
    mut minutes_of: impl FnMut(Date) -> Vec<Minutes>,
) -> Vec<Period> {
    let mut out = Vec::new();
    let mut a = lo;
    while a < hi {
        let offset = tz.to_offset(a);
        // `following` is strictly after `a`, so the walk always advances.
        let b = tz.following(a).next().map_or(hi, |transition| transition.timestamp().min(hi));
        let (wall_a, wall_b) = (offset.to_datetime(a), offset.to_datetime(b));
        let mut date = wall_a.date();
        while date <= wall_b.date() {
            for (start, end) in minutes_of(date) {
                let (Some(from), Some(to)) = (wall(date, start), wall(date, end)) else { continue };
                let (from, to) = (from.max(wall_a), to.min(wall_b));
                if from >= to {
                    continue;
                }
                if let (Ok(from), Ok(to)) = (offset.to_timestamp(from), offset.to_timestamp(to)) {
                    out.push((from, to));
                }
            }
            let Ok(next) = date.tomorrow() else { break };
            date = next;
        }
        a = b;
    }
    join(out)
}

/// `minute` of `date` as a wall-clock date-time; 24:00 is the next midnight.
fn wall(date: Date, minute: u16) -> Option<DateTime> {
    if minute >= DAY_MINUTES {
        return date.tomorrow().ok().map(|next| next.at(0, 0, 0, 0));
    }
    // Below 24 * 60, so the hour is below 24 and both fit an i8.
    Some(date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0))
}

/// Sorted, with overlapping or touching periods joined.
pub(crate) fn join(mut periods: Vec<Period>) -> Vec<Period> {
    periods.sort();
    let mut out: Vec<Period> = Vec::with_capacity(periods.len());
    for (start, end) in periods {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The instants of `a` not in `b`; both sorted and disjoint.
pub(crate) fn subtract(a: &[Period], b: &[Period]) -> Vec<Period> {
    let mut out = Vec::new();
    for &(start, end) in a {
        let mut cursor = start;
        for &(cut_start, cut_end) in b.iter().filter(|(s, e)| *e > start && *s < end) {
            if cut_start > cursor {
                out.push((cursor, cut_start));
            }
            cursor = cursor.max(cut_end);
        }
        if cursor < end {
            out.push((cursor, end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn join_merges_overlapping_and_touching() {
        let periods = vec![
            (ts("2024-01-01T12:00:00Z"), ts("2024-01-01T13:00:00Z")),
            (ts("2024-01-01T10:00:00Z"), ts("2024-01-01T11:00:00Z")),
            (ts("2024-01-01T11:00:00Z"), ts("2024-01-01T11:30:00Z")),
            (ts("2024-01-01T12:30:00Z"), ts("2024-01-01T14:00:00Z")),
        ];
        assert_eq!(
            join(periods),
            vec![
                (ts("2024-01-01T10:00:00Z"), ts("2024-01-01T11:30:00Z")),
                (ts("2024-01-01T12:00:00Z"), ts("2024-01-01T14:00:00Z")),
            ]
        );
    }

    #[test]
    fn subtract_cuts_holes_and_edges() {
        let a = [(ts("2024-01-01T08:00:00Z"), ts("2024-01-01T18:00:00Z"))];
        let b = [
            (ts("2024-01-01T07:00:00Z"), ts("2024-01-01T09:00:00Z")),
            (ts("2024-01-01T12:00:00Z"), ts("2024-01-01T13:00:00Z")),
            (ts("2024-01-01T17:00:00Z"), ts("2024-01-01T19:00:00Z")),
        ];
        assert_eq!(
            subtract(&a, &b),
            vec![
                (ts("2024-01-01T09:00:00Z"), ts("2024-01-01T12:00:00Z")),
                (ts("2024-01-01T13:00:00Z"), ts("2024-01-01T17:00:00Z")),
            ]
        );
        assert_eq!(subtract(&a, &[]), a.to_vec());
        assert_eq!(subtract(&a, &a), vec![]);
    }

    #[test]
    fn wall_periods_of_a_day_in_a_fixed_zone() {
        let tz = TimeZone::UTC;
        let periods = wall_periods(&tz, ts("2024-01-01T00:00:00Z"), ts("2024-01-03T00:00:00Z"), |_| vec![(540, 1020)]);
        assert_eq!(
            periods,
            vec![
                (ts("2024-01-01T09:00:00Z"), ts("2024-01-01T17:00:00Z")),
                (ts("2024-01-02T09:00:00Z"), ts("2024-01-02T17:00:00Z")),
            ]
        );
    }

    #[test]
    fn wall_periods_clip_to_the_window_and_join_across_midnight() {
        let tz = TimeZone::UTC;
        let day = |_| vec![(0, DAY_MINUTES)];
        let periods = wall_periods(&tz, ts("2024-01-01T05:00:00Z"), ts("2024-01-03T07:00:00Z"), day);
        assert_eq!(periods, vec![(ts("2024-01-01T05:00:00Z"), ts("2024-01-03T07:00:00Z"))]);
    }
}
