//! The whole configuration tree: shared sections plus one section per service. See the
//! configuration reference in README.md; `switchyard --dump-config <command>` prints the
//! effective values.

use serde::{Deserialize, Serialize};
use switchyard_kit::config::{KafkaConfig, RedisConfig, RetentionConfig};
use switchyard_kit::telemetry::TelemetryConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Connectors,
    Router,
    Capacity,
    Automessages,
    Surveys,
}

impl Service {
    pub const ALL: [Service; 5] =
        [Service::Connectors, Service::Router, Service::Capacity, Service::Automessages, Service::Surveys];

    pub fn name(self) -> &'static str {
        match self {
            Service::Connectors => "connectors",
            Service::Router => "router",
            Service::Capacity => "capacity",
            Service::Automessages => "automessages",
            Service::Surveys => "surveys",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Names this process in consumer groups and logs; defaults to a random id per start. Set
    /// it to something stable per replica (the pod name) for static group membership.
    pub instance_id: String,
    /// True when `instance_id` was not configured and is a random one of this start.
    #[serde(skip)]
    pub instance_id_generated: bool,
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub retention: RetentionConfig,
    pub telemetry: TelemetryConfig,
    pub connectors: switchyard_connectors::Config,
    pub router: switchyard_router::Config,
    pub capacity: switchyard_capacity::Config,
    pub automessages: switchyard_automessages::Config,
    pub surveys: switchyard_surveys::Config,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            instance_id: String::new(),
            instance_id_generated: false,
            kafka: KafkaConfig::default(),
            redis: RedisConfig::default(),
            retention: RetentionConfig::default(),
            telemetry: TelemetryConfig::default(),
            connectors: switchyard_connectors::default_config(),
            router: switchyard_router::Config::default(),
            capacity: switchyard_capacity::default_config(),
            automessages: switchyard_automessages::default_config(),
            surveys: switchyard_surveys::default_config(),
        }
    }
}

impl Config {
    pub fn addrs(&self, service: Service) -> (String, String) {
        match service {
            Service::Connectors => (self.connectors.grpc_addr.clone(), self.connectors.ops_addr.clone()),
            Service::Router => (self.router.grpc_addr.clone(), self.router.ops_addr.clone()),
            Service::Capacity => (self.capacity.grpc_addr.clone(), self.capacity.ops_addr.clone()),
            Service::Automessages => (self.automessages.grpc_addr.clone(), self.automessages.ops_addr.clone()),
            Service::Surveys => (self.surveys.grpc_addr.clone(), self.surveys.ops_addr.clone()),
        }
    }

    /// `switchyard topics` needs Kafka only.
    pub fn validate_for_topics(&self) -> Result<(), String> {
        self.kafka.validate()?;
        if self.kafka.bootstrap_servers.is_empty() {
            return Err("kafka.bootstrap_servers is required to create topics (use --kafka, SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS or the config file)".into());
        }
        Ok(())
    }

    /// Checks every value; `single` is the service run alone (None for `up`).
    pub fn validate(&self, single: Option<Service>) -> Result<(), String> {
        self.kafka.validate()?;
        self.redis.validate()?;
        self.retention.validate()?;
        self.connectors.validate()?;
        self.router.validate()?;
        self.capacity.validate()?;
        self.automessages.validate("automessages")?;
        self.surveys.validate("surveys")?;
        if let Some(service) = single {
            if self.kafka.bootstrap_servers.is_empty() {
                return Err(format!(
                    "kafka.bootstrap_servers is required to run `switchyard {}` on its own (use --kafka, SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS or the config file); `switchyard up` runs everything in one process without it",
                    service.name()
                ));
            }
            if self.redis.url.is_empty() {
                return Err(format!(
                    "redis.url is required to run `switchyard {}` on its own (use --redis, SWITCHYARD_REDIS__URL or the config file)",
                    service.name()
                ));
            }
        } else if self.kafka.bootstrap_servers.is_empty() != self.redis.url.is_empty() {
            return Err("set both kafka.bootstrap_servers and redis.url (distributed) or neither (embedded)".into());
        }
        if !self.instance_id.is_empty() {
            switchyard_kit::validate::id("instance_id", &self.instance_id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
