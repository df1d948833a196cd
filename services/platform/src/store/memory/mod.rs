//! In-memory state store for embedded mode and unit tests. One lock makes every operation
//! atomic, which is the same guarantee the Redis scripts give. What Redis expires by itself
//! (closed conversations, routes, dedupe ids, rate state) carries a deadline here and is
//! deleted by [`StateStore::maintain`] or by the next write that passes the deadline.

mod access;
mod agents;
mod automessages;
mod conversations;
mod decide;
mod routing;
mod routing_state;
mod timers;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;

pub struct MemoryStore {
    retention: Retention,
    state: Mutex<State>,
    access: Mutex<access::AccessState>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_retention(Retention::default())
    }
}

/// (account, channel, consumer, partner message id)
type OpenKey = (String, i32, String, String);
/// (account, channel, consumer)
type ConsumerKey = (String, i32, String);

/// Something deleted at a deadline.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Expiry {
    /// A closed conversation: record, transcript, message dedupe ids.
    Conversation(String, String),
    Route(String, String),
    OpenDedupe(OpenKey),
    ConsumerSeen(String, String),
    ConsumerAgent(String, String),
    Rate(ConsumerKey),
    AutoClosed(String, String),
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, String>,
    skills: HashMap<String, BTreeMap<String, SkillRecord>>,
    routing_configs: HashMap<String, (u64, Bytes)>,
    automessages_configs: HashMap<String, (u64, Bytes)>,
    /// (account, consumer) -> its last auto close (R14.16).
    auto_closed: HashMap<(String, String), i64>,
    /// (account, conversation) -> offers made (a counter for their ids) and the last accepted.
    offers: HashMap<(String, String), (u64, String)>,
    /// (account, conversation) -> agents that rejected it (or let it ring out), until when.
    rejected: HashMap<(String, String), HashMap<String, i64>>,
    /// (account, conversation) -> its routing decisions, and the latest pass that found nobody.
    routing_logs: HashMap<(String, String), std::collections::VecDeque<RoutingEvent>>,
    last_pass: HashMap<(String, String), RoutingEvent>,
    /// (account, consumer) -> the agent who served it last and when (R6.2 (3)).
    consumer_agents: HashMap<(String, String), (String, i64)>,
    /// (account, consumer) -> last open, for first-time consumers (R10.2).
    consumers_seen: HashMap<(String, String), i64>,
    /// Ordered by (account, agent), so one account's agents are a range.
    agents: BTreeMap<(String, String), AgentRecord>,
    conversations: HashMap<(String, String), ConversationRecord>,
    transcripts: HashMap<(String, String), Vec<StoredMessage>>,
    /// (account, conversation) -> dedupe id -> sequence
    message_dedupe: HashMap<(String, String), HashMap<String, u64>>,
    open_dedupe: HashMap<OpenKey, String>,
    open_by_consumer: HashMap<(String, String), String>,
    /// Theoretical arrival time of the consumer's next message (µs), see `rate.rs`.
    consumer_rates: BTreeMap<ConsumerKey, i64>,
    outboxes: HashMap<(String, i32), Outbox>,
    /// (account, conversation) -> outbox dedupe id -> sequence, for entries about an open
    /// conversation: kept with the conversation, so an acknowledged one is not written again.
    outbox_once: HashMap<(String, String), HashMap<String, u64>>,
    routes: HashMap<(String, String), Route>,
    /// (account, skill) -> ordered (response due, conversation): the queue order (R9.3)
    queues: HashMap<(String, String), BTreeSet<(i64, String)>>,
    /// (account, conversation) -> claimed at, for assignments not yet announced
    unannounced: HashMap<(String, String), i64>,
    timers: HashMap<String, timers::Shard>,
    /// The current deadline of each expiring thing, and the same ordered by time.
    deadlines: HashMap<Expiry, i64>,
    expiries: BTreeSet<(i64, Expiry)>,
}

#[derive(Default)]
struct Outbox {
    next: u64,
    acked: u64,
    delivered: u64,
    /// sequence -> (payload, message sequence or 0)
    entries: BTreeMap<u64, (Bytes, u64)>,
    /// dedupe id -> sequence, and the reverse for trimming on ack.
    seen: HashMap<String, u64>,
    seen_by_sequence: BTreeMap<u64, String>,
}

impl Outbox {
    fn push(&mut self, payload: Bytes, message_sequence: u64, dedupe_id: &str) -> u64 {
        self.next += 1;
        self.entries.insert(self.next, (payload, message_sequence));
        if !dedupe_id.is_empty() {
            self.seen.insert(dedupe_id.to_owned(), self.next);
            self.seen_by_sequence.insert(self.next, dedupe_id.to_owned());
        }
        self.next
    }
}

fn k(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_retention(retention: Retention) -> Self {
        Self { retention, state: Mutex::new(State::default()), access: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-done operation visible: every
        // operation validates before it writes. Recover the guard instead of propagating.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many entries each family holds (what a growth test compares with its baseline).
    pub fn sizes(&self) -> BTreeMap<&'static str, usize> {
        let s = self.lock();
        let outbox_entries: usize = s.outboxes.values().map(|o| o.entries.len() + o.seen.len()).sum();
        BTreeMap::from([
            ("conversations", s.conversations.len()),
            ("transcripts", s.transcripts.len()),
            ("message_dedupe", s.message_dedupe.len()),
            ("outbox_once", s.outbox_once.len()),
            ("open_dedupe", s.open_dedupe.len()),
            ("open_by_consumer", s.open_by_consumer.len()),
            ("consumer_rates", s.consumer_rates.len()),
            ("outbox_entries", outbox_entries),
            ("routes", s.routes.len()),
            ("queues", s.queues.len()),
            ("consumers_seen", s.consumers_seen.len()),
            ("consumer_agents", s.consumer_agents.len()),
            ("routing_logs", s.routing_logs.len()),
            ("unannounced", s.unannounced.len()),
            ("timers", s.timers.values().map(timers::Shard::len).sum()),
            ("auto_closed", s.auto_closed.len()),
            ("deadlines", s.deadlines.len()),
        ])
    }
}

impl State {
    fn remove_from_queue(&mut self, account: &str, skill: &str, score: i64, conv: &str) {
        if let Some(q) = self.queues.get_mut(&k(account, skill)) {
            q.remove(&(score, conv.to_owned()));
            if q.is_empty() {
                self.queues.remove(&k(account, skill));
            }
        }
    }

    fn push_queue(&mut self, account: &str, skill: &str, score: i64, conv: &str) {
        self.queues.entry(k(account, skill)).or_default().insert((score, conv.to_owned()));
    }

    fn expire_at(&mut self, what: Expiry, at: i64) {
        if let Some(old) = self.deadlines.insert(what.clone(), at) {
            self.expiries.remove(&(old, what.clone()));
        }
        self.expiries.insert((at, what));
    }

    /// Deletes everything whose deadline is at or before `now`.
    fn expire(&mut self, now: i64) {
        // Checked on every operation: peek without cloning the key.
        while self.expiries.first().is_some_and(|(at, _)| *at <= now) {
            let Some((_, what)) = self.expiries.pop_first() else { break };
            self.deadlines.remove(&what);
            match what {
                Expiry::Conversation(account, conversation) => {
                    let key = (account, conversation);
                    self.conversations.remove(&key);
                    self.transcripts.remove(&key);
                    self.message_dedupe.remove(&key);
                    self.outbox_once.remove(&key);
                }
                Expiry::Route(account, conversation) => {
                    let key = (account, conversation);
                    self.routes.remove(&key);
                    self.routing_logs.remove(&key);
                    self.last_pass.remove(&key);
                    self.offers.remove(&key);
                    self.rejected.remove(&key);
                }
                Expiry::OpenDedupe(key) => {
                    self.open_dedupe.remove(&key);
                }
                Expiry::ConsumerSeen(account, consumer) => {
                    self.consumers_seen.remove(&(account, consumer));
                }
                Expiry::ConsumerAgent(account, consumer) => {
                    self.consumer_agents.remove(&(account, consumer));
                }
                Expiry::Rate(key) => {
                    self.consumer_rates.remove(&key);
                }
                Expiry::AutoClosed(account, consumer) => {
                    self.auto_closed.remove(&(account, consumer));
                }
            }
        }
    }
}

#[async_trait]
impl StateStore for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn maintain(&self, now_ms: i64) -> Result<(), StoreError> {
        self.lock().expire(now_ms);
        Ok(())
    }
}
