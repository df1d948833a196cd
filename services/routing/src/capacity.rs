//! The account's capacity policy (R8.1-R8.4, R8.8): how much an assigned conversation weighs
//! on its agent. Dynamic capacity (the default) weighs a conversation the consumer is waiting
//! on (pending agent) or that went quiet only recently at the active weight, and one pending
//! consumer for longer than the time to inactive at the inactive weight; concurrency counts
//! every open conversation as one. Weights are per skill (the conversation's current skill),
//! overriding the account's. Weights are thousandths (1.0 = 1000) so sums are exact.

use serde::{Deserialize, Serialize};

use crate::config::{RoutingConfig, UNASSIGNED_SKILL};
use crate::relief::{BacklogRelief, ManualSlaReduction};
use crate::validate::{invalid, Check};

/// Weight bounds, thousandths: active 0.01..=10 (R8.4); inactive 0..=the active weight.
pub const ACTIVE_WEIGHT_MILLI: (u32, u32) = (10, 10_000);
/// Time-to-inactive bounds (R8.3): 0 (inactive as soon as the agent answered)..=24 h.
pub const TIME_TO_INACTIVE_MS: (u64, u64) = (0, 24 * 3_600_000);
/// Most open conversations per agent a cap may allow (R8.8; max conversations is at most 1000).
pub const MAX_OPEN_CONVERSATIONS: u32 = 1000;

/// 1.0 in thousandths.
pub const ONE: u32 = 1000;
/// R8.4's typical defaults: active 1.0, inactive 0.1, 4 minutes to inactive.
pub const DEFAULT_ACTIVE_WEIGHT: u32 = ONE;
pub const DEFAULT_INACTIVE_WEIGHT: u32 = 100;
pub const DEFAULT_TIME_TO_INACTIVE_MS: u64 = 4 * 60_000;

/// R8.12: warm-up steps, default 90 s; R8.14: its longest period, default 20 minutes.
pub const DEFAULT_WARMUP_INTERVAL_MS: u64 = 90_000;
pub const DEFAULT_WARMUP_MAX_PERIOD_MS: u64 = 20 * 60_000;
/// Warm-up interval bounds: 15 s..=1 h.
pub const WARMUP_INTERVAL_MS: (u64, u64) = (15_000, 3_600_000);
/// Warm-up period bounds: 1 min..=24 h.
pub const WARMUP_MAX_PERIOD_MS: (u64, u64) = (60_000, 24 * 3_600_000);

/// R8.12-R8.14: after a login, and after an hour without a conversation, an agent gets its
/// first conversation at once and one more every interval (weights ignored) until it holds
/// max conversations or the period ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Warmup {
    pub enabled: bool,
    pub interval_ms: u64,
    pub max_period_ms: u64,
}

impl Default for Warmup {
    fn default() -> Self {
        Self { enabled: false, interval_ms: DEFAULT_WARMUP_INTERVAL_MS, max_period_ms: DEFAULT_WARMUP_MAX_PERIOD_MS }
    }
}

/// R8.23's example: 60 s without an answer.
pub const DEFAULT_AUTO_UNASSIGN_AFTER_MS: u64 = 60_000;
/// Auto-unassign bounds: 15 s..=24 h.
pub const AUTO_UNASSIGN_AFTER_MS: (u64, u64) = (15_000, 24 * 3_600_000);

/// R8.23, R8.24 (a feature flag: off by default): a conversation pending agent whose agent has
/// not answered within `after_ms` goes back to its queue, seamlessly for the consumer, for the
/// agent states switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoUnassign {
    pub after_ms: u64,
    /// The agent is ONLINE but did not answer.
    pub online: bool,
    /// The agent is AWAY or BACK_SOON.
    pub away: bool,
    /// The agent is OFFLINE (logged in or not: a logout's own grace applies too).
    pub offline: bool,
}

impl Default for AutoUnassign {
    fn default() -> Self {
        Self { after_ms: DEFAULT_AUTO_UNASSIGN_AFTER_MS, online: false, away: false, offline: false }
    }
}

impl AutoUnassign {
    /// Whether any agent state is switched on.
    pub fn any(&self) -> bool {
        self.online || self.away || self.offline
    }
}

/// R8.1: how load is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityMode {
    /// Intensity-weighted: active and inactive weights (R8.2, R8.3).
    #[default]
    Dynamic,
    /// Every open conversation weighs 1.0 against max conversations.
    Concurrency,
}

/// Account-wide capacity settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityPolicy {
    pub mode: CapacityMode,
    /// Weight of a conversation pending agent, or recently active (R8.2), thousandths.
    pub active_weight_milli: u32,
    /// Weight after the time to inactive without consumer activity (R8.3), thousandths.
    pub inactive_weight_milli: u32,
    /// How long a conversation pending consumer keeps the active weight (R8.3).
    pub time_to_inactive_ms: u64,
    /// R8.8: at most this many open conversations per agent whatever their weights; 0: no
    /// cap beyond the weighted limit.
    pub max_open_conversations: u32,
    /// R8.12-R8.14 (off by default).
    pub warmup: Warmup,
    /// R8.23, R8.24 (off by default).
    pub auto_unassign: AutoUnassign,
    /// R8.15-R8.18 (off by default).
    pub manual_sla_reduction: ManualSlaReduction,
    /// R8.19 (off by default).
    pub backlog_relief: BacklogRelief,
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        Self {
            mode: CapacityMode::Dynamic,
            active_weight_milli: DEFAULT_ACTIVE_WEIGHT,
            inactive_weight_milli: DEFAULT_INACTIVE_WEIGHT,
            time_to_inactive_ms: DEFAULT_TIME_TO_INACTIVE_MS,
            max_open_conversations: 0,
            warmup: Warmup::default(),
            auto_unassign: AutoUnassign::default(),
            manual_sla_reduction: ManualSlaReduction::default(),
            backlog_relief: BacklogRelief::default(),
        }
    }
}

/// Per-skill overrides of the account's weights (R8.4); `None` inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CapacityOverrides {
    pub active_weight_milli: Option<u32>,
    pub inactive_weight_milli: Option<u32>,
    pub time_to_inactive_ms: Option<u64>,
    /// Warm-up on or off for conversations of this skill (R8.12); None: the account's.
    pub warmup_enabled: Option<bool>,
}

/// What a conversation of one skill weighs, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    /// Thousandths.
    pub active: i64,
    /// Thousandths; equal to `active` when nothing decays (concurrency mode).
    pub inactive: i64,
    pub time_to_inactive_ms: u64,
}

impl Weights {
    /// Whether a conversation ever weighs less than the active weight: only then are
    /// inactivity timers worth scheduling.
    pub fn decays(&self) -> bool {
        self.inactive < self.active
    }
}

impl RoutingConfig {
    /// R8.1-R8.4: the weights of a conversation of `skill_id` (its current skill): the
    /// skill's overrides, else the account's; concurrency mode weighs everything 1.0. The
    /// unassigned skill -1 has the account's.
    pub fn weights(&self, skill_id: &str) -> Weights {
        let policy = &self.account.capacity;
        if policy.mode == CapacityMode::Concurrency {
            let one = i64::from(ONE);
            return Weights { active: one, inactive: one, time_to_inactive_ms: policy.time_to_inactive_ms };
        }
        let own =
            if skill_id == UNASSIGNED_SKILL { CapacityOverrides::default() } else { self.skill(skill_id).capacity };
        Weights {
            active: i64::from(own.active_weight_milli.unwrap_or(policy.active_weight_milli)),
            inactive: i64::from(own.inactive_weight_milli.unwrap_or(policy.inactive_weight_milli)),
            time_to_inactive_ms: own.time_to_inactive_ms.unwrap_or(policy.time_to_inactive_ms),
        }
    }

    /// Whether the conversations of any skill of the account ever weigh less than the active
    /// weight (R8.3): only then are inactivity timers scheduled at all.
    pub fn any_weights_decay(&self) -> bool {
        self.weights(UNASSIGNED_SKILL).decays() || self.skills.keys().any(|s| self.weights(s).decays())
    }

    /// Whether any skill of the account warms up (the account's switch or a skill's own).
    pub fn any_warmup(&self) -> bool {
        self.account.capacity.warmup.enabled || self.skills.values().any(|s| s.capacity.warmup_enabled == Some(true))
    }

    /// R8.12-R8.14: the warm-up a claim for `skill_id` applies, `(interval, max period)` in
    /// ms; None when off for the skill (its own switch, else the account's).
    pub fn warmup(&self, skill_id: &str) -> Option<(u64, u64)> {
        let warmup = self.account.capacity.warmup;
        let own = if skill_id == UNASSIGNED_SKILL { None } else { self.skill(skill_id).capacity.warmup_enabled };
        own.unwrap_or(warmup.enabled).then_some((warmup.interval_ms, warmup.max_period_ms))
    }
}

impl RoutingConfig {
    /// Bounds of the account's policy and every skill's overrides, each skill's resolved
    /// inactive weight at most its active weight; the unassigned skill -1 takes no overrides.
    pub(crate) fn validate_capacity(&self) -> Check {
        let policy = &self.account.capacity;
        let at = "account.capacity";
        weight(&format!("{at}.active_weight_milli"), policy.active_weight_milli, ACTIVE_WEIGHT_MILLI)?;
        time_to_inactive(&format!("{at}.time_to_inactive_ms"), policy.time_to_inactive_ms)?;
        if policy.max_open_conversations > MAX_OPEN_CONVERSATIONS {
            let message = format!("must be at most {MAX_OPEN_CONVERSATIONS} (0: no cap)");
            return invalid(format!("{at}.max_open_conversations"), message);
        }
        let active = policy.active_weight_milli;
        weight(&format!("{at}.inactive_weight_milli"), policy.inactive_weight_milli, (0, active))?;
        let warmup = policy.warmup;
        in_bounds(&format!("{at}.warmup.interval_ms"), warmup.interval_ms, WARMUP_INTERVAL_MS)?;
        in_bounds(&format!("{at}.warmup.max_period_ms"), warmup.max_period_ms, WARMUP_MAX_PERIOD_MS)?;
        let after = policy.auto_unassign.after_ms;
        in_bounds(&format!("{at}.auto_unassign.after_ms"), after, AUTO_UNASSIGN_AFTER_MS)?;
        self.validate_relief()?;
        for (skill_id, skill) in &self.skills {
            let own = skill.capacity;
            let at = format!("skills[{skill_id}].capacity");
            if skill_id == UNASSIGNED_SKILL && own != CapacityOverrides::default() {
                return invalid(at, "the unassigned skill -1 uses the account's capacity policy");
            }
            let active = own.active_weight_milli.unwrap_or(policy.active_weight_milli);
            if let Some(value) = own.active_weight_milli {
                weight(&format!("{at}.active_weight_milli"), value, ACTIVE_WEIGHT_MILLI)?;
            }
            let inactive = own.inactive_weight_milli.unwrap_or(policy.inactive_weight_milli);
            weight(&format!("{at}.inactive_weight_milli"), inactive, (0, active))?;
            if let Some(value) = own.time_to_inactive_ms {
                time_to_inactive(&format!("{at}.time_to_inactive_ms"), value)?;
            }
        }
        Ok(())
    }
}

fn weight(field: &str, value: u32, (min, max): (u32, u32)) -> Check {
    if !(min..=max).contains(&value) {
        let show = |m: u32| format!("{}.{:03}", m / ONE, m % ONE);
        return invalid(
            field,
            format!("must be between {} and {} (thousandths {min}..={max}), got {value}", show(min), show(max)),
        );
    }
    Ok(())
}

pub(crate) fn in_bounds(field: &str, value: u64, (min, max): (u64, u64)) -> Check {
    if !(min..=max).contains(&value) {
        return invalid(field, format!("must be between {}s and {}s, got {value} ms", min / 1000, max / 1000));
    }
    Ok(())
}

fn time_to_inactive(field: &str, value: u64) -> Check {
    if value > TIME_TO_INACTIVE_MS.1 {
        return invalid(field, format!("must be at most 24h, got {value} ms"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SkillRouting;

    #[test]
    fn r8_4_defaults_are_one_point_oh_point_one_over_four_minutes_and_a_skill_overrides() {
        let mut config = RoutingConfig::default();
        let defaults = config.weights("sales");
        assert_eq!(defaults, Weights { active: 1000, inactive: 100, time_to_inactive_ms: 240_000 });
        assert!(defaults.decays());
        let capacity = CapacityOverrides { inactive_weight_milli: Some(300), ..Default::default() };
        config.skills.insert("sales".into(), SkillRouting { capacity, ..Default::default() });
        assert_eq!(config.weights("sales").inactive, 300);
        assert_eq!(config.weights("support").inactive, 100);
        assert_eq!(config.weights(UNASSIGNED_SKILL).inactive, 100);
    }

    #[test]
    fn weights_are_bounded_and_inactive_never_exceeds_active() {
        let known = ["sales".to_string()].into_iter().collect();
        let mut config = RoutingConfig::default();
        assert_eq!(config.validate(&known), Ok(()));
        config.account.capacity.active_weight_milli = 5;
        assert_eq!(config.validate(&known).unwrap_err().field, "account.capacity.active_weight_milli");
        let mut config = RoutingConfig::default();
        config.account.capacity.inactive_weight_milli = 1001;
        assert_eq!(config.validate(&known).unwrap_err().field, "account.capacity.inactive_weight_milli");
        // A skill lowering the active weight below the account's inactive weight is refused.
        let mut config = RoutingConfig::default();
        let capacity = CapacityOverrides { active_weight_milli: Some(50), ..Default::default() };
        config.skills.insert("sales".into(), SkillRouting { capacity, ..Default::default() });
        assert_eq!(config.validate(&known).unwrap_err().field, "skills[sales].capacity.inactive_weight_milli");
        let mut config = RoutingConfig::default();
        config.skills.insert(UNASSIGNED_SKILL.into(), SkillRouting { capacity, ..Default::default() });
        assert_eq!(config.validate(&known).unwrap_err().field, "skills[-1].capacity");
        let mut config = RoutingConfig::default();
        config.account.capacity.time_to_inactive_ms = 25 * 3_600_000;
        assert_eq!(config.validate(&known).unwrap_err().field, "account.capacity.time_to_inactive_ms");
    }

    #[test]
    fn r8_1_concurrency_mode_counts_every_conversation_as_one() {
        let mut config = RoutingConfig::default();
        config.account.capacity.mode = CapacityMode::Concurrency;
        let capacity = CapacityOverrides { active_weight_milli: Some(2000), ..Default::default() };
        config.skills.insert("sales".into(), SkillRouting { capacity, ..Default::default() });
        let weights = config.weights("sales");
        assert_eq!((weights.active, weights.inactive, weights.decays()), (1000, 1000, false));
    }

    #[test]
    fn weights_decay_in_the_account_when_any_skill_of_it_decays() {
        let mut config = RoutingConfig::default();
        assert!(config.any_weights_decay(), "dynamic by default (R8.3)");
        config.account.capacity.inactive_weight_milli = config.account.capacity.active_weight_milli;
        assert!(!config.any_weights_decay());
        let capacity = CapacityOverrides { inactive_weight_milli: Some(100), ..Default::default() };
        config.skills.insert("sales".into(), SkillRouting { capacity, ..Default::default() });
        assert!(config.any_weights_decay(), "one skill's own inactive weight");
        config.account.capacity.mode = CapacityMode::Concurrency;
        assert!(!config.any_weights_decay(), "R8.1: nothing decays in concurrency mode");
    }
}
