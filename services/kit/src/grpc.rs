//! gRPC server setup shared by every service: the service's routes plus gRPC health and
//! reflection (v1 and v1alpha), the auth layer (`switchyard_auth`: credentials, the RPC x role
//! table, limits, audit) in front of the service's routes, a bounded connection age so long-lived HTTP/2 connections rebalance across
//! pods, and graceful stop on shutdown.

use std::time::Duration;

use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::Shutdown;

/// What a gRPC server serves: the service's routes, the names gRPC health reports, and the
/// auth layer in front of them.
pub struct Api {
    pub routes: Routes,
    /// Fully qualified service names, for gRPC health.
    pub services: Vec<&'static str>,
    pub security: std::sync::Arc<switchyard_auth::Security>,
}

/// Health reporting for one gRPC server.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    services: Vec<&'static str>,
}

impl Health {
    /// Marks the server and each named service SERVING.
    pub async fn serving(&self) {
        self.set(ServingStatus::Serving).await
    }

    /// Marks everything NOT_SERVING (first step of a graceful stop).
    pub async fn not_serving(&self) {
        self.set(ServingStatus::NotServing).await
    }

    async fn set(&self, status: ServingStatus) {
        self.reporter.set_service_status("", status).await;
        for name in &self.services {
            self.reporter.set_service_status(*name, status).await;
        }
    }
}

/// Serves `routes` with health and reflection on `listener` (over `tls` when given) until
/// `shutdown`; in-flight calls finish first. `services` are the fully qualified names reported
/// by gRPC health.
pub async fn serve(
    service: &'static str,
    listener: tokio::net::TcpListener,
    tls: Option<crate::tls::ServerTls>,
    api: Api,
    shutdown: Shutdown,
    health_out: tokio::sync::oneshot::Sender<Health>,
) -> anyhow::Result<()> {
    let Api { routes, services, security } = api;
    let (reporter, health_service) = tonic_health::server::health_reporter();
    let health = Health { reporter, services };
    health.not_serving().await;
    // Reflection v1 and v1alpha: grpcurl before 1.8.8 speaks only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(switchyard_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    // TLS (`[tls]`) covers the whole port: the service, health and reflection.
    let mut builder = tonic::transport::Server::builder();
    let mode = tls.as_ref().map_or(crate::tls::Mode::Plaintext, |t| t.mode);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls.config)?;
    }
    tracing::info!(service, tls = mode.as_str(), "gRPC server listening");
    let _ = health_out.send(health);
    crate::grpc_metrics::describe();
    // TCP_NODELAY on every accepted connection: responses and stream messages go out as
    // several small writes, and with Nagle on a quiet connection waits for the client's
    // delayed ACK (~40 ms on Linux) between them. The builder's own setting only applies to
    // listeners tonic binds itself.
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    builder
        .max_connection_age(Duration::from_secs(300))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(crate::grpc_metrics::GrpcMetricsLayer::new(service))
        .layer(security.layer())
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, shutdown.wait())
        .await?;
    Ok(())
}
