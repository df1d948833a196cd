//! A [`Calendar`] compiled for questions: time zones looked up and shifts merged once, so
//! the queries cannot fail. Everything is computed in real instants from the wall-clock
//! rules ([`crate::timeline`]); nothing reads the clock.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::model::{merge_shifts, Calendar, Hours, ManualStatus, Mode, SpecialOccasions, Workdays, DAY_MINUTES};
use crate::timeline::{join, subtract, wall_periods, Minutes, Period};
use crate::validate::{time_zone, HoursError};

/// How far ahead the queries look for an opening: beyond it a calendar counts as closed.
pub const HORIZON_DAYS: i64 = 400;
const HORIZON: SignedDuration = SignedDuration::from_hours(24 * HORIZON_DAYS);
/// Open periods are computed a week at a time.
const CHUNK: SignedDuration = SignedDuration::from_hours(24 * 7);
/// The shortest window: one instant.
const INSTANT: SignedDuration = SignedDuration::from_nanos(1);

/// R11.12: why a conversation waits for the opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayKind {
    /// Closed outside the day's shifts, or by a manager's off-hours status.
    Night,
    /// Closed on a day that is Off in the workdays.
    Weekend,
    /// Closed by a special occasion (its dates, outside its shifts if it has any).
    Holiday,
}

/// R11.12: the closed period a conversation waits through; response time counts from
/// `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Delay {
    /// Why it is closed.
    pub kind: DelayKind,
    /// The next opening; when there is none within [`HORIZON_DAYS`], the horizon's end
    /// (closed at least until then).
    pub until: Timestamp,
}

/// A validated [`Calendar`], ready for questions.
#[derive(Debug, Clone)]
pub struct Schedule {
    rules: Rules,
}

#[derive(Debug, Clone)]
enum Rules {
    Manual(ManualStatus),
    Automatic { workdays: Option<WeekRules>, occasions: Option<OccasionRules> },
}

#[derive(Debug, Clone)]
struct WeekRules {
    tz: TimeZone,
    /// Merged minutes per weekday, Monday first.
    days: [Vec<Minutes>; 7],
    off: [bool; 7],
}

#[derive(Debug, Clone)]
struct OccasionRules {
    tz: TimeZone,
    /// `(from, to, minutes)`; `None` minutes for an Off occasion.
    occasions: Vec<(Date, Date, Option<Vec<Minutes>>)>,
}

fn minutes(hours: &Hours) -> Vec<Minutes> {
    match hours {
        Hours::AllHours => vec![(0, DAY_MINUTES)],
        Hours::Custom(shifts) => merge_shifts(shifts).iter().map(|s| (s.start, s.end_minute())).collect(),
        Hours::Off => Vec::new(),
    }
}

fn weekday_index(date: Date) -> usize {
    date.weekday().to_monday_zero_offset() as usize
}

impl WeekRules {
    fn new(workdays: &Workdays) -> Result<Self, HoursError> {
        let tz = time_zone("time_zone", &workdays.time_zone)?;
        let all = workdays.days.days();
        Ok(Self {
            tz,
            days: all.map(|(_, _, hours)| minutes(hours)),
            off: all.map(|(_, _, hours)| *hours == Hours::Off),
        })
    }

    fn minutes(&self, date: Date) -> Vec<Minutes> {
        self.days[weekday_index(date)].clone()
    }
}

impl OccasionRules {
    fn new(occasions: &SpecialOccasions) -> Result<Self, HoursError> {
        let tz = time_zone("time_zone", &occasions.time_zone)?;
        let occasions = occasions
            .occasions
            .iter()
            .map(|o| (o.from, o.to, (o.hours != Hours::Off).then(|| minutes(&o.hours))))
            .collect();
        Ok(Self { tz, occasions })
    }

    /// R11.5: the minutes of `date` if occasions cover it: Off if any covering occasion is
    /// Off (a non-working occasion beats a working one), else the union of the working
    /// ones' minutes.
    fn day(&self, date: Date) -> Option<Vec<Minutes>> {
        let mut covering = self.occasions.iter().filter(|(from, to, _)| *from <= date && date <= *to).peekable();
        covering.peek()?;
        let mut union = Vec::new();
        for (_, _, minutes) in covering {
            match minutes {
                None => return Some(Vec::new()),
                Some(minutes) => union.extend_from_slice(minutes),
            }
        }
        union.sort_unstable();
        Some(union)
    }
}

impl Calendar {
    /// Validates the calendar and compiles it for [`Schedule`]'s queries. An occasions
    /// object with an empty list is the same as none (R11.7).
    pub fn compile(&self) -> Result<Schedule, HoursError> {
        self.validate()?;
        let rules = match self.mode {
            Mode::Manual(status) => Rules::Manual(status),
            // R11.11: decided by the agents' sessions, not by time.
            Mode::LoggedInAgents => Rules::Manual(ManualStatus::Online),
            Mode::Automatic => Rules::Automatic {
                workdays: self.workdays.as_ref().map(WeekRules::new).transpose().map_err(|e| e.within("workdays"))?,
                occasions: self
                    .occasions
                    .as_ref()
                    .filter(|o| !o.occasions.is_empty())
                    .map(OccasionRules::new)
                    .transpose()
                    .map_err(|e| e.within("occasions"))?,
            },
        };
        Ok(Schedule { rules })
    }
}

fn add(at: Timestamp, duration: SignedDuration) -> Timestamp {
    at.checked_add(duration).unwrap_or(Timestamp::MAX)
}

impl Schedule {
    /// Open at every instant: the default calendar (manual mode, online).
    pub fn open_all_hours() -> Self {
        Self { rules: Rules::Manual(ManualStatus::Online) }
    }

    /// Open at `at`?
    pub fn is_open(&self, at: Timestamp) -> bool {
        !self.open_within(at, add(at, INSTANT)).is_empty()
    }

    /// The first instant at or after `at` when it is open: `at` itself when open, else the
    /// next shift start; `None` when it stays closed for [`HORIZON_DAYS`].
    pub fn next_open(&self, at: Timestamp) -> Option<Timestamp> {
        self.open_periods(at).next().map(|(start, _)| start)
    }

    /// R11.12: `None` when open at `at`; else why it is closed and until when. Holiday:
    /// a special occasion covers the date. Weekend: the day is Off in the workdays. Night:
    /// otherwise, including a manager's off-hours status.
    pub fn closed_period(&self, at: Timestamp) -> Option<Delay> {
        if self.is_open(at) {
            return None;
        }
        let until = self.next_open(at).unwrap_or_else(|| add(at, HORIZON));
        Some(Delay { kind: self.closed_kind(at), until })
    }

    /// The open periods from `at` on, for [`HORIZON_DAYS`]: sorted and disjoint, the first
    /// clipped to start at `at`. Consecutive periods may touch (they are computed a week
    /// at a time), so do not read a period's end as the closing time.
    pub fn open_periods(&self, at: Timestamp) -> OpenPeriods<'_> {
        OpenPeriods { schedule: self, cursor: at, end: add(at, HORIZON), buffer: Vec::new().into_iter() }
    }

    fn closed_kind(&self, at: Timestamp) -> DelayKind {
        let Rules::Automatic { workdays, occasions } = &self.rules else { return DelayKind::Night };
        if let Some(occasions) = occasions {
            if occasions.day(occasions.tz.to_datetime(at).date()).is_some() {
                return DelayKind::Holiday;
            }
        }
        match workdays {
            Some(week) if week.off[weekday_index(week.tz.to_datetime(at).date())] => DelayKind::Weekend,
            _ => DelayKind::Night,
        }
    }

    /// The open periods within `[lo, hi)`, sorted and joined. R11.6: on the dates that
    /// occasions cover (in their time zone) their hours replace the workdays'.
    fn open_within(&self, lo: Timestamp, hi: Timestamp) -> Vec<Period> {
        match &self.rules {
            Rules::Manual(ManualStatus::Online) => vec![(lo, hi)],
            Rules::Manual(ManualStatus::OffHours { next_shift_start }) => {
                let start = lo.max(*next_shift_start);
                if start < hi {
                    vec![(start, hi)]
                } else {
                    Vec::new()
                }
            }
            Rules::Automatic { workdays, occasions } => {
                let weekly = match workdays {
                    Some(week) => wall_periods(&week.tz, lo, hi, |date| week.minutes(date)),
                    None => vec![(lo, hi)],
                };
                let Some(occasions) = occasions else { return weekly };
                let tz = &occasions.tz;
                let covered = wall_periods(tz, lo, hi, |date| match occasions.day(date) {
                    Some(_) => vec![(0, DAY_MINUTES)],
                    None => Vec::new(),
                });
                let special = wall_periods(tz, lo, hi, |date| occasions.day(date).unwrap_or_default());
                let mut open = subtract(&weekly, &covered);
                open.extend(special);
                join(open)
            }
        }
    }
}

/// The open periods of a [`Schedule`] from an instant on; see [`Schedule::open_periods`].
#[derive(Debug)]
pub struct OpenPeriods<'a> {
    schedule: &'a Schedule,
    cursor: Timestamp,
    end: Timestamp,
    buffer: std::vec::IntoIter<Period>,
}

impl Iterator for OpenPeriods<'_> {
    type Item = Period;

    fn next(&mut self) -> Option<Period> {
        loop {
            if let Some(period) = self.buffer.next() {
                return Some(period);
            }
            if self.cursor >= self.end {
                return None;
            }
            let hi = add(self.cursor, CHUNK).min(self.end);
            self.buffer = self.schedule.open_within(self.cursor, hi).into_iter();
            self.cursor = hi;
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
