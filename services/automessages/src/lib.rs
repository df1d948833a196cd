//! The automessages service: automatic (system) messages: the catalogue per skill and language, and its timers (domain §2.14).
//!
//! This release runs the service's plumbing only: it joins its consumer group (`automessages`),
//! reads its topics with offsets stored after handling, and serves gRPC health and the ops
//! endpoints. Its rules arrive in later releases as handlers on these events.

use switchyard_kit::{Listeners, Platform, Shutdown};
use switchyard_registry::Service;

/// Configuration (`[automessages]`): where it listens.
pub type Config = switchyard_kit::Endpoints;

/// Default listen ports.
pub fn default_config() -> Config {
    switchyard_kit::Endpoints::on_ports(Service::Automessages.grpc_port(), Service::Automessages.ops_port())
}

pub async fn run(platform: Platform, _config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    let topics = vec![platform.topics.conversations.clone(), platform.topics.assignments.clone()];
    switchyard_kit::runner::run_consumer_only("automessages", platform, topics, listeners, shutdown).await
}
