use jiff::SignedDuration;

use super::*;
use crate::model::{Calendar, Hours, ManualStatus, Mode, Week};
use crate::schedule::DelayKind;
use crate::test_support::{automatic, nine_to_five, shifts, ts, workdays};

const MINUTE_MS: u64 = 60_000;

fn due_at(schedule: &Schedule, started_at: &str, response_ms: u64) -> Timestamp {
    due(schedule, ts(started_at), response_ms).expect("due within the horizon").at
}

#[test]
fn r10_10_offline_20_to_08_sla_15_min_message_at_midnight_is_due_at_08_15() {
    let schedule = automatic(Some(workdays("Europe/Paris", Week::every_day(shifts(&[((8, 0), (20, 0))])))), None);
    let started_at = ts("2024-05-07T00:00:00+02:00");
    let due = due(&schedule, started_at, 15 * MINUTE_MS).expect("due");
    assert_eq!(due.at, ts("2024-05-07T08:15:00+02:00"));
    assert_eq!(started_at.duration_until(due.at), SignedDuration::from_mins(8 * 60 + 15), "8 h 15 min");
    assert_eq!(due.delay, Some(Delay { kind: DelayKind::Night, until: ts("2024-05-07T08:00:00+02:00") }));
}

#[test]
fn r10_10_while_open_the_response_time_simply_runs() {
    let schedule = automatic(Some(nine_to_five("Europe/Paris")), None);
    let due = due(&schedule, ts("2024-05-07T10:00:00+02:00"), 15 * MINUTE_MS).expect("due");
    assert_eq!(due, Due { at: ts("2024-05-07T10:15:00+02:00"), delay: None });
    // Exactly the rest of the shift: due at its end, not at the next start.
    assert_eq!(due_at(&schedule, "2024-05-07T16:30:00+02:00", 30 * MINUTE_MS), ts("2024-05-07T17:00:00+02:00"));
}

#[test]
fn r10_11_a_shift_ending_mid_sla_carries_the_rest_into_the_next_shift() {
    let schedule = automatic(Some(nine_to_five("Europe/Paris")), None);
    // 16:50 + 30 min: 10 min today, the other 20 from 09:00 tomorrow.
    let due = due(&schedule, ts("2024-05-07T16:50:00+02:00"), 30 * MINUTE_MS).expect("due");
    assert_eq!(due, Due { at: ts("2024-05-08T09:20:00+02:00"), delay: None });
    // Friday 16:50 carries over the weekend.
    assert_eq!(due_at(&schedule, "2024-05-10T16:50:00+02:00", 30 * MINUTE_MS), ts("2024-05-13T09:20:00+02:00"));
}

#[test]
fn r10_11_carries_across_several_shifts_of_a_day() {
    let schedule =
        automatic(Some(workdays("UTC", Week::every_day(shifts(&[((9, 0), (12, 0)), ((13, 0), (17, 0))])))), None);
    // 11:00 + 2 h 30: 1 h before the break, 1 h 30 after it.
    assert_eq!(due_at(&schedule, "2024-05-07T11:00:00Z", 150 * MINUTE_MS), ts("2024-05-07T14:30:00Z"));
    // A whole day's 7 h and 1 h more: 09:00 + 8 h open is 10:00 the next day.
    assert_eq!(due_at(&schedule, "2024-05-07T09:00:00Z", 8 * 60 * MINUTE_MS), ts("2024-05-08T10:00:00Z"));
}

#[test]
fn r10_11_a_shift_shortened_by_dst_counts_its_real_length() {
    // 2024-03-10 01:00-03:00 in New York is one real hour: 90 min leaves 30 for the next day.
    let schedule = automatic(Some(workdays("America/New_York", Week::every_day(shifts(&[((1, 0), (3, 0))])))), None);
    assert_eq!(due_at(&schedule, "2024-03-10T01:00:00-05:00", 90 * MINUTE_MS), ts("2024-03-11T01:30:00-04:00"));
    // 2024-11-03 00:00-02:00 is three real hours: 150 min fit in it.
    let schedule = automatic(Some(workdays("America/New_York", Week::every_day(shifts(&[((0, 0), (2, 0))])))), None);
    assert_eq!(due_at(&schedule, "2024-11-03T00:00:00-04:00", 150 * MINUTE_MS), ts("2024-11-03T01:30:00-05:00"));
}

#[test]
fn r10_10_a_long_sla_over_always_open_weeks_is_plain_addition() {
    let schedule = automatic(None, None);
    let thirty_days = 30 * 24 * 60 * MINUTE_MS;
    assert_eq!(due_at(&schedule, "2024-05-07T10:00:00Z", thirty_days), ts("2024-06-06T10:00:00Z"));
}

#[test]
fn r11_2_manual_off_hours_count_from_the_next_shift_start() {
    let next_shift_start = ts("2024-06-10T08:00:00Z");
    let schedule = Calendar { mode: Mode::Manual(ManualStatus::OffHours { next_shift_start }), ..Calendar::default() }
        .compile()
        .expect("valid");
    let due = due(&schedule, ts("2024-06-09T22:00:00Z"), 15 * MINUTE_MS).expect("due");
    assert_eq!(
        due,
        Due { at: ts("2024-06-10T08:15:00Z"), delay: Some(Delay { kind: DelayKind::Night, until: next_shift_start }) }
    );
    let online = Calendar::default().compile().expect("valid");
    assert_eq!(due_at(&online, "2024-06-09T22:00:00Z", 15 * MINUTE_MS), ts("2024-06-09T22:15:00Z"));
}

#[test]
fn r11_12_a_zero_response_time_is_due_at_the_opening() {
    let schedule = automatic(Some(nine_to_five("America/New_York")), None);
    let due = due(&schedule, ts("2024-06-08T12:00:00-04:00"), 0).expect("due");
    assert_eq!(due.at, ts("2024-06-10T09:00:00-04:00"));
    assert_eq!(due.delay.map(|d| d.kind), Some(DelayKind::Weekend));
}

#[test]
fn never_open_long_enough_has_no_due_time() {
    let closed = automatic(Some(workdays("UTC", Week::every_day(Hours::Off))), None);
    assert_eq!(due(&closed, ts("2024-01-01T00:00:00Z"), MINUTE_MS), None);
    // One hour a week cannot hold 30 days of response time within the horizon.
    let one_hour = Week { monday: shifts(&[((9, 0), (10, 0))]), ..Week::every_day(Hours::Off) };
    let sparse = automatic(Some(workdays("UTC", one_hour)), None);
    assert_eq!(due(&sparse, ts("2024-01-01T00:00:00Z"), 30 * 24 * 60 * MINUTE_MS), None);
}

#[test]
fn due_serializes_for_the_conversation_record() {
    let due = Due {
        at: ts("2024-05-07T08:15:00Z"),
        delay: Some(Delay { kind: DelayKind::Holiday, until: ts("2024-05-07T08:00:00Z") }),
    };
    assert_eq!(
        serde_json::to_value(due).expect("json"),
        serde_json::json!({"at": "2024-05-07T08:15:00Z", "delay": {"kind": "holiday", "until": "2024-05-07T08:00:00Z"}})
    );
}
