//! `[capacity]`: the accounts' capacity policy, set with `SetAccountRouting` at setup: dynamic
//! weights (R8.1-R8.4) and warm-up (R8.12-R8.14). With it the invariant-2 audit counts
//! weighted load against max + `headroom` (R8.6) instead of open conversations, and with
//! warm-up it also checks that agents logging in during the run are fed one conversation per
//! interval (`crate::audit::capacity`).

use std::time::Duration;

use serde::Deserialize;

use super::Scenario;

/// Weight bounds, as the router accepts them (R8.2).
pub const ACTIVE_WEIGHT: (f64, f64) = (0.01, 10.0);
/// `time_to_inactive` bound (R8.3).
pub const TIME_TO_INACTIVE_MAX: Duration = Duration::from_secs(24 * 3600);
/// `warmup.interval` bounds (R8.12).
pub const WARMUP_INTERVAL: (Duration, Duration) = (Duration::from_secs(15), Duration::from_secs(3600));
/// `warmup.max_period` bounds (R8.13).
pub const WARMUP_MAX_PERIOD: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(24 * 3600));

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// What a conversation weighs while pending agent or recently active.
    #[serde(default = "one")]
    pub active_weight: f64,
    /// What it weighs after `time_to_inactive` pending consumer.
    #[serde(default = "one")]
    pub inactive_weight: f64,
    #[serde(with = "humantime_serde", default = "default_time_to_inactive")]
    pub time_to_inactive: Duration,
    /// The target's `router.rules.headroom` (0.5 unless the target was configured otherwise):
    /// how far past max the weighted load may go (R8.6).
    #[serde(default = "half")]
    pub headroom: f64,
    /// Warm-up on for the accounts, one more conversation every interval after login.
    #[serde(default)]
    pub warmup: Option<Warmup>,
    /// Fail the run unless some agent held more open conversations than its maximum (what
    /// inactive weights are for).
    #[serde(default)]
    pub expect_beyond_max: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warmup {
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub max_period: Duration,
}

fn one() -> f64 {
    1.0
}
fn half() -> f64 {
    0.5
}
fn default_time_to_inactive() -> Duration {
    Duration::from_secs(240)
}

impl Capacity {
    /// Whether conversations ever weigh less than when they were assigned.
    pub fn decays(&self) -> bool {
        self.inactive_weight < self.active_weight
    }

    pub(super) fn validate(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((format!("capacity.{field}"), message));
        let (lo, hi) = ACTIVE_WEIGHT;
        if !(lo..=hi).contains(&self.active_weight) {
            return bad("active_weight", format!("must be {lo}..={hi} (got {})", self.active_weight));
        }
        if !(0.0..=self.active_weight).contains(&self.inactive_weight) {
            return bad("inactive_weight", format!("must be 0..=active_weight (got {})", self.inactive_weight));
        }
        if self.time_to_inactive > TIME_TO_INACTIVE_MAX {
            return bad("time_to_inactive", "at most 24h".into());
        }
        if !(0.0..=100.0).contains(&self.headroom) {
            return bad("headroom", format!("must be 0..=100 (got {})", self.headroom));
        }
        if let Some(w) = self.warmup {
            if !(WARMUP_INTERVAL.0..=WARMUP_INTERVAL.1).contains(&w.interval) {
                return bad("warmup.interval", "must be 15s..=1h".into());
            }
            if !(WARMUP_MAX_PERIOD.0..=WARMUP_MAX_PERIOD.1).contains(&w.max_period) {
                return bad("warmup.max_period", "must be 1m..=24h".into());
            }
            // The audit counts every assignment below the maximum as a warm-up step: no
            // weighted room may let an agent that holds its maximum take one more.
            if self.decays() || self.headroom >= self.active_weight {
                return bad("warmup", "needs inactive_weight = active_weight and headroom < active_weight".into());
            }
        }
        // The audit drops a conversation's weight from its agent's first reply on: a consumer
        // writing again would restore it at a time the harness cannot see exactly.
        if self.decays() && scenario.script.consumer_messages > 0 {
            return bad(
                "inactive_weight",
                "lower than active_weight needs script.consumer_messages = 0 (consumers quiet after the open)".into(),
            );
        }
        Ok(())
    }
}
