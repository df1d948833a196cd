//! The distributed topology for end-to-end tests: the compiled `switchyard` binary as five
//! processes against a real redis-server and Kafka-protocol broker (tansu) on free loopback
//! ports. This file manages the processes (start, readiness, kill -9 and restart, their logs
//! and metrics); `simulated_clients.rs` has the simulated partners and agents that behave like
//! real clients under faults (they retry what can be retried and reconnect their streams).

#![allow(dead_code)]

mod simulated_clients;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use switchyard_testkit::{free_port, unique, KafkaBroker, RedisServer};

// Unused in the test binaries that do not run the topology.
#[allow(unused_imports)]
pub use simulated_clients::*;

pub struct Process {
    pub name: &'static str,
    /// Which of the service's processes (its instance id is `<name>-<replica>`).
    pub replica: usize,
    pub child: Child,
    pub log: PathBuf,
    pub grpc: String,
    pub ops: String,
}

impl Process {
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// kill -9: no shutdown, no offsets committed, no group left.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the topology is set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Redis with an append-only file and the broker on SQLite, so they survive restarts;
    /// and each service with a stable instance id, as the local runner and the chart run them.
    pub durable: bool,
    /// TOML appended to every service's config file.
    pub extra_config: &'static str,
}

/// Redis, a Kafka broker and the five services as separate processes of the compiled binary.
pub struct Topology {
    pub redis: RedisServer,
    pub kafka: KafkaBroker,
    pub prefix: String,
    /// The signing key every process trusts.
    pub auth: super::TestAuth,
    dir: PathBuf,
    config: PathBuf,
    options: Options,
    pub procs: Vec<Process>,
    starts: usize,
}

impl Topology {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        let (redis, kafka) = if options.durable {
            (RedisServer::start_durable().await, KafkaBroker::start_durable().await)
        } else {
            (RedisServer::start().await, KafkaBroker::start().await)
        };
        let (redis, kafka) = (redis.expect("redis-server"), kafka.expect("kafka broker"));
        let prefix = unique("e2e")[..16].to_owned();
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        // A killed member is noticed after the session timeout: keep it short here.
        let config = dir.join("switchyard.toml");
        let auth = super::TestAuth::new();
        std::fs::write(
            &config,
            format!(
                "{}[kafka.settings]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n{}",
                auth.toml(),
                options.extra_config
            ),
        )
        .unwrap();
        let mut topology = Self { redis, kafka, prefix, auth, dir, config, options, procs: Vec::new(), starts: 0 };
        for service in switchyard::Service::ALL {
            topology.spawn(service.name()).await;
        }
        topology
    }

    pub async fn spawn(&mut self, service: &'static str) {
        self.spawn_replica(service, 1).await;
    }

    /// A process of `service`; replicas other than 1 run next to the first one. A port picked
    /// free but taken before the process bound it (by a parallel test) means a new pick.
    pub async fn spawn_replica(&mut self, service: &'static str, replica: usize) {
        for attempt in 1..=3 {
            let mut process = self.start_process(service, replica);
            match wait_until_ready(&mut process).await {
                Ok(()) => return self.procs.push(process),
                Err(tail) if attempt < 3 && tail.contains("Address already in use") => continue,
                Err(tail) => panic!("{service} was not ready\n--- {service} log ---\n{tail}"),
            }
        }
    }

    fn start_process(&mut self, service: &'static str, replica: usize) -> Process {
        let (grpc_port, ops_port) = (free_port(), free_port());
        self.starts += 1;
        let log = self.dir.join(format!("{service}.{}.log", self.starts));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        command
            .arg(service)
            .args(["--kafka", &self.kafka.bootstrap(), "--redis", &self.redis.url()])
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}"), "--ops-addr", &format!("127.0.0.1:{ops_port}")])
            .args(["--config", self.config.to_str().unwrap()])
            .env("SWITCHYARD_KAFKA__TOPIC_PREFIX", format!("{}.", self.prefix))
            .env("SWITCHYARD_KAFKA__PARTITIONS", "4")
            .env("SWITCHYARD_REDIS__KEY_PREFIX", &self.prefix)
            .env("SWITCHYARD_ROUTER__ASSIGN_INTERVAL", "500ms")
            .env("RUST_LOG", "info")
            .env_remove("SWITCHYARD_INSTANCE_ID")
            .stdout(Stdio::null())
            .stderr(file);
        if self.options.durable {
            command.env("SWITCHYARD_INSTANCE_ID", format!("{service}-{replica}"));
        }
        Process {
            name: service,
            replica,
            child: command.spawn().unwrap(),
            log,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            ops: format!("http://127.0.0.1:{ops_port}/health/readyz"),
        }
    }

    /// A reader of one series from the newest process of `service`: the first sample of `name`
    /// whose labels include `labels` (`key="value"` each); None while there is none.
    pub fn metric(
        &mut self,
        service: &str,
        name: &str,
        labels: &[&str],
    ) -> impl Fn() -> futures::future::BoxFuture<'static, Option<f64>> + Clone {
        let url = self.process(service).ops.replace("/health/readyz", "/metrics");
        let name = format!("{name}{{");
        let labels: Vec<String> = labels.iter().map(|l| (*l).to_owned()).collect();
        move || {
            let (url, name, labels) = (url.clone(), name.clone(), labels.clone());
            Box::pin(async move {
                let (_, body) = super::http_get(&url).await?;
                body.lines().find_map(|line| {
                    let (series, value) = line.strip_prefix(name.as_str())?.rsplit_once(' ')?;
                    let present = labels.iter().all(|l| series.split(',').any(|s| s.trim_end_matches('}') == l));
                    present.then(|| value.parse().ok()).flatten()
                })
            })
        }
    }

    pub fn process(&mut self, service: &str) -> &mut Process {
        self.procs.iter_mut().rev().find(|p| p.name == service).unwrap()
    }

    pub async fn restart_after_kill9(&mut self, service: &'static str) {
        let replica = self.kill9_for_good(service);
        self.spawn_replica(service, replica).await;
    }

    /// kill -9 of the newest process of `service`, not restarted; returns its replica number.
    pub fn kill9_for_good(&mut self, service: &str) -> usize {
        let index = self.procs.iter().rposition(|p| p.name == service).unwrap();
        let mut process = self.procs.remove(index);
        process.kill9();
        process.replica
    }

    /// Calls as whichever role each RPC needs.
    pub async fn channel(&mut self, service: &str) -> super::Authed {
        let url = self.process(service).grpc.clone();
        self.auth.fitting(channel(&url).await)
    }

    /// Which services have exited (with their status), e.g. crashed on a broker restart.
    pub fn exited(&mut self) -> Vec<String> {
        self.procs
            .iter_mut()
            .filter_map(|p| p.child.try_wait().ok().flatten().map(|status| format!("{} ({status})", p.name)))
            .collect()
    }

    pub fn logs(&self) -> String {
        self.procs.iter().map(|p| format!("--- {} ---\n{}", p.name, p.log_tail())).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.procs.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A lazily connected channel: a client made from it reconnects after a server restart.
pub async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_owned()).unwrap().connect_lazy()
}

/// Waits up to 90 s until `process` is ready; its log tail if it exited or never got ready.
async fn wait_until_ready(process: &mut Process) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        if super::http_get(&process.ops).await.is_some_and(|(code, _)| code == 200) {
            return Ok(());
        }
        if process.child.try_wait().ok().flatten().is_some() || tokio::time::Instant::now() >= deadline {
            return Err(process.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
