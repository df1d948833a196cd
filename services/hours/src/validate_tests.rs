use super::*;
use crate::model::{Hours, Mode, Occasion, Week};
use crate::test_support::{date, occasion, occasions, shifts, ts, workdays};

fn refused_workdays(workdays: &Workdays) -> String {
    workdays.validate().expect_err("expected a refusal").to_string()
}

fn refused_occasions(occasions: &SpecialOccasions) -> String {
    occasions.validate().expect_err("expected a refusal").to_string()
}

fn monday(hours: Hours) -> Workdays {
    workdays("Europe/Paris", Week { monday: hours, ..Week::default() })
}

#[test]
fn defaults_and_a_nine_to_five_are_valid() {
    assert_eq!(workdays("UTC", Week::default()).validate(), Ok(()));
    assert_eq!(crate::test_support::nine_to_five("America/New_York").validate(), Ok(()));
}

#[test]
fn r11_3_shift_times_in_5_minute_steps() {
    let err = refused_workdays(&monday(Hours::Custom(vec![Shift::new(540, 600), Shift::new(602, 700)])));
    assert_eq!(err, "days.monday.shifts[1].start: must be a multiple of 5 minutes");
    let err = refused_workdays(&monday(Hours::Custom(vec![Shift::new(540, 601)])));
    assert_eq!(
        err,
        "days.monday.shifts[0].end: must be a multiple of 5 minutes, or 1439 (23:59) for the end of the day"
    );
    assert_eq!(monday(Hours::Custom(vec![Shift::new(0, 5), Shift::new(1430, 1435)])).validate(), Ok(()));
}

#[test]
fn r11_3_end_of_day_is_23_59_and_nothing_later() {
    assert_eq!(monday(shifts(&[((21, 0), (23, 59))])).validate(), Ok(()));
    assert_eq!(monday(shifts(&[((0, 0), (23, 59))])).validate(), Ok(()));
    let err = refused_workdays(&monday(Hours::Custom(vec![Shift::new(1320, 1440)])));
    assert_eq!(err, "days.monday.shifts[0].end: must be at most 1439 (23:59, the end of the day)");
    let err = refused_workdays(&monday(Hours::Custom(vec![Shift::new(1440, 1439)])));
    assert_eq!(err, "days.monday.shifts[0].start: must be at most 1435 (23:55)");
}

#[test]
fn r11_4_overnight_shift_is_refused() {
    let err = refused_workdays(&workdays(
        "UTC",
        Week { friday: shifts(&[((9, 0), (12, 0)), ((21, 0), (1, 0))]), ..Week::default() },
    ));
    assert_eq!(
        err,
        "days.friday.shifts[1]: 21:00-01:00 ends at or before its start; split an overnight shift at midnight \
         (21:00-23:59 and 00:00-01:00)"
    );
    let err = refused_workdays(&monday(shifts(&[((9, 0), (9, 0))])));
    assert!(err.starts_with("days.monday.shifts[0]: 09:00-09:00 ends at or before its start"), "{err}");
}

#[test]
fn r11_3_a_custom_day_needs_shifts() {
    let err = refused_workdays(&monday(Hours::Custom(Vec::new())));
    assert_eq!(err, "days.monday.shifts: a custom day needs at least one shift; use status \"off\"");
    let many = Hours::Custom((0..=MAX_SHIFTS_PER_DAY as u16).map(|i| Shift::new(i * 10, i * 10 + 5)).collect());
    assert_eq!(refused_workdays(&monday(many)), "days.monday.shifts: at most 48 shifts");
}

#[test]
fn time_zone_must_be_a_known_iana_name() {
    let mut hours = workdays("Mars/Base", Week::default());
    assert_eq!(refused_workdays(&hours), "time_zone: unknown time zone \"Mars/Base\"");
    hours.time_zone = String::new();
    assert_eq!(refused_workdays(&hours), "time_zone: must name an IANA time zone, e.g. \"America/New_York\"");
    for known in ["America/New_York", "Pacific/Apia", "Asia/Kolkata", "UTC", "Etc/GMT+5"] {
        hours.time_zone = known.into();
        assert_eq!(hours.validate(), Ok(()), "{known}");
    }
}

#[test]
fn names_are_required_and_bounded() {
    let mut hours = workdays("UTC", Week::default());
    hours.name = "  ".into();
    assert_eq!(refused_workdays(&hours), "name: must not be empty");
    hours.name = "x".repeat(MAX_NAME_BYTES + 1);
    assert_eq!(refused_workdays(&hours), "name: must be at most 200 bytes");
    hours.name = "ok".into();
    hours.description = "x".repeat(MAX_DESCRIPTION_BYTES + 1);
    assert_eq!(refused_workdays(&hours), "description: must be at most 2000 bytes");
    let mut list = occasions("UTC", vec![occasion("2024-12-25", "2024-12-25", Hours::Off)]);
    list.occasions[0].name = String::new();
    assert_eq!(refused_occasions(&list), "occasions[0].name: must not be empty");
}

#[test]
fn r11_5_an_off_occasion_lasts_at_most_30_days() {
    let thirty = occasion("2024-07-01", "2024-07-30", Hours::Off);
    let thirty_one = occasion("2024-07-01", "2024-07-31", Hours::Off);
    let working = occasion("2024-07-01", "2024-09-30", shifts(&[((10, 0), (12, 0))]));
    let list = occasions("UTC", vec![working.clone(), thirty.clone(), thirty_one]);
    assert_eq!(refused_occasions(&list), "occasions[2]: an Off occasion may last at most 30 days");
    assert_eq!(occasions("UTC", vec![working, thirty]).validate(), Ok(()), "30 days, and a long working occasion");
}

#[test]
fn r11_5_occasion_dates_in_order_and_shifts_valid() {
    let backwards = occasions("UTC", vec![occasion("2024-12-26", "2024-12-25", Hours::Off)]);
    assert_eq!(refused_occasions(&backwards), "occasions[0].to: must not be before from");
    let bad_shift =
        occasions("UTC", vec![occasion("2024-12-24", "2024-12-24", Hours::Custom(vec![Shift::new(543, 600)]))]);
    assert_eq!(refused_occasions(&bad_shift), "occasions[0].shifts[0].start: must be a multiple of 5 minutes");
    let mut zone = occasions("Mars/Base", Vec::new());
    assert_eq!(refused_occasions(&zone), "time_zone: unknown time zone \"Mars/Base\"");
    zone.time_zone = "UTC".into();
    zone.occasions =
        vec![
            Occasion { name: "x".into(), from: date("2024-01-01"), to: date("2024-01-01"), hours: Hours::Off };
            MAX_OCCASIONS + 1
        ];
    assert_eq!(refused_occasions(&zone), "occasions: at most 500 occasions");
}

#[test]
fn r11_2_off_hours_need_a_future_next_shift_start() {
    let now = ts("2024-05-06T08:00:00Z");
    let status = ManualStatus::OffHours { next_shift_start: now };
    assert_eq!(status.validate(now).map_err(|e| e.to_string()), Err("next_shift_start: must be in the future".into()));
    let later = ManualStatus::OffHours { next_shift_start: ts("2024-05-06T08:00:01Z") };
    assert_eq!(later.validate(now), Ok(()));
    assert_eq!(ManualStatus::Online.validate(now), Ok(()));
}

#[test]
fn calendar_errors_name_the_object() {
    let calendar =
        Calendar { mode: Mode::Automatic, workdays: Some(monday(Hours::Custom(Vec::new()))), occasions: None };
    let err = calendar.compile().expect_err("invalid workdays");
    assert_eq!(err.field, "workdays.days.monday.shifts");
    let calendar = Calendar {
        mode: Mode::Automatic,
        workdays: None,
        occasions: Some(occasions("Mars/Base", vec![occasion("2024-12-25", "2024-12-25", Hours::Off)])),
    };
    assert_eq!(calendar.validate().map_err(|e| e.field), Err("occasions.time_zone".into()));
}
