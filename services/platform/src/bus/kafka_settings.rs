//! How the Kafka clients are configured: the bootstrap servers, free-form librdkafka settings,
//! and settings whose values come from files (mounted Secrets: `sasl.password`,
//! `ssl.key.password`, ...), read each time a client is created so a rotated secret reaches the
//! next client. `Debug` shows the names of the settings, never their values.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::kafka_client::librdkafka_log_level;
use super::BusError;

/// `session.timeout.ms` of group members unless the settings say otherwise: a member that died
/// without leaving is noticed after this long (librdkafka's default is 45 s).
pub(super) const DEFAULT_SESSION_TIMEOUT_MS: u64 = 10_000;
/// `heartbeat.interval.ms` to go with it (a tenth of the session).
pub(super) const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 1_000;

/// How to reach the Kafka cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    /// `client.id` of every client this bus creates.
    pub client_id: String,
    /// Replication factor of the topics `ensure_topics` creates.
    pub replication_factor: i32,
    /// Free-form librdkafka settings, applied to the producer, the admin client and every
    /// consumer, over this module's defaults (e.g. `session.timeout.ms`, `security.protocol`).
    /// `group.id`, `auto.offset.reset` and `enable.auto.offset.store` are always set here.
    pub extra: BTreeMap<String, String>,
    /// librdkafka settings whose values are the contents of files (one trailing newline
    /// dropped), read whenever a client is created: secrets mounted from Kubernetes Secrets.
    pub extra_from_files: BTreeMap<String, PathBuf>,
    /// This process's stable identity, for static group membership (KIP-345): every group
    /// member gets `group.instance.id` = this, so a process restarted after a crash rejoins
    /// as the member it was and gets its partitions back at once, instead of waiting for the
    /// broker to notice the dead member. An orderly close still leaves the group. None for a
    /// process without a stable identity (dynamic membership).
    pub group_instance: Option<String>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values of `extra` may be secrets (`sasl.password`): only their names are shown.
        f.debug_struct("KafkaSettings")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("client_id", &self.client_id)
            .field("replication_factor", &self.replication_factor)
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .field("extra_from_files", &self.extra_from_files)
            .field("group_instance", &self.group_instance)
            .finish()
    }
}

impl KafkaSettings {
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            client_id: "switchyard".to_owned(),
            replication_factor: 1,
            extra: BTreeMap::new(),
            extra_from_files: BTreeMap::new(),
            group_instance: None,
        }
    }

    /// Adds a librdkafka setting.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// Adds a librdkafka setting whose value is read from `path` at each client's creation.
    pub fn with_file(mut self, key: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        self.extra_from_files.insert(key.into(), path.into());
        self
    }

    pub(super) fn base_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers).set("client.id", &self.client_id);
        // rdkafka derives the level from the `log` crate; this crate logs with `tracing`.
        config.set_log_level(librdkafka_log_level());
        config
    }

    /// Sets `extra` and the settings read from their files; an unreadable file is an error
    /// naming the setting and the path (never the contents).
    pub(super) fn apply_extra(&self, config: &mut ClientConfig) -> Result<(), BusError> {
        for (key, value) in &self.extra {
            config.set(key, value);
        }
        for (key, path) in &self.extra_from_files {
            config.set(key, read_setting(key, path)?);
        }
        Ok(())
    }

    pub(super) fn session_timeout(&self) -> Duration {
        let ms = self.extra.get("session.timeout.ms").and_then(|v| v.trim().parse::<u64>().ok());
        Duration::from_millis(ms.unwrap_or(DEFAULT_SESSION_TIMEOUT_MS))
    }
}

fn read_setting(key: &str, path: &PathBuf) -> Result<String, BusError> {
    let error = |why: String| BusError::Other(format!("kafka setting {key} from file {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut text = String::from_utf8(bytes).map_err(|_| error("not UTF-8 text".into()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn extra_settings_override_defaults_and_session_timeout_is_read() {
        let settings = KafkaSettings::new("127.0.0.1:1").with("session.timeout.ms", "6000");
        assert_eq!(settings.session_timeout(), Duration::from_secs(6));
        assert_eq!(KafkaSettings::new("x").session_timeout(), Duration::from_millis(DEFAULT_SESSION_TIMEOUT_MS));
    }

    #[test]
    fn settings_from_files_are_read_and_never_shown() {
        let dir = std::env::temp_dir().join(format!("sy-kafka-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "p4ss\n").unwrap();
        let settings = KafkaSettings::new("127.0.0.1:1")
            .with("sasl.username", "app")
            .with("sasl.password.inline", "inline-secret")
            .with_file("sasl.password", dir.join("pw"));
        let mut config = ClientConfig::new();
        settings.apply_extra(&mut config).unwrap();
        assert_eq!(config.get("sasl.password"), Some("p4ss"));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("p4ss") && !shown.contains("inline-secret"), "{shown}");

        let missing = KafkaSettings::new("x").with_file("ssl.key.password", dir.join("absent"));
        let err = missing.apply_extra(&mut ClientConfig::new()).unwrap_err().to_string();
        assert!(err.contains("ssl.key.password") && err.contains("absent"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
