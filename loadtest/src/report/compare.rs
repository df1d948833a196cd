//! Side-by-side comparison of two runs. The ratio column (b relative to a) is the point: it shows
//! at a glance whether a change made latency or throughput better or worse.

use std::fmt::Write as _;

use crate::result::{Measure, RunResult};

use super::{audit_word, clean, fmt_ms, fmt_rate, measure_rank, ratio, PERCENTILES};

const LABEL: usize = 30;
const VAL: usize = 12;
const RATIO: usize = 10;

/// A text table of `a` and `b` side by side with `b/a` ratios.
pub fn compare(a: &RunResult, b: &RunResult) -> String {
    let mut out = String::from("compare (ratios are b/a)\n");
    for (tag, r) in [("a", a), ("b", b)] {
        let _ = writeln!(
            out,
            "  {tag}: {}  git {}  started {}",
            clean(&r.scenario),
            clean(&r.git_sha),
            clean(&r.started_at)
        );
    }
    out.push('\n');
    row(&mut out, "latency (ms)", "a", "b", "b/a");

    let names = measure_names(a, b);
    if names.is_empty() {
        out.push_str("  no measures in either run\n");
    }
    for name in names {
        let (ma, mb) = (a.measure(name), b.measure(name));
        let _ = writeln!(out, "{}", clean(name));
        let count = |m: Option<&Measure>| m.map(|m| m.count);
        row(
            &mut out,
            "  count",
            &opt(count(ma), |v| v.to_string()),
            &opt(count(mb), |v| v.to_string()),
            &ratio(count(ma).map(|v| v as f64), count(mb).map(|v| v as f64)),
        );
        for (label, get) in PERCENTILES {
            let (va, vb) = (ma.map(get), mb.map(get));
            row(&mut out, &format!("  {label}"), &opt(va, fmt_ms), &opt(vb, fmt_ms), &ratio(va, vb));
        }
    }
    out.push('\n');

    row(
        &mut out,
        "target rate (conv/s)",
        &fmt_rate(a.target_rate),
        &fmt_rate(b.target_rate),
        &ratio(Some(a.target_rate), Some(b.target_rate)),
    );
    row(
        &mut out,
        "achieved rate (conv/s)",
        &fmt_rate(a.achieved_rate),
        &fmt_rate(b.achieved_rate),
        &ratio(Some(a.achieved_rate), Some(b.achieved_rate)),
    );
    for (label, get) in [
        ("grpc errors (total)", RunResult::error_total as fn(&RunResult) -> u64),
        ("retries (total)", RunResult::retry_total),
        ("reconnects (total)", RunResult::reconnect_total),
    ] {
        let (va, vb) = (get(a), get(b));
        row(&mut out, label, &va.to_string(), &vb.to_string(), &ratio(Some(va as f64), Some(vb as f64)));
    }
    // Chaos runs only; a run without faults shows "-".
    if a.chaos.is_some() || b.chaos.is_some() {
        let faults = |r: &RunResult| r.chaos.as_ref().map(|c| c.faults.len() as f64);
        let unrecovered = |r: &RunResult| r.chaos.as_ref().map(|c| c.unrecovered() as f64);
        let worst = |r: &RunResult| {
            r.chaos.as_ref().and_then(|c| c.faults.iter().filter_map(|f| f.recovery_s).reduce(f64::max))
        };
        let count = |v: Option<f64>| opt(v, |v| format!("{v:.0}"));
        let secs = |v: Option<f64>| opt(v, |v| format!("{v:.1}"));
        row(&mut out, "faults", &count(faults(a)), &count(faults(b)), &ratio(faults(a), faults(b)));
        row(&mut out, "faults not recovered", &count(unrecovered(a)), &count(unrecovered(b)), "");
        row(&mut out, "slowest recovery (s)", &secs(worst(a)), &secs(worst(b)), &ratio(worst(a), worst(b)));
    }
    row(&mut out, "audit", audit_word(a), audit_word(b), "");
    out
}

/// Every measure name in either run, once: canonical ones first, then a's order, then b's.
fn measure_names<'r>(a: &'r RunResult, b: &'r RunResult) -> Vec<&'r str> {
    let mut names: Vec<&str> = Vec::new();
    for m in a.measures.iter().chain(&b.measures) {
        if !names.contains(&m.name.as_str()) {
            names.push(&m.name);
        }
    }
    names.sort_by_key(|n| measure_rank(n));
    names
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".to_string())
}

fn row(out: &mut String, label: &str, a: &str, b: &str, r: &str) {
    let line = format!("{label:<LABEL$} {a:>VAL$} {b:>VAL$} {r:>RATIO$}");
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{failed_sample, sample};
    use crate::result::{OPEN_RPC, OPEN_TO_ASSIGNMENT};

    fn line<'s>(text: &'s str, after: &str, label: &str) -> &'s str {
        let start = text.find(after).unwrap();
        text[start..].lines().find(|l| l.trim_start().starts_with(label)).unwrap()
    }

    #[test]
    fn doubled_p99_is_two_x() {
        let a = sample();
        let mut b = failed_sample();
        b.git_sha = "def5678".to_string();
        for m in &mut b.measures {
            m.p99_ms *= 2.0;
        }
        b.achieved_rate = 4.8;
        b.errors.clear();
        let c = compare(&a, &b);
        assert!(c.contains("a: steady-10  git abc1234  started 2026-11-21T09:15:00Z"), "{c}");
        assert!(c.contains("b: steady-10  git def5678"), "{c}");
        let p99 = line(&c, OPEN_TO_ASSIGNMENT, "p99 ");
        assert!(p99.ends_with("2.00x") && p99.contains("49.2") && p99.contains("98.4"), "{p99}");
        assert!(line(&c, OPEN_TO_ASSIGNMENT, "p50").ends_with("1.00x"), "{c}");
        assert!(line(&c, OPEN_TO_ASSIGNMENT, "p99.9").ends_with("1.00x"), "{c}");
        assert!(line(&c, "achieved", "achieved rate").ends_with("0.50x"), "{c}");
        let errors = line(&c, "grpc", "grpc errors");
        assert!(errors.contains('3') && errors.ends_with("0.00x"), "{errors}");
        let audit = line(&c, "audit", "audit");
        assert!(audit.contains("PASSED") && audit.contains("FAILED"), "{audit}");
        assert!(audit.find("PASSED") < audit.find("FAILED"), "a then b: {audit}");
    }

    #[test]
    fn zero_baseline_and_missing_measures_have_no_ratio() {
        let mut a = sample();
        let b = sample();
        a.measures.retain(|m| m.name != OPEN_RPC);
        for m in &mut a.measures {
            m.max_ms = 0.0;
        }
        a.errors.clear();
        let c = compare(&a, &b);
        assert!(line(&c, OPEN_TO_ASSIGNMENT, "max").trim_end().ends_with(" -"), "{c}");
        // open_rpc only in b: a column and ratio are "-".
        let p50 = line(&c, OPEN_RPC, "p50");
        assert_eq!(p50.split_whitespace().collect::<Vec<_>>(), ["p50", "-", "1.50", "-"], "{c}");
        assert!(line(&c, "grpc", "grpc errors").ends_with(" -"), "{c}");
        assert_eq!(c.matches(OPEN_RPC).count(), 1, "each measure once:\n{c}");
    }

    #[test]
    fn a_chaos_run_against_a_run_without_faults() {
        let (a, b) = (sample(), crate::report::chaos_sample());
        let c = compare(&a, &b);
        assert_eq!(
            line(&c, "faults", "faults ").split_whitespace().collect::<Vec<_>>(),
            ["faults", "-", "2", "-"],
            "{c}"
        );
        assert!(line(&c, "slowest", "slowest recovery").contains("4.0"), "{c}");
        assert!(line(&c, "retries", "retries (total)").contains('7'), "{c}");
        assert!(!compare(&a, &a).contains("faults"), "no chaos rows without chaos");
    }

    #[test]
    fn empty_results_compare() {
        let mut a = sample();
        a.measures.clear();
        a.target_rate = 0.0;
        a.achieved_rate = 0.0;
        let c = compare(&a, &a);
        assert!(c.contains("no measures in either run"), "{c}");
        assert!(line(&c, "achieved", "achieved rate").ends_with(" -"), "{c}");
    }
}
