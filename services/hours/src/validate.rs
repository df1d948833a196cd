//! Validation of the working-hours objects before they are stored: shift grid and order
//! (R11.3, R11.4), occasion ranges (R11.5), time zones and size limits. The first problem
//! found is reported with the path of the offending field, e.g.
//! `days.monday.shifts[1].start` or `occasions[2]`.

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::model::{Calendar, Hours, ManualStatus, Shift, SpecialOccasions, Workdays, END_OF_DAY, STEP_MINUTES};

/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest workdays description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 2_000;
/// Most shifts in one day (before merging).
pub const MAX_SHIFTS_PER_DAY: usize = 48;
/// Most occasions in one special occasions object.
pub const MAX_OCCASIONS: usize = 500;
/// R11.5: the longest Off occasion, in days.
pub const MAX_OFF_OCCASION_DAYS: i32 = 30;
/// The latest shift start, and the latest shift end short of [`END_OF_DAY`]: 23:55.
pub const LAST_STEP: u16 = END_OF_DAY + 1 - STEP_MINUTES;

/// The first problem the validation found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct HoursError {
    /// Path of the offending field, e.g. `days.monday.shifts[1].start`.
    pub field: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl HoursError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error under `prefix`, e.g. `workdays.` + `days.monday`.
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

type Check = Result<(), HoursError>;

/// The time zone named `name`, from the bundled IANA database (never the host's).
pub fn time_zone(field: &str, name: &str) -> Result<TimeZone, HoursError> {
    if name.is_empty() {
        return Err(HoursError::new(field, "must name an IANA time zone, e.g. \"America/New_York\""));
    }
    TimeZone::get(name).map_err(|_| HoursError::new(field, format!("unknown time zone {name:?}")))
}

impl Workdays {
    /// R11.3, R11.4: a name, a known time zone, and valid shifts on every custom day.
    pub fn validate(&self) -> Check {
        name("name", &self.name)?;
        if self.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(HoursError::new("description", format!("must be at most {MAX_DESCRIPTION_BYTES} bytes")));
        }
        time_zone("time_zone", &self.time_zone)?;
        for (day, _, hours) in self.days.days() {
            hours_ok(&format!("days.{day}"), hours)?;
        }
        Ok(())
    }
}

impl SpecialOccasions {
    /// R11.5: a name, a known time zone, and occasions with ordered dates, valid shifts and
    /// Off occasions of at most [`MAX_OFF_OCCASION_DAYS`] days.
    pub fn validate(&self) -> Check {
        name("name", &self.name)?;
        time_zone("time_zone", &self.time_zone)?;
        if self.occasions.len() > MAX_OCCASIONS {
            return Err(HoursError::new("occasions", format!("at most {MAX_OCCASIONS} occasions")));
        }
        for (i, occasion) in self.occasions.iter().enumerate() {
            let field = format!("occasions[{i}]");
            name(&format!("{field}.name"), &occasion.name)?;
            if occasion.to < occasion.from {
                return Err(HoursError::new(format!("{field}.to"), "must not be before from"));
            }
            // `to` is inclusive: from == to is one day.
            let days = occasion.from.until(occasion.to).map_or(i32::MAX, |span| span.get_days()).saturating_add(1);
            if occasion.hours == Hours::Off && days > MAX_OFF_OCCASION_DAYS {
                return Err(HoursError::new(field, "an Off occasion may last at most 30 days"));
            }
            hours_ok(&field, &occasion.hours)?;
        }
        Ok(())
    }
}

impl ManualStatus {
    /// R11.2: off hours need a next shift start after `now`.
    pub fn validate(&self, now: Timestamp) -> Check {
        match *self {
            Self::OffHours { next_shift_start } if next_shift_start <= now => {
                Err(HoursError::new("next_shift_start", "must be in the future"))
            }
            _ => Ok(()),
        }
    }
}

impl Calendar {
    /// The workdays and occasions it holds, each checked as it is when stored, with fields
    /// under `workdays.` and `occasions.`. The manual status is checked when it is set
    /// ([`ManualStatus::validate`]): a stored one in the past is simply over (R11.2).
    pub fn validate(&self) -> Check {
        if let Some(workdays) = &self.workdays {
            workdays.validate().map_err(|err| err.within("workdays"))?;
        }
        if let Some(occasions) = &self.occasions {
            occasions.validate().map_err(|err| err.within("occasions"))?;
        }
        Ok(())
    }
}

fn name(field: &str, value: &str) -> Check {
    if value.trim().is_empty() {
        return Err(HoursError::new(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        return Err(HoursError::new(field, format!("must be at most {MAX_NAME_BYTES} bytes")));
    }
    Ok(())
}

/// A custom day needs shifts: an empty list would be an Off day that does not say so (and
/// would be reported as a night, not a weekend, R11.12).
fn hours_ok(field: &str, hours: &Hours) -> Check {
    let Hours::Custom(shifts) = hours else { return Ok(()) };
    if shifts.is_empty() {
        return Err(HoursError::new(
            format!("{field}.shifts"),
            "a custom day needs at least one shift; use status \"off\"",
        ));
    }
    if shifts.len() > MAX_SHIFTS_PER_DAY {
        return Err(HoursError::new(format!("{field}.shifts"), format!("at most {MAX_SHIFTS_PER_DAY} shifts")));
    }
    for (i, shift) in shifts.iter().enumerate() {
        shift_ok(&format!("{field}.shifts[{i}]"), shift)?;
    }
    Ok(())
}

/// R11.3: 5-minute steps, 23:59 allowed as an end; R11.4: no overnight shift.
fn shift_ok(field: &str, shift: &Shift) -> Check {
    if shift.start % STEP_MINUTES != 0 {
        return Err(HoursError::new(format!("{field}.start"), "must be a multiple of 5 minutes"));
    }
    if shift.start > LAST_STEP {
        return Err(HoursError::new(format!("{field}.start"), "must be at most 1435 (23:55)"));
    }
    if shift.end != END_OF_DAY {
        if shift.end % STEP_MINUTES != 0 {
            return Err(HoursError::new(
                format!("{field}.end"),
                "must be a multiple of 5 minutes, or 1439 (23:59) for the end of the day",
            ));
        }
        if shift.end > LAST_STEP {
            return Err(HoursError::new(format!("{field}.end"), "must be at most 1439 (23:59, the end of the day)"));
        }
    }
    if shift.end <= shift.start {
        return Err(HoursError::new(
            field,
            format!(
                "{}-{} ends at or before its start; split an overnight shift at midnight (21:00-23:59 and 00:00-01:00)",
                hh_mm(shift.start),
                hh_mm(shift.end)
            ),
        ));
    }
    Ok(())
}

fn hh_mm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
