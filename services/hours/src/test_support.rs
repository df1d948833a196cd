//! Builders shared by the unit tests: fixed instants, never the wall clock.

use jiff::civil::{Date, Weekday};
use jiff::Timestamp;

use crate::model::{Calendar, Hours, Mode, Occasion, Shift, SpecialOccasions, Week, Workdays};
use crate::schedule::Schedule;

/// An RFC 3339 instant, e.g. `"2024-03-10T07:00:00Z"` or `"2024-03-10T03:00:00-04:00"`.
pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("an RFC 3339 instant")
}

/// A civil date, `"2024-12-25"`.
pub fn date(s: &str) -> Date {
    s.parse().expect("a civil date")
}

/// `(hour, minute)`.
pub type Hm = (u16, u16);

/// Custom hours from `(start, end)` pairs of `(hour, minute)`.
pub fn shifts(list: &[(Hm, Hm)]) -> Hours {
    Hours::Custom(list.iter().map(|&(start, end)| Shift::hm(start, end)).collect())
}

/// A valid workdays object in `time_zone`.
pub fn workdays(time_zone: &str, days: Week) -> Workdays {
    Workdays { name: "hours".into(), description: String::new(), time_zone: time_zone.into(), days }
}

/// Monday to Friday 09:00-17:00, weekends off.
pub fn nine_to_five(time_zone: &str) -> Workdays {
    workdays(
        time_zone,
        Week::from_fn(|day| match day {
            Weekday::Saturday | Weekday::Sunday => Hours::Off,
            _ => shifts(&[((9, 0), (17, 0))]),
        }),
    )
}

/// One occasion from `from` to `to` (inclusive).
pub fn occasion(from: &str, to: &str, hours: Hours) -> Occasion {
    Occasion { name: "occasion".into(), from: date(from), to: date(to), hours }
}

/// A valid special occasions object in `time_zone`.
pub fn occasions(time_zone: &str, list: Vec<Occasion>) -> SpecialOccasions {
    SpecialOccasions { name: "occasions".into(), time_zone: time_zone.into(), occasions: list }
}

/// The automatic schedule of these objects.
pub fn automatic(workdays: Option<Workdays>, occasions: Option<SpecialOccasions>) -> Schedule {
    Calendar { mode: Mode::Automatic, workdays, occasions }.compile().expect("a valid calendar")
}
