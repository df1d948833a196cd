//! The queue-order audit of scenarios with a `[routing]` section: after the drain a bounded
//! sample of conversations is explained (`ExplainRouting`, see `sim/routing.rs`), and from each
//! one's decisions (skill, queued score, queued at, assigned at) this module judges two things.
//!
//! - **Served in score order.** No conversation B was assigned while a conversation A of the
//!   same account and skill with a strictly lower (better) score had been queued before B's
//!   assignment and was still waiting, unless A was assigned within `tolerance` after B. The
//!   tolerance is one assignment pass (`router.assign_interval`, 2 s by default): a pass serves
//!   the queue in order, but a conversation queued while a pass is running may be seen only by
//!   the next one. A pair counts as checked when A had the better score and was queued before
//!   B's assignment (the pairs the rule constrains).
//! - **Velocity works end to end.** Among the conversations that waited in a backlog (queued
//!   while an earlier one of the same account and skill was still waiting), the mean wait from
//!   queued to assigned per channel. It fails only when a channel with a higher velocity (the
//!   product of the scenario's rules for it) waited longer on average than one with a lower
//!   velocity.
//!
//! Times are the router's (`at_ms` of the decisions), so they compare with each other whatever
//! the harness's clock did. A conversation moved in its queue (a consumer message, an urgent
//! mark) is judged with the score it had when the other one was assigned.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_proto::admin::v1::RoutingDecision;

use crate::result::Check;

/// Out-of-order pairs named in the failed check.
const MAX_EXAMPLES: usize = 10;

pub const ORDER_CHECK: &str = "queue served in score order";
pub const VELOCITY_CHECK: &str = "velocity shortens waits";

/// One explained conversation, as the checks need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub conversation_id: String,
    pub account: u32,
    pub skill: String,
    pub channel: String,
    pub queued_at_ms: i64,
    /// The score it was served with (its last placement before the assignment).
    pub score: i64,
    /// Its placements (`queued`, `moved`) from the first queue entry to the assignment, as
    /// (at_ms, score), oldest first.
    pub placements: Vec<(i64, i64)>,
    /// None: never assigned.
    pub assigned_at_ms: Option<i64>,
}

impl Sample {
    /// From a conversation's routing decisions (oldest first): the first `queued` gives the
    /// queue time, the first `assigned` (or `offered`, when the account rings) after it the
    /// assignment, and the last `queued` or `moved` before that the score and skill. None
    /// without a `queued` decision.
    pub fn from_decisions(
        conversation_id: &str,
        account: u32,
        channel: &str,
        decisions: &[RoutingDecision],
    ) -> Option<Self> {
        let first = decisions.iter().position(|d| d.kind == "queued")?;
        // Served: assigned, or (ring modes) first offered; a later accept may wait on the agent.
        let assigned =
            decisions[first..].iter().position(|d| d.kind == "assigned" || d.kind == "offered").map(|i| first + i);
        let until = assigned.unwrap_or(decisions.len());
        let placements: Vec<&RoutingDecision> =
            decisions[first..until].iter().filter(|d| d.kind == "queued" || d.kind == "moved").collect();
        let placed = placements.last()?;
        Some(Self {
            conversation_id: conversation_id.to_owned(),
            account,
            skill: placed.skill_id.clone(),
            channel: channel.to_owned(),
            queued_at_ms: decisions[first].at_ms,
            score: placed.score,
            placements: placements.iter().map(|d| (d.at_ms, d.score)).collect(),
            assigned_at_ms: assigned.map(|i| decisions[i].at_ms),
        })
    }

    /// Its score at `at_ms`: the latest placement made by then (the first one before it).
    pub fn score_at(&self, at_ms: i64) -> i64 {
        let latest = self.placements.iter().rev().find(|(at, _)| *at <= at_ms).or(self.placements.first());
        latest.map_or(self.score, |(_, score)| *score)
    }
}

/// What the queue-order audit found: the numbers in the result's `priority`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Priority {
    /// Conversations explained and judged.
    pub explained: u64,
    /// Conversations whose explanation could not be read or had no `queued` decision.
    pub unexplained: u64,
    pub pairs_checked: u64,
    pub violations: u64,
    pub tolerance_ms: u64,
    /// Mean wait of the conversations that waited in a backlog, per channel.
    pub waits: Vec<ChannelWait>,
    /// Urgent marks by consumers (R10.3): accepted, and refused (the agent had answered or
    /// the conversation closed first).
    #[serde(default)]
    pub urgent_marked: u64,
    #[serde(default)]
    pub urgent_refused: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ChannelWait {
    pub channel: String,
    /// The product of the scenario's velocity rules for the channel (1 when none).
    pub velocity: f64,
    /// Conversations of the channel that waited in a backlog and were assigned.
    pub backlog: u64,
    /// Their mean wait from queued to assigned, ms (0 when none).
    pub mean_wait_ms: f64,
}

impl Priority {
    /// "120 pairs checked, 0 out of order; mean wait whatsapp 310 ms (n 25), web 2400 ms (n 70)"
    pub fn summary(&self) -> String {
        let waits: Vec<String> = self
            .waits
            .iter()
            .map(|w| format!("{} {:.0} ms (n {}, velocity {})", w.channel, w.mean_wait_ms, w.backlog, w.velocity))
            .collect();
        let urgent = if self.urgent_marked + self.urgent_refused > 0 {
            format!("; urgent marks {} accepted, {} refused", self.urgent_marked, self.urgent_refused)
        } else {
            String::new()
        };
        format!(
            "{} conversations explained, {} pairs checked, {} out of order (tolerance {} ms); mean backlog wait {}{urgent}",
            self.explained,
            self.pairs_checked,
            self.violations,
            self.tolerance_ms,
            if waits.is_empty() { "-".to_owned() } else { waits.join(", ") }
        )
    }
}

/// Judges the samples: the two checks and their numbers. `unexplained` names the sampled
/// conversations that could not be explained (they fail the order check: unseen is unchecked).
pub fn judge(
    samples: &[Sample],
    unexplained: &[String],
    tolerance_ms: u64,
    velocity: &dyn Fn(&str) -> f64,
) -> (Vec<Check>, Priority) {
    let mut groups: BTreeMap<(u32, &str), Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        groups.entry((s.account, s.skill.as_str())).or_default().push(s);
    }
    let tolerance = i64::try_from(tolerance_ms).unwrap_or(i64::MAX);
    let (mut pairs, mut violations, mut examples) = (0u64, 0u64, Vec::new());
    // channel -> (sum of waits, count) over conversations that waited in a backlog.
    let mut waits: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    for group in groups.values() {
        for b in group {
            let backlog = group
                .iter()
                .any(|y| y.queued_at_ms < b.queued_at_ms && y.assigned_at_ms.is_none_or(|a| a > b.queued_at_ms));
            if let (true, Some(assigned)) = (backlog, b.assigned_at_ms) {
                let w = waits.entry(b.channel.as_str()).or_default();
                w.0 += (assigned - b.queued_at_ms) as f64;
                w.1 += 1;
            }
            let Some(b_at) = b.assigned_at_ms else { continue };
            for a in group {
                let a_score = a.score_at(b_at);
                if a_score >= b.score || a.queued_at_ms >= b_at {
                    continue;
                }
                pairs += 1;
                let late = a.assigned_at_ms.map(|at| at - b_at);
                if late.is_none_or(|late| late > tolerance) {
                    violations += 1;
                    if examples.len() < MAX_EXAMPLES {
                        let when = late.map_or("never".to_owned(), |ms| format!("{ms} ms later"));
                        examples.push(format!(
                            "{} (score {}) assigned while {} (score {}, queued {} ms before) waited: assigned {when}",
                            b.conversation_id,
                            b.score,
                            a.conversation_id,
                            a_score,
                            b_at - a.queued_at_ms
                        ));
                    }
                }
            }
        }
    }
    let mut channels: Vec<ChannelWait> = waits
        .into_iter()
        .map(|(channel, (sum, n))| ChannelWait {
            channel: channel.to_owned(),
            velocity: velocity(channel),
            backlog: n,
            mean_wait_ms: if n == 0 { 0.0 } else { sum / n as f64 },
        })
        .collect();
    // Fastest first.
    channels.sort_by(|x, y| y.velocity.total_cmp(&x.velocity).then_with(|| x.channel.cmp(&y.channel)));
    let priority = Priority {
        explained: samples.len() as u64,
        unexplained: unexplained.len() as u64,
        pairs_checked: pairs,
        violations,
        tolerance_ms,
        waits: channels,
        urgent_marked: 0,
        urgent_refused: 0,
    };

    let mut order_ids = examples;
    let mut problems = Vec::new();
    if violations > 0 {
        problems.push(format!(
            "{violations} conversations assigned while a better-scored one of their skill waited (of {pairs} pairs checked, tolerance {tolerance_ms} ms)"
        ));
    }
    if !unexplained.is_empty() {
        problems.push(format!("{} conversations could not be explained", unexplained.len()));
        order_ids.extend(unexplained.iter().take(MAX_EXAMPLES).map(|id| format!("{id}: not explained")));
    }
    let order = Check {
        name: ORDER_CHECK.to_owned(),
        invariant: 0,
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!(
                "{pairs} pairs checked over {} conversations, none out of order (tolerance {tolerance_ms} ms)",
                samples.len()
            )
        } else {
            problems.join("; ")
        },
        ids: if problems.is_empty() { Vec::new() } else { order_ids },
    };

    // A faster channel must not have waited longer on average than a slower one.
    let slower: Vec<String> = priority
        .waits
        .iter()
        .flat_map(|fast| priority.waits.iter().map(move |slow| (fast, slow)))
        .filter(|(fast, slow)| fast.velocity > slow.velocity && fast.mean_wait_ms > slow.mean_wait_ms)
        .map(|(fast, slow)| {
            format!(
                "{} (velocity {}) waited {:.0} ms on average, {} (velocity {}) {:.0} ms",
                fast.channel, fast.velocity, fast.mean_wait_ms, slow.channel, slow.velocity, slow.mean_wait_ms
            )
        })
        .collect();
    let waits_text: Vec<String> =
        priority.waits.iter().map(|w| format!("{} {:.0} ms (n {})", w.channel, w.mean_wait_ms, w.backlog)).collect();
    let detail = if waits_text.is_empty() {
        "no conversation waited in a backlog".to_owned()
    } else {
        format!("mean backlog wait: {}", waits_text.join(", "))
    };
    let velocity_check = Check {
        name: VELOCITY_CHECK.to_owned(),
        invariant: 0,
        passed: slower.is_empty(),
        detail: if slower.is_empty() { detail } else { format!("a faster channel waited longer; {detail}") },
        ids: slower,
    };
    (vec![order, velocity_check], priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str, channel: &str, queued: i64, score: i64, assigned: Option<i64>) -> Sample {
        Sample {
            conversation_id: id.into(),
            account: 0,
            skill: "support".into(),
            channel: channel.into(),
            queued_at_ms: queued,
            score,
            placements: vec![(queued, score)],
            assigned_at_ms: assigned,
        }
    }

    fn velocity(channel: &str) -> f64 {
        if channel == "whatsapp" {
            4.0
        } else {
            1.0
        }
    }

    fn check<'a>(checks: &'a [Check], name: &str) -> &'a Check {
        checks.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn assignments_in_score_order_pass() {
        // b queued after a with a worse score, served after it; c is better than both and
        // arrives later, jumping the queue: fine.
        let samples = [
            sample("a", "web", 0, 100, Some(5_000)),
            sample("b", "web", 10, 110, Some(6_000)),
            sample("c", "whatsapp", 20, 50, Some(4_000)),
        ];
        let (checks, p) = judge(&samples, &[], 2_000, &velocity);
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        // (c, a) and (c, b) and (a, b): the better one queued before the worse one's assignment.
        assert_eq!((p.pairs_checked, p.violations, p.explained), (3, 0, 3));
    }

    #[test]
    fn an_out_of_order_assignment_beyond_the_tolerance_fails_and_within_it_passes() {
        // a has the better score and waits, b (worse) is assigned first.
        let samples = [sample("a", "web", 0, 100, Some(8_000)), sample("b", "web", 10, 200, Some(5_000))];
        let (checks, p) = judge(&samples, &[], 2_000, &velocity);
        let order = check(&checks, ORDER_CHECK);
        assert!(!order.passed, "{order:?}");
        assert_eq!((p.pairs_checked, p.violations), (1, 1));
        assert!(order.detail.starts_with("1 conversations assigned while a better-scored one"), "{}", order.detail);
        assert_eq!(
            order.ids,
            ["b (score 200) assigned while a (score 100, queued 5000 ms before) waited: assigned 3000 ms later"]
        );
        // The same 3 s inversion within a 5 s tolerance (a slower pass) passes.
        let (checks, p) = judge(&samples, &[], 5_000, &velocity);
        assert!(check(&checks, ORDER_CHECK).passed);
        assert_eq!((p.pairs_checked, p.violations), (1, 0));
        // Exactly at the tolerance is within it.
        let (checks, _) = judge(&samples, &[], 3_000, &velocity);
        assert!(check(&checks, ORDER_CHECK).passed);
    }

    #[test]
    fn a_better_conversation_never_assigned_is_out_of_order_and_others_are_not_compared() {
        let mut other_skill = sample("x", "web", 0, 1, None);
        other_skill.skill = "sales".into();
        let mut other_account = sample("y", "web", 0, 1, None);
        other_account.account = 1;
        let samples =
            [sample("a", "web", 0, 100, None), sample("b", "web", 10, 200, Some(50)), other_skill, other_account];
        let (checks, p) = judge(&samples, &[], 2_000, &velocity);
        assert_eq!((p.pairs_checked, p.violations), (1, 1));
        assert!(check(&checks, ORDER_CHECK).ids[0].ends_with("assigned never"));
        // Queued after b's assignment: not constrained.
        let samples = [sample("a", "web", 60, 100, Some(10_000)), sample("b", "web", 10, 200, Some(50))];
        let (_, p) = judge(&samples, &[], 2_000, &velocity);
        assert_eq!((p.pairs_checked, p.violations), (0, 0));
    }

    /// R10.3: a conversation marked urgent after another was assigned is judged with the score
    /// it had then, so the mark does not turn an in-order assignment into a violation; one
    /// marked before it is judged with its urgent score.
    #[test]
    fn a_later_urgent_mark_is_judged_with_the_score_at_the_time() {
        let mut marked = sample("u", "web", 0, 300, Some(9_000));
        marked.placements.push((6_000, 50));
        marked.score = 50;
        let samples = [marked.clone(), sample("b", "web", 10, 200, Some(5_000))];
        let (checks, p) = judge(&samples, &[], 2_000, &velocity);
        assert!(check(&checks, ORDER_CHECK).passed, "{checks:?}");
        assert_eq!((p.pairs_checked, p.violations), (0, 0));
        // Marked at 4 s, before b's assignment at 5 s: it should have gone first.
        marked.placements[1].0 = 4_000;
        let (checks, p) = judge(&[marked, sample("b", "web", 10, 200, Some(5_000))], &[], 2_000, &velocity);
        assert!(!check(&checks, ORDER_CHECK).passed);
        assert_eq!((p.pairs_checked, p.violations), (1, 1));
    }

    #[test]
    fn unexplained_conversations_fail_the_order_check() {
        let (checks, p) = judge(&[], &["conv-1".to_owned()], 2_000, &velocity);
        let order = check(&checks, ORDER_CHECK);
        assert!(!order.passed);
        assert_eq!(order.ids, ["conv-1: not explained"]);
        assert_eq!(p.unexplained, 1);
    }

    #[test]
    fn mean_backlog_waits_per_channel_and_a_slower_fast_channel_fails() {
        // w0 starts the backlog (waits, but nothing was waiting before it: not counted).
        let samples = [
            sample("w0", "web", 0, 1_000, Some(100)),
            sample("w1", "web", 10, 1_010, Some(3_010)),
            sample("p1", "whatsapp", 20, 500, Some(1_020)),
            sample("p2", "whatsapp", 30, 510, Some(2_030)),
        ];
        let (checks, p) = judge(&samples, &[], 2_000, &velocity);
        assert!(check(&checks, VELOCITY_CHECK).passed, "{checks:?}");
        let waits: Vec<(&str, u64, f64)> =
            p.waits.iter().map(|w| (w.channel.as_str(), w.backlog, w.mean_wait_ms)).collect();
        assert_eq!(waits, [("whatsapp", 2, 1_500.0), ("web", 1, 3_000.0)]);
        assert!(p.summary().contains("mean backlog wait whatsapp 1500 ms (n 2, velocity 4)"), "{}", p.summary());

        // Whatsapp served last: its mean wait exceeds web's.
        let samples = [
            sample("w0", "web", 0, 1_000, Some(100)),
            sample("w1", "web", 10, 1_010, Some(1_010)),
            sample("p1", "whatsapp", 20, 1_020, Some(5_020)),
        ];
        let (checks, _) = judge(&samples, &[], 10_000, &velocity);
        let v = check(&checks, VELOCITY_CHECK);
        assert!(!v.passed);
        assert_eq!(v.ids, ["whatsapp (velocity 4) waited 5000 ms on average, web (velocity 1) 1000 ms"]);
    }

    #[test]
    fn samples_come_from_the_decisions() {
        let d = |kind: &str, at_ms: i64, score: i64| RoutingDecision {
            kind: kind.into(),
            at_ms,
            score,
            skill_id: "support".into(),
            ..RoutingDecision::default()
        };
        let decisions =
            [d("queued", 10, 100), d("waiting", 20, 0), d("moved", 30, 90), d("assigned", 40, 0), d("queued", 50, 70)];
        let s = Sample::from_decisions("c", 1, "web", &decisions).unwrap();
        assert_eq!((s.queued_at_ms, s.score, s.assigned_at_ms, s.skill.as_str()), (10, 90, Some(40), "support"));
        assert_eq!(s.placements, [(10, 100), (30, 90)]);
        assert_eq!((s.score_at(5), s.score_at(10), s.score_at(29), s.score_at(30)), (100, 100, 100, 90));
        let s = Sample::from_decisions("c", 1, "web", &decisions[..2]).unwrap();
        assert_eq!((s.score, s.assigned_at_ms), (100, None));
        assert_eq!(Sample::from_decisions("c", 1, "web", &decisions[3..4]), None);
    }
}
