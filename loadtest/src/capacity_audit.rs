//! The invariant-2 audit for scenarios with a `[capacity]` section, from what the simulated
//! agents observed: weighted load (R8.1-R8.6) instead of open conversations, and the warm-up
//! allowance (R8.12-R8.14).
//!
//! Every estimate errs low, so a correct service never trips a check: a conversation counts
//! from when its agent first saw it (after the service assigned it) until its close or
//! transfer was issued (before the service freed it), and weighs the inactive weight from its
//! agent's first reply plus the time to inactive (the service measures from the stored reply,
//! which is later, and drops it on a timer, later still). Consumers write nothing after the
//! open in these scenarios (validated), so nothing restores a dropped weight.

use std::collections::BTreeMap;

use crate::audit::AgentInfo;
use crate::observe::ConvObs;
use crate::result::Check;
use crate::scenario::{Capacity, Warmup};

/// Ids listed per failed check.
const MAX_IDS: usize = 50;
/// The service stores times in whole milliseconds: a warm-up step may open up to this much
/// before the harness's reading of login time plus the interval.
const WARMUP_SLACK_US: u64 = 5_000;

/// One conversation as one agent held it (µs since the start of arrivals).
#[derive(Debug, Clone, Copy)]
struct Held {
    from: u64,
    /// When the close or transfer was issued; None: never.
    until: Option<u64>,
    /// When it weighs the inactive weight at the earliest; None: never.
    inactive_from: Option<u64>,
}

impl Held {
    fn holds_at(&self, t: u64) -> bool {
        self.from <= t && self.until.is_none_or(|u| u > t)
    }
}

fn milli(x: f64) -> i64 {
    (x * 1000.0).round() as i64
}

/// What each agent held, in order of assignment.
fn holdings(convs: &[ConvObs], capacity: &Capacity) -> BTreeMap<u32, Vec<Held>> {
    let tti = capacity.time_to_inactive.as_micros() as u64;
    let mut by_agent: BTreeMap<u32, Vec<Held>> = BTreeMap::new();
    for c in convs {
        for (agent, at) in &c.assignments {
            let released = c.released.iter().filter(|(a, _)| a == agent).map(|(_, t)| *t).min();
            let until = released.or(c.close_issued_us).map(|end| end.max(*at));
            let replied = c.first_replies.iter().find(|(a, _)| a == agent).map(|(_, t)| *t);
            let inactive_from = replied.filter(|_| capacity.decays()).map(|r| r.max(*at) + tti);
            by_agent.entry(*agent).or_default().push(Held { from: *at, until, inactive_from });
        }
    }
    for held in by_agent.values_mut() {
        held.sort_by_key(|h| h.from);
    }
    by_agent
}

fn check(name: &str, offenders: Vec<String>, what: &str) -> Check {
    let passed = offenders.is_empty();
    let detail = if passed { "ok".to_owned() } else { format!("{} {what}", offenders.len()) };
    Check { name: name.to_owned(), invariant: 2, passed, detail, ids: offenders.into_iter().take(MAX_IDS).collect() }
}

/// The checks: weighted load within max + headroom at every assignment; with warm-up, no
/// agent held more than the allowance and every agent that logged in during the run was fed
/// up to its maximum; with `expect_beyond_max`, some agent held more than its maximum.
pub fn judge(convs: &[ConvObs], agents: &[AgentInfo], logins: &BTreeMap<u32, u64>, capacity: &Capacity) -> Vec<Check> {
    let holdings = holdings(convs, capacity);
    let (active, inactive) = (milli(capacity.active_weight), milli(capacity.inactive_weight));
    let (mut over, mut beyond) = (Vec::new(), Vec::new());
    for (agent, held) in &holdings {
        let Some(info) = agents.get(*agent as usize) else { continue };
        let limit = i64::from(info.max_conversations) * 1000 + milli(capacity.headroom);
        let mut most_open = 0;
        for h in held {
            let t = h.from;
            let now: Vec<&Held> = held.iter().filter(|o| o.holds_at(t)).collect();
            let load: i64 =
                now.iter().map(|o| if o.inactive_from.is_some_and(|i| i <= t) { inactive } else { active }).sum();
            most_open = most_open.max(now.len());
            if load > limit {
                over.push(format!(
                    "{} (load {:.1} at {:.3} s, max {} + headroom {})",
                    info.id,
                    load as f64 / 1000.0,
                    t as f64 / 1e6,
                    info.max_conversations,
                    capacity.headroom
                ));
            }
        }
        if most_open > info.max_conversations as usize {
            beyond.push(format!("{} (held {most_open}, max {})", info.id, info.max_conversations));
        }
    }
    let mut checks =
        vec![check("no agent over its maximum (weighted load)", over, "assignments took an agent past max + headroom")];
    if capacity.expect_beyond_max {
        let mut c = check("agents held more than their maximum (inactive weights)", Vec::new(), "");
        c.passed = !beyond.is_empty();
        c.detail = if c.passed {
            format!("{} agents, e.g. {}", beyond.len(), beyond[0])
        } else {
            "no agent held more open conversations than its maximum".to_owned()
        };
        checks.push(c);
    }
    if let Some(warmup) = capacity.warmup {
        checks.extend(judge_warmup(&holdings, agents, logins, warmup));
    }
    checks
}

/// R8.12: from login, the first conversation at once, then one more every interval (counted
/// as assigned, whether or not earlier ones closed), until the maximum period ends (R8.14).
/// The service starts the warm-up at the first claim after login, so counting from the login
/// call allows at least as much as it does. Validation keeps weights from letting an agent
/// that holds its maximum take more, so every assignment before the maximum counts.
fn judge_warmup(
    holdings: &BTreeMap<u32, Vec<Held>>,
    agents: &[AgentInfo],
    logins: &BTreeMap<u32, u64>,
    warmup: Warmup,
) -> Vec<Check> {
    let (interval, period) = (warmup.interval.as_micros() as u64, warmup.max_period.as_micros() as u64);
    let (mut too_fast, mut starved) = (Vec::new(), Vec::new());
    for (agent, login) in logins {
        let Some(info) = agents.get(*agent as usize) else { continue };
        let held = holdings.get(agent).map(Vec::as_slice).unwrap_or_default();
        let (mut most, mut taken) = (0, 0);
        for h in held.iter().filter(|h| h.from >= *login) {
            most = most.max(held.iter().filter(|o| o.holds_at(h.from)).count());
            let since = h.from - login;
            if since >= period {
                continue;
            }
            taken += 1;
            let allowed = 1 + (since + WARMUP_SLACK_US) / interval;
            if taken > allowed {
                too_fast.push(format!(
                    "{} (assignment {taken} at {:.3} s after login, warm-up allows {allowed})",
                    info.id,
                    since as f64 / 1e6
                ));
            }
        }
        if most < info.max_conversations as usize {
            starved.push(format!("{} (held at most {most}, max {})", info.id, info.max_conversations));
        }
    }
    vec![
        check(
            "warm-up: one more conversation per interval after login",
            too_fast,
            "agents fed faster than warm-up allows",
        ),
        check(
            "warm-up: agents logging in during a backlog are fed up to max",
            starved,
            "agents never reached their maximum",
        ),
    ]
}

#[cfg(test)]
#[path = "capacity_audit_tests.rs"]
mod tests;
