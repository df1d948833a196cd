//! The HTML report: one self-contained page (inline CSS, inline SVG plots, no scripts) so it opens
//! offline and can be attached to a ticket as a single file.

use std::fmt::Write as _;

use plotters::backend::SVGBackend;
use plotters::prelude::*;

use crate::automessages_audit::AutomessagesSummary;
use crate::result::{Check, RunResult, Second};

use super::{
    audit_passed, audit_word, failed_checks, fmt_ms, fmt_rate, fmt_secs, ordered_measures, rate_pct, resilience,
    PERCENTILES,
};

const PLOT_SIZE: (u32, u32) = (960, 320);

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1000px;color:#222;padding:0 1em}\
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}\
dl.meta dt{color:#666}dl.meta dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
.audit{padding:.8em 1.2em;border-radius:6px;margin:1.2em 0;color:#fff}\
.audit h2{margin:0;border:0;font-size:1.8em}.pass{background:#1e7e34}.fail{background:#c62828}\
.audit ul{margin:.5em 0 0}.audit code{background:rgba(255,255,255,.18);padding:0 .3em;border-radius:3px}\
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .8em;border-bottom:1px solid #eee}\
th{text-align:left;background:#f6f6f6}td.n{text-align:right;font-variant-numeric:tabular-nums}\
td.ok{color:#1e7e34;font-weight:bold}td.bad{color:#c62828;font-weight:bold}\
.plot svg{max-width:100%;height:auto;display:block;margin:.8em 0}.nodata{color:#666;font-style:italic}\
";

/// Renders the full report page.
pub fn html(result: &RunResult) -> anyhow::Result<String> {
    let r = result;
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>Switchyard load test: {} ({})</title>", esc(&r.scenario), esc(&r.git_sha));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");

    let _ = writeln!(out, "<header>\n<h1>Load test: {}</h1>\n<dl class=\"meta\">", esc(&r.scenario));
    let pct = rate_pct(r).map(|p| format!(" ({p})")).unwrap_or_default();
    for (k, v) in [
        ("git sha", esc(&r.git_sha)),
        ("started", esc(&r.started_at)),
        ("target", esc(&r.target)),
        ("seed", r.seed.to_string()),
        ("schedule / wall", format!("{} / {}", fmt_secs(r.duration_s), fmt_secs(r.wall_s))),
        (
            "rate (conv/s)",
            format!("target {}, achieved {}{}", fmt_rate(r.target_rate), fmt_rate(r.achieved_rate), esc(&pct)),
        ),
    ] {
        let _ = writeln!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>\n</header>\n");

    out.push_str(&audit_banner(r));
    out.push_str(&latency_table(r));
    out.push_str(&counts_table(r));
    if let Some(a) = &r.automessages {
        out.push_str(&automessages_table(a));
    }
    out.push_str(&errors_table(r));
    out.push_str(&resilience::html(r, esc));

    out.push_str("<section class=\"plot\">\n<h2>Over time</h2>\n");
    out.push_str(&latency_plot(&r.timeline, &resilience::fault_times(r))?);
    out.push_str(&throughput_plot(&r.timeline)?);
    out.push_str(&depth_plot(&r.timeline)?);
    out.push_str("</section>\n");

    out.push_str(&checks_table(&r.audit.checks));
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// Escapes text for element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The pass/fail banner; a failure lists every failed check with all its ids.
fn audit_banner(r: &RunResult) -> String {
    let passed = audit_passed(r);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section class=\"audit {}\">\n<h2>Audit: {}</h2>",
        if passed { "pass" } else { "fail" },
        audit_word(r)
    );
    let failed: Vec<&Check> = failed_checks(r).collect();
    if passed {
        let _ = writeln!(out, "<p>All {} checks passed.</p>", r.audit.checks.len());
    } else if failed.is_empty() {
        out.push_str("<p>The audit failed without a failed check.</p>\n");
    } else {
        let _ = writeln!(out, "<p>{} of {} checks failed:</p>\n<ul>", failed.len(), r.audit.checks.len());
        for c in failed {
            let _ =
                write!(out, "<li><strong>{}</strong> (invariant {}): {}", esc(&c.name), c.invariant, esc(&c.detail));
            if !c.ids.is_empty() {
                let ids: Vec<String> = c.ids.iter().map(|id| format!("<code>{}</code>", esc(id))).collect();
                let _ = write!(out, "<br>ids: {}", ids.join(" "));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
    out
}

fn latency_table(r: &RunResult) -> String {
    let mut out = String::from("<section>\n<h2>Latency (ms, from intended send time)</h2>\n");
    let measures = ordered_measures(r);
    if measures.is_empty() {
        out.push_str("<p class=\"nodata\">No latency measures.</p>\n</section>\n");
        return out;
    }
    out.push_str("<table>\n<tr><th>measure</th><th>count</th><th>mean</th>");
    for (label, _) in PERCENTILES {
        let _ = write!(out, "<th>{label}</th>");
    }
    out.push_str("</tr>\n");
    for m in measures {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            esc(&m.name),
            m.count,
            fmt_ms(m.mean_ms)
        );
        for (_, get) in PERCENTILES {
            let _ = write!(out, "<td class=\"n\">{}</td>", fmt_ms(get(m)));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n</section>\n");
    out
}

fn counts_table(r: &RunResult) -> String {
    let c = &r.counts;
    let mut out = String::from("<section>\n<h2>Counts</h2>\n<table>\n");
    for (k, v) in [
        ("scheduled", c.scheduled),
        ("opened", c.opened),
        ("open failed", c.open_failed),
        ("assigned", c.assigned),
        ("closed", c.closed),
        ("of them auto closed", c.auto_closed),
        ("consumer messages sent", c.consumer_messages_sent),
        ("consumer messages delivered", c.consumer_messages_delivered),
        ("agent replies sent", c.agent_replies_sent),
        ("agent replies delivered", c.agent_replies_delivered),
    ] {
        let _ = writeln!(out, "<tr><th>{k}</th><td class=\"n\">{v}</td></tr>");
    }
    out.push_str("</table>\n</section>\n");
    out
}

/// The automatic messages read per event, and how the timed ones came out.
fn automessages_table(a: &AutomessagesSummary) -> String {
    let mut out =
        String::from("<section>\n<h2>Automatic messages</h2>\n<table>\n<tr><th>event</th><th>read</th></tr>\n");
    for (event, n) in &a.messages {
        let _ = writeln!(out, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", esc(event));
    }
    let _ = writeln!(out, "</table>\n<p>Welcome due in {} conversations.</p>", a.welcome_due);
    for (name, t) in [("waiting_in_queue", &a.waiting_in_queue), ("agent_non_responsive", &a.agent_non_responsive)] {
        if let Some(t) = t {
            let _ = writeln!(
                out,
                "<p>{name} ({} s): fired in {}; must fire {}, must not {}, either {}.</p>",
                t.timer_s, t.fired, t.must_fire, t.must_not_fire, t.either
            );
        }
    }
    out.push_str("</section>\n");
    out
}

fn errors_table(r: &RunResult) -> String {
    let mut out = String::from("<section>\n<h2>gRPC errors</h2>\n");
    let total = r.error_total();
    if r.errors.values().all(|codes| codes.is_empty()) {
        out.push_str("<p>None.</p>\n</section>\n");
        return out;
    }
    let _ = writeln!(out, "<p>Total: {total}</p>\n<table>\n<tr><th>method</th><th>code</th><th>count</th></tr>");
    for (method, codes) in &r.errors {
        for (code, n) in codes {
            let _ = writeln!(out, "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>", esc(method), esc(code));
        }
    }
    out.push_str("</table>\n</section>\n");
    out
}

fn checks_table(checks: &[Check]) -> String {
    let mut out = String::from("<section>\n<h2>Audit checks</h2>\n");
    if checks.is_empty() {
        out.push_str("<p class=\"nodata\">No checks ran.</p>\n</section>\n");
        return out;
    }
    out.push_str("<table>\n<tr><th>check</th><th>invariant</th><th>result</th><th>detail</th></tr>\n");
    for c in checks {
        let (class, word) = if c.passed { ("ok", "pass") } else { ("bad", "FAIL") };
        let inv = if c.invariant == 0 { "harness".to_string() } else { c.invariant.to_string() };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"n\">{inv}</td><td class=\"{class}\">{word}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.detail)
        );
    }
    out.push_str("</table>\n</section>\n");
    out
}

/// One line of a plot.
struct Series {
    name: &'static str,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

impl Series {
    /// A series over the timeline; `value` returns `None` for seconds that have no sample.
    fn new(name: &'static str, color: RGBColor, timeline: &[Second], value: impl Fn(&Second) -> Option<f64>) -> Self {
        let points = timeline
            .iter()
            .filter_map(|s| value(s).map(|v| (s.t, v)))
            .filter(|(t, v)| t.is_finite() && v.is_finite())
            .collect();
        Series { name, color, points }
    }
}

const C_BLUE: RGBColor = RGBColor(31, 119, 180);
const C_ORANGE: RGBColor = RGBColor(255, 127, 14);
const C_GREEN: RGBColor = RGBColor(44, 160, 44);
const C_GREY: RGBColor = RGBColor(150, 150, 150);
const C_RED: RGBColor = RGBColor(214, 39, 40);

/// Latency per second and the age of the oldest conversation still waiting at the end of
/// each second, with a red line at each fault (chaos mode).
fn latency_plot(timeline: &[Second], faults: &[f64]) -> anyhow::Result<String> {
    // Seconds without assignments carry 0, which is "no sample", not "0 ms".
    let sampled = |v: f64, s: &Second| (s.assignments > 0 || v != 0.0).then_some(v);
    plot_with_markers(
        "Open to assignment latency",
        "ms",
        &[
            Series::new("p50", C_BLUE, timeline, |s| sampled(s.open_to_assignment_p50_ms, s)),
            Series::new("p99", C_ORANGE, timeline, |s| sampled(s.open_to_assignment_p99_ms, s)),
            Series::new("oldest waiting", C_GREY, timeline, |s| {
                (s.in_flight > 0 || s.oldest_wait_ms != 0.0).then_some(s.oldest_wait_ms)
            }),
        ],
        faults,
    )
}

fn throughput_plot(timeline: &[Second]) -> anyhow::Result<String> {
    plot(
        "Throughput",
        "per second",
        &[
            Series::new("target opens", C_GREY, timeline, |s| Some(s.target_opens as f64)),
            Series::new("opens", C_BLUE, timeline, |s| Some(s.opens as f64)),
            Series::new("assignments", C_GREEN, timeline, |s| Some(s.assignments as f64)),
        ],
    )
}

fn depth_plot(timeline: &[Second]) -> anyhow::Result<String> {
    plot(
        "Queue depth and in flight",
        "conversations",
        &[
            Series::new("queue depth", C_ORANGE, timeline, |s| Some(s.queue_depth as f64)),
            Series::new("in flight", C_BLUE, timeline, |s| Some(s.in_flight as f64)),
        ],
    )
}

/// A line chart as inline `<svg>`, or a "no data" note when no series has a point.
fn plot(title: &str, y_desc: &str, series: &[Series]) -> anyhow::Result<String> {
    plot_with_markers(title, y_desc, series, &[])
}

/// [`plot`] with a vertical line at each of `markers` (x values), labelled "fault".
fn plot_with_markers(title: &str, y_desc: &str, series: &[Series], markers: &[f64]) -> anyhow::Result<String> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    if all().next().is_none() {
        return Ok(format!("<h3>{}</h3>\n<p class=\"nodata\">No data.</p>\n", esc(title)));
    }
    let (x_lo, x_hi) = padded_range(all().map(|p| p.0).chain(markers.iter().copied()), false);
    // The timeline counts from the start of arrivals; show that start.
    let x_lo = x_lo.min(0.0);
    let (y_lo, y_hi) = padded_range(all().map(|p| p.1), true);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc(y_desc)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(plot_err)?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(s.name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if !markers.is_empty() {
            let lines = markers.iter().map(|x| PathElement::new(vec![(*x, y_lo), (*x, y_hi)], C_RED.stroke_width(1)));
            chart
                .draw_series(lines)
                .map_err(plot_err)?
                .label("fault")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], C_RED.stroke_width(1)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Plotters errors borrow nothing but are generic; flatten them to a message.
fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing plot: {e}")
}

/// An axis range that always has a positive, finite width; `from_zero` anchors it at 0 with headroom.
fn padded_range(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
        let head = hi * 1.1;
        if head.is_finite() {
            hi = head;
        }
    }
    let width = hi - lo;
    if !width.is_finite() {
        // Only absurd values get here (near ±f64::MAX); halve the ends and let the extremes clip.
        return (lo / 2.0, hi / 2.0);
    }
    if width <= 0.0 {
        // Flat (e.g. all zero): widen by the value's size, downward if upward would overflow.
        let w = lo.abs().max(1.0);
        if (lo + w).is_finite() {
            hi = lo + w;
        } else {
            lo -= w;
        }
    }
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{failed_sample, sample};

    #[test]
    fn page_is_self_contained_with_three_plots() {
        let page = html(&sample()).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
        assert_eq!(page.matches("<svg").count(), 3, "three inline plots");
        assert_eq!(page.matches("<svg").count(), page.matches("</svg>").count());
        assert!(!page.contains("<script") && !page.contains("src=\"http") && !page.contains("<link"));
        assert!(page.contains("Audit: PASSED") && page.contains("class=\"audit pass\""));
        assert!(page.contains("open_to_assignment") && page.contains("p99.9"));
        assert!(page.contains("OpenConversation") && page.contains("UNAVAILABLE"));
        assert!(page.contains("Open to assignment latency") && page.contains("Throughput"));
    }

    #[test]
    fn faults_are_listed_and_marked_on_the_latency_plot() {
        let page = html(&crate::report::chaos_sample()).unwrap();
        assert!(page.contains("<h2>Faults</h2>") && page.contains("not recovered"), "{page}");
        assert!(page.contains(">\nfault\n</text>"), "a legend entry for the fault markers: {page}");
        assert!(html(&sample()).unwrap().contains("Stream reconnects: none."));
    }

    #[test]
    fn failed_audit_is_prominent_with_ids() {
        let page = html(&failed_sample()).unwrap();
        assert!(page.contains("class=\"audit fail\"") && page.contains("Audit: FAILED"));
        assert!(page.contains("no message lost") && page.contains("<code>conv-12</code>"));
    }

    #[test]
    fn result_strings_are_escaped() {
        let mut r = failed_sample();
        r.scenario = "<script>alert('x')</script>".to_string();
        r.audit.checks[1].detail = "a & b <img src=x>".to_string();
        r.audit.checks[1].ids = vec!["\"><script>".to_string()];
        r.errors.insert("<b>m</b>".to_string(), [("<i>".to_string(), 1)].into());
        let page = html(&r).unwrap();
        assert!(!page.contains("<script"), "unescaped script tag");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("a &amp; b &lt;img src=x&gt;"));
        assert!(page.contains("&lt;b&gt;m&lt;/b&gt;") && !page.contains("<img"));
    }

    #[test]
    fn empty_timeline_says_no_data() {
        let mut r = sample();
        r.timeline.clear();
        r.measures.clear();
        r.errors.clear();
        r.audit.checks.clear();
        let page = html(&r).unwrap();
        assert!(!page.contains("<svg"));
        assert_eq!(page.matches("No data.").count(), 3);
        assert!(page.contains("No latency measures.") && page.contains("<p>None.</p>"));
    }

    #[test]
    fn flat_single_and_odd_series_do_not_panic() {
        let mut r = sample();
        for s in &mut r.timeline {
            *s = Second { t: s.t, ..Second::default() };
        }
        let page = html(&r).unwrap();
        // All-zero counts still plot; latency has no samples without assignments.
        assert_eq!(page.matches("<svg").count(), 2, "{page}");

        r.timeline.truncate(1);
        html(&r).unwrap();

        r.timeline = vec![
            Second { t: f64::NAN, opens: 3, ..Second::default() },
            Second { t: 1.0, open_to_assignment_p99_ms: f64::INFINITY, assignments: 1, ..Second::default() },
            Second { t: 2.0, queue_depth: u64::MAX, in_flight: u64::MAX, assignments: 1, ..Second::default() },
            Second { t: 1e300, open_to_assignment_p50_ms: f64::MAX, assignments: 1, ..Second::default() },
        ];
        html(&r).unwrap();
    }

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(padded_range([0.0, 0.0].into_iter(), true), (0.0, 1.0));
        assert_eq!(padded_range(std::iter::empty(), false), (0.0, 1.0));
        assert_eq!(padded_range([5.0].into_iter(), false), (5.0, 10.0));
        let (lo, hi) = padded_range([-f64::MAX, f64::MAX].into_iter(), false);
        assert!(lo.is_finite() && hi.is_finite() && hi > lo);
        let (lo, hi) = padded_range([0.0, 10.0].into_iter(), true);
        assert!(lo == 0.0 && hi > 10.0);
    }
}
