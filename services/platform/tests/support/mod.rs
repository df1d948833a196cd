//! What the store conformance suites share: the generator of `memory::<name>`,
//! `redis::<name>` and `redis_cluster::<name>` tests, and fixtures.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisCluster, RedisServer};

pub type Store = Arc<dyn StateStore>;

pub const SKILL: &str = "billing";

/// Generates `memory::<name>`, `redis::<name>` (one redis-server) and `redis_cluster::<name>`
/// (a three-node Redis Cluster) for each generic test function.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::support::memory_store()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (_server, store) = $crate::support::redis_store().await;
                    super::$name(store).await;
                }
            )*
        }
        mod redis_cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (_cluster, store) = $crate::support::redis_cluster_store().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

pub fn memory_store() -> Store {
    Arc::new(MemoryStore::new())
}

pub async fn redis_store() -> (RedisServer, Store) {
    let server = RedisServer::start().await.expect("start redis-server for the store conformance suite");
    let store = RedisStore::connect(&server.url(), &unique("sy-conformance"), Retention::default())
        .await
        .expect("connect to redis-server");
    (server, Arc::new(store))
}

/// A store on a fresh three-node Redis Cluster (keys of different accounts land on different
/// nodes).
pub async fn redis_cluster_store() -> (RedisCluster, Store) {
    let cluster = RedisCluster::start().await.expect("start a redis cluster for the store conformance suite");
    let mut options = RedisOptions::new(cluster.url());
    options.cluster = true;
    let store = RedisStore::connect_with(&options, &unique("sy-conformance"), Retention::default())
        .await
        .expect("connect to the redis cluster");
    assert!(store.is_cluster());
    (cluster, Arc::new(store))
}

// --- fixtures ---------------------------------------------------------------------------------

pub fn new_conversation(id: &str, consumer: &str, partner_message_id: &str) -> NewConversation {
    NewConversation {
        conversation_id: id.into(),
        consumer_id: consumer.into(),
        channel: 3,
        skill_id: SKILL.into(),
        language: "en".into(),
        partner_message_id: partner_message_id.into(),
        opened_at_ms: 1_000,
        profile: [("tier".to_owned(), "gold".to_owned())].into(),
        skill_reason: "requested".into(),
        skill_detail: String::new(),
    }
}

pub fn message(text: &str, dedupe_id: &str) -> NewMessage {
    NewMessage {
        from: 1,
        sender_id: "consumer-1".into(),
        text: text.into(),
        sent_at_ms: 2_000,
        dedupe_id: dedupe_id.into(),
        max_messages: 0,
        consumer_rate_per_minute: None,
    }
}

pub fn spec(agent_id: &str, skills: &[&str], max: u32) -> AgentSpec {
    AgentSpec {
        agent_id: agent_id.into(),
        skill_ids: skills.iter().map(|s| s.to_string()).collect(),
        max_conversations: max,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    }
}

pub fn online() -> AgentSession {
    AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() }
}

pub fn claim_of(account: &str, conversation: &str, agent: &str, weight: Milli, headroom: Milli) -> Claim {
    Claim {
        account_id: account.into(),
        conversation_id: conversation.into(),
        skill_id: SKILL.into(),
        agent_id: agent.into(),
        weight,
        headroom,
        max_open: 0,
        warmup: None,
        now_ms: 5_000,
        history_window_ms: 0,
    }
}

/// An online agent holding `skills`.
pub async fn online_agent(store: &Store, account: &str, agent: &str, skills: &[&str], max: u32) {
    assert!(store.create_agent(account, &spec(agent, skills, max)).await.unwrap());
    assert!(store.set_agent_session(account, agent, &online(), 100).await.unwrap());
}

/// An open conversation (its own consumer), not routed.
pub async fn open(store: &Store, account: &str, conversation: &str) {
    let consumer = format!("consumer-of-{conversation}");
    let opened = store.open_conversation(account, &new_conversation(conversation, &consumer, "")).await.unwrap();
    assert!(matches!(opened, OpenOutcome::Created(_)), "{opened:?}");
}

/// An open conversation queued on SKILL at `queued_at`.
pub async fn queued_conversation(store: &Store, account: &str, conversation: &str, queued_at: i64) {
    let consumer = format!("consumer-of-{conversation}");
    let opened = store.open_conversation(account, &new_conversation(conversation, &consumer, "")).await.unwrap();
    assert!(matches!(opened, OpenOutcome::Created(_)), "{opened:?}");
    assert_eq!(
        store.enqueue(account, conversation, SKILL, queued_at, &Placement::by_due(queued_at)).await.unwrap(),
        EnqueueOutcome::Queued
    );
}

pub fn load_of(agent: &AgentRecord) -> Vec<(String, Milli)> {
    let mut load = agent.load.clone();
    load.sort();
    load
}

pub fn ids(entries: &[QueueEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.conversation_id.as_str()).collect()
}

/// A tiny deterministic generator, so a failing interleaving is reproducible per task.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A back-to-queue request from `agent`'s assignment `version` (0: any) to `skill` at `now`.
#[allow(dead_code)]
pub fn back_to_queue(account: &str, conversation: &str, agent: &str, version: u64, skill: &str, now: i64) -> Requeue {
    Requeue {
        account_id: account.to_owned(),
        conversation_id: conversation.to_owned(),
        from_agent: agent.to_owned(),
        version,
        to_skill: skill.to_owned(),
        reason: QueueReason::BackToQueue,
        now_ms: now,
        placement: None,
        suggested_agent: String::new(),
    }
}

/// A route as this version writes it: on `skill` since `at` (queued there as new, due then),
/// never assigned, no history.
pub fn route_of(conversation: &str, skill: &str, status: RouteStatus, at: i64) -> Route {
    Route::new(conversation, skill, status, at)
}

pub fn step(skill: &str, reason: QueueReason, at: i64) -> SkillStep {
    SkillStep { skill_id: skill.into(), reason, at_ms: at }
}

/// A transfer request (R10.6: restarts the response due time).
pub fn transfer(account: &str, conversation: &str, agent: &str, skill: &str, now: i64) -> Requeue {
    Requeue { reason: QueueReason::Transfer, ..back_to_queue(account, conversation, agent, 0, skill, now) }
}

/// A consumer message at `at` with dedupe id `dedupe`.
pub fn msg(text: &str, dedupe: &str, at: i64) -> NewMessage {
    NewMessage {
        from: 1,
        sender_id: "consumer".into(),
        text: text.into(),
        sent_at_ms: at,
        dedupe_id: dedupe.into(),
        max_messages: 0,
        consumer_rate_per_minute: None,
    }
}

/// The record of an open that created a conversation.
pub fn created(outcome: OpenOutcome) -> ConversationRecord {
    match outcome {
        OpenOutcome::Created(rec) => rec,
        other => panic!("expected Created, got {other:?}"),
    }
}
