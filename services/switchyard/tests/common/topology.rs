//! The distributed topology for end-to-end tests: the compiled `switchyard` binary as five
//! processes against a real redis-server and Kafka-protocol broker (tansu) on free loopback
//! ports; and simulated partners and agents that behave like real clients under faults (they
//! retry what can be retried and reconnect their streams).

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use switchyard_proto::capacity::v1::capacity_admin_service_client::CapacityAdminServiceClient;
use switchyard_proto::capacity::v1::*;
use switchyard_proto::common::v1::{AgentState, Channel};
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use switchyard_proto::connectors::v1::OpenConversationRequest;
use switchyard_testkit::{free_port, unique, wait_for, KafkaBroker, RedisServer};

pub const SKILLS: [&str; 4] = ["sales", "support", "billing", "vip"];
pub const ACCOUNT: &str = "acme";

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
        std::fs::write(
            &config,
            format!(
                "[kafka.settings]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n{}",
                options.extra_config
            ),
        )
        .unwrap();
        let mut topology = Self { redis, kafka, prefix, dir, config, options, procs: Vec::new(), starts: 0 };
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

    pub async fn channel(&mut self, service: &str) -> tonic::transport::Channel {
        let url = self.process(service).grpc.clone();
        channel(&url).await
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

/// Calls `call` until it answers something other than a retryable failure (UNAVAILABLE or a
/// broken connection, as a real client would retry), at most for a minute.
pub async fn retrying<T, F, Fut>(what: &str, mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut delay = Duration::from_millis(50);
    loop {
        match call().await {
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                ) && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!(what, %status, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

#[derive(Default)]
pub struct Observed {
    /// conversation -> distinct agents it was assigned to (as seen on the agents' streams)
    pub assignments: HashMap<String, Vec<String>>,
    /// agent -> most conversations held at once
    pub max_held: HashMap<String, usize>,
    pub closed: HashSet<String>,
}

/// Account, skills and agents (mixed skills; max 1..=3). Returns each agent's max.
pub async fn provision(topology: &mut Topology, agents: usize) -> HashMap<String, usize> {
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    admin.create_account(CreateAccountRequest { account_id: ACCOUNT.into(), name: "Acme".into() }).await.unwrap();
    for s in SKILLS {
        admin
            .create_skill(CreateSkillRequest {
                account_id: ACCOUNT.into(),
                skill: Some(Skill { skill_id: s.into(), name: s.into() }),
            })
            .await
            .unwrap();
    }
    let mut capacity = CapacityAdminServiceClient::new(topology.channel("capacity").await);
    let mut maxima = HashMap::new();
    for i in 0..agents {
        let skills = vec![SKILLS[i % 4].to_string(), SKILLS[(i + 1) % 4].to_string()];
        let max = (i % 3 + 1) as u32;
        maxima.insert(format!("agent-{i}"), max as usize);
        capacity
            .create_agent(CreateAgentRequest {
                account_id: ACCOUNT.into(),
                agent: Some(AgentSpec {
                    agent_id: format!("agent-{i}"),
                    skill_ids: if i % 5 == 0 { vec![SKILLS[i % 4].to_string()] } else { skills },
                    max_conversations: max,
                    bot: i % 7 == 0,
                }),
            })
            .await
            .unwrap();
    }
    maxima
}

/// Simulated agents: log in ONLINE, take each assignment, reply, close after a short while;
/// like real agent workspaces they retry failed calls and subscribe again when the stream
/// ends (the snapshot repeats what they hold).
pub async fn start_agents(
    connectors: &tonic::transport::Channel,
    agents: usize,
    observed: &Arc<Mutex<Observed>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..agents {
        let agent_id = format!("agent-{i}");
        let client = AgentServiceClient::new(connectors.clone());
        let login = agentpb::LoginRequest {
            account_id: ACCOUNT.into(),
            agent_id: agent_id.clone(),
            initial_state: AgentState::Online as i32,
        };
        retrying("login", || {
            let (mut c, r) = (client.clone(), login.clone());
            async move { c.login(r).await }
        })
        .await
        .unwrap();
        let observed = observed.clone();
        tasks.push(tokio::spawn(agent(client, agent_id, login, observed)));
    }
    tasks
}

async fn agent(
    client: AgentServiceClient<tonic::transport::Channel>,
    agent_id: String,
    login: agentpb::LoginRequest,
    observed: Arc<Mutex<Observed>>,
) {
    let mut held: HashSet<String> = HashSet::new();
    loop {
        let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: agent_id.clone() };
        let mut stream = match retrying("subscribe", || {
            let (mut c, r) = (client.clone(), subscribe.clone());
            async move { c.subscribe(r).await }
        })
        .await
        {
            Ok(stream) => stream.into_inner(),
            Err(status) if status.code() == tonic::Code::FailedPrecondition => {
                // Logged out meanwhile (not by this test): log in again.
                let _ = retrying("login", || {
                    let (mut c, r) = (client.clone(), login.clone());
                    async move { c.login(r).await }
                })
                .await;
                continue;
            }
            Err(status) => panic!("{agent_id} cannot subscribe: {status:?}"),
        };
        while let Ok(Some(event)) = stream.message().await {
            let Some(agent_event::Event::Assigned(a)) = event.event else { continue };
            if !held.insert(a.conversation_id.clone()) {
                continue; // the snapshot after a reconnect repeats what the agent holds
            }
            {
                let mut o = observed.lock().unwrap();
                let agents = o.assignments.entry(a.conversation_id.clone()).or_default();
                if !agents.contains(&agent_id) {
                    agents.push(agent_id.clone());
                }
                let m = o.max_held.entry(agent_id.clone()).or_default();
                *m = (*m).max(held.len());
            }
            let conv = a.conversation_id.clone();
            let reply = agentpb::SendMessageRequest {
                account_id: ACCOUNT.into(),
                agent_id: agent_id.clone(),
                conversation_id: conv.clone(),
                text: "hello, how can I help?".into(),
            };
            retrying("reply", || {
                let (mut c, r) = (client.clone(), reply.clone());
                async move { c.send_message(r).await }
            })
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            let close = agentpb::CloseConversationRequest {
                account_id: ACCOUNT.into(),
                agent_id: agent_id.clone(),
                conversation_id: conv.clone(),
            };
            retrying("close", || {
                let (mut c, r) = (client.clone(), close.clone());
                async move { c.close_conversation(r).await }
            })
            .await
            .unwrap();
            held.remove(&conv);
            observed.lock().unwrap().closed.insert(conv);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens `range` conversations (16 in flight), spread over the skills; an open that fails
/// with UNAVAILABLE is retried (it carries a partner message id, so it is idempotent).
pub async fn open_conversations(connectors: &tonic::transport::Channel, range: std::ops::Range<usize>) -> Vec<String> {
    let partner = ConnectorServiceClient::new(connectors.clone());
    futures::stream::iter(range)
        .map(|i| {
            let partner = partner.clone();
            async move {
                let request = OpenConversationRequest {
                    account_id: ACCOUNT.into(),
                    channel: Channel::Whatsapp as i32,
                    consumer_id: format!("consumer-{i}"),
                    skill_id: SKILLS[i % 4].into(),
                    partner_message_id: format!("wamid-{i}"),
                    first_message: format!("message {i}"),
                    ..Default::default()
                };
                retrying("open", || {
                    let (mut c, r) = (partner.clone(), request.clone());
                    async move { c.open_conversation(r).await }
                })
                .await
                .unwrap_or_else(|status| panic!("open {i}: {status:?}"))
                .into_inner()
                .conversation_id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Waits until `n` conversations were closed by the agents; on timeout, fails with the logs.
pub async fn wait_closed(topology: &Topology, observed: &Arc<Mutex<Observed>>, n: usize, timeout: Duration) {
    let result = wait_for(&format!("{n} conversations closed"), timeout, || {
        let done = observed.lock().unwrap().closed.len() >= n;
        async move { done.then_some(()) }
    })
    .await;
    if let Err(err) = result {
        let o = observed.lock().unwrap();
        panic!("{err}: {} assigned, {} closed\n{}", o.assignments.len(), o.closed.len(), topology.logs());
    }
}

/// Invariants 1-3 as seen from outside: each conversation assigned to exactly one agent,
/// nobody over max, queues empty, every agent's load released.
pub async fn assert_all_done(
    topology: &mut Topology,
    observed: &Arc<Mutex<Observed>>,
    opened: &[String],
    maxima: &HashMap<String, usize>,
) {
    {
        let o = observed.lock().unwrap();
        for conv in opened {
            let agents = o.assignments.get(conv).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(agents.len(), 1, "conversation {conv} assigned to {agents:?}");
        }
        for (agent, held) in &o.max_held {
            assert!(*held <= maxima[agent], "{agent} held {held} > max {}", maxima[agent]);
        }
    }
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    for s in SKILLS {
        let depth = admin
            .get_queue(GetQueueRequest { account_id: ACCOUNT.into(), skill_id: s.into(), limit: 1 })
            .await
            .unwrap()
            .into_inner()
            .depth;
        assert_eq!(depth, 0, "queue {s}");
    }
    let capacity = CapacityAdminServiceClient::new(topology.channel("capacity").await);
    for agent_id in maxima.keys() {
        wait_for(&format!("{agent_id} load released"), Duration::from_secs(30), || {
            let mut c = capacity.clone();
            let agent_id = agent_id.clone();
            async move {
                let load = c
                    .get_agent_load(GetAgentLoadRequest { account_id: ACCOUNT.into(), agent_id })
                    .await
                    .ok()?
                    .into_inner();
                load.conversation_ids.is_empty().then_some(())
            }
        })
        .await
        .unwrap();
    }
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
