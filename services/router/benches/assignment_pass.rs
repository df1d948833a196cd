//! Issue 11: the assignment pass on a skill with 10,000 queued conversations and 1,000 agents,
//! in µs of router CPU and Redis commands per assignment; beside it 1,000 queued over 1,000
//! and over 100 agents, to show the cost per assignment does not grow with the agents. Each
//! runs on a multi-thread tokio runtime (the router's) and, for comparison, on one thread.
//!
//! The engine runs as in production against a real redis-server (`RedisStore`), with the
//! assignment events going to the in-memory bus. Setup is not measured; the drain is
//! `Engine::assign_skill` called until every conversation is assigned, then checked.
//!
//! Router CPU: per-thread on-CPU time (`/proc/self/task/*/schedstat`, ns) and, as a coarse
//! cross-check, utime + stime of `/proc/self/stat` (clock ticks). Redis: `INFO commandstats` and
//! `INFO cpu` deltas. Commands a script runs are counted under their own names besides the
//! EVALSHA that ran them; every store call of the pass is a script, so EVALSHA (and EVAL or
//! SCRIPT, on a NOSCRIPT reload) are what the router sent and everything else ran inside
//! scripts. The probe's own INFO calls are left out.
//!
//! Run: `cargo bench -p switchyard-router --bench assignment_pass` (redis-server on PATH).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::try_join_all;
use switchyard_kit::{Platform, Topics};
use switchyard_platform::bus::{EventBus, MemoryBus};
use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{
    AgentSession, AgentSpec, AgentState, EnqueueOutcome, NewConversation, OpenOutcome, Placement, RedisStore,
    Retention, SkillRecord, StoreError,
};
use switchyard_platform::ManualClock;
use switchyard_router::engine::Engine;
use switchyard_router::RoutingRules;
use switchyard_testkit::RedisServer;

const ACCOUNT: &str = "bench";
const SKILL: &str = "sales";
const MAX_CONVERSATIONS: u32 = 12;
const START_MS: i64 = 1_700_000_000_000;
/// Store calls in flight at once during setup.
const SETUP_CHUNK: usize = 200;

/// Per command: (calls, µs of Redis time), from `INFO commandstats`.
type CommandStats = BTreeMap<String, (u64, u64)>;

struct Snapshot {
    at: Instant,
    thread_ns: BTreeMap<u32, u64>,
    ticks: u64,
    commands: CommandStats,
    redis_cpu_s: f64,
}

impl Snapshot {
    async fn take(probe: &mut redis::aio::MultiplexedConnection) -> Self {
        let info: String =
            redis::cmd("INFO").arg("commandstats").arg("cpu").query_async(probe).await.expect("INFO from redis");
        let mut commands = CommandStats::new();
        let mut redis_cpu_s = 0.0;
        for line in info.lines() {
            if let Some((name, fields)) = line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':')) {
                let field = |key: &str| -> u64 {
                    fields.split(',').find_map(|f| f.strip_prefix(key)).and_then(|v| v.parse().ok()).unwrap_or(0)
                };
                commands.insert(name.to_owned(), (field("calls="), field("usec=")));
            } else if let Some(("used_cpu_sys" | "used_cpu_user", v)) = line.split_once(':') {
                redis_cpu_s += v.trim().parse::<f64>().expect("redis cpu seconds");
            }
        }
        Self { at: Instant::now(), thread_ns: thread_ns(), ticks: process_ticks(), commands, redis_cpu_s }
    }
}

/// On-CPU time of each live thread of this process, ns (first field of its schedstat).
fn thread_ns() -> BTreeMap<u32, u64> {
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("list /proc/self/task").flatten() {
        let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else { continue };
        // A thread may exit between the listing and the read.
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            out.insert(tid, stat.split_whitespace().next().and_then(|ns| ns.parse().ok()).unwrap_or(0));
        }
    }
    out
}

/// utime + stime of the whole process in clock ticks (fields 14 and 15 of proc(5) stat).
fn process_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat has (comm)") + 2..].split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// One drain, measured and checked.
struct Report {
    runtime: &'static str,
    agents: usize,
    queued: usize,
    passes: usize,
    wall: Duration,
    cpu_ns: u64,
    cpu_ticks: u64,
    redis_cpu_s: f64,
    /// Redis commands of the drain (delta), without the probe's INFO.
    commands: CommandStats,
}

impl Report {
    fn per(&self, total: f64) -> f64 {
        total / self.queued as f64
    }

    fn calls(&self, client: bool) -> u64 {
        let sent_by_client = |name: &str| matches!(name, "evalsha" | "eval") || name.starts_with("script");
        self.commands.iter().filter(|(name, _)| sent_by_client(name) == client).map(|(_, (calls, _))| calls).sum()
    }
}

/// Creates an agent of one skill and logs it in ONLINE.
async fn online_agent(store: &RedisStore, agent_id: &str, skill: &str, max: u32) -> Result<bool, StoreError> {
    let spec = AgentSpec {
        agent_id: agent_id.into(),
        skill_ids: vec![skill.into()],
        max_conversations: max,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    };
    store.create_agent(ACCOUNT, &spec).await?;
    let session = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
    store.set_agent_session(ACCOUNT, agent_id, &session, START_MS).await
}

/// A new conversation of its own consumer on `skill`.
fn conversation(id: &str, skill: &str) -> NewConversation {
    NewConversation {
        conversation_id: id.into(),
        consumer_id: format!("consumer-{id}"),
        channel: 1,
        skill_id: skill.into(),
        language: String::new(),
        partner_message_id: String::new(),
        opened_at_ms: START_MS,
        profile: Default::default(),
        skill_reason: String::new(),
        skill_detail: String::new(),
    }
}

async fn setup(store: &RedisStore, agents: usize, queued: usize) {
    store.create_account(ACCOUNT, "Bench").await.expect("create account");
    let skill = SkillRecord { skill_id: SKILL.into(), name: "Sales".into() };
    store.create_skill(ACCOUNT, &skill).await.expect("create skill");
    for start in (0..agents).step_by(SETUP_CHUNK) {
        try_join_all(
            (start..agents.min(start + SETUP_CHUNK))
                .map(|i| async move { online_agent(store, &format!("agent-{i:05}"), SKILL, MAX_CONVERSATIONS).await }),
        )
        .await
        .expect("create and log in agents");
    }
    for start in (0..queued).step_by(SETUP_CHUNK) {
        let outcomes = try_join_all((start..queued.min(start + SETUP_CHUNK)).map(|i| async move {
            let new = conversation(&format!("conv-{i:06}"), SKILL);
            let opened = store.open_conversation(ACCOUNT, &new).await?;
            let due = START_MS + i as i64;
            let queued = store.enqueue(ACCOUNT, &new.conversation_id, SKILL, due, &Placement::by_due(due)).await?;
            Ok::<_, StoreError>((opened, queued))
        }))
        .await
        .expect("open and enqueue conversations");
        for (opened, queued) in outcomes {
            assert!(matches!((opened, queued), (OpenOutcome::Created(_), EnqueueOutcome::Queued)), "setup: not queued");
        }
    }
}

/// Loads the scripts of the pass (a NOSCRIPT reload would otherwise land in the drain) by
/// running one pass on a skill of its own: one agent, one conversation, none of them `sales`.
async fn warm_up(store: &RedisStore, engine: &Engine) {
    online_agent(store, "warm-up-agent", "warm-up", 1).await.expect("create and log in the warm-up agent");
    store
        .open_conversation(ACCOUNT, &conversation("warm-up-conv", "warm-up"))
        .await
        .expect("open warm-up conversation");
    store.enqueue(ACCOUNT, "warm-up-conv", "warm-up", START_MS, &Placement::by_due(START_MS)).await.expect("enqueue");
    let n = engine.assign_skill(ACCOUNT, "warm-up").await.expect("warm-up pass");
    assert_eq!(n, 1, "the warm-up pass assigns its one conversation");
}

async fn run(runtime: &'static str, agents: usize, queued: usize) -> Report {
    let server = RedisServer::start().await.expect("start redis-server (is it on PATH?)");
    let store = Arc::new(RedisStore::connect(&server.url(), "bench", Retention::default()).await.expect("connect"));
    let bus = Arc::new(MemoryBus::new());
    let topics = Topics::with_prefix("bench.");
    bus.ensure_topics(&topics.all(), 4).await.expect("create in-memory topics");
    let clock = Arc::new(ManualClock::new(START_MS));
    let platform = Platform::without_auth(bus, store.clone(), clock, topics, "bench");
    let engine = Engine::new(platform, RoutingRules::default(), Duration::from_secs(2));

    let setup_started = Instant::now();
    setup(&store, agents, queued).await;
    warm_up(&store, &engine).await;
    eprintln!("setup of {agents} agents / {queued} queued: {:.1}s", setup_started.elapsed().as_secs_f64());

    let client = redis::Client::open(server.url()).expect("redis url");
    let mut probe = client.get_multiplexed_async_connection().await.expect("probe connection");
    let before = Snapshot::take(&mut probe).await;
    let (mut assigned, mut passes) = (0, 0);
    while assigned < queued {
        let n = engine.assign_skill(ACCOUNT, SKILL).await.expect("assignment pass");
        passes += 1;
        if n == 0 {
            break;
        }
        assigned += n;
    }
    let after = Snapshot::take(&mut probe).await;

    // Check the result before reporting anything about it.
    let depth = store.queue_depth(ACCOUNT, SKILL).await.expect("queue depth");
    let records = store.agents_with_skill(ACCOUNT, SKILL).await.expect("agents");
    let loads: Vec<usize> = records.iter().map(|a| a.load.len()).collect();
    let distinct: BTreeSet<&str> = records.iter().flat_map(|a| a.load.iter().map(|(c, _)| c.as_str())).collect();
    let unannounced = store.unannounced_of(ACCOUNT, queued + 1).await.expect("unannounced").len();
    let (min, max) = (loads.iter().min().copied().unwrap_or(0), loads.iter().max().copied().unwrap_or(0));
    let total: usize = loads.iter().sum();
    println!(
        "check {agents} agents / {queued} queued: assigned {assigned} in {passes} passes, queue depth {depth}, \
         sum of agent loads {total}, distinct conversations {}, load per agent {min}..={max}, unannounced {unannounced}",
        distinct.len()
    );
    assert!(
        assigned == queued && depth == 0 && total == queued && distinct.len() == queued && unannounced == 0,
        "the drain is wrong"
    );
    assert!(records.len() == agents && max <= MAX_CONVERSATIONS as usize, "agents over capacity");

    let mut commands = CommandStats::new();
    for (name, &(calls, usec)) in &after.commands {
        let (calls0, usec0) = before.commands.get(name).copied().unwrap_or((0, 0));
        if name != "info" && calls > calls0 {
            commands.insert(name.clone(), (calls - calls0, usec - usec0));
        }
    }
    let cpu_ns = after.thread_ns.iter().map(|(tid, ns)| ns - before.thread_ns.get(tid).copied().unwrap_or(0)).sum();
    Report {
        runtime,
        agents,
        queued,
        passes,
        wall: after.at - before.at,
        cpu_ns,
        cpu_ticks: after.ticks - before.ticks,
        redis_cpu_s: after.redis_cpu_s - before.redis_cpu_s,
        commands,
    }
}

fn print(reports: &[Report]) {
    let tick_us = 1e6 / clock_ticks_per_second() as f64;
    println!("\n| runtime | agents | queued | passes | wall ms | wall µs/assign | router CPU µs/assign (threads) | router CPU µs/assign (/proc/self/stat) | redis-server CPU µs/assign | Redis cmds/assign: client (EVALSHA) | inside scripts | total |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in reports {
        let (client, inside) = (r.calls(true) as f64, r.calls(false) as f64);
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} |",
            r.runtime,
            r.agents,
            r.queued,
            r.passes,
            r.wall.as_secs_f64() * 1e3,
            r.per(r.wall.as_secs_f64() * 1e6),
            r.per(r.cpu_ns as f64 / 1e3),
            r.per(r.cpu_ticks as f64 * tick_us),
            r.per(r.redis_cpu_s * 1e6),
            r.per(client),
            r.per(inside),
            r.per(client + inside),
        );
    }
    // The same commands whatever the runtime: the first runtime's drains.
    let reports: Vec<&Report> = reports.iter().filter(|r| r.runtime == reports[0].runtime).collect();
    let mut names: Vec<&String> =
        reports.iter().flat_map(|r| r.commands.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    let first = &reports[0];
    names.sort_by_key(|n| std::cmp::Reverse(first.commands.get(*n).map_or(0, |c| c.0)));
    let header: String = reports.iter().map(|r| format!(" {}/{}: calls | µs |", r.agents, r.queued)).collect();
    println!(
        "\nPer assignment, by command (Redis-side µs from commandstats; EVALSHA's µs include its script's commands):\n"
    );
    println!("| command |{header}");
    println!("|---|{}", "---:|---:|".repeat(reports.len()));
    for name in names {
        let cells: String = reports
            .iter()
            .map(|r| {
                let (calls, usec) = r.commands.get(name).copied().unwrap_or((0, 0));
                format!(" {:.4} | {:.2} |", r.per(calls as f64), r.per(usec as f64))
            })
            .collect();
        println!("| {name} |{cells}");
    }
}

/// (agents, queued): issue 11's size, then the same queue over a tenth of the agents, so the
/// cost per assignment can be compared at equal queue size.
const SCENARIOS: [(usize, usize); 3] = [(1_000, 10_000), (1_000, 1_000), (100, 1_000)];

fn main() {
    let mut reports = Vec::new();
    // The router's runtime (actix on a multi-thread tokio runtime), then one thread for comparison.
    for (name, mut builder) in [
        ("multi-thread", tokio::runtime::Builder::new_multi_thread()),
        ("current-thread", tokio::runtime::Builder::new_current_thread()),
    ] {
        let runtime = builder.enable_all().build().expect("tokio runtime");
        for (agents, queued) in SCENARIOS {
            reports.push(runtime.block_on(run(name, agents, queued)));
        }
    }
    print(&reports);
}
