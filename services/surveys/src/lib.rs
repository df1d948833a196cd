//! The surveys service: post-conversation surveys: CSAT, FCR and NPS dialogs and their results (domain §2.15).
//!
//! This release runs the service's plumbing only: it joins its consumer group (`surveys`),
//! reads its topics with offsets stored after handling, and serves gRPC health and the ops
//! endpoints. Its rules arrive in later releases as handlers on these events.

use switchyard_kit::{Listeners, Platform, Shutdown};
use switchyard_registry::Service;

/// Configuration (`[surveys]`): where it listens.
pub type Config = switchyard_kit::Endpoints;

/// Default listen ports.
pub fn default_config() -> Config {
    switchyard_kit::Endpoints::on_ports(Service::Surveys.grpc_port(), Service::Surveys.ops_port())
}

pub async fn run(platform: Platform, _config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    let topics = vec![platform.topics.conversations.clone()];
    switchyard_kit::runner::run_consumer_only("surveys", platform, topics, listeners, shutdown).await
}
