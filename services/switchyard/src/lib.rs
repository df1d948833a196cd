//! Composition of the Switchyard services: the configuration tree, the platform adapters
//! (in-memory or Kafka and Redis), and running one service or all of them (`up`).

pub mod auth;
pub mod cli;
pub mod config;
mod dead_letters;
pub mod sections;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_kit::{Listeners, Platform, Shutdown};
use switchyard_platform::bus::{EventBus, KafkaBus, KafkaSettings, MemoryBus};
use switchyard_platform::store::{MemoryStore, RedisStore, StateStore};
use switchyard_platform::SystemClock;

pub use config::{Config, Service};

/// Builds the adapters the config asks for and creates missing topics.
pub async fn platform(config: &Config) -> anyhow::Result<Platform> {
    let bus: Arc<dyn EventBus> = if config.kafka.bootstrap_servers.is_empty() {
        Arc::new(MemoryBus::new())
    } else {
        Arc::new(kafka_bus(config)?)
    };
    let retention = config.retention.store();
    let store: Arc<dyn StateStore> = if config.redis.url.is_empty() {
        Arc::new(MemoryStore::with_retention(retention))
    } else {
        // Files (password, certificates) are read here; errors name the key, the server, never a
        // secret.
        let options = config.redis.connect_options().map_err(anyhow::Error::msg)?;
        Arc::new(RedisStore::connect_with(&options, &config.redis.key_prefix, retention).await?)
    };
    let topics = config.kafka.topics();
    ensure_topics(&*bus, config).await?;
    let security = security(config, store.clone(), bus.clone())?;
    let routing =
        Arc::new(switchyard_kit::routing_config::RoutingConfigs::new(store.clone(), config.router.config_refresh));
    Ok(Platform {
        bus,
        store,
        clock: Arc::new(SystemClock),
        topics,
        instance_id: config.instance_id.clone(),
        security,
        routing,
    })
}

/// The auth layer's state from `[auth]` and `[limits]`, on `store` and `bus`.
pub fn security(
    config: &Config,
    store: Arc<dyn StateStore>,
    bus: Arc<dyn EventBus>,
) -> anyhow::Result<Arc<switchyard_auth::Security>> {
    let audit = config.kafka.topics().audit;
    let security = switchyard_auth::Security::new(&config.auth, &config.limits, store, bus, audit).context("auth")?;
    Ok(Arc::new(security))
}

/// Creates the missing topics (`kafka.partitions`, `kafka.replication_factor`), retrying for a
/// while: brokers may still be starting.
async fn ensure_topics(bus: &dyn EventBus, config: &Config) -> anyhow::Result<()> {
    let topics = config.kafka.topics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match bus.ensure_topics(&topics.all(), config.kafka.partitions).await {
            Ok(()) => return Ok(()),
            Err(err) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %err, "creating topics failed, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => {
                return Err(anyhow::anyhow!("cannot create topics on {}: {err}", config.kafka.bootstrap_servers))
            }
        }
    }
}

/// `switchyard topics`: creates the Kafka topics and returns (deployment hooks, local runner).
pub async fn create_topics(config: &Config) -> anyhow::Result<Vec<String>> {
    let bus = kafka_bus(config)?;
    ensure_topics(&bus, config).await?;
    Ok(config.kafka.topics().all())
}

pub(crate) fn kafka_bus(config: &Config) -> anyhow::Result<KafkaBus> {
    let mut settings = KafkaSettings::new(config.kafka.bootstrap_servers.clone());
    settings.client_id = format!("switchyard-{}", config.instance_id);
    settings.replication_factor = config.kafka.replication_factor;
    settings.extra = config.kafka.settings.clone();
    settings.extra_from_files =
        config.kafka.settings_from_files.iter().map(|(k, path)| (k.clone(), path.into())).collect();
    if config.kafka.static_membership && !config.instance_id_generated && !config.instance_id.is_empty() {
        settings.group_instance = Some(config.instance_id.clone());
    }
    KafkaBus::new(settings).context("kafka client")
}

/// Binds the listeners of `service` from its config, with the gRPC TLS of `[tls]`.
pub async fn listeners(config: &Config, service: Service) -> anyhow::Result<Listeners> {
    let (grpc, ops) = config.addrs(service);
    let tls = config.tls.load().map_err(anyhow::Error::msg)?;
    let listeners = Listeners::bind(&grpc, &ops).await.with_context(|| format!("{} listeners", service.name()))?;
    Ok(listeners.with_grpc_tls(tls))
}

/// `run_service`: each service of the registry runs its crate's `run` with its section.
macro_rules! run_service {
    ($($variant:ident $name:ident = $offset:literal, $krate:ident, $about:literal;)*) => {
        /// Runs one service until `shutdown`.
        pub async fn run_service(
            service: Service,
            platform: Platform,
            config: &Config,
            listeners: Listeners,
            shutdown: Shutdown,
        ) -> anyhow::Result<()> {
            match service {
                $(Service::$variant => $krate::run(platform, config.$name.clone(), listeners, shutdown).await,)*
            }
        }
    };
}

switchyard_registry::for_each_service!(run_service);

/// Runs every service in this process on one platform (embedded mode when the config names
/// no Kafka and no Redis). `listeners` gives each service's bound listeners.
pub async fn up(
    platform: Platform,
    config: &Config,
    listeners: Vec<(Service, Listeners)>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for (service, l) in listeners {
        let (p, c, s) = (platform.clone(), config.clone(), shutdown.clone());
        tasks.push((service, tokio::spawn(async move { run_service(service, p, &c, l, s).await })));
    }
    let mut first_error = None;
    for (service, task) in tasks {
        let result = task.await.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(err) = result {
            tracing::error!(service = service.name(), error = %err, "service failed");
            shutdown.trigger();
            first_error.get_or_insert(err.context(service.name()));
        }
    }
    first_error.map_or(Ok(()), Err)
}
