//! Capacity relief behind account flags (both off by default): manual-SLA capacity reduction
//! (R8.15-R8.18) and queue backlog management (R8.19). Each frees an agent's room for a
//! conversation that does not need the agent now: one the agent promised to answer much later,
//! or one whose consumer's long wait was just answered.

use serde::{Deserialize, Serialize};

use crate::capacity::in_bounds;
use crate::config::RoutingConfig;
use crate::validate::Check;

/// R8.15's example threshold: 30 minutes.
pub const DEFAULT_MANUAL_SLA_THRESHOLD_MS: u64 = 30 * 60_000;
/// Manual-SLA threshold bounds: 1 min..=30 days (the longest manual response time).
pub const MANUAL_SLA_THRESHOLD_MS: (u64, u64) = (60_000, 30 * 24 * 3_600_000);
/// R8.19's default: 2 hours.
pub const DEFAULT_BACKLOG_THRESHOLD_MS: u64 = 2 * 3_600_000;
/// Backlog threshold bounds: 1 min..=7 days.
pub const BACKLOG_THRESHOLD_MS: (u64, u64) = (60_000, 7 * 24 * 3_600_000);

/// R8.15-R8.18: a manual response time further away than `threshold_ms` weighs the
/// conversation at the inactive weight at once (until either party writes, R8.16); returned to
/// a queue, it waits non-actionable until `threshold_ms` before the manual due time (R8.17);
/// it is auto-closed only once its agent wrote after the manual due time (R8.18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ManualSlaReduction {
    pub enabled: bool,
    pub threshold_ms: u64,
}

impl Default for ManualSlaReduction {
    fn default() -> Self {
        Self { enabled: false, threshold_ms: DEFAULT_MANUAL_SLA_THRESHOLD_MS }
    }
}

/// R8.19: an agent's answer to a consumer who waited longer than `threshold_ms` weighs the
/// conversation at the inactive weight at once, so the next one is assigned within a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BacklogRelief {
    pub enabled: bool,
    pub threshold_ms: u64,
}

impl Default for BacklogRelief {
    fn default() -> Self {
        Self { enabled: false, threshold_ms: DEFAULT_BACKLOG_THRESHOLD_MS }
    }
}

impl RoutingConfig {
    /// R8.15: whether a manual response time set at `set_at_ms`, due at `due_ms`, reduces the
    /// conversation to the inactive weight (the flag is on and the time is beyond the threshold).
    pub fn manual_sla_reduces(&self, set_at_ms: i64, due_ms: i64) -> bool {
        let reduction = self.account.capacity.manual_sla_reduction;
        reduction.enabled && due_ms.saturating_sub(set_at_ms) > ms(reduction.threshold_ms)
    }

    /// R8.17: when a reduced conversation back in a queue becomes actionable: the threshold
    /// before its manual due time. None with the flag off.
    pub fn manual_sla_actionable_at(&self, due_ms: i64) -> Option<i64> {
        let reduction = self.account.capacity.manual_sla_reduction;
        reduction.enabled.then(|| due_ms.saturating_sub(ms(reduction.threshold_ms)))
    }

    /// R8.18: whether a conversation with a manual response time due at `due_ms` may be
    /// auto-closed, its agent having last written at `last_agent_message_ms`: with the flag
    /// off never (R13.3); with it on, once the agent wrote after the due time.
    pub fn manual_sla_auto_closes(&self, due_ms: i64, last_agent_message_ms: i64) -> bool {
        self.account.capacity.manual_sla_reduction.enabled && last_agent_message_ms >= due_ms
    }

    /// R8.19: whether answering a consumer who waited `waited_ms` relieves the agent.
    pub fn backlog_relieves(&self, waited_ms: i64) -> bool {
        let relief = self.account.capacity.backlog_relief;
        relief.enabled && waited_ms > ms(relief.threshold_ms)
    }

    /// Bounds of both thresholds.
    pub(crate) fn validate_relief(&self) -> Check {
        let capacity = &self.account.capacity;
        let at = "account.capacity";
        let threshold = capacity.manual_sla_reduction.threshold_ms;
        in_bounds(&format!("{at}.manual_sla_reduction.threshold_ms"), threshold, MANUAL_SLA_THRESHOLD_MS)?;
        let threshold = capacity.backlog_relief.threshold_ms;
        in_bounds(&format!("{at}.backlog_relief.threshold_ms"), threshold, BACKLOG_THRESHOLD_MS)
    }
}

fn ms(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn flagged() -> RoutingConfig {
        let mut config = RoutingConfig::default();
        config.account.capacity.manual_sla_reduction = ManualSlaReduction { enabled: true, threshold_ms: 10 * 60_000 };
        config.account.capacity.backlog_relief = BacklogRelief { enabled: true, ..Default::default() };
        config
    }

    #[test]
    fn r8_15_only_a_manual_time_beyond_the_threshold_reduces_and_only_with_the_flag() {
        let config = flagged();
        assert!(config.manual_sla_reduces(0, 60 * MIN));
        assert!(!config.manual_sla_reduces(0, 10 * MIN), "at the threshold: normal dynamic logic");
        assert!(!RoutingConfig::default().manual_sla_reduces(0, 60 * MIN), "flag off");
    }

    #[test]
    fn r8_17_set_at_10_00_for_an_hour_with_a_10_minute_threshold_is_actionable_at_10_50() {
        let ten = 10 * 60 * MIN;
        assert_eq!(flagged().manual_sla_actionable_at(ten + 60 * MIN), Some(ten + 50 * MIN));
        assert_eq!(RoutingConfig::default().manual_sla_actionable_at(ten + 60 * MIN), None);
    }

    #[test]
    fn r8_18_auto_close_after_the_due_time_and_an_agent_line_after_it() {
        let config = flagged();
        assert!(!config.manual_sla_auto_closes(60 * MIN, 59 * MIN), "the agent wrote before the due time");
        assert!(config.manual_sla_auto_closes(60 * MIN, 61 * MIN));
        assert!(!RoutingConfig::default().manual_sla_auto_closes(60 * MIN, 61 * MIN), "flag off: never (R13.3)");
    }

    #[test]
    fn r8_19_a_wait_beyond_two_hours_relieves_with_the_flag() {
        assert!(flagged().backlog_relieves(121 * MIN));
        assert!(!flagged().backlog_relieves(120 * MIN));
        assert!(!RoutingConfig::default().backlog_relieves(121 * MIN));
    }

    #[test]
    fn thresholds_are_bounded() {
        let known = Default::default();
        let mut config = flagged();
        config.account.capacity.manual_sla_reduction.threshold_ms = 1000;
        assert_eq!(config.validate(&known).unwrap_err().field, "account.capacity.manual_sla_reduction.threshold_ms");
        let mut config = flagged();
        config.account.capacity.backlog_relief.threshold_ms = 8 * 24 * 3_600_000;
        assert_eq!(config.validate(&known).unwrap_err().field, "account.capacity.backlog_relief.threshold_ms");
    }
}
