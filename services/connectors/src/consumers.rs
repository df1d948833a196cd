//! The connectors' consumers: the partner outbox (durable) and the per-replica fan-out to the
//! streams connected here (nothing durable).

use std::time::Duration;

use async_trait::async_trait;
use switchyard_kit::consumer::Handler;
use switchyard_kit::ServiceError;
use switchyard_platform::bus::Delivery;
use switchyard_platform::store::{RouteStatus, StateStore};
use switchyard_proto::agent::v1::{agent_event, AgentEvent, ConversationEnded, Offer, OfferEnded, Unassigned};
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, Envelope};

use crate::desk::Desk;
use crate::edge::Edge;

/// Writes what partners must hear about assignments into their outbox, and appends the system
/// messages automessages asks for (R14.6); once a tick, fires the auto-close and presence
/// timers sharded like the owned `assignments` partitions and does the store's housekeeping
/// (the in-memory store's expiry).
pub struct OutboxHandler {
    pub edge: Edge,
}

#[async_trait]
impl Handler for OutboxHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let assigned = match env.body {
            Some(Body::ConversationAssigned(assigned)) => assigned,
            Some(Body::SystemMessageRequested(request)) => {
                return self.edge.append_system_message(&env.account_id, &request).await;
            }
            _ => return Ok(()),
        };
        let store = &self.edge.platform.store;
        let Some(record) = store.get_conversation(&env.account_id, &assigned.conversation_id).await? else {
            // Expired after its retention: nothing left to tell anyone.
            return Ok(());
        };
        // Refused once the conversation closed: "joined" never follows "closed".
        let (agent, version) = (&assigned.agent_id, assigned.assignment_version);
        self.edge.announce_joined(&env.account_id, &record, agent, version).await?;
        Ok(())
    }

    async fn tick(&mut self, assignment: &[(String, i32)]) {
        let edge = &self.edge;
        edge.autoclose.fire_due(edge, assignment).await;
        Desk { edge: edge.clone() }.fire_presence_due(assignment).await;
        let store: &dyn StateStore = &*self.edge.platform.store;
        if let Err(err) = store.maintain(self.edge.platform.clock.now_ms()).await {
            tracing::warn!(error = %err, "store housekeeping failed");
        }
    }

    async fn stranded(&mut self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        if let Some(stranded) = self.edge.autoclose.stranded(assignment, older_than).await {
            return Some(stranded);
        }
        self.edge.presence.stranded(assignment, older_than).await
    }
}

/// Pushes events to the streams connected to this replica. Nothing durable happens here.
pub struct FanoutHandler {
    pub edge: Edge,
}

#[async_trait]
impl Handler for FanoutHandler {
    /// The reader starts at the end of the topics: agent streams may subscribe from now on
    /// (their snapshot and the reader together miss nothing). A reader that had to subscribe
    /// again may have missed events meanwhile, so the streams connected here end with
    /// UNAVAILABLE and their clients subscribe again, starting with a fresh snapshot.
    async fn subscribed(&mut self) {
        use std::sync::atomic::Ordering;
        if self.edge.fanout_live.swap(true, Ordering::SeqCst) {
            self.edge
                .hub
                .end_all_agents(tonic::Status::unavailable("this replica's event reader restarted; subscribe again"));
        }
    }

    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        let hub = &self.edge.hub;
        match env.body {
            Some(Body::ConversationAssigned(a)) => {
                hub.wake_partners(account);
                // Assignment events can come again (redelivery after a crash, re-announcement):
                // only the current assignment of an open conversation reaches the agent.
                if !hub.has_agent(account, &a.agent_id) {
                    return Ok(());
                }
                let route = self.edge.platform.store.route(account, &a.conversation_id).await?;
                let current = route.as_ref().is_some_and(|r| {
                    r.status == RouteStatus::Assigned && r.agent_id == a.agent_id && r.version == a.assignment_version
                });
                if current {
                    let route = route.as_ref();
                    if let Some(event) =
                        self.edge.assignment_event(account, &a.conversation_id, &a.skill_id, route).await?
                    {
                        hub.to_agent(account, &a.agent_id, event);
                    }
                }
            }
            Some(Body::MessagePublished(m)) => {
                let Some(message) = m.message else { return Ok(()) };
                // The agent sees the consumer's messages and the system's (R14.6); the
                // partner's outbox has the system's and the agents' already.
                if message.from != Party::Agent as i32 {
                    if message.from == Party::System as i32 {
                        hub.wake_partners(account);
                    }
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
            // R6.5: an offer rings on each of its agents' streams until it ends.
            Some(Body::ConversationOffered(o)) => {
                for agent in &o.agent_ids {
                    let offer = Offer {
                        offer_id: o.offer_id.clone(),
                        conversation_id: o.conversation_id.clone(),
                        skill_id: o.skill_id.clone(),
                        expires_at_ms: o.expires_at_ms,
                    };
                    hub.to_agent(account, agent, AgentEvent { event: Some(agent_event::Event::Offer(offer)) });
                }
            }
            Some(Body::OfferEnded(e)) => {
                let ended = OfferEnded { offer_id: e.offer_id, conversation_id: e.conversation_id, reason: e.outcome };
                hub.to_agent(account, &e.agent_id, AgentEvent { event: Some(agent_event::Event::OfferEnded(ended)) });
            }
            Some(Body::ConversationUnassigned(u)) => {
                let event = Unassigned { conversation_id: u.conversation_id, reason: u.reason };
                hub.to_agent(account, &u.agent_id, AgentEvent { event: Some(agent_event::Event::Unassigned(event)) });
            }
            Some(Body::AgentSessionChanged(s)) if !s.logged_in => {
                hub.end_agent(
                    account,
                    &s.agent_id,
                    tonic::Status::failed_precondition(format!("agent {} logged out", s.agent_id)),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use switchyard_kit::{Platform, Topics};
    use switchyard_platform::bus::MemoryBus;
    use switchyard_platform::store::prelude::*;
    use switchyard_platform::store::{
        AgentSession, AgentSpec, AgentState, Claim, MemoryStore, NewConversation, Placement, ONE,
    };
    use switchyard_platform::ManualClock;
    use switchyard_proto::events::v1::{AgentSessionChanged, ConversationAssigned};

    use super::*;
    use crate::hub::{Hub, HubEvent};

    async fn assigned_conversation(store: &MemoryStore) {
        let spec = AgentSpec {
            agent_id: "a".into(),
            skill_ids: vec!["s".into()],
            max_conversations: 2,
            bot: false,
            group_id: String::new(),
            nickname: String::new(),
        };
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
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        store.open_conversation("acme", &new).await.unwrap();
        store.enqueue("acme", "c", "s", 0, &Placement::by_due(0)).await.unwrap();
        let claim = Claim {
            account_id: "acme".into(),
            conversation_id: "c".into(),
            skill_id: "s".into(),
            agent_id: "a".into(),
            weight: ONE,
            headroom: 500,
            max_open: 0,
            warmup: None,
            now_ms: 0,
            history_window_ms: 0,
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

    fn edge(store: Arc<MemoryStore>) -> Edge {
        let platform = Platform::without_auth(
            Arc::new(MemoryBus::new()),
            store,
            Arc::new(ManualClock::new(0)),
            Topics::with_prefix("t."),
            "i",
        );
        Edge::new(platform, Hub::new(crate::hub::StreamLimits::total(100)), crate::Config::default())
    }

    #[tokio::test]
    async fn only_the_current_assignment_of_an_open_conversation_reaches_the_agent() {
        let store = Arc::new(MemoryStore::new());
        assigned_conversation(&store).await;
        let edge = edge(store.clone());
        let (mut stream, _permit) = edge.hub.register_agent("acme", "a").unwrap();
        let mut fanout = FanoutHandler { edge: edge.clone() };

        fanout.handle(assigned(7), &delivery()).await.unwrap();
        assert!(stream.try_recv().is_err(), "a stale version is dropped");
        fanout.handle(assigned(1), &delivery()).await.unwrap();
        let HubEvent::Event(event) = stream.try_recv().unwrap() else { panic!("expected an event") };
        assert!(matches!(event.event, Some(agent_event::Event::Assigned(_))));

        store.close_conversation("acme", "c", 1, None).await.unwrap();
        fanout.handle(assigned(1), &delivery()).await.unwrap();
        assert!(stream.try_recv().is_err(), "a redelivered assignment of a closed conversation is dropped");
    }

    /// Finding 6: the agent's stream can show an assignment before the outbox reader has
    /// announced it; an agent that replies at once must not be heard before "joined".
    #[tokio::test]
    async fn agent_joined_precedes_the_agents_first_message_and_is_announced_once() {
        use prost::Message as _;
        use switchyard_proto::agent::v1::agent_service_server::AgentService;
        use switchyard_proto::agent::v1::SendMessageRequest;
        use switchyard_proto::connectors::v1::{outbound_event, OutboundEvent};
        let store = Arc::new(MemoryStore::new());
        assigned_conversation(&store).await;
        let edge = edge(store.clone());
        edge.platform.bus.ensure_topics(&edge.platform.topics.all(), 1).await.unwrap();
        let agents = crate::agent::Agents {
            desk: crate::desk::Desk { edge: edge.clone() },
            shutdown: switchyard_kit::Shutdown::new(),
        };
        let reply = SendMessageRequest {
            account_id: "acme".into(),
            agent_id: "a".into(),
            conversation_id: "c".into(),
            text: "hello".into(),
        };
        agents.send_message(tonic::Request::new(reply)).await.unwrap();
        // The assignment event reaches the outbox reader only now (and once more, redelivered).
        let mut outbox = OutboxHandler { edge };
        outbox.handle(assigned(1), &delivery()).await.unwrap();
        outbox.handle(assigned(1), &delivery()).await.unwrap();
        let entries = store.outbox_read("acme", 1, 0, 10).await.unwrap();
        let events: Vec<_> =
            entries.iter().map(|e| OutboundEvent::decode(e.payload.clone()).unwrap().event.unwrap()).collect();
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(matches!(&events[0], outbound_event::Event::AgentJoined(j) if j.agent_id == "a"), "{events:?}");
        assert!(matches!(&events[1], outbound_event::Event::Message(m) if m.text == "hello"), "{events:?}");
    }

    /// A connectors process killed and restarted: its fan-out reader starts at the end of the
    /// topics, so an agent stream opened before the reader joined could miss an assignment
    /// made between its snapshot and the reader's start. Streams wait for the reader; a
    /// reader that subscribes again ends the streams (they resubscribe, with a snapshot).
    #[tokio::test]
    async fn agent_streams_wait_for_the_fanout_reader_and_end_when_it_restarts() {
        use switchyard_proto::agent::v1::agent_service_server::AgentService;
        let store = Arc::new(MemoryStore::new());
        assigned_conversation(&store).await;
        let edge = edge(store);
        let agents = crate::agent::Agents {
            desk: crate::desk::Desk { edge: edge.clone() },
            shutdown: switchyard_kit::Shutdown::new(),
        };
        let subscribe = || {
            tonic::Request::new(switchyard_proto::agent::v1::SubscribeRequest {
                account_id: "acme".into(),
                agent_id: "a".into(),
            })
        };
        let early = agents.subscribe(subscribe()).await.err().unwrap();
        assert_eq!(early.code(), tonic::Code::Unavailable, "{early:?}");

        let mut fanout = FanoutHandler { edge: edge.clone() };
        fanout.subscribed().await;
        let (mut stream, _permit) = edge.hub.register_agent("acme", "a").unwrap();
        assert!(agents.subscribe(subscribe()).await.is_ok(), "once the reader reads");
        assert!(stream.try_recv().is_err());
        fanout.subscribed().await;
        let HubEvent::End(status) = stream.try_recv().unwrap() else { panic!("expected the end") };
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }

    /// Finding 3: after Logout the agent's stream stayed open and kept receiving messages.
    #[tokio::test]
    async fn a_logout_ends_the_agents_streams_on_every_replica() {
        let store = Arc::new(MemoryStore::new());
        let edge = edge(store);
        let (mut stream, _permit) = edge.hub.register_agent("acme", "a").unwrap();
        let mut fanout = FanoutHandler { edge: edge.clone() };
        let logout = Body::AgentSessionChanged(AgentSessionChanged {
            agent_id: "a".into(),
            logged_in: false,
            ..Default::default()
        });
        fanout.handle(switchyard_kit::envelope::new("acme", 0, logout), &delivery()).await.unwrap();
        let HubEvent::End(status) = stream.try_recv().unwrap() else { panic!("expected the end") };
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert!(status.message().contains("logged out"), "{status:?}");
    }
}
