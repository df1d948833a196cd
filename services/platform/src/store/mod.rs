//! The state store. Every method is one atomic operation; the Redis implementation runs each
//! multi-key change as one Lua script on keys that share the account's hash tag `{account}`
//! (architecture §4), the in-memory one under one lock.
//!
//! Key families and their single writer:
//! - accounts, skills: router (admin)
//! - agents (spec, session state, last assignment): capacity
//! - conversations, transcripts, partner outboxes, agent edge sessions: connectors
//! - queues and conversation routes: router
//! - the arbiter operations [`StateStore::claim`], [`StateStore::release`] and
//!   [`StateStore::requeue`] are the one place where a route and an agent's load change
//!   together.

mod memory;
mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use async_trait::async_trait;
use bytes::Bytes;

/// Weights and limits are kept in thousandths so that sums are exact (1.0 = 1000).
pub type Milli = i64;
pub const ONE: Milli = 1000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("state store returned unexpected data: {0}")]
    Corrupt(String),
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub conversation_id: String,
    pub consumer_id: String,
    /// `switchyard.common.v1.Channel` as its number.
    pub channel: i32,
    pub skill_id: String,
    pub language: String,
    /// Empty when the partner sent none.
    pub partner_message_id: String,
    pub opened_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub conversation_id: String,
    pub consumer_id: String,
    pub channel: i32,
    pub skill_id: String,
    pub language: String,
    pub status: ConversationStatus,
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    Created(ConversationRecord),
    /// The partner message id was seen before, or the consumer already has an open
    /// conversation (domain R1.12): that one is returned.
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended(StoredMessage),
    /// Same dedupe id as an earlier message: that one is returned, nothing is written.
    Duplicate(StoredMessage),
    NotFound,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed(ConversationRecord),
    AlreadyClosed(ConversationRecord),
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteStatus {
    Queued,
    Assigned,
    Closed,
}

/// The routing state of one conversation (router-owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub conversation_id: String,
    pub skill_id: String,
    pub status: RouteStatus,
    /// Assigned agent, or the agent to avoid while queued after back-to-queue; may be empty.
    pub agent_id: String,
    /// Increases with every assignment.
    pub version: u64,
    pub queued_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueOutcome {
    Queued,
    /// Already queued, assigned or closed: nothing changed (redelivery).
    Unchanged(RouteStatus),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntry {
    pub conversation_id: String,
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
    /// The conversation is not assigned to that agent (any more).
    NotAssigned,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub sequence: u64,
    pub payload: Bytes,
}

#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), StoreError>;

    // --- accounts and skills (router) ---
    /// False when it already exists.
    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError>;
    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError>;
    /// False when the skill id already exists in the account.
    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError>;
    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError>;
    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError>;

    // --- agents (capacity) ---
    /// False when the agent already exists.
    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError>;
    /// False when the agent does not exist.
    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError>;
    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError>;
    /// Agents holding `skill_id`, with their state and load.
    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError>;
    /// Applies a session change (login, logout, state). False when the agent does not exist.
    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError>;

    // --- agent edge sessions (connectors) ---
    async fn set_edge_session(&self, account_id: &str, agent_id: &str, logged_in: bool) -> Result<(), StoreError>;
    async fn edge_session(&self, account_id: &str, agent_id: &str) -> Result<bool, StoreError>;

    // --- conversations (connectors) ---
    /// Creates the conversation unless the partner message id was seen or the consumer has
    /// an open conversation in the account; both checks and the write are one step.
    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError>;
    async fn get_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ConversationRecord>, StoreError>;
    async fn append_message(
        &self,
        account_id: &str,
        conversation_id: &str,
        message: &NewMessage,
    ) -> Result<AppendOutcome, StoreError>;
    async fn transcript(&self, account_id: &str, conversation_id: &str) -> Result<Vec<StoredMessage>, StoreError>;
    /// Closes and frees the consumer for a new conversation.
    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<CloseOutcome, StoreError>;

    // --- partner outbox (connectors) ---
    /// Appends to the (account, channel) outbox and returns the entry's sequence. Idempotent
    /// on `dedupe_id`: a repeat returns the first sequence and writes nothing. An empty
    /// `dedupe_id` means none: every such call appends.
    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        payload: Bytes,
    ) -> Result<u64, StoreError>;
    /// Entries with a sequence greater than `after`, oldest first.
    async fn outbox_read(
        &self,
        account_id: &str,
        channel: i32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Records delivery up to `sequence` (never moves backwards, never past the last appended
    /// entry) and drops what it covers.
    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError>;
    async fn outbox_acked(&self, account_id: &str, channel: i32) -> Result<u64, StoreError>;

    // --- queues and routes (router) ---
    /// Queues a conversation on a skill unless it already has a route (queued, assigned or
    /// closed). Marks the skill active.
    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
    ) -> Result<EnqueueOutcome, StoreError>;
    /// Oldest first.
    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError>;
    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError>;
    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError>;
    /// Skills with a non-empty queue, as (account, skill).
    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Assignments whose announcement is not confirmed yet, claimed at or before
    /// `claimed_before_ms`, oldest first, as (account, route). Routes that are no longer
    /// assigned leave the pending set as a side effect.
    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError>;
    /// Confirms that assignment `version` of the conversation was announced; a newer claim
    /// stays pending.
    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError>;

    // --- the arbiter ---
    /// Atomically: the conversation is queued on the skill and open; the agent is logged in,
    /// ONLINE, holds the skill, and load + weight <= max + headroom. Then it leaves the
    /// queue, its route says assigned to the agent, the agent's load counts it, and the
    /// assignment is pending announcement until [`StateStore::announced`] (so a crash between
    /// the claim and the event cannot leave an agent unaware of its conversation).
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError>;
    /// On close: free the agent or drop the conversation from its queue; mark the route closed.
    async fn release(&self, account_id: &str, conversation_id: &str) -> Result<ReleaseOutcome, StoreError>;
    /// Back to queue or transfer: if assigned to `from_agent`, free that agent and queue the
    /// conversation on `to_skill` (remembering `from_agent` to avoid, R6.4).
    async fn requeue(
        &self,
        account_id: &str,
        conversation_id: &str,
        from_agent: &str,
        to_skill: &str,
        now_ms: i64,
    ) -> Result<RequeueOutcome, StoreError>;
}
