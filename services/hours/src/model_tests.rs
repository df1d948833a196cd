use super::*;
use crate::test_support::{date, occasions, shifts, ts, workdays};

#[test]
fn r11_3_overlapping_shifts_merge() {
    let merged = merge_shifts(&[Shift::hm((12, 0), (18, 0)), Shift::hm((10, 0), (15, 0))]);
    assert_eq!(merged, vec![Shift::hm((10, 0), (18, 0))]);
}

#[test]
fn r11_3_touching_shifts_merge_and_separate_ones_stay() {
    let merged = merge_shifts(&[
        Shift::hm((13, 0), (17, 0)),
        Shift::hm((8, 0), (12, 0)),
        Shift::hm((12, 0), (12, 30)),
        Shift::hm((14, 0), (15, 0)),
    ]);
    assert_eq!(merged, vec![Shift::hm((8, 0), (12, 30)), Shift::hm((13, 0), (17, 0))]);
}

#[test]
fn r11_3_end_of_day_is_through_midnight() {
    let shift = Shift::hm((21, 0), (23, 59));
    assert_eq!(shift.end_minute(), DAY_MINUTES);
    // 23:59 outlasts any 5-minute end, and merging keeps the 23:59 spelling.
    assert_eq!(merge_shifts(&[shift, Shift::hm((22, 0), (23, 55))]), vec![shift]);
    assert_eq!(merge_shifts(&[Shift::hm((22, 0), (23, 55)), shift]), vec![shift]);
}

#[test]
fn r11_2_off_hours_switch_back_to_online_at_the_next_shift_start() {
    let status = ManualStatus::OffHours { next_shift_start: ts("2024-05-06T08:00:00Z") };
    assert_eq!(status.at(ts("2024-05-06T07:59:59Z")), status);
    assert_eq!(status.at(ts("2024-05-06T08:00:00Z")), ManualStatus::Online);
    assert_eq!(ManualStatus::Online.at(ts("2024-05-06T07:00:00Z")), ManualStatus::Online);
}

#[test]
fn r11_1_manual_online_is_the_default_mode() {
    assert_eq!(Mode::default(), Mode::Manual(ManualStatus::Online));
    assert_eq!(Calendar::default().mode, Mode::Manual(ManualStatus::Online));
}

#[test]
fn r11_7_skill_objects_override_the_account_defaults() {
    let account_hours = workdays("Europe/Paris", Week::default());
    let skill_hours = workdays("America/New_York", Week::default());
    let account_occasions =
        occasions("Europe/Paris", vec![crate::test_support::occasion("2024-12-25", "2024-12-25", Hours::Off)]);
    let account = Assignment { workdays: Some(&account_hours), occasions: Some(&account_occasions) };

    let inherited = Calendar::resolve(Mode::Automatic, account, Assignment::default());
    assert_eq!(inherited.workdays.as_ref(), Some(&account_hours));
    assert_eq!(inherited.occasions.as_ref(), Some(&account_occasions));

    let own = Calendar::resolve(Mode::Automatic, account, Assignment { workdays: Some(&skill_hours), occasions: None });
    assert_eq!(own.workdays.as_ref(), Some(&skill_hours), "the skill's workdays override");
    assert_eq!(own.occasions.as_ref(), Some(&account_occasions), "occasions still the account's");
}

#[test]
fn r11_7_an_empty_occasions_list_means_none() {
    let account_occasions =
        occasions("Europe/Paris", vec![crate::test_support::occasion("2024-12-25", "2024-12-25", Hours::Off)]);
    let none = occasions("Europe/Paris", Vec::new());
    let calendar = Calendar::resolve(
        Mode::Automatic,
        Assignment { workdays: None, occasions: Some(&account_occasions) },
        Assignment { workdays: None, occasions: Some(&none) },
    );
    assert_eq!(calendar.occasions, None);
    assert_eq!(
        Calendar::resolve(Mode::Automatic, Assignment::default(), Assignment::default()),
        Calendar { mode: Mode::Automatic, ..Calendar::default() }
    );
}

#[test]
fn json_round_trip_of_a_whole_calendar() {
    let calendar = Calendar {
        mode: Mode::Manual(ManualStatus::OffHours { next_shift_start: ts("2024-05-06T08:00:00Z") }),
        workdays: Some(workdays(
            "America/New_York",
            Week { monday: shifts(&[((9, 0), (12, 0)), ((13, 0), (17, 0))]), sunday: Hours::Off, ..Week::default() },
        )),
        occasions: Some(occasions(
            "America/New_York",
            vec![
                crate::test_support::occasion("2024-12-24", "2024-12-24", shifts(&[((9, 0), (12, 0))])),
                crate::test_support::occasion("2024-12-25", "2024-12-26", Hours::Off),
                crate::test_support::occasion("2024-12-31", "2024-12-31", Hours::AllHours),
            ],
        )),
    };
    let json = serde_json::to_value(&calendar).expect("serialize");
    assert_eq!(
        json["mode"],
        serde_json::json!({"mode": "manual", "status": "off_hours", "next_shift_start": "2024-05-06T08:00:00Z"})
    );
    assert_eq!(
        json["workdays"]["days"]["monday"],
        serde_json::json!({"status": "custom", "shifts": [{"start": 540, "end": 720}, {"start": 780, "end": 1020}]})
    );
    assert_eq!(json["workdays"]["days"]["sunday"], serde_json::json!({"status": "off"}));
    assert_eq!(
        json["occasions"]["occasions"][1],
        serde_json::json!({"name": "occasion", "from": "2024-12-25", "to": "2024-12-26", "status": "off"})
    );
    let back: Calendar = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, calendar);
}

#[test]
fn json_defaults_all_hours_for_a_day_and_off_for_an_occasion() {
    let workdays: Workdays = serde_json::from_str(
        r#"{"name": "w", "time_zone": "UTC", "days": {"monday": {}, "friday": {"status": "off"}}}"#,
    )
    .expect("workdays");
    assert_eq!(workdays.days.monday, Hours::AllHours);
    assert_eq!(workdays.days.tuesday, Hours::AllHours, "a day left out");
    assert_eq!(workdays.days.friday, Hours::Off);

    let occasions: SpecialOccasions = serde_json::from_str(
        r#"{"name": "o", "time_zone": "UTC", "occasions": [{"name": "x", "from": "2024-12-25", "to": "2024-12-25"}]}"#,
    )
    .expect("occasions");
    assert_eq!(occasions.occasions[0].hours, Hours::Off);
    assert_eq!(occasions.occasions[0].from, date("2024-12-25"));

    let automatic: Calendar = serde_json::from_str(r#"{"mode": {"mode": "automatic"}}"#).expect("calendar");
    assert_eq!(automatic.mode, Mode::Automatic);
}

#[test]
fn json_refuses_shifts_without_custom_status() {
    let err = serde_json::from_str::<Hours>(r#"{"status": "off", "shifts": [{"start": 540, "end": 1020}]}"#)
        .expect_err("shifts on an off day");
    assert!(err.to_string().contains("shifts are only allowed with status \"custom\""), "{err}");
}

#[test]
fn r11_11_the_legacy_mode_counts_every_instant_and_is_stored_by_name() {
    let week = Week { monday: shifts(&[((9, 0), (17, 0))]), ..Week::default() };
    let calendar =
        Calendar { mode: Mode::LoggedInAgents, workdays: Some(workdays("UTC", week)), ..Calendar::default() };
    let schedule = calendar.compile().unwrap();
    // The workdays are ignored: whether an agent is logged in decides "now", elsewhere.
    assert!(schedule.is_open(ts("2024-05-05T03:00:00Z")));
    assert_eq!(schedule.closed_period(ts("2024-05-05T03:00:00Z")), None);
    assert_eq!(serde_json::to_value(Mode::LoggedInAgents).unwrap(), serde_json::json!({"mode": "logged_in_agents"}));
}
