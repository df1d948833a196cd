//! Working hours in the account's routing configuration (R11.1-R11.7): the named workdays and
//! special-occasions objects, the account defaults, the mode, and each skill's own objects;
//! and the due times the router orders the queue by (R10.4, R10.10, R10.11), counted only
//! while the conversation's skill is open. The objects and the calendar arithmetic are
//! `switchyard-hours`; this module only says which objects apply to which skill.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_hours::{
    Assignment, Calendar, Due, ManualStatus, Mode, Schedule, SpecialOccasions, Timestamp, Workdays,
};

use crate::config::{RoutingConfig, UNASSIGNED_SKILL};
use crate::validate::{fail, invalid, short_id, Check, ErrorKind};

/// Most workdays objects, and most special-occasions objects, per account.
pub const MAX_HOURS_OBJECTS: usize = 100;

/// The account's working hours (R11.1-R11.7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct HoursConfig {
    /// Manual status (the default: online) or automatic (R11.1, R11.2).
    pub mode: Mode,
    /// Workdays objects by id (R11.3).
    pub workdays: BTreeMap<String, Workdays>,
    /// Special-occasions objects by id (R11.5).
    pub occasions: BTreeMap<String, SpecialOccasions>,
    /// The account's default workdays object (R11.7, `isDefault`); none: all hours.
    pub default_workdays_id: Option<String>,
    /// The account's default special-occasions object (R11.7); none: no occasions.
    pub default_occasions_id: Option<String>,
}

impl HoursConfig {
    fn assignment(&self, workdays_id: Option<&String>, occasions_id: Option<&String>) -> Assignment<'_> {
        Assignment {
            workdays: workdays_id.and_then(|id| self.workdays.get(id)),
            occasions: occasions_id.and_then(|id| self.occasions.get(id)),
        }
    }

    /// Manual mode with the status online (the default), or the legacy mode whose schedule
    /// counts every instant (R11.11): open at every instant.
    pub fn is_open_all_the_time(&self) -> bool {
        matches!(self.mode, Mode::Manual(ManualStatus::Online) | Mode::LoggedInAgents)
    }
}

impl RoutingConfig {
    /// R11.7: the calendar of `skill_id`: the skill's own workdays and occasions objects,
    /// each overriding the account default of its kind, under the account's mode. The
    /// unassigned skill -1 has the account's.
    pub fn calendar(&self, skill_id: &str) -> Calendar {
        let hours = &self.hours;
        let account = hours.assignment(hours.default_workdays_id.as_ref(), hours.default_occasions_id.as_ref());
        let skill = if skill_id == UNASSIGNED_SKILL {
            Assignment::default()
        } else {
            let skill = self.skill(skill_id);
            hours.assignment(skill.workdays_id.as_ref(), skill.occasions_id.as_ref())
        };
        Calendar::resolve(hours.mode, account, skill)
    }

    /// The compiled calendar of `skill_id`. A stored calendar that no longer compiles (a
    /// time zone a newer database dropped) counts as open all hours: routing never stops
    /// on it, and the admin read shows the problem.
    pub fn schedule(&self, skill_id: &str) -> Schedule {
        self.calendar(skill_id).compile().unwrap_or_else(|_| Schedule::open_all_hours())
    }

    /// R10.4, R10.10, R10.11: when a response to a wait of `skill_id` that started at
    /// `started_ms` is due after `response_ms` of working hours: the closed time until the
    /// next shift is skipped and a shift's unused part carries into the next. Open all the
    /// time (the default) it is plain addition. A calendar not open long enough within
    /// [`switchyard_hours::HORIZON_DAYS`] yields the plain sum too, never "never".
    pub fn due_ms(&self, skill_id: &str, started_ms: i64, response_ms: u64) -> i64 {
        let plain = started_ms.saturating_add(i64::try_from(response_ms).unwrap_or(i64::MAX));
        if self.hours.is_open_all_the_time() {
            return plain;
        }
        self.due(skill_id, started_ms, response_ms).map_or(plain, |due| due.at.as_millisecond())
    }

    /// The working hours: each object valid (`switchyard-hours`), at most
    /// [`MAX_HOURS_OBJECTS`] of each kind, and every reference (the account defaults, each
    /// skill's own) naming an object of the right kind.
    pub(crate) fn validate_hours(&self) -> Check {
        let hours = &self.hours;
        let kinds = [("workdays", hours.workdays.len()), ("occasions", hours.occasions.len())];
        for (kind, count) in kinds {
            if count > MAX_HOURS_OBJECTS {
                return invalid(format!("hours.{kind}"), format!("at most {MAX_HOURS_OBJECTS} objects"));
            }
        }
        for (id, workdays) in &hours.workdays {
            let at = format!("hours.workdays[{id}]");
            short_id(&at, id)?;
            workdays.validate().or_else(|err| invalid(format!("{at}.{}", err.field), err.message))?;
        }
        for (id, occasions) in &hours.occasions {
            let at = format!("hours.occasions[{id}]");
            short_id(&at, id)?;
            occasions.validate().or_else(|err| invalid(format!("{at}.{}", err.field), err.message))?;
        }
        let mut references = vec![
            ("hours.default_workdays_id".to_string(), hours.default_workdays_id.as_ref(), true),
            ("hours.default_occasions_id".to_string(), hours.default_occasions_id.as_ref(), false),
        ];
        for (skill_id, skill) in &self.skills {
            let own = [
                (skill.workdays_id.as_ref(), "workdays_id", true),
                (skill.occasions_id.as_ref(), "occasions_id", false),
            ];
            for (id, name, workdays) in own {
                let field = format!("skills[{skill_id}].{name}");
                if id.is_some() && skill_id == UNASSIGNED_SKILL {
                    return invalid(field, "the unassigned skill -1 keeps the account's working hours");
                }
                references.push((field, id, workdays));
            }
        }
        for (field, id, workdays) in references {
            let Some(id) = id else { continue };
            let exists = if workdays { hours.workdays.contains_key(id) } else { hours.occasions.contains_key(id) };
            if !exists {
                let kind = if workdays { "workdays" } else { "special occasions" };
                return fail(ErrorKind::UnknownObject, field, format!("no {kind} object {id}"));
            }
        }
        Ok(())
    }

    /// [`RoutingConfig::due_ms`] with the closed period waited through (R11.12); `None`
    /// when the calendar is not open long enough within the horizon.
    pub fn due(&self, skill_id: &str, started_ms: i64, response_ms: u64) -> Option<Due> {
        let started = Timestamp::from_millisecond(started_ms).ok()?;
        switchyard_hours::due(&self.schedule(skill_id), started, response_ms)
    }
}

#[cfg(test)]
#[path = "hours_tests.rs"]
mod tests;
