//! Chaos mode: during the arrivals, one fault per period — kill (or terminate) and restart a
//! component of a local-runner topology with `switchyard-local restart`, cycling through the
//! components given — and, afterwards, how long the target took to recover from each.

use std::time::Duration;

use hdrhistogram::Histogram;
use switchyard_registry::Service;
use tokio::time::Instant;

use crate::local::{LocalRunner, Signal};
use crate::observe::{FaultObs, Obs, Recorder};
use crate::recovery;
use crate::result::{Chaos, Fault, Second};

/// What `--chaos` accepts: every service of the registry, `redis`, and `broker` or `kafka`
/// (the same process).
pub fn components() -> Vec<&'static str> {
    Service::ALL.iter().map(|s| s.name()).chain(["redis", "broker", "kafka"]).collect()
}

/// The faults of one run.
#[derive(Debug, Clone)]
pub struct ChaosPlan {
    /// As given, in order.
    pub components: Vec<String>,
    /// First fault, after the start of arrivals.
    pub start: Duration,
    pub every: Duration,
    pub signal: Signal,
    /// Faults only while arrivals go on: before this.
    pub until: Duration,
    pub runner: LocalRunner,
}

/// Checks `--chaos` values; the error names the first unknown one.
pub fn check_components(components: &[String]) -> Result<(), String> {
    let known = self::components();
    match components.iter().find(|c| !known.contains(&c.as_str())) {
        Some(unknown) => {
            let expected: Vec<&str> = known.into_iter().filter(|c| *c != "kafka").collect();
            Err(format!("--chaos: unknown component {unknown:?} (expected one of {})", expected.join(", ")))
        }
        None => Ok(()),
    }
}

/// The name the restart command takes.
fn restart_name(component: &str) -> &str {
    if component == "broker" {
        "kafka"
    } else {
        component
    }
}

impl ChaosPlan {
    /// (time after the start of arrivals, component) of every fault, in order.
    pub fn schedule(&self) -> Vec<(Duration, &str)> {
        let mut faults = Vec::new();
        if self.components.is_empty() || self.every.is_zero() {
            return faults;
        }
        let mut at = self.start;
        while at < self.until {
            faults.push((at, self.components[faults.len() % self.components.len()].as_str()));
            at += self.every;
        }
        faults
    }
}

/// Injects the plan's faults, recording each; the first failed restart command ends it with
/// that command's output.
pub async fn inject(plan: ChaosPlan, start: Instant, recorder: Recorder) -> anyhow::Result<()> {
    for (at, component) in plan.schedule() {
        tokio::time::sleep_until(start + at).await;
        let at_us = Instant::now().saturating_duration_since(start).as_micros() as u64;
        let (output, took) = plan.runner.restart(restart_name(component), plan.signal).await?;
        eprintln!(
            "chaos: {} {component} at {:.1} s (restart took {:.2} s): {output}",
            plan.signal.name(),
            at_us as f64 / 1e6,
            took.as_secs_f64()
        );
        recorder.record(Obs::Fault(FaultObs {
            component: component.to_owned(),
            signal: plan.signal.name().to_owned(),
            at_us,
            command_us: took.as_micros() as u64,
            output,
        }));
    }
    Ok(())
}

/// The result's chaos section: the baseline and each fault's recovery time.
pub fn summarize(plan: &ChaosPlan, faults: &[FaultObs], per_second: &[Histogram<u64>], timeline: &[Second]) -> Chaos {
    let at = |f: &FaultObs| f.at_us as f64 / 1e6;
    let first = faults.first().map(at);
    let baseline = match first {
        Some(t) => recovery::baseline(per_second, t),
        None => recovery::Baseline { p99_ms: None, seconds: 0, note: "no fault was injected".into() },
    };
    let faults = faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let next = faults.get(i + 1).map(at);
            let recovered = match baseline.p99_ms {
                Some(p99) => recovery::recovery(timeline, p99, at(f), next),
                None => Err("no baseline to recover to".to_owned()),
            };
            let (recovery_s, note) = match recovered {
                Ok(s) => (Some(s), String::new()),
                Err(why) => (None, why),
            };
            Fault {
                component: f.component.clone(),
                at_s: at(f),
                signal: f.signal.clone(),
                command_s: f.command_us as f64 / 1e6,
                output: f.output.clone(),
                recovery_s,
                note,
            }
        })
        .collect();
    Chaos {
        components: plan.components.clone(),
        signal: plan.signal.name().to_owned(),
        start_s: plan.start.as_secs_f64(),
        every_s: plan.every.as_secs_f64(),
        baseline_p99_ms: baseline.p99_ms,
        baseline_s: baseline.seconds as u64,
        baseline_note: baseline.note,
        faults,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn plan(components: &[&str], start: u64, every: u64, until: u64) -> ChaosPlan {
        ChaosPlan {
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            start: Duration::from_secs(start),
            every: Duration::from_secs(every),
            signal: Signal::Kill,
            until: Duration::from_secs(until),
            runner: LocalRunner { bin: PathBuf::from("switchyard-local"), dir: PathBuf::from(".switchyard-local") },
        }
    }

    #[test]
    fn one_fault_per_period_cycling_through_the_components_while_arrivals_go_on() {
        let p = plan(&["router", "broker"], 15, 15, 120);
        let got: Vec<(u64, &str)> = p.schedule().into_iter().map(|(at, c)| (at.as_secs(), c)).collect();
        assert_eq!(
            got,
            [
                (15, "router"),
                (30, "broker"),
                (45, "router"),
                (60, "broker"),
                (75, "router"),
                (90, "broker"),
                (105, "router")
            ]
        );
        assert!(plan(&["router"], 20, 15, 20).schedule().is_empty());
        assert_eq!(restart_name("broker"), "kafka");
        assert_eq!(restart_name("router"), "router");
    }

    #[test]
    fn unknown_components_are_named() {
        assert!(check_components(&["router".into(), "redis".into(), "kafka".into()]).is_ok());
        let every: Vec<String> = Service::ALL.iter().map(|s| s.name().to_owned()).collect();
        assert!(check_components(&every).is_ok(), "every service of the registry can be restarted");
        let err = check_components(&["router".into(), "databse".into()]).unwrap_err();
        assert!(err.contains("\"databse\"") && err.contains("router, capacity"), "{err}");
    }

    #[test]
    fn the_summary_has_the_baseline_and_each_faults_recovery() {
        let mut per_second: Vec<Histogram<u64>> =
            (0..30).map(|_| Histogram::new_with_bounds(1, 3_600_000_000, 2).unwrap()).collect();
        for h in per_second.iter_mut().take(10) {
            h.record(10_000).unwrap(); // 10 ms
        }
        let second = |t: usize, p99: f64, in_flight: u64| Second {
            t: (t + 1) as f64,
            assignments: 5,
            open_to_assignment_p99_ms: p99,
            in_flight,
            ..Second::default()
        };
        let mut timeline: Vec<Second> = (0..30).map(|t| second(t, 10.0, 0)).collect();
        for (t, s) in timeline.iter_mut().enumerate().filter(|(t, _)| (10..14).contains(t) || *t >= 20) {
            *s = second(t, 800.0, 40);
        }
        let fault = |at_s: u64, component: &str| FaultObs {
            component: component.into(),
            signal: "kill".into(),
            at_us: at_s * 1_000_000,
            command_us: 250_000,
            output: format!("restarted {component}"),
        };
        let p = plan(&["router", "capacity"], 10, 10, 30);
        let chaos = summarize(&p, &[fault(10, "router"), fault(20, "capacity")], &per_second, &timeline);
        let baseline = chaos.baseline_p99_ms.unwrap();
        assert!((baseline - 10.0).abs() < 0.1, "{baseline}");
        assert_eq!(chaos.baseline_s, 10);
        assert_eq!(chaos.faults.len(), 2);
        assert_eq!(chaos.faults[0].recovery_s, Some(4.0));
        assert_eq!((chaos.faults[0].command_s, chaos.faults[0].output.as_str()), (0.25, "restarted router"));
        assert_eq!(chaos.faults[1].recovery_s, None);
        assert_eq!(chaos.faults[1].note, "not recovered by the end of the run");
        assert_eq!(chaos.unrecovered(), 1);

        // A first fault at 2 s leaves no baseline: said so, and no recovery claimed.
        let early = summarize(&p, &[fault(2, "router")], &per_second, &timeline);
        assert_eq!(early.baseline_p99_ms, None);
        assert!(early.baseline_note.contains("only 2 whole seconds"), "{}", early.baseline_note);
        assert_eq!(early.faults[0].note, "no baseline to recover to");
    }
}
