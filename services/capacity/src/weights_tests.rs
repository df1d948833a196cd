//! Dynamic capacity through the capacity consumer, on a controlled clock (R8.1-R8.4, R8.10):
//! the handler is fed the events connectors and the router publish, its timers fire on tick.

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
use switchyard_routing::{CapacityMode, CapacityOverrides, RoutingConfig, SkillRouting};

use crate::handler::CapacityHandler;

const MIN: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 4;

struct World {
    store: Arc<MemoryStore>,
    bus: Arc<MemoryBus>,
    clock: ManualClock,
    topics: Topics,
    platform: Platform,
    handler: CapacityHandler,
    events: u64,
}

async fn world() -> World {
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
    async fn configure(&self, change: impl FnOnce(&mut RoutingConfig)) {
        let mut config = RoutingConfig::default();
        change(&mut config);
        self.platform.routing.save("acme", 0, config).await.unwrap().unwrap();
    }

    /// ann (max 2) is online and holds `conversation`, assigned from `skill` at the active
    /// weight, as the router's claim leaves it; the assignment is announced.
    async fn assigned(&mut self, conversation: &str, skill: &str) {
        if self.store.get_agent("acme", "ann").await.unwrap().is_none() {
            let spec = AgentSpec {
                agent_id: "ann".into(),
                skill_ids: vec![skill.into()],
                max_conversations: 2,
                bot: false,
                group_id: String::new(),
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

    /// A message of `party` stored and announced as connectors does.
    async fn writes(&mut self, conversation: &str, party: Party, skill: &str) {
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

    async fn feed(&mut self, body: Body) {
        self.events += 1;
        let env = envelope::with_id(format!("e{}", self.events), "acme", self.clock.now_ms(), body);
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
    async fn after(&mut self, by: Duration) {
        self.clock.advance(by);
        let all: Vec<(String, i32)> = [&self.topics.agents, &self.topics.conversations]
            .into_iter()
            .flat_map(|t| (0..PARTITIONS).map(move |p| (t.clone(), p)))
            .collect();
        self.handler.tick(&all).await;
    }

    async fn weight(&self, conversation: &str) -> Milli {
        let ann = self.store.get_agent("acme", "ann").await.unwrap().unwrap();
        ann.load.iter().find(|(c, _)| c == conversation).map(|(_, w)| *w).expect("ann holds it")
    }

    /// How many AgentAvailable hints for ann were published so far.
    async fn hints(&self) -> usize {
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

#[tokio::test]
async fn a_conversation_weighs_inactive_4_minutes_after_the_agent_answered_and_active_again_on_a_consumer_message_r8_2_r8_3(
) {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "pending agent: the active weight (R8.2)");
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer is waiting: no drop");

    w.writes("c1", Party::Agent, "sales").await;
    w.after(4 * MIN - Duration::from_secs(1)).await;
    assert_eq!(w.weight("c1").await, ONE, "3 min 59 s after the answer");
    let hints_before = w.hints().await;
    w.after(Duration::from_secs(1)).await;
    assert_eq!(w.weight("c1").await, 100, "4 min: the inactive weight 0.1 (R8.3, R8.4)");
    assert_eq!(w.hints().await, hints_before + 1, "the agent is announced: it may take more");

    w.writes("c1", Party::Consumer, "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer wrote: full weight at once");
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "the drop was cancelled");
    // A system message changes nothing.
    w.writes("c1", Party::System, "sales").await;
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE);
}

#[tokio::test]
async fn a_later_agent_message_moves_the_drop_and_a_close_cancels_it_r8_3() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(3 * MIN).await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "counted from the latest answer");
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, 100);

    w.assigned("c2", "sales").await;
    w.writes("c2", Party::Agent, "sales").await;
    w.store.close_conversation("acme", "c2", w.clock.now_ms(), None).await.unwrap();
    w.feed(Body::ConversationClosed(switchyard_proto::events::v1::ConversationClosed {
        conversation_id: "c2".into(),
        agent_id: "ann".into(),
        ..Default::default()
    }))
    .await;
    w.after(10 * MIN).await;
    let ann = w.store.get_agent("acme", "ann").await.unwrap().unwrap();
    assert_eq!(ann.load, vec![("c1".to_string(), 100)], "c2 released, its drop cancelled");
}

#[tokio::test]
async fn an_assignment_of_a_conversation_pending_consumer_counts_the_drop_from_the_assignment_r8_10() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(3 * MIN).await;
    // Returned to the queue and assigned again (the claim weighs it active): the count starts
    // at the new assignment, not at the agent's answer.
    w.feed(Body::ConversationAssigned(ConversationAssigned {
        conversation_id: "c1".into(),
        agent_id: "ann".into(),
        skill_id: "sales".into(),
        assignment_version: 2,
    }))
    .await;
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "5 min after the answer, 2 after the assignment");
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, 100);
}

#[tokio::test]
async fn a_skill_has_its_own_weights_and_concurrency_mode_never_drops_r8_1_r8_4() {
    let mut w = world().await;
    w.configure(|c| {
        let capacity = CapacityOverrides {
            inactive_weight_milli: Some(300),
            time_to_inactive_ms: Some(60_000),
            ..Default::default()
        };
        c.skills.insert("vip".into(), SkillRouting { capacity, ..Default::default() });
    })
    .await;
    w.assigned("c1", "vip").await;
    w.writes("c1", Party::Agent, "vip").await;
    w.after(MIN).await;
    assert_eq!(w.weight("c1").await, 300, "vip: 0.3 after 1 minute");

    let mut w = world().await;
    w.configure(|c| c.account.capacity.mode = CapacityMode::Concurrency).await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(60 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "concurrency: every open conversation weighs 1.0");
}
