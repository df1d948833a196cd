//! Validation of a whole [`RoutingConfig`] before it is stored: references to skills, value
//! bounds, group splits (R8.20), fallback cycles (R5.1, R5.2) and size limits. The first
//! problem found is reported with the path of the offending field, e.g.
//! `skills[sales].fallback_skill` or `profile_rules[2].skill_id`.

use std::collections::BTreeSet;

use crate::config::{
    engagement_key, ResponseTimeOverrides, ResponseTimes, RoutingConfig, SkillRouting, VelocityCondition,
    UNASSIGNED_SKILL,
};
use crate::fallback::find_cycle;

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// Ring timeout bounds (R3.6): 5 s..=10 min.
pub const RING_TIMEOUT_MS: (u64, u64) = (5 * SECOND_MS, 10 * MINUTE_MS);
/// Reject cooldown bounds: 0..=24 h.
pub const REJECT_COOLDOWN_MS: (u64, u64) = (0, DAY_MS);
/// History window bounds (R6.2 (3)): 0 (off)..=90 d.
pub const HISTORY_WINDOW_MS: (u64, u64) = (0, 90 * DAY_MS);
/// Response time bounds, any flavour, account or skill (R10.1: minutes to days): 1 min..=30 d.
pub const RESPONSE_TIME_MS: (u64, u64) = (MINUTE_MS, 30 * DAY_MS);
/// Transfer-to-agent wait bounds (R12.6): 1 min..=7 d.
pub const TRANSFER_TO_AGENT_MAX_WAIT_MS: (u64, u64) = (MINUTE_MS, 7 * DAY_MS);
/// Most entries in one skill's transfer list (R4.8).
pub const MAX_TRANSFER_LIST: usize = 500;
/// Most profile rules per account (R4.3).
pub const MAX_PROFILE_RULES: usize = 100;
/// Most conditions in one profile rule.
pub const MAX_CONDITIONS: usize = 10;
/// Longest attribute name, in bytes.
pub const MAX_ATTRIBUTE_BYTES: usize = 64;
/// Longest attribute value, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// Longest rule or engagement name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest campaign or engagement id, in bytes.
pub const MAX_ENGAGEMENT_ID_BYTES: usize = 128;
/// Most engagements per account.
pub const MAX_ENGAGEMENTS: usize = 5_000;
/// Most velocity rules per account (R9.6).
pub const MAX_VELOCITY_RULES: usize = 50;
/// Velocity multiplier bounds (R9.5).
pub const MULTIPLIER: (f64, f64) = (0.1, 100.0);
/// Longest agent group id (R8.20); characters `[A-Za-z0-9_.:-]`.
pub const MAX_GROUP_ID_CHARS: usize = 64;

/// How the gRPC layer answers a [`ConfigError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A malformed or out-of-range value: INVALID_ARGUMENT naming the field.
    Invalid,
    /// A reference to a skill the account does not have: FAILED_PRECONDITION.
    UnknownSkill,
    /// Fallback skills that lead back to themselves: FAILED_PRECONDITION naming the cycle.
    Cycle,
    /// A reference to a working-hours object the account does not have, or the deletion of
    /// one still referenced: FAILED_PRECONDITION.
    UnknownObject,
}

/// The first problem [`RoutingConfig::validate`] found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Path of the offending field, e.g. `skills[sales].fallback_skill`.
    pub field: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
    /// How to answer it.
    pub kind: ErrorKind,
}

pub type Check = Result<(), ConfigError>;

pub(crate) fn fail(kind: ErrorKind, field: impl Into<String>, message: impl Into<String>) -> Check {
    Err(ConfigError { field: field.into(), message: message.into(), kind })
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Check {
    fail(ErrorKind::Invalid, field, message)
}

impl RoutingConfig {
    /// Checks the whole configuration against the account's existing skills
    /// (`known_skills`, without -1). Fallback and default skills must be real skills; -1
    /// may appear where "any agent" makes sense: as a key of `skills` (to configure the
    /// unassigned skill), in transfer lists, profile rules, engagements and velocity rules.
    pub fn validate(&self, known_skills: &BTreeSet<String>) -> Result<(), ConfigError> {
        self.validate_account(known_skills)?;
        for (id, skill) in &self.skills {
            validate_skill(id, skill, known_skills)?;
        }
        if let Some(cycle) = find_cycle(self) {
            let first = cycle.first().map_or("", String::as_str);
            let field = if self.skill(first).fallback_skill.is_some() {
                format!("skills[{first}].fallback_skill")
            } else {
                "account.fallback_skill".to_string()
            };
            return fail(ErrorKind::Cycle, field, format!("fallback cycle {}", cycle.join(" -> ")));
        }
        self.validate_profile_rules(known_skills)?;
        self.validate_engagements(known_skills)?;
        self.validate_velocity_rules(known_skills)?;
        self.validate_capacity()?;
        self.validate_away_reasons()?;
        self.validate_hours()
    }

    fn validate_account(&self, known: &BTreeSet<String>) -> Check {
        let account = &self.account;
        if let Some(skill) = &account.default_skill {
            real_skill("account.default_skill", skill, known)?;
        }
        if let Some(skill) = &account.fallback_skill {
            real_skill("account.fallback_skill", skill, known)?;
        }
        in_range("account.ring_timeout_ms", account.ring_timeout_ms, RING_TIMEOUT_MS)?;
        in_range("account.reject_cooldown_ms", account.reject_cooldown_ms, REJECT_COOLDOWN_MS)?;
        in_range("account.history_window_ms", account.history_window_ms, HISTORY_WINDOW_MS)?;
        let ResponseTimes { default_ms, urgent_ms, first_time_ms } = account.response_times;
        in_range("account.response_times.default_ms", default_ms, RESPONSE_TIME_MS)?;
        in_range("account.response_times.urgent_ms", urgent_ms, RESPONSE_TIME_MS)?;
        in_range("account.response_times.first_time_ms", first_time_ms, RESPONSE_TIME_MS)?;
        let wait = account.transfer_to_agent_max_wait_ms;
        in_range("account.transfer_to_agent_max_wait_ms", wait, TRANSFER_TO_AGENT_MAX_WAIT_MS)?;
        in_range("account.auto_close_ms", account.auto_close_ms, crate::config::AUTO_CLOSE_MS)
    }

    fn validate_profile_rules(&self, known: &BTreeSet<String>) -> Check {
        if self.profile_rules.len() > MAX_PROFILE_RULES {
            return invalid("profile_rules", format!("at most {MAX_PROFILE_RULES} rules"));
        }
        for (i, rule) in self.profile_rules.iter().enumerate() {
            let at = format!("profile_rules[{i}]");
            max_bytes(&format!("{at}.name"), &rule.name, MAX_NAME_BYTES)?;
            if rule.all_of.is_empty() || rule.all_of.len() > MAX_CONDITIONS {
                return invalid(format!("{at}.all_of"), format!("needs 1 to {MAX_CONDITIONS} conditions"));
            }
            for (j, cond) in rule.all_of.iter().enumerate() {
                attribute(&format!("{at}.all_of[{j}]"), &cond.attribute, &cond.value)?;
            }
            any_skill(&format!("{at}.skill_id"), &rule.skill_id, known)?;
        }
        Ok(())
    }

    fn validate_engagements(&self, known: &BTreeSet<String>) -> Check {
        if self.engagements.len() > MAX_ENGAGEMENTS {
            return invalid("engagements", format!("at most {MAX_ENGAGEMENTS} engagements"));
        }
        for (key, engagement) in &self.engagements {
            let at = format!("engagements[{key}]");
            let (campaign, id) = (&engagement.campaign_id, &engagement.engagement_id);
            non_empty_bytes(&format!("{at}.campaign_id"), campaign, MAX_ENGAGEMENT_ID_BYTES)?;
            if campaign.contains('/') {
                return invalid(format!("{at}.campaign_id"), "must not contain '/'");
            }
            non_empty_bytes(&format!("{at}.engagement_id"), id, MAX_ENGAGEMENT_ID_BYTES)?;
            let expected = engagement_key(campaign, id);
            if *key != expected {
                return invalid(at, format!("key must be {expected}"));
            }
            max_bytes(&format!("{at}.name"), &engagement.name, MAX_NAME_BYTES)?;
            if let Some(skill) = &engagement.skill_id {
                any_skill(&format!("{at}.skill_id"), skill, known)?;
            }
        }
        Ok(())
    }

    fn validate_velocity_rules(&self, known: &BTreeSet<String>) -> Check {
        if self.velocity_rules.len() > MAX_VELOCITY_RULES {
            return invalid("velocity_rules", format!("at most {MAX_VELOCITY_RULES} rules"));
        }
        for (i, rule) in self.velocity_rules.iter().enumerate() {
            let at = format!("velocity_rules[{i}]");
            max_bytes(&format!("{at}.name"), &rule.name, MAX_NAME_BYTES)?;
            let (min, max) = MULTIPLIER;
            if !(rule.multiplier.is_finite() && (min..=max).contains(&rule.multiplier)) {
                return invalid(format!("{at}.multiplier"), format!("must be between {min} and {max}"));
            }
            match &rule.when {
                VelocityCondition::Attribute { attribute: name, value } => {
                    attribute(&format!("{at}.when"), name, value)?
                }
                VelocityCondition::Skill { skill_id } => any_skill(&format!("{at}.when.skill_id"), skill_id, known)?,
                VelocityCondition::MinTransfers { .. }
                | VelocityCondition::Channel { .. }
                | VelocityCondition::ReturnedToQueue => {}
            }
        }
        Ok(())
    }
}

fn validate_skill(id: &str, skill: &SkillRouting, known: &BTreeSet<String>) -> Check {
    let at = format!("skills[{id}]");
    any_skill(&at, id, known)?;
    let unassigned = id == UNASSIGNED_SKILL;
    if let Some(fallback) = &skill.fallback_skill {
        let field = format!("{at}.fallback_skill");
        if unassigned {
            return invalid(field, "the unassigned skill -1 has no fallback (any agent may take it)");
        }
        real_skill(&field, fallback, known)?;
        if fallback == id {
            return invalid(field, "a skill cannot fall back to itself");
        }
    }
    let ResponseTimeOverrides { default_ms, urgent_ms, first_time_ms } = skill.response_times;
    for (name, value) in [("default_ms", default_ms), ("urgent_ms", urgent_ms), ("first_time_ms", first_time_ms)] {
        let Some(value) = value else { continue };
        let field = format!("{at}.response_times.{name}");
        if unassigned {
            return invalid(field, "the unassigned skill -1 uses the account response times (R10.9)");
        }
        in_range(&field, value, RESPONSE_TIME_MS)?;
    }
    if let Some(list) = &skill.transfer_list {
        if list.len() > MAX_TRANSFER_LIST {
            return invalid(format!("{at}.transfer_list"), format!("at most {MAX_TRANSFER_LIST} skills"));
        }
        for (i, target) in list.iter().enumerate() {
            any_skill(&format!("{at}.transfer_list[{i}]"), target, known)?;
        }
    }
    if let Some(wait) = skill.transfer_to_agent_max_wait_ms {
        in_range(&format!("{at}.transfer_to_agent_max_wait_ms"), wait, TRANSFER_TO_AGENT_MAX_WAIT_MS)?;
    }
    if let Some(after) = skill.auto_close_ms {
        if unassigned {
            return invalid(format!("{at}.auto_close_ms"), "the unassigned skill -1 uses the account's auto close");
        }
        in_range(&format!("{at}.auto_close_ms"), after, crate::config::AUTO_CLOSE_MS)?;
    }
    validate_split(&format!("{at}.group_split"), skill)
}

/// R8.20: no split, or at least two distinct groups whose percents sum to 100.
fn validate_split(at: &str, skill: &SkillRouting) -> Check {
    let split = &skill.group_split;
    if split.len() == 1 {
        return invalid(at, "needs at least 2 groups or none (R8.20)");
    }
    let mut seen = BTreeSet::new();
    for (i, group) in split.iter().enumerate() {
        let field = format!("{at}[{i}].group_id");
        let id = &group.group_id;
        short_id(&field, id)?;
        if !seen.insert(id.as_str()) {
            return invalid(field, format!("duplicate group {id}"));
        }
        if !(1..=100).contains(&group.percent) {
            return invalid(format!("{at}[{i}].percent"), "must be between 1 and 100");
        }
        if group.priority < 1 {
            return invalid(format!("{at}[{i}].priority"), "must be at least 1");
        }
    }
    let total: u64 = split.iter().map(|g| u64::from(g.percent)).sum();
    if !split.is_empty() && total != 100 {
        return invalid(at, format!("percents must sum to 100, got {total} (R8.20)"));
    }
    Ok(())
}

/// An id the configuration names things by (agent groups, working-hours objects): 1 to
/// [`MAX_GROUP_ID_CHARS`] characters of `[A-Za-z0-9_.:-]`.
pub fn short_id(field: &str, id: &str) -> Check {
    let id_ok = id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-'));
    if id.is_empty() || id.chars().count() > MAX_GROUP_ID_CHARS || !id_ok {
        return invalid(field, format!("must be 1 to {MAX_GROUP_ID_CHARS} characters of [A-Za-z0-9_.:-]"));
    }
    Ok(())
}

/// A skill that must exist: fallbacks and the default skill, where -1 makes no sense.
fn real_skill(field: &str, id: &str, known: &BTreeSet<String>) -> Check {
    if id == UNASSIGNED_SKILL {
        return invalid(field, "must be a real skill, not the unassigned skill -1");
    }
    any_skill(field, id, known)
}

/// A skill that must exist, or -1 (any agent).
fn any_skill(field: &str, id: &str, known: &BTreeSet<String>) -> Check {
    if id.is_empty() {
        return invalid(field, "must not be empty");
    }
    if id != UNASSIGNED_SKILL && !known.contains(id) {
        return fail(ErrorKind::UnknownSkill, field, format!("unknown skill {id}"));
    }
    Ok(())
}

/// An attribute condition: name 1..=64 bytes, value 1..=256 bytes.
fn attribute(at: &str, name: &str, value: &str) -> Check {
    non_empty_bytes(&format!("{at}.attribute"), name, MAX_ATTRIBUTE_BYTES)?;
    non_empty_bytes(&format!("{at}.value"), value, MAX_VALUE_BYTES)
}

fn non_empty_bytes(field: &str, value: &str, max: usize) -> Check {
    if value.is_empty() {
        return invalid(field, "must not be empty");
    }
    max_bytes(field, value, max)
}

fn max_bytes(field: &str, value: &str, max: usize) -> Check {
    if value.len() > max {
        return invalid(field, format!("at most {max} bytes, got {}", value.len()));
    }
    Ok(())
}

fn in_range(field: &str, value: u64, (min, max): (u64, u64)) -> Check {
    if !(min..=max).contains(&value) {
        return invalid(field, format!("must be between {} and {}, got {value} ms", human(min), human(max)));
    }
    Ok(())
}

/// `300000` -> `5m`: the largest unit that divides the value.
fn human(ms: u64) -> String {
    match ms {
        0 => "0".to_string(),
        _ if ms % DAY_MS == 0 => format!("{}d", ms / DAY_MS),
        _ if ms % HOUR_MS == 0 => format!("{}h", ms / HOUR_MS),
        _ if ms % MINUTE_MS == 0 => format!("{}m", ms / MINUTE_MS),
        _ if ms % SECOND_MS == 0 => format!("{}s", ms / SECOND_MS),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
