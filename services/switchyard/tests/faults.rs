//! Faults under load (issue 8): the five services as processes against a Redis with an
//! append-only file and a broker that keeps its log (SQLite), with stable instance ids, as the
//! local runner and the chart run them. While conversations arrive at about 50/s, the broker
//! restarts, Redis restarts, or the router is killed again and again; every process must keep
//! running (no crash, whatever the broker sends back), and every conversation must still be
//! assigned exactly once, within every agent's maximum, and closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::topology::*;
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::GetQueueRequest;
use switchyard_testkit::wait_for;

const AGENTS: usize = 8;
/// Conversations per test, opened in chunks of 20 every 400 ms (about 50/s).
const CONVERSATIONS: usize = 400;

/// Opens the conversations at about 50/s in the background; returns their ids at the end.
fn open_at_50_per_second(connectors: common::Authed) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut opened = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(400));
        for chunk in (0..CONVERSATIONS).step_by(20) {
            tick.tick().await;
            opened.extend(open_conversations(&connectors, chunk..chunk + 20).await);
        }
        opened
    })
}

/// When the fault comes.
#[derive(PartialEq)]
enum When {
    /// 2 s into the arrivals.
    UnderLoad,
    /// Before the first arrival.
    BeforeLoad,
}

async fn run_under(fault: impl AsyncFnOnce(&mut Topology)) {
    run(When::UnderLoad, fault).await;
}

async fn run(when: When, fault: impl AsyncFnOnce(&mut Topology)) {
    run_with(Options { durable: true, ..Options::default() }, when, fault).await;
}

async fn run_with(options: Options, when: When, fault: impl AsyncFnOnce(&mut Topology)) {
    let mut topology = Topology::start_with(options).await;
    let connectors = topology.channel("connectors").await;
    let maxima = provision(&mut topology, AGENTS).await;
    let observed = Arc::new(Mutex::new(Observed::default()));
    let agents = start_agents(&connectors, AGENTS, &observed).await;
    let mut fault = Some(fault);
    if let Some(fault) = fault.take_if(|_| when == When::BeforeLoad) {
        fault(&mut topology).await;
    }
    let opening = open_at_50_per_second(connectors);
    if let Some(fault) = fault.take() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        fault(&mut topology).await;
    }
    let opened = opening.await.unwrap();
    wait_closed(&topology, &observed, CONVERSATIONS, Duration::from_secs(180)).await;
    let exited = topology.exited();
    assert!(exited.is_empty(), "processes died: {exited:?}\n{}", topology.logs());
    assert_all_done(&mut topology, &observed, &opened, &maxima).await;
    for agent in agents {
        agent.abort();
    }
}

/// The broker goes down without warning and comes back with its log: the services become
/// unready and stay alive, reconnect, and lose nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broker_restarts_under_load_and_nothing_is_lost() {
    run_under(async |topology: &mut Topology| {
        topology.kafka.restart(Duration::from_secs(2)).await.unwrap();
    })
    .await;
}

/// The same with an orderly broker stop (SIGTERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broker_stops_in_order_under_load_and_nothing_is_lost() {
    run_under(async |topology: &mut Topology| {
        topology.kafka.restart_gracefully(Duration::from_secs(2)).await.unwrap();
    })
    .await;
}

/// Redis goes down without warning (kill -9) and comes back from its append-only file:
/// every write it acknowledged is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarts_under_load_and_nothing_is_lost() {
    run_under(async |topology: &mut Topology| {
        topology.redis.restart(Duration::from_secs(2)).await.unwrap();
    })
    .await;
}

/// The router is killed three times, 3 s apart, each time restarted at once: with a stable
/// instance id it rejoins its group as itself and resumes its partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_router_killed_again_and_again_under_load_loses_nothing() {
    run_under(async |topology: &mut Topology| {
        for _ in 0..3 {
            topology.restart_after_kill9("router").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    })
    .await;
}

/// The capacity manager too: freed load must keep being released and announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capacity_killed_again_and_again_under_load_loses_nothing() {
    run_under(async |topology: &mut Topology| {
        for _ in 0..3 {
            topology.restart_after_kill9("capacity").await;
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    })
    .await;
}

/// Two routers share the skills; one is killed and never comes back. tansu 0.6 evicts the dead
/// member without starting a new generation, so its partitions stay unassigned until a member
/// joins: the survivor sees records of its group unread on partitions it does not own and
/// rejoins, and routes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_killed_for_good_leaves_its_partitions_to_the_survivor() {
    run(When::BeforeLoad, async |topology: &mut Topology| {
        topology.spawn_replica("router", 2).await;
        // Let the group settle with both members holding partitions.
        tokio::time::sleep(Duration::from_secs(5)).await;
        topology.kill9_for_good("router");
    })
    .await;
}

/// A broker that comes back without its log (in-memory storage: every topic gone) made the
/// processes crash inside librdkafka 2.12.1 (a leader update for a topic with neither id nor
/// name; patched in vendor/rdkafka-sys), and nothing created the topics again. The services
/// stay up, create their topics again, resubscribe, and route what arrives afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_that_comes_back_without_its_log_crashes_nothing() {
    run_with(Options { durable: false, ..Options::default() }, When::BeforeLoad, async |topology: &mut Topology| {
        topology.kafka.restart(Duration::from_secs(2)).await.unwrap();
        // The crash came 0.3-6.6 s after the broker was back.
        tokio::time::sleep(Duration::from_secs(8)).await;
        let exited = topology.exited();
        assert!(exited.is_empty(), "processes died after the broker restart: {exited:?}\n{}", topology.logs());
    })
    .await;
}

/// A durable timer due while its owner process is dead fires after the restart, once: an agent
/// logs out holding a conversation, capacity (the timer's owner) is killed before the logout
/// grace runs out and comes back after it; the restarted process fires the one timer, and the
/// conversation is queued again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_timer_due_while_its_owner_was_dead_fires_once_after_the_restart() {
    use switchyard_proto::agent::v1 as agentpb;
    use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
    const GRACE: &str = "[capacity]\nlogout_requeue_grace = \"2s\"\n";
    let mut topology = Topology::start_with(Options { durable: true, extra_config: GRACE }).await;
    let connectors = topology.channel("connectors").await;
    provision(&mut topology, 2).await;
    let mut agents = AgentServiceClient::new(connectors.clone());
    let login = |agent: &str| agentpb::LoginRequest {
        account_id: ACCOUNT.into(),
        agent_id: agent.into(),
        initial_state: switchyard_proto::common::v1::AgentState::Online as i32,
    };
    // agent-0 is the only agent of `sales` (SKILLS[0]), where conversation 0 opens.
    agents.login(login("agent-0")).await.unwrap();
    let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: "agent-0".into() };
    let mut stream = agents.subscribe(subscribe).await.unwrap().into_inner();
    let opened = open_conversations(&connectors, 0..1).await;
    let assigned = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.message()).await.unwrap().unwrap().unwrap();
        if let Some(agentpb::agent_event::Event::Assigned(a)) = event.event {
            break a.conversation_id;
        }
    };
    assert_eq!(assigned, opened[0]);

    agents.logout(agentpb::LogoutRequest { account_id: ACCOUNT.into(), agent_id: "agent-0".into() }).await.unwrap();
    topology.kill9_for_good("capacity");
    tokio::time::sleep(Duration::from_secs(3)).await; // the grace ran out while capacity was dead
    topology.spawn("capacity").await;
    let fired = topology.metric(
        "capacity",
        "switchyard_timers_fired_total",
        &["family=\"capacity.agents\"", "outcome=\"fired\""],
    );
    // The restarted member may join before the dead one is evicted, and tansu then leaves the
    // partitions unassigned; no records wait there, but the overdue timer shows it (after
    // 30 s), and the member rejoins.
    let fired = wait_for("the logout timer to fire in the restarted capacity", Duration::from_secs(90), || {
        let fired = fired.clone();
        async move { fired().await.filter(|n| *n >= 1.0) }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}\n{}", topology.logs()));
    assert_eq!(fired, 1.0, "fired once");
    let requeued = topology.metric("capacity", "switchyard_capacity_logout_requeued_total", &[]);
    assert_eq!(requeued().await, Some(1.0), "one conversation went back to its queue");
    // The router queued it again on `sales`, where no logged-in agent takes it.
    let admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    let depth = wait_for("the conversation queued again", Duration::from_secs(30), || {
        let mut admin = admin.clone();
        async move {
            let queue = GetQueueRequest { account_id: ACCOUNT.into(), skill_id: SKILLS[0].into(), limit: 0 };
            admin.get_queue(queue).await.ok().map(|r| r.into_inner().depth).filter(|d| *d == 1)
        }
    })
    .await;
    assert_eq!(depth.unwrap(), 1);
}

/// R6.5: an offer's expiry survives its router. The offer rings for agent-0, the router is
/// killed (kill -9) before the ring timeout and comes back after it: the restarted router fires
/// the durable timer, the offer rings out (agent-0 is told `expired`, its reservation freed)
/// and the conversation is back in its queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_offer_whose_router_died_rings_out_after_the_restart() {
    use switchyard_proto::admin::v1::{AccountRouting, AcdMode, ExplainRoutingRequest, SetAccountRoutingRequest};
    use switchyard_proto::agent::v1 as agentpb;
    use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
    let mut topology = Topology::start_with(Options { durable: true, extra_config: "" }).await;
    let connectors = topology.channel("connectors").await;
    provision(&mut topology, 2).await;
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    let ring_one = AccountRouting {
        acd_mode: AcdMode::RingOne as i32,
        ring_timeout: Some(prost_types::Duration { seconds: 5, nanos: 0 }),
        ..Default::default()
    };
    admin
        .set_account_routing(SetAccountRoutingRequest {
            account_id: ACCOUNT.into(),
            account: Some(ring_one),
            expected_revision: 0,
        })
        .await
        .unwrap();
    // The router caches the configuration for `router.config_refresh` (1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut agents = AgentServiceClient::new(connectors.clone());
    let login = agentpb::LoginRequest {
        account_id: ACCOUNT.into(),
        agent_id: "agent-0".into(),
        initial_state: switchyard_proto::common::v1::AgentState::Online as i32,
    };
    agents.login(login).await.unwrap();
    let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: "agent-0".into() };
    let mut stream = agents.subscribe(subscribe).await.unwrap().into_inner();
    let opened = open_conversations(&connectors, 0..1).await;
    let offer = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.message()).await.unwrap().unwrap().unwrap();
        if let Some(agentpb::agent_event::Event::Offer(o)) = event.event {
            break o;
        }
    };
    assert_eq!(offer.conversation_id, opened[0]);
    topology.kill9_for_good("router");
    tokio::time::sleep(Duration::from_secs(6)).await; // the ring timeout ran out while it was dead
    topology.spawn("router").await;
    let ended = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let event = stream.message().await.unwrap().unwrap();
            if let Some(agentpb::agent_event::Event::OfferEnded(e)) = event.event {
                break e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the offer never rang out after the restart\n{}", topology.logs()));
    assert_eq!((ended.offer_id.as_str(), ended.reason.as_str()), (offer.offer_id.as_str(), "expired"));
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    let why = admin
        .explain_routing(ExplainRoutingRequest { account_id: ACCOUNT.into(), conversation_id: opened[0].clone() })
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<&str> = why.decisions.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "expired").count(), 1, "rang out once: {kinds:?}");
    assert_eq!(why.status, "queued", "back in its queue (agent-0 is in the reject cooldown)");
}

/// R12.6: a transfer to an agent times out on its durable timer even when its router died.
/// agent-0 transfers its conversation to agent-1, who is BACK_SOON (reachable, but takes no new
/// conversations); agent-2, ONLINE on the destination skill with room, must not get it before
/// the maximum wait (1 min, the least allowed). The router is killed (kill -9) at once and comes
/// back after the wait ran out: the restarted router fires the timer and agent-2 gets the
/// conversation, recorded as `suggested_agent_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_to_an_agent_whose_router_died_times_out_after_the_restart() {
    use switchyard_proto::admin::v1::{AccountRouting, ExplainRoutingRequest, SetAccountRoutingRequest};
    use switchyard_proto::agent::v1 as agentpb;
    use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
    use switchyard_proto::common::v1::AgentState;
    let mut topology = Topology::start_with(Options { durable: true, extra_config: "" }).await;
    let connectors = topology.channel("connectors").await;
    // agent-0: sales, max 1; agent-1: support and billing; agent-2: billing and vip.
    provision(&mut topology, 3).await;
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    let wait = AccountRouting {
        transfer_to_agent_max_wait: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        ..Default::default()
    };
    let set = SetAccountRoutingRequest { account_id: ACCOUNT.into(), account: Some(wait), expected_revision: 0 };
    admin.set_account_routing(set).await.unwrap();
    let mut agents = AgentServiceClient::new(connectors.clone());
    let mut streams = Vec::new();
    for (agent, state) in
        [("agent-0", AgentState::Online), ("agent-1", AgentState::BackSoon), ("agent-2", AgentState::Online)]
    {
        let login =
            agentpb::LoginRequest { account_id: ACCOUNT.into(), agent_id: agent.into(), initial_state: state as i32 };
        agents.login(login).await.unwrap();
        let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: agent.into() };
        streams.push(agents.subscribe(subscribe).await.unwrap().into_inner());
    }
    // Conversation 0 is on sales: agent-0's.
    let opened = open_conversations(&connectors, 0..1).await;
    let first = next_assignment(&mut streams[0], Duration::from_secs(30)).await.expect("agent-0 gets it");
    assert_eq!(first.conversation_id, opened[0]);
    // The configuration is cached for `router.config_refresh` (1 s) before the transfer reads it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let transfer = agentpb::TransferToAgentRequest {
        account_id: ACCOUNT.into(),
        agent_id: "agent-0".into(),
        conversation_id: opened[0].clone(),
        target_agent_id: "agent-1".into(),
        skill_id: String::new(),
    };
    agents.transfer_to_agent(transfer).await.unwrap();
    let transferred_at = std::time::Instant::now();
    // R12.5: agent-1 does not hold sales: its first skill by id, billing.
    let depth = GetQueueRequest { account_id: ACCOUNT.into(), skill_id: "billing".into(), limit: 0 };
    wait_for("queued on billing", Duration::from_secs(30), || {
        let (mut admin, depth) = (admin.clone(), depth.clone());
        async move { admin.get_queue(depth).await.ok().map(|r| r.into_inner().depth).filter(|d| *d == 1) }
    })
    .await
    .expect("queued on billing for agent-1");
    topology.kill9_for_good("router");
    tokio::time::sleep(Duration::from_secs(62).saturating_sub(transferred_at.elapsed())).await;
    topology.spawn("router").await;
    let taken = next_assignment(&mut streams[2], Duration::from_secs(90))
        .await
        .unwrap_or_else(|| panic!("the transfer never timed out after the restart\n{}", topology.logs()));
    assert_eq!((taken.conversation_id.as_str(), taken.skill_id.as_str()), (opened[0].as_str(), "billing"));
    assert!(transferred_at.elapsed() >= Duration::from_secs(60), "not before the maximum wait");
    let mut admin = RoutingAdminServiceClient::new(topology.channel("router").await);
    let why = admin
        .explain_routing(ExplainRoutingRequest { account_id: ACCOUNT.into(), conversation_id: opened[0].clone() })
        .await
        .unwrap()
        .into_inner();
    let decisions: Vec<(&str, &str)> = why.decisions.iter().map(|d| (d.kind.as_str(), d.reason.as_str())).collect();
    assert!(decisions.contains(&("moved", "suggested_agent_timeout")), "{decisions:?}");
    assert_eq!(why.agent_id, "agent-2");
}

async fn next_assignment(
    stream: &mut tonic::Streaming<switchyard_proto::agent::v1::AgentEvent>,
    within: Duration,
) -> Option<switchyard_proto::agent::v1::Assignment> {
    use switchyard_proto::agent::v1::agent_event::Event;
    tokio::time::timeout(within, async {
        loop {
            if let Some(Event::Assigned(a)) = stream.message().await.unwrap().unwrap().event {
                break a;
            }
        }
    })
    .await
    .ok()
}
