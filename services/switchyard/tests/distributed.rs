//! End to end in distributed mode: the compiled `switchyard` binary as five separate
//! processes against a real redis-server and a real Kafka-protocol broker (tansu), started
//! here on free loopback ports. 500 conversations over 20 agents with mixed skills and small
//! max-conversation limits: each conversation is assigned exactly once (invariant 1), no
//! agent ever holds more than its maximum (invariant 2), all are closed (invariant 3), and
//! every process stops cleanly with exit code 0 on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::topology::*;
use switchyard_testkit::{wait_for, KafkaBroker, RedisServer};

const CONVERSATIONS: usize = 500;
const AGENTS: usize = 20;

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
