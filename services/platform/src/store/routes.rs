//! The routing records (router-owned): the route of a conversation with its skill path, the
//! queue's entries, and the arbiter's requests and outcomes. Shared by both implementations.

use super::types::{Milli, ONE};

/// The unassigned skill: any agent of the account may take a conversation on it (domain R4.4).
pub const UNASSIGNED_SKILL: &str = "-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    Queued,
    /// Ringing: offered to one agent (ring-one) or several (ring-all), whose capacity it
    /// reserves until an accept, a reject or the expiry (R6.5).
    Offered,
    Assigned,
    Closed,
    /// A status written by a newer version (e.g. an offer still ringing): this version does
    /// not queue, claim, release or requeue the route, and does not fail on it either.
    Newer,
}

impl RouteStatus {
    /// For logs and messages; a `Newer` status is never written by this version.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteStatus::Queued => "queued",
            RouteStatus::Offered => "offered",
            RouteStatus::Assigned => "assigned",
            RouteStatus::Closed => "closed",
            RouteStatus::Newer => "newer",
        }
    }
}

/// Why a conversation entered its queue (the last time). Also the reason of a skill change in
/// [`Route::skill_history`] (domain R5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueReason {
    /// A new conversation, queued on the skill it was opened on.
    New,
    /// The agent returned it to the queue (R12.1).
    BackToQueue,
    /// Transferred to a skill (R12.2).
    Transfer,
    /// Its agent logged out and the grace ran out (architecture §6).
    AgentLoggedOut,
    /// Its agent did not answer the waiting consumer in time (auto unassign, R8.23).
    AutoUnassigned,
    /// Moved to a fallback skill (R5.1-R5.5).
    Fallback,
    /// Moved to the unassigned skill -1 because no agent holds its skill (R4.5, R4.6).
    UnassignedSkill,
    /// Transferred to a suggested agent (R12.2).
    TransferToAgent,
    /// The suggested agent did not take it within the skill's maximum wait: any agent of the
    /// skill may (R12.6).
    SuggestedAgentTimeout,
    /// A reason written by a newer version, carried as it is.
    Newer,
}

impl QueueReason {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueReason::New => "new",
            QueueReason::BackToQueue => "back_to_queue",
            QueueReason::Transfer => "transfer",
            QueueReason::AgentLoggedOut => "agent_logged_out",
            QueueReason::AutoUnassigned => "auto_unassigned",
            QueueReason::Fallback => "fallback",
            QueueReason::UnassignedSkill => "unassigned_skill",
            QueueReason::TransferToAgent => "transfer_to_agent",
            QueueReason::SuggestedAgentTimeout => "suggested_agent_timeout",
            QueueReason::Newer => "newer",
        }
    }

    /// The reason named `text` (the `reason` of a `RouteConversation` command and the stored
    /// text); an unknown one is [`QueueReason::Newer`].
    pub fn parse(text: &str) -> Self {
        match text {
            "new" | "" => QueueReason::New,
            "back_to_queue" => QueueReason::BackToQueue,
            "transfer" => QueueReason::Transfer,
            "agent_logged_out" => QueueReason::AgentLoggedOut,
            "auto_unassigned" => QueueReason::AutoUnassigned,
            "fallback" => QueueReason::Fallback,
            "unassigned_skill" => QueueReason::UnassignedSkill,
            "transfer_to_agent" => QueueReason::TransferToAgent,
            "suggested_agent_timeout" => QueueReason::SuggestedAgentTimeout,
            _ => QueueReason::Newer,
        }
    }
}

/// Why a conversation's place changes where it is (no requeue).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// R10.4: the consumer wrote while it waits in a queue (nothing while an agent holds it).
    ConsumerMessage,
    /// R10.3: the consumer marked it urgent.
    Urgent,
    /// R10.3: the consumer withdrew its urgent mark.
    NotUrgent,
    /// R10.8: its agent set a manual response time.
    ManualSla,
}

impl Replacement {
    /// The reason its routing log shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Replacement::ConsumerMessage => "consumer_message",
            Replacement::Urgent => "urgent",
            Replacement::NotUrgent => "not_urgent",
            Replacement::ManualSla => "manual_sla",
        }
    }

    /// Whether it applies only while the conversation is queued. A response time set by the
    /// consumer or the agent also applies while an agent holds it or it is offered: it orders
    /// the conversation if it returns to a queue.
    pub fn queued_only(self) -> bool {
        self == Replacement::ConsumerMessage
    }
}

/// One step of a conversation's skill path: it was put on `skill_id` at `at_ms` because of
/// `reason` (R5.7: every skill change is recorded with its reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillStep {
    pub skill_id: String,
    pub reason: QueueReason,
    pub at_ms: i64,
}

/// How many skill steps a route keeps (the most recent ones).
pub const SKILL_HISTORY_LIMIT: usize = 16;

/// The version of the record layout this build writes. A reader decodes what it knows of a
/// newer record and leaves the rest as it is (Redis writes are per field).
pub const RECORD_VERSION: u32 = 2;

/// Where a conversation stands in its queue (R9.2, R9.3, R10.1-R10.9), computed by the router
/// from the routing configuration (`switchyard_routing::score`). The queue is a sorted set by
/// `score`, lowest first; the score is static (it never depends on "now"), so placing or moving
/// a conversation is one O(log n) write and nothing is ever rescanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// When a response is due (R10.4).
    pub due_ms: i64,
    /// The queue order: the effective due time, velocity applied, plus a large offset for a
    /// conversation that is not actionable (R9.2). Integral and below 2^53: exact in Redis.
    pub score: i64,
    /// R9.2: actionable conversations are served first.
    pub actionable: bool,
    /// The parts of the score, for the queue listing: the response time that applied
    /// (`default`, `urgent`, `first_time`, `manual`; empty: none configured) and the
    /// velocity (R9.5) in thousandths.
    pub sla: String,
    pub velocity_milli: i64,
    /// The agent group the conversation is allocated to (R8.20, R8.21); empty: none.
    pub agent_group: String,
}

impl Placement {
    /// Ordered by the due time alone, actionable (no routing configuration applied).
    pub fn by_due(due_ms: i64) -> Self {
        Self {
            due_ms,
            score: due_ms,
            actionable: true,
            sla: String::new(),
            velocity_milli: ONE,
            agent_group: String::new(),
        }
    }
}

/// The routing state of one conversation (router-owned): the one truth of where it is queued
/// or who has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub conversation_id: String,
    /// The skill it is queued on or was assigned from: the conversation's current skill.
    pub skill_id: String,
    pub status: RouteStatus,
    /// The assigned agent; empty unless assigned.
    pub agent_id: String,
    /// The agent that returned it, avoided while another agent can take it (R6.4); empty
    /// when none.
    pub avoid_agent_id: String,
    /// The agent a transfer suggested (R12.2): only it may take the conversation until the
    /// skill's maximum wait (R12.6); empty when none.
    pub suggested_agent_id: String,
    /// The agent group the conversation is allocated to (R8.20, R8.21).
    pub agent_group: String,
    /// While offered: the offer and the agents it rings for (R6.5).
    pub offer_id: String,
    pub offer_agents: Vec<String>,
    pub offer_expires_ms: i64,
    /// Increases with every assignment.
    pub version: u64,
    /// When the current (or last) assignment was made; 0 before the first, or for a route
    /// written before this field.
    pub assigned_at_ms: i64,
    /// When it last entered the queue, and why.
    pub queued_at_ms: i64,
    pub queue_reason: QueueReason,
    /// When a response is due (R9.3, R10.4, counted in working hours: R10.10, R10.11): the
    /// queue is ordered by it, earliest first. A return to the queue keeps it (the consumer
    /// is still waiting), a transfer restarts it (R10.6).
    pub response_due_ms: i64,
    /// Its place in the queue while queued (the last placement otherwise), see [`Placement`].
    pub queue_score: i64,
    pub actionable: bool,
    pub sla: String,
    pub velocity_milli: i64,
    /// How many times it was transferred (R9.6, R12.9).
    pub transfers: u32,
    /// The assignment version that was last returned to the queue; 0 if none. Makes a
    /// redelivered back-to-queue recognisable (it neither requeues twice nor goes unannounced).
    pub requeued_version: u64,
    /// The skills it was put on, oldest first, with their reasons (the latest
    /// [`SKILL_HISTORY_LIMIT`]).
    pub skill_history: Vec<SkillStep>,
    /// The layout version of the stored record (1: written before versioning).
    pub record_version: u32,
}

impl Route {
    /// A route as this version writes it: on `skill_id` with `status` since `at_ms` (queued
    /// then, due then), never assigned, without history.
    pub fn new(conversation_id: &str, skill_id: &str, status: RouteStatus, at_ms: i64) -> Route {
        Route {
            conversation_id: conversation_id.to_owned(),
            skill_id: skill_id.to_owned(),
            status,
            agent_id: String::new(),
            avoid_agent_id: String::new(),
            suggested_agent_id: String::new(),
            agent_group: String::new(),
            offer_id: String::new(),
            offer_agents: Vec::new(),
            offer_expires_ms: 0,
            version: 0,
            assigned_at_ms: 0,
            queued_at_ms: at_ms,
            queue_reason: QueueReason::New,
            response_due_ms: at_ms,
            queue_score: at_ms,
            actionable: true,
            sla: String::new(),
            velocity_milli: ONE,
            transfers: 0,
            requeued_version: 0,
            skill_history: Vec::new(),
            record_version: RECORD_VERSION,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSave {
    Saved {
        revision: u64,
    },
    /// Another change was saved first: this is the stored revision.
    Conflict {
        current: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    Queued,
    /// Already queued, assigned or closed: nothing changed (redelivery).
    Unchanged(RouteStatus),
    /// The conversation is closed or unknown: nothing is queued.
    NotOpen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub conversation_id: String,
    /// When its response is due (R10.4).
    pub response_due_ms: i64,
    /// The queue's order, lowest first, and its parts (see [`Placement`]).
    pub score: i64,
    pub actionable: bool,
    pub sla: String,
    pub velocity_milli: i64,
    /// When it entered the queue (for the wait-time metric).
    pub queued_at_ms: i64,
    /// The agent that returned it, to be avoided when another agent can take it (R6.4).
    pub avoid_agent_id: String,
    /// Why it entered the queue (R5.6: fallback after a transfer is configurable).
    pub reason: QueueReason,
    /// The agent group it is allocated to (R8.20); empty: none.
    pub agent_group: String,
    /// Only this agent may take it (R12.2); empty: any agent.
    pub suggested_agent_id: String,
}

/// The claim request: give `conversation_id` (queued on `skill_id`) to `agent_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub account_id: String,
    pub conversation_id: String,
    pub skill_id: String,
    pub agent_id: String,
    pub weight: Milli,
    /// Allowed excess over max conversations (R8.6: 0.5 = 500).
    pub headroom: Milli,
    /// R8.8: the agent may hold at most this many conversations, whatever their weights
    /// ([`super::rules::under_open_cap`]); 0: no cap.
    pub max_open: u32,
    /// R8.12-R8.14: the skill's warm-up ([`super::rules::warm_check`]); None: off.
    pub warmup: Option<super::rules::WarmupTerms>,
    pub now_ms: i64,
    /// R6.2 (3): remember the agent as the consumer's last one for this long (0: not at all).
    pub history_window_ms: i64,
}

/// The requeue request: return `conversation_id` from `from_agent`'s assignment `version` (0:
/// whatever the current one is) to the queue of `to_skill`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeue {
    pub account_id: String,
    pub conversation_id: String,
    /// Freed, and avoided while another agent can take it (R6.4).
    pub from_agent: String,
    pub version: u64,
    pub to_skill: String,
    pub reason: QueueReason,
    pub now_ms: i64,
    /// Its new place in the queue; None: ordered by its due time, which restarts on a transfer
    /// and is kept otherwise ([`super::rules::restarts_response_due`]).
    pub placement: Option<Placement>,
    /// A transfer to an agent (R12.2): only this agent may take it; empty: any agent.
    pub suggested_agent: String,
}

/// The decision request: give `conversation_id` (queued on `skill_id`) to the best agent of the
/// skill's index that can take it, considering at most `scan` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestClaim {
    pub account_id: String,
    pub conversation_id: String,
    pub skill_id: String,
    pub weight: Milli,
    pub headroom: Milli,
    /// R8.8: see [`Claim::max_open`].
    pub max_open: u32,
    /// R8.12: see [`Claim::warmup`].
    pub warmup: Option<super::rules::WarmupTerms>,
    pub now_ms: i64,
    pub scan: usize,
    /// Empty: an agent of `skill_id`. Otherwise the conversation, still queued on `skill_id`,
    /// goes to an agent of this skill instead and moves to it, recording the change with
    /// `via_reason` (a fallback, R5.1-R5.4; the unassigned skill, R4.5): if no agent of it can
    /// take the conversation, nothing changes and it stays queued where it is (R5.4).
    pub via_skill: String,
    pub via_reason: QueueReason,
    /// The agent groups that may take it, preferred first (R6.8: the allocated group, then the
    /// cascade by priority); empty: any agent.
    pub groups: Vec<String>,
    /// R6.2 (3): the agent who last served the consumer within this window gets it first when
    /// eligible; the chosen agent is remembered for it. 0: off.
    pub history_window_ms: i64,
    /// None: assign (auto-accept). Otherwise offer it instead, reserving capacity (R6.5).
    pub offer: Option<OfferTerms>,
}

/// How a decision offers instead of assigning (R6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferTerms {
    /// Every eligible candidate considered at once (ring-all) or the best one (ring-one).
    pub ring_all: bool,
    pub expires_at_ms: i64,
}

/// An agent's answer to an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferAnswer {
    pub account_id: String,
    pub conversation_id: String,
    pub offer_id: String,
    pub agent_id: String,
    pub now_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Assigned to the agent; the others it rang for lost it (ring-all) and were freed.
    Accepted { version: u64, skill_id: String, rescinded: Vec<String> },
    /// This agent accepted this offer before: a retry.
    AlreadyAccepted { version: u64, skill_id: String },
    /// Not ringing for this agent any more (accepted by another, rejected, expired, closed).
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectOutcome {
    /// The last agent it rang for rejected it: back in its queue.
    Requeued {
        skill_id: String,
    },
    /// Still ringing for others (ring-all).
    StillRinging,
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpireOutcome {
    /// It rang out: back in its queue; the agents it rang for are in the reject cooldown.
    Requeued { skill_id: String, agents: Vec<String> },
    /// Answered or closed meanwhile.
    Gone,
}

/// One routing decision about a conversation, as `ExplainRouting` shows it: it was queued
/// (placed), moved in its queue, assigned (with the candidates passed over first), or, for the
/// latest pass that found nobody, waiting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoutingEvent {
    pub at_ms: i64,
    /// `queued`, `moved`, `assigned` or `waiting`.
    pub kind: String,
    pub skill_id: String,
    /// Assigned to; for a requeue, the agent it came from.
    pub agent_id: String,
    pub version: u64,
    pub reason: String,
    pub due_ms: i64,
    pub score: i64,
    pub actionable: bool,
    pub sla: String,
    pub velocity_milli: i64,
    pub agent_group: String,
    /// The candidates passed over, best first, and why (`full`, `avoided`, `other_group`, ...).
    pub passed: Vec<(String, String)>,
}

/// How many routing events a conversation keeps (the latest).
pub const ROUTING_LOG_LIMIT: usize = 32;

/// How many agents of a skill are there, logged in, and ONLINE (R4.5, R5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SkillPresence {
    /// Agents holding the skill (for the unassigned skill, which every agent holds: the
    /// logged-in ones).
    pub holders: u64,
    /// Of them, logged in (any state).
    pub connected: u64,
    /// Of them, logged in and ONLINE.
    pub online: u64,
}

/// Why a candidate of the index was passed over by [`BestClaim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PassReason {
    /// Weighted load + weight would exceed max + headroom (R8.6).
    Full,
    /// The agent that returned the conversation, tried last (R6.4).
    Avoided,
    /// Not logged in or not ONLINE although indexed: the index and the record disagree.
    Unavailable,
    /// Not in one of the conversation's agent groups (R8.20).
    OtherGroup,
    /// Rejected an offer of it or let one expire within the account's reject cooldown.
    Rejected,
    /// The conversation was transferred to another agent, who alone may take it (R12.2).
    SuggestedOnly,
    /// Warming up, its allowance used until the next step (R8.12).
    WarmingUp,
}

impl PassReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PassReason::Full => "full",
            PassReason::Avoided => "avoided",
            PassReason::Unavailable => "unavailable",
            PassReason::OtherGroup => "other_group",
            PassReason::Rejected => "rejected",
            PassReason::SuggestedOnly => "suggested_only",
            PassReason::WarmingUp => "warming_up",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BestOutcome {
    Claimed {
        agent_id: String,
        version: u64,
    },
    /// Not queued on that skill any more: try the next conversation.
    ConversationGone,
    /// Offered (ring-one: one agent; ring-all: every eligible one), capacity reserved.
    Offered {
        offer_id: String,
        agents: Vec<String>,
    },
    /// No candidate could take it; the ones considered, best first, and why each was passed.
    NoAgent {
        passed: Vec<(String, PassReason)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed {
        version: u64,
    },
    /// Not queued on that skill any more (assigned elsewhere, closed, moved): try the next
    /// conversation.
    ConversationGone,
    /// Not logged in, not ONLINE, or lacks the skill: try the next agent.
    AgentUnavailable,
    /// Weighted load + weight would exceed max + headroom: try the next agent.
    AgentFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// It was assigned; the agent's load no longer counts it.
    FreedAgent { agent_id: String, skill_id: String },
    /// It was still queued; it left the queue.
    LeftQueue { skill_id: String },
    /// Already released, or never routed: it is marked closed so a late enqueue is ignored.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequeueOutcome {
    Requeued,
    /// This very requeue (same agent, same assignment version) happened before: a redelivery.
    AlreadyRequeued,
    /// The conversation is not assigned to that agent at that version (any more).
    NotAssigned,
    /// The conversation was closed: nothing to requeue and nothing to announce.
    Closed,
}
