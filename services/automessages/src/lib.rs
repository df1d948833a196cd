//! The automessages service: automatic (system) messages: the catalogue per skill and language, and its timers (domain §2.14).
//!
//! This release runs the service's plumbing only: it joins its consumer group (group
//! `automessages`), reads its topics with offsets stored after handling, serves gRPC health and
//! the ops endpoints. The rules arrive in later releases as handlers on these events.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use switchyard_kit::consumer::{ConsumerSpec, Handler};
use switchyard_kit::runner::{ServiceSpec, Worker};
use switchyard_kit::{consumer, Listeners, Platform, ServiceError, Shutdown};
use switchyard_platform::bus::{Delivery, StartFrom};
use switchyard_proto::events::v1::Envelope;

pub const EVENTS_TOTAL: &str = "switchyard_automessages_events_total";

/// Configuration (`[automessages]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub grpc_addr: String,
    pub ops_addr: String,
}

impl Default for Config {
    fn default() -> Self {
        Self { grpc_addr: "0.0.0.0:7104".into(), ops_addr: "0.0.0.0:9104".into() }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

pub async fn run(platform: Platform, config: Config, listeners: Listeners, shutdown: Shutdown) -> anyhow::Result<()> {
    let _ = config;
    metrics::describe_counter!(EVENTS_TOTAL, "Events read by the automessages service");
    let spec = ServiceSpec {
        name: "automessages",
        grpc_services: Vec::new(),
        routes: tonic::service::Routes::default(),
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    switchyard_kit::runner::run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let flag = readiness.flag("consumer automessages");
        let consumer_spec = ConsumerSpec {
            group: "automessages".into(),
            topics: vec![p.topics.conversations.clone(), p.topics.assignments.clone()],
            start: StartFrom::Earliest,
            tick: Duration::from_secs(1),
        };
        let w: Worker = Box::pin(async move { consumer::run(&*p.bus, consumer_spec, flag, stop, Counter).await });
        vec![("automessages-consumer", w)]
    })
    .await
}

struct Counter;

#[async_trait]
impl Handler for Counter {
    async fn handle(&mut self, _env: Envelope, delivery: &Delivery) -> Result<(), ServiceError> {
        metrics::counter!(EVENTS_TOTAL, "topic" => delivery.topic.clone()).increment(1);
        Ok(())
    }
}
