//! The simulation: sets up accounts, skills and agents, then plays the schedule. Simulated
//! consumers speak `ConnectorService` as a connector partner would (opens, messages, closes,
//! and one outbound stream per account); simulated agents and bots speak `AgentService`.
//!
//! Every message carries its intended send time (`lt:<conversation>:<n>:<µs>`), so whoever
//! receives it measures latency from when it was meant to leave, not from when a busy task
//! got round to sending it: a stall anywhere shows up in the numbers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{CreateAccountRequest, CreateSkillRequest, GetQueueRequest, Skill};
use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use switchyard_proto::capacity::v1::capacity_admin_service_client::CapacityAdminServiceClient;
use switchyard_proto::capacity::v1::{AgentSpec, CreateAgentRequest};
use switchyard_proto::common::v1::{AgentState, Channel as ChannelKind, Party};
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use switchyard_proto::connectors::v1::{self as conn, outbound_event};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::audit::{self, AgentInfo};
use crate::observe::{self, Anomaly, Display, Obs, Recorder};
use crate::result::RunResult;
use crate::scenario::{Closer, Scenario};
use crate::schedule::{self, OpenKind, Planned};
use crate::target::{self, Target};

/// Setup calls in flight at once.
const SETUP_CONCURRENCY: usize = 64;
/// The partner acknowledges its outbound stream after this many events (or each second).
const ACK_EVERY: u64 = 256;

pub struct Options {
    pub target: Target,
    /// How the result names the target ("embedded", or a URL).
    pub target_label: String,
    pub display: Display,
    pub git_sha: String,
}

/// Everything the simulated parties share. Read-only once the run starts.
struct Ctx {
    scenario: Scenario,
    plan: Vec<Planned>,
    accounts: Vec<String>,
    skills: Vec<String>,
    agents: Vec<AgentInfo>,
    connectors: Vec<Channel>,
    recorder: Recorder,
    /// Start of arrivals: every intended time is relative to it.
    start: Instant,
}

impl Ctx {
    fn connector(&self, i: usize) -> ConnectorServiceClient<Channel> {
        ConnectorServiceClient::new(self.connectors[i % self.connectors.len()].clone())
    }
    fn agent_client(&self, i: usize) -> AgentServiceClient<Channel> {
        AgentServiceClient::new(self.connectors[i % self.connectors.len()].clone())
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

/// Plays `scenario` against `options.target` and returns the result with its audit.
pub async fn run(scenario: Scenario, options: Options) -> anyhow::Result<RunResult> {
    let connectors = target::connect("connectors", &options.target.connectors).await?;
    let router = target::connect("router", &options.target.router).await?;
    let capacity = target::connect("capacity", &options.target.capacity).await?;
    let mut pool = vec![connectors];
    pool.extend(target::pool(&options.target.connectors, scenario.connections.saturating_sub(1)).await?);

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
    setup(&scenario, &accounts, &agents, &online_at, router.clone(), capacity).await?;
    eprintln!(
        "setup: {} accounts, {} skills each, {} agents in {:.1} s",
        accounts.len(),
        skills.len(),
        agents.len(),
        setup_started.elapsed().as_secs_f64()
    );

    let plan = schedule::build(&scenario);
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
        agents,
        connectors: pool,
        recorder: recorder.clone(),
        start,
    });

    let mut background = tokio::task::JoinSet::new();
    for a in 0..ctx.accounts.len() {
        let stream = open_partner_stream(&ctx, a).await?;
        background.spawn(partner(ctx.clone(), a, stream));
    }
    let mut ready = Vec::new();
    for (i, (at, _, _)) in online_at.iter().enumerate() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        background.spawn(agent(ctx.clone(), i, *at, tx));
        if at.is_zero() {
            ready.push(rx);
        }
    }
    for rx in ready {
        rx.await.context("an agent failed to log in")??;
    }
    background.spawn(sample_queue_depth(ctx.clone(), router.clone()));

    // Open loop: every arrival at its time, whatever happened to the ones before.
    let driver_ctx = ctx.clone();
    let driver = tokio::spawn(async move {
        let ctx = driver_ctx;
        for (idx, p) in ctx.plan.iter().enumerate() {
            let due = ctx.at(p.at_us);
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            tokio::spawn(conversation(ctx.clone(), idx));
        }
    });
    driver.await.context("arrival driver")?;

    // Drain: wait for every conversation to finish, or for the drain timeout.
    let total = ctx.plan.len() as u64;
    let drained = tokio::time::timeout(scenario.drain_timeout, progress.wait_for(|p| p.finished >= total)).await;
    if drained.is_err() {
        eprintln!("drain timeout ({:?}) reached; unfinished conversations will be reported", scenario.drain_timeout);
    }
    let wall_s = ctx.start.elapsed().as_secs_f64();
    let final_depth = queue_depth(&ctx, router).await.ok();
    background.abort_all();
    let collected = recorder.finish().await?;
    let audit = audit::audit(&audit::Input {
        convs: &collected.convs,
        agents: &ctx.agents,
        anomalies: &collected.anomalies,
        final_queue_depth: final_depth,
    });
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
        timeline: collected.timeline,
        audit,
    })
}

/// Unique per run, so runs against the same target never share an account.
fn run_id(seed: u64) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("lt{:x}{:x}", (nanos as u64) & 0xff_ffff_ffff, seed & 0xff)
}

async fn setup(
    scenario: &Scenario,
    accounts: &[String],
    agents: &[AgentInfo],
    agent_skills: &[(Duration, Vec<String>, bool)],
    router: Channel,
    capacity: Channel,
) -> anyhow::Result<()> {
    let mut admin = RoutingAdminServiceClient::new(router);
    for account in accounts {
        admin
            .create_account(CreateAccountRequest {
                account_id: account.clone(),
                name: format!("loadtest {}", scenario.name),
            })
            .await
            .with_context(|| format!("creating account {account}"))?;
        for skill in &scenario.skills {
            admin
                .create_skill(CreateSkillRequest {
                    account_id: account.clone(),
                    skill: Some(Skill { skill_id: skill.id.clone(), name: skill.id.clone() }),
                })
                .await
                .with_context(|| format!("creating skill {} in {account}", skill.id))?;
        }
    }
    let capacity = CapacityAdminServiceClient::new(capacity);
    let results: Vec<anyhow::Result<()>> = stream::iter(agents.iter().zip(agent_skills))
        .map(|(agent, (_, skills, bot))| {
            let mut client = capacity.clone();
            let request = CreateAgentRequest {
                account_id: accounts[agent.account as usize].clone(),
                agent: Some(AgentSpec {
                    agent_id: agent.id.clone(),
                    skill_ids: skills.clone(),
                    max_conversations: agent.max_conversations,
                    bot: *bot,
                }),
            };
            async move {
                client.create_agent(request).await.with_context(|| format!("creating agent {}", agent.id))?;
                Ok(())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// One consumer: its open (or racing opens), further messages, and no more: the agent or the
/// partner side closes.
async fn conversation(ctx: Arc<Ctx>, idx: usize) {
    let p = ctx.plan[idx];
    let script = &ctx.scenario.script;
    let account = &ctx.accounts[p.account as usize];
    let opens = match p.kind {
        OpenKind::Single => 1,
        OpenKind::Duplicate => 2,
        OpenKind::Chatty => script.chatty_messages,
    };
    let requests = (0..opens).map(|k| {
        // A duplicate repeats the same partner message id and text; chatty opens are each
        // their own message.
        let n = if p.kind == OpenKind::Duplicate { 0 } else { k };
        conn::OpenConversationRequest {
            account_id: account.clone(),
            channel: ChannelKind::Web as i32,
            consumer_id: consumer_id(idx),
            skill_id: ctx.skills[p.skill as usize].clone(),
            partner_message_id: format!("p{idx}-{n}"),
            first_message: if script.first_message || p.kind == OpenKind::Chatty {
                text(idx, n, p.at_us)
            } else {
                String::new()
            },
            ..Default::default()
        }
    });
    ctx.recorder.record(Obs::OpenSent { intended_us: p.at_us, at_us: ctx.now_us() });
    let answers = futures::future::join_all(requests.map(|r| {
        let mut client = ctx.connector(idx);
        async move { client.open_conversation(r).await }
    }))
    .await;
    let mut opened = None;
    for (k, answer) in answers.into_iter().enumerate() {
        match answer {
            Ok(r) => {
                let r = r.into_inner();
                let latency_us = ctx.since(p.at_us);
                let has_text = script.first_message || p.kind == OpenKind::Chatty;
                if has_text {
                    let n = if p.kind == OpenKind::Duplicate { 0 } else { k as u32 };
                    ctx.recorder.record(Obs::ConsumerSent { idx, n });
                }
                opened.get_or_insert(r.conversation_id.clone());
                ctx.recorder.record(Obs::Opened {
                    idx,
                    conversation_id: r.conversation_id,
                    created: r.created,
                    latency_us,
                });
            }
            Err(status) => ctx.recorder.rpc_error("OpenConversation", &status),
        }
    }
    let Some(conversation_id) = opened else {
        ctx.recorder.record(Obs::OpenFailed { idx });
        return;
    };
    let first = match p.kind {
        OpenKind::Chatty => script.chatty_messages,
        _ => u32::from(script.first_message),
    };
    let opened_at = ctx.now_us();
    let mut client = ctx.connector(idx);
    for i in 0..script.consumer_messages {
        let intended = opened_at + script.consumer_gap.as_micros() as u64 * u64::from(i + 1);
        tokio::time::sleep_until(ctx.at(intended)).await;
        let n = first + i;
        let request = conn::PublishMessageRequest {
            account_id: account.clone(),
            conversation_id: conversation_id.clone(),
            text: text(idx, n, intended),
            partner_message_id: format!("p{idx}-{n}"),
        };
        match client.publish_message(request).await {
            Ok(_) => ctx.recorder.record(Obs::ConsumerSent { idx, n }),
            // A conversation the agent already closed refuses messages: expected, not counted.
            Err(status) if status.code() == tonic::Code::FailedPrecondition => break,
            Err(status) => ctx.recorder.rpc_error("PublishMessage", &status),
        }
    }
}

async fn open_partner_stream(ctx: &Ctx, account: usize) -> anyhow::Result<tonic::Streaming<conn::OutboundEvent>> {
    let request = conn::StreamOutboundRequest {
        account_id: ctx.accounts[account].clone(),
        channel: ChannelKind::Web as i32,
        from_sequence: None,
    };
    Ok(ctx
        .connector(account)
        .stream_outbound(request)
        .await
        .with_context(|| format!("opening the outbound stream of {}", ctx.accounts[account]))?
        .into_inner())
}

/// One account's connector partner: reads the outbound stream, times agent replies, closes
/// conversations when the script says the consumer does, and acknowledges what it read.
async fn partner(ctx: Arc<Ctx>, account: usize, mut stream: tonic::Streaming<conn::OutboundEvent>) {
    let script = &ctx.scenario.script;
    let mut last_sequence = 0;
    let mut acked = 0;
    let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let event = tokio::select! {
            event = stream.message() => event,
            _ = ack_tick.tick() => {
                if last_sequence > acked {
                    acked = last_sequence;
                    tokio::spawn(ack(ctx.clone(), account, acked));
                }
                continue;
            }
        };
        let event = match event {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(status) => {
                ctx.recorder.rpc_error("StreamOutbound", &status);
                return;
            }
        };
        if event.sequence <= last_sequence {
            ctx.recorder.record(Obs::Anomaly {
                check: Anomaly::OutOfOrder,
                id: format!("{} sequence {} after {last_sequence}", ctx.accounts[account], event.sequence),
            });
        }
        last_sequence = last_sequence.max(event.sequence);
        if last_sequence - acked >= ACK_EVERY {
            acked = last_sequence;
            tokio::spawn(ack(ctx.clone(), account, acked));
        }
        let Some(idx) = known_conversation(&ctx, &event.consumer_id, account as u32, &event.conversation_id) else {
            continue;
        };
        match event.event {
            Some(outbound_event::Event::Message(m)) if m.from == Party::Agent as i32 => {
                let Some((_, n, intended)) = parse_text(&m.text) else {
                    ctx.recorder.record(Obs::Anomaly { check: Anomaly::Unknown, id: format!("message {:?}", m.text) });
                    continue;
                };
                ctx.recorder.record(Obs::ReplyDelivered { idx, n, latency_us: ctx.since(intended) });
                if script.close_by == Closer::Consumer && n + 1 == script.agent_replies {
                    tokio::spawn(consumer_close(ctx.clone(), idx, event.conversation_id.clone()));
                }
            }
            Some(outbound_event::Event::Closed(_)) => ctx.recorder.record(Obs::ClosedSeen { idx }),
            _ => {}
        }
    }
}

async fn ack(ctx: Arc<Ctx>, account: usize, sequence: u64) {
    let request = conn::AckOutboundRequest {
        account_id: ctx.accounts[account].clone(),
        channel: ChannelKind::Web as i32,
        sequence,
    };
    if let Err(status) = ctx.connector(account).ack_outbound(request).await {
        ctx.recorder.rpc_error("AckOutbound", &status);
    }
}

async fn consumer_close(ctx: Arc<Ctx>, idx: usize, conversation_id: String) {
    let hold = ctx.scenario.script.hold;
    let intended = ctx.now_us() + hold.as_micros() as u64;
    tokio::time::sleep_until(ctx.at(intended)).await;
    ctx.recorder.record(Obs::CloseIssued { idx, at_us: ctx.now_us() });
    let account = ctx.accounts[ctx.plan[idx].account as usize].clone();
    let request = conn::CloseConversationRequest { account_id: account, conversation_id };
    if let Err(status) = ctx.connector(idx).close_conversation(request).await {
        ctx.recorder.rpc_error("CloseConversation", &status);
        ctx.recorder.record(Obs::CloseFailed { idx });
    }
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

/// One agent or bot: logs in ONLINE at its time, takes assignments, replies after thinking,
/// and closes when the script says the agent does.
async fn agent(ctx: Arc<Ctx>, me: usize, online_at: Duration, ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>) {
    if !online_at.is_zero() {
        tokio::time::sleep_until(ctx.start + online_at).await;
    }
    let info = &ctx.agents[me];
    let account = ctx.accounts[info.account as usize].clone();
    let mut client = ctx.agent_client(me);
    let login = async {
        client
            .login(agentpb::LoginRequest {
                account_id: account.clone(),
                agent_id: info.id.clone(),
                initial_state: AgentState::Online as i32,
            })
            .await
            .with_context(|| format!("logging in agent {} of {account}", info.id))?;
        let stream = client
            .subscribe(agentpb::SubscribeRequest { account_id: account.clone(), agent_id: info.id.clone() })
            .await
            .with_context(|| format!("subscribing agent {} of {account}", info.id))?;
        anyhow::Ok(stream.into_inner())
    };
    let mut stream = match login.await {
        Ok(stream) => {
            let _ = ready.send(Ok(()));
            stream
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    loop {
        let event = match stream.message().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(status) => {
                ctx.recorder.rpc_error("Subscribe", &status);
                return;
            }
        };
        match event.event {
            Some(agent_event::Event::Assigned(a)) => {
                let Some(idx) = known_conversation(&ctx, &a.consumer_id, info.account, &a.conversation_id) else {
                    continue;
                };
                let intended = ctx.plan[idx].at_us;
                let at_us = ctx.now_us();
                ctx.recorder.record(Obs::Assigned {
                    idx,
                    agent: me as u32,
                    conversation_id: a.conversation_id.clone(),
                    at_us,
                    latency_us: at_us.saturating_sub(intended),
                });
                for m in a.history.iter().filter(|m| m.from == Party::Consumer as i32) {
                    consumer_delivered(&ctx, me, &m.text);
                }
                tokio::spawn(work(ctx.clone(), me, idx, a.conversation_id, at_us));
            }
            Some(agent_event::Event::Message(m)) if m.from == Party::Consumer as i32 => {
                consumer_delivered(&ctx, me, &m.text)
            }
            _ => {}
        }
    }
}

fn consumer_delivered(ctx: &Ctx, agent: usize, text: &str) {
    match parse_text(text) {
        Some((idx, n, intended)) => {
            ctx.recorder.record(Obs::ConsumerDelivered { idx, n, agent: agent as u32, latency_us: ctx.since(intended) })
        }
        None => ctx.recorder.record(Obs::Anomaly { check: Anomaly::Unknown, id: format!("message {text:?}") }),
    }
}

/// The agent's side of one conversation: think, reply, and maybe close.
async fn work(ctx: Arc<Ctx>, me: usize, idx: usize, conversation_id: String, assigned_us: u64) {
    let script = &ctx.scenario.script;
    let info = &ctx.agents[me];
    let account = ctx.accounts[info.account as usize].clone();
    let mut client = ctx.agent_client(idx);
    let mut intended = assigned_us + script.agent_think.as_micros() as u64;
    for n in 0..script.agent_replies {
        if n > 0 {
            intended += script.reply_gap.as_micros() as u64;
        }
        tokio::time::sleep_until(ctx.at(intended)).await;
        let request = agentpb::SendMessageRequest {
            account_id: account.clone(),
            agent_id: info.id.clone(),
            conversation_id: conversation_id.clone(),
            text: text(idx, n, intended),
        };
        match client.send_message(request).await {
            Ok(_) => ctx.recorder.record(Obs::ReplySent { idx, n }),
            Err(status) => ctx.recorder.rpc_error("SendMessage", &status),
        }
    }
    if script.close_by != Closer::Agent {
        return;
    }
    tokio::time::sleep_until(ctx.at(intended + script.hold.as_micros() as u64)).await;
    ctx.recorder.record(Obs::CloseIssued { idx, at_us: ctx.now_us() });
    let request = agentpb::CloseConversationRequest { account_id: account, agent_id: info.id.clone(), conversation_id };
    if let Err(status) = client.close_conversation(request).await {
        ctx.recorder.rpc_error("AgentCloseConversation", &status);
        ctx.recorder.record(Obs::CloseFailed { idx });
    }
}

/// Sum of queue depths over every account and skill; the first failure if any read failed.
async fn queue_depth(ctx: &Ctx, router: Channel) -> Result<u64, tonic::Status> {
    let client = RoutingAdminServiceClient::new(router);
    let requests: Vec<(String, String)> =
        ctx.accounts.iter().flat_map(|a| ctx.skills.iter().map(move |s| (a.clone(), s.clone()))).collect();
    let depths: Vec<Result<u64, tonic::Status>> = stream::iter(requests)
        .map(|(account_id, skill_id)| {
            let mut client = client.clone();
            async move {
                let request = GetQueueRequest { account_id, skill_id, limit: 1 };
                client.get_queue(request).await.map(|r| r.into_inner().depth)
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    depths.into_iter().sum()
}

async fn sample_queue_depth(ctx: Arc<Ctx>, router: Channel) {
    let mut tick = tokio::time::interval_at(ctx.start, Duration::from_millis(500));
    loop {
        tick.tick().await;
        match queue_depth(&ctx, router.clone()).await {
            Ok(depth) => ctx.recorder.record(Obs::QueueDepth { depth }),
            Err(status) => ctx.recorder.rpc_error("GetQueue", &status),
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
