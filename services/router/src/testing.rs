//! The router's test world: the engine against the in-memory store and bus, on a controlled
//! clock.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use switchyard_kit::{Platform, Topics};
use switchyard_platform::bus::{EventBus, MemoryBus, StartFrom};
use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{
    AgentSession, AgentSpec, AgentState, MemoryStore, NewConversation, Route, RouteStatus,
};
use switchyard_platform::{Clock, ManualClock};
use switchyard_proto::events::v1::{envelope::Body, Envelope, RouteConversation};

use crate::engine::Engine;
use crate::RoutingRules;

/// A route of conversation `c1` on `sales` with `status`, queued at `queued_ms` with `reason`,
/// due at `due_ms` under `sla`, velocity `velocity_milli`; assigned to `a1` when assigned.
pub(crate) fn route(status: RouteStatus, queued_ms: i64, due_ms: i64, sla: &str, velocity_milli: i64) -> Route {
    Route {
        agent_id: if status == RouteStatus::Assigned { "a1".into() } else { String::new() },
        version: 1,
        response_due_ms: due_ms,
        queue_score: due_ms,
        sla: sla.into(),
        velocity_milli,
        ..Route::new("c1", "sales", status, queued_ms)
    }
}

/// The sweep interval of the test world.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(2);

pub(crate) struct World {
    pub engine: Arc<Engine>,
    pub store: Arc<MemoryStore>,
    pub bus: Arc<MemoryBus>,
    pub clock: ManualClock,
    pub topics: Topics,
    pub platform: Platform,
}

/// A fresh consumer group name per read, so every read sees everything.
fn next_group_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub(crate) async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = ManualClock::new(1_700_000_000_000);
    let topics = Topics::with_prefix("t.");
    bus.ensure_topics(&topics.all(), 4).await.unwrap();
    let platform = Platform::without_auth(bus.clone(), store.clone(), Arc::new(clock.clone()), topics.clone(), "test");
    let engine = Engine::new(platform.clone(), RoutingRules::default(), SWEEP_INTERVAL);
    World { engine, store, bus, clock, topics, platform }
}

impl World {
    pub(crate) async fn agent(&self, id: &str, skills: &[&str], max: u32, state: AgentState) {
        let spec = AgentSpec {
            agent_id: id.into(),
            skill_ids: skills.iter().map(|s| s.to_string()).collect(),
            max_conversations: max,
            bot: false,
            group_id: String::new(),
            nickname: String::new(),
        };
        self.store.create_agent("acme", &spec).await.unwrap();
        let session = AgentSession { logged_in: true, state, away_reason: String::new() };
        self.store.set_agent_session("acme", id, &session, self.clock.now_ms()).await.unwrap();
    }

    /// Opens a conversation (not routed).
    pub(crate) async fn open(&self, id: &str, skill: &str) {
        let new = NewConversation {
            conversation_id: id.into(),
            consumer_id: format!("consumer-{id}"),
            channel: 1,
            skill_id: skill.into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: self.clock.now_ms(),
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        self.store.open_conversation("acme", &new).await.unwrap();
    }

    /// Opens a conversation and routes it, then a second passes.
    pub(crate) async fn conversation(&self, id: &str, skill: &str) {
        let now = self.clock.now_ms();
        self.open(id, skill).await;
        let cmd = RouteConversation {
            conversation_id: id.into(),
            skill_id: skill.into(),
            queued_at_ms: now,
            avoid_agent_id: String::new(),
            ..Default::default()
        };
        self.engine.route("acme", &cmd, &format!("route:{id}")).await.unwrap();
        self.clock.advance(Duration::from_secs(1));
    }

    /// (conversation, agent) of every assignment event published so far.
    pub(crate) async fn assignments(&self) -> Vec<(String, String)> {
        self.published(|body| match body {
            Body::ConversationAssigned(a) => Some((a.conversation_id, a.agent_id)),
            _ => None,
        })
        .await
    }

    /// (conversation, agent) of every unassignment event published so far.
    pub(crate) async fn unassignments(&self) -> Vec<(String, String)> {
        self.published(|body| match body {
            Body::ConversationUnassigned(u) => Some((u.conversation_id, u.agent_id)),
            _ => None,
        })
        .await
    }

    /// What `pick` takes from every event on the assignments topic so far.
    pub(crate) async fn published(&self, pick: impl Fn(Body) -> Option<(String, String)>) -> Vec<(String, String)> {
        let group = format!("g{}", next_group_number());
        let mut sub = self
            .bus
            .subscribe(&group, std::slice::from_ref(&self.topics.assignments), StartFrom::Earliest)
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            if let Some(picked) = Envelope::decode(d.payload.as_ref()).unwrap().body.and_then(&pick) {
                out.push(picked);
            }
        }
        out
    }
}
