//! The transfer audit of scenarios with `[transfers]`.
//!
//! Two views are judged. The harness's own (a [`Tally`] the simulated agents fill in): every
//! transfer it asked for (from whom, to which skill or agent), how the call went, and the
//! target's state as the harness knew it around the call. The router's (`ExplainRouting` of
//! every transferred conversation after the drain, see `sim/transfer.rs`): from the last
//! `queued` decision of the transfer (reason `transfer_to_agent` or `transfer`, its agent the
//! one it came from), the decisions after it are replayed by [`Story::replay`].
//!
//! Checks:
//! - **every transfer to an agent served by that agent or timed out to the skill** (R12.2,
//!   R12.6): after the transfer, no offer or assignment to anyone but the suggested agent
//!   until a `moved suggested_agent_timeout` naming it, and that no sooner than the skill's
//!   maximum wait; then served, by the suggested agent or by an agent holding the skill; the
//!   agents the harness saw get it agree;
//! - **every transfer to a skill served on that skill** (R12.2): the next assignment is on the
//!   destination skill, to an agent holding it (or the conversation closed first);
//! - **transfers refused only to agents out of reach** (R12.3): a transfer to an agent the
//!   harness had ONLINE or BACK_SOON succeeded, one to an AWAY or logged-out agent was refused
//!   (a target changing state during the call is not judged), and no transfer to a skill was
//!   refused (the scenario sets no transfer lists).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use switchyard_proto::admin::v1::RoutingDecision;

use crate::result::Check;
use crate::scenario::Presence;

pub const TO_AGENT_CHECK: &str = "every transfer to an agent served by that agent or timed out to the skill";
pub const TO_SKILL_CHECK: &str = "every transfer to a skill served on that skill";
pub const REACH_CHECK: &str = "transfers refused only to agents out of reach";
/// Every check the transfer audit adds.
pub const CHECKS: [&str; 3] = [TO_AGENT_CHECK, TO_SKILL_CHECK, REACH_CHECK];

/// Ids named in a failed check.
const MAX_EXAMPLES: usize = 10;
/// How much sooner than the maximum wait a timeout may be logged (both times are the router's
/// clock; this only absorbs rounding).
pub const TIMEOUT_SKEW_MS: i64 = 100;

/// Which transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ToSkill,
    ToAgent,
}

/// One transfer the harness asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub conversation_id: String,
    pub account: u32,
    pub from_agent: String,
    pub kind: Kind,
    /// The destination skill (to a skill) or the target agent (to an agent).
    pub to: String,
    /// To an agent: the target's state as the harness knew it before and after the call;
    /// `None` when it changed (or was changing) meanwhile. `Some(None)`: logged out.
    pub target_state: Option<Option<Presence>>,
    /// The status code name of a refusal; `None`: the transfer was accepted.
    pub refused: Option<String>,
}

/// The harness's view of the transfers, filled in by the simulated agents as they go.
#[derive(Debug, Default)]
pub struct Tally {
    /// Schedule index -> the transfer of that conversation (at most one each).
    pub issued: BTreeMap<usize, Issued>,
    /// Conversations whose first holder has replied (schedule index -> agent index): a later
    /// holder continues them from the second reply.
    pub first_holder: HashMap<usize, usize>,
    /// Transfers to an agent skipped because the account has no other target agent.
    pub no_target: u64,
}

/// What the transfer audit found: the result's `transfers` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TransferSummary {
    /// Transfers to a skill the server accepted, and refused.
    pub to_skill: u64,
    pub to_skill_refused: u64,
    /// Transfers to an agent the server accepted, and refused.
    pub to_agent: u64,
    pub to_agent_refused: u64,
    /// Refusals by status code.
    pub refused_by_code: BTreeMap<String, u64>,
    /// Transfers to an agent skipped: no other agent to transfer to.
    pub no_target: u64,
    /// The router's view over the explained (accepted) transfers.
    pub explained: u64,
    pub unexplained: u64,
    /// To an agent: served by it within the maximum wait.
    pub served_by_suggested: u64,
    /// To an agent: timed out, then served by another agent of the skill.
    pub timed_out: u64,
    /// The same two by the target's state at the transfer as the harness knew it (`online`,
    /// `back_soon`, `away`, `logged_out`, or `changing`): a timeout of an agent that was ONLINE
    /// stands out (it was full for the whole maximum wait, or the router missed it).
    #[serde(default)]
    pub served_by_suggested_from: BTreeMap<String, u64>,
    #[serde(default)]
    pub timed_out_from: BTreeMap<String, u64>,
    /// To an agent: timed out, then served by the suggested agent anyway.
    pub timed_out_then_suggested: u64,
    /// To a skill: served on the destination skill.
    pub served_on_skill: u64,
    /// Closed before anyone was given it after the transfer.
    pub closed_waiting: u64,
    /// The skills' maximum wait, ms.
    pub max_wait_ms: u64,
    /// The latest timeout after the maximum wait, ms (the timer's delay).
    pub timeout_late_max_ms: i64,
}

impl TransferSummary {
    /// The `transfers:` line of the terminal table.
    pub fn summary(&self) -> String {
        let list = |m: &BTreeMap<String, u64>| {
            let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
            if parts.is_empty() {
                String::new()
            } else {
                format!(" ({})", parts.join(", "))
            }
        };
        format!(
            "to agent: {} accepted, {} refused; {} served by the suggested agent{}, {} timed out to the skill{}, {} \
             timed out then served by the suggested agent; max wait {} s, latest timeout +{} ms; to skill: {} \
             accepted, {} refused, {} served on the destination skill; {} closed waiting; refusals{}; router: {} \
             explained, {} unexplained",
            self.to_agent,
            self.to_agent_refused,
            self.served_by_suggested,
            list(&self.served_by_suggested_from),
            self.timed_out,
            list(&self.timed_out_from),
            self.timed_out_then_suggested,
            self.max_wait_ms / 1000,
            self.timeout_late_max_ms,
            self.to_skill,
            self.to_skill_refused,
            self.served_on_skill,
            self.closed_waiting,
            if self.refused_by_code.is_empty() { " none".to_owned() } else { list(&self.refused_by_code) },
            self.explained,
            self.unexplained,
        )
    }
}

/// How one accepted transfer ended, by the router's decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    BySuggested,
    TimedOut,
    TimedOutThenSuggested,
    OnSkill,
    ClosedWaiting,
    /// A problem was found (in [`Story::problems`]).
    Broken,
}

/// One explained transfer, replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub outcome: Outcome,
    /// What broke the rules, in words, each naming the conversation.
    pub problems: Vec<String>,
    /// How long after the maximum wait the timeout came, ms.
    pub timeout_late_ms: Option<i64>,
}

/// What one explained conversation needs besides its transfer.
pub struct Explanation<'a> {
    /// `ExplainRouting`'s status: `queued`, `assigned` or `closed`.
    pub status: &'a str,
    pub decisions: &'a [RoutingDecision],
    /// The agents the harness saw get the conversation, in order.
    pub holders: &'a [String],
}

impl Story {
    /// Replays the decisions after the transfer. `holds(agent, skill)`: whether that agent of
    /// the conversation's account holds the skill.
    pub fn replay(t: &Issued, e: &Explanation<'_>, max_wait_ms: i64, holds: &dyn Fn(&str, &str) -> bool) -> Story {
        let id = &t.conversation_id;
        let mut story = Story { outcome: Outcome::Broken, problems: Vec::new(), timeout_late_ms: None };
        let reason = if t.kind == Kind::ToAgent { "transfer_to_agent" } else { "transfer" };
        let Some(start) = e.decisions.iter().rposition(|d| d.kind == "queued" && d.reason == reason) else {
            story.problems.push(format!("{id}: no `queued {reason}` decision: {}", trail(e.decisions)));
            return story;
        };
        let queued = &e.decisions[start];
        if queued.agent_id != t.from_agent {
            story.problems.push(format!(
                "{id}: queued for the transfer from {:?}, the harness transferred it from {}",
                queued.agent_id, t.from_agent
            ));
        }
        if t.kind == Kind::ToSkill && queued.skill_id != t.to {
            story.problems.push(format!("{id}: transferred to {}, queued on {:?}", t.to, queued.skill_id));
        }
        let mut timed_out = false;
        let mut served = None;
        for d in &e.decisions[start + 1..] {
            let at = d.at_ms - queued.at_ms;
            match d.kind.as_str() {
                "moved" if d.reason == "suggested_agent_timeout" => {
                    if t.kind == Kind::ToSkill || timed_out {
                        story.problems.push(format!("{id}: a suggested-agent timeout {at} ms after the transfer"));
                    } else if d.agent_id != t.to {
                        story
                            .problems
                            .push(format!("{id}: the timeout names {:?}, not the suggested {}", d.agent_id, t.to));
                    }
                    if at + TIMEOUT_SKEW_MS < max_wait_ms {
                        story.problems.push(format!(
                            "{id}: timed out {at} ms after the transfer, before the maximum wait ({max_wait_ms} ms)"
                        ));
                    }
                    story.timeout_late_ms = Some(at - max_wait_ms);
                    timed_out = true;
                }
                "moved" if t.kind == Kind::ToSkill && !d.skill_id.is_empty() && d.skill_id != t.to => {
                    story
                        .problems
                        .push(format!("{id}: moved to skill {} ({}) {at} ms after the transfer", d.skill_id, d.reason));
                }
                "offered" if t.kind == Kind::ToAgent && !timed_out && d.agent_id != t.to => {
                    story.problems.push(format!(
                        "{id}: offered to {} {at} ms after the transfer to {}, before its timeout",
                        d.agent_id, t.to
                    ));
                }
                "assigned" => {
                    served = Some(d);
                    break;
                }
                "queued" => {
                    story.problems.push(format!("{id}: queued again ({}) {at} ms after the transfer", d.reason));
                    break;
                }
                _ => {}
            }
        }
        let outcome = match (t.kind, served) {
            (_, None) if e.status == "closed" => Outcome::ClosedWaiting,
            (_, None) => {
                story.problems.push(format!(
                    "{id}: never served after the transfer ({}): {}",
                    e.status,
                    trail(e.decisions)
                ));
                Outcome::Broken
            }
            (Kind::ToAgent, Some(d)) if d.agent_id == t.to => {
                if timed_out {
                    Outcome::TimedOutThenSuggested
                } else {
                    Outcome::BySuggested
                }
            }
            (Kind::ToAgent, Some(d)) if !timed_out => {
                story.problems.push(format!(
                    "{id}: assigned to {} {} ms after the transfer to {}, before its timeout",
                    d.agent_id,
                    d.at_ms - queued.at_ms,
                    t.to
                ));
                Outcome::Broken
            }
            (kind, Some(d)) => {
                if kind == Kind::ToSkill && d.skill_id != t.to {
                    story
                        .problems
                        .push(format!("{id}: assigned on {:?}, not on {} where it was transferred", d.skill_id, t.to));
                }
                if !holds(&d.agent_id, &d.skill_id) {
                    story
                        .problems
                        .push(format!("{id}: assigned to {}, who does not hold skill {:?}", d.agent_id, d.skill_id));
                }
                if kind == Kind::ToAgent {
                    Outcome::TimedOut
                } else {
                    Outcome::OnSkill
                }
            }
        };
        // The harness's view: who got it after the one who transferred it.
        let after: Vec<&String> = e.holders.iter().skip_while(|h| **h != t.from_agent).skip(1).collect();
        if t.kind == Kind::ToAgent && !timed_out {
            if let Some(other) = after.iter().find(|h| ***h != t.to) {
                story.problems.push(format!("{id}: {other} got it after the transfer to {} (no timeout)", t.to));
            }
        }
        if let Some(d) = served {
            if d.agent_id != t.from_agent && !after.iter().any(|h| **h == d.agent_id) {
                story.problems.push(format!("{id}: assigned to {} by the router, who never got it", d.agent_id));
            }
        }
        story.outcome = if story.problems.is_empty() { outcome } else { Outcome::Broken };
        story
    }
}

fn trail(decisions: &[RoutingDecision]) -> String {
    crate::offers::trail_of(decisions, |d| [d.skill_id.as_str(), d.agent_id.as_str(), d.reason.as_str()].into_iter())
}

/// What the checks need.
pub struct Input<'a> {
    pub tally: &'a Tally,
    /// Accepted transfers explained: (the transfer, how it ended).
    pub stories: &'a [(&'a Issued, Story)],
    /// Accepted transfers that could not be explained, with why.
    pub unexplained: &'a [String],
    pub max_wait_ms: u64,
}

/// The three checks and the numbers.
pub fn judge(input: &Input<'_>) -> (Vec<Check>, TransferSummary) {
    let mut s = TransferSummary {
        no_target: input.tally.no_target,
        explained: input.stories.len() as u64,
        unexplained: input.unexplained.len() as u64,
        max_wait_ms: input.max_wait_ms,
        ..TransferSummary::default()
    };
    let mut reach = Vec::new();
    for t in input.tally.issued.values() {
        let (ok, refused) = match t.kind {
            Kind::ToSkill => (&mut s.to_skill, &mut s.to_skill_refused),
            Kind::ToAgent => (&mut s.to_agent, &mut s.to_agent_refused),
        };
        match &t.refused {
            None => *ok += 1,
            Some(code) => {
                *refused += 1;
                *s.refused_by_code.entry(code.clone()).or_default() += 1;
            }
        }
        let id = &t.conversation_id;
        match (t.kind, &t.refused, t.target_state) {
            (Kind::ToSkill, Some(code), _) => {
                reach.push(format!("{id}: the transfer to skill {} was refused ({code})", t.to))
            }
            (Kind::ToAgent, Some(code), Some(Some(state))) if state.reachable() => {
                reach.push(format!("{id}: the transfer to {} ({}) was refused ({code})", t.to, state.name()))
            }
            (Kind::ToAgent, None, Some(None)) => {
                reach.push(format!("{id}: transferred to {}, who was logged out", t.to))
            }
            (Kind::ToAgent, None, Some(Some(state))) if !state.reachable() => {
                reach.push(format!("{id}: transferred to {} ({}): agents may not reach it", t.to, state.name()))
            }
            _ => {}
        }
    }
    let (mut to_agent, mut to_skill) = (Vec::new(), Vec::new());
    for (t, story) in input.stories {
        let from = match t.target_state {
            Some(Some(state)) => state.name(),
            Some(None) => "logged_out",
            None => "changing",
        };
        match story.outcome {
            Outcome::BySuggested => {
                s.served_by_suggested += 1;
                *s.served_by_suggested_from.entry(from.to_owned()).or_default() += 1;
            }
            Outcome::TimedOut => {
                s.timed_out += 1;
                *s.timed_out_from.entry(from.to_owned()).or_default() += 1;
            }
            Outcome::TimedOutThenSuggested => s.timed_out_then_suggested += 1,
            Outcome::OnSkill => s.served_on_skill += 1,
            Outcome::ClosedWaiting => s.closed_waiting += 1,
            Outcome::Broken => {}
        }
        if let Some(late) = story.timeout_late_ms {
            s.timeout_late_max_ms = s.timeout_late_max_ms.max(late);
        }
        let problems = if t.kind == Kind::ToAgent { &mut to_agent } else { &mut to_skill };
        problems.extend(story.problems.iter().cloned());
    }
    let not_explained: Vec<String> = input.unexplained.iter().map(|id| format!("{id}: not explained")).collect();
    let check = |name: &str, problems: Vec<String>, what: &str, ok: String, needs_router: bool| {
        let mut ids = problems.clone();
        let mut detail = if problems.is_empty() { ok } else { format!("{} {what}", problems.len()) };
        let unexplained = needs_router && !not_explained.is_empty();
        if unexplained {
            detail.push_str(&format!("; {} transferred conversations could not be explained", not_explained.len()));
            ids.extend(not_explained.iter().cloned());
        }
        ids.truncate(MAX_EXAMPLES);
        Check { name: name.to_owned(), invariant: 0, passed: problems.is_empty() && !unexplained, detail, ids }
    };
    let checks = vec![
        check(
            TO_AGENT_CHECK,
            to_agent,
            "transfers to an agent broke the rule",
            format!(
                "{} transfers to an agent: {} served by that agent, {} timed out to the skill ({} then by that agent), \
                 {} closed waiting",
                s.to_agent, s.served_by_suggested, s.timed_out, s.timed_out_then_suggested, s.closed_waiting
            ),
            true,
        ),
        check(
            TO_SKILL_CHECK,
            to_skill,
            "transfers to a skill not served on it",
            format!("{} transfers to a skill, {} served on it", s.to_skill, s.served_on_skill),
            true,
        ),
        check(
            REACH_CHECK,
            reach,
            "transfers accepted or refused against the target's state",
            format!("{} transfers refused, each to an agent out of reach", s.to_skill_refused + s.to_agent_refused),
            false,
        ),
    ];
    (checks, s)
}

#[cfg(test)]
#[path = "transfers_tests.rs"]
mod tests;
