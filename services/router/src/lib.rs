//! The router: owns the per-skill queues and gives queued conversations to agents.
//!
//! - `routing` topic (group `router`, key account/skill): the partitions a replica holds are
//!   the skills it owns; each owned skill has a [`actors::SkillQueue`] actor that applies
//!   the skill's commands in order and runs assignment passes.
//! - `conversations` topic (group `router.conversations`): a consumer message to a queued
//!   conversation restarts its response due time and moves it in its queue (R10.4); an
//!   urgent mark or a manual response time places it anew (R10.3, R10.8).
//! - `agents` topic (group `router.agents`): when capacity reports an agent with room, the
//!   longest-waiting conversation of the agent's skills goes to it at once.
//! - Every `assign_interval` (domain R6.7) each owned skill with a non-empty queue gets a
//!   pass, so nothing waits on a lost event and a new owner picks up after a rebalance: the
//!   [`sweep`], beside the consumer, on durable timers of the owned partitions.
//!
//! Correctness does not depend on there being one owner: every assignment is the store's
//! atomic claim, so two replicas racing during a rebalance cannot double-assign.

pub mod actors;
pub mod admin;
mod config_admin;
mod config_proto;
pub mod engine;
pub mod error;
mod explain;
pub mod fallback;
mod hours_admin;
mod hours_proto;
pub mod metrics;
pub mod placement;
pub mod ranking;
mod response_time;
pub mod sweep;
#[cfg(test)]
mod testing;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_kit::consumer::{ConsumerSpec, Handler, Mode};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, ServiceError, Shutdown};
use switchyard_platform::bus::{Delivery, StartFrom};
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, Envelope};

use crate::actors::{ActorHost, Registry};
use crate::engine::Engine;
use crate::sweep::{Ownership, Sweep};
use switchyard_registry::Service;

/// Router configuration (`[router]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub grpc_addr: String,
    pub ops_addr: String,
    /// Period of the assignment pass over every owned skill with waiting conversations (R6.7).
    #[serde(with = "humantime_serde")]
    pub assign_interval: Duration,
    /// Threads hosting skill actors.
    pub actor_threads: usize,
    /// How soon a routing configuration change saved by another process is seen here.
    #[serde(with = "humantime_serde")]
    pub config_refresh: Duration,
    #[serde(flatten)]
    pub rules: RoutingRules,
}

/// Capacity rules the router applies when it claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingRules {
    /// Allowed excess of weighted load over max conversations (R8.6).
    pub headroom: f64,
    /// Queue entries read per step of a pass.
    pub batch: usize,
    /// Agents of the skill's index considered per decision at most, best first: beyond them
    /// a conversation waits for the next pass or for an agent's availability event.
    pub candidate_scan: usize,
}

impl Default for RoutingRules {
    fn default() -> Self {
        Self { headroom: 0.5, batch: 32, candidate_scan: 64 }
    }
}

impl Default for Config {
    fn default() -> Self {
        let endpoints = switchyard_kit::Endpoints::on_ports(Service::Router.grpc_port(), Service::Router.ops_port());
        Self {
            grpc_addr: endpoints.grpc_addr,
            ops_addr: endpoints.ops_addr,
            assign_interval: Duration::from_secs(2),
            actor_threads: 1,
            config_refresh: switchyard_kit::routing_config::DEFAULT_REFRESH,
            rules: RoutingRules::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        switchyard_kit::Endpoints { grpc_addr: self.grpc_addr.clone(), ops_addr: self.ops_addr.clone() }
            .validate("router")?;
        if self.assign_interval < Duration::from_millis(10) || self.assign_interval > Duration::from_secs(60) {
            return Err("router.assign_interval must be within 10ms..=60s".into());
        }
        if self.config_refresh > Duration::from_secs(60) {
            return Err("router.config_refresh must be within 0s..=60s".into());
        }
        if !(1..=64).contains(&self.actor_threads) {
            return Err("router.actor_threads must be within 1..=64".into());
        }
        if !(0.0..=100.0).contains(&self.rules.headroom) {
            return Err("router.headroom must be within 0..=100".into());
        }
        if !(1..=1000).contains(&self.rules.batch) {
            return Err("router.batch must be within 1..=1000".into());
        }
        if !(1..=10_000).contains(&self.rules.candidate_scan) {
            return Err("router.candidate_scan must be within 1..=10000".into());
        }
        Ok(())
    }
}

pub const GRPC_SERVICES: &[&str] =
    &["switchyard.admin.v1.RoutingAdminService", "switchyard.admin.v1.WorkingHoursAdminService"];

pub async fn run(platform: Platform, config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    switchyard_kit::ops::prometheus();
    metrics::describe();
    let host = ActorHost::start(config.actor_threads)?;
    let engine = Engine::new(platform.clone(), config.rules.clone(), config.assign_interval);
    let registry = Arc::new(Registry::new(&host, engine.clone()));
    let routes = tonic::service::Routes::new(
        switchyard_proto::admin::v1::routing_admin_service_server::RoutingAdminServiceServer::new(admin::Admin::new(
            platform.clone(),
        )),
    )
    .add_service(
        switchyard_proto::admin::v1::working_hours_admin_service_server::WorkingHoursAdminServiceServer::new(
            hours_admin::HoursAdmin { config: config_admin::ConfigAdmin { platform: platform.clone() } },
        ),
    );
    let spec = ServiceSpec {
        name: "router",
        grpc_services: GRPC_SERVICES.to_vec(),
        routes,
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    let result = switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let (ownership, owned) = tokio::sync::watch::channel(Ownership::default());
        let sweep = Sweep::new(p.clone(), engine.clone(), registry.clone(), owned, config.assign_interval);
        let routing = RoutingHandler { platform: p.clone(), registry, engine: engine.clone(), ownership };
        let routing_spec = ConsumerSpec {
            service: "router",
            group: "router".into(),
            topics: vec![p.topics.routing.clone()],
            start: StartFrom::Earliest,
            tick: config.assign_interval,
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let messages = MessagesHandler { engine: engine.clone() };
        let messages_spec = ConsumerSpec {
            service: "router",
            group: "router.conversations".into(),
            topics: vec![p.topics.conversations.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let agents = AgentsHandler { engine };
        let agents_spec = ConsumerSpec {
            service: "router",
            group: "router.agents".into(),
            topics: vec![p.topics.agents.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let (r_flag, a_flag) = (readiness.flag("consumer router"), readiness.flag("consumer router.agents"));
        let m_flag = readiness.flag("consumer router.conversations");
        let (p1, p2, p3, s1, s2, s3, s4) =
            (p.clone(), p.clone(), p.clone(), stop.clone(), stop.clone(), stop.clone(), stop);
        let w1: Worker = Box::pin(async move { consumer::run(&*p1.bus, routing_spec, r_flag, s1, routing).await });
        let w2: Worker = Box::pin(async move { consumer::run(&*p2.bus, agents_spec, a_flag, s2, agents).await });
        let w3: Worker = Box::pin(sweep.run(s3));
        let w4: Worker = Box::pin(async move { consumer::run(&*p3.bus, messages_spec, m_flag, s4, messages).await });
        vec![("routing-consumer", w1), ("agents-consumer", w2), ("routing-sweep", w3), ("messages-consumer", w4)]
    })
    .await;
    host.stop();
    result
}

struct RoutingHandler {
    platform: Platform,
    registry: Arc<Registry>,
    engine: Arc<Engine>,
    /// Tells the sweep which partitions this replica owns.
    ownership: tokio::sync::watch::Sender<Ownership>,
}

#[async_trait]
impl Handler for RoutingHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        match env.body {
            Some(Body::RouteConversation(cmd)) => self.registry.route(&env.account_id, cmd, env.event_id).await,
            _ => Ok(()),
        }
    }

    /// Hands the owned partitions to the sweep and stops the actors of skills no longer owned.
    async fn tick(&mut self, assignment: &[(String, i32)]) {
        let topic = &self.platform.topics.routing;
        let owned = assignment.iter().filter(|(t, _)| t == topic).map(|(_, p)| *p).collect();
        let known = self.ownership.borrow().partitions;
        let partitions = match known {
            0 => match self.platform.bus.partition_count(topic).await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read routing partition count");
                    return;
                }
            },
            n => n,
        };
        let ownership = Ownership { partitions, owned };
        self.registry.retain(|account, skill| ownership.owns(account, skill));
        self.ownership.send_if_modified(|current| {
            let changed = *current != ownership;
            *current = ownership;
            changed
        });
    }

    async fn stranded(&mut self, assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        self.engine.sweep_timers().stranded(assignment, older_than).await
    }
}

/// R10.4: consumer messages to conversations that wait in a queue restart their due time;
/// urgent marks and manual response times (R10.3, R10.8) re-place them.
struct MessagesHandler {
    engine: Arc<Engine>,
}

#[async_trait]
impl Handler for MessagesHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        let published = match env.body {
            Some(Body::MessagePublished(published)) => published,
            Some(Body::ResponseTimeChanged(change)) => {
                return self
                    .engine
                    .response_time_changed(&env.account_id, &change, env.occurred_at_ms)
                    .await
                    .map(|_| ())
            }
            _ => return Ok(()),
        };
        let Some(message) = published.message else { return Ok(()) };
        // Written while an agent held it: the agent answers, no queue to move in.
        if !published.agent_id.is_empty() || message.from != Party::Consumer as i32 {
            return Ok(());
        }
        self.engine.consumer_wrote(&env.account_id, &message.conversation_id, message.sent_at_ms).await.map(|_| ())
    }
}

struct AgentsHandler {
    engine: Arc<Engine>,
}

#[async_trait]
impl Handler for AgentsHandler {
    async fn handle(&mut self, env: Envelope, _delivery: &Delivery) -> Result<(), ServiceError> {
        match env.body {
            Some(Body::AgentAvailable(available)) => {
                self.engine.assign_agent(&env.account_id, &available.agent_id, &available.skill_ids).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }
}
