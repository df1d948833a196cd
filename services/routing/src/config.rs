//! The stored shape of one account's routing configuration (one JSON document per account,
//! written with a revision). Every struct is `#[serde(default)]` and none denies unknown
//! fields, so a document written by an older or newer version still loads: a missing field
//! takes its default, an unknown one is ignored. Durations are milliseconds in `*_ms` fields.

use crate::away::AwayReason;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::capacity::{CapacityOverrides, CapacityPolicy};
pub use crate::hours::HoursConfig;

/// The unassigned skill: no specific skill, any agent of the account may take the
/// conversation (R4.4).
pub const UNASSIGNED_SKILL: &str = "-1";

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// Default ring timeout: 72 s (R3.6).
pub const DEFAULT_RING_TIMEOUT_MS: u64 = 72 * SECOND_MS;
/// Default time an agent that rejected a conversation is not offered it again: 5 min.
pub const DEFAULT_REJECT_COOLDOWN_MS: u64 = 5 * MINUTE_MS;
/// Default consumer-history preference window (R6.2 (3)): 7 days.
pub const DEFAULT_HISTORY_WINDOW_MS: u64 = 7 * DAY_MS;
/// Default transfer-to-agent wait before any agent of the skill may take it (R12.6): 2 h.
pub const DEFAULT_TRANSFER_TO_AGENT_MAX_WAIT_MS: u64 = 2 * HOUR_MS;
/// Default response time (R10.1, R10.12 NORMAL 3600 s).
pub const DEFAULT_RESPONSE_MS: u64 = HOUR_MS;
/// Default urgent response time (R10.1, R10.3): 10 min.
pub const DEFAULT_URGENT_RESPONSE_MS: u64 = 10 * MINUTE_MS;
/// R13.1: auto close after at most 90 days without activity (also the default), at least 25
/// minutes.
pub const DEFAULT_AUTO_CLOSE_MS: u64 = 90 * DAY_MS;
pub const AUTO_CLOSE_MS: (u64, u64) = (25 * MINUTE_MS, 90 * DAY_MS);
/// Default first-time-consumer response time (R10.1, R10.12 PRIORITIZED 600 s).
pub const DEFAULT_FIRST_TIME_RESPONSE_MS: u64 = 10 * MINUTE_MS;

/// One account's whole routing configuration, stored as one JSON document with a revision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingConfig {
    /// Account-wide settings (default and fallback skill, ACD mode, timeouts, SLAs).
    pub account: AccountRouting,
    /// Skill id -> settings; a skill with no entry uses [`SkillRouting::default`]. The key
    /// `-1` configures the unassigned skill.
    pub skills: BTreeMap<String, SkillRouting>,
    /// Profile-mapping rules (R4.3), tried in order, the first match wins.
    pub profile_rules: Vec<ProfileRule>,
    /// Entry points keyed by [`engagement_key`] (R4.2).
    pub engagements: BTreeMap<String, Engagement>,
    /// Queue velocity multipliers (R9.5, R9.6).
    pub velocity_rules: Vec<VelocityRule>,
    /// Working hours: mode, workdays and special occasions, the account defaults (R11.1-R11.7).
    pub hours: HoursConfig,
}

impl RoutingConfig {
    /// R13.1: how long a conversation of `skill_id` (its current skill) may stay pending
    /// consumer without activity before it closes by itself: the skill's, else the account's.
    pub fn auto_close_ms(&self, skill_id: &str) -> u64 {
        let own = if skill_id == UNASSIGNED_SKILL { None } else { self.skill(skill_id).auto_close_ms };
        own.unwrap_or(self.account.auto_close_ms)
    }

    /// The settings of `skill_id`: its entry, or the defaults when it has none.
    pub fn skill(&self, skill_id: &str) -> &SkillRouting {
        self.skills.get(skill_id).unwrap_or(&DEFAULT_SKILL_ROUTING)
    }

    /// Loads a stored document; missing fields take defaults, unknown ones are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The document to store. Fails only on a non-finite multiplier, which
    /// [`RoutingConfig::validate`] refuses, so validate first.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// The key of an engagement in [`RoutingConfig::engagements`]: `"<campaign>/<engagement>"`.
pub fn engagement_key(campaign_id: &str, engagement_id: &str) -> String {
    format!("{campaign_id}/{engagement_id}")
}

/// How a queued conversation reaches an agent, account-wide (R6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcdMode {
    /// Assigned without agent action, within capacity (R6.6); recommended for messaging.
    #[default]
    AutoAccept,
    /// Ring the best agent; on timeout re-queue for the next best ("advanced").
    RingOne,
    /// Ring every eligible agent at once; the first accept wins ("manual").
    RingAll,
}

/// The three SLA flavours at account level (R10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponseTimes {
    /// Ordinary response time (NORMAL).
    pub default_ms: u64,
    /// Consumer marked the conversation urgent (R10.3).
    pub urgent_ms: u64,
    /// The consumer's first conversation (R10.2, PRIORITIZED).
    pub first_time_ms: u64,
}

impl Default for ResponseTimes {
    fn default() -> Self {
        Self {
            default_ms: DEFAULT_RESPONSE_MS,
            urgent_ms: DEFAULT_URGENT_RESPONSE_MS,
            first_time_ms: DEFAULT_FIRST_TIME_RESPONSE_MS,
        }
    }
}

/// Per-skill overrides of the account response times (R10.1); `None` inherits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponseTimeOverrides {
    /// Overrides [`ResponseTimes::default_ms`].
    pub default_ms: Option<u64>,
    /// Overrides [`ResponseTimes::urgent_ms`].
    pub urgent_ms: Option<u64>,
    /// Overrides [`ResponseTimes::first_time_ms`].
    pub first_time_ms: Option<u64>,
}

/// Account-wide routing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountRouting {
    /// Skill for conversations no engagement or profile rule placed (R4.2); `None` = -1.
    pub default_skill: Option<String>,
    /// Fallback for every skill without its own (R5.2).
    pub fallback_skill: Option<String>,
    /// How conversations reach agents (R6.5).
    pub acd_mode: AcdMode,
    /// How long a ring waits for the agent (R3.6).
    pub ring_timeout_ms: u64,
    /// An agent that rejected is not offered the same conversation again for this long.
    pub reject_cooldown_ms: u64,
    /// Whether fallback also applies after back-to-queue and transfer (R5.6).
    pub fallback_after_transfer: bool,
    /// Prefer an agent who talked to the consumer within this window (R6.2 (3)); 0 = off.
    pub history_window_ms: u64,
    /// Account response times (R10.1); also used by -1 (R10.9).
    pub response_times: ResponseTimes,
    /// Wait for a suggested agent before any agent of the skill may take it (R12.6).
    pub transfer_to_agent_max_wait_ms: u64,
    /// Conversation weights and the open-conversation cap (R8.1-R8.4, R8.8).
    pub capacity: CapacityPolicy,
    /// R13.1: a conversation pending consumer this long without activity closes by itself.
    pub auto_close_ms: u64,
    /// R7.3: the admin's away reasons (the system `default` besides).
    pub away_reasons: Vec<AwayReason>,
}

impl Default for AccountRouting {
    fn default() -> Self {
        Self {
            default_skill: None,
            fallback_skill: None,
            acd_mode: AcdMode::AutoAccept,
            ring_timeout_ms: DEFAULT_RING_TIMEOUT_MS,
            reject_cooldown_ms: DEFAULT_REJECT_COOLDOWN_MS,
            fallback_after_transfer: true,
            history_window_ms: DEFAULT_HISTORY_WINDOW_MS,
            response_times: ResponseTimes::default(),
            transfer_to_agent_max_wait_ms: DEFAULT_TRANSFER_TO_AGENT_MAX_WAIT_MS,
            capacity: CapacityPolicy::default(),
            auto_close_ms: DEFAULT_AUTO_CLOSE_MS,
            away_reasons: Vec::new(),
        }
    }
}

/// What happens to a conversation whose skill no agent holds any more (R4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnassignedPolicy {
    /// Re-skill to -1 so any agent may take it (the documented default).
    #[default]
    Unassigned,
    /// Keep the skill and wait until some agent gets it.
    Keep,
    /// Move to the skill's fallback (R5.1/R5.2); -1 when it has none.
    Fallback,
}

/// One agent group's share of a skill's conversations (R6.8, R8.20).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupSplit {
    /// The agent group.
    pub group_id: String,
    /// Cascade order when the allocated group is full: 1 first (R6.8).
    pub priority: u32,
    /// Share of new conversations, in percent; the split sums to 100 (R8.20).
    pub percent: u32,
}

/// One skill's routing settings (R4.7 fields that routing reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SkillRouting {
    /// Overrides of the account response times (R10.1).
    pub response_times: ResponseTimeOverrides,
    /// This skill's own fallback (R5.1); `None` uses the account fallback (R5.2).
    pub fallback_skill: Option<String>,
    /// Fall back when no agent is ONLINE rather than only when none is connected (R5.5).
    pub fallback_when_all_agents_away: bool,
    /// `false`: conversations may only be re-queued to this same skill (R4.7).
    pub can_transfer: bool,
    /// Allowed transfer targets (R4.8); `None` = any skill.
    pub transfer_list: Option<Vec<String>>,
    /// Overrides [`AccountRouting::transfer_to_agent_max_wait_ms`] (R12.6).
    pub transfer_to_agent_max_wait_ms: Option<u64>,
    /// Load balancing across agent groups (R8.20); empty = no split.
    pub group_split: Vec<GroupSplit>,
    /// What happens when no agent holds the skill any more (R4.5).
    pub unassigned_policy: UnassignedPolicy,
    /// The skill's own workdays object (R11.7, `workingHoursId`); `None`: the account default.
    pub workdays_id: Option<String>,
    /// The skill's own special-occasions object (R11.7, `specialOccasionId`); `None`: the
    /// account default. An object with an empty list gives the skill none.
    pub occasions_id: Option<String>,
    /// Overrides of the account's conversation weights (R8.4).
    pub capacity: CapacityOverrides,
    /// Overrides [`AccountRouting::auto_close_ms`] (R13.1).
    pub auto_close_ms: Option<u64>,
}

/// The settings of a skill without an entry.
static DEFAULT_SKILL_ROUTING: SkillRouting = SkillRouting {
    response_times: ResponseTimeOverrides { default_ms: None, urgent_ms: None, first_time_ms: None },
    fallback_skill: None,
    fallback_when_all_agents_away: false,
    can_transfer: true,
    transfer_list: None,
    transfer_to_agent_max_wait_ms: None,
    group_split: Vec::new(),
    unassigned_policy: UnassignedPolicy::Unassigned,
    workdays_id: None,
    occasions_id: None,
    capacity: CapacityOverrides {
        active_weight_milli: None,
        inactive_weight_milli: None,
        time_to_inactive_ms: None,
        warmup_enabled: None,
    },
    auto_close_ms: None,
};

impl Default for SkillRouting {
    fn default() -> Self {
        DEFAULT_SKILL_ROUTING.clone()
    }
}

/// One condition of a profile rule: the consumer attribute equals `value` (R4.3).
/// The attribute name matches exactly, the value case-insensitively (R4.3 says so for
/// `ctype`; applied to every attribute so rules behave alike).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AttributeMatch {
    /// Attribute name, e.g. `ctype`, `companyBranch`, `gender`, `language`.
    pub attribute: String,
    /// Expected value, compared case-insensitively.
    pub value: String,
}

impl AttributeMatch {
    /// Whether `profile` satisfies this condition.
    pub fn matches(&self, profile: &BTreeMap<String, String>) -> bool {
        profile.get(&self.attribute).is_some_and(|actual| eq_ignore_case(actual, &self.value))
    }
}

/// A profile-mapping rule (R4.2, R4.3): when every condition holds, the conversation gets
/// `skill_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileRule {
    /// Shown in the selection detail and in errors.
    pub name: String,
    /// Conditions, all of which must hold.
    pub all_of: Vec<AttributeMatch>,
    /// The skill the rule selects (may be -1: any agent).
    pub skill_id: String,
}

/// A campaign entry point (R4.2): a conversation opened on it inherits its skill.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Engagement {
    /// The campaign the engagement belongs to.
    pub campaign_id: String,
    /// The engagement within the campaign.
    pub engagement_id: String,
    /// Display name.
    pub name: String,
    /// `None` = "all skills": the engagement places no skill and selection goes on with the
    /// profile rules and the default skill.
    pub skill_id: Option<String>,
}

/// When a velocity rule applies to a queued conversation (R9.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VelocityCondition {
    /// Transferred at least `count` times.
    MinTransfers {
        /// Minimum number of transfers.
        count: u32,
    },
    /// Came in on this channel (e.g. WhatsApp).
    Channel {
        /// The channel's numeric id.
        channel: i32,
    },
    /// A consumer attribute equals a value (case-insensitive value, like profile rules).
    Attribute {
        /// Attribute name, exact.
        attribute: String,
        /// Expected value.
        value: String,
    },
    /// The conversation's current skill.
    Skill {
        /// The skill id.
        skill_id: String,
    },
    /// The conversation was returned to the queue before.
    ReturnedToQueue,
}

/// A business rule that speeds up (multiplier > 1) or slows down (< 1) a conversation in
/// the queue (R9.5, R9.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VelocityRule {
    /// Shown in errors and diagnostics.
    pub name: String,
    /// When the rule applies.
    pub when: VelocityCondition,
    /// Factor applied to the conversation's velocity; matching rules multiply.
    pub multiplier: f64,
}

impl Default for VelocityRule {
    fn default() -> Self {
        Self { name: String::new(), when: VelocityCondition::ReturnedToQueue, multiplier: 1.0 }
    }
}

/// Unicode case-insensitive equality without allocating (R4.3).
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
