//! How each component of a run is started: one place, used by `up` and by `restart`.
//!
//! - Redis keeps its data in `<dir>/redis` with an append-only file synced on every write
//!   (`appendfsync always`): a restarted Redis (even after kill -9) has everything it
//!   acknowledged. `up` empties the directory first, so a new run never loads an old one.
//! - tansu keeps its log in SQLite, `<dir>/kafka/tansu.db` (topics with their ids, records,
//!   committed offsets): a restarted broker resumes where it was. Its environment carries no
//!   `RUST_LOG` (a debug log level meant for the services multiplied its CPU).
//! - Each service gets its config file and, from it, a stable `instance_id`, so a restarted
//!   process rejoins its consumer groups as the member it was.

use std::path::Path;
use std::process::Command;

use crate::config;
use crate::layout::{Component, Layout};
use crate::prereq::Programs;

/// Where a backend keeps its data, under the run directory.
pub fn data_dir(dir: &Path, component: Component) -> Option<std::path::PathBuf> {
    match component {
        Component::Redis => Some(dir.join("redis")),
        Component::Kafka => Some(dir.join("kafka")),
        _ => None,
    }
}

/// Where the broker keeps its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerStorage {
    /// SQLite in `<dir>/kafka`: a restarted broker has its topics, records and offsets.
    #[default]
    Sqlite,
    /// In memory: about 5x less broker CPU per fetch, but a restart loses every topic and
    /// record (the services create the topics again and go on).
    Memory,
}

impl BrokerStorage {
    fn url(self) -> &'static str {
        match self {
            // A path relative to the working directory (tansu joins it to the cwd).
            BrokerStorage::Sqlite => "sqlite://tansu.db",
            BrokerStorage::Memory => "memory://tansu/",
        }
    }
}

/// The command that starts `component` of the run in `dir`.
pub fn command(
    component: Component,
    programs: &Programs,
    layout: &Layout,
    dir: &Path,
    storage: BrokerStorage,
) -> Command {
    match component {
        Component::Redis => {
            let mut command = Command::new(&programs.redis_server);
            command
                .args(["--port", &layout.redis().to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
                .arg("--dir")
                .arg(dir.join("redis"))
                .current_dir(dir);
            command
        }
        Component::Kafka => {
            let url = format!("tcp://127.0.0.1:{}", layout.kafka());
            let mut command = Command::new(&programs.tansu);
            command
                .arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", storage.url(), "--cluster-id", "switchyard-local"])
                // tansu reads these from the environment too; the flags above are the whole story.
                .env_remove("CLUSTER_ID")
                .env_remove("LISTENER_URL")
                .env_remove("ADVERTISED_LISTENER_URL")
                .env_remove("STORAGE_ENGINE")
                .env_remove("SCHEMA_REGISTRY")
                .env_remove("RUST_LOG")
                .current_dir(dir.join("kafka"));
            command
        }
        service => {
            let mut command = switchyard(programs, dir);
            command.arg(service.name()).arg("--config").arg(config_file(dir, service.name()));
            command
        }
    }
}

/// The switchyard binary with the environment the runner's config files must not lose to.
pub fn switchyard(programs: &Programs, dir: &Path) -> Command {
    let mut command = Command::new(&programs.switchyard);
    for var in config::overriding_env_vars() {
        command.env_remove(var);
    }
    // Logs go to files: no colour escapes in them.
    if std::env::var_os("NO_COLOR").is_none() {
        command.env("NO_COLOR", "1");
    }
    command.current_dir(dir);
    command
}

pub fn config_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("config").join(format!("{name}.toml"))
}

pub fn log_file(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join("logs").join(format!("{name}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_registry::Service;

    fn programs() -> Programs {
        Programs { redis_server: "redis-server".into(), tansu: "tansu".into(), switchyard: "switchyard".into() }
    }

    fn args(command: &Command) -> Vec<String> {
        command.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn backends_keep_their_data_and_the_broker_gets_no_log_level() {
        let layout = Layout::new(20000).unwrap();
        let dir = Path::new("/run/x");
        let redis = command(Component::Redis, &programs(), &layout, dir, BrokerStorage::Sqlite);
        let redis_args = args(&redis).join(" ");
        assert!(redis_args.contains("--appendonly yes --appendfsync always"), "{redis_args}");
        assert!(redis_args.contains("--dir /run/x/redis"), "{redis_args}");
        let tansu = command(Component::Kafka, &programs(), &layout, dir, BrokerStorage::Sqlite);
        assert!(args(&tansu).join(" ").contains("--storage-engine sqlite://tansu.db"));
        assert_eq!(tansu.get_current_dir(), Some(Path::new("/run/x/kafka")));
        let removed: Vec<String> =
            tansu.get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert!(removed.contains(&"RUST_LOG".to_owned()), "{removed:?}");
        let router = command(Component::Service(Service::Router), &programs(), &layout, dir, BrokerStorage::Sqlite);
        let memory = command(Component::Kafka, &programs(), &layout, dir, BrokerStorage::Memory);
        assert!(args(&memory).join(" ").contains("--storage-engine memory://tansu/"));
        assert_eq!(args(&router), ["router", "--config", "/run/x/config/router.toml"]);
    }
}
