//! What the stores hold and what their operations answer, for agents, conversations,
//! outboxes and timers; routes and the arbiter's requests are in `routes.rs`. Shared by both
//! implementations.

use std::collections::BTreeMap;

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
    /// A consumer is remembered this long after its last open: a consumer not seen within it
    /// is a first-time consumer again (R10.2).
    pub consumer_ms: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self { closed_ms: 7 * DAY_MS, dedupe_ms: DAY_MS, consumer_ms: 365 * DAY_MS }
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
    /// The agent group (R8.20); empty: none.
    pub group_id: String,
    /// The name consumers see (`{agentNickname}` in automatic messages, R14.4); empty: the
    /// agent id.
    pub nickname: String,
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
    /// Warm-up (R8.12-R8.14).
    pub warmup: super::rules::WarmState,
}

/// An agent's session and skills, without its load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPresence {
    pub logged_in: bool,
    pub state: AgentState,
    pub skill_ids: Vec<String>,
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
    /// The consumer's profile attributes given at open (R2.11, R4.3), shown to agents.
    pub profile: BTreeMap<String, String>,
    /// Why `skill_id` was chosen (R4.2, R5.7: `switchyard_routing::SkillReason`, e.g.
    /// `engagement`) and what decided it (the engagement key, the profile rule's name).
    pub skill_reason: String,
    pub skill_detail: String,
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
    /// When the consumer's current wait (or the last one an agent answered) began: the open,
    /// then each consumer message that follows an agent's. 0: unknown (a record from before
    /// this field). Backlog relief (R8.19) measures an answered wait from it.
    pub waiting_since_ms: i64,
    /// Agents who joined besides the assigned one (the route holds that one), sorted.
    pub readers: Vec<String>,
    pub managers: Vec<String>,
    pub profile: BTreeMap<String, String>,
    /// Why the skill was chosen at open, and what decided it (see [`NewConversation`]).
    pub skill_reason: String,
    pub skill_detail: String,
    /// The consumer was not seen by the account (within `Retention::consumer_ms`) before this
    /// conversation: its first-time response time applies (R10.2).
    pub first_conversation: bool,
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
