//! Working hours between their gRPC shape (`switchyard.admin.v1`, hours.proto) and their
//! stored one (`switchyard-hours`): shift times as "HH:MM" or "h:mm am/pm", dates as
//! "2026-12-25", day statuses with their defaults (a weekday all hours, an occasion off). The
//! shift grid, time zones and ranges are the domain's validation; a decoded object's error
//! names the request's field.

use switchyard_hours::{
    Date, Delay, DelayKind, Hours, HoursError, Mode, Occasion, Shift, SpecialOccasions, Timestamp, Week, Workdays,
    DAY_MINUTES,
};
use switchyard_kit::ServiceError;
use switchyard_proto::admin::v1 as pb;
use switchyard_routing::HoursConfig;

type Decoded<T> = Result<T, ServiceError>;

/// Minutes since midnight of `"HH:MM"` (24 h) or `"h:mm am"` / `"h:mm pm"` (R11.3's form).
pub fn parse_time(field: &str, text: &str) -> Decoded<u16> {
    let bad = || ServiceError::invalid(field, format!("{text:?} is not a time like \"09:30\" or \"9:30 am\""));
    let lower = text.trim().to_ascii_lowercase();
    let (clock, meridiem) = match lower.strip_suffix("am").or_else(|| lower.strip_suffix("pm")) {
        Some(clock) => (clock.trim_end(), Some(lower.ends_with("pm"))),
        None => (lower.as_str(), None),
    };
    let (hour, minute) = clock.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u16>().ok()).flatten()
    };
    let (hour, minute) = (digits(hour, 1..=2).ok_or_else(bad)?, digits(minute, 2..=2).ok_or_else(bad)?);
    let hour = match meridiem {
        None if hour < 24 => hour,
        Some(pm) if (1..=12).contains(&hour) => hour % 12 + if pm { 12 } else { 0 },
        _ => return Err(bad()),
    };
    if minute >= 60 {
        return Err(bad());
    }
    Ok(hour * 60 + minute)
}

/// `"HH:MM"`.
pub fn format_time(minutes: u16) -> String {
    let minutes = minutes.min(DAY_MINUTES - 1);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn shifts_from(field: &str, shifts: &[pb::Shift]) -> Decoded<Vec<Shift>> {
    shifts
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = format!("{field}.shifts[{i}]");
            Ok(Shift::new(parse_time(&format!("{at}.start"), &s.start)?, parse_time(&format!("{at}.end"), &s.end)?))
        })
        .collect()
}

/// A day's hours; `unspecified` is what an unset status means (shifts listed: custom).
fn hours_from(field: &str, status: i32, shifts: &[pb::Shift], unspecified: Hours) -> Decoded<Hours> {
    let status = pb::DayStatus::try_from(status)
        .map_err(|_| ServiceError::invalid(format!("{field}.status"), "unknown status"))?;
    let listed = shifts_from(field, shifts)?;
    match status {
        pb::DayStatus::Custom => Ok(Hours::Custom(listed)),
        pb::DayStatus::Unspecified if !listed.is_empty() => Ok(Hours::Custom(listed)),
        _ if !listed.is_empty() => Err(ServiceError::invalid(format!("{field}.shifts"), "only with status custom")),
        pb::DayStatus::Unspecified => Ok(unspecified),
        pb::DayStatus::AllHours => Ok(Hours::AllHours),
        pb::DayStatus::Off => Ok(Hours::Off),
    }
}

fn hours_to(hours: &Hours) -> (i32, Vec<pb::Shift>) {
    match hours {
        Hours::AllHours => (pb::DayStatus::AllHours as i32, Vec::new()),
        Hours::Off => (pb::DayStatus::Off as i32, Vec::new()),
        Hours::Custom(shifts) => (
            pb::DayStatus::Custom as i32,
            shifts.iter().map(|s| pb::Shift { start: format_time(s.start), end: format_time(s.end) }).collect(),
        ),
    }
}

fn day_from(field: &str, day: &Option<pb::DayHours>) -> Decoded<Hours> {
    match day {
        None => Ok(Hours::AllHours),
        Some(day) => hours_from(field, day.status, &day.shifts, Hours::AllHours),
    }
}

fn day_to(hours: &Hours) -> Option<pb::DayHours> {
    let (status, shifts) = hours_to(hours);
    Some(pb::DayHours { status, shifts })
}

/// The domain's error on a decoded object, under the request field `prefix`.
pub fn refusal(prefix: &str, err: HoursError) -> ServiceError {
    let field = err.field.strip_prefix("days.").unwrap_or(&err.field);
    ServiceError::invalid(format!("{prefix}.{field}"), err.message)
}

/// A workdays object from the request field `field`, validated.
pub fn workdays_from(field: &str, p: &pb::Workdays) -> Decoded<Workdays> {
    let day = |name: &str, value: &Option<pb::DayHours>| day_from(&format!("{field}.{name}"), value);
    let workdays = Workdays {
        name: p.name.clone(),
        description: p.description.clone(),
        time_zone: p.time_zone.clone(),
        days: Week {
            monday: day("monday", &p.monday)?,
            tuesday: day("tuesday", &p.tuesday)?,
            wednesday: day("wednesday", &p.wednesday)?,
            thursday: day("thursday", &p.thursday)?,
            friday: day("friday", &p.friday)?,
            saturday: day("saturday", &p.saturday)?,
            sunday: day("sunday", &p.sunday)?,
        },
    };
    workdays.validate().map_err(|err| refusal(field, err))?;
    Ok(workdays)
}

pub fn workdays_to(d: &Workdays) -> pb::Workdays {
    let w = &d.days;
    pb::Workdays {
        name: d.name.clone(),
        description: d.description.clone(),
        time_zone: d.time_zone.clone(),
        monday: day_to(&w.monday),
        tuesday: day_to(&w.tuesday),
        wednesday: day_to(&w.wednesday),
        thursday: day_to(&w.thursday),
        friday: day_to(&w.friday),
        saturday: day_to(&w.saturday),
        sunday: day_to(&w.sunday),
    }
}

fn date(field: &str, text: &str) -> Decoded<Date> {
    text.parse().map_err(|_| ServiceError::invalid(field, format!("{text:?} is not a date like \"2026-12-25\"")))
}

/// A special-occasions object from the request field `field`, validated.
pub fn occasions_from(field: &str, p: &pb::SpecialOccasions) -> Decoded<SpecialOccasions> {
    let occasions = p
        .occasions
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let at = format!("{field}.occasions[{i}]");
            Ok(Occasion {
                name: o.name.clone(),
                from: date(&format!("{at}.from"), &o.from)?,
                to: date(&format!("{at}.to"), &o.to)?,
                hours: hours_from(&at, o.status, &o.shifts, Hours::Off)?,
            })
        })
        .collect::<Decoded<Vec<_>>>()?;
    let occasions = SpecialOccasions { name: p.name.clone(), time_zone: p.time_zone.clone(), occasions };
    occasions.validate().map_err(|err| refusal(field, err))?;
    Ok(occasions)
}

pub fn occasions_to(d: &SpecialOccasions) -> pb::SpecialOccasions {
    pb::SpecialOccasions {
        name: d.name.clone(),
        time_zone: d.time_zone.clone(),
        occasions: d
            .occasions
            .iter()
            .map(|o| {
                let (status, shifts) = hours_to(&o.hours);
                pb::Occasion { name: o.name.clone(), from: o.from.to_string(), to: o.to.to_string(), status, shifts }
            })
            .collect(),
    }
}

pub fn mode_to(mode: Mode) -> (pb::HoursMode, i64) {
    match mode {
        Mode::Automatic => (pb::HoursMode::Automatic, 0),
        Mode::LoggedInAgents => (pb::HoursMode::LoggedInAgents, 0),
        Mode::Manual(switchyard_hours::ManualStatus::Online) => (pb::HoursMode::Manual, 0),
        Mode::Manual(switchyard_hours::ManualStatus::OffHours { next_shift_start }) => {
            (pb::HoursMode::Manual, next_shift_start.as_millisecond())
        }
    }
}

pub fn working_hours_to(d: &HoursConfig) -> pb::WorkingHours {
    let (mode, off_hours_until_ms) = mode_to(d.mode);
    pb::WorkingHours {
        mode: mode as i32,
        off_hours_until_ms,
        workdays: d.workdays.iter().map(|(id, w)| (id.clone(), workdays_to(w))).collect(),
        occasions: d.occasions.iter().map(|(id, o)| (id.clone(), occasions_to(o))).collect(),
        default_workdays_id: d.default_workdays_id.clone().unwrap_or_default(),
        default_occasions_id: d.default_occasions_id.clone().unwrap_or_default(),
    }
}

/// RFC 3339 in UTC, e.g. `2026-12-26T13:00:00Z`.
pub fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}

pub fn delay_to(delay: Delay) -> pb::Delay {
    let kind = match delay.kind {
        DelayKind::Night => pb::DelayKind::Night,
        DelayKind::Weekend => pb::DelayKind::Weekend,
        DelayKind::Holiday => pb::DelayKind::Holiday,
    };
    pb::Delay { kind: kind as i32, until_ms: delay.until.as_millisecond(), until: rfc3339(delay.until) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_24_hour_and_am_pm_form_r11_3() {
        let cases = [
            ("09:30", 570),
            ("9:30", 570),
            ("00:00", 0),
            ("23:59", 1439),
            ("9:30 am", 570),
            ("9:30AM", 570),
            ("12:00 am", 0),
            ("12:05 pm", 725),
            ("11:59 pm", 1439),
            ("1:00 pm", 780),
        ];
        for (text, minutes) in cases {
            assert_eq!(parse_time("t", text).ok(), Some(minutes), "{text}");
        }
        for bad in ["", "9", "24:00", "9:5", "13:00 pm", "0:30 am", "9:60", "nine", "-1:00", "9:30 xm"] {
            assert!(parse_time("t", bad).is_err(), "{bad}");
        }
        assert_eq!(format_time(570), "09:30");
        assert_eq!(format_time(1439), "23:59");
    }

    #[test]
    fn a_day_defaults_by_kind_and_shifts_imply_custom() {
        let shift = pb::Shift { start: "09:00".into(), end: "5:00 pm".into() };
        let custom = hours_from("d", 0, std::slice::from_ref(&shift), Hours::AllHours).unwrap_or(Hours::Off);
        assert_eq!(custom, Hours::Custom(vec![Shift::new(540, 1020)]));
        assert_eq!(hours_from("d", 0, &[], Hours::Off).ok(), Some(Hours::Off));
        assert_eq!(day_from("d", &None).ok(), Some(Hours::AllHours));
        let off_with_shifts = hours_from("d", pb::DayStatus::Off as i32, &[shift], Hours::AllHours);
        assert!(off_with_shifts.is_err());
    }
}
