use super::*;
use crate::model::{Week, Workdays};
use crate::test_support::{automatic, nine_to_five, occasion, occasions, shifts, ts, workdays};

const NEW_YORK: &str = "America/New_York";

fn every_day(time_zone: &str, hours: Hours) -> Workdays {
    workdays(time_zone, Week::every_day(hours))
}

/// The first `n` open periods from `at`.
fn periods(schedule: &Schedule, at: &str, n: usize) -> Vec<(Timestamp, Timestamp)> {
    schedule.open_periods(ts(at)).take(n).collect()
}

fn delay(kind: DelayKind, until: &str) -> Option<Delay> {
    Some(Delay { kind, until: ts(until) })
}

// --- R11.3: wall-clock hours across DST (peer lesson 13: never a fixed offset) ---

#[test]
fn r11_3_spring_forward_shift_across_the_gap_lasts_one_real_hour() {
    // 2024-03-10: 02:00 EST jumps to 03:00 EDT; 01:00-03:00 is 06:00Z-07:00Z.
    let schedule = automatic(Some(every_day(NEW_YORK, shifts(&[((1, 0), (3, 0))]))), None);
    assert_eq!(
        periods(&schedule, "2024-03-10T00:00:00-05:00", 2),
        vec![
            (ts("2024-03-10T06:00:00Z"), ts("2024-03-10T07:00:00Z")),
            (ts("2024-03-11T01:00:00-04:00"), ts("2024-03-11T03:00:00-04:00")),
        ]
    );
    assert!(schedule.is_open(ts("2024-03-10T01:59:59-05:00")));
    assert!(!schedule.is_open(ts("2024-03-10T03:00:00-04:00")), "03:00 EDT is the end");
}

#[test]
fn r11_3_spring_forward_shift_starting_in_the_gap_opens_when_the_gap_ends() {
    // 02:30 never happens on 2024-03-10: the clock shows 03:00 EDT, past 02:30, at 07:00Z.
    let schedule = automatic(Some(every_day(NEW_YORK, shifts(&[((2, 30), (5, 0))]))), None);
    assert_eq!(
        periods(&schedule, "2024-03-10T00:00:00-05:00", 1),
        vec![(ts("2024-03-10T03:00:00-04:00"), ts("2024-03-10T05:00:00-04:00"))]
    );
}

#[test]
fn r11_3_fall_back_shift_across_the_repeated_hour_lasts_three_real_hours() {
    // 2024-11-03: 02:00 EDT falls back to 01:00 EST, so 01:00-02:00 happens twice.
    let schedule = automatic(Some(every_day(NEW_YORK, shifts(&[((0, 0), (2, 0))]))), None);
    let first = periods(&schedule, "2024-11-03T00:00:00-04:00", 1);
    assert_eq!(first, vec![(ts("2024-11-03T04:00:00Z"), ts("2024-11-03T07:00:00Z"))]);
    assert_eq!(first[0].0.duration_until(first[0].1), SignedDuration::from_hours(3));
    assert!(schedule.is_open(ts("2024-11-03T01:30:00-05:00")), "the second 01:30");
    assert!(!schedule.is_open(ts("2024-11-03T02:00:00-05:00")));
}

#[test]
fn r11_3_fall_back_shift_ending_in_the_repeated_hour_is_open_both_times_the_clock_shows_it() {
    // The rule is the wall clock: 00:00-01:30 holds during both 01:00-01:30s.
    let schedule = automatic(Some(every_day(NEW_YORK, shifts(&[((0, 0), (1, 30))]))), None);
    assert_eq!(
        periods(&schedule, "2024-11-03T00:00:00-04:00", 2),
        vec![
            (ts("2024-11-03T00:00:00-04:00"), ts("2024-11-03T01:30:00-04:00")),
            (ts("2024-11-03T01:00:00-05:00"), ts("2024-11-03T01:30:00-05:00")),
        ]
    );
}

#[test]
fn r11_3_next_open_on_dst_days_is_the_local_shift_start() {
    let schedule = automatic(Some(every_day(NEW_YORK, shifts(&[((9, 0), (17, 0))]))), None);
    // A fixed -05:00 would say 14:00Z on 2024-03-10 (an hour late, Rocket.Chat#4898).
    assert_eq!(schedule.next_open(ts("2024-03-09T23:00:00-05:00")), Some(ts("2024-03-10T13:00:00Z")));
    assert_eq!(schedule.next_open(ts("2024-11-02T20:00:00-04:00")), Some(ts("2024-11-03T14:00:00Z")));
    assert_eq!(schedule.next_open(ts("2024-03-10T10:00:00-04:00")), Some(ts("2024-03-10T10:00:00-04:00")), "open now");
}

#[test]
fn r11_3_a_day_that_starts_at_one_when_dst_begins_at_midnight() {
    // America/Sao_Paulo, 2018-11-04: 00:00 -03 jumped to 01:00 -02, so 00:00-00:59 never
    // happened and an all-hours Sunday is 23 real hours long.
    let sundays = Week::from_fn(|day| if day == jiff::civil::Weekday::Sunday { Hours::AllHours } else { Hours::Off });
    let schedule = automatic(Some(workdays("America/Sao_Paulo", sundays)), None);
    let open = periods(&schedule, "2018-11-03T12:00:00-03:00", 1);
    assert_eq!(open, vec![(ts("2018-11-04T01:00:00-02:00"), ts("2018-11-05T00:00:00-02:00"))]);
    assert_eq!(open[0].0.duration_until(open[0].1), SignedDuration::from_hours(23));
    assert_eq!(open[0].0, ts("2018-11-04T03:00:00Z"), "the transition instant, 00:00 -03 = 01:00 -02");
}

// --- Pacific/Apia skipped 2011-12-30 (UTC-10 to UTC+14) ---

#[test]
fn apia_has_no_2011_12_30() {
    let schedule = automatic(Some(every_day("Pacific/Apia", shifts(&[((9, 0), (17, 0))]))), None);
    assert_eq!(
        periods(&schedule, "2011-12-29T00:00:00-10:00", 2),
        vec![
            (ts("2011-12-29T09:00:00-10:00"), ts("2011-12-29T17:00:00-10:00")),
            (ts("2011-12-31T09:00:00+14:00"), ts("2011-12-31T17:00:00+14:00")),
        ]
    );
    // Thursday is followed by Saturday: a Friday-only week next opens on 2012-01-06.
    let fridays = workdays(
        "Pacific/Apia",
        Week::from_fn(
            |day| if day == jiff::civil::Weekday::Friday { shifts(&[((9, 0), (17, 0))]) } else { Hours::Off },
        ),
    );
    let schedule = automatic(Some(fridays), None);
    assert_eq!(schedule.next_open(ts("2011-12-29T18:00:00-10:00")), Some(ts("2012-01-06T09:00:00+14:00")));
    assert_eq!(
        schedule.closed_period(ts("2011-12-31T02:00:00+14:00")),
        delay(DelayKind::Weekend, "2012-01-06T09:00:00+14:00")
    );
}

#[test]
fn apia_occasions_on_the_skipped_date_have_no_instants() {
    let closed = every_day("Pacific/Apia", Hours::Off);
    let on_the_skipped_day = occasions("Pacific/Apia", vec![occasion("2011-12-30", "2011-12-30", Hours::AllHours)]);
    let schedule = automatic(Some(closed.clone()), Some(on_the_skipped_day));
    assert_eq!(schedule.next_open(ts("2011-12-29T00:00:00-10:00")), None);
    // Three dates, two real days.
    let three_dates = occasions("Pacific/Apia", vec![occasion("2011-12-29", "2011-12-31", Hours::AllHours)]);
    let schedule = automatic(Some(closed), Some(three_dates));
    let open = periods(&schedule, "2011-12-28T00:00:00-10:00", 1);
    assert_eq!(open, vec![(ts("2011-12-29T00:00:00-10:00"), ts("2012-01-01T00:00:00+14:00"))]);
    assert_eq!(open[0].0.duration_until(open[0].1), SignedDuration::from_hours(48));
}

// --- R11.12: closed periods, and the 9-to-5 week ---

#[test]
fn r11_12_nine_to_five_weekend_until_monday_nine_local() {
    let schedule = automatic(Some(nine_to_five(NEW_YORK)), None);
    let monday_nine = "2024-06-10T09:00:00-04:00";
    assert_eq!(schedule.closed_period(ts("2024-06-08T12:00:00-04:00")), delay(DelayKind::Weekend, monday_nine));
    assert_eq!(schedule.closed_period(ts("2024-06-09T23:59:00-04:00")), delay(DelayKind::Weekend, monday_nine));
    assert_eq!(schedule.closed_period(ts("2024-06-07T18:00:00-04:00")), delay(DelayKind::Night, monday_nine));
    assert_eq!(schedule.closed_period(ts("2024-06-10T08:00:00-04:00")), delay(DelayKind::Night, monday_nine));
    assert_eq!(schedule.closed_period(ts(monday_nine)), None);
    assert!(schedule.is_open(ts("2024-06-07T16:59:59-04:00")));
    assert!(!schedule.is_open(ts("2024-06-07T17:00:00-04:00")));
}

#[test]
fn r11_12_never_open_within_the_horizon() {
    let schedule = automatic(Some(every_day("UTC", Hours::Off)), None);
    let at = ts("2024-01-01T00:00:00Z");
    assert_eq!(schedule.next_open(at), None);
    let closed = schedule.closed_period(at).expect("closed");
    assert_eq!(closed.kind, DelayKind::Weekend);
    assert_eq!(at.duration_until(closed.until), SignedDuration::from_hours(24 * HORIZON_DAYS));
}

#[test]
fn r11_3_without_workdays_it_is_open_all_hours() {
    let schedule = automatic(None, None);
    assert!(schedule.is_open(ts("2024-06-08T03:00:00Z")));
    assert_eq!(schedule.closed_period(ts("2024-06-08T03:00:00Z")), None);
}

#[test]
fn r11_4_split_overnight_shift_runs_through_midnight() {
    let hours = shifts(&[((0, 0), (1, 0)), ((21, 0), (23, 59))]);
    let schedule = automatic(Some(every_day("Europe/Paris", hours)), None);
    assert_eq!(
        periods(&schedule, "2024-05-06T12:00:00+02:00", 1),
        vec![(ts("2024-05-06T21:00:00+02:00"), ts("2024-05-07T01:00:00+02:00"))]
    );
    assert!(schedule.is_open(ts("2024-05-06T23:59:30+02:00")), "23:59 means through midnight");
}

// --- R11.5, R11.6: special occasions ---

#[test]
fn r11_6_occasions_replace_workdays_on_their_dates() {
    let list = occasions(
        NEW_YORK,
        vec![
            occasion("2024-12-24", "2024-12-24", shifts(&[((9, 0), (12, 0))])),
            occasion("2024-12-25", "2024-12-25", Hours::Off),
            occasion("2024-12-28", "2024-12-28", Hours::AllHours),
        ],
    );
    let schedule = automatic(Some(nine_to_five(NEW_YORK)), Some(list));
    assert!(schedule.is_open(ts("2024-12-24T11:00:00-05:00")));
    // Closed by the occasion from 12:00, through Christmas, until the workdays' Thursday.
    assert_eq!(
        schedule.closed_period(ts("2024-12-24T13:00:00-05:00")),
        delay(DelayKind::Holiday, "2024-12-26T09:00:00-05:00")
    );
    assert_eq!(
        schedule.closed_period(ts("2024-12-25T10:00:00-05:00")),
        delay(DelayKind::Holiday, "2024-12-26T09:00:00-05:00")
    );
    // A Saturday opened all day by an occasion, and the Sunday after it off again.
    assert!(schedule.is_open(ts("2024-12-28T03:00:00-05:00")));
    assert_eq!(
        schedule.closed_period(ts("2024-12-29T03:00:00-05:00")),
        delay(DelayKind::Weekend, "2024-12-30T09:00:00-05:00")
    );
}

#[test]
fn r11_5_a_non_working_occasion_beats_a_working_one() {
    let working = occasion("2024-12-20", "2024-12-31", shifts(&[((10, 0), (12, 0))]));
    let off = occasion("2024-12-25", "2024-12-25", Hours::Off);
    for list in [vec![working.clone(), off.clone()], vec![off, working]] {
        let schedule = automatic(Some(nine_to_five(NEW_YORK)), Some(occasions(NEW_YORK, list)));
        assert!(!schedule.is_open(ts("2024-12-25T11:00:00-05:00")));
        assert!(schedule.is_open(ts("2024-12-26T11:00:00-05:00")));
        assert_eq!(
            schedule.closed_period(ts("2024-12-26T09:30:00-05:00")),
            delay(DelayKind::Holiday, "2024-12-26T10:00:00-05:00"),
            "the occasion's hours replace 09:00-17:00"
        );
    }
}

#[test]
fn r11_5_overlapping_working_occasions_merge() {
    let list = vec![
        occasion("2024-12-23", "2024-12-24", shifts(&[((10, 0), (12, 0))])),
        occasion("2024-12-24", "2024-12-24", shifts(&[((11, 0), (14, 0))])),
        occasion("2024-12-23", "2024-12-23", Hours::AllHours),
    ];
    let schedule = automatic(Some(nine_to_five(NEW_YORK)), Some(occasions(NEW_YORK, list)));
    assert_eq!(
        periods(&schedule, "2024-12-24T00:00:00-05:00", 1),
        vec![(ts("2024-12-24T10:00:00-05:00"), ts("2024-12-24T14:00:00-05:00"))]
    );
    assert!(schedule.is_open(ts("2024-12-23T20:00:00-05:00")), "all hours wins over 10:00-12:00");
}

#[test]
fn r11_6_occasions_in_another_time_zone_cover_their_own_dates() {
    // Workdays in UTC; Christmas off in Tokyo (+09:00) is 2024-12-24 15:00Z to 12-25 15:00Z.
    let schedule = automatic(
        Some(every_day("UTC", shifts(&[((9, 0), (17, 0))]))),
        Some(occasions("Asia/Tokyo", vec![occasion("2024-12-25", "2024-12-25", Hours::Off)])),
    );
    assert_eq!(
        periods(&schedule, "2024-12-24T00:00:00Z", 3),
        vec![
            (ts("2024-12-24T09:00:00Z"), ts("2024-12-24T15:00:00Z")),
            (ts("2024-12-25T15:00:00Z"), ts("2024-12-25T17:00:00Z")),
            (ts("2024-12-26T09:00:00Z"), ts("2024-12-26T17:00:00Z")),
        ]
    );
}

// --- R11.1, R11.2, R11.9: manual mode ---

#[test]
fn r11_2_manual_off_hours_until_the_next_shift_start() {
    let next_shift_start = ts("2024-06-10T08:00:00Z");
    let calendar = Calendar {
        mode: Mode::Manual(ManualStatus::OffHours { next_shift_start }),
        workdays: Some(every_day("UTC", Hours::AllHours)),
        occasions: None,
    };
    let schedule = calendar.compile().expect("valid");
    assert!(!schedule.is_open(ts("2024-06-10T07:59:59Z")), "manual mode ignores the workdays (R11.9)");
    assert_eq!(
        schedule.closed_period(ts("2024-06-09T20:00:00Z")),
        Some(Delay { kind: DelayKind::Night, until: next_shift_start })
    );
    assert_eq!(schedule.next_open(ts("2024-06-09T20:00:00Z")), Some(next_shift_start));
    assert!(schedule.is_open(next_shift_start), "online again at the next shift start");
    assert!(schedule.is_open(ts("2025-01-01T00:00:00Z")));
}

#[test]
fn r11_9_manual_online_is_open_whatever_the_workdays_say() {
    let calendar =
        Calendar { mode: Mode::Manual(ManualStatus::Online), workdays: Some(nine_to_five(NEW_YORK)), occasions: None };
    let schedule = calendar.compile().expect("valid");
    let saturday = ts("2024-06-08T12:00:00-04:00");
    assert!(schedule.is_open(saturday));
    assert_eq!(schedule.next_open(saturday), Some(saturday));
    assert_eq!(schedule.closed_period(saturday), None);
}
