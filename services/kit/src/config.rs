//! Layered configuration: compiled defaults, then an optional TOML file, then environment
//! variables `SWITCHYARD_<SECTION>__<KEY>`, then command-line overrides. Unknown keys are
//! rejected; every value is validated before anything starts.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod backends;
mod lenient;
mod redact;

pub use redact::{is_secret_key, redact, redact_json, redact_toml, redacted, REDACTED};

/// Environment variable prefix; `SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS=...` sets `kafka.bootstrap_servers`.
pub const ENV_PREFIX: &str = "SWITCHYARD_";

/// Loads `T` from defaults, `file`, the environment and `overrides` (highest wins).
pub fn load<T>(file: Option<&Path>, overrides: impl Serialize) -> Result<T, Box<figment::Error>>
where
    T: Serialize + DeserializeOwned + Default,
{
    load_over(T::default(), file, overrides)
}

/// [`load`] over other `defaults` (a command whose defaults differ, like `up`'s loopback
/// listen addresses).
pub fn load_over<T>(defaults: T, file: Option<&Path>, overrides: impl Serialize) -> Result<T, Box<figment::Error>>
where
    T: Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(defaults));
    if let Some(path) = file {
        if !path.is_file() {
            return Err(Box::new(figment::Error::from(format!("config file {} does not exist", path.display()))));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment
        .merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["CONFIG"]))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|e| Box::new(hide_secret_values(e)))
}

/// An error about a key that holds a secret says what was expected, not what was found (serde's
/// messages quote the value).
fn hide_secret_values(error: figment::Error) -> figment::Error {
    use figment::error::Kind;
    let mut errors = error.into_iter().map(|mut e| {
        if e.path.iter().any(|key| is_secret_key(key)) {
            let expected = match &e.kind {
                Kind::InvalidType(_, expected) | Kind::InvalidValue(_, expected) => expected.clone(),
                _ => "a valid value".to_owned(),
            };
            e.kind = Kind::Message(format!("invalid value (not shown: the key holds a secret), expected {expected}"));
        }
        e
    });
    let first = errors.next().unwrap_or_else(|| figment::Error::from("invalid configuration".to_owned()));
    errors.fold(first, |all, next| all.chain(next))
}

/// Kafka connection and topic layout. An empty `bootstrap_servers` selects the in-memory
/// bus (embedded mode only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated host:port list. Empty: in-memory bus (`switchyard up` only).
    pub bootstrap_servers: String,
    /// Prefix of every topic name.
    pub topic_prefix: String,
    /// Partitions of topics created at start (existing topics are left as they are).
    pub partitions: i32,
    /// Replication factor of topics created at start.
    pub replication_factor: i32,
    /// Static group membership (KIP-345) when the process has a stable `instance_id` (set in
    /// the config; the chart sets the pod name): a process restarted after a crash rejoins its
    /// groups as the member it was and resumes its partitions at once. Off by default: tansu
    /// 0.6 implements it partly (static members lost their assignment about 19 s after
    /// joining, measured); turn it on with a broker that implements KIP-345 (Apache Kafka).
    pub static_membership: bool,
    /// Extra librdkafka settings passed through as they are (e.g. security.protocol). Values of
    /// secret names (`sasl.password`, `ssl.key.password`, ...) are redacted when printed; prefer
    /// `settings_from_files` for them. Numbers and booleans are taken as their text.
    #[serde(deserialize_with = "lenient::text_map")]
    pub settings: BTreeMap<String, String>,
    /// librdkafka settings whose values are read from files when each Kafka client is created
    /// (mounted Secrets), e.g. `"sasl.password" = "/etc/switchyard/kafka/sasl-password"`; one
    /// trailing newline is dropped. A name may not be in `settings` too.
    pub settings_from_files: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: String::new(),
            topic_prefix: "switchyard.".into(),
            partitions: 12,
            replication_factor: 1,
            static_membership: false,
            settings: BTreeMap::new(),
            settings_from_files: BTreeMap::new(),
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=1024).contains(&self.partitions) {
            return Err(format!("kafka.partitions must be within 1..=1024, got {}", self.partitions));
        }
        if !(1..=16).contains(&self.replication_factor) {
            return Err(format!("kafka.replication_factor must be within 1..=16, got {}", self.replication_factor));
        }
        if self.topic_prefix.chars().any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
            return Err(format!(
                "kafka.topic_prefix {:?} may only hold ASCII letters, digits and ._-",
                self.topic_prefix
            ));
        }
        if !self.bootstrap_servers.is_empty()
            && self
                .bootstrap_servers
                .split(',')
                .any(|s| s.trim().rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()))
        {
            return Err(format!(
                "kafka.bootstrap_servers must be host:port[,host:port...], got {:?}",
                self.bootstrap_servers
            ));
        }
        backends::validate_kafka_security(self)
    }

    pub fn topics(&self) -> Topics {
        Topics::with_prefix(&self.topic_prefix)
    }
}

/// Redis connection. An empty `url` selects the in-memory store (embedded mode only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// redis://[user:password@]host:port[/db], or rediss:// for TLS. Empty: in-memory store
    /// (`switchyard up` only). Prefer `username` and `password_file` over credentials here.
    pub url: String,
    /// Prefix of every key.
    pub key_prefix: String,
    /// ACL user (`AUTH username password`); needs `password` or `password_file`.
    pub username: String,
    /// Password (or the `requirepass` of a server without ACL users), e.g. from
    /// SWITCHYARD_REDIS__PASSWORD; prefer `password_file`. A number is taken as its text.
    #[serde(deserialize_with = "lenient::text")]
    pub password: String,
    /// File holding the password (a mounted Secret), read at start; one trailing newline is
    /// dropped.
    pub password_file: String,
    /// PEM file of the CA(s) that signed the server certificate (rediss:// only); empty: the
    /// system's trusted roots.
    pub tls_ca_file: String,
    /// PEM client certificate (chain) for servers that ask for one (`tls-auth-clients`), with
    /// `tls_key_file`.
    pub tls_cert_file: String,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: String,
    /// Redis Cluster: `url` is one node, the client learns the others (CLUSTER SLOTS) and sends
    /// each command to the node of its key's slot. Keys are hash-tagged by account.
    pub cluster: bool,
    /// More cluster nodes to start from besides `url` (same scheme, no credentials); setting
    /// any implies `cluster`.
    pub cluster_nodes: Vec<String>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            key_prefix: "sy".into(),
            username: String::new(),
            password: String::new(),
            password_file: String::new(),
            tls_ca_file: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            cluster: false,
            cluster_nodes: Vec::new(),
        }
    }
}

impl RedisConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.url.is_empty() || self.url.starts_with("redis://") || self.url.starts_with("rediss://")) {
            return Err(format!("redis.url must start with redis:// or rediss://, got {:?}", redact(&self.url)));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(['{', '}', ' ']) {
            return Err(format!(
                "redis.key_prefix must be non-empty without braces or spaces, got {:?}",
                self.key_prefix
            ));
        }
        backends::validate_redis_security(self)
    }

    /// Whether the store is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster || !self.cluster_nodes.is_empty()
    }

    /// What the Redis store connects with: the password and TLS files read now (an error names
    /// the key and the file, never a secret).
    pub fn connect_options(&self) -> Result<switchyard_platform::store::RedisOptions, String> {
        backends::redis_options(self)
    }
}

/// How long what finished conversations leave behind is kept (`[retention]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// A closed conversation's record, transcript, message dedupe ids and route are deleted
    /// this long after the close (1s..=365d).
    #[serde(with = "humantime_serde")]
    pub closed: std::time::Duration,
    /// A partner message id given at open is remembered this long per channel and consumer: a
    /// repeat within the window returns the same conversation (1s..=30d).
    #[serde(with = "humantime_serde")]
    pub dedupe_window: std::time::Duration,
    /// A consumer is remembered this long after its last open; one not seen within it opens as
    /// a first-time consumer (R10.2) (1s..=3650d).
    #[serde(with = "humantime_serde")]
    pub consumer_memory: std::time::Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let defaults = switchyard_platform::store::Retention::default();
        Self {
            closed: std::time::Duration::from_millis(defaults.closed_ms as u64),
            dedupe_window: std::time::Duration::from_millis(defaults.dedupe_ms as u64),
            consumer_memory: std::time::Duration::from_millis(defaults.consumer_ms as u64),
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), String> {
        let second = std::time::Duration::from_secs(1);
        let day = std::time::Duration::from_secs(24 * 3600);
        if !(second..=day * 365).contains(&self.closed) {
            return Err("retention.closed must be within 1s..=365d".into());
        }
        if !(second..=day * 30).contains(&self.dedupe_window) {
            return Err("retention.dedupe_window must be within 1s..=30d".into());
        }
        if !(second..=day * 3650).contains(&self.consumer_memory) {
            return Err("retention.consumer_memory must be within 1s..=3650d".into());
        }
        Ok(())
    }

    pub fn store(&self) -> switchyard_platform::store::Retention {
        switchyard_platform::store::Retention {
            closed_ms: self.closed.as_millis() as i64,
            dedupe_ms: self.dedupe_window.as_millis() as i64,
            consumer_ms: self.consumer_memory.as_millis() as i64,
        }
    }
}

/// Where a service listens: its gRPC API and its ops HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Endpoints {
    /// gRPC listen address (host:port).
    pub grpc_addr: String,
    /// Ops HTTP listen address (host:port): /health/livez, /health/readyz, /metrics.
    pub ops_addr: String,
}

impl Endpoints {
    /// All interfaces on the given ports.
    pub fn on_ports(grpc: u16, ops: u16) -> Self {
        Self { grpc_addr: format!("0.0.0.0:{grpc}"), ops_addr: format!("0.0.0.0:{ops}") }
    }

    /// `section` names the config section in messages, e.g. "router".
    pub fn validate(&self, section: &str) -> Result<(), String> {
        for (key, value) in [("grpc_addr", &self.grpc_addr), ("ops_addr", &self.ops_addr)] {
            if value.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!("{section}.{key} must be ip:port, got {value:?}"));
            }
        }
        Ok(())
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Self::on_ports(0, 0)
    }
}

/// Topic names (architecture §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// key account/conversation: lifecycle events and messages.
    pub conversations: String,
    /// key account/skill: routing commands; partition ownership = skill ownership.
    pub routing: String,
    /// key account/conversation: assignments and unassignments.
    pub assignments: String,
    /// key account/agent: agent sessions and availability.
    pub agents: String,
    /// Records no consumer could apply, with the failure in their headers (`switchyard
    /// dead-letters` lists and replays them).
    pub dead_letters: String,
    /// key account: admin changes (the audit trail; `ListAuditEvents` reads its copy in the store).
    pub audit: String,
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            conversations: format!("{prefix}conversations"),
            routing: format!("{prefix}routing"),
            assignments: format!("{prefix}assignments"),
            agents: format!("{prefix}agents"),
            dead_letters: format!("{prefix}dead-letters"),
            audit: format!("{prefix}audit"),
        }
    }

    pub fn all(&self) -> Vec<String> {
        vec![
            self.conversations.clone(),
            self.routing.clone(),
            self.assignments.clone(),
            self.agents.clone(),
            self.dead_letters.clone(),
            self.audit.clone(),
        ]
    }
}

/// Record keys: one place so producers agree on them.
pub mod keys {
    pub fn conversation(account: &str, conversation: &str) -> String {
        format!("{account}/{conversation}")
    }
    pub fn skill(account: &str, skill: &str) -> String {
        format!("{account}/{skill}")
    }
    pub fn agent(account: &str, agent: &str) -> String {
        format!("{account}/{agent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        kafka: KafkaConfig,
        redis: RedisConfig,
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the error type
    fn layers_apply_in_order_and_unknown_keys_fail() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[kafka]\npartitions = 3\nbootstrap_servers = \"file:1\"\n")?;
            jail.set_env("SWITCHYARD_KAFKA__BOOTSTRAP_SERVERS", "env:2");
            let cfg: Sample = load(Some(Path::new("c.toml")), serde_json::json!({})).map_err(|e| e.to_string())?;
            assert_eq!(cfg.kafka.partitions, 3);
            assert_eq!(cfg.kafka.bootstrap_servers, "env:2");
            let cfg: Sample =
                load(Some(Path::new("c.toml")), serde_json::json!({"kafka": {"bootstrap_servers": "flag:3"}}))
                    .map_err(|e| e.to_string())?;
            assert_eq!(cfg.kafka.bootstrap_servers, "flag:3");

            jail.create_file("bad.toml", "[kafka]\npartitons = 3\n")?;
            let err = load::<Sample>(Some(Path::new("bad.toml")), serde_json::json!({})).err().map(|e| e.to_string());
            assert!(err.unwrap_or_default().contains("partitons"));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the error type
    fn numbers_are_text_and_errors_about_secrets_hide_the_value() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHYARD_REDIS__PASSWORD", "12345");
            jail.set_env("SWITCHYARD_KAFKA__SETTINGS", r#"{"fetch.wait.max.ms"=100,"enable.idempotence"=true}"#);
            let cfg: Sample = load(None, serde_json::json!({})).map_err(|e| e.to_string())?;
            assert_eq!(cfg.redis.password, "12345");
            assert_eq!(cfg.kafka.settings.get("fetch.wait.max.ms").map(String::as_str), Some("100"));
            assert_eq!(cfg.kafka.settings.get("enable.idempotence").map(String::as_str), Some("true"));

            jail.set_env("SWITCHYARD_REDIS__PASSWORD", "[98765]");
            jail.set_env("SWITCHYARD_KAFKA__SETTINGS", r#"{"sasl.password"=[4242]}"#);
            let err = load::<Sample>(None, serde_json::json!({})).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("PASSWORD") && !err.contains("98765") && !err.contains("4242"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn validation_names_the_key() {
        let bad = KafkaConfig { partitions: 0, ..Default::default() };
        assert!(bad.validate().err().unwrap_or_default().contains("kafka.partitions"));
        let bad = KafkaConfig { bootstrap_servers: "nohost".into(), ..Default::default() };
        assert!(bad.validate().err().unwrap_or_default().contains("kafka.bootstrap_servers"));
        let bad = RedisConfig { url: "http://x".into(), ..Default::default() };
        assert!(bad.validate().err().unwrap_or_default().contains("redis.url"));
        assert_eq!(redact("redis://u:secret@h:1"), "redis://***@h:1");
    }
}
