//! Simulated partners and agents for the distributed topology, behaving like real clients
//! under faults: calls retried while the answer is retryable, agent streams subscribed again
//! when they end. They provision an account, open conversations, take, answer and close them,
//! record what the agents saw, and check invariants 1-3 from outside.

use std::collections::{HashMap, HashSet};
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
use switchyard_testkit::wait_for;

use super::Topology;

pub const SKILLS: [&str; 4] = ["sales", "support", "billing", "vip"];
pub const ACCOUNT: &str = "acme";

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
                    group_id: String::new(),
                    nickname: String::new(),
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
    connectors: &super::super::Authed,
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
    client: AgentServiceClient<super::super::Authed>,
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
pub async fn open_conversations(connectors: &super::super::Authed, range: std::ops::Range<usize>) -> Vec<String> {
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
