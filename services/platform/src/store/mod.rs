//! The state store, one trait per key family and owner. Every method is one atomic operation;
//! the Redis implementation runs each multi-key change as one Lua script on keys that share
//! the account's hash tag `{account}` (architecture §4), the in-memory one under one lock.
//!
//! Families and their single writer:
//! - [`RoutingStore`]: accounts and skills (router admin), queues and conversation routes
//!   (router), and the arbiter operations [`RoutingStore::claim`], [`RoutingStore::release`]
//!   and [`RoutingStore::requeue`], the one place where a route and an agent's load change
//!   together.
//! - [`AgentStore`]: agent specs (capacity admin) and agent sessions (the agent edge: login,
//!   logout and state are written where the agent is connected, so "logged in" has one truth).
//! - [`ConversationStore`]: conversations, transcripts, partner outboxes (connectors).
//! - [`TimerStore`]: durable timers, sharded by their owner's partition.
//! - [`AutoMessageStore`]: automatic-message settings (automessages admin) and the consumers'
//!   last auto close (automessages).
//! - [`AccessStore`]: partner API keys (auth admin RPCs) and the audit trail (the auth layer).
//!
//! [`StateStore`] is all of them plus health and housekeeping; services hold an
//! `Arc<dyn StateStore>`.

mod access;
mod memory;
mod rate;
mod redis;
mod routes;
pub mod rules;
mod types;

pub use self::access::*;
pub use self::memory::MemoryStore;
pub use self::rate::consumer_rate;
pub use self::redis::{RedisOptions, RedisStore};
pub use self::routes::*;
pub use self::types::*;

use async_trait::async_trait;
use bytes::Bytes;

/// The store traits, for code that calls them on a concrete store (`MemoryStore` in tests).
pub mod prelude {
    pub use super::{
        AccessStore, AgentStore, AutoMessageStore, ConversationStore, RoutingStore, StateStore, TimerStore,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    #[error("state store returned unexpected data: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait StateStore:
    RoutingStore + AgentStore + ConversationStore + TimerStore + AccessStore + AutoMessageStore
{
    async fn ping(&self) -> Result<(), StoreError>;

    /// Housekeeping due at `now_ms`: the in-memory store deletes what outlived its retention
    /// (Redis does this itself with key expiry).
    async fn maintain(&self, now_ms: i64) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AgentStore: Send + Sync + 'static {
    /// False when the agent already exists.
    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError>;
    /// False when the agent does not exist.
    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError>;
    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError>;
    /// The agent's session and skills without its load (a fraction of [`Self::get_agent`]'s
    /// reads): for the checks that need nothing else, on every agent action.
    async fn agent_presence(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentPresence>, StoreError>;
    /// Agents holding `skill_id`, with their state and load.
    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError>;
    /// Dynamic capacity (R8.2, R8.3, R8.10): the weight `conversation_id` counts in
    /// `agent_id`'s load becomes `weight`, the agent re-indexed in the same step. Only while
    /// its route says assigned to that agent (never an offer's reservation); otherwise
    /// nothing changes and the answer is None. Else the weight it had.
    async fn set_load_weight(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        weight: Milli,
    ) -> Result<Option<Milli>, StoreError>;
    /// Applies a session change (login, logout, state); `state_since` moves when the state or
    /// the away reason changes. False when the agent does not exist.
    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Creates the conversation unless the partner message id was seen for this consumer and
    /// channel within the dedupe window, or the consumer has an open conversation in the
    /// account; both checks and the write are one step.
    async fn open_conversation(&self, account_id: &str, new: &NewConversation) -> Result<OpenOutcome, StoreError>;
    async fn get_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ConversationRecord>, StoreError>;
    /// Appends a message, checking in the same step its dedupe id, that the conversation is
    /// open, the per-conversation message limit and the consumer's rate. With `outbox`, the
    /// entry goes to the partner's outbox in the same step (its `message_sequence` is the
    /// message's sequence); a duplicate writes nothing.
    async fn append_message(
        &self,
        account_id: &str,
        conversation_id: &str,
        message: &NewMessage,
        outbox: Option<&OutboxWrite>,
    ) -> Result<AppendOutcome, StoreError>;
    /// Up to `limit` messages with a sequence greater than `after`, oldest first.
    async fn transcript_page(
        &self,
        account_id: &str,
        conversation_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// The newest `limit` messages, oldest first, and how many the transcript holds.
    async fn transcript_tail(
        &self,
        account_id: &str,
        conversation_id: &str,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, u64), StoreError>;
    /// Closes and frees the consumer for a new conversation; what the conversation leaves
    /// behind expires after the retention. With `outbox`, the entry goes to the partner's
    /// outbox in the same step, only when this call closed it.
    async fn close_conversation(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
        outbox: Option<&OutboxWrite>,
    ) -> Result<CloseOutcome, StoreError>;

    /// Adds `agent_id` to the open conversation's participants in `role` (`Some`; it leaves
    /// any other role), or removes it (`None`). Idempotent.
    async fn set_participant(
        &self,
        account_id: &str,
        conversation_id: &str,
        agent_id: &str,
        role: Option<ParticipantRole>,
    ) -> Result<ParticipantOutcome, StoreError>;

    /// Appends to the (account, channel) outbox. Idempotent on `dedupe_id` until the entry is
    /// acknowledged (empty: none, every call appends). With `open_conversation` non-empty the
    /// entry is written only while that conversation is open, and its dedupe id is kept with
    /// the conversation (until its retention ends): an acknowledged entry is not written again.
    async fn outbox_append(
        &self,
        account_id: &str,
        channel: i32,
        dedupe_id: &str,
        open_conversation: &str,
        payload: Bytes,
    ) -> Result<OutboxAppend, StoreError>;
    /// Entries with a sequence greater than `after`, oldest first.
    async fn outbox_read(
        &self,
        account_id: &str,
        channel: i32,
        after: u64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError>;
    /// A stream is about to hand entries up to `sequence` to the partner (never moves back).
    async fn outbox_delivered(&self, account_id: &str, channel: i32, sequence: u64) -> Result<(), StoreError>;
    /// Records acknowledgement up to `sequence` and drops the entries (and their dedupe ids) it
    /// covers; never moves backwards, and refuses a sequence no stream has delivered.
    async fn outbox_ack(&self, account_id: &str, channel: i32, sequence: u64) -> Result<AckOutcome, StoreError>;
    async fn outbox_acked(&self, account_id: &str, channel: i32) -> Result<u64, StoreError>;
}

#[async_trait]
pub trait RoutingStore: Send + Sync + 'static {
    /// False when it already exists.
    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError>;
    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError>;
    /// False when the skill id already exists in the account.
    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError>;
    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError>;
    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError>;

    /// The account's routing configuration document (`switchyard-routing` JSON) and its
    /// revision; (0, None) when it was never saved.
    async fn routing_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError>;
    /// Only the revision: what a cache reads to learn whether its copy is current.
    async fn routing_config_revision(&self, account_id: &str) -> Result<u64, StoreError>;
    /// Saves the document if the stored revision is still `expected` (compare and set, so two
    /// admins changing different parts cannot lose one change or combine into a fallback
    /// cycle), as revision `expected + 1`.
    async fn save_routing_config(&self, account_id: &str, expected: u64, doc: Bytes) -> Result<ConfigSave, StoreError>;

    /// Queues an open conversation on a skill unless it already has a route (queued, assigned
    /// or closed), as a new one entered at `queued_at_ms`, at `placement`. Marks the skill
    /// active.
    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
        placement: &Placement,
    ) -> Result<EnqueueOutcome, StoreError>;
    /// Gives a conversation of `skill_id` a new place (a consumer message restarting its due
    /// time, an urgent mark, a manual response time: R10.3, R10.4, R10.8): one O(log n)
    /// sorted-set write when it is queued; with [`Replacement::queued_only`] false also the
    /// stored placement of an offered or assigned one. False when it is not (queued) on that
    /// skill any more (moved or closed meanwhile).
    async fn replace_in_queue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        placement: &Placement,
        why: Replacement,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// The conversation's routing decisions, oldest first (the latest [`ROUTING_LOG_LIMIT`];
    /// written by the queue and arbiter operations in the same step as the decision, expired
    /// with the route), and the latest pass that found no agent for it.
    async fn routing_log(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<(Vec<RoutingEvent>, Option<RoutingEvent>), StoreError>;
    /// Lowest score first (see [`Placement`]), ties by conversation id.
    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError>;
    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError>;
    /// Whether any of the skills has a queued conversation (one read, whatever the number of
    /// skills): an agent with room has nothing to take when none has.
    async fn any_queued(&self, account_id: &str, skill_ids: &[String]) -> Result<bool, StoreError>;
    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError>;
    /// Skills with a non-empty queue, as (account, skill).
    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError>;

    /// Assignments whose announcement is not confirmed yet, claimed at or before
    /// `claimed_before_ms`, oldest first, as (account, route). Routes that are no longer
    /// assigned leave the pending set as a side effect.
    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError>;
    /// The same for one account, whatever their claim time, as (claimed at, route): what a
    /// skill's sweep reads (it costs what the account has pending, not what every account has).
    async fn unannounced_of(&self, account_id: &str, limit: usize) -> Result<Vec<(i64, Route)>, StoreError>;
    /// Confirms that assignment `version` of the conversation was announced; a newer claim
    /// stays pending.
    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError>;

    /// Atomically: the conversation is queued on the skill and open; the agent is logged in,
    /// ONLINE, holds the skill, and load + weight <= max + headroom. Then it leaves the
    /// queue, its route says assigned to the agent, the agent's load counts it, and the
    /// assignment is pending announcement until [`RoutingStore::announced`] (so a crash
    /// between the claim and the event cannot leave an agent unaware of its conversation). A
    /// queued conversation that is no longer open leaves the queue.
    async fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError>;
    /// The assignment decision and the claim in one atomic step: the skill's agent index (the
    /// logged-in ONLINE agents holding it, kept in step with every session, skill and load
    /// change) is walked best first (`rules::rank_member`) and the conversation goes to the
    /// first of at most `scan` agents with room, the agent it avoids (R6.4) only when no other
    /// can take it. Costs one round trip whatever the number of agents.
    async fn claim_best(&self, claim: &BestClaim) -> Result<BestOutcome, StoreError>;
    /// An agent accepts an offer: the first accept of it wins (ring-all), the conversation is
    /// assigned to that agent and pending announcement, the other agents' reservations freed.
    async fn accept_offer(&self, answer: &OfferAnswer) -> Result<AcceptOutcome, StoreError>;
    /// An agent rejects an offer: its reservation is freed and it is not offered the
    /// conversation again for `cooldown_ms`; when nobody else is ringing, back to the queue.
    async fn reject_offer(&self, answer: &OfferAnswer, cooldown_ms: i64) -> Result<RejectOutcome, StoreError>;
    /// The offer rang out (its durable timer): reservations freed, the agents in the cooldown,
    /// back to the queue. Nothing when it was answered or closed meanwhile.
    async fn expire_offer(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        now_ms: i64,
        cooldown_ms: i64,
    ) -> Result<ExpireOutcome, StoreError>;
    /// R12.6: the suggested agent of a queued conversation did not take it in time: any agent
    /// of its skill may now (recorded with reason `SuggestedAgentTimeout`). Returns the skill,
    /// or None when it has no suggested agent any more (taken, moved, closed).
    async fn drop_suggested_agent(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError>;
    /// How many agents hold the skill, are logged in and are ONLINE: counts kept by the
    /// writers of agent sessions and skills, read in one round trip.
    async fn skill_presence(&self, account_id: &str, skill_id: &str) -> Result<SkillPresence, StoreError>;
    /// On close: free the agent or drop the conversation from its queue; mark the route closed
    /// (it expires after the retention).
    async fn release(&self, account_id: &str, conversation_id: &str, now_ms: i64)
        -> Result<ReleaseOutcome, StoreError>;
    /// Back to queue, transfer, logout: if assigned to `from_agent` at assignment `version`
    /// (0: whatever the version), free that agent and queue the conversation on `to_skill`,
    /// remembering the agent to avoid (R6.4), why it entered the queue, and a skill change in
    /// the skill history (R5.7). The response due time restarts on a transfer and is kept
    /// otherwise ([`rules::restarts_response_due`]).
    async fn requeue(&self, requeue: &Requeue) -> Result<RequeueOutcome, StoreError>;
}

/// Automatic messages' own family (domain §2.14). Which messages a conversation got is kept
/// with its transcript (a system message's dedupe id), not here.
#[async_trait]
pub trait AutoMessageStore: Send + Sync + 'static {
    /// The account's settings document and its revision; (0, None) when never saved.
    async fn automessages_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError>;
    async fn automessages_config_revision(&self, account_id: &str) -> Result<u64, StoreError>;
    /// Compare and set, as [`RoutingStore::save_routing_config`].
    async fn save_automessages_config(
        &self,
        account_id: &str,
        expected: u64,
        doc: Bytes,
    ) -> Result<ConfigSave, StoreError>;
    /// R14.16: the consumer's conversation closed by itself at `at_ms`; remembered for
    /// `keep_ms` (an earlier time than the one kept changes nothing).
    async fn note_auto_close(
        &self,
        account_id: &str,
        consumer_id: &str,
        at_ms: i64,
        keep_ms: i64,
    ) -> Result<(), StoreError>;
    /// When the consumer's last auto close was, if it is still remembered.
    async fn last_auto_close(&self, account_id: &str, consumer_id: &str) -> Result<Option<i64>, StoreError>;
}

/// Durable timers (architecture §4): schedule, cancel and fire when due, surviving restarts.
/// Timers live in shards named by their owner (a service and the partition it owns), so a
/// replica polls only the shards it owns and the cost of a poll grows with what is due, not
/// with how many timers wait. Firing is at-least-once: a leased timer that is not completed
/// comes due again when its lease runs out.
#[async_trait]
pub trait TimerStore: Send + Sync + 'static {
    /// Schedules `timer_id` in `shard` at `due_ms`; scheduling an existing id moves it.
    async fn schedule_timer(&self, shard: &str, timer_id: &str, due_ms: i64, payload: Bytes) -> Result<(), StoreError>;
    /// Schedules `timer_id` in `shard` at `due_ms` unless it is already due at or before then
    /// (a handed-out timer: its lease ends at or before then). For "at the latest by" timers
    /// that many writers schedule: none of them pushes it later.
    async fn schedule_timer_no_later(
        &self,
        shard: &str,
        timer_id: &str,
        due_ms: i64,
        payload: Bytes,
    ) -> Result<(), StoreError>;
    /// True when the timer existed.
    async fn cancel_timer(&self, shard: &str, timer_id: &str) -> Result<bool, StoreError>;
    /// Up to `limit` timers of `shard` due at `now_ms`, earliest first, each leased for
    /// `lease_ms` (not handed out again before that unless rescheduled).
    async fn due_timers(
        &self,
        shard: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueTimer>, StoreError>;
    /// Removes a fired timer, unless it was rescheduled after it was handed out.
    async fn complete_timer(&self, shard: &str, timer: &DueTimer) -> Result<(), StoreError>;
    /// When the earliest timer of `shard` is due (a handed-out one: when its lease ends); None
    /// for an empty shard. Reads only: nothing is handed out.
    async fn earliest_timer(&self, shard: &str) -> Result<Option<i64>, StoreError>;
}
