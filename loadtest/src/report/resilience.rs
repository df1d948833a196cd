//! The parts of the reports about trouble the clients rode through: retries, reconnects,
//! things delivered twice, and chaos mode's faults with their recovery times. Text for the
//! terminal, markdown and HTML.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::result::{Chaos, Fault, RunResult};

use super::{clean, fmt_ms};

type Table = BTreeMap<String, BTreeMap<String, u64>>;

/// (method, code, count), cleaned, in the table's (sorted) order.
pub(super) fn rows(table: &Table) -> Vec<(String, String, u64)> {
    table
        .iter()
        .flat_map(|(method, codes)| codes.iter().map(move |(code, n)| (clean(method), clean(code), *n)))
        .collect()
}

fn recovery_text(f: &Fault) -> String {
    match f.recovery_s {
        Some(s) => format!("{s:.1} s"),
        None if f.note.is_empty() => "not recovered".to_owned(),
        None if f.note.starts_with("not recovered") => clean(&f.note),
        None => format!("not recovered ({})", clean(&f.note)),
    }
}

fn duplicates_text(r: &RunResult) -> String {
    let d = &r.duplicates;
    if d.partner_redeliveries == 0 && d.repeated_assignments == 0 && d.duplicate_replies == 0 {
        return "none".to_owned();
    }
    format!(
        "partner events redelivered {}, snapshot repeats {}, agent replies stored twice {}",
        d.partner_redeliveries, d.repeated_assignments, d.duplicate_replies
    )
}

/// What was injected, and the baseline the recoveries are measured against.
fn chaos_lines(c: &Chaos) -> (String, String) {
    let components: Vec<String> = c.components.iter().map(|s| clean(s)).collect();
    let baseline = match c.baseline_p99_ms {
        Some(p99) => {
            format!("baseline p99 open->assignment {} ms ({} s before the first fault)", fmt_ms(p99), c.baseline_s)
        }
        None => clean(&c.baseline_note),
    };
    let what = format!(
        "{} faults ({} of {} every {:.0} s from {:.0} s)",
        c.faults.len(),
        clean(&c.signal),
        components.join(", "),
        c.every_s,
        c.start_s
    );
    (what, baseline)
}

fn chaos_line(c: &Chaos) -> String {
    let (what, baseline) = chaos_lines(c);
    format!("{what}; {baseline}")
}

/// Terminal lines: retries, reconnects, duplicates, and the faults.
pub(super) fn text(r: &RunResult) -> String {
    let mut out = String::new();
    for (label, table, total) in
        [("retries", &r.retries, r.retry_total()), ("reconnects", &r.reconnects, r.reconnect_total())]
    {
        let rows = rows(table);
        if rows.is_empty() {
            let _ = writeln!(out, "{label}: none");
            continue;
        }
        let _ = writeln!(out, "{label}: {total}");
        let mw = rows.iter().map(|(m, _, _)| m.chars().count()).max().unwrap_or(0);
        let cw = rows.iter().map(|(_, c, _)| c.chars().count()).max().unwrap_or(0);
        for (method, code, n) in rows {
            let _ = writeln!(out, "  {method:<mw$}  {code:<cw$}  {n:>8}");
        }
    }
    let _ = writeln!(out, "duplicates: {}", duplicates_text(r));
    if let Some(c) = &r.chaos {
        let (what, baseline) = chaos_lines(c);
        let _ = writeln!(out, "chaos: {what}\n  {baseline}");
        if !c.faults.is_empty() {
            let _ =
                writeln!(out, "  {:>7}  {:<13} {:<6} {:>11}  recovery", "at (s)", "component", "signal", "restart (s)");
        }
        for f in &c.faults {
            let _ = writeln!(
                out,
                "  {:>7.1}  {:<13} {:<6} {:>11.2}  {}",
                f.at_s,
                clean(&f.component),
                clean(&f.signal),
                f.command_s,
                recovery_text(f)
            );
        }
    }
    out
}

/// Markdown: the same facts.
pub(super) fn markdown(r: &RunResult, md: fn(&str) -> String) -> String {
    let mut out = String::new();
    for (label, table, total) in
        [("Retries", &r.retries, r.retry_total()), ("Reconnects", &r.reconnects, r.reconnect_total())]
    {
        let rows = rows(table);
        if rows.is_empty() {
            let _ = writeln!(out, "{label}: none\n");
            continue;
        }
        let _ = writeln!(out, "{label}: {total}\n\n| method | code | count |\n|---|---|---:|");
        for (method, code, n) in rows {
            let _ = writeln!(out, "| {} | {} | {n} |", md(&method), md(&code));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Duplicates: {}\n", md(&duplicates_text(r)));
    if let Some(c) = &r.chaos {
        let _ = writeln!(out, "Chaos: {}\n", md(&chaos_line(c)));
        if !c.faults.is_empty() {
            out.push_str("| at (s) | component | signal | restart (s) | recovery |\n|---:|---|---|---:|---|\n");
            for f in &c.faults {
                let _ = writeln!(
                    out,
                    "| {:.1} | {} | {} | {:.2} | {} |",
                    f.at_s,
                    md(&f.component),
                    md(&f.signal),
                    f.command_s,
                    md(&recovery_text(f))
                );
            }
            out.push('\n');
        }
    }
    out
}

/// HTML sections: client behaviour, then the faults (if any).
pub(super) fn html(r: &RunResult, esc: fn(&str) -> String) -> String {
    let mut out = String::from("<section>\n<h2>Retries, reconnects, duplicates</h2>\n");
    for (label, table, total) in
        [("Retried attempts", &r.retries, r.retry_total()), ("Stream reconnects", &r.reconnects, r.reconnect_total())]
    {
        if total == 0 {
            let _ = writeln!(out, "<p>{label}: none.</p>");
            continue;
        }
        let _ = writeln!(out, "<p>{label}: {total}</p>\n<table>\n<tr><th>method</th><th>code</th><th>count</th></tr>");
        for (method, code, n) in rows(table) {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>", esc(&method), esc(&code));
        }
        out.push_str("</table>\n");
    }
    let _ = writeln!(out, "<p>Duplicates: {}.</p>\n</section>", esc(&duplicates_text(r)));
    if let Some(c) = &r.chaos {
        let _ = writeln!(out, "<section>\n<h2>Faults</h2>\n<p>{}</p>", esc(&chaos_line(c)));
        if !c.faults.is_empty() {
            out.push_str(
                "<table>\n<tr><th>at (s)</th><th>component</th><th>signal</th><th>restart (s)</th><th>recovery</th><th>restart output</th></tr>\n",
            );
            for f in &c.faults {
                let class = if f.recovery_s.is_some() { "n" } else { "bad" };
                let _ = writeln!(
                    out,
                    "<tr><td class=\"n\">{:.1}</td><td>{}</td><td>{}</td><td class=\"n\">{:.2}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
                    f.at_s,
                    esc(&f.component),
                    esc(&f.signal),
                    f.command_s,
                    esc(&recovery_text(f)),
                    esc(&f.output)
                );
            }
            out.push_str("</table>\n");
        }
        out.push_str("</section>\n");
    }
    out
}

/// Fault times for the latency plot, seconds since the start of arrivals.
pub(super) fn fault_times(r: &RunResult) -> Vec<f64> {
    r.chaos.as_ref().map(|c| c.faults.iter().map(|f| f.at_s).filter(|t| t.is_finite()).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{chaos_sample, sample};

    #[test]
    fn quiet_runs_say_none() {
        let t = text(&sample());
        assert!(t.contains("retries: none") && t.contains("reconnects: none") && t.contains("duplicates: none"), "{t}");
        assert!(!t.contains("chaos"), "{t}");
    }

    #[test]
    fn faults_show_with_their_recovery() {
        let r = chaos_sample();
        let t = text(&r);
        assert!(t.contains("retries: 7") && t.contains("OpenConversation") && t.contains("UNAVAILABLE"), "{t}");
        assert!(t.contains("reconnects: 2") && t.contains("StreamOutbound"), "{t}");
        assert!(t.contains("agent replies stored twice 1"), "{t}");
        assert!(t.contains("2 faults (kill of router, broker every 15 s from 15 s)"), "{t}");
        assert!(t.contains("baseline p99 open->assignment 12.5 ms (14 s before the first fault)"), "{t}");
        assert!(t.contains("router") && t.contains("4.0 s"), "{t}");
        assert!(t.contains("  not recovered by the end of the run"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 100), "{t}");
        let m = markdown(&r, |s| s.to_owned());
        assert!(m.contains("| 15.0 | router | kill | 0.31 | 4.0 s |"), "{m}");
        let h = html(&r, |s| s.to_owned());
        assert!(h.contains("<h2>Faults</h2>") && h.contains("restarted router (pid 77)"), "{h}");
        assert_eq!(fault_times(&r), [15.0, 30.0]);
    }
}
