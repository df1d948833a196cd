//! The automessages service: automatic (system) messages, domain §2.14 (docs/automessages.md).
//!
//! Consumes (group `automessages`) `conversations` (opens, messages, response-time changes,
//! closes) and `assignments` (assignments, returns to the queue, transfers). For each trigger
//! of the catalogue it asks the rules ([`decide`]) what to send and sends it as a
//! `SystemMessageRequested` command on `assignments`, keyed by the conversation; connectors,
//! the transcripts' one writer, appends it as Party SYSTEM once per dedupe id. The three timed
//! messages run on the durable timers, sharded like the `conversations` partitions this member
//! owns. Serves `AutomaticMessagesAdminService`.

pub mod admin;
pub mod catalogue;
pub mod decide;
pub mod engine;
mod handler;
mod preview;
pub mod render;
pub mod settings;
#[cfg(test)]
mod testing;
mod timers;

use std::sync::Arc;
use std::time::Duration;

use switchyard_kit::consumer::{ConsumerSpec, Mode};
use switchyard_kit::routing_config::{Configs, DEFAULT_REFRESH};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, Shutdown};
use switchyard_platform::bus::StartFrom;
use switchyard_registry::Service;

pub const SENT_TOTAL: &str = "switchyard_automessages_sent_total";
pub const SUPPRESSED_TOTAL: &str = "switchyard_automessages_suppressed_total";

/// Configuration (`[automessages]`): where it listens.
pub type Config = switchyard_kit::Endpoints;

/// Default listen ports.
pub fn default_config() -> Config {
    switchyard_kit::Endpoints::on_ports(Service::Automessages.grpc_port(), Service::Automessages.ops_port())
}

pub const GRPC_SERVICES: &[&str] = &["switchyard.automessages.v1.AutomaticMessagesAdminService"];

fn describe_metrics() {
    metrics::describe_counter!(SENT_TOTAL, "Automatic messages sent to connectors, by catalogue event");
    metrics::describe_counter!(
        SUPPRESSED_TOTAL,
        "Automatic messages not sent although their trigger happened (off, overdue, not applicable), by catalogue event"
    );
}

pub async fn run(platform: Platform, config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    let _ = config;
    switchyard_kit::ops::prometheus();
    describe_metrics();
    let settings = Arc::new(Configs::new(platform.store.clone(), DEFAULT_REFRESH));
    let engine = engine::Engine::new(platform.clone(), settings);
    let routes = tonic::service::Routes::new(
        switchyard_proto::automessages::v1::automatic_messages_admin_service_server::AutomaticMessagesAdminServiceServer::new(
            admin::Admin { engine: engine.clone() },
        ),
    );
    let spec = ServiceSpec {
        name: "automessages",
        grpc_services: GRPC_SERVICES.to_vec(),
        routes,
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let flag = readiness.flag("consumer automessages");
        let consumer_spec = ConsumerSpec {
            service: "automessages",
            group: "automessages".into(),
            topics: vec![p.topics.conversations.clone(), p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let handler = handler::AutoMessageHandler::new(engine);
        let w: Worker = Box::pin(async move { consumer::run(&*p.bus, consumer_spec, flag, stop, handler).await });
        vec![("automessages-consumer", w)]
    })
    .await
}
