//! The automessages consumer's test world: the handler on the in-memory store and bus with a
//! controlled clock, the events connectors and the router would publish, and a stand-in for
//! connectors that applies the `SystemMessageRequested` commands to the transcript as
//! connectors does (Party SYSTEM, once per dedupe id).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use switchyard_hours::Timestamp;
use switchyard_kit::consumer::Handler;
use switchyard_kit::routing_config::{Configs, DEFAULT_REFRESH};
use switchyard_kit::{envelope, Platform, Topics};
use switchyard_platform::bus::{Delivery, EventBus, MemoryBus, StartFrom, Subscription};
use switchyard_platform::store::prelude::*;
use switchyard_platform::store::*;
use switchyard_platform::{Clock, ManualClock};
use switchyard_proto::common::v1::{Message, Party};
use switchyard_proto::events::v1::{
    envelope::Body, ConversationAssigned, ConversationClosed, ConversationOpened, ConversationUnassigned, Envelope,
    MessagePublished, ResponseTimeChanged,
};
use switchyard_routing::RoutingConfig;

use crate::engine::Engine;
use crate::handler::AutoMessageHandler;
use crate::settings::Settings;

const PARTITIONS: i32 = 4;
pub(crate) const SKILL: &str = "sales";

/// New York wall-clock time on Tuesday 2026-12-01 ("10:15"), as ms.
pub(crate) fn ny(hh_mm: &str) -> i64 {
    let at: Timestamp = format!("2026-12-01T{hh_mm}:00-05:00").parse().unwrap();
    at.as_millisecond()
}

/// A New York day shift 08:00-20:00 every day, response time 15 min (first-time 10 min).
pub(crate) fn day_shift() -> RoutingConfig {
    let day = r#"{"status": "custom", "shifts": [{"start": 480, "end": 1200}]}"#;
    let doc = format!(
        r#"{{"account": {{"response_times": {{"default_ms": 900000, "first_time_ms": 600000}}}},
            "hours": {{"mode": {{"mode": "automatic"}}, "default_workdays_id": "day",
              "workdays": {{"day": {{"name": "day", "time_zone": "America/New_York", "days": {{
                "monday": {day}, "tuesday": {day}, "wednesday": {day}, "thursday": {day},
                "friday": {day}, "saturday": {day}, "sunday": {day}}}}}}}}}}}"#
    );
    RoutingConfig::from_json(doc.as_bytes()).unwrap()
}

pub(crate) struct World {
    pub store: Arc<MemoryStore>,
    pub bus: Arc<MemoryBus>,
    pub clock: ManualClock,
    pub topics: Topics,
    pub engine: Engine,
    pub handler: AutoMessageHandler,
    events: u64,
    commands: Option<Box<dyn Subscription>>,
    pub commands_seen: usize,
}

pub(crate) async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = ManualClock::new(ny("10:00"));
    let topics = Topics::with_prefix("t.");
    bus.ensure_topics(&topics.all(), PARTITIONS).await.unwrap();
    let platform = Platform::without_auth(bus.clone(), store.clone(), Arc::new(clock.clone()), topics.clone(), "test");
    let settings = Arc::new(Configs::new(store.clone(), DEFAULT_REFRESH));
    let engine = Engine::new(platform, settings);
    let handler = AutoMessageHandler::new(engine.clone());
    let mut world = World { store, bus, clock, topics, engine, handler, events: 0, commands: None, commands_seen: 0 };
    world.settings(|s| s.enabled = true).await;
    world
}

impl World {
    pub(crate) async fn settings(&mut self, change: impl FnOnce(&mut Settings)) {
        let current = self.engine.settings.read("acme").await.unwrap();
        let mut settings = current.config;
        change(&mut settings);
        settings.validate().unwrap();
        self.engine.settings.save("acme", current.revision, settings).await.unwrap().unwrap();
    }

    pub(crate) async fn routing(&self, config: RoutingConfig) {
        let current = self.engine.platform.routing.read("acme").await.unwrap();
        self.engine.platform.routing.save("acme", current.revision, config).await.unwrap().unwrap();
    }

    /// The clock moves to `hh_mm` New York time; due timers fire.
    pub(crate) async fn at(&mut self, hh_mm: &str) {
        self.at_ms(ny(hh_mm)).await;
    }

    pub(crate) async fn at_ms(&mut self, ms: i64) {
        assert!(ms >= self.clock.now_ms(), "time runs forward");
        self.clock.set(ms);
        let all: Vec<(String, i32)> = (0..PARTITIONS).map(|p| (self.topics.conversations.clone(), p)).collect();
        // Each fire may reschedule; a few rounds settle what is due now.
        for _ in 0..3 {
            self.handler.tick(&all).await;
        }
    }

    pub(crate) async fn feed(&mut self, body: Body) {
        self.events += 1;
        self.feed_as(format!("e{}", self.events), body).await;
    }

    /// An event with a given id (a redelivery repeats one).
    pub(crate) async fn feed_as(&mut self, event_id: String, body: Body) {
        let env = envelope::with_id(event_id, "acme", self.clock.now_ms(), body);
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

    /// `consumer` opens `conversation` on the skill; the router queues it.
    pub(crate) async fn open(&mut self, conversation: &str, consumer: &str, language: &str) {
        let now = self.clock.now_ms();
        let new = NewConversation {
            conversation_id: conversation.into(),
            consumer_id: consumer.into(),
            channel: 1,
            skill_id: SKILL.into(),
            language: language.into(),
            partner_message_id: String::new(),
            opened_at_ms: now,
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        let OpenOutcome::Created(record) = self.store.open_conversation("acme", &new).await.unwrap() else {
            panic!("not opened")
        };
        // As the router places it: first-time or default response time (R10.2).
        let kind = switchyard_routing::sla_kind(record.first_conversation, "");
        let config = self.engine.platform.routing.get("acme").await.unwrap();
        let due = config.due_ms(SKILL, now, switchyard_routing::response_time_ms(&config, SKILL, kind));
        let placement = Placement { sla: kind.name().into(), ..Placement::by_due(due) };
        self.store.enqueue("acme", conversation, SKILL, now, &placement).await.unwrap();
        let body = Body::ConversationOpened(ConversationOpened {
            conversation_id: conversation.into(),
            consumer_id: consumer.into(),
            channel: 1,
            skill_id: SKILL.into(),
            language: language.into(),
        });
        self.feed(body).await;
    }

    /// The agent exists and is online (nickname = its name capitalised).
    pub(crate) async fn assign_agent_only(&mut self, agent: &str) {
        if self.store.get_agent("acme", agent).await.unwrap().is_none() {
            let mut nickname = agent.to_owned();
            nickname[..1].make_ascii_uppercase();
            let spec = AgentSpec {
                agent_id: agent.into(),
                skill_ids: vec![SKILL.into()],
                max_conversations: 10,
                bot: false,
                group_id: String::new(),
                nickname,
            };
            self.store.create_agent("acme", &spec).await.unwrap();
            let online = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
            self.store.set_agent_session("acme", agent, &online, self.clock.now_ms()).await.unwrap();
        }
    }

    /// `agent` (online, nickname = its name capitalised) takes the queued conversation.
    pub(crate) async fn assign(&mut self, conversation: &str, agent: &str) {
        self.assign_agent_only(agent).await;
        let claim = Claim {
            account_id: "acme".into(),
            conversation_id: conversation.into(),
            skill_id: SKILL.into(),
            agent_id: agent.into(),
            weight: ONE,
            headroom: 500,
            max_open: 0,
            warmup: None,
            now_ms: self.clock.now_ms(),
            history_window_ms: 0,
        };
        let ClaimOutcome::Claimed { version } = self.store.claim(&claim).await.unwrap() else { panic!("not claimed") };
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: conversation.into(),
            agent_id: agent.into(),
            skill_id: SKILL.into(),
            assignment_version: version,
        });
        self.feed_as(format!("assigned:{conversation}:{version}"), body).await;
    }

    /// The agent holding it returns it to the queue for `reason` (back_to_queue, transfer,
    /// transfer_to_agent, agent_logged_out).
    pub(crate) async fn requeue(&mut self, conversation: &str, reason: &str) {
        let route = self.store.route("acme", conversation).await.unwrap().unwrap();
        let requeue = Requeue {
            account_id: "acme".into(),
            conversation_id: conversation.into(),
            from_agent: route.agent_id.clone(),
            version: route.version,
            to_skill: SKILL.into(),
            reason: QueueReason::parse(reason),
            now_ms: self.clock.now_ms(),
            placement: None,
            suggested_agent: String::new(),
        };
        assert_eq!(self.store.requeue(&requeue).await.unwrap(), RequeueOutcome::Requeued);
        let body = Body::ConversationUnassigned(ConversationUnassigned {
            conversation_id: conversation.into(),
            agent_id: route.agent_id,
            reason: reason.into(),
            skill_id: SKILL.into(),
        });
        self.feed_as(format!("unassigned:{conversation}:{}", route.version), body).await;
    }

    async fn writes(&mut self, conversation: &str, party: Party) {
        let now = self.clock.now_ms();
        let route = self.store.route("acme", conversation).await.unwrap();
        let holder = route.filter(|r| r.status == RouteStatus::Assigned).map(|r| r.agent_id).unwrap_or_default();
        let message = NewMessage {
            from: party as i32,
            sender_id: if party == Party::Agent { holder.clone() } else { "consumer".into() },
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
                sender_id: message.sender_id,
                text: "hello".into(),
                sent_at_ms: now,
            }),
            skill_id: if holder.is_empty() { String::new() } else { SKILL.into() },
            agent_id: holder,
        });
        self.feed_as(format!("msg:{conversation}:{}", stored.sequence), body).await;
    }

    pub(crate) async fn consumer_writes(&mut self, conversation: &str) {
        self.writes(conversation, Party::Consumer).await
    }

    pub(crate) async fn agent_writes(&mut self, conversation: &str) {
        self.writes(conversation, Party::Agent).await
    }

    /// The consumer marks it urgent (`urgent`) or withdraws the mark (`default`) for its wait
    /// that began at `at_ms`, or its agent sets a manual response time due at `at_ms`
    /// (`manual`). The router's placement follows the event here; only the manual due time is
    /// placed (the rules must not depend on the order).
    pub(crate) async fn response_time(&mut self, conversation: &str, sla: &str, at_ms: i64) {
        let route = self.store.route("acme", conversation).await.unwrap().unwrap();
        let due_ms = if sla == "manual" { at_ms } else { route.response_due_ms };
        let placement = Placement { sla: sla.into(), ..Placement::by_due(due_ms) };
        let now = self.clock.now_ms();
        let why = match sla {
            "manual" => Replacement::ManualSla,
            "urgent" => Replacement::Urgent,
            _ => Replacement::NotUrgent,
        };
        self.store.replace_in_queue("acme", conversation, SKILL, &placement, why, now).await.unwrap();
        let body = Body::ResponseTimeChanged(ResponseTimeChanged {
            conversation_id: conversation.into(),
            sla: sla.into(),
            from_ms: at_ms,
            skill_id: SKILL.into(),
        });
        self.feed(body).await;
    }

    /// `agent` joins (`Some(role)`) or leaves (`None`) as connectors announces it.
    pub(crate) async fn participant(&mut self, conversation: &str, agent: &str, role: Option<&str>) {
        let kind = match role {
            Some("manager") => Some(ParticipantRole::Manager),
            Some(_) => Some(ParticipantRole::Reader),
            None => None,
        };
        self.store.set_participant("acme", conversation, agent, kind).await.unwrap();
        let body = Body::ParticipantChanged(switchyard_proto::events::v1::ParticipantChanged {
            conversation_id: conversation.into(),
            agent_id: agent.into(),
            role: role.unwrap_or("manager").into(),
            joined: role.is_some(),
        });
        self.feed(body).await;
    }

    /// Closes it as connectors does; `auto`: by itself (R13.1).
    pub(crate) async fn close(&mut self, conversation: &str, auto: bool) {
        let now = self.clock.now_ms();
        self.store.close_conversation("acme", conversation, now, None).await.unwrap();
        self.store.release("acme", conversation, now).await.unwrap();
        let body = Body::ConversationClosed(ConversationClosed {
            conversation_id: conversation.into(),
            closed_by: Party::System as i32,
            skill_id: SKILL.into(),
            agent_id: String::new(),
            reason: if auto { "auto".into() } else { String::new() },
        });
        self.feed_as(format!("closed:{conversation}"), body).await;
    }

    /// Applies the commands published since the last call as connectors does; returns how many
    /// there were.
    pub(crate) async fn apply_commands(&mut self) -> usize {
        if self.commands.is_none() {
            let topics = std::slice::from_ref(&self.topics.assignments);
            self.commands = Some(self.bus.subscribe("connectors-stand-in", topics, StartFrom::Earliest).await.unwrap());
        }
        let sub = self.commands.as_mut().unwrap();
        let mut applied = 0;
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(30), sub.next()).await {
            let env = Envelope::decode(d.payload.as_ref()).unwrap();
            envelope::validate(&env).unwrap();
            let Some(Body::SystemMessageRequested(r)) = env.body else { continue };
            applied += 1;
            let message = NewMessage {
                from: Party::System as i32,
                sender_id: String::new(),
                text: r.text,
                sent_at_ms: env.occurred_at_ms,
                dedupe_id: r.dedupe_id,
                max_messages: 0,
                consumer_rate_per_minute: None,
            };
            self.store.append_message("acme", &r.conversation_id, &message, None).await.unwrap();
        }
        self.commands_seen += applied;
        applied
    }

    /// The system messages of the transcript: (New York "HH:MM", text).
    pub(crate) async fn system_messages(&mut self, conversation: &str) -> Vec<(String, String)> {
        self.apply_commands().await;
        let page = self.store.transcript_page("acme", conversation, 0, 1000).await.unwrap();
        page.into_iter()
            .filter(|m| m.from == Party::System as i32)
            .map(|m| {
                let at = Timestamp::from_millisecond(m.sent_at_ms).unwrap().in_tz("America/New_York").unwrap();
                (at.strftime("%H:%M").to_string(), m.text)
            })
            .collect()
    }

    /// Only the times of the system messages whose text starts with `prefix`.
    pub(crate) async fn times_of(&mut self, conversation: &str, prefix: &str) -> Vec<String> {
        self.system_messages(conversation)
            .await
            .into_iter()
            .filter(|(_, t)| t.starts_with(prefix))
            .map(|(at, _)| at)
            .collect()
    }
}
