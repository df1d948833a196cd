//! The capacity manager: owns agents (skills, max conversations) and their load; tells the
//! router when an agent has room; returns a logged-out agent's conversations to their queues.
//!
//! Consumes (group `capacity`): `agents` (login, logout, state changes announced by the agent
//! edge, which wrote them to the agent's record), `conversations` (closes free load; messages
//! move a conversation between its active and inactive weight, R8.2, R8.3), `assignments`
//! (assignments start the active weight, R8.10; unassignments free load). Produces
//! `AgentAvailable` on `agents` whenever an ONLINE agent may have room after a change, and
//! `RouteConversation` requeue commands on `routing` when a logout's grace ran out. Both timed
//! rules run on the durable timers: logouts sharded by the `agents` partitions this member
//! owns, inactivity drops by its `conversations` partitions.

pub mod admin;
pub mod error;
mod gauges;
mod handler;
mod load_metrics;
mod logout;
mod requeue;
#[cfg(test)]
mod testing;
mod unanswered;
mod warmup;
mod weights;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_kit::consumer::{ConsumerSpec, Mode};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, Shutdown};
use switchyard_platform::bus::StartFrom;
use switchyard_platform::store::AgentState;
use switchyard_proto::common::v1::AgentState as ProtoState;
use switchyard_registry::Service;

pub const AVAILABLE_TOTAL: &str = "switchyard_capacity_agent_available_total";
pub const AVAILABLE_DROPPED_TOTAL: &str = "switchyard_capacity_agent_available_dropped_total";
pub const RELEASED_TOTAL: &str = "switchyard_capacity_conversations_released_total";
pub const LOGOUT_REQUEUED_TOTAL: &str = "switchyard_capacity_logout_requeued_total";
pub const WEIGHT_CHANGES_TOTAL: &str = "switchyard_capacity_weight_changes_total";
pub const AUTO_UNASSIGNED_TOTAL: &str = "switchyard_capacity_auto_unassigned_total";

/// Configuration (`[capacity]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub grpc_addr: String,
    pub ops_addr: String,
    /// How long after a logout the agent's conversations stay assigned to it (it may log in
    /// again meanwhile); then each goes back to its skill's queue, avoiding that agent
    /// (0s..=24h; 0s requeues at once).
    #[serde(with = "humantime_serde")]
    pub logout_requeue_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        let endpoints =
            switchyard_kit::Endpoints::on_ports(Service::Capacity.grpc_port(), Service::Capacity.ops_port());
        Self {
            grpc_addr: endpoints.grpc_addr,
            ops_addr: endpoints.ops_addr,
            logout_requeue_grace: Duration::from_secs(60),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        switchyard_kit::Endpoints { grpc_addr: self.grpc_addr.clone(), ops_addr: self.ops_addr.clone() }
            .validate("capacity")?;
        if self.logout_requeue_grace > Duration::from_secs(24 * 3600) {
            return Err("capacity.logout_requeue_grace must be within 0s..=24h".into());
        }
        Ok(())
    }
}

/// Default configuration.
pub fn default_config() -> Config {
    Config::default()
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

fn describe_metrics() {
    gauges::describe();
    metrics::describe_counter!(AVAILABLE_TOTAL, "AgentAvailable events published");
    metrics::describe_counter!(
        AVAILABLE_DROPPED_TOTAL,
        "AgentAvailable hints not published because too many were in flight (the router's sweep covers them)"
    );
    metrics::describe_counter!(RELEASED_TOTAL, "Conversations whose load was released");
    metrics::describe_counter!(
        AUTO_UNASSIGNED_TOTAL,
        "Conversations returned to their queue because the agent did not answer in time (R8.23), by agent state"
    );
    metrics::describe_counter!(
        WEIGHT_CHANGES_TOTAL,
        "Conversation weights changed by dynamic capacity, by the weight they took (active, inactive)"
    );
    metrics::describe_counter!(
        LOGOUT_REQUEUED_TOTAL,
        "Conversations sent back to a queue after their agent logged out"
    );
}

pub async fn run(platform: Platform, config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    switchyard_kit::ops::prometheus();
    describe_metrics();
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
            service: "capacity",
            group: "capacity".into(),
            topics: vec![p.topics.agents.clone(), p.topics.conversations.clone(), p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let handler = handler::CapacityHandler::new(p.clone(), config.logout_requeue_grace);
        let w: Worker = Box::pin(async move { consumer::run(&*p.bus, consumer_spec, flag, stop, handler).await });
        vec![("capacity-consumer", w)]
    })
    .await
}
