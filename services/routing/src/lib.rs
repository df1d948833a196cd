//! The routing domain of one account: its configuration ([`RoutingConfig`], stored as one
//! JSON document with a revision), the validation that guards it, and the pure rules the
//! router applies with it. No I/O, no async, no clock: callers pass what the rules need.
//!
//! - [`select`]: which skill a new conversation gets (R4.2-R4.6).
//! - [`fallback`]: where a conversation goes when its skill cannot serve it (R5.1-R5.6).
//! - [`transfer`]: which skills a conversation may be transferred to (R4.7, R4.8, R12.6).
//! - [`sla`]: which response time applies (R10.1-R10.3, R10.9).
//! - [`capacity`](mod@capacity): what an assigned conversation weighs (R8.1-R8.4, R8.8).
//! - [`groups`]: agent-group load balancing (R6.8, R8.20-R8.22).
//! - [`hours`]: which working hours apply to a skill (R11.7) and due times across off hours
//!   (R10.10, R10.11).
//! - [`score`](mod@score): the static queue score (R9.2-R9.6, R10.4, R10.5).
//! - [`validate`]: bounds, references and cycles, reported by field path.

pub mod away;
pub mod capacity;
pub mod config;
pub mod fallback;
pub mod groups;
pub mod hours;
pub mod relief;
pub mod score;
pub mod select;
pub mod sla;
pub mod transfer;
pub mod validate;

pub use away::{AwayReason, DEFAULT_AWAY_REASON, DISCONNECTED_AWAY_REASON, MAX_AWAY_REASONS};
pub use capacity::{AutoUnassign, CapacityMode, CapacityOverrides, CapacityPolicy, Warmup, Weights};
pub use config::{
    engagement_key, AccountRouting, AcdMode, AttributeMatch, Engagement, GroupSplit, HoursConfig, ProfileRule,
    ResponseTimeOverrides, ResponseTimes, RoutingConfig, SkillRouting, UnassignedPolicy, VelocityCondition,
    VelocityRule, UNASSIGNED_SKILL,
};
pub use fallback::{
    applies_after, fallback_chain, fallback_of, fallback_target, find_cycle, should_fall_back, Presence,
};
pub use groups::{allocate_group, cascade, group_after_move, keep_group};
pub use relief::{BacklogRelief, ManualSlaReduction};
pub use score::{score, velocity, ConversationFacts, Score, ScoreInput, NON_ACTIONABLE_OFFSET_MS};
pub use select::{reskill_unassigned, select_skill, OpenRequest, SelectError, Selection, SkillReason};
pub use sla::{response_time_ms, sla_kind, urgent_due_ms, SlaKind, MANUAL_SLA, MAX_MANUAL_RESPONSE_MS};
pub use transfer::{may_transfer, transfer_to_agent_max_wait_ms};
pub use validate::{ConfigError, ErrorKind};
