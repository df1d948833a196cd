//! Runs one service: ops HTTP server, gRPC server (with health and reflection) and the
//! service's background workers (consumers), then stops them in order on shutdown:
//! NOT_SERVING and not ready, workers finish and commit, gRPC drains, ops stops.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tonic::service::Routes;

use crate::ops::Readiness;
use crate::{grpc, ops, Listeners, Platform, Shutdown};

pub type Worker = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

pub struct ServiceSpec {
    pub name: &'static str,
    /// Fully qualified gRPC service names, for gRPC health.
    pub grpc_services: Vec<&'static str>,
    pub routes: Routes,
    /// Longest time workers get to finish after shutdown.
    pub drain_deadline: Duration,
}

/// `workers` receives the readiness (to register conditions) and the workers' shutdown
/// token, and returns the futures to run.
pub async fn run(
    spec: ServiceSpec,
    platform: &Platform,
    listeners: Listeners,
    shutdown: Shutdown,
    workers: impl FnOnce(Readiness, Shutdown) -> Vec<(&'static str, Worker)>,
) -> anyhow::Result<()> {
    crate::ops::prometheus();
    let readiness = Readiness::new(platform.bus.clone(), platform.store.clone());
    let workers_stop = Shutdown::new();
    let grpc_stop = Shutdown::new();
    let ops_stop = Shutdown::new();

    let ops_task = tokio::spawn(ops::serve(spec.name, listeners.ops, readiness.clone(), ops_stop.clone()));
    let (health_tx, health_rx) = tokio::sync::oneshot::channel();
    let grpc_task = tokio::spawn(grpc::serve(
        spec.name,
        listeners.grpc,
        listeners.grpc_tls,
        grpc::Api { routes: spec.routes, services: spec.grpc_services, security: platform.security.clone() },
        grpc_stop.clone(),
        health_tx,
    ));
    let Ok(health) = health_rx.await else {
        // The server ended before it was ready (e.g. its TLS configuration): say why.
        let reason = match grpc_task.await {
            Ok(Err(err)) => format!("{err:#}"),
            Ok(Ok(())) => "it stopped".to_owned(),
            Err(err) => err.to_string(),
        };
        ops_stop.trigger();
        return Err(anyhow::anyhow!("{}: gRPC server failed to start: {reason}", spec.name));
    };

    let mut worker_tasks = Vec::new();
    for (name, fut) in workers(readiness.clone(), workers_stop.clone()) {
        let service = spec.name;
        worker_tasks.push((
            name,
            tokio::spawn(async move {
                let result = fut.await;
                if let Err(err) = &result {
                    tracing::error!(service, worker = name, error = %err, "worker failed");
                }
                result
            }),
        ));
    }
    health.serving().await;
    match platform.security.mode() {
        switchyard_auth::AuthMode::Required => tracing::info!(service = spec.name, auth = "required", "started"),
        switchyard_auth::AuthMode::Disabled => {
            tracing::warn!(
                service = spec.name,
                auth = "DISABLED",
                "started WITHOUT AUTHENTICATION: any caller may do anything"
            )
        }
    }

    shutdown.wait().await;
    tracing::info!(service = spec.name, "stopping");
    health.not_serving().await;
    readiness.set_draining();
    workers_stop.trigger();
    let drain = async {
        for (name, task) in worker_tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    tracing::warn!(service = spec.name, worker = name, error = %err, "worker ended with error")
                }
                Err(err) => tracing::warn!(service = spec.name, worker = name, error = %err, "worker panicked"),
            }
        }
    };
    if tokio::time::timeout(spec.drain_deadline, drain).await.is_err() {
        tracing::warn!(service = spec.name, "workers did not finish in time");
    }
    grpc_stop.trigger();
    match tokio::time::timeout(Duration::from_secs(5), grpc_task).await {
        Ok(Ok(Err(err))) => tracing::warn!(service = spec.name, error = %err, "gRPC server error"),
        Err(_) => tracing::warn!(service = spec.name, "gRPC server did not stop in time"),
        _ => {}
    }
    ops_stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(5), ops_task).await;
    tracing::info!(service = spec.name, "stopped");
    Ok(())
}

/// A service that, for now, only consumes its topics (group = `name`), counting events in
/// `switchyard_<name>_events_total`, with health, readiness and graceful stop: the plumbing
/// that services whose rules come later start from.
pub async fn run_consumer_only(
    name: &'static str,
    platform: Platform,
    topics: Vec<String>,
    listeners: Listeners,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    crate::ops::prometheus();
    let metric = format!("switchyard_{name}_events_total");
    metrics::describe_counter!(metric.clone(), "Events read, by service and topic");
    let spec = ServiceSpec {
        name,
        grpc_services: Vec::new(),
        routes: Routes::default(),
        drain_deadline: Duration::from_secs(15),
    };
    let p = platform.clone();
    run(spec, &platform, listeners, shutdown, move |readiness, stop| {
        let flag = readiness.flag(format!("consumer {name}"));
        let consumer_spec = crate::consumer::ConsumerSpec {
            service: name,
            group: name.into(),
            topics,
            start: switchyard_platform::bus::StartFrom::Earliest,
            tick: Duration::from_secs(1),
            mode: crate::consumer::Mode::Group,
            dead_letters: p.topics.dead_letters.clone(),
            progress: Default::default(),
        };
        let worker: Worker = Box::pin(async move {
            crate::consumer::run(&*p.bus, consumer_spec, flag, stop, EventCounter { service: name, metric }).await
        });
        vec![("consumer", worker)]
    })
    .await
}

struct EventCounter {
    service: &'static str,
    metric: String,
}

#[async_trait::async_trait]
impl crate::consumer::Handler for EventCounter {
    async fn handle(
        &mut self,
        _env: switchyard_proto::events::v1::Envelope,
        delivery: &switchyard_platform::bus::Delivery,
    ) -> Result<(), crate::ServiceError> {
        metrics::counter!(self.metric.clone(), "service" => self.service, "topic" => delivery.topic.clone())
            .increment(1);
        Ok(())
    }
}
