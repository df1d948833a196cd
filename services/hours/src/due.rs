//! Response due times across off hours (R10.4, R10.10, R10.11): the response time counts
//! only while open, and what a shift did not use carries into the next one.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::schedule::{Delay, Schedule};

/// When a response is due, and the closed period it waited through first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Due {
    /// The consumer-visible due time.
    pub at: Timestamp,
    /// R11.12: set when the wait started while closed; the count started at its `until`.
    pub delay: Option<Delay>,
}

/// R10.10, R10.11: when a response to a wait that started at `started_at` is due, with
/// `response_ms` of open time: the closed time until the next shift is skipped, and the
/// response time is spent shift by shift (a shift ending mid-count carries the rest into
/// the next). Real elapsed time, so a shift shortened or lengthened by a DST change counts
/// as long as it really is. `None` when the calendar is not open long enough within
/// [`crate::HORIZON_DAYS`].
pub fn due(schedule: &Schedule, started_at: Timestamp, response_ms: u64) -> Option<Due> {
    let delay = schedule.closed_period(started_at);
    let mut left = SignedDuration::from_millis(i64::try_from(response_ms).unwrap_or(i64::MAX));
    for (start, end) in schedule.open_periods(started_at) {
        let open = start.duration_until(end);
        if left <= open {
            return start.checked_add(left).ok().map(|at| Due { at, delay });
        }
        left -= open;
    }
    None
}

#[cfg(test)]
#[path = "due_tests.rs"]
mod tests;
