//! Capacity's durable timers survive a kill -9 (issue 12): capacity is killed while a weight is
//! due to drop (R8.3) and a warm-up step is pending (R8.12), and comes back after both came
//! due; the restarted process makes each change once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::topology::*;
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{AccountRouting, CapacityPolicy, SetAccountRoutingRequest, Warmup};
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
use switchyard_proto::capacity::v1::capacity_admin_service_client::CapacityAdminServiceClient;
use switchyard_proto::capacity::v1::GetAgentLoadRequest;
use switchyard_testkit::wait_for;

fn seconds(s: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: s, nanos: 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn weight_drops_and_warmup_steps_due_while_capacity_was_dead_happen_once_after_the_restart() {
    let mut topology = Topology::start_with(Options { durable: true, extra_config: "" }).await;
    let connectors = topology.channel("connectors").await;
    provision(&mut topology, 2).await;
    // Quiet after 5 s at 0.1; warm-up one conversation every 15 s.
    let capacity = CapacityPolicy {
        inactive_weight: Some(0.1),
        time_to_inactive: Some(seconds(5)),
        warmup: Some(Warmup { enabled: true, interval: Some(seconds(15)), ..Default::default() }),
        ..Default::default()
    };
    let account = AccountRouting { capacity: Some(capacity), ..Default::default() };
    let request = SetAccountRoutingRequest { account_id: ACCOUNT.into(), account: Some(account), expected_revision: 0 };
    RoutingAdminServiceClient::new(topology.channel("router").await).set_account_routing(request).await.unwrap();

    // agent-1 (max 2, support and billing) logs in: warm-up gives it conversation 1 at once and
    // conversation 5 (both support) only at the 15 s step.
    let mut agents = AgentServiceClient::new(connectors.clone());
    let login = agentpb::LoginRequest {
        account_id: ACCOUNT.into(),
        agent_id: "agent-1".into(),
        initial_state: switchyard_proto::common::v1::AgentState::Online as i32,
    };
    agents.login(login).await.unwrap();
    let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: "agent-1".into() };
    let mut stream = agents.subscribe(subscribe).await.unwrap().into_inner();
    let first = open_conversations(&connectors, 1..2).await.remove(0);
    let assigned = loop {
        let event = tokio::time::timeout(Duration::from_secs(30), stream.message()).await.unwrap().unwrap().unwrap();
        if let Some(agentpb::agent_event::Event::Assigned(a)) = event.event {
            break a.conversation_id;
        }
    };
    assert_eq!(assigned, first);
    let second = open_conversations(&connectors, 5..6).await.remove(0);
    // The agent answers: the drop is due 5 s later.
    let send = agentpb::SendMessageRequest {
        account_id: ACCOUNT.into(),
        agent_id: "agent-1".into(),
        conversation_id: first.clone(),
        text: "On it".into(),
    };
    agents.send_message(send).await.unwrap();
    // Capacity reads the login and the answer (and writes both timers) before it dies.
    tokio::time::sleep(Duration::from_secs(2)).await;
    topology.kill9_for_good("capacity");
    tokio::time::sleep(Duration::from_secs(16)).await; // both came due while capacity was dead
    topology.spawn("capacity").await;
    let load = CapacityAdminServiceClient::new(topology.channel("capacity").await);
    let request = GetAgentLoadRequest { account_id: ACCOUNT.into(), agent_id: "agent-1".into() };
    // The restarted member may join before the dead one is evicted (see faults.rs): up to 90 s.
    let held = wait_for("the drop and the step after the restart", Duration::from_secs(90), || {
        let (mut load, request, first) = (load.clone(), request.clone(), first.clone());
        async move {
            let load = load.get_agent_load(request).await.ok()?.into_inner();
            let quiet = load.conversations.iter().any(|c| c.conversation_id == first && (c.weight - 0.1).abs() < 1e-9);
            (quiet && load.conversations.len() == 2).then_some(load)
        }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}\n{}", topology.logs()));
    let mut ids: Vec<String> = held.conversations.iter().map(|c| c.conversation_id.clone()).collect();
    ids.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(ids, want);
    // Once: one drop to the inactive weight, and the warm-up step timer fired in the new process.
    let drops = topology.metric("capacity", "switchyard_capacity_weight_changes_total", &["to=\"inactive\""]);
    assert_eq!(drops().await, Some(1.0), "the weight dropped once");
    let steps = topology.metric(
        "capacity",
        "switchyard_timers_fired_total",
        &["family=\"capacity.warmup\"", "outcome=\"fired\""],
    );
    let fired = wait_for("the warm-up step timer", Duration::from_secs(90), || {
        let steps = steps.clone();
        async move { steps().await.filter(|n| *n >= 1.0) }
    })
    .await;
    let url = topology.process("capacity").ops.replace("/health/readyz", "/metrics");
    let body = common::http_get(&url).await.map(|(_, b)| b).unwrap_or_default();
    let lines: Vec<&str> =
        body.lines().filter(|l| l.contains("timer") || l.contains("partition") || l.contains("warm")).collect();
    let fired = fired.unwrap_or_else(|err| panic!("{err}\n{}\n{}", lines.join("\n"), topology.logs()));
    assert!(fired >= 1.0);
}
