//! The operations HTTP server every service runs (actix-web): `/health/livez`,
//! `/health/readyz`, `/metrics` (Prometheus text) and `/build`.
//!
//! Liveness says the process serves HTTP. Readiness says it can do its work: the bus and
//! the store answer, every consumer has joined its group, and it is not draining.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::{web, App, HttpResponse, HttpServer};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use switchyard_platform::{EventBus, StateStore};

use crate::Shutdown;

/// What readiness depends on: backend pings plus named flags raised by the service.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<ReadinessInner>,
}

struct ReadinessInner {
    bus: Arc<dyn EventBus>,
    store: Arc<dyn StateStore>,
    flags: Mutex<BTreeMap<String, FlagState>>,
    draining: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FlagState {
    Ready,
    Waiting,
    /// Not ready, and why (shown by /health/readyz).
    Failed(String),
}

/// One readiness condition, e.g. "consumer routing joined its group".
#[derive(Clone)]
pub struct ReadyFlag {
    readiness: Readiness,
    name: String,
}

impl ReadyFlag {
    pub fn set(&self, ready: bool) {
        let state = if ready { FlagState::Ready } else { FlagState::Waiting };
        // Called per consumed record: update in place, no allocation.
        let mut flags = self.readiness.flags();
        match flags.get_mut(&self.name) {
            Some(current) => *current = state,
            None => {
                flags.insert(self.name.clone(), state);
            }
        }
    }

    /// Not ready, for the reason given (e.g. a consumer that stopped making progress).
    pub fn fail(&self, why: impl Into<String>) {
        self.readiness.flags().insert(self.name.clone(), FlagState::Failed(why.into()));
    }

    pub fn is_ready(&self) -> bool {
        self.readiness.flags().get(&self.name) == Some(&FlagState::Ready)
    }
}

impl Readiness {
    pub fn new(bus: Arc<dyn EventBus>, store: Arc<dyn StateStore>) -> Self {
        Self {
            inner: Arc::new(ReadinessInner {
                bus,
                store,
                flags: Mutex::new(BTreeMap::new()),
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    fn flags(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FlagState>> {
        self.inner.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new condition, not ready until set.
    pub fn flag(&self, name: impl Into<String>) -> ReadyFlag {
        let name = name.into();
        self.flags().insert(name.clone(), FlagState::Waiting);
        ReadyFlag { readiness: self.clone(), name }
    }

    pub fn set_draining(&self) {
        self.inner.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// (ready, per-check detail).
    pub async fn check(&self) -> (bool, BTreeMap<String, String>) {
        let mut detail = BTreeMap::new();
        let mut ready = true;
        let timeout = std::time::Duration::from_secs(2);
        let bus = match tokio::time::timeout(timeout, self.inner.bus.ping()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        let store = match tokio::time::timeout(timeout, self.inner.store.ping()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        for (name, value) in [("event_bus", bus), ("state_store", store)] {
            ready &= value == "ok";
            detail.insert(name.to_owned(), value);
        }
        for (name, state) in self.flags().iter() {
            ready &= *state == FlagState::Ready;
            let shown = match state {
                FlagState::Ready => "ok".to_owned(),
                FlagState::Waiting => "waiting".to_owned(),
                FlagState::Failed(why) => why.clone(),
            };
            detail.insert(name.clone(), shown);
        }
        if self.inner.draining.load(std::sync::atomic::Ordering::SeqCst) {
            ready = false;
            detail.insert("draining".into(), "yes".into());
        }
        (ready, detail)
    }
}

/// Bucket bounds (seconds) of every histogram: latencies from half a millisecond to a minute.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// The process-wide Prometheus recorder (installed once, shared by every service in `up`).
/// Histograms are exported as Prometheus histograms (buckets), which sum across replicas,
/// unlike summaries. Install it before anything describes a metric, or the description is lost.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || match PrometheusBuilder::new().set_buckets(SECONDS_BUCKETS) {
            Ok(builder) => builder,
            Err(_) => PrometheusBuilder::new(),
        };
        match builder().install_recorder() {
            Ok(handle) => handle,
            // Another recorder is installed (only in odd test setups): render an empty one.
            Err(_) => builder().build_recorder().handle(),
        }
    })
}

#[derive(Clone)]
struct OpsState {
    service: &'static str,
    readiness: Readiness,
}

async fn livez() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<OpsState>) -> HttpResponse {
    let (ready, detail) = state.readiness.check().await;
    let body = serde_json::json!({ "service": state.service, "ready": ready, "checks": detail });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics_text() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(prometheus().render())
}

async fn build(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "service": state.service,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// Serves the ops endpoints on `listener` until `shutdown`.
pub async fn serve(
    service: &'static str,
    listener: std::net::TcpListener,
    readiness: Readiness,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    prometheus();
    let state = OpsState { service, readiness };
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/health/livez", web::get().to(livez))
            .route("/health/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics_text))
            .route("/build", web::get().to(build))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .listen(listener)?
    .run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    shutdown.wait().await;
    handle.stop(true).await;
    task.await??;
    Ok(())
}
