//! Response times (R10.1-R10.3, R10.9): which SLA applies to a conversation of a skill.
//! Due times (message time + SLA, shifted by working hours, R10.4, R10.10) are
//! [`RoutingConfig::due_ms`]; see [`crate::score`](mod@crate::score) for how they order the
//! queue.

use crate::config::{ResponseTimeOverrides, RoutingConfig, UNASSIGNED_SKILL};

/// The three SLA flavours (R10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlaKind {
    /// Ordinary response time (NORMAL).
    Default,
    /// The consumer marked the conversation urgent (R10.3: web and in-app, from the
    /// consumer's second conversation, while pending agent and not overdue; the caller
    /// decides that it applies).
    Urgent,
    /// The whole first conversation of a new consumer (R10.2).
    FirstTime,
}

impl SlaKind {
    /// The name routes, queue listings and events carry (`default`, `urgent`, `first_time`).
    pub const fn name(self) -> &'static str {
        match self {
            SlaKind::Default => "default",
            SlaKind::Urgent => "urgent",
            SlaKind::FirstTime => "first_time",
        }
    }

    /// The kind named `name`; anything else (`manual` included) is the default.
    pub fn from_name(name: &str) -> Self {
        match name {
            "urgent" => SlaKind::Urgent,
            "first_time" => SlaKind::FirstTime,
            _ => SlaKind::Default,
        }
    }
}

/// The `sla` of a conversation whose agent set its response time (R10.8).
pub const MANUAL_SLA: &str = "manual";

/// Which response time applies: urgent once the consumer marked it (R10.3), else first-time
/// for a new consumer's first conversation (R10.2), else the default.
pub fn sla_kind(first_conversation: bool, prior_sla: &str) -> SlaKind {
    if SlaKind::from_name(prior_sla) == SlaKind::Urgent {
        SlaKind::Urgent
    } else if first_conversation {
        SlaKind::FirstTime
    } else {
        SlaKind::Default
    }
}

/// R10.1, R10.9: the response time of `kind` for a conversation of `skill_id`: the skill's
/// override, else the account's. The unassigned skill -1 always uses the account's
/// ("conversations without a skill use account SLAs"); validation refuses overrides on it.
/// A change applies to new conversations and after a transfer only because the caller
/// computes due times then (R10.9).
pub fn response_time_ms(config: &RoutingConfig, skill_id: &str, kind: SlaKind) -> u64 {
    let account = &config.account.response_times;
    let overrides = if skill_id == UNASSIGNED_SKILL {
        ResponseTimeOverrides::default()
    } else {
        config.skill(skill_id).response_times
    };
    match kind {
        SlaKind::Default => overrides.default_ms.unwrap_or(account.default_ms),
        SlaKind::Urgent => overrides.urgent_ms.unwrap_or(account.urgent_ms),
        SlaKind::FirstTime => overrides.first_time_ms.unwrap_or(account.first_time_ms),
    }
}

/// R10.8: the latest manual response time an agent may set, from now (the longest response
/// time an account may configure, [`crate::validate::RESPONSE_TIME_MS`]).
pub const MAX_MANUAL_RESPONSE_MS: i64 = crate::validate::RESPONSE_TIME_MS.1 as i64;

/// R10.3: when the response to a conversation marked urgent is due: the skill's urgent
/// response time of working hours (R10.10) counted from the start of the consumer's wait,
/// unless its current due time (`current_due_ms`, when known) is sooner: marking urgent never
/// delays a response.
pub fn urgent_due_ms(config: &RoutingConfig, skill_id: &str, wait_started_ms: i64, current_due_ms: Option<i64>) -> i64 {
    let urgent = config.due_ms(skill_id, wait_started_ms, response_time_ms(config, skill_id, SlaKind::Urgent));
    current_due_ms.map_or(urgent, |current| current.min(urgent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SkillRouting;

    fn config() -> RoutingConfig {
        let mut config = RoutingConfig::default();
        config.skills.insert(
            "sales".into(),
            SkillRouting {
                response_times: ResponseTimeOverrides { urgent_ms: Some(120_000), ..Default::default() },
                ..Default::default()
            },
        );
        // Ignored: -1 uses the account times (validation refuses this entry).
        config.skills.insert(
            "-1".into(),
            SkillRouting {
                response_times: ResponseTimeOverrides { default_ms: Some(60_000), ..Default::default() },
                ..Default::default()
            },
        );
        config
    }

    #[test]
    fn r10_1_skill_override_else_account() {
        let config = config();
        assert_eq!(response_time_ms(&config, "sales", SlaKind::Urgent), 120_000);
        assert_eq!(response_time_ms(&config, "sales", SlaKind::Default), 3_600_000);
        assert_eq!(response_time_ms(&config, "sales", SlaKind::FirstTime), 600_000);
        assert_eq!(response_time_ms(&config, "support", SlaKind::Urgent), 600_000);
    }

    #[test]
    fn r10_3_urgent_counts_from_the_wait_and_never_delays() {
        let config = config();
        // sales: urgent 2 min, from a wait that began at 1 000 ms.
        assert_eq!(urgent_due_ms(&config, "sales", 1_000, None), 121_000);
        assert_eq!(urgent_due_ms(&config, "sales", 1_000, Some(3_600_000)), 121_000);
        assert_eq!(urgent_due_ms(&config, "sales", 1_000, Some(60_000)), 60_000, "already due sooner");
    }

    #[test]
    fn r10_9_unassigned_skill_uses_account_times() {
        let mut config = config();
        config.account.response_times.default_ms = 900_000;
        assert_eq!(response_time_ms(&config, "-1", SlaKind::Default), 900_000);
    }
}
