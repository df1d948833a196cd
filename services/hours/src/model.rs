//! The stored shapes of working hours (R11.1-R11.7), one JSON document each. Structs are
//! `#[serde(default)]` and ignore unknown fields, like the routing configuration, so a
//! document written by another version still loads; [`crate::validate`] refuses what is
//! wrong. Shift times are minutes of the day; dates are civil dates (`"2024-12-25"`);
//! instants are RFC 3339 (`"2024-03-10T07:00:00Z"`).

use jiff::civil::{Date, Weekday};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Minutes in a day: the internal end of a shift that runs through midnight.
pub const DAY_MINUTES: u16 = 24 * 60;
/// 23:59, the end of the day as a shift end (R11.3): the shift runs through midnight.
pub const END_OF_DAY: u16 = DAY_MINUTES - 1;
/// Shift times are multiples of this many minutes (R11.3).
pub const STEP_MINUTES: u16 = 5;

/// One working period of a day, `[start, end)` in minutes since midnight (R11.3): 5-minute
/// steps, `end` after `start`, and [`END_OF_DAY`] (23:59) as an end means "through
/// midnight". An overnight shift is two shifts, one on each day (R11.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shift {
    /// Minutes since midnight, a multiple of 5 in 0..=1435.
    pub start: u16,
    /// Minutes since midnight, a multiple of 5 in 5..=1435, or 1439 (23:59) for midnight.
    pub end: u16,
}

impl Shift {
    /// A shift from `start` to `end` minutes since midnight.
    pub const fn new(start: u16, end: u16) -> Self {
        Self { start, end }
    }

    /// A shift from `HH:MM` to `HH:MM`, in whole numbers (for tests and examples).
    pub const fn hm(start: (u16, u16), end: (u16, u16)) -> Self {
        Self::new(start.0 * 60 + start.1, end.0 * 60 + end.1)
    }

    /// The end in minutes with 23:59 read as 24:00, so a shift ending at 23:59 touches one
    /// that starts at 00:00 the next day.
    pub const fn end_minute(self) -> u16 {
        if self.end == END_OF_DAY {
            DAY_MINUTES
        } else {
            self.end
        }
    }
}

/// R11.3: the shifts sorted by start, overlapping or touching ones merged
/// (10:00-15:00 + 12:00-18:00 = 10:00-18:00). Expects valid shifts.
pub fn merge_shifts(shifts: &[Shift]) -> Vec<Shift> {
    let mut sorted = shifts.to_vec();
    sorted.sort();
    let mut merged: Vec<Shift> = Vec::with_capacity(sorted.len());
    for shift in sorted {
        match merged.last_mut() {
            Some(last) if shift.start <= last.end_minute() => {
                if shift.end_minute() > last.end_minute() {
                    last.end = shift.end;
                }
            }
            _ => merged.push(shift),
        }
    }
    merged
}

/// The hours of one day: all day, listed shifts, or none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "HoursDoc", into = "HoursDoc")]
pub enum Hours {
    /// Open all day, 00:00-23:59 (the default of a weekday, R11.3).
    #[default]
    AllHours,
    /// Open during these shifts; stored as written, merged when compiled (R11.3).
    Custom(Vec<Shift>),
    /// Closed all day (the default of an occasion, R11.5).
    Off,
}

/// The JSON status of a day or an occasion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// [`Hours::AllHours`].
    AllHours,
    /// [`Hours::Custom`].
    Custom,
    /// [`Hours::Off`].
    Off,
}

/// `{"status": "custom", "shifts": [...]}`, the JSON form of [`Hours`]; a missing status is
/// all hours for a weekday and off for an occasion (see [`OccasionDoc`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct HoursDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    shifts: Vec<Shift>,
}

impl HoursDoc {
    /// Shifts only with `custom`: a manager who sent shifts with another status meant
    /// something the document does not say, so it is refused rather than dropped.
    fn into_hours(self, default: Status) -> Result<Hours, String> {
        match self.status.unwrap_or(default) {
            Status::Custom => Ok(Hours::Custom(self.shifts)),
            _ if !self.shifts.is_empty() => Err("shifts are only allowed with status \"custom\"".into()),
            Status::AllHours => Ok(Hours::AllHours),
            Status::Off => Ok(Hours::Off),
        }
    }
}

impl TryFrom<HoursDoc> for Hours {
    type Error = String;
    fn try_from(doc: HoursDoc) -> Result<Self, String> {
        doc.into_hours(Status::AllHours)
    }
}

impl From<Hours> for HoursDoc {
    fn from(hours: Hours) -> Self {
        match hours {
            Hours::AllHours => Self { status: Some(Status::AllHours), shifts: Vec::new() },
            Hours::Custom(shifts) => Self { status: Some(Status::Custom), shifts },
            Hours::Off => Self { status: Some(Status::Off), shifts: Vec::new() },
        }
    }
}

/// The hours of each weekday; a day left out is [`Hours::AllHours`] (R11.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Week {
    pub monday: Hours,
    pub tuesday: Hours,
    pub wednesday: Hours,
    pub thursday: Hours,
    pub friday: Hours,
    pub saturday: Hours,
    pub sunday: Hours,
}

impl Week {
    /// The same hours every day.
    pub fn every_day(hours: Hours) -> Self {
        Self::from_fn(|_| hours.clone())
    }

    /// Hours per weekday from a function.
    pub fn from_fn(mut hours: impl FnMut(Weekday) -> Hours) -> Self {
        Self {
            monday: hours(Weekday::Monday),
            tuesday: hours(Weekday::Tuesday),
            wednesday: hours(Weekday::Wednesday),
            thursday: hours(Weekday::Thursday),
            friday: hours(Weekday::Friday),
            saturday: hours(Weekday::Saturday),
            sunday: hours(Weekday::Sunday),
        }
    }

    /// The hours of `day`.
    pub fn day(&self, day: Weekday) -> &Hours {
        match day {
            Weekday::Monday => &self.monday,
            Weekday::Tuesday => &self.tuesday,
            Weekday::Wednesday => &self.wednesday,
            Weekday::Thursday => &self.thursday,
            Weekday::Friday => &self.friday,
            Weekday::Saturday => &self.saturday,
            Weekday::Sunday => &self.sunday,
        }
    }

    /// Each weekday with its JSON field name, Monday first.
    pub fn days(&self) -> [(&'static str, Weekday, &Hours); 7] {
        [
            ("monday", Weekday::Monday, &self.monday),
            ("tuesday", Weekday::Tuesday, &self.tuesday),
            ("wednesday", Weekday::Wednesday, &self.wednesday),
            ("thursday", Weekday::Thursday, &self.thursday),
            ("friday", Weekday::Friday, &self.friday),
            ("saturday", Weekday::Saturday, &self.saturday),
            ("sunday", Weekday::Sunday, &self.sunday),
        ]
    }
}

/// R11.3: a workdays object, the weekly working hours in one time zone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Workdays {
    /// Shown to managers; required.
    pub name: String,
    /// Free text.
    pub description: String,
    /// IANA time zone name, e.g. `"America/New_York"`: shifts are wall-clock times there.
    pub time_zone: String,
    /// The hours of each weekday.
    pub days: Week,
}

/// R11.5: one special occasion, a range of dates with their own hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OccasionDoc", into = "OccasionDoc")]
pub struct Occasion {
    /// E.g. "Christmas".
    pub name: String,
    /// First date, in the occasions' time zone.
    pub from: Date,
    /// Last date, inclusive.
    pub to: Date,
    /// The hours of each of its dates; [`Hours::Off`] when the JSON has no status.
    pub hours: Hours,
}

/// `{"name", "from", "to", "status", "shifts"}`, the JSON form of [`Occasion`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OccasionDoc {
    #[serde(default)]
    name: String,
    from: Date,
    to: Date,
    #[serde(flatten)]
    hours: HoursDoc,
}

impl TryFrom<OccasionDoc> for Occasion {
    type Error = String;
    fn try_from(doc: OccasionDoc) -> Result<Self, String> {
        let hours = doc.hours.into_hours(Status::Off)?;
        Ok(Self { name: doc.name, from: doc.from, to: doc.to, hours })
    }
}

impl From<Occasion> for OccasionDoc {
    fn from(occasion: Occasion) -> Self {
        Self { name: occasion.name, from: occasion.from, to: occasion.to, hours: occasion.hours.into() }
    }
}

/// R11.5: a special occasions object, dated exceptions to the workdays in one time zone.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SpecialOccasions {
    /// Shown to managers; required.
    pub name: String,
    /// IANA time zone name: the occasions' dates and shifts are wall-clock there.
    pub time_zone: String,
    /// The occasions; an empty list means "no special occasions" (R11.7).
    pub occasions: Vec<Occasion>,
}

/// R11.2: the shift status a manager sets in manual mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ManualStatus {
    /// Open.
    #[default]
    Online,
    /// Closed until `next_shift_start`, then [`ManualStatus::Online`] again.
    OffHours {
        /// When the status switches back to online.
        next_shift_start: Timestamp,
    },
}

impl ManualStatus {
    /// R11.2: the status in force at `now`: off hours switch back to online at the next
    /// shift start. The caller stores the result so managers see the switch.
    pub fn at(self, now: Timestamp) -> Self {
        match self {
            Self::OffHours { next_shift_start } if now >= next_shift_start => Self::Online,
            status => status,
        }
    }
}

/// R11.1: how the account decides whether it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// A manager's status (the default mode); workdays and occasions are ignored (R11.9).
    Manual(ManualStatus),
    /// The workdays and special occasions decide (R11.3-R11.6).
    Automatic,
    /// R11.11, the legacy mode: off hours while no agent of the skill is logged in. When an
    /// agent will log in is unknown, so schedules count every instant as open (due times run
    /// on, with no delay); only "now" is decided, from the agents' sessions, by the caller.
    LoggedInAgents,
}

impl Default for Mode {
    fn default() -> Self {
        Self::Manual(ManualStatus::Online)
    }
}

/// The working-hours objects assigned at one level, the account's defaults or a skill's
/// own (R11.7).
#[derive(Debug, Clone, Copy, Default)]
pub struct Assignment<'a> {
    /// The workdays object, if one is assigned.
    pub workdays: Option<&'a Workdays>,
    /// The special occasions object, if one is assigned.
    pub occasions: Option<&'a SpecialOccasions>,
}

/// What decides whether a skill (or the account) is open: the account's mode, and the
/// workdays and special occasions that apply (R11.1-R11.7). Compile it with
/// [`Calendar::compile`] to ask questions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Calendar {
    /// Manual status or automatic.
    pub mode: Mode,
    /// Automatic mode: the weekly hours; none means open all hours.
    pub workdays: Option<Workdays>,
    /// Automatic mode: the exceptions; none (or an empty list) means none.
    pub occasions: Option<SpecialOccasions>,
}

impl Calendar {
    /// R11.7: the calendar of a skill: each object the skill references overrides the
    /// account default of its kind. A skill that must have no special occasions while the
    /// account has some references an occasions object with an empty list, which overrides
    /// the account's and contributes nothing. The mode is the account's (R11.2).
    pub fn resolve(mode: Mode, account_default: Assignment<'_>, skill_override: Assignment<'_>) -> Self {
        Self {
            mode,
            workdays: skill_override.workdays.or(account_default.workdays).cloned(),
            occasions: skill_override
                .occasions
                .or(account_default.occasions)
                .filter(|occasions| !occasions.occasions.is_empty())
                .cloned(),
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
