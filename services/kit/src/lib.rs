//! What every Switchyard service shares. Services stay thin on plumbing: they get a
//! [`Platform`] (bus, store, clock, topics), already-bound [`Listeners`], and a
//! [`shutdown::Shutdown`] token, and use this crate for the rest.

pub mod config;
pub mod envelope;
pub mod error;
pub mod grpc;
pub mod grpc_metrics;
pub mod ops;
pub mod response_time;
pub mod routing_config;
pub mod shutdown;
pub mod skill_path;
pub mod telemetry;
pub mod timers;
pub mod tls;
pub mod validate;

use std::sync::Arc;

use switchyard_platform::{Clock, EventBus, StateStore};

pub use config::{Endpoints, KafkaConfig, RedisConfig, RetentionConfig, Topics};
pub use error::ServiceError;
pub use ops::Readiness;
pub use shutdown::Shutdown;

/// The adapters a service runs on: in-memory ones in embedded mode, Kafka and Redis in
/// distributed mode. Service code never knows which.
#[derive(Clone)]
pub struct Platform {
    pub bus: Arc<dyn EventBus>,
    pub store: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
    pub topics: Topics,
    /// Distinguishes replicas (per-instance consumer groups, logs).
    pub instance_id: String,
    /// Authentication, authorization, request limits and the audit trail of every gRPC server.
    pub security: Arc<switchyard_auth::Security>,
    /// The accounts' routing configurations, shared by every service of the process (so in
    /// embedded mode a change is seen everywhere at once).
    pub routing: Arc<routing_config::RoutingConfigs>,
}

impl Platform {
    /// A platform whose gRPC servers check no credentials: unit tests of handlers and workers,
    /// which call them directly. Deployments build theirs from `[auth]` (`switchyard::platform`).
    pub fn without_auth(
        bus: Arc<dyn EventBus>,
        store: Arc<dyn StateStore>,
        clock: Arc<dyn Clock>,
        topics: Topics,
        instance_id: impl Into<String>,
    ) -> Self {
        let security = Arc::new(switchyard_auth::Security::disabled(store.clone(), bus.clone(), topics.audit.clone()));
        let routing = Arc::new(routing_config::RoutingConfigs::new(store.clone(), routing_config::DEFAULT_REFRESH));
        Self { bus, store, clock, topics, instance_id: instance_id.into(), security, routing }
    }
}

/// The two listeners every service serves on, bound by the caller (tests bind port 0), and
/// the TLS the gRPC listener is served with (`[tls]`; None: plaintext). The ops port is always
/// plain HTTP (probes, scrapes).
pub struct Listeners {
    pub grpc: tokio::net::TcpListener,
    pub ops: std::net::TcpListener,
    pub grpc_tls: Option<tls::ServerTls>,
}

impl Listeners {
    pub async fn bind(grpc: &str, ops: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        let grpc_listener =
            tokio::net::TcpListener::bind(grpc).await.with_context(|| format!("cannot bind gRPC address {grpc}"))?;
        let ops_listener =
            std::net::TcpListener::bind(ops).with_context(|| format!("cannot bind ops address {ops}"))?;
        Ok(Self { grpc: grpc_listener, ops: ops_listener, grpc_tls: None })
    }

    /// Serves gRPC with `tls` (None: plaintext).
    pub fn with_grpc_tls(mut self, tls: Option<tls::ServerTls>) -> Self {
        self.grpc_tls = tls;
        self
    }
}

pub mod consumer;
pub mod runner;
