#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use switchyard_hours::{DelayKind, Hours, Occasion, Shift, Week};

use super::*;
use crate::config::SkillRouting;
use crate::validate::ErrorKind;

const MIN: u64 = 60_000;

fn ms(rfc3339: &str) -> i64 {
    rfc3339.parse::<Timestamp>().expect("an RFC 3339 instant").as_millisecond()
}

/// Open 08:00-20:00 every day in `time_zone` (offline 20:00-08:00, R10.10's example).
fn eight_to_eight(time_zone: &str) -> Workdays {
    Workdays {
        name: "day shift".into(),
        description: String::new(),
        time_zone: time_zone.into(),
        days: Week::every_day(Hours::Custom(vec![Shift::hm((8, 0), (20, 0))])),
    }
}

fn automatic(workdays: Workdays) -> RoutingConfig {
    let mut config = RoutingConfig::default();
    config.hours.mode = Mode::Automatic;
    config.hours.workdays.insert("day".into(), workdays);
    config.hours.default_workdays_id = Some("day".into());
    config
}

fn known() -> BTreeSet<String> {
    ["sales", "support"].into_iter().map(String::from).collect()
}

#[test]
fn open_all_the_time_by_default_the_due_time_is_plain_addition() {
    let config = RoutingConfig::default();
    assert_eq!(config.due_ms("sales", 1_000, 15 * MIN), 1_000 + 15 * MIN as i64);
    assert_eq!(config.due("sales", 1_000, 15 * MIN).unwrap().delay, None);
}

#[test]
fn a_message_at_midnight_is_due_8_h_15_min_later_r10_10() {
    let config = automatic(eight_to_eight("America/New_York"));
    let due = config.due("sales", ms("2026-12-01T00:00:00-05:00"), 15 * MIN).unwrap();
    assert_eq!(due.at.as_millisecond(), ms("2026-12-01T08:15:00-05:00"));
    let delay = due.delay.unwrap();
    assert_eq!((delay.kind, delay.until.as_millisecond()), (DelayKind::Night, ms("2026-12-01T08:00:00-05:00")));
    assert_eq!(config.due_ms("sales", ms("2026-12-01T00:00:00-05:00"), 15 * MIN), ms("2026-12-01T08:15:00-05:00"));
}

#[test]
fn what_a_shift_did_not_use_carries_into_the_next_r10_11() {
    let config = automatic(eight_to_eight("Europe/London"));
    // 19:50 with 15 minutes: 10 minutes today, 5 tomorrow from 08:00.
    let due = config.due_ms("sales", ms("2026-12-01T19:50:00Z"), 15 * MIN);
    assert_eq!(due, ms("2026-12-02T08:05:00Z"));
}

#[test]
fn a_skills_own_objects_override_the_account_defaults_and_minus_1_keeps_the_accounts_r11_7() {
    let mut config = automatic(eight_to_eight("America/New_York"));
    config.hours.workdays.insert("always".into(), Workdays { time_zone: "UTC".into(), ..eight_to_eight("UTC") });
    config.hours.workdays.get_mut("always").unwrap().days = Week::every_day(Hours::AllHours);
    config.skills.insert("support".into(), SkillRouting { workdays_id: Some("always".into()), ..Default::default() });
    let midnight = ms("2026-12-01T00:00:00-05:00");
    assert_eq!(config.due_ms("support", midnight, 15 * MIN), midnight + 15 * MIN as i64);
    assert_eq!(config.due_ms("sales", midnight, 15 * MIN), ms("2026-12-01T08:15:00-05:00"));
    assert_eq!(config.due_ms(UNASSIGNED_SKILL, midnight, 15 * MIN), ms("2026-12-01T08:15:00-05:00"));

    // An occasions object with an empty list gives the skill none while the account has one.
    let christmas = Occasion {
        name: "Christmas".into(),
        from: "2026-12-25".parse().unwrap(),
        to: "2026-12-25".parse().unwrap(),
        hours: Hours::Off,
    };
    let holidays =
        SpecialOccasions { name: "US".into(), time_zone: "America/New_York".into(), occasions: vec![christmas] };
    config.hours.occasions.insert("us".into(), holidays);
    config
        .hours
        .occasions
        .insert("none".into(), SpecialOccasions { name: "none".into(), time_zone: "UTC".into(), occasions: vec![] });
    config.hours.default_occasions_id = Some("us".into());
    config.skills.insert("sales".into(), SkillRouting { occasions_id: Some("none".into()), ..Default::default() });
    let christmas_morning = ms("2026-12-25T09:00:00-05:00");
    assert_eq!(config.due_ms("sales", christmas_morning, 15 * MIN), christmas_morning + 15 * MIN as i64);
    let on_hold = config.due(UNASSIGNED_SKILL, christmas_morning, 15 * MIN).unwrap();
    assert_eq!(on_hold.delay.unwrap().kind, DelayKind::Holiday);
    assert_eq!(on_hold.at.as_millisecond(), ms("2026-12-26T08:15:00-05:00"));
    assert_eq!(config.validate(&known()), Ok(()));
}

#[test]
fn manual_off_hours_hold_the_count_until_the_next_shift_start_r11_2() {
    let mut config = RoutingConfig::default();
    let next = ms("2026-12-01T09:00:00Z");
    config.hours.mode =
        Mode::Manual(ManualStatus::OffHours { next_shift_start: Timestamp::from_millisecond(next).unwrap() });
    assert_eq!(config.due_ms("sales", ms("2026-12-01T07:00:00Z"), 15 * MIN), next + 15 * MIN as i64);
    // After the next shift start it is online again by itself.
    let later = ms("2026-12-01T10:00:00Z");
    assert_eq!(config.due_ms("sales", later, 15 * MIN), later + 15 * MIN as i64);
}

#[test]
fn the_document_round_trips_through_json_with_its_hours() {
    let mut config = automatic(eight_to_eight("Australia/Sydney"));
    config.skills.insert("sales".into(), SkillRouting { workdays_id: Some("day".into()), ..Default::default() });
    let back = RoutingConfig::from_json(&config.to_json().unwrap()).unwrap();
    assert_eq!(back, config);
    // A document written before working hours existed loads with the defaults.
    let old = RoutingConfig::from_json(br#"{"account":{},"skills":{"sales":{}}}"#).unwrap();
    assert_eq!(old.hours, HoursConfig::default());
    assert_eq!(old.skill("sales").workdays_id, None);
}

#[test]
fn references_must_name_objects_of_their_kind() {
    let mut config = automatic(eight_to_eight("America/New_York"));
    config.hours.default_occasions_id = Some("day".into());
    let err = config.validate(&known()).unwrap_err();
    assert_eq!((err.kind, err.field.as_str()), (ErrorKind::UnknownObject, "hours.default_occasions_id"));

    let mut config = automatic(eight_to_eight("America/New_York"));
    config.skills.insert("sales".into(), SkillRouting { workdays_id: Some("night".into()), ..Default::default() });
    let err = config.validate(&known()).unwrap_err();
    assert_eq!((err.kind, err.field.as_str()), (ErrorKind::UnknownObject, "skills[sales].workdays_id"));

    let mut config = automatic(eight_to_eight("America/New_York"));
    config
        .skills
        .insert(UNASSIGNED_SKILL.into(), SkillRouting { workdays_id: Some("day".into()), ..Default::default() });
    let err = config.validate(&known()).unwrap_err();
    assert_eq!((err.kind, err.field.as_str()), (ErrorKind::Invalid, "skills[-1].workdays_id"));
}

#[test]
fn an_invalid_object_is_refused_with_the_path_of_its_field() {
    let mut config = automatic(eight_to_eight("America/New_York"));
    config.hours.workdays.get_mut("day").unwrap().days.monday = Hours::Custom(vec![Shift::new(480, 483)]);
    let err = config.validate(&known()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.field.starts_with("hours.workdays[day].days.monday.shifts[0]"), "{err}");

    let config = automatic(eight_to_eight("Mars/Olympus_Mons"));
    let err = config.validate(&known()).unwrap_err();
    assert_eq!(err.field, "hours.workdays[day].time_zone", "{err}");

    let mut config = RoutingConfig::default();
    config.hours.workdays.insert("no spaces".into(), eight_to_eight("UTC"));
    assert_eq!(config.validate(&known()).unwrap_err().field, "hours.workdays[no spaces]");
}
