//! Connectors: the edges of Switchyard. Partners call `ConnectorService`, agents and bots
//! call `AgentService`; this service owns conversation records, transcripts, partner
//! outboxes and agent edge sessions.
//!
//! Consumers:
//! - group `connectors` on `assignments`: durable effects (the partner's outbox hears that
//!   an agent joined);
//! - group `connectors.fanout.<instance>` on `conversations` and `assignments`, from the
//!   latest record: pushes to the agent and partner streams connected to this replica.
//!   Messages of an assigned conversation go connectors -> Kafka -> connectors, never
//!   through the router.

pub mod agent;
pub mod edge;
pub mod hub;
pub mod partner;

use std::time::Duration;

use async_trait::async_trait;
use switchyard_kit::consumer::{ConsumerSpec, Handler};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, ServiceError, Shutdown};
use switchyard_platform::bus::{Delivery, StartFrom};
use switchyard_platform::store::RouteStatus;
use switchyard_proto::agent::v1::{agent_event, AgentEvent, ConversationEnded, Unassigned};
use switchyard_proto::common::v1::Party;
use switchyard_proto::connectors::v1::{outbound_event, AgentJoined, OutboundEvent};
use switchyard_proto::events::v1::{envelope::Body, Envelope};

use crate::edge::Edge;
use crate::hub::Hub;

pub const OPENED_TOTAL: &str = "switchyard_connectors_conversations_opened_total";
pub const CLOSED_TOTAL: &str = "switchyard_connectors_conversations_closed_total";
pub const MESSAGES_TOTAL: &str = "switchyard_connectors_messages_total";

/// Configuration (`[connectors]`): where it listens.
pub type Config = switchyard_kit::Endpoints;

/// Default listen ports.
pub fn default_config() -> Config {
    switchyard_kit::Endpoints::on_ports(7101, 9101)
}

pub const GRPC_SERVICES: &[&str] = &["switchyard.connectors.v1.ConnectorService", "switchyard.agent.v1.AgentService"];

pub async fn run(platform: Platform, _config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    metrics::describe_counter!(OPENED_TOTAL, "Conversations opened");
    metrics::describe_counter!(CLOSED_TOTAL, "Conversations closed, by who closed them");
    metrics::describe_counter!(MESSAGES_TOTAL, "Messages written, by writer");
    let edge = Edge { platform: platform.clone(), hub: Hub::new() };
    // Streams end on shutdown so that the gRPC server can drain.
    let streams_stop = shutdown.clone();
    let routes = tonic::service::Routes::new(
        switchyard_proto::connectors::v1::connector_service_server::ConnectorServiceServer::new(partner::Partner {
            edge: edge.clone(),
            shutdown: streams_stop.clone(),
        }),
    )
    .add_service(switchyard_proto::agent::v1::agent_service_server::AgentServiceServer::new(agent::Agents {
        edge: edge.clone(),
        shutdown: streams_stop,
    }));
    let spec = ServiceSpec {
        name: "connectors",
        grpc_services: GRPC_SERVICES.to_vec(),
        routes,
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let outbox_spec = ConsumerSpec {
            group: "connectors".into(),
            topics: vec![p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
        };
        let fanout_spec = ConsumerSpec {
            group: format!("connectors.fanout.{}", p.instance_id),
            topics: vec![p.topics.conversations.clone(), p.topics.assignments.clone()],
            start: StartFrom::Latest,
            tick: Duration::from_secs(1),
        };
        let (f1, f2) = (readiness.flag("consumer connectors"), readiness.flag("consumer connectors.fanout"));
        let (e1, e2, s1, s2) = (edge.clone(), edge.clone(), stop.clone(), stop);
        let w1: Worker = Box::pin(async move {
            let bus = e1.platform.bus.clone();
            consumer::run(&*bus, outbox_spec, f1, s1, OutboxHandler { edge: e1 }).await
        });
        let w2: Worker = Box::pin(async move {
            let bus = e2.platform.bus.clone();
            consumer::run(&*bus, fanout_spec, f2, s2, FanoutHandler { edge: e2 }).await
        });
        vec![("outbox-consumer", w1), ("fanout-consumer", w2)]
    })
    .await
}

/// Writes what partners must hear about assignments into their outbox.
struct OutboxHandler {
    edge: Edge,
}

#[async_trait]
impl Handler for OutboxHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let Some(Body::ConversationAssigned(assigned)) = env.body else { return Ok(()) };
        let Some(record) =
            self.edge.platform.store.get_conversation(&env.account_id, &assigned.conversation_id).await?
        else {
            return Ok(());
        };
        let event = OutboundEvent {
            sequence: 0,
            conversation_id: assigned.conversation_id.clone(),
            consumer_id: record.consumer_id,
            event: Some(outbound_event::Event::AgentJoined(AgentJoined { agent_id: assigned.agent_id })),
        };
        self.edge.outbox(&env.account_id, record.channel, env.event_id, event).await?;
        Ok(())
    }
}

/// Pushes events to the streams connected to this replica. Nothing durable happens here.
struct FanoutHandler {
    edge: Edge,
}

#[async_trait]
impl Handler for FanoutHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        let hub = &self.edge.hub;
        match env.body {
            Some(Body::ConversationAssigned(a)) => {
                hub.wake_partners(account);
                // Assignment events can come again (redelivery after a crash, re-announcement):
                // only the current assignment of an open conversation reaches the agent.
                let current = self.edge.platform.store.route(account, &a.conversation_id).await?.is_some_and(|r| {
                    r.status == RouteStatus::Assigned && r.agent_id == a.agent_id && r.version == a.assignment_version
                });
                if current && hub.has_agent(account, &a.agent_id) {
                    if let Some(event) = self.edge.assignment_event(account, &a.conversation_id, &a.skill_id).await? {
                        hub.to_agent(account, &a.agent_id, event);
                    }
                }
            }
            Some(Body::MessagePublished(m)) => {
                let Some(message) = m.message else { return Ok(()) };
                if message.from == Party::Consumer as i32 {
                    if !m.agent_id.is_empty() {
                        hub.to_agent(
                            account,
                            &m.agent_id,
                            AgentEvent { event: Some(agent_event::Event::Message(message)) },
                        );
                    }
                } else {
                    hub.wake_partners(account);
                }
            }
            Some(Body::ConversationClosed(c)) => {
                hub.wake_partners(account);
                if !c.agent_id.is_empty() {
                    let ended = ConversationEnded { conversation_id: c.conversation_id, closed_by: c.closed_by };
                    hub.to_agent(account, &c.agent_id, AgentEvent { event: Some(agent_event::Event::Closed(ended)) });
                }
            }
            Some(Body::ConversationUnassigned(u)) => {
                let event = Unassigned { conversation_id: u.conversation_id, reason: u.reason };
                hub.to_agent(account, &u.agent_id, AgentEvent { event: Some(agent_event::Event::Unassigned(event)) });
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use switchyard_kit::Topics;
    use switchyard_platform::bus::MemoryBus;
    use switchyard_platform::store::{
        AgentSession, AgentSpec, AgentState, Claim, MemoryStore, NewConversation, StateStore, ONE,
    };
    use switchyard_platform::ManualClock;
    use switchyard_proto::events::v1::ConversationAssigned;

    use super::*;

    async fn assigned_conversation(store: &MemoryStore) {
        let spec = AgentSpec { agent_id: "a".into(), skill_ids: vec!["s".into()], max_conversations: 2, bot: false };
        store.create_agent("acme", &spec).await.unwrap();
        let online = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
        store.set_agent_session("acme", "a", &online, 0).await.unwrap();
        let new = NewConversation {
            conversation_id: "c".into(),
            consumer_id: "k".into(),
            channel: 1,
            skill_id: "s".into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: 0,
        };
        store.open_conversation("acme", &new).await.unwrap();
        store.enqueue("acme", "c", "s", 0).await.unwrap();
        let claim = Claim {
            account_id: "acme".into(),
            conversation_id: "c".into(),
            skill_id: "s".into(),
            agent_id: "a".into(),
            weight: ONE,
            headroom: 500,
            now_ms: 0,
        };
        store.claim(&claim).await.unwrap();
    }

    fn assigned(version: u64) -> Envelope {
        let body = Body::ConversationAssigned(ConversationAssigned {
            conversation_id: "c".into(),
            agent_id: "a".into(),
            skill_id: "s".into(),
            assignment_version: version,
        });
        switchyard_kit::envelope::new("acme", 0, body)
    }

    fn delivery() -> Delivery {
        Delivery {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            key: String::new(),
            payload: Default::default(),
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn only_the_current_assignment_of_an_open_conversation_reaches_the_agent() {
        let store = Arc::new(MemoryStore::new());
        assigned_conversation(&store).await;
        let platform = Platform {
            bus: Arc::new(MemoryBus::new()),
            store: store.clone(),
            clock: Arc::new(ManualClock::new(0)),
            topics: Topics::with_prefix("t."),
            instance_id: "i".into(),
        };
        let edge = Edge { platform, hub: Hub::new() };
        let mut stream = edge.hub.register_agent("acme", "a");
        let mut fanout = FanoutHandler { edge: edge.clone() };

        fanout.handle(assigned(7), &delivery()).await.unwrap();
        assert!(stream.try_recv().is_err(), "a stale version is dropped");
        fanout.handle(assigned(1), &delivery()).await.unwrap();
        assert!(matches!(stream.try_recv().unwrap().event, Some(agent_event::Event::Assigned(_))));

        store.close_conversation("acme", "c", 1).await.unwrap();
        fanout.handle(assigned(1), &delivery()).await.unwrap();
        assert!(stream.try_recv().is_err(), "a redelivered assignment of a closed conversation is dropped");
    }
}
