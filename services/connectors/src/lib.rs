//! Connectors: the edges of Switchyard. Partners call `ConnectorService`, agents and bots
//! call `AgentService`, admins manage partner keys and read the audit trail with
//! `AuthAdminService`; this service owns conversation records, transcripts, partner
//! outboxes, and agent sessions (login, logout, state are written here, where the agent is
//! connected, so "logged in" has one truth).
//!
//! Consumers:
//! - group `connectors` on `assignments`: durable effects (the partner's outbox hears that
//!   an agent joined);
//! - a group-less fan-out reader (`EventBus::tail`) on `conversations`, `assignments` and
//!   `agents`, from now on: pushes to the agent and partner streams connected to this replica,
//!   and ends an agent's streams when it logs out. Messages of an assigned conversation go
//!   connectors -> Kafka -> connectors, never through the router.

pub mod access;
pub mod agent;
mod autoclose;
mod away_time;
pub mod consumers;
pub mod desk;
pub mod edge;
pub mod error;
pub mod hub;
pub mod participants;
pub mod partner;
mod presence;
pub mod response_time;
mod system_message;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_kit::consumer::{ConsumerSpec, Mode};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, Shutdown};
use switchyard_platform::bus::StartFrom;

use crate::edge::Edge;
use crate::hub::Hub;
use switchyard_registry::Service;

pub const OPENED_TOTAL: &str = "switchyard_connectors_conversations_opened_total";
pub const CLOSED_TOTAL: &str = "switchyard_connectors_conversations_closed_total";
pub const AUTO_CLOSED_TOTAL: &str = "switchyard_connectors_conversations_auto_closed_total";
pub const MESSAGES_TOTAL: &str = "switchyard_connectors_messages_total";
pub const REFUSED_TOTAL: &str = "switchyard_connectors_messages_refused_total";
pub const STREAMS: &str = "switchyard_connectors_streams";

/// Configuration (`[connectors]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub grpc_addr: String,
    pub ops_addr: String,
    /// Newest messages of the transcript sent with an assignment and in a reconnect snapshot;
    /// the agent reads older ones with `GetTranscript` (0..=1000).
    pub assignment_history: usize,
    /// Messages one conversation may hold; more are refused with RESOURCE_EXHAUSTED
    /// (1..=1,000,000).
    pub max_messages_per_conversation: u64,
    /// Messages per minute one consumer may send on a channel: a burst of this many, then one
    /// every 60 s / N; more are refused with RESOURCE_EXHAUSTED and a retry delay. 0: no limit.
    pub consumer_messages_per_minute: u32,
    /// Agent and partner streams this replica serves at once; more are refused with
    /// RESOURCE_EXHAUSTED (1..=1,000,000).
    pub max_streams: usize,
    /// How long an ONLINE agent may be without any open stream before it is set AWAY (reason
    /// `disconnected`), so a phone app in the background for a moment keeps its conversations
    /// and its place (0s..=1h; 0s: streams never change the agent's state). See docs/capacity.md.
    #[serde(with = "humantime_serde")]
    pub agent_presence_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let endpoints =
            switchyard_kit::Endpoints::on_ports(Service::Connectors.grpc_port(), Service::Connectors.ops_port());
        Self {
            grpc_addr: endpoints.grpc_addr,
            ops_addr: endpoints.ops_addr,
            assignment_history: 20,
            max_messages_per_conversation: 5_000,
            consumer_messages_per_minute: 120,
            max_streams: 20_000,
            agent_presence_grace: Duration::from_secs(60),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        switchyard_kit::Endpoints { grpc_addr: self.grpc_addr.clone(), ops_addr: self.ops_addr.clone() }
            .validate("connectors")?;
        if self.assignment_history > 1000 {
            return Err(format!(
                "connectors.assignment_history must be within 0..=1000, got {}",
                self.assignment_history
            ));
        }
        if !(1..=1_000_000).contains(&self.max_messages_per_conversation) {
            return Err(format!(
                "connectors.max_messages_per_conversation must be within 1..=1000000, got {}",
                self.max_messages_per_conversation
            ));
        }
        if self.consumer_messages_per_minute > 60_000 {
            return Err(format!(
                "connectors.consumer_messages_per_minute must be within 0..=60000, got {}",
                self.consumer_messages_per_minute
            ));
        }
        if self.agent_presence_grace > Duration::from_secs(3600) {
            return Err("connectors.agent_presence_grace must be within 0s..=1h".into());
        }
        if !(1..=1_000_000).contains(&self.max_streams) {
            return Err(format!("connectors.max_streams must be within 1..=1000000, got {}", self.max_streams));
        }
        Ok(())
    }
}

/// Default configuration.
pub fn default_config() -> Config {
    Config::default()
}

pub const GRPC_SERVICES: &[&str] = &[
    "switchyard.connectors.v1.ConnectorService",
    "switchyard.agent.v1.AgentService",
    "switchyard.auth.v1.AuthAdminService",
];

fn describe_metrics() {
    metrics::describe_counter!(OPENED_TOTAL, "Conversations opened");
    metrics::describe_counter!(CLOSED_TOTAL, "Conversations closed (each once), by who closed them (auto: R13)");
    metrics::describe_counter!(
        AUTO_CLOSED_TOTAL,
        "Conversations closed by themselves after the auto-close time (R13.1)"
    );
    metrics::describe_counter!(MESSAGES_TOTAL, "Messages written, by writer");
    metrics::describe_counter!(REFUSED_TOTAL, "Consumer messages refused, by reason (rate, limit)");
    metrics::describe_gauge!(STREAMS, "Agent and partner streams open on this replica, by kind");
    metrics::describe_counter!(
        away_time::AWAY_MILLISECONDS_TOTAL,
        "Time agents spent AWAY, by away reason, counted when the spell ends (R7.3)"
    );
    metrics::describe_counter!(
        system_message::SYSTEM_MESSAGES_TOTAL,
        "System messages automessages asked for, by outcome (appended, closed, full, gone); a repeat is appended once"
    );
    metrics::describe_counter!(
        presence::DISCONNECTED_TOTAL,
        "ONLINE agents set AWAY (reason disconnected) after the presence grace without a stream"
    );
}

pub async fn run(platform: Platform, config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    switchyard_kit::ops::prometheus();
    describe_metrics();
    let limits = platform.security.limits();
    let hub = Hub::new(hub::StreamLimits {
        total: config.max_streams,
        per_agent: limits.streams_per_agent,
        per_partner_channel: limits.streams_per_partner_channel,
    });
    let edge = Edge::new(platform.clone(), hub, config);
    // Streams end on shutdown (with UNAVAILABLE) so that the gRPC server can drain.
    let streams_stop = shutdown.clone();
    let routes = tonic::service::Routes::new(
        switchyard_proto::connectors::v1::connector_service_server::ConnectorServiceServer::new(partner::Partner {
            edge: edge.clone(),
            shutdown: streams_stop.clone(),
        }),
    )
    .add_service(switchyard_proto::agent::v1::agent_service_server::AgentServiceServer::new(agent::Agents {
        desk: desk::Desk { edge: edge.clone() },
        shutdown: streams_stop,
    }))
    .add_service(switchyard_proto::auth::v1::auth_admin_service_server::AuthAdminServiceServer::new(
        access::AuthAdmin { edge: edge.clone() },
    ));
    let spec = ServiceSpec {
        name: "connectors",
        grpc_services: GRPC_SERVICES.to_vec(),
        routes,
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let outbox_spec = ConsumerSpec {
            service: "connectors",
            group: "connectors".into(),
            topics: vec![p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let fanout_spec = ConsumerSpec {
            service: "connectors",
            group: "connectors.fanout".into(),
            topics: vec![p.topics.conversations.clone(), p.topics.assignments.clone(), p.topics.agents.clone()],
            start: StartFrom::Latest,
            tick: Duration::from_secs(1),
            mode: Mode::Tail,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let (f1, f2) = (readiness.flag("consumer connectors"), readiness.flag("consumer connectors.fanout"));
        let (e1, e2, s1, s2) = (edge.clone(), edge, stop.clone(), stop);
        let w1: Worker = Box::pin(async move {
            let bus = e1.platform.bus.clone();
            consumer::run(&*bus, outbox_spec, f1, s1, consumers::OutboxHandler { edge: e1 }).await
        });
        let w2: Worker = Box::pin(async move {
            let bus = e2.platform.bus.clone();
            consumer::run(&*bus, fanout_spec, f2, s2, consumers::FanoutHandler { edge: e2 }).await
        });
        vec![("outbox-consumer", w1), ("fanout-consumer", w2)]
    })
    .await
}
