//! The queue order (R9.2, R9.3, R9.5, R9.6, R10.4, R10.5): a sorted-set score per queued
//! conversation, lower = served first.
//!
//! The score is static: it never depends on "now", so the queue sets it once per change
//! (a new consumer message, a transfer, a manual SLA, ...) with one ZADD and never rescans.
//! Ordering by the effective due time gives R9.3 and R10.5 at once: an overdue conversation
//! has an earlier due time than any not yet due, and of two entering together the shorter
//! SLA is due first.

use std::collections::BTreeMap;

use crate::config::{eq_ignore_case, RoutingConfig, VelocityCondition};

/// Added to the score of non-actionable conversations: far beyond any millisecond timestamp
/// (year ~33658) yet small enough that timestamp + offset is exact in an f64 (< 2^53), so
/// every actionable conversation sorts first (R9.2) and the order inside each section
/// survives.
pub const NON_ACTIONABLE_OFFSET_MS: f64 = 1e15;
/// Lowest velocity: a conversation's allowed time can at most be stretched 100 times.
pub const MIN_VELOCITY: f64 = 0.01;
/// Highest velocity: a conversation's allowed time can at most be compressed 10 000 times.
pub const MAX_VELOCITY: f64 = 10_000.0;

/// What the score of one queued conversation depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreInput {
    /// Needs agent action now (R9.2): consumer wrote last, manual SLA due, returned after a
    /// transfer.
    pub actionable: bool,
    /// When it became actionable (the consumer message that restarted the SLA, R10.4).
    pub became_actionable_ms: i64,
    /// When the response is due (became actionable + SLA, shifted by working hours).
    pub due_ms: i64,
    /// Product of the matching velocity multipliers, see [`velocity`].
    pub velocity: f64,
}

/// A conversation's place in the queue and what it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The sorted-set score; lower = served first.
    pub value: f64,
    /// The due time after velocity.
    pub effective_due_ms: i64,
    /// Copied from the input.
    pub actionable: bool,
    /// The velocity used, after clamping.
    pub velocity: f64,
}

/// R9.5: velocity > 1 compresses the time the conversation is allowed (a boost), < 1
/// stretches it: effective due = became actionable + (due - became actionable) / velocity,
/// rounded down to the millisecond. Velocity is clamped to `MIN_VELOCITY..=MAX_VELOCITY`
/// (NaN counts as 1). Non-actionable conversations get [`NON_ACTIONABLE_OFFSET_MS`] added.
pub fn score(input: ScoreInput) -> Score {
    let velocity = clamp_velocity(input.velocity);
    // In i128 so extreme inputs saturate instead of overflowing; the float-to-int cast
    // saturates too.
    let allowed = i128::from(input.due_ms) - i128::from(input.became_actionable_ms);
    let compressed = (allowed as f64 / velocity).floor() as i128;
    let effective = i128::from(input.became_actionable_ms) + compressed;
    let effective_due_ms = i64::try_from(effective).unwrap_or(if effective < 0 { i64::MIN } else { i64::MAX });
    let offset = if input.actionable { 0.0 } else { NON_ACTIONABLE_OFFSET_MS };
    Score { value: effective_due_ms as f64 + offset, effective_due_ms, actionable: input.actionable, velocity }
}

fn clamp_velocity(velocity: f64) -> f64 {
    if velocity.is_nan() {
        1.0
    } else {
        velocity.clamp(MIN_VELOCITY, MAX_VELOCITY)
    }
}

/// What velocity rules look at (R9.6).
#[derive(Debug, Clone, Copy)]
pub struct ConversationFacts<'a> {
    /// How many times it was transferred.
    pub transfers: u32,
    /// The channel it came in on.
    pub channel: i32,
    /// Consumer attributes (SDEs).
    pub profile: &'a BTreeMap<String, String>,
    /// Its current skill.
    pub skill_id: &'a str,
    /// Whether it was returned to the queue before.
    pub returned_to_queue: bool,
}

/// Whether one rule's condition holds for `facts`.
pub fn condition_holds(condition: &VelocityCondition, facts: &ConversationFacts<'_>) -> bool {
    match condition {
        VelocityCondition::MinTransfers { count } => facts.transfers >= *count,
        VelocityCondition::Channel { channel } => facts.channel == *channel,
        VelocityCondition::Attribute { attribute, value } => {
            facts.profile.get(attribute).is_some_and(|actual| eq_ignore_case(actual, value))
        }
        VelocityCondition::Skill { skill_id } => facts.skill_id == skill_id,
        VelocityCondition::ReturnedToQueue => facts.returned_to_queue,
    }
}

/// R9.5, R9.6: the product of the multipliers of every matching rule (1 when none matches),
/// clamped to `MIN_VELOCITY..=MAX_VELOCITY`.
pub fn velocity(config: &RoutingConfig, facts: &ConversationFacts<'_>) -> f64 {
    let product = config
        .velocity_rules
        .iter()
        .filter(|rule| condition_holds(&rule.when, facts))
        .map(|rule| rule.multiplier)
        .product();
    clamp_velocity(product)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VelocityRule;

    const T0: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;

    fn input(actionable: bool, became: i64, due: i64, velocity: f64) -> ScoreInput {
        ScoreInput { actionable, became_actionable_ms: became, due_ms: due, velocity }
    }

    #[test]
    fn r9_2_non_actionable_sorts_after_any_actionable() {
        let late_actionable = score(input(true, T0 * 20, T0 * 20 + 30 * 24 * 60 * MIN, 0.01));
        let early_non_actionable = score(input(false, 0, 0, 10_000.0));
        assert!(late_actionable.value < early_non_actionable.value);
        assert_eq!(early_non_actionable.value, 1e15);
        let a = score(input(false, T0, T0 + 60 * MIN, 1.0));
        let b = score(input(false, T0, T0 + 60 * MIN + 1, 1.0));
        assert_eq!(b.value - a.value, 1.0, "exact in f64: the order within the section survives");
    }

    #[test]
    fn r10_5_overdue_and_shorter_sla_first() {
        // Entered an hour ago with a 10 min SLA: overdue.
        let overdue = score(input(true, T0 - 60 * MIN, T0 - 50 * MIN, 1.0));
        let short = score(input(true, T0, T0 + 10 * MIN, 1.0));
        let long = score(input(true, T0, T0 + 60 * MIN, 1.0));
        assert!(overdue.value < short.value && short.value < long.value);
        assert_eq!(short.value, (T0 + 10 * MIN) as f64);
        assert_eq!(short.effective_due_ms, T0 + 10 * MIN);
    }

    #[test]
    fn r9_5_velocity_compresses_the_allowed_time() {
        let boosted = score(input(true, T0, T0 + 60 * MIN, 4.0));
        assert_eq!(boosted.effective_due_ms, T0 + 15 * MIN);
        let slowed = score(input(true, T0, T0 + 60 * MIN, 0.5));
        assert_eq!(slowed.effective_due_ms, T0 + 120 * MIN);
        let rounded = score(input(true, T0, T0 + 10, 3.0));
        assert_eq!(rounded.effective_due_ms, T0 + 3, "rounded down to the ms");
        let overdue_at_entry = score(input(true, T0, T0 - 10, 3.0));
        assert_eq!(overdue_at_entry.effective_due_ms, T0 - 4, "floor, not towards zero");
    }

    #[test]
    fn r9_5_velocity_is_clamped() {
        assert_eq!(score(input(true, T0, T0 + 100_000, 1e9)).velocity, 10_000.0);
        assert_eq!(score(input(true, T0, T0 + 100_000, 1e9)).effective_due_ms, T0 + 10);
        assert_eq!(score(input(true, T0, T0 + 100, 0.0)).velocity, 0.01);
        assert_eq!(score(input(true, T0, T0 + 100, 0.0)).effective_due_ms, T0 + 10_000);
        assert_eq!(score(input(true, T0, T0 + 100, f64::NAN)).effective_due_ms, T0 + 100);
        let extreme = score(input(true, i64::MIN, i64::MAX, 0.01));
        assert_eq!(extreme.effective_due_ms, i64::MAX, "saturates instead of overflowing");
    }

    #[test]
    fn r9_6_velocity_is_the_product_of_matching_rules() {
        let mut config = RoutingConfig::default();
        let rule = |when, multiplier| VelocityRule { name: String::new(), when, multiplier };
        config.velocity_rules = vec![
            rule(VelocityCondition::MinTransfers { count: 2 }, 2.0),
            rule(VelocityCondition::Channel { channel: 7 }, 3.0),
            rule(VelocityCondition::Attribute { attribute: "ctype".into(), value: "VIP".into() }, 5.0),
            rule(VelocityCondition::Skill { skill_id: "sales".into() }, 0.5),
            rule(VelocityCondition::ReturnedToQueue, 10.0),
        ];
        let profile = BTreeMap::from([("ctype".to_string(), "vip".to_string())]);
        let none = BTreeMap::new();
        let facts = ConversationFacts {
            transfers: 2,
            channel: 7,
            profile: &profile,
            skill_id: "sales",
            returned_to_queue: true,
        };
        assert_eq!(velocity(&config, &facts), 150.0);
        let facts =
            ConversationFacts { transfers: 1, channel: 1, profile: &none, skill_id: "other", returned_to_queue: false };
        assert_eq!(velocity(&config, &facts), 1.0, "nothing matches");
        let facts =
            ConversationFacts { transfers: 3, channel: 7, profile: &none, skill_id: "other", returned_to_queue: false };
        assert_eq!(velocity(&config, &facts), 6.0);
        config.velocity_rules = vec![rule(VelocityCondition::ReturnedToQueue, 100.0); 3];
        let facts =
            ConversationFacts { transfers: 0, channel: 0, profile: &none, skill_id: "", returned_to_queue: true };
        assert_eq!(velocity(&config, &facts), 10_000.0, "clamped");
    }
}
