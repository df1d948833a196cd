//! The automatic-message audit (§2.14) of a scenario with `[automessages]`, from what the
//! simulated partners read (each system message with its marker, transcript sequence and
//! append time) and what the agents did (assignments and first replies).
//!
//! Waits and silences are the harness's: a queue wait runs from the open's intended time to
//! the first assignment an agent saw, an agent's silence from that assignment to the agent's
//! first reply (issued), or to its close or transfer when it never replied. Both are at least
//! as long as the service's own (it opens later and assigns earlier than the harness sees;
//! a reply is stored after it is issued) by a few milliseconds, so with `slack` around the
//! timer (the service polls its timers once a second) a correct service never trips a check:
//! longer than timer + slack, the message must have come once; shorter than timer - slack,
//! never; in between, at most once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_proto::automessages::v1::AutomaticMessageEvent as Event;

use crate::observe::{ConvObs, SystemSeen};
use crate::result::Check;
use crate::scenario::automessages::{event_of, is_welcome};
use crate::scenario::Automessages;

/// Ids listed per failed check.
const MAX_IDS: usize = 50;

/// What the automatic messages came to, for the reports.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AutomessagesSummary {
    /// System messages the partners read, by event (`first_time_welcome`, ...; `other` for a
    /// text that is no marker of the harness).
    pub messages: BTreeMap<String, u64>,
    /// Conversations open long enough that they must have had a welcome.
    pub welcome_due: u64,
    pub waiting_in_queue: Option<Timed>,
    pub agent_non_responsive: Option<Timed>,
}

/// One timed event over the conversations the harness could time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timed {
    pub timer_s: u64,
    /// Waited (or were left) longer than timer + slack: must have the message.
    pub must_fire: u64,
    /// Shorter than timer - slack: must not.
    pub must_not_fire: u64,
    /// In between: either.
    pub either: u64,
    /// Conversations that had it.
    pub fired: u64,
}

impl AutomessagesSummary {
    pub fn summary(&self) -> String {
        let messages: Vec<String> = self.messages.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let messages = if messages.is_empty() { "none".to_owned() } else { messages.join(", ") };
        let mut out = format!("system messages: {messages}; welcome due {}", self.welcome_due);
        for (name, timed) in
            [("waiting_in_queue", &self.waiting_in_queue), ("agent_non_responsive", &self.agent_non_responsive)]
        {
            if let Some(t) = timed {
                out.push_str(&format!(
                    "; {name} ({} s): fired in {}, must fire {}, must not {}, either {}",
                    t.timer_s, t.fired, t.must_fire, t.must_not_fire, t.either
                ));
            }
        }
        out
    }
}

fn conv_id(idx: usize, c: &ConvObs) -> String {
    c.conversation_ids.first().cloned().unwrap_or_else(|| format!("consumer c{idx}"))
}

fn check(name: &str, offenders: Vec<String>, what: &str) -> Check {
    let passed = offenders.is_empty();
    let detail = if passed { "ok".to_owned() } else { format!("{} {what}", offenders.len()) };
    Check { name: name.to_owned(), invariant: 0, passed, detail, ids: offenders.into_iter().take(MAX_IDS).collect() }
}

fn secs(us: u64) -> String {
    format!("{:.1} s", us as f64 / 1e6)
}

/// What must be true of a wait or silence of `us` against `timer` ± `slack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    Fire,
    NotFire,
    Either,
}

fn due(us: u64, timer: Duration, slack: Duration) -> Due {
    let (timer, slack) = (timer.as_micros() as u64, slack.as_micros() as u64);
    if us > timer + slack {
        Due::Fire
    } else if us + slack < timer {
        Due::NotFire
    } else {
        Due::Either
    }
}

/// One conversation's system messages of its own ids, with their events (None: no marker).
fn messages(c: &ConvObs) -> Vec<(&SystemSeen, Option<Event>)> {
    c.system
        .iter()
        .filter(|m| c.conversation_ids.contains(&m.conversation_id))
        .map(|m| (m, event_of(&m.text)))
        .collect()
}

/// Every check of the section, and the numbers.
pub fn judge(convs: &[ConvObs], section: &Automessages) -> (Vec<Check>, AutomessagesSummary) {
    let slack = section.slack;
    let slack_us = slack.as_micros() as u64;
    let mut summary = AutomessagesSummary::default();
    let (mut no_welcome, mut welcome_late, mut switched_off, mut twice, mut disorder, mut early) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut queue_wrong, mut agent_wrong) = (Vec::new(), Vec::new());
    let mut queue = section.waiting_in_queue.map(|t| Timed { timer_s: t.as_secs(), ..Timed::default() });
    let mut agent = section.agent_non_responsive.map(|t| Timed { timer_s: t.as_secs(), ..Timed::default() });
    for (idx, c) in convs.iter().enumerate().filter(|(_, c)| c.opened()) {
        let id = conv_id(idx, c);
        let seen = messages(c);
        let count = |f: &dyn Fn(Event) -> bool| seen.iter().filter(|(_, e)| e.is_some_and(f)).count();
        for (m, event) in &seen {
            let name = event.map_or("other".to_owned(), |e| e.as_str_name().to_ascii_lowercase());
            *summary.messages.entry(name).or_default() += 1;
            if !event.is_some_and(|e| section.on(e)) {
                switched_off.push(format!("{id} ({:?})", m.text));
            }
        }
        // Stream order is transcript order, and appends are stamped in order.
        for pair in seen.windows(2) {
            let (a, b) = (pair[0].0, pair[1].0);
            if b.sequence <= a.sequence || b.sent_at_ms < a.sent_at_ms {
                disorder.push(format!(
                    "{id} ({:?} sequence {} at {} ms, then {:?} sequence {} at {} ms)",
                    a.text, a.sequence, a.sent_at_ms, b.text, b.sequence, b.sent_at_ms
                ));
                break;
            }
        }
        let first_assignment = c.assignments.iter().min_by_key(|(_, at)| *at).copied();
        // Triggers: one welcome, a queue stay per assignment (one if never assigned), one
        // silence per assignment (no consumer writes after a reply, validated).
        let welcomes = count(&is_welcome);
        let stays = c.assignments.len().max(1);
        for (event, n, triggers) in [
            ("welcome", welcomes, 1),
            ("waiting_in_queue", count(&|e| e == Event::WaitingInQueue), stays),
            ("agent_non_responsive", count(&|e| e == Event::AgentNonResponsive), c.assignments.len()),
        ] {
            if n > triggers {
                twice.push(format!("{id} ({event} {n} times, {triggers} triggers)"));
            }
        }
        if section.welcome {
            let open_for = c.close_issued_us.map(|t| t.saturating_sub(c.intended_us));
            if open_for.is_none_or(|us| us > slack_us) {
                summary.welcome_due += 1;
                if welcomes == 0 {
                    let open = open_for.map_or("not closed".to_owned(), |us| format!("open {}", secs(us)));
                    no_welcome.push(format!("{id} ({open}, no welcome)"));
                }
            }
            let first_welcome = seen.iter().position(|(_, e)| e.is_some_and(is_welcome));
            if first_welcome.is_some_and(|p| p > 0) {
                welcome_late.push(format!("{id} ({:?} before the welcome)", seen[0].0.text));
            }
        }
        if let (Some(timer), Some(t)) = (section.waiting_in_queue, queue.as_mut()) {
            let fired: Vec<&SystemSeen> =
                seen.iter().filter(|(_, e)| *e == Some(Event::WaitingInQueue)).map(|(m, _)| *m).collect();
            t.fired += u64::from(!fired.is_empty());
            let earliest = c.intended_us + timer.as_micros() as u64;
            for m in &fired {
                if m.seen_us + slack_us < earliest {
                    early.push(format!(
                        "{id} (waiting_in_queue read {} after the open)",
                        secs(m.seen_us - c.intended_us)
                    ));
                }
            }
            // A conversation assigned more than once had more stays than the harness times.
            if let (Some((_, at)), 1) = (first_assignment, c.assignments.len()) {
                let wait = at.saturating_sub(c.intended_us);
                judge_timed(due(wait, timer, slack), !fired.is_empty(), t, &mut queue_wrong, || {
                    format!("{id} (waited {} for an agent", secs(wait))
                });
            }
        }
        if let (Some(timer), Some(t), Some((agent_ix, at))) =
            (section.agent_non_responsive, agent.as_mut(), first_assignment)
        {
            let fired: Vec<&SystemSeen> =
                seen.iter().filter(|(_, e)| *e == Some(Event::AgentNonResponsive)).map(|(m, _)| *m).collect();
            t.fired += u64::from(!fired.is_empty());
            let earliest = at + timer.as_micros() as u64;
            for m in &fired {
                if m.seen_us + slack_us < earliest {
                    let after = m.seen_us.saturating_sub(at);
                    early.push(format!("{id} (agent_non_responsive read {} after the assignment)", secs(after)));
                }
            }
            let replied = c.first_replies.iter().find(|(a, _)| *a == agent_ix).map(|(_, r)| *r);
            let released = c.released.iter().find(|(a, _)| *a == agent_ix).map(|(_, r)| *r);
            let ended = replied.or(released).or(c.close_issued_us);
            if let (Some(end), 1) = (ended, c.assignments.len()) {
                let silent = end.saturating_sub(at);
                let how = if replied.is_some() { "replied" } else { "closed or transferred without a reply" };
                judge_timed(due(silent, timer, slack), !fired.is_empty(), t, &mut agent_wrong, || {
                    format!("{id} (the agent {how} {} after the assignment", secs(silent))
                });
            }
        }
    }
    let mut checks = Vec::new();
    if section.welcome {
        checks.push(check("automatic messages: a welcome per conversation", no_welcome, "conversations without one"));
        checks.push(check("automatic messages: the welcome comes first", welcome_late, "conversations"));
    }
    if section.waiting_in_queue.is_some() {
        let name = "automatic messages: waiting in queue exactly when the wait passed its timer";
        checks.push(check(name, queue_wrong, "conversations"));
    }
    if section.agent_non_responsive.is_some() {
        let name = "automatic messages: agent non-responsive exactly when the agent stayed silent past its timer";
        checks.push(check(name, agent_wrong, "conversations"));
    }
    if queue.is_some() || agent.is_some() {
        checks.push(check("automatic messages: none before its timer", early, "messages too early"));
    }
    checks.extend([
        check("automatic messages: none of an event switched off", switched_off, "messages"),
        check("automatic messages: once per trigger", twice, "conversations with a message repeated"),
        check("automatic messages: in transcript order", disorder, "conversations out of order"),
    ]);
    (summary.waiting_in_queue, summary.agent_non_responsive) = (queue, agent);
    (checks, summary)
}

/// Counts a timed conversation and names it when the message came against the rule.
fn judge_timed(due: Due, fired: bool, t: &mut Timed, wrong: &mut Vec<String>, what: impl Fn() -> String) {
    match due {
        Due::Fire => t.must_fire += 1,
        Due::NotFire => t.must_not_fire += 1,
        Due::Either => t.either += 1,
    }
    match (due, fired) {
        (Due::Fire, false) => wrong.push(format!("{}, no message)", what())),
        (Due::NotFire, true) => wrong.push(format!("{}, yet the message came)", what())),
        _ => {}
    }
}

#[cfg(test)]
#[path = "automessages_audit_tests.rs"]
mod tests;
