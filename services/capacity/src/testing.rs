//! The capacity consumer's test world: the handler on the in-memory store and bus, a
//! controlled clock, and the events connectors and the router would publish.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use switchyard_kit::consumer::Handler;
use switchyard_kit::{envelope, Platform, Topics};
use switchyard_platform::bus::{Delivery, EventBus, MemoryBus, StartFrom};
use switchyard_platform::store::prelude::*;
use switchyard_platform::store::*;
use switchyard_platform::{Clock, ManualClock};
use switchyard_proto::common::v1::{Message, Party};
use switchyard_proto::events::v1::{envelope::Body, ConversationAssigned, Envelope, MessagePublished};
use switchyard_routing::RoutingConfig;

use crate::handler::CapacityHandler;

pub(crate) const MIN: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 4;

pub(crate) struct World {
    pub store: Arc<MemoryStore>,
    pub bus: Arc<MemoryBus>,
    pub clock: ManualClock,
    pub topics: Topics,
    pub platform: Platform,
    pub handler: CapacityHandler,
    pub events: u64,
}

pub(crate) async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = ManualClock::new(1_700_000_000_000);
    let topics = Topics::with_prefix("t.");
    bus.ensure_topics(&topics.all(), PARTITIONS).await.unwrap();
    let platform = Platform::without_auth(bus.clone(), store.clone(), Arc::new(clock.clone()), topics.clone(), "test");
    let handler = CapacityHandler::new(platform.clone(), MIN);
    World { store, bus, clock, topics, platform, handler, events: 0 }
}

impl World {
    pub(crate) async fn configure(&self, change: impl FnOnce(&mut RoutingConfig)) {
        let mut config = RoutingConfig::default();
        change(&mut config);
        self.platform.routing.save("acme", 0, config).await.unwrap().unwrap();
    }

    /// ann (max 2) is online and holds `conversation`, assigned from `skill` at the active
    /// weight, as the router's claim leaves it; the assignment is announced.
    pub(crate) async fn assigned(&mut self, conversation: &str, skill: &str) {
        if self.store.get_agent("acme", "ann").await.unwrap().is_none() {
            let spec = AgentSpec {
                agent_id: "ann".into(),
                skill_ids: vec![skill.into()],
                max_conversations: 2,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            };
            self.store.create_agent("acme", &spec).await.unwrap();
            let online = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
            self.store.set_agent_session("acme", "ann", &online, self.clock.now_ms()).await.unwrap();
        }
        let now = self.clock.now_ms();
        let new = NewConversation {
            conversation_id: conversation.into(),
            consumer_id: format!("consumer-{conversation}"),
            channel: 1,
            skill_id: skill.into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: now,
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        self.store.open_conversation("acme", &new).await.unwrap();
        self.store.enqueue("acme", conversation, skill, now, &Placement::by_due(now)).await.unwrap();
        let claim = Claim {
            account_id: "acme".into(),
            conversation_id: conversation.into(),
            skill_id: skill.into(),
            agent_id: "ann".into(),
            weight: ONE,
            headroom: 500,
            max_open: 0,
            warmup: None,
            now_ms: now,
            history_window_ms: 0,
        };
        assert!(matches!(self.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { .. }));
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: conversation.into(),
            agent_id: "ann".into(),
            skill_id: skill.into(),
            assignment_version: 1,
        });
        self.feed(body).await;
    }

    /// The router's placement of a manual response time due at `due_ms` (R10.8).
    pub(crate) async fn route_is_manual(&self, conversation: &str, due_ms: i64) {
        let manual = Placement { sla: "manual".into(), ..Placement::by_due(due_ms) };
        let now = self.clock.now_ms();
        let why = Replacement::ManualSla;
        self.store.replace_in_queue("acme", conversation, "sales", &manual, why, now).await.unwrap();
    }

    /// A message of `party` stored and announced as connectors does.
    pub(crate) async fn writes(&mut self, conversation: &str, party: Party, skill: &str) {
        let now = self.clock.now_ms();
        let message = NewMessage {
            from: party as i32,
            sender_id: "someone".into(),
            text: "hello".into(),
            sent_at_ms: now,
            dedupe_id: String::new(),
            max_messages: 0,
            consumer_rate_per_minute: None,
        };
        let AppendOutcome::Appended(stored) =
            self.store.append_message("acme", conversation, &message, None).await.unwrap()
        else {
            panic!("not appended")
        };
        let body = Body::MessagePublished(MessagePublished {
            message: Some(Message {
                conversation_id: conversation.into(),
                sequence: stored.sequence,
                from: party as i32,
                sender_id: "someone".into(),
                text: "hello".into(),
                sent_at_ms: now,
            }),
            agent_id: "ann".into(),
            skill_id: skill.into(),
        });
        self.feed(body).await;
    }

    pub(crate) async fn feed(&mut self, body: Body) {
        self.feed_at(body, self.clock.now_ms()).await
    }

    /// An event that occurred at `at_ms` (a redelivery's is older than the clock).
    pub(crate) async fn feed_at(&mut self, body: Body, at_ms: i64) {
        self.events += 1;
        let env = envelope::with_id(format!("e{}", self.events), "acme", at_ms, body);
        let delivery = Delivery {
            topic: self.topics.conversations.clone(),
            partition: 0,
            offset: self.events as i64,
            key: String::new(),
            payload: env.encode_to_vec().into(),
            headers: Vec::new(),
        };
        self.handler.handle(env, &delivery).await.unwrap();
    }

    /// Advances the clock and fires what is due on every partition.
    pub(crate) async fn after(&mut self, by: Duration) {
        self.clock.advance(by);
        let all: Vec<(String, i32)> = [&self.topics.agents, &self.topics.conversations]
            .into_iter()
            .flat_map(|t| (0..PARTITIONS).map(move |p| (t.clone(), p)))
            .collect();
        self.handler.tick(&all).await;
    }

    pub(crate) async fn weight(&self, conversation: &str) -> Milli {
        let ann = self.store.get_agent("acme", "ann").await.unwrap().unwrap();
        ann.load.iter().find(|(c, _)| c == conversation).map(|(_, w)| *w).expect("ann holds it")
    }

    /// The requeue commands capacity published so far: (conversation, reason, avoided agent).
    pub(crate) async fn requeues(&self) -> Vec<(String, String, String)> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let group = format!("requeues-{}", self.events);
        let topics = std::slice::from_ref(&self.topics.routing);
        let mut sub = self.bus.subscribe(&group, topics, StartFrom::Earliest).await.unwrap();
        let mut out = Vec::new();
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            if let Some(Body::RouteConversation(r)) = Envelope::decode(d.payload.as_ref()).unwrap().body {
                out.push((r.conversation_id, r.reason, r.avoid_agent_id));
            }
        }
        out
    }

    /// ann's session becomes `state` (logged in).
    pub(crate) async fn ann_is(&self, state: AgentState) {
        let session = AgentSession { logged_in: true, state, away_reason: String::new() };
        self.store.set_agent_session("acme", "ann", &session, self.clock.now_ms()).await.unwrap();
    }

    /// How many AgentAvailable hints for ann were published so far.
    pub(crate) async fn hints(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let group = format!("hints-{}", self.events);
        let topics = std::slice::from_ref(&self.topics.agents);
        let mut sub = self.bus.subscribe(&group, topics, StartFrom::Earliest).await.unwrap();
        let mut count = 0;
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            if let Some(Body::AgentAvailable(a)) = Envelope::decode(d.payload.as_ref()).unwrap().body {
                count += usize::from(a.agent_id == "ann");
            }
        }
        count
    }
}
