//! What the stores hold and what their operations answer. Shared by both implementations.

use bytes::Bytes;

/// Weights and limits are kept in thousandths so that sums are exact (1.0 = 1000).
pub type Milli = i64;
pub const ONE: Milli = 1000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long what a finished conversation leaves behind is kept (architecture §4: nothing grows
/// with the number of conversations ever handled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A closed conversation's record, transcript, message dedupe ids and route are deleted
    /// this long after the close.
    pub closed_ms: i64,
    /// A partner message id given at open is remembered this long: a repeat within the window
    /// returns the same conversation, a later one is a new open.
    pub dedupe_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { closed_ms: 7 * DAY_MS, dedupe_ms: DAY_MS }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkillRecord {
    pub skill_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    pub agent_id: String,
    pub skill_ids: Vec<String>,
    pub max_conversations: u32,
    pub bot: bool,
}

/// Agent availability as stored; mirrors `switchyard.common.v1.AgentState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    Online,
    BackSoon,
    Away,
    Offline,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Online => "online",
            AgentState::BackSoon => "back_soon",
            AgentState::Away => "away",
            AgentState::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "online" => AgentState::Online,
            "back_soon" => AgentState::BackSoon,
            "away" => AgentState::Away,
            "offline" => AgentState::Offline,
            _ => return None,
        })
    }
}

/// What the router needs to rank an agent, and what capacity reports.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub account_id: String,
    pub spec: AgentSpec,
    /// The one truth of "logged in": written by the agent edge on login and logout.
    pub logged_in: bool,
    pub state: AgentState,
    pub away_reason: String,
    pub state_since_ms: i64,
    /// When the agent last received a conversation; 0 if never (domain R6.2, R6.3).
    pub last_assigned_ms: i64,
    /// Assigned conversations and their weights (domain R8.5).
    pub load: Vec<(String, Milli)>,
}

impl AgentRecord {
    pub fn capacity_used(&self) -> Milli {
        self.load.iter().map(|(_, w)| *w).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    pub logged_in: bool,
    pub state: AgentState,
    pub away_reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationStatus {
    Open,
    Closed,
    /// A status written by a newer version (records are decoded forward-compatibly): this
    /// version treats the conversation as neither open nor closed, and leaves it alone.
    Newer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub conversation_id: String,
    pub consumer_id: String,
    /// `switchyard.common.v1.Channel` as its number.
    pub channel: i32,
    pub skill_id: String,
    pub language: String,
    /// Empty when the partner sent none. Scoped to (account, channel, consumer).
    pub partner_message_id: String,
    pub opened_at_ms: i64,
}

/// Whose turn it is (R9.2): a consumer message leaves the conversation pending agent, an
/// agent message pending consumer; system messages change nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingSide {
    Agent,
    Consumer,
    /// A value written by a newer version, carried as it is.
    Newer,
}

impl PendingSide {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingSide::Agent => "agent",
            PendingSide::Consumer => "consumer",
            PendingSide::Newer => "newer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub conversation_id: String,
    pub consumer_id: String,
    pub channel: i32,
    /// The skill the conversation was opened on. Where it is queued or assigned now is the
    /// route's skill ([`Route::skill_id`]): that is the one truth once it was routed.
    pub skill_id: String,
    pub language: String,
    pub status: ConversationStatus,
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
    /// A new conversation is pending agent: the consumer opened it.
    pub pending: PendingSide,
    /// When the consumer and an agent last wrote; 0 for never.
    pub last_consumer_message_ms: i64,
    pub last_agent_message_ms: i64,
    /// Agents who joined besides the assigned one (the route holds that one), sorted.
    pub readers: Vec<String>,
    pub managers: Vec<String>,
}

/// How an agent other than the assigned one takes part in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantRole {
    /// Reads along, writes nothing.
    Reader,
    /// May write to the agent and the consumer, and take over.
    Manager,
}

impl ParticipantRole {
    /// Also the record's field that lists them.
    pub fn field(self) -> &'static str {
        match self {
            ParticipantRole::Reader => "readers",
            ParticipantRole::Manager => "managers",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParticipantOutcome {
    Changed,
    /// Already so (a retry).
    Unchanged,
    NotFound,
    /// Closed, or in a state a newer version wrote: nobody joins or leaves it here.
    NotOpen,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Created(ConversationRecord),
    /// The partner message id was seen before for this consumer on this channel (within the
    /// dedupe window), or the consumer already has an open conversation in the account
    /// (domain R1.12): that one is returned.
    Existing(ConversationRecord),
}

/// A transcript line; mirrors `switchyard.common.v1.Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub sequence: u64,
    /// `switchyard.common.v1.Party` as its number.
    pub from: i32,
    pub sender_id: String,
    pub text: String,
    pub sent_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub from: i32,
    pub sender_id: String,
    pub text: String,
    pub sent_at_ms: i64,
    /// Dedupe id (partner message id); empty for none.
    pub dedupe_id: String,
    /// Refused when the conversation already holds this many messages; 0 for no limit.
    pub max_messages: u64,
    /// Messages per minute allowed to the conversation's consumer (on its channel, across its
    /// conversations); `None` when this message does not count (agent and system messages).
    pub consumer_rate_per_minute: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended(StoredMessage),
    /// Same dedupe id as an earlier message: that one is returned, nothing is written.
    Duplicate(StoredMessage),
    NotFound,
    Closed,
    /// The conversation holds `max_messages` already.
    TooManyMessages {
        limit: u64,
    },
    /// The consumer sent more than its rate allows; it may send again after this long.
    RateLimited {
        retry_after_ms: i64,
    },
    /// The conversation is in a state a newer version wrote (e.g. in survey): left to that
    /// version, nothing written. Retryable: during a rolling upgrade a retry reaches it.
    NewerState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed(ConversationRecord),
    AlreadyClosed(ConversationRecord),
    NotFound,
    /// In a state a newer version wrote: left to it, nothing written (see
    /// [`AppendOutcome::NewerState`]).
    NewerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    Queued,
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
    /// Moved to a fallback skill (R5.1); no writer in this version, the routing issue adds it.
    Fallback,
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
            QueueReason::Fallback => "fallback",
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
            "fallback" => QueueReason::Fallback,
            _ => QueueReason::Newer,
        }
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
    /// The agent a transfer suggested (R12.6); no writer in this version (the routing issue
    /// adds transfers to an agent).
    pub suggested_agent_id: String,
    /// The agent group the conversation is allocated to (R8.20); no writer in this version.
    pub agent_group: String,
    /// Increases with every assignment.
    pub version: u64,
    /// When it last entered the queue, and why.
    pub queued_at_ms: i64,
    pub queue_reason: QueueReason,
    /// When a response is due (R9.3, R10.4): the queue is ordered by it, earliest first. A
    /// return to the queue keeps it (the consumer is still waiting), a transfer restarts it
    /// (R10.6). No response-time SLAs are configured yet (R10.1 comes with the routing
    /// issue), so it starts at the queue entry time.
    pub response_due_ms: i64,
    /// The assignment version that was last returned to the queue; 0 if none. Makes a
    /// redelivered back-to-queue recognisable (it neither requeues twice nor goes unannounced).
    pub requeued_version: u64,
    /// The skills it was put on, oldest first, with their reasons (the latest
    /// [`SKILL_HISTORY_LIMIT`]).
    pub skill_history: Vec<SkillStep>,
    /// The layout version of the stored record (1: written before versioning).
    pub record_version: u32,
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
    /// The queue's order: earliest response due first (R9.3).
    pub response_due_ms: i64,
    /// When it entered the queue (for the wait-time metric).
    pub queued_at_ms: i64,
    /// The agent that returned it, to be avoided when another agent can take it (R6.4).
    pub avoid_agent_id: String,
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
    pub now_ms: i64,
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

/// An entry written to the (account, channel) outbox in the same step as a conversation
/// change, so the partner's stream shows changes in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxWrite {
    pub channel: i32,
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sequence: u64,
    pub payload: Bytes,
    /// For an entry written with a message: that message's transcript sequence (the payload
    /// was encoded before the sequence existed); 0 otherwise.
    pub message_sequence: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxAppend {
    Appended(u64),
    /// Same dedupe id as an entry not yet acknowledged: that entry's sequence.
    Duplicate(u64),
    /// The entry was for a conversation that is closed or unknown: nothing written (nothing may
    /// follow a conversation's close on the partner's stream).
    NotOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    Acked,
    /// No stream has delivered that sequence yet; `delivered` is the highest one delivered.
    NotDelivered {
        delivered: u64,
    },
}

/// A timer handed out by [`super::TimerStore::due_timers`], leased to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    pub timer_id: String,
    pub payload: Bytes,
    /// Identifies this lease: completing with it removes the timer unless it was rescheduled
    /// since.
    pub lease: i64,
}
