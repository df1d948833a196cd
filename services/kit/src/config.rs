//! Layered configuration: compiled defaults, then an optional TOML file, then environment
//! variables `SWITCHYARD_<SECTION>__<KEY>`, then command-line overrides. Unknown keys are
//! rejected; every value is validated before anything starts.

use std::collections::BTreeMap;
use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

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
        .map_err(Box::new)
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
    /// Extra librdkafka settings passed through as they are (e.g. security.protocol).
    pub settings: BTreeMap<String, String>,
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
        Ok(())
    }

    pub fn topics(&self) -> Topics {
        Topics::with_prefix(&self.topic_prefix)
    }
}

/// Redis connection. An empty `url` selects the in-memory store (embedded mode only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// redis://[user:password@]host:port[/db]. Empty: in-memory store (`switchyard up` only).
    /// Prefer SWITCHYARD_REDIS__URL from a secret over a file when it holds a password.
    pub url: String,
    /// Prefix of every key.
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self { url: String::new(), key_prefix: "sy".into() }
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
        Ok(())
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
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let defaults = switchyard_platform::store::Retention::default();
        Self {
            closed: std::time::Duration::from_millis(defaults.closed_ms as u64),
            dedupe_window: std::time::Duration::from_millis(defaults.dedupe_ms as u64),
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
        Ok(())
    }

    pub fn store(&self) -> switchyard_platform::store::Retention {
        switchyard_platform::store::Retention {
            closed_ms: self.closed.as_millis() as i64,
            dedupe_ms: self.dedupe_window.as_millis() as i64,
        }
    }
}

/// Hides a password in a URL for printing.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
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
