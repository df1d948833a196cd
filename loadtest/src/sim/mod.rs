//! The simulation: sets up accounts, skills and agents, then plays the schedule. Simulated
//! consumers speak `ConnectorService` as a connector partner would (opens, messages, closes,
//! and one outbound stream per account); simulated agents and bots speak `AgentService`.
//! They behave like real clients when the target has trouble: calls are retried and streams
//! reopened as [`crate::retry`] says, and what arrives twice is counted once.
//!
//! Every message carries its intended send time (`lt:<conversation>:<n>:<µs>`), so whoever
//! receives it measures latency from when it was meant to leave, not from when a busy task
//! got round to sending it: a stall anywhere shows up in the numbers.

mod agent;
mod automessages;
mod consumer;
mod offer;
mod partner;
mod routing;
mod setup;
mod transfer;
mod urgent;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::GetQueueRequest;
use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use tokio::time::Instant;
use tonic::codegen::http::HeaderValue;
use tonic::transport::Channel;
use tonic::Status;

use crate::audit::{self, AgentInfo};
use crate::auth::{Conn, Credentials};
use crate::chaos::{self, ChaosPlan};
use crate::observe::{self, Anomaly, Display, Obs, Recorder};
use crate::result::RunResult;
use crate::retry::{self, Idempotence};
use crate::scenario::Scenario;
use crate::schedule::{self, Planned};
use crate::target::{self, Target};

/// Setup calls in flight at once.
const SETUP_CONCURRENCY: usize = 64;
/// One queue depth sample may take this long.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Options {
    pub target: Target,
    /// How the result names the target ("embedded", or a URL).
    pub target_label: String,
    pub display: Display,
    pub git_sha: String,
    /// Faults to inject during the run.
    pub chaos: Option<ChaosPlan>,
    /// How every client authenticates.
    pub credentials: Credentials,
}

/// Everything the simulated parties share. Read-only once the run starts.
struct Ctx {
    scenario: Scenario,
    plan: Vec<Planned>,
    accounts: Vec<String>,
    skills: Vec<String>,
    /// Proto `Channel` values by schedule channel index (`Planned::channel`).
    channels: Vec<i32>,
    agents: Vec<AgentInfo>,
    connectors: Vec<Channel>,
    credentials: Credentials,
    /// Each account's partner API key (`authorization` value), when partners use keys.
    partner_keys: Vec<Option<HeaderValue>>,
    recorder: Recorder,
    /// What the agents saw of offers (rare next to messages, so a lock is fine).
    offers: std::sync::Mutex<crate::offers::Tally>,
    /// What the agents know and did of transfers.
    transfers: std::sync::Mutex<transfer::Shared>,
    /// What the consumers' urgent marks came to.
    urgent: std::sync::Mutex<urgent::UrgentTally>,
    /// Start of arrivals: every intended time is relative to it.
    start: Instant,
}

impl Ctx {
    /// A partner's client of `account` on connection `i` (modulo the pool), with its
    /// credential.
    fn connector(&self, i: usize, account: usize) -> ConnectorServiceClient<Conn> {
        let channel = self.connectors[i % self.connectors.len()].clone();
        let key = self.partner_keys.get(account).and_then(Option::as_ref);
        ConnectorServiceClient::new(self.credentials.partner(channel, key))
    }
    /// An agent's client on connection `i`: its calls carry a token minted for the agent.
    fn agent_client(&self, i: usize) -> AgentServiceClient<Conn> {
        AgentServiceClient::new(self.credentials.minting(self.connectors[i % self.connectors.len()].clone()))
    }
    fn now_us(&self) -> u64 {
        Instant::now().saturating_duration_since(self.start).as_micros() as u64
    }
    fn at(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us)
    }
    fn since(&self, intended_us: u64) -> u64 {
        self.now_us().saturating_sub(intended_us)
    }

    /// One unary call as a real client makes it: retried as [`retry::call`] says, each retry
    /// recorded under `method`. The caller records a final failure (some are expected).
    async fn call<T, F, Fut>(&self, method: &'static str, idempotence: Idempotence, op: F) -> Result<T, Status>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        retry::call(idempotence, |status, _| self.recorder.retried(method, status), op).await.map(|r| r.into_inner())
    }

    /// Records how a stream ended or failed to open before it is reopened: a disconnect is
    /// only a reconnect; anything else is also a failure of `method`.
    fn stream_ended(&self, method: &'static str, end: Option<&Status>) {
        match end {
            None => self.recorder.reconnected(method, "ENDED"),
            Some(status) => {
                if !retry::is_disconnect(status) {
                    self.recorder.failed(method, status);
                }
                self.recorder.reconnected(method, retry::failure_name(status));
            }
        }
    }
}

/// A consumer id names its conversation's index in the schedule.
fn consumer_id(idx: usize) -> String {
    format!("c{idx}")
}
fn parse_consumer(id: &str) -> Option<usize> {
    id.strip_prefix('c')?.parse().ok()
}
fn text(idx: usize, n: u32, intended_us: u64) -> String {
    format!("lt:{idx}:{n}:{intended_us}")
}
/// (conversation index, message number, intended µs) from a message text.
fn parse_text(text: &str) -> Option<(usize, u32, u64)> {
    let mut parts = text.strip_prefix("lt:")?.split(':');
    let t = (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    parts.next().is_none().then_some(t)
}

/// The schedule index of a conversation an event names, if it belongs to this run and to
/// `account`; anything else is recorded as an anomaly.
fn known_conversation(ctx: &Ctx, consumer: &str, account: u32, conversation_id: &str) -> Option<usize> {
    match parse_consumer(consumer).filter(|i| *i < ctx.plan.len()) {
        Some(idx) if ctx.plan[idx].account == account => Some(idx),
        Some(_) => {
            ctx.recorder.record(Obs::Anomaly { check: Anomaly::ForeignAccount, id: conversation_id.to_owned() });
            None
        }
        None => {
            ctx.recorder.record(Obs::Anomaly {
                check: Anomaly::Unknown,
                id: format!("conversation {conversation_id} of consumer {consumer:?}"),
            });
            None
        }
    }
}

/// Plays `scenario` against `options.target` and returns the result with its audit.
pub async fn run(scenario: Scenario, options: Options) -> anyhow::Result<RunResult> {
    let tls = options.target.tls.as_deref();
    let connectors = target::connect("connectors", &options.target.connectors, tls).await?;
    let router = target::connect("router", &options.target.router, tls).await?;
    let capacity = target::connect("capacity", &options.target.capacity, tls).await?;
    let mut pool = vec![connectors];
    pool.extend(target::pool(&options.target.connectors, scenario.connections.saturating_sub(1), tls).await?);

    let run_id = run_id(scenario.seed);
    let accounts: Vec<String> = (0..scenario.accounts).map(|i| format!("{run_id}-{i}")).collect();
    let skills: Vec<String> = scenario.skills.iter().map(|s| s.id.clone()).collect();
    let mut agents = Vec::new();
    let mut online_at = Vec::new();
    for (a, _) in accounts.iter().enumerate() {
        for group in &scenario.agents {
            for n in 0..group.count {
                agents.push(AgentInfo {
                    account: a as u32,
                    id: format!("{}-{n}", group.name),
                    max_conversations: group.max_conversations,
                });
                online_at.push((group.online_at, group.skills.clone(), group.bot));
            }
        }
    }
    let setup_started = std::time::Instant::now();
    let credentials = options.credentials.clone();
    let router = credentials.minting(router);
    let capacity = credentials.minting(capacity);
    setup::setup(&scenario, &accounts, &agents, &online_at, router.clone(), capacity).await?;
    if let Some(rules) = &scenario.routing {
        routing::apply(rules, &accounts, router.clone()).await?;
    }
    routing::set_accounts(&scenario, &accounts, router.clone()).await?;
    if let Some(t) = &scenario.transfers {
        transfer::apply(t, &skills, &accounts, router.clone()).await?;
    }
    if let Some(section) = &scenario.automessages {
        let channel = target::connect("automessages", &options.target.automessages, tls).await?;
        automessages::apply(section, &accounts, credentials.minting(channel)).await?;
    }
    let channels: Vec<i32> =
        scenario.channel_names().iter().map(|c| crate::scenario::channel_value(c).unwrap_or(1)).collect();
    let partner_keys = setup::partner_keys(&credentials, &accounts, pool[0].clone()).await?;
    eprintln!(
        "setup: {} accounts, {} skills each, {} agents in {:.1} s; credentials: {}",
        accounts.len(),
        skills.len(),
        agents.len(),
        setup_started.elapsed().as_secs_f64(),
        credentials.label()
    );

    let plan = schedule::build(&scenario);
    let connector = |i: usize, account: usize| {
        let key = partner_keys.get(account).and_then(Option::as_ref);
        ConnectorServiceClient::new(credentials.partner(pool[i % pool.len()].clone(), key))
    };
    let setup = urgent::Setup {
        scenario: &scenario,
        plan: &plan,
        accounts: &accounts,
        skills: &skills,
        channels: &channels,
        connector: &connector,
    };
    let returning = urgent::returning_consumers(&setup).await?;
    if returning > 0 {
        eprintln!("setup: {returning} returning consumers (a prior conversation each) for the urgent marks");
    }
    let per_second = schedule::per_second(&plan);
    // Agents and partner streams connect before the first arrival.
    let start = Instant::now() + Duration::from_secs(1) + Duration::from_millis(agents.len() as u64 / 10);
    let (recorder, mut progress) = observe::spawn(plan.len(), per_second, start, options.display);
    let started_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now() + (start - Instant::now()));
    let ctx = Arc::new(Ctx {
        scenario: scenario.clone(),
        plan,
        accounts,
        skills,
        channels,
        agents,
        connectors: pool,
        credentials,
        partner_keys,
        recorder: recorder.clone(),
        offers: std::sync::Mutex::default(),
        transfers: std::sync::Mutex::default(),
        urgent: std::sync::Mutex::default(),
        start,
    });

    let mut background = tokio::task::JoinSet::new();
    // One partner per account and channel: each channel has its own outbound stream.
    for a in 0..ctx.accounts.len() {
        for &channel in &ctx.channels {
            let stream = partner::open_first(&ctx, a, channel).await?;
            background.spawn(partner::partner(ctx.clone(), a, channel, stream));
        }
    }
    let mut ready = Vec::new();
    for (i, (at, _, _)) in online_at.iter().enumerate() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        background.spawn(agent::agent(ctx.clone(), i, *at, tx));
        if at.is_zero() {
            ready.push(rx);
        }
    }
    for rx in ready {
        rx.await.context("an agent failed to log in")??;
    }
    background.spawn(sample_queue_depth(ctx.clone(), router.clone()));
    let mut chaos = options.chaos.clone().map(|plan| tokio::spawn(chaos::inject(plan, ctx.start, recorder.clone())));

    // Open loop: every arrival at its time, whatever happened to the ones before.
    let driver_ctx = ctx.clone();
    let driver = tokio::spawn(async move {
        let ctx = driver_ctx;
        for (idx, p) in ctx.plan.iter().enumerate() {
            let due = ctx.at(p.at_us);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            tokio::spawn(consumer::conversation(ctx.clone(), idx));
        }
    });
    let total = ctx.plan.len() as u64;
    let drain_timeout = scenario.drain_timeout;
    let play = async {
        driver.await.context("arrival driver")?;
        // Drain: wait for every conversation to finish, or for the drain timeout.
        let drained = tokio::time::timeout(drain_timeout, progress.wait_for(|p| p.finished >= total)).await;
        if drained.is_err() {
            eprintln!("drain timeout ({drain_timeout:?}) reached; unfinished conversations will be reported");
        }
        anyhow::Ok(())
    };
    tokio::pin!(play);
    // A failed restart command ends the run at once; otherwise the run waits for the last
    // restart to finish, so every fault is in the result.
    let chaos_ended = async {
        match chaos.as_mut() {
            Some(handle) => Some(handle.await),
            None => std::future::pending().await,
        }
    };
    let mut played = false;
    let chaos_ended = tokio::select! {
        done = &mut play => {
            done?;
            played = true;
            None
        }
        ended = chaos_ended => ended,
    };
    let chaos_ended = match (chaos_ended, chaos.take()) {
        (Some(ended), _) => Some(ended),
        (None, Some(handle)) => Some(handle.await),
        (None, None) => None,
    };
    match chaos_ended {
        Some(Ok(Err(err))) => {
            background.abort_all();
            return Err(err);
        }
        Some(Err(join)) => {
            background.abort_all();
            anyhow::bail!("chaos task: {join}");
        }
        Some(Ok(Ok(()))) | None => {}
    }
    // The faults may be over while the drain still goes on.
    if !played {
        play.await?;
    }
    let wall_s = ctx.start.elapsed().as_secs_f64();
    let final_depth = queue_depth(&ctx, router.clone(), true).await.ok();
    background.abort_all();
    let collected = recorder.finish().await?;
    let mut audit = audit::audit(&audit::Input {
        convs: &collected.convs,
        agents: &ctx.agents,
        anomalies: &collected.anomalies,
        failures: &collected.errors,
        final_queue_depth: final_depth,
        weighted: scenario.capacity.is_some(),
    });
    if let Some(capacity) = &scenario.capacity {
        let checks = crate::capacity_audit::judge(&collected.convs, &ctx.agents, &collected.logins, capacity);
        audit::add_checks(&mut audit, checks);
    }
    let (priority, offers) = match &scenario.routing {
        Some(rules) => {
            let tally = std::mem::take(&mut *ctx.offers());
            let explained = routing::explain(&ctx, rules, &collected.convs, &tally, router.clone()).await;
            audit::add_checks(&mut audit, explained.checks);
            (Some(explained.priority), explained.offers)
        }
        None => (None, None),
    };
    let transfers = match &scenario.transfers {
        Some(_) => {
            let (checks, summary) = transfer::explain(&ctx, &collected.convs, router).await;
            audit::add_checks(&mut audit, checks);
            Some(summary)
        }
        None => None,
    };
    let automessages = scenario.automessages.as_ref().map(|section| {
        let (checks, summary) = crate::automessages_audit::judge(&collected.convs, section);
        audit::add_checks(&mut audit, checks);
        summary
    });
    let chaos = options
        .chaos
        .as_ref()
        .map(|plan| chaos::summarize(plan, &collected.faults, &collected.per_second, &collected.timeline));
    let duration_s = scenario.duration.as_secs_f64();
    Ok(RunResult {
        scenario: scenario.name.clone(),
        git_sha: options.git_sha,
        started_at: started_at.to_string(),
        seed: scenario.seed,
        target: options.target_label,
        duration_s,
        wall_s,
        target_rate: total as f64 / duration_s,
        achieved_rate: collected.opens_sent as f64 / duration_s,
        counts: collected.counts,
        measures: collected.measures,
        errors: collected.errors,
        retries: collected.retries,
        reconnects: collected.reconnects,
        duplicates: collected.duplicates,
        timeline: collected.timeline,
        chaos,
        priority,
        offers,
        transfers,
        automessages,
        audit,
    })
}

/// Unique per run, so runs against the same target never share an account.
fn run_id(seed: u64) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("lt{:x}{:x}", (nanos as u64) & 0xff_ffff_ffff, seed & 0xff)
}

/// Sum of queue depths over every account and skill; the first failure if any read failed.
/// `retried`: read as a client would (the final read); otherwise one quick attempt (samples).
async fn queue_depth(ctx: &Ctx, router: Conn, retried: bool) -> Result<u64, Status> {
    let client = RoutingAdminServiceClient::new(router);
    let requests: Vec<(String, String)> =
        ctx.accounts.iter().flat_map(|a| ctx.skills.iter().map(move |s| (a.clone(), s.clone()))).collect();
    let depths: Vec<Result<u64, Status>> = stream::iter(requests)
        .map(|(account_id, skill_id)| {
            let client = client.clone();
            let request = GetQueueRequest { account_id, skill_id, limit: 1 };
            async move {
                let read = || {
                    let (mut client, request) = (client.clone(), request.clone());
                    async move { client.get_queue(request).await }
                };
                if retried {
                    ctx.call("GetQueue", Idempotence::Idempotent, read).await.map(|r| r.depth)
                } else {
                    match tokio::time::timeout(SAMPLE_TIMEOUT, read()).await {
                        Ok(answer) => answer.map(|r| r.into_inner().depth),
                        Err(_) => Err(Status::deadline_exceeded("queue depth sample timed out")),
                    }
                }
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    depths.into_iter().sum()
}

async fn sample_queue_depth(ctx: Arc<Ctx>, router: Conn) {
    let mut tick = tokio::time::interval_at(ctx.start, Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        match queue_depth(&ctx, router.clone(), false).await {
            Ok(depth) => ctx.recorder.record(Obs::QueueDepth { depth }),
            Err(status) => ctx.recorder.failed("GetQueue", &status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_texts_round_trip() {
        assert_eq!(parse_consumer(&consumer_id(42)), Some(42));
        assert_eq!(parse_consumer("x42"), None);
        assert_eq!(parse_text(&text(7, 3, 123_456)), Some((7, 3, 123_456)));
        assert_eq!(parse_text("lt:7:3"), None);
        assert_eq!(parse_text("lt:7:3:1:9"), None);
        assert_eq!(parse_text("hello"), None);
    }
}
