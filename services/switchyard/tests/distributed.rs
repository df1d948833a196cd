//! End to end in distributed mode: the compiled `switchyard` binary as five separate
//! processes against a real redis-server and a real Kafka-protocol broker (tansu), started
//! here on free loopback ports. 500 conversations over 20 agents with mixed skills and small
//! max-conversation limits: each conversation is assigned exactly once (invariant 1), no
//! agent ever holds more than its maximum (invariant 2), all are closed (invariant 3), and
//! every process stops cleanly with exit code 0 on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

const CONVERSATIONS: usize = 500;
const AGENTS: usize = 20;
const SKILLS: [&str; 4] = ["sales", "support", "billing", "vip"];
const ACCOUNT: &str = "acme";

struct Process {
    name: &'static str,
    child: Child,
    log: PathBuf,
    grpc: String,
    ops: String,
}

impl Process {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// kill -9: no shutdown, no offsets committed, no group left.
    fn kill9(&mut self) {
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

/// Redis, a Kafka broker and the five services as separate processes of the compiled binary.
struct Topology {
    redis: RedisServer,
    kafka: KafkaBroker,
    prefix: String,
    dir: PathBuf,
    config: PathBuf,
    procs: Vec<Process>,
    starts: usize,
}

impl Topology {
    async fn start() -> Self {
        let redis = RedisServer::start().await.expect("redis-server");
        let kafka = KafkaBroker::start().await.expect("kafka broker");
        let prefix = unique("e2e")[..16].to_owned();
        let dir = std::env::temp_dir().join(&prefix);
        std::fs::create_dir_all(&dir).unwrap();
        // A killed member is noticed after the session timeout: keep it short here.
        let config = dir.join("switchyard.toml");
        std::fs::write(
            &config,
            "[kafka.settings]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"1000\"\n",
        )
        .unwrap();
        let mut topology = Self { redis, kafka, prefix, dir, config, procs: Vec::new(), starts: 0 };
        for service in ["connectors", "router", "capacity", "automessages", "surveys"] {
            topology.spawn(service).await;
        }
        topology
    }

    async fn spawn(&mut self, service: &'static str) {
        let (grpc_port, ops_port) = (free_port(), free_port());
        self.starts += 1;
        let log = self.dir.join(format!("{service}.{}.log", self.starts));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg(service)
            .args(["--kafka", &self.kafka.bootstrap(), "--redis", &self.redis.url()])
            .args(["--grpc-addr", &format!("127.0.0.1:{grpc_port}"), "--ops-addr", &format!("127.0.0.1:{ops_port}")])
            .args(["--config", self.config.to_str().unwrap()])
            .env("SWITCHYARD_KAFKA__TOPIC_PREFIX", format!("{}.", self.prefix))
            .env("SWITCHYARD_KAFKA__PARTITIONS", "4")
            .env("SWITCHYARD_REDIS__KEY_PREFIX", &self.prefix)
            .env("SWITCHYARD_ROUTER__ASSIGN_INTERVAL", "500ms")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        let process = Process {
            name: service,
            child,
            log,
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            ops: format!("http://127.0.0.1:{ops_port}/health/readyz"),
        };
        let url = process.ops.clone();
        let ready = wait_for(&format!("{service} ready"), Duration::from_secs(90), || {
            let url = url.clone();
            async move { common::http_get(&url).await.filter(|(c, _)| *c == 200).map(|_| ()) }
        })
        .await;
        if let Err(err) = ready {
            panic!("{err}\n--- {service} log ---\n{}", process.log_tail());
        }
        self.procs.push(process);
    }

    fn process(&mut self, service: &str) -> &mut Process {
        self.procs.iter_mut().rev().find(|p| p.name == service).unwrap()
    }

    async fn restart_after_kill9(&mut self, service: &'static str) {
        self.process(service).kill9();
        self.procs.retain(|p| p.name != service);
        self.spawn(service).await;
    }

    async fn channel(&mut self, service: &str) -> tonic::transport::Channel {
        let url = self.process(service).grpc.clone();
        channel(&url).await
    }

    fn logs(&self) -> String {
        self.procs.iter().map(|p| format!("--- {} ---\n{}", p.name, p.log_tail())).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.procs.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_owned()).unwrap().connect().await.unwrap()
}

#[derive(Default)]
struct Observed {
    /// conversation -> agents it was assigned to (as seen on the agents' streams)
    assignments: HashMap<String, Vec<String>>,
    /// agent -> most conversations held at once
    max_held: HashMap<String, usize>,
    closed: HashSet<String>,
}

/// Account, skills and agents (mixed skills; max 1..=3). Returns each agent's max.
async fn provision(topology: &mut Topology, agents: usize) -> HashMap<String, usize> {
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

/// Simulated agents: log in ONLINE, take each assignment, reply, close after a short while.
async fn start_agents(
    connectors: &tonic::transport::Channel,
    agents: usize,
    observed: &Arc<Mutex<Observed>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for i in 0..agents {
        let agent_id = format!("agent-{i}");
        let mut client = AgentServiceClient::new(connectors.clone());
        client
            .login(agentpb::LoginRequest {
                account_id: ACCOUNT.into(),
                agent_id: agent_id.clone(),
                initial_state: AgentState::Online as i32,
            })
            .await
            .unwrap();
        let mut stream = client
            .subscribe(agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: agent_id.clone() })
            .await
            .unwrap()
            .into_inner();
        let observed = observed.clone();
        tasks.push(tokio::spawn(async move {
            let mut held: HashSet<String> = HashSet::new();
            while let Ok(Some(event)) = stream.message().await {
                let Some(agent_event::Event::Assigned(a)) = event.event else { continue };
                held.insert(a.conversation_id.clone());
                {
                    let mut o = observed.lock().unwrap();
                    o.assignments.entry(a.conversation_id.clone()).or_default().push(agent_id.clone());
                    let m = o.max_held.entry(agent_id.clone()).or_default();
                    *m = (*m).max(held.len());
                }
                let mut c = client.clone();
                let (agent, conv) = (agent_id.clone(), a.conversation_id.clone());
                c.send_message(agentpb::SendMessageRequest {
                    account_id: ACCOUNT.into(),
                    agent_id: agent.clone(),
                    conversation_id: conv.clone(),
                    text: "hello, how can I help?".into(),
                })
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                c.close_conversation(agentpb::CloseConversationRequest {
                    account_id: ACCOUNT.into(),
                    agent_id: agent,
                    conversation_id: conv.clone(),
                })
                .await
                .unwrap();
                held.remove(&conv);
                observed.lock().unwrap().closed.insert(conv);
            }
        }));
    }
    tasks
}

/// Opens `range` conversations (16 in flight), spread over the skills.
async fn open_conversations(connectors: &tonic::transport::Channel, range: std::ops::Range<usize>) -> Vec<String> {
    let partner = ConnectorServiceClient::new(connectors.clone());
    futures::stream::iter(range)
        .map(|i| {
            let mut p = partner.clone();
            async move {
                p.open_conversation(OpenConversationRequest {
                    account_id: ACCOUNT.into(),
                    channel: Channel::Whatsapp as i32,
                    consumer_id: format!("consumer-{i}"),
                    skill_id: SKILLS[i % 4].into(),
                    partner_message_id: format!("wamid-{i}"),
                    first_message: format!("message {i}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .conversation_id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

/// Waits until `n` conversations were closed by the agents; on timeout, fails with the logs.
async fn wait_closed(topology: &Topology, observed: &Arc<Mutex<Observed>>, n: usize, timeout: Duration) {
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

/// Invariants 1-3 as seen from outside: each conversation assigned exactly once, nobody over
/// max, queues empty, every agent's load released.
async fn assert_all_done(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_processes_route_500_conversations_over_20_agents_exactly_once() {
    let mut topology = Topology::start().await;
    let connectors = topology.channel("connectors").await;
    let maxima = provision(&mut topology, AGENTS).await;
    let observed = Arc::new(Mutex::new(Observed::default()));
    let agent_tasks = start_agents(&connectors, AGENTS, &observed).await;

    let started = Instant::now();
    let opened = open_conversations(&connectors, 0..CONVERSATIONS).await;
    assert_eq!(opened.iter().collect::<HashSet<_>>().len(), CONVERSATIONS);
    wait_closed(&topology, &observed, CONVERSATIONS, Duration::from_secs(240)).await;
    let elapsed = started.elapsed();
    assert_all_done(&mut topology, &observed, &opened, &maxima).await;
    eprintln!("routed and closed {CONVERSATIONS} conversations over {AGENTS} agents in {elapsed:?}");

    // SIGTERM: every process drains and exits 0.
    for t in agent_tasks {
        t.abort();
    }
    for p in &mut topology.procs {
        let status = Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
    for p in &mut topology.procs {
        let deadline = Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(status) = p.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(Instant::now() < deadline, "{} did not stop on SIGTERM\n{}", p.name, p.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(code, Some(0), "{} exit code\n{}", p.name, p.log_tail());
    }
}

/// Invariant 3 across kill -9: the router and the capacity manager die without warning
/// (no offsets committed, no group left) while conversations wait, and again while they are
/// being routed; after restarts every conversation is still assigned exactly once and closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_router_and_capacity_restart_and_lose_nothing() {
    const N: usize = 120;
    const AGENTS_HERE: usize = 8;
    let mut topology = Topology::start().await;
    let connectors = topology.channel("connectors").await;
    let maxima = provision(&mut topology, AGENTS_HERE).await;

    // Nobody online: half the conversations wait in their queues; then both die.
    let mut opened = open_conversations(&connectors, 0..N / 2).await;
    topology.restart_after_kill9("router").await;
    topology.restart_after_kill9("capacity").await;

    let observed = Arc::new(Mutex::new(Observed::default()));
    let agent_tasks = start_agents(&connectors, AGENTS_HERE, &observed).await;
    opened.extend(open_conversations(&connectors, N / 2..N).await);
    // Kill the router again in the middle of the work.
    wait_closed(&topology, &observed, N / 3, Duration::from_secs(120)).await;
    topology.restart_after_kill9("router").await;
    wait_closed(&topology, &observed, N, Duration::from_secs(180)).await;
    assert_all_done(&mut topology, &observed, &opened, &maxima).await;
    for t in agent_tasks {
        t.abort();
    }
}

use futures::StreamExt;

/// /health/readyz follows the backends: 200 while Kafka and Redis answer and consumers have
/// joined, 503 naming the state store while Redis is down, 200 again once it is back;
/// liveness stays up throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readiness_follows_the_backends() {
    let mut topology = Topology::start().await;
    let ready_url = topology.process("capacity").ops.clone();
    let live_url = ready_url.replace("/health/readyz", "/health/livez");
    let (code, body) = common::http_get(&ready_url).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"consumer capacity\":\"ok\""), "{body}");
    let status = |want: u16| {
        let url = ready_url.clone();
        move || {
            let url = url.clone();
            async move { common::http_get(&url).await.filter(|(c, _)| *c == want) }
        }
    };

    let port = topology.redis.port();
    let stopped = std::mem::replace(&mut topology.redis, RedisServer::start().await.unwrap());
    drop(stopped);
    let (_, body) = wait_for("readiness to drop", Duration::from_secs(30), status(503)).await.unwrap();
    assert!(body.contains("state_store"), "{body}");
    assert_eq!(common::http_get(&live_url).await.unwrap().0, 200, "liveness does not depend on backends");

    topology.redis = RedisServer::start_on(port).await.unwrap();
    wait_for("readiness to come back", Duration::from_secs(30), status(200)).await.unwrap();
}

/// `switchyard topics` (the Helm pre-install hook and the local runner use it) creates every
/// topic with the configured partitions and exits 0; without Kafka it exits 2 naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topics_subcommand_creates_every_topic_and_exits() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_switchyard")).arg("topics").env_remove("SWITCHYARD_CONFIG").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kafka.bootstrap_servers is required to create topics"));

    let kafka = KafkaBroker::start().await.expect("kafka broker");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["topics", "--kafka", &kafka.bootstrap()])
        .env("SWITCHYARD_KAFKA__PARTITIONS", "3")
        .env("SWITCHYARD_KAFKA__TOPIC_PREFIX", "hook.")
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bus = switchyard_platform::bus::KafkaBus::new(switchyard_platform::bus::KafkaSettings::new(kafka.bootstrap()))
        .unwrap();
    use switchyard_platform::bus::EventBus;
    for topic in ["hook.conversations", "hook.routing", "hook.assignments", "hook.agents"] {
        assert_eq!(bus.partition_count(topic).await.unwrap(), 3, "{topic}");
    }
}
