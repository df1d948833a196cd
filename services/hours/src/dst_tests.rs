//! DST edges in the four zones the issue names (America/New_York, Europe/London,
//! Australia/Sydney, Asia/Jerusalem), 2026's changes, each checked the same four ways: a
//! shift across the spring-forward gap, a shift starting inside it, a shift across the
//! fall-back overlap (with a response time counted over it, R10.11), and a special occasion
//! on the change day (R11.6, R11.12). Peer lesson 13: hours are never a fixed offset.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::due::due;
use crate::model::{Hours, Week};
use crate::schedule::{Delay, DelayKind, Schedule};
use crate::test_support::{automatic, occasion, occasions, shifts, workdays};

/// A zone, its spring-forward date and the hour the gap starts (the wall clock skips
/// `[h, h+1)`), and its fall-back date and the hour the overlap starts (`[h, h+1)` twice).
struct Change {
    zone: &'static str,
    spring: &'static str,
    gap_hour: u16,
    autumn: &'static str,
    overlap_hour: u16,
}

/// 2026's changes (Sydney's autumn comes first in the year: the southern hemisphere).
const CHANGES: [Change; 4] = [
    Change { zone: "America/New_York", spring: "2026-03-08", gap_hour: 2, autumn: "2026-11-01", overlap_hour: 1 },
    Change { zone: "Europe/London", spring: "2026-03-29", gap_hour: 1, autumn: "2026-10-25", overlap_hour: 1 },
    Change { zone: "Australia/Sydney", spring: "2026-10-04", gap_hour: 2, autumn: "2026-04-05", overlap_hour: 2 },
    Change { zone: "Asia/Jerusalem", spring: "2026-03-27", gap_hour: 2, autumn: "2026-10-25", overlap_hour: 1 },
];

const HOUR: SignedDuration = SignedDuration::from_hours(1);
const MIN_MS: u64 = 60_000;

/// The instant the wall clock of `zone` shows `hour:minute` on `date` (an unambiguous time).
fn local(zone: &str, date: &str, hour: u16, minute: u16) -> Timestamp {
    let civil: DateTime = format!("{date}T{hour:02}:{minute:02}:00").parse().expect("a civil time");
    TimeZone::get(zone).expect("a known zone").to_ambiguous_timestamp(civil).unambiguous().expect("an unambiguous time")
}

fn next_date(date: &str) -> String {
    let d: jiff::civil::Date = date.parse().expect("a date");
    d.tomorrow().expect("in range").to_string()
}

fn daily(zone: &str, from: (u16, u16), to: (u16, u16)) -> Schedule {
    automatic(Some(workdays(zone, Week::every_day(shifts(&[(from, to)])))), None)
}

fn first_period(schedule: &Schedule, at: Timestamp) -> (Timestamp, Timestamp) {
    schedule.open_periods(at).next().expect("an open period")
}

/// Open time between two instants.
fn open_between(schedule: &Schedule, from: Timestamp, to: Timestamp) -> SignedDuration {
    schedule
        .open_periods(from)
        .take_while(|(start, _)| *start < to)
        .map(|(start, end)| start.duration_until(end.min(to)))
        .sum()
}

#[test]
fn r11_3_a_shift_across_the_spring_gap_is_an_hour_shorter_in_all_four_zones() {
    for c in &CHANGES {
        let h = c.gap_hour;
        let schedule = daily(c.zone, (h - 1, 0), (h + 2, 0));
        let (start, end) = first_period(&schedule, local(c.zone, c.spring, 0, 0));
        assert_eq!(start, local(c.zone, c.spring, h - 1, 0), "{}", c.zone);
        assert_eq!(start.duration_until(end), 2 * HOUR, "{}: three wall hours, two real", c.zone);
        // The next day the same shift lasts three hours again.
        let next = next_date(c.spring);
        let (start, end) = first_period(&schedule, local(c.zone, &next, 0, 0));
        assert_eq!(start.duration_until(end), 3 * HOUR, "{}", c.zone);
    }
}

#[test]
fn r11_3_a_shift_starting_inside_the_gap_opens_when_the_gap_ends_in_all_four_zones() {
    for c in &CHANGES {
        let h = c.gap_hour;
        let schedule = daily(c.zone, (h, 30), (h + 2, 0));
        let (start, end) = first_period(&schedule, local(c.zone, c.spring, 0, 0));
        assert_eq!(start, local(c.zone, c.spring, h + 1, 0), "{}: h:30 never shows", c.zone);
        assert_eq!(start.duration_until(end), HOUR, "{}", c.zone);
    }
}

#[test]
fn r11_3_r10_11_a_shift_across_the_autumn_overlap_is_an_hour_longer_and_counts_so_in_all_four_zones() {
    for c in &CHANGES {
        let h = c.overlap_hour;
        let schedule = daily(c.zone, (h - 1, 0), (h + 2, 0));
        let opens = local(c.zone, c.autumn, h - 1, 0);
        let (start, end) = first_period(&schedule, opens);
        assert_eq!((start, start.duration_until(end)), (opens, 4 * HOUR), "{}", c.zone);
        // 230 minutes fit in the lengthened shift; 250 carry 10 minutes into the next day.
        let fits = due(&schedule, opens, 230 * MIN_MS).expect("due");
        assert_eq!(fits.at, opens + SignedDuration::from_mins(230), "{}", c.zone);
        let carried = due(&schedule, opens, 250 * MIN_MS).expect("due");
        assert_eq!(carried.at, local(c.zone, &next_date(c.autumn), h - 1, 10), "{}", c.zone);
    }
}

#[test]
fn r11_6_r11_12_an_occasion_on_the_change_day_covers_the_days_real_length_in_all_four_zones() {
    for c in &CHANGES {
        for (date, hours) in [(c.spring, 23), (c.autumn, 25)] {
            let next = next_date(date);
            let (midnight, next_midnight) = (local(c.zone, date, 0, 0), local(c.zone, &next, 0, 0));
            // A working occasion on a closed week: open the whole date, however long it is.
            let on_holiday_duty = automatic(
                Some(workdays(c.zone, Week::every_day(Hours::Off))),
                Some(occasions(c.zone, vec![occasion(date, date, Hours::AllHours)])),
            );
            let open = open_between(&on_holiday_duty, midnight, next_midnight + HOUR);
            assert_eq!(open, SignedDuration::from_hours(hours), "{} {date}", c.zone);
            // An off occasion on an open week: closed for the holiday until the next midnight.
            let holiday = automatic(
                Some(workdays(c.zone, Week::every_day(Hours::AllHours))),
                Some(occasions(c.zone, vec![occasion(date, date, Hours::Off)])),
            );
            let noon = local(c.zone, date, 12, 0);
            let expected = Some(Delay { kind: DelayKind::Holiday, until: next_midnight });
            assert_eq!(holiday.closed_period(noon), expected, "{} {date}", c.zone);
            assert!(holiday.is_open(midnight - SignedDuration::from_secs(1)), "{} {date}", c.zone);
        }
    }
}
