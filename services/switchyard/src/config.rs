//! The whole configuration tree: shared sections plus one section per service of the
//! registry. See the configuration reference in README.md; `switchyard --dump-config <command>`
//! prints the effective values.

use serde::{Deserialize, Serialize};
use switchyard_kit::config::{KafkaConfig, RedisConfig, RetentionConfig};
use switchyard_kit::telemetry::TelemetryConfig;
use switchyard_kit::tls::TlsConfig;

pub use switchyard_registry::Service;

use crate::sections::Section;

/// The configuration tree, with one section per service of the registry
/// (`switchyard_registry::for_each_service!`): the section `[name]` has the type `Config` of
/// the service's crate, and its listen addresses default to the registry's ports.
macro_rules! config_with_services {
    ($($variant:ident $name:ident = $offset:literal, $krate:ident, $about:literal;)*) => {
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
            /// Who may call the gRPC APIs (docs/security.md).
            pub auth: switchyard_auth::AuthConfig,
            /// Request rates, message size, streams and opens per caller.
            pub limits: switchyard_auth::LimitsConfig,
            /// TLS on every service's gRPC port (off: plaintext).
            pub tls: TlsConfig,
            $(
                #[doc = $about]
                pub $name: $krate::Config,
            )*
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
                    auth: switchyard_auth::AuthConfig::default(),
                    limits: switchyard_auth::LimitsConfig::default(),
                    tls: TlsConfig::default(),
                    $(
                        $name: {
                            let mut section = <$krate::Config as Default>::default();
                            let (grpc, ops) = default_addrs(Service::$variant);
                            section.grpc_addr = grpc;
                            section.ops_addr = ops;
                            section
                        },
                    )*
                }
            }
        }

        impl Config {
            /// The defaults of `switchyard up`: every listener on `host` (127.0.0.1 unless
            /// `--bind` says otherwise).
            pub fn listening_on(host: std::net::IpAddr) -> Self {
                let mut config = Self::default();
                $(
                    let (grpc, ops) = default_addrs(Service::$variant);
                    config.$name.grpc_addr = grpc.replacen("0.0.0.0", &host.to_string(), 1);
                    config.$name.ops_addr = ops.replacen("0.0.0.0", &host.to_string(), 1);
                )*
                config
            }

            /// The gRPC and ops HTTP listen addresses of `service`.
            pub fn addrs(&self, service: Service) -> (String, String) {
                match service {
                    $(Service::$variant => (self.$name.grpc_addr.clone(), self.$name.ops_addr.clone()),)*
                }
            }

            /// Checks every service's section.
            fn validate_services(&self) -> Result<(), String> {
                $(Section::check(&self.$name, stringify!($name))?;)*
                Ok(())
            }
        }
    };
}

switchyard_registry::for_each_service!(config_with_services);

/// All interfaces on the registry's default ports of `service`.
pub fn default_addrs(service: Service) -> (String, String) {
    (format!("0.0.0.0:{}", service.grpc_port()), format!("0.0.0.0:{}", service.ops_port()))
}

impl Config {
    /// `switchyard topics` needs Kafka only.
    pub fn validate_for_topics(&self) -> Result<(), String> {
        self.kafka.validate()?;
        if self.kafka.bootstrap_servers.is_empty() {
            return Err("kafka.bootstrap_servers is required to create topics (use --kafka, SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS or the config file)".into());
        }
        Ok(())
    }

    /// Checks every value; `single` is the service run alone (None for `up`). The TLS files
    /// are read when the services start (`cli::main`), so `--dump-config` works without them.
    pub fn validate(&self, single: Option<Service>) -> Result<(), String> {
        self.kafka.validate()?;
        self.redis.validate()?;
        self.retention.validate()?;
        self.auth.validate()?;
        self.limits.validate()?;
        self.tls.validate()?;
        self.validate_services()?;
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
        if let (Some(service), switchyard_auth::AuthMode::Required, true) =
            (single, self.auth.mode, self.auth.issuers.is_empty())
        {
            return Err(format!(
                "auth.issuers is empty: `switchyard {}` needs the issuers whose tokens it accepts (see docs/security.md), or auth.mode = \"disabled\" to run without authentication",
                service.name()
            ));
        }
        if !self.instance_id.is_empty() {
            switchyard_kit::validate::id("instance_id", &self.instance_id).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
