//! The capacity manager: owns agents (skills, max conversations), their session state and
//! their load; tells the router when an agent has room.
//!
//! Consumes (group `capacity`): `agents` (login, logout, state changes from the agent edge),
//! `conversations` (closes free load), `assignments` (unassignments free load). Produces
//! `AgentAvailable` on `agents` whenever an ONLINE agent may have room after a change.

pub mod admin;

use std::time::Duration;

use async_trait::async_trait;
use switchyard_kit::consumer::{ConsumerSpec, Handler};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{config::keys, consumer, envelope, Listeners, Platform, ServiceError, Shutdown};
use switchyard_platform::bus::{Delivery, StartFrom};
use switchyard_platform::store::{AgentSession, AgentState, ReleaseOutcome};
use switchyard_proto::common::v1::AgentState as ProtoState;
use switchyard_proto::events::v1::{envelope::Body, AgentAvailable, Envelope};

pub const AVAILABLE_TOTAL: &str = "switchyard_capacity_agent_available_total";
pub const RELEASED_TOTAL: &str = "switchyard_capacity_conversations_released_total";

/// Configuration (`[capacity]`): where it listens.
pub type Config = switchyard_kit::Endpoints;

/// Default listen ports.
pub fn default_config() -> Config {
    switchyard_kit::Endpoints::on_ports(7103, 9103)
}

pub const GRPC_SERVICES: &[&str] = &["switchyard.capacity.v1.CapacityAdminService"];

pub fn state_from_proto(state: i32) -> Option<AgentState> {
    match ProtoState::try_from(state).ok()? {
        ProtoState::Online => Some(AgentState::Online),
        ProtoState::BackSoon => Some(AgentState::BackSoon),
        ProtoState::Away => Some(AgentState::Away),
        ProtoState::Offline => Some(AgentState::Offline),
        ProtoState::Unspecified => None,
    }
}

pub fn state_to_proto(state: AgentState) -> ProtoState {
    match state {
        AgentState::Online => ProtoState::Online,
        AgentState::BackSoon => ProtoState::BackSoon,
        AgentState::Away => ProtoState::Away,
        AgentState::Offline => ProtoState::Offline,
    }
}

pub async fn run(platform: Platform, _config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    metrics::describe_counter!(AVAILABLE_TOTAL, "AgentAvailable events published");
    metrics::describe_counter!(RELEASED_TOTAL, "Conversations whose load was released");

    let routes = tonic::service::Routes::new(
        switchyard_proto::capacity::v1::capacity_admin_service_server::CapacityAdminServiceServer::new(admin::Admin {
            platform: platform.clone(),
        }),
    );
    let spec = ServiceSpec {
        name: "capacity",
        grpc_services: GRPC_SERVICES.to_vec(),
        routes,
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let flag = readiness.flag("consumer capacity");
        let consumer_spec = ConsumerSpec {
            group: "capacity".into(),
            topics: vec![p.topics.agents.clone(), p.topics.conversations.clone(), p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
        };
        let handler = CapacityHandler { platform: p.clone() };
        let w: Worker = Box::pin(async move { consumer::run(&*p.bus, consumer_spec, flag, stop, handler).await });
        vec![("capacity-consumer", w)]
    })
    .await
}

struct CapacityHandler {
    platform: Platform,
}

impl CapacityHandler {
    /// Publishes AgentAvailable if the agent is logged in, ONLINE and below max. The router
    /// decides what to give it; a spurious one costs a lookup, a missing one a 2 s wait.
    async fn announce_if_available(&self, account_id: &str, agent_id: &str, cause: &str) -> Result<(), ServiceError> {
        let Some(agent) = self.platform.store.get_agent(account_id, agent_id).await? else { return Ok(()) };
        let has_room = agent.capacity_used() < agent.spec.max_conversations as i64 * switchyard_platform::store::ONE;
        if !(agent.logged_in && agent.state == AgentState::Online && has_room) {
            return Ok(());
        }
        let body = Body::AgentAvailable(AgentAvailable {
            agent_id: agent_id.to_owned(),
            skill_ids: agent.spec.skill_ids.iter().filter(|s| s.as_str() != admin::UNASSIGNED_SKILL).cloned().collect(),
        });
        let env = envelope::with_id(format!("available:{cause}"), account_id, self.platform.clock.now_ms(), body);
        // A hint, not a fact: the load change is already durable, and the router's sweep gives
        // a freed agent work within one interval even if this event is lost. So the consumer
        // does not wait for the broker's acknowledgement (tens of ms on Kafka, per event).
        let (bus, topic, key) =
            (self.platform.bus.clone(), self.platform.topics.agents.clone(), keys::agent(account_id, agent_id));
        tokio::spawn(async move {
            match envelope::publish(&*bus, &topic, key, &env).await {
                Ok(()) => metrics::counter!(AVAILABLE_TOTAL).increment(1),
                Err(err) => {
                    tracing::warn!(error = %err, event_id = %env.event_id, "AgentAvailable not published; the sweep covers it")
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Handler for CapacityHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let account = env.account_id.as_str();
        match env.body {
            Some(Body::AgentSessionChanged(change)) => {
                let state = state_from_proto(change.state).unwrap_or(AgentState::Offline);
                let session = AgentSession {
                    logged_in: change.logged_in,
                    state: if change.logged_in { state } else { AgentState::Offline },
                    away_reason: if state == AgentState::Away { change.away_reason } else { String::new() },
                };
                let now = self.platform.clock.now_ms();
                if !self.platform.store.set_agent_session(account, &change.agent_id, &session, now).await? {
                    tracing::warn!(account_id = account, agent_id = %change.agent_id, "session change for unknown agent");
                    return Ok(());
                }
                self.announce_if_available(account, &change.agent_id, &env.event_id).await
            }
            Some(Body::ConversationClosed(closed)) => {
                match self.platform.store.release(account, &closed.conversation_id).await? {
                    ReleaseOutcome::FreedAgent { agent_id, .. } => {
                        metrics::counter!(RELEASED_TOTAL).increment(1);
                        self.announce_if_available(account, &agent_id, &env.event_id).await
                    }
                    // Redelivery: the release happened, but the announcement may not have.
                    ReleaseOutcome::Unchanged if !closed.agent_id.is_empty() => {
                        self.announce_if_available(account, &closed.agent_id, &env.event_id).await
                    }
                    _ => Ok(()),
                }
            }
            Some(Body::ConversationUnassigned(unassigned)) => {
                self.announce_if_available(account, &unassigned.agent_id, &env.event_id).await
            }
            _ => Ok(()),
        }
    }
}
