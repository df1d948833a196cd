//! Reports of a run: terminal table, JSON, markdown summary, HTML with plots, and `compare`.
//!
//! Everything here reads a [`RunResult`] and nothing else, so a result file written
//! yesterday renders the same way as a run that just finished.

mod compare;
mod files;
mod html;
mod resilience;
mod table;

pub use compare::compare;
pub use files::{file_stem, read_result, write_all, Written};
pub use html::html;
pub use table::{markdown, table};

use crate::result::{Check, Measure, RunResult, AGENT_TO_PARTNER, CONSUMER_TO_AGENT, OPEN_RPC, OPEN_TO_ASSIGNMENT};

/// How many offending ids the text reports list per failed check (the HTML shows all).
const TEXT_IDS: usize = 10;

/// A percentile column: header label and accessor.
type Percentile = (&'static str, fn(&Measure) -> f64);

/// The percentile columns every report shows, in order.
const PERCENTILES: [Percentile; 5] = [
    ("p50", |m| m.p50_ms),
    ("p90", |m| m.p90_ms),
    ("p99", |m| m.p99_ms),
    ("p99.9", |m| m.p999_ms),
    ("max", |m| m.max_ms),
];

/// Milliseconds with precision that matches their size: 2 decimals below 10 ms, 1 above.
fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        "-".to_string()
    } else if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// A rate in conversations per second.
fn fmt_rate(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "-".to_string()
    }
}

/// Seconds, one decimal.
fn fmt_secs(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1} s")
    } else {
        "-".to_string()
    }
}

/// Achieved rate as a percentage of target, if the target is meaningful.
fn rate_pct(result: &RunResult) -> Option<String> {
    let pct = result.achieved_rate / result.target_rate * 100.0;
    (result.target_rate > 0.0 && pct.is_finite()).then(|| format!("{pct:.1}%"))
}

/// `b / a` as "1.84x", or "-" when there is no meaningful baseline.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a != 0.0 && a.is_finite() && b.is_finite() => format!("{:.2}x", b / a),
        _ => "-".to_string(),
    }
}

/// Known measures first in their canonical order, then any others as the run listed them.
fn measure_rank(name: &str) -> usize {
    [OPEN_TO_ASSIGNMENT, CONSUMER_TO_AGENT, AGENT_TO_PARTNER, OPEN_RPC].iter().position(|n| *n == name).unwrap_or(4)
}

fn ordered_measures(result: &RunResult) -> Vec<&Measure> {
    let mut measures: Vec<&Measure> = result.measures.iter().collect();
    measures.sort_by_key(|m| measure_rank(&m.name));
    measures
}

/// Failed if the audit says so or any check failed: an inconsistent audit must not read as a pass.
fn audit_passed(result: &RunResult) -> bool {
    result.audit.passed && result.audit.checks.iter().all(|c| c.passed)
}

fn failed_checks(result: &RunResult) -> impl Iterator<Item = &Check> {
    result.audit.checks.iter().filter(|c| !c.passed)
}

fn audit_word(result: &RunResult) -> &'static str {
    if audit_passed(result) {
        "PASSED"
    } else {
        "FAILED"
    }
}

/// Strings from a result may hold anything; control characters would garble a terminal or a table row.
fn clean(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The first `TEXT_IDS` ids, with a "(+N more)" note when cut.
fn ids_summary(ids: &[String]) -> String {
    let mut out = ids.iter().take(TEXT_IDS).map(|id| clean(id)).collect::<Vec<_>>().join(", ");
    if ids.len() > TEXT_IDS {
        out.push_str(&format!(" (+{} more)", ids.len() - TEXT_IDS));
    }
    out
}

#[cfg(test)]
pub(crate) fn sample() -> RunResult {
    use crate::result::{Audit, Counts, Duplicates, Second};
    use std::collections::BTreeMap;

    let measure = |name: &str, count: u64, base: f64| Measure {
        name: name.to_string(),
        count,
        mean_ms: base * 1.1,
        p50_ms: base,
        p90_ms: base * 2.0,
        p99_ms: base * 4.0,
        p999_ms: base * 8.0,
        max_ms: base * 16.0,
    };
    let mut errors = BTreeMap::new();
    errors.insert("OpenConversation".to_string(), BTreeMap::from([("UNAVAILABLE".to_string(), 3u64)]));
    let _ = Duplicates::default();
    let timeline = (1..=5)
        .map(|t| Second {
            t: t as f64,
            target_opens: 10,
            opens: 9 + t % 2,
            assignments: 8,
            open_to_assignment_p50_ms: 12.0 + t as f64,
            open_to_assignment_p99_ms: 40.0 + t as f64,
            in_flight: t,
            oldest_wait_ms: 30.0 + t as f64,
            queue_depth: 2 * t,
        })
        .collect();
    RunResult {
        scenario: "steady-10".to_string(),
        git_sha: "abc1234".to_string(),
        started_at: "2026-11-21T09:15:00Z".to_string(),
        seed: 42,
        target: "embedded".to_string(),
        duration_s: 5.0,
        wall_s: 6.5,
        target_rate: 10.0,
        achieved_rate: 9.6,
        counts: Counts {
            scheduled: 50,
            opened: 48,
            open_failed: 2,
            assigned: 40,
            closed: 38,
            consumer_messages_sent: 100,
            consumer_messages_delivered: 99,
            agent_replies_sent: 80,
            agent_replies_delivered: 80,
            auto_closed: 0,
        },
        measures: vec![
            measure(OPEN_RPC, 48, 1.5),
            measure(OPEN_TO_ASSIGNMENT, 40, 12.3),
            measure(CONSUMER_TO_AGENT, 99, 3.0),
        ],
        errors,
        retries: BTreeMap::new(),
        reconnects: BTreeMap::new(),
        duplicates: Duplicates::default(),
        timeline,
        chaos: None,
        priority: None,
        offers: None,
        transfers: None,
        automessages: None,
        audit: Audit {
            passed: true,
            checks: vec![Check {
                name: "at most one assignment per conversation".to_string(),
                invariant: 1,
                passed: true,
                detail: "ok".to_string(),
                ids: vec![],
            }],
        },
    }
}

/// `sample()` with a failed check carrying 12 ids.
#[cfg(test)]
pub(crate) fn failed_sample() -> RunResult {
    let mut r = sample();
    r.audit.passed = false;
    r.audit.checks.push(Check {
        name: "no message lost".to_string(),
        invariant: 4,
        passed: false,
        detail: "12 consumer messages never reached an agent".to_string(),
        ids: (1..=12).map(|i| format!("conv-{i:02}")).collect(),
    });
    r
}

/// `sample()` after a chaos run: retries, reconnects, a duplicate reply, two faults (one recovered).
#[cfg(test)]
pub(crate) fn chaos_sample() -> RunResult {
    use crate::result::{Chaos, Fault};
    use std::collections::BTreeMap;

    let mut r = sample();
    r.retries.insert("OpenConversation".into(), BTreeMap::from([("UNAVAILABLE".into(), 5), ("TRANSPORT".into(), 2)]));
    r.reconnects.insert("StreamOutbound".into(), BTreeMap::from([("UNAVAILABLE".into(), 2)]));
    r.duplicates.partner_redeliveries = 12;
    r.duplicates.duplicate_replies = 1;
    let fault = |at_s: f64, component: &str, recovery_s: Option<f64>, note: &str| Fault {
        component: component.into(),
        at_s,
        signal: "kill".into(),
        command_s: 0.31,
        output: format!("restarted {component} (pid 77)"),
        recovery_s,
        note: note.into(),
    };
    r.chaos = Some(Chaos {
        components: vec!["router".into(), "broker".into()],
        signal: "kill".into(),
        start_s: 15.0,
        every_s: 15.0,
        baseline_p99_ms: Some(12.5),
        baseline_s: 14,
        baseline_note: "p99 over the 14 s before the first fault".into(),
        faults: vec![
            fault(15.0, "router", Some(4.0), ""),
            fault(30.0, "broker", None, "not recovered by the end of the run"),
        ],
    });
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_precision_follows_magnitude() {
        assert_eq!(fmt_ms(1.234), "1.23");
        assert_eq!(fmt_ms(12.34), "12.3");
        assert_eq!(fmt_ms(f64::NAN), "-");
    }

    #[test]
    fn ratio_needs_a_baseline() {
        assert_eq!(ratio(Some(2.0), Some(4.0)), "2.00x");
        assert_eq!(ratio(Some(0.0), Some(4.0)), "-");
        assert_eq!(ratio(None, Some(4.0)), "-");
        assert_eq!(ratio(Some(1.0), None), "-");
    }

    #[test]
    fn measures_in_canonical_order() {
        let r = sample();
        let names: Vec<&str> = ordered_measures(&r).iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, [OPEN_TO_ASSIGNMENT, CONSUMER_TO_AGENT, OPEN_RPC]);
    }

    #[test]
    fn inconsistent_audit_reads_as_failed() {
        let mut r = failed_sample();
        r.audit.passed = true;
        assert_eq!(audit_word(&r), "FAILED");
        assert_eq!(audit_word(&sample()), "PASSED");
    }

    #[test]
    fn ids_are_capped() {
        let r = failed_sample();
        let ids = &r.audit.checks[1].ids;
        let s = ids_summary(ids);
        assert!(s.contains("conv-10") && !s.contains("conv-11") && s.ends_with("(+2 more)"), "{s}");
    }
}
