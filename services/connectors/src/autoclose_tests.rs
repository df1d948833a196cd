//! Auto close on a controlled clock (R13.1-R13.6): messages are written through the edge (which
//! schedules the timers) and the timers fired; the store and the published events show what
//! closed, when and how.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use prost::Message as _;
use switchyard_kit::{Platform, Topics};
use switchyard_platform::bus::{EventBus, MemoryBus, StartFrom};
use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{ConversationStatus, MemoryStore, NewConversation, Placement, Replacement};
use switchyard_platform::{Clock, ManualClock};
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, ConversationClosed, Envelope};
use switchyard_routing::RoutingConfig;

use super::*;
use crate::hub::{Hub, StreamLimits};

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

struct World {
    store: Arc<MemoryStore>,
    bus: Arc<MemoryBus>,
    clock: ManualClock,
    topics: Topics,
    edge: Edge,
}

/// Auto close after 2 hours (R13.4's example), 13:00 on the clock.
async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = ManualClock::new(1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 13 * 3_600_000);
    let topics = Topics::with_prefix("t.");
    bus.ensure_topics(&topics.all(), 2).await.unwrap();
    let platform = Platform::without_auth(bus.clone(), store.clone(), Arc::new(clock.clone()), topics.clone(), "i");
    let mut config = RoutingConfig::default();
    config.account.auto_close_ms = 2 * 3_600_000;
    platform.routing.save("acme", 0, config).await.unwrap().unwrap();
    let edge = Edge::new(platform.clone(), Hub::new(StreamLimits::total(10)), crate::Config::default());
    World { store, bus, clock, topics, edge }
}

impl World {
    async fn open(&self, id: &str) {
        let new = NewConversation {
            conversation_id: id.into(),
            consumer_id: format!("consumer-{id}"),
            channel: 1,
            skill_id: "sales".into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: self.clock.now_ms(),
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        self.store.open_conversation("acme", &new).await.unwrap();
        let now = self.clock.now_ms();
        self.store.enqueue("acme", id, "sales", now, &Placement::by_due(now)).await.unwrap();
    }

    async fn writes(&mut self, id: &str, party: Party) {
        let record = self.store.get_conversation("acme", id).await.unwrap().unwrap();
        let message = match party {
            Party::Consumer => self.edge.consumer_message(&record, "hi".into(), String::new(), true),
            other => self.edge.party_message(other, "someone", "hi".into()),
        };
        self.edge.append_and_publish("acme", &record, message, None).await.unwrap();
    }

    async fn after(&mut self, by: Duration) {
        self.clock.advance(by);
        let all: Vec<(String, i32)> = (0..2).map(|p| (self.topics.assignments.clone(), p)).collect();
        self.edge.autoclose.fire_due(&self.edge, &all).await;
    }

    /// Whether any auto-close timer waits.
    async fn timer_waits(&self) -> bool {
        for p in 0..2 {
            if self.store.earliest_timer(&format!("connectors.autoclose.{p}")).await.unwrap().is_some() {
                return true;
            }
        }
        false
    }

    async fn is_open(&self, id: &str) -> bool {
        self.store.get_conversation("acme", id).await.unwrap().unwrap().status == ConversationStatus::Open
    }

    /// The ConversationClosed events published so far.
    async fn closes(&self) -> Vec<ConversationClosed> {
        let group = format!("closes-{}", self.clock.now_ms());
        let topics = std::slice::from_ref(&self.topics.conversations);
        let mut sub = self.bus.subscribe(&group, topics, StartFrom::Earliest).await.unwrap();
        let mut out = Vec::new();
        while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            if let Some(Body::ConversationClosed(c)) = Envelope::decode(d.payload.as_ref()).unwrap().body {
                out.push(c);
            }
        }
        out
    }
}

#[tokio::test]
async fn silent_for_the_threshold_after_the_agents_answer_it_closes_by_itself_r13_1_r13_4_r13_5_r13_9() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Consumer).await;
    w.writes("c1", Party::Agent).await;
    // R13.4: last activity 13:00, threshold 2 h: closed at 15:00 (on time: durable timers, not
    // a 25-minute sweep).
    w.after(2 * HOUR - Duration::from_secs(1)).await;
    assert!(w.is_open("c1").await, "14:59:59");
    w.after(Duration::from_secs(1)).await;
    assert!(!w.is_open("c1").await, "15:00");
    let closes = w.closes().await;
    assert_eq!(closes.len(), 1);
    // R13.9: the close reason tells an auto close from an agent's or consumer's.
    assert_eq!((closes[0].closed_by, closes[0].reason.as_str()), (Party::System as i32, "auto"));
    // The partner's outbox says so, to show the consumer nothing (R13.5).
    let outbox = w.store.outbox_read("acme", 1, 0, 10).await.unwrap();
    let last = outbox.last().expect("the close is in the outbox");
    let event = switchyard_proto::connectors::v1::OutboundEvent::decode(last.payload.as_ref()).unwrap();
    let Some(switchyard_proto::connectors::v1::outbound_event::Event::Closed(closed)) = event.event else {
        panic!("{event:?}")
    };
    assert!(closed.auto_closed);
}

#[tokio::test]
async fn a_conversation_waiting_for_the_agent_is_never_auto_closed_r13_2() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Agent).await;
    w.after(MIN).await;
    w.writes("c1", Party::Consumer).await;
    w.after(10 * HOUR).await;
    assert!(w.is_open("c1").await, "pending agent");
    assert!(w.closes().await.is_empty());
}

#[tokio::test]
async fn a_later_answer_restarts_the_count_and_system_messages_do_not_r13_6() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Agent).await;
    w.after(HOUR).await;
    w.writes("c1", Party::Agent).await;
    w.after(HOUR).await;
    // An automatic message is not activity.
    w.writes("c1", Party::System).await;
    w.after(HOUR - Duration::from_secs(1)).await;
    assert!(w.is_open("c1").await, "2 h after the second answer, not the first");
    w.after(Duration::from_secs(1)).await;
    assert!(!w.is_open("c1").await);
}

#[tokio::test]
async fn a_manual_response_time_keeps_it_open_r13_3() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Agent).await;
    let manual = Placement { sla: "manual".into(), ..Placement::by_due(w.clock.now_ms() + 3 * 3_600_000) };
    let now = w.clock.now_ms();
    w.store.replace_in_queue("acme", "c1", "sales", &manual, Replacement::ManualSla, now).await.unwrap();
    w.after(5 * HOUR).await;
    assert!(w.is_open("c1").await);
}

#[tokio::test]
async fn with_manual_sla_reduction_it_closes_once_the_agent_wrote_after_the_manual_due_time_r8_18() {
    let mut w = world().await;
    let platform = w.edge.platform.clone();
    let mut config = RoutingConfig::default();
    config.account.auto_close_ms = 2 * 3_600_000;
    config.account.capacity.manual_sla_reduction.enabled = true;
    platform.routing.save("acme", 1, config).await.unwrap().unwrap();
    w.open("c1").await;
    w.writes("c1", Party::Agent).await;
    // The agent answers by 16:00 (3 h from 13:00).
    let manual = Placement { sla: "manual".into(), ..Placement::by_due(w.clock.now_ms() + 3 * 3_600_000) };
    let now = w.clock.now_ms();
    w.store.replace_in_queue("acme", "c1", "sales", &manual, Replacement::ManualSla, now).await.unwrap();
    w.after(5 * HOUR).await;
    assert!(w.is_open("c1").await, "expired, but no agent line after 16:00 yet");
    // 18:00: the agent writes after the due time; two silent hours later it closes.
    w.writes("c1", Party::Agent).await;
    w.after(2 * HOUR).await;
    assert!(!w.is_open("c1").await);
}

#[tokio::test]
async fn a_close_cancels_the_timer_and_an_auto_close_consumes_it() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Consumer).await;
    assert!(!w.timer_waits().await, "only an agent's message schedules a close");
    w.writes("c1", Party::Agent).await;
    assert!(w.timer_waits().await);
    let record = w.store.get_conversation("acme", "c1").await.unwrap().unwrap();
    w.edge.close("acme", &record, Party::Agent).await.unwrap();
    assert!(!w.timer_waits().await, "a closed conversation keeps no timer");
    w.open("c2").await;
    w.writes("c2", Party::Agent).await;
    w.after(2 * HOUR).await;
    assert!(!w.is_open("c2").await);
    assert!(!w.timer_waits().await, "the timer that closed it is done");
}

#[tokio::test]
async fn a_requested_system_message_is_appended_once_and_changes_nothing_r14_6_r13_6() {
    let mut w = world().await;
    w.open("c1").await;
    w.writes("c1", Party::Consumer).await;
    w.writes("c1", Party::Agent).await;
    let request = |dedupe: &str| switchyard_proto::events::v1::SystemMessageRequested {
        conversation_id: "c1".into(),
        text: "Are you still there?".into(),
        dedupe_id: dedupe.into(),
        event: "consumer_non_responsive".into(),
    };
    w.clock.advance(HOUR);
    // A redelivered command (or a second replica's) is appended once.
    w.edge.append_system_message("acme", &request("am:consumer_non_responsive:1")).await.unwrap();
    w.edge.append_system_message("acme", &request("am:consumer_non_responsive:1")).await.unwrap();
    let transcript = w.store.transcript_page("acme", "c1", 0, 10).await.unwrap();
    let system: Vec<&str> =
        transcript.iter().filter(|m| m.from == Party::System as i32).map(|m| m.text.as_str()).collect();
    assert_eq!(system, ["Are you still there?"]);
    let record = w.store.get_conversation("acme", "c1").await.unwrap().unwrap();
    assert_eq!(record.pending, switchyard_platform::store::PendingSide::Consumer, "still the consumer's turn");
    // The partner's outbox has it (after the agent's message).
    let outbox = w.store.outbox_read("acme", 1, 0, 10).await.unwrap();
    assert_eq!(outbox.len(), 2, "the agent's message and the system's");
    // Auto close still counts from the agent's message (R13.6): closed 2 h after it.
    w.after(HOUR).await;
    assert!(!w.is_open("c1").await);
    // Nothing once closed.
    w.edge.append_system_message("acme", &request("am:consumer_non_responsive:2")).await.unwrap();
    assert_eq!(w.store.transcript_page("acme", "c1", 0, 10).await.unwrap().len(), transcript.len());
}
