//! Recovery time after a fault, from the per-second open-to-assignment latencies.
//!
//! - **Baseline**: the p99 of open-to-assignment over the whole seconds before the first fault
//!   (at least [`MIN_BASELINE_SECONDS`] of them, with assignments in them).
//! - **Recovery** of a fault at time t: the seconds from t until the start of the first run of
//!   [`STREAK`] consecutive whole seconds (all after t, all before the next fault) that are each
//!   *good*: assignments were seen and their p99 is under [`FACTOR`] × the baseline, or no
//!   assignment was seen and no conversation was waiting for one (a second without
//!   assignments while conversations wait is not good); and no conversation still waiting at
//!   the end of the second has waited longer than that limit (else a stall of some skills
//!   would hide behind the fast assignments of the others). Latencies belong to the second in
//!   which the agent saw the assignment.

use hdrhistogram::Histogram;

use crate::result::Second;

/// Whole seconds of baseline needed before the first fault.
pub const MIN_BASELINE_SECONDS: usize = 3;
/// Recovered means a p99 under this many times the baseline.
pub const FACTOR: f64 = 2.0;
/// For this many consecutive seconds.
pub const STREAK: usize = 3;

/// The baseline p99, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    pub p99_ms: Option<f64>,
    /// Whole seconds in the window.
    pub seconds: usize,
    pub note: String,
}

/// The baseline from per-second histograms of open-to-assignment (µs), second `s` covering
/// `[s, s + 1)` after the start of arrivals, for a first fault at `first_fault_s`.
pub fn baseline(per_second: &[Histogram<u64>], first_fault_s: f64) -> Baseline {
    let seconds = if first_fault_s.is_finite() && first_fault_s > 0.0 { first_fault_s.floor() as usize } else { 0 };
    if seconds < MIN_BASELINE_SECONDS {
        return Baseline {
            p99_ms: None,
            seconds,
            note: format!(
                "no baseline: only {seconds} whole seconds before the first fault (at {first_fault_s:.1} s); \
                 {MIN_BASELINE_SECONDS} are needed (raise --chaos-start)"
            ),
        };
    }
    let mut window = per_second.iter().take(seconds);
    let Some(first) = window.next() else {
        return Baseline { p99_ms: None, seconds, note: "no baseline: the baseline window is empty".into() };
    };
    let mut merged = first.clone();
    for h in window {
        // Same bounds for every second, so adding cannot fail; saturate if it ever did.
        if merged.add(h).is_err() {
            for v in h.iter_recorded() {
                merged.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
    if merged.is_empty() {
        return Baseline {
            p99_ms: None,
            seconds,
            note: format!("no baseline: no assignment in the {seconds} s before the first fault"),
        };
    }
    let p99_ms = merged.value_at_quantile(0.99) as f64 / 1000.0;
    Baseline { p99_ms: Some(p99_ms), seconds, note: format!("p99 over the {seconds} s before the first fault") }
}

/// Whether second `s` counts as recovered against `limit_ms`. The p99 of the assignments
/// seen says nothing about the conversations still waiting, so a second also fails while one
/// of them has waited longer than the limit (a partial stall).
fn good(s: &Second, limit_ms: f64) -> bool {
    let seen = if s.assignments > 0 { s.open_to_assignment_p99_ms < limit_ms } else { s.in_flight == 0 };
    seen && s.oldest_wait_ms < limit_ms
}

/// Seconds from a fault at `at_s` until recovery, or why it did not recover. `next_fault_s`
/// ends the window: a streak must be over before the next fault starts.
pub fn recovery(timeline: &[Second], baseline_ms: f64, at_s: f64, next_fault_s: Option<f64>) -> Result<f64, String> {
    let limit = baseline_ms * FACTOR;
    let first = at_s.max(0.0).ceil() as usize;
    let end = match next_fault_s {
        Some(next) => (next.max(0.0).floor() as usize).min(timeline.len()),
        None => timeline.len(),
    };
    let mut streak = 0;
    for (s, second) in timeline.iter().enumerate().take(end).skip(first) {
        if good(second, limit) {
            streak += 1;
            if streak == STREAK {
                let start = s + 1 - STREAK;
                return Ok(start as f64 - at_s);
            }
        } else {
            streak = 0;
        }
    }
    Err(match next_fault_s {
        Some(next) if end < timeline.len() => format!("not recovered before the next fault at {next:.1} s"),
        _ => "not recovered by the end of the run".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values_ms: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap();
        for v in values_ms {
            h.record(v * 1000).unwrap();
        }
        h
    }

    /// One second: assignments with this p99 (0 = none), and conversations waiting at its end.
    fn sec(t: usize, assignments: u64, p99_ms: f64, in_flight: u64) -> Second {
        Second {
            t: (t + 1) as f64,
            assignments,
            open_to_assignment_p99_ms: if assignments > 0 { p99_ms } else { 0.0 },
            in_flight,
            ..Second::default()
        }
    }

    #[test]
    fn the_baseline_is_the_p99_of_the_whole_seconds_before_the_first_fault() {
        // 5 whole seconds before a fault at 5.4 s: 100 samples of 10 ms, and one of 900 ms in
        // second 2 (the p99 of 101 samples is still 10 ms). Second 5 (after) is left out.
        let mut per_second: Vec<_> = (0..5).map(|_| hist(&[10; 20])).collect();
        per_second[2] = hist(&[&[10u64; 20][..], &[900]].concat());
        per_second.push(hist(&[5000; 50]));
        let b = baseline(&per_second, 5.4);
        assert_eq!(b.seconds, 5);
        let p99 = b.p99_ms.unwrap();
        assert!((9.9..=10.1).contains(&p99), "{b:?}");
    }

    #[test]
    fn no_baseline_when_the_window_is_short_or_empty() {
        let per_second: Vec<_> = (0..10).map(|_| hist(&[10])).collect();
        let short = baseline(&per_second, 2.9);
        assert_eq!((short.p99_ms, short.seconds), (None, 2));
        assert!(short.note.contains("only 2 whole seconds"), "{short:?}");
        let empty: Vec<_> = (0..10).map(|_| hist(&[])).collect();
        let none = baseline(&empty, 6.0);
        assert_eq!(none.p99_ms, None);
        assert!(none.note.contains("no assignment in the 6 s"), "{none:?}");
        assert_eq!(baseline(&[], 6.0).p99_ms, None);
    }

    #[test]
    fn recovery_is_the_start_of_three_good_seconds_after_the_fault() {
        // Baseline 10 ms, so good means under 20 ms. Fault at 5.5 s: seconds 6..8 are slow or
        // starved, 9 is good, 10 slow again, then 11, 12, 13 good.
        let mut timeline: Vec<Second> = (0..20).map(|t| sec(t, 10, 12.0, 2)).collect();
        timeline[6] = sec(6, 3, 400.0, 50);
        timeline[7] = sec(7, 0, 0.0, 60); // nothing assigned while 60 wait: not recovered
        timeline[8] = sec(8, 40, 900.0, 10);
        timeline[10] = sec(10, 5, 25.0, 3);
        assert_eq!(recovery(&timeline, 10.0, 5.5, None), Ok(11.0 - 5.5));
        // A fault after which nothing changed recovers within the first whole second.
        assert_eq!(recovery(&timeline, 10.0, 14.2, None), Ok(15.0 - 14.2));
    }

    #[test]
    fn fast_assignments_do_not_hide_conversations_left_waiting() {
        // After the fault some conversations are assigned fast while others wait on: seconds
        // 6..9 have a p99 of 12 ms, but the oldest waiting conversation is older than 20 ms.
        let mut timeline: Vec<Second> = (0..20).map(|t| sec(t, 10, 12.0, 2)).collect();
        for (t, s) in timeline.iter_mut().enumerate().take(10).skip(6) {
            s.oldest_wait_ms = 1000.0 * (t - 5) as f64;
        }
        assert_eq!(recovery(&timeline, 10.0, 5.5, None), Ok(10.0 - 5.5));
    }

    #[test]
    fn idle_seconds_with_nothing_waiting_count_as_recovered() {
        let mut timeline: Vec<Second> = (0..10).map(|t| sec(t, 0, 0.0, 0)).collect();
        timeline[3] = sec(3, 2, 500.0, 0);
        assert_eq!(recovery(&timeline, 10.0, 3.0, None), Ok(1.0));
    }

    #[test]
    fn never_recovered_says_why() {
        let slow: Vec<Second> = (0..30).map(|t| sec(t, 10, 100.0, 5)).collect();
        assert_eq!(recovery(&slow, 10.0, 5.0, None), Err("not recovered by the end of the run".into()));
        // Good only from second 16 on, but the next fault comes at 15 s.
        let mut timeline = slow.clone();
        for (t, second) in timeline.iter_mut().enumerate().skip(16) {
            *second = sec(t, 10, 5.0, 0);
        }
        assert_eq!(
            recovery(&timeline, 10.0, 5.0, Some(15.0)),
            Err("not recovered before the next fault at 15.0 s".into())
        );
        assert_eq!(recovery(&timeline, 10.0, 5.0, None), Ok(11.0));
        // Two good seconds at the very end are not three.
        let mut tail = slow.clone();
        tail[28] = sec(28, 10, 5.0, 0);
        tail[29] = sec(29, 10, 5.0, 0);
        assert!(recovery(&tail, 10.0, 5.0, None).is_err());
    }
}
