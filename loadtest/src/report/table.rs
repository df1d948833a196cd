//! The terminal table and the markdown summary: the same facts, one for a terminal, one for a README.

use std::fmt::Write as _;

use crate::automessages_audit::AutomessagesSummary;
use crate::result::RunResult;

use super::{
    audit_passed, audit_word, clean, failed_checks, fmt_ms, fmt_rate, fmt_secs, ids_summary, ordered_measures,
    rate_pct, resilience, PERCENTILES,
};

/// Lines stay within this many columns unless a single word is longer.
const WIDTH: usize = 100;
/// Width of each numeric column.
const NUM: usize = 9;

/// A plain-text aligned summary of one run for the terminal.
pub fn table(result: &RunResult) -> String {
    let mut out = String::new();
    let r = result;
    push_wrapped(&mut out, &format!("scenario {}", clean(&r.scenario)), "", "  ");
    push_wrapped(
        &mut out,
        &format!("git {}, started {}, seed {}", clean(&r.git_sha), clean(&r.started_at), r.seed),
        "",
        "  ",
    );
    push_wrapped(
        &mut out,
        &format!("target {}, schedule {}, wall {}", clean(&r.target), fmt_secs(r.duration_s), fmt_secs(r.wall_s)),
        "",
        "  ",
    );
    out.push('\n');

    let measures = ordered_measures(r);
    if measures.is_empty() {
        out.push_str("latency: no measures\n");
    } else {
        let name_w = measures.iter().map(|m| m.name.chars().count()).max().unwrap_or(0).clamp(12, 32);
        let _ = write!(out, "{:<name_w$} {:>NUM$}", "latency (ms)", "count");
        for (label, _) in PERCENTILES {
            let _ = write!(out, " {label:>NUM$}");
        }
        out.push('\n');
        for m in measures {
            let _ = write!(out, "{:<name_w$} {:>NUM$}", clean(&m.name), m.count);
            for (_, get) in PERCENTILES {
                let _ = write!(out, " {:>NUM$}", fmt_ms(get(m)));
            }
            out.push('\n');
        }
    }
    out.push('\n');

    let pct = rate_pct(r).map(|p| format!(" ({p})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "rate: target {} conv/s, achieved {} conv/s{pct}",
        fmt_rate(r.target_rate),
        fmt_rate(r.achieved_rate)
    );
    let c = &r.counts;
    // Auto closes (R13.5) are closes, never losses: shown apart when there are any.
    let auto = if c.auto_closed > 0 { format!(" (auto closed {})", c.auto_closed) } else { String::new() };
    let _ = writeln!(
        out,
        "conversations: scheduled {}, opened {}, open failed {}, assigned {}, closed {}{auto}",
        c.scheduled, c.opened, c.open_failed, c.assigned, c.closed
    );
    let _ = writeln!(
        out,
        "messages: consumer sent {}, delivered {}; agent replies sent {}, delivered {}",
        c.consumer_messages_sent, c.consumer_messages_delivered, c.agent_replies_sent, c.agent_replies_delivered
    );

    let rows = error_rows(r);
    if rows.is_empty() {
        out.push_str("grpc errors: none\n");
    } else {
        let _ = writeln!(out, "grpc errors: {}", r.error_total());
        let method_w = rows.iter().map(|(m, _, _)| m.chars().count()).max().unwrap_or(0);
        let code_w = rows.iter().map(|(_, c, _)| c.chars().count()).max().unwrap_or(0);
        for (method, code, n) in rows {
            let _ = writeln!(out, "  {method:<method_w$}  {code:<code_w$}  {n:>8}");
        }
    }
    for line in resilience::text(r).lines() {
        if line.chars().count() <= WIDTH {
            out.push_str(line);
            out.push('\n');
        } else {
            push_wrapped(&mut out, line, "", if line.starts_with("  ") { "    " } else { "  " });
        }
    }

    if let Some(p) = &r.priority {
        push_wrapped(&mut out, &clean(&p.summary()), "priority: ", "  ");
    }
    if let Some(o) = &r.offers {
        push_wrapped(&mut out, &clean(&o.summary()), "offers: ", "  ");
    }
    if let Some(t) = &r.transfers {
        push_wrapped(&mut out, &clean(&t.summary()), "transfers: ", "  ");
    }
    if let Some(a) = &r.automessages {
        push_wrapped(&mut out, &clean(&a.summary()), "automatic messages: ", "  ");
    }
    out.push_str(&audit_text(r));
    out
}

/// The audit lines of the terminal table; failed checks with their detail and the first ids.
fn audit_text(r: &RunResult) -> String {
    let mut out = String::new();
    let total = r.audit.checks.len();
    let failed: Vec<_> = failed_checks(r).collect();
    if audit_passed(r) {
        let _ = writeln!(out, "audit: PASSED ({total} checks)");
        return out;
    }
    let _ = writeln!(out, "audit: FAILED ({} of {total} checks failed)", failed.len());
    if failed.is_empty() {
        out.push_str("  (the audit failed without a failed check)\n");
    }
    for check in failed {
        push_wrapped(
            &mut out,
            &format!("{} [invariant {}]: {}", clean(&check.name), check.invariant, clean(&check.detail)),
            "  x ",
            "    ",
        );
        if !check.ids.is_empty() {
            push_wrapped(&mut out, &ids_summary(&check.ids), "    ids: ", "         ");
        }
    }
    out
}

/// (method, code, count), cleaned, in the result's (sorted) order.
fn error_rows(r: &RunResult) -> Vec<(String, String, u64)> {
    resilience::rows(&r.errors)
}

/// Word-wraps `text` to `WIDTH` columns: `first` prefixes the first line, `next` the rest.
fn push_wrapped(out: &mut String, text: &str, first: &str, next: &str) {
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        let fits = line.chars().count() + 1 + word.chars().count() <= WIDTH;
        if !empty && !fits {
            out.push_str(line.trim_end());
            out.push('\n');
            line = next.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// The same summary as markdown, for pasting into a README or a pull request.
pub fn markdown(result: &RunResult) -> String {
    let r = result;
    let mut out = String::new();
    let _ = writeln!(out, "### Load test `{}`\n", md_code(&r.scenario));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| git sha | `{}` |", md_code(&r.git_sha));
    let _ = writeln!(out, "| started | {} |", md(&r.started_at));
    let _ = writeln!(out, "| target | {} |", md(&r.target));
    let _ = writeln!(out, "| seed | {} |", r.seed);
    let _ = writeln!(out, "| schedule / wall | {} / {} |", fmt_secs(r.duration_s), fmt_secs(r.wall_s));
    let pct = rate_pct(r).map(|p| format!(" ({p})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "| rate (conv/s) | target {}, achieved {}{pct} |",
        fmt_rate(r.target_rate),
        fmt_rate(r.achieved_rate)
    );
    let _ = writeln!(out, "| audit | **{}** |\n", audit_word(r));

    let measures = ordered_measures(r);
    if measures.is_empty() {
        out.push_str("No latency measures.\n\n");
    } else {
        out.push_str("| latency (ms) | count |");
        for (label, _) in PERCENTILES {
            let _ = write!(out, " {label} |");
        }
        out.push_str("\n|---|---:|");
        out.push_str(&"---:|".repeat(PERCENTILES.len()));
        out.push('\n');
        for m in measures {
            let _ = write!(out, "| {} | {} |", md(&m.name), m.count);
            for (_, get) in PERCENTILES {
                let _ = write!(out, " {} |", fmt_ms(get(m)));
            }
            out.push('\n');
        }
        out.push('\n');
    }

    let c = &r.counts;
    out.push_str("| scheduled | opened | open failed | assigned | closed | consumer msgs sent / delivered | agent replies sent / delivered |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|\n");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} / {} | {} / {} |\n",
        c.scheduled,
        c.opened,
        c.open_failed,
        c.assigned,
        c.closed,
        c.consumer_messages_sent,
        c.consumer_messages_delivered,
        c.agent_replies_sent,
        c.agent_replies_delivered
    );

    let rows = error_rows(r);
    if rows.is_empty() {
        out.push_str("gRPC errors: none\n\n");
    } else {
        let _ = writeln!(out, "gRPC errors: {}\n", r.error_total());
        out.push_str("| method | code | count |\n|---|---|---:|\n");
        for (method, code, n) in rows {
            let _ = writeln!(out, "| {} | {} | {n} |", md(&method), md(&code));
        }
        out.push('\n');
    }
    out.push_str(&resilience::markdown(r, md));
    if let Some(a) = &r.automessages {
        out.push_str(&automessages_markdown(a));
    }

    let failed: Vec<_> = failed_checks(r).collect();
    if audit_passed(r) {
        let _ = writeln!(out, "Audit: **PASSED** ({} checks)", r.audit.checks.len());
    } else {
        let _ = writeln!(out, "Audit: **FAILED** ({} of {} checks failed)\n", failed.len(), r.audit.checks.len());
        if failed.is_empty() {
            out.push_str("- the audit failed without a failed check\n");
        }
        for check in failed {
            let _ = write!(out, "- **{}** (invariant {}): {}", md(&check.name), check.invariant, md(&check.detail));
            if !check.ids.is_empty() {
                let _ = write!(out, "; ids: {}", md(&ids_summary(&check.ids)));
            }
            out.push('\n');
        }
    }
    out
}

/// The automatic messages read per event, and how the timed ones came out.
fn automessages_markdown(a: &AutomessagesSummary) -> String {
    let mut out = String::from("| automatic message | read |\n|---|---:|\n");
    for (event, n) in &a.messages {
        let _ = writeln!(out, "| {} | {n} |", md(event));
    }
    let _ = writeln!(out, "\nWelcome due in {} conversations.\n", a.welcome_due);
    let timed = [("waiting\\_in\\_queue", &a.waiting_in_queue), ("agent\\_non\\_responsive", &a.agent_non_responsive)];
    if timed.iter().any(|(_, t)| t.is_some()) {
        out.push_str(
            "| timed message | timer | fired in | must fire | must not | either |\n|---|---:|---:|---:|---:|---:|\n",
        );
        for (name, t) in timed {
            if let Some(t) = t {
                let _ = writeln!(
                    out,
                    "| {name} | {} s | {} | {} | {} | {} |",
                    t.timer_s, t.fired, t.must_fire, t.must_not_fire, t.either
                );
            }
        }
        out.push('\n');
    }
    out
}

/// Escapes markdown syntax so result strings render as text and cannot break a table row.
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '&') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text inside a code span: backticks would end it and pipes would split a table row.
fn md_code(s: &str) -> String {
    clean(s).replace('`', "'").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{failed_sample, sample};

    #[test]
    fn table_has_every_column_and_passes() {
        let t = table(&sample());
        for col in ["count", "p50", "p90", "p99", "p99.9", "max"] {
            assert!(t.contains(col), "missing {col}:\n{t}");
        }
        assert!(t.contains("open_to_assignment"));
        // 12.3 ms -> one decimal; 1.5 ms -> two.
        assert!(t.contains("12.3") && t.contains("1.50"), "{t}");
        assert!(t.contains("target 10.00 conv/s, achieved 9.60 conv/s (96.0%)"), "{t}");
        assert!(t.contains("OpenConversation") && t.contains("UNAVAILABLE"), "{t}");
        assert!(t.contains("audit: PASSED"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= WIDTH), "{t}");
    }

    #[test]
    fn table_shows_failed_check_with_ids() {
        let t = table(&failed_sample());
        assert!(t.contains("audit: FAILED (1 of 2 checks failed)"), "{t}");
        assert!(t.contains("no message lost") && t.contains("never reached an agent"), "{t}");
        assert!(t.contains("conv-01") && t.contains("conv-10") && !t.contains("conv-11"), "{t}");
        assert!(t.contains("(+2 more)"), "{t}");
        assert!(!t.contains("at most one assignment"), "passed checks are not listed:\n{t}");
    }

    #[test]
    fn table_of_empty_result() {
        let mut r = sample();
        r.measures.clear();
        r.errors.clear();
        r.timeline.clear();
        r.target_rate = 0.0;
        let t = table(&r);
        assert!(t.contains("latency: no measures") && t.contains("grpc errors: none"), "{t}");
        assert!(!t.contains('%'), "no percentage without a target:\n{t}");
    }

    #[test]
    fn long_detail_wraps() {
        let mut r = failed_sample();
        r.audit.checks[1].detail = "word ".repeat(60);
        let t = table(&r);
        assert!(t.lines().all(|l| l.chars().count() <= WIDTH), "{t}");
    }

    #[test]
    fn markdown_has_tables_and_escapes() {
        let mut r = failed_sample();
        r.scenario = "a|b".to_string();
        r.audit.checks[1].detail = "x | y <b>".to_string();
        let m = markdown(&r);
        assert!(m.contains("| latency (ms) | count | p50 | p90 | p99 | p99.9 | max |"), "{m}");
        assert!(m.contains("| open\\_to\\_assignment | 40 | 12.3 |"), "{m}");
        assert!(m.contains("Audit: **FAILED**") && m.contains("conv-10") && !m.contains("conv-11"), "{m}");
        assert!(m.contains("`a\\|b`") && m.contains("x \\| y \\<b\\>"), "{m}");
        assert!(markdown(&sample()).contains("Audit: **PASSED**"));
    }
}
