//! Capacity end to end in embedded mode through gRPC: dynamic capacity (R8.2, R8.3, R8.7,
//! invariant 5: a conversation that goes quiet frees room and the waiting one is assigned at
//! once), the agent's load as GetAgentLoad shows it, warm-up (R8.12: one at once, the next
//! after the interval), manual-SLA capacity reduction (R8.15-R8.17) and auto unassign (R8.23: an
//! unanswered consumer goes to another agent).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use switchyard_proto::admin::v1::{
    AccountRouting, AutoUnassign, CapacityPolicy, CapacityRelief, ExplainRoutingRequest, GetQueueRequest,
    SetAccountRoutingRequest, Warmup,
};
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::capacity::v1::{GetAgentLoadRequest, GetAgentLoadResponse, GetLoadMetricsRequest};
use switchyard_proto::connectors::v1 as conn;

async fn set_capacity(cluster: &Cluster, capacity: CapacityPolicy) {
    let account = AccountRouting { capacity: Some(capacity), ..Default::default() };
    let request = SetAccountRoutingRequest { account_id: "acme".into(), account: Some(account), expected_revision: 0 };
    cluster.routing_admin().await.set_account_routing(request).await.unwrap();
}

async fn load_of(cluster: &Cluster, agent: &str) -> GetAgentLoadResponse {
    let request = GetAgentLoadRequest { account_id: "acme".into(), agent_id: agent.into() };
    cluster.capacity_admin().await.get_agent_load(request).await.unwrap().into_inner()
}

fn weights(load: &GetAgentLoadResponse) -> Vec<(String, f64)> {
    let mut held: Vec<_> = load.conversations.iter().map(|c| (c.conversation_id.clone(), c.weight)).collect();
    held.sort_by(|a, b| a.0.cmp(&b.0));
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_gone_quiet_weighs_0_1_and_frees_room_for_the_waiting_one_r8_3_invariant_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 1)]).await;
    // Inactive at once after the agent's answer (0s), so the test need not wait 4 minutes.
    let capacity = CapacityPolicy {
        active_weight: Some(1.0),
        inactive_weight: Some(0.1),
        time_to_inactive: Some(prost_types::Duration { seconds: 0, nanos: 0 }),
        ..Default::default()
    };
    set_capacity(&cluster, capacity).await;
    let mut stream = online(&cluster, "acme", "ann").await;
    let mut partner = cluster.connector().await;
    let first = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, first.conversation_id);
    let second = partner.open_conversation(open("acme", "lee", "sales", "")).await.unwrap().into_inner();
    // Max 1 with headroom 0.5: a second full conversation does not fit (1.0 + 1.0 > 1.5).
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    let send = agentpb::SendMessageRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        conversation_id: first.conversation_id.clone(),
        text: "Let me check".into(),
    };
    cluster.agent().await.send_message(send).await.unwrap();
    // kim's conversation now weighs 0.1: 0.1 + 1.0 fits, and lee's comes without a sweep wait.
    let started = Instant::now();
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, second.conversation_id);
    assert!(started.elapsed() < Duration::from_secs(10));
    let load = load_of(&cluster, "ann").await;
    let expected = vec![(first.conversation_id.clone(), 0.1), (second.conversation_id.clone(), 1.0)];
    let mut expected = expected;
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(weights(&load), expected);
    assert_eq!((load.active_conversations, load.capacity_used), (1, 1.1));
    // R8.5: capacity used is the sum of the weights, the load that over the maximum (1).
    assert!((load.load - 1.1).abs() < 1e-9, "{}", load.load);
    // R8.11, R17.7: the account's figures: one ONLINE human at 1.1 of 1, no free slot.
    let request = GetLoadMetricsRequest { account_id: "acme".into() };
    let metrics = cluster.capacity_admin().await.get_load_metrics(request).await.unwrap().into_inner();
    let account = metrics.account.unwrap();
    assert_eq!((account.online_agents, account.away_agents, account.available_slots), (1, 0, 0.0));
    assert!((account.agent_load - 1.1).abs() < 1e-9 && (account.human_online_load - 1.1).abs() < 1e-9);
    assert!(metrics.skills.contains_key("sales"));

    // kim writes again: full weight at once (R8.2); ann is over her max until one closes.
    let message = conn::PublishMessageRequest {
        account_id: "acme".into(),
        conversation_id: first.conversation_id.clone(),
        text: "still there?".into(),
        ..Default::default()
    };
    partner.publish_message(message).await.unwrap();
    wait_until(|| async { load_of(&cluster, "ann").await.capacity_used == 2.0 }).await;
    assert_eq!(load_of(&cluster, "ann").await.active_conversations, 2);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_login_an_agent_warms_up_one_at_once_and_one_per_interval_r8_12() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 3)]).await;
    let warmup = Warmup {
        enabled: true,
        interval: Some(prost_types::Duration { seconds: 15, nanos: 0 }),
        max_period: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
    };
    set_capacity(&cluster, CapacityPolicy { warmup: Some(warmup), ..Default::default() }).await;
    // A backlog of three waits when ann logs in.
    let mut partner = cluster.connector().await;
    for consumer in ["kim", "lee", "max"] {
        partner.open_conversation(open("acme", consumer, "sales", "")).await.unwrap();
    }
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 3 }).await;
    let logged_in = Instant::now();
    let mut stream = online(&cluster, "acme", "ann").await;
    expect_assigned(&mut stream).await;
    assert!(logged_in.elapsed() < Duration::from_secs(10), "the first at once");
    let load = load_of(&cluster, "ann").await;
    let status = load.warmup.expect("warming up");
    assert_eq!((status.taken, status.allowed_now), (1, 1));
    assert_eq!(status.next_step_at_ms - status.started_at_ms, 15_000);
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 2, "weights ignored: no second one yet");
    loop {
        match next_event(&mut stream, Duration::from_secs(30)).await {
            Some(agentpb::agent_event::Event::Assigned(_)) => break,
            Some(_) => continue,
            None => panic!("no second assignment within 30 s"),
        }
    }
    let second = logged_in.elapsed();
    assert!(second >= Duration::from_secs(14), "the second after the 15 s step, got {second:?}");
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 1);
    // The load gauges on /metrics (refreshed every 15 s): ann ONLINE with two of three.
    let url = format!("{}/metrics", cluster.ops["capacity"]);
    switchyard_testkit::wait_for("the load gauges", Duration::from_secs(40), || async {
        let body = http_get(&url).await.map(|(_, body)| body).unwrap_or_default();
        let online = body.lines().any(|l| {
            l.starts_with("switchyard_capacity_agents{")
                && l.contains("account=\"acme\"")
                && l.contains("state=\"online\"")
                && !l.contains("skill=")
                && l.ends_with(" 1")
        });
        let slots = body
            .lines()
            .any(|l| l.starts_with("switchyard_capacity_available_slots{account=\"acme\"") && l.ends_with(" 1"));
        (online && slots).then_some(())
    })
    .await
    .unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_consumer_is_handed_to_another_agent_after_the_wait_r8_23() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 1), ("bob", &["sales"], 1)]).await;
    let auto_unassign = AutoUnassign {
        after: Some(prost_types::Duration { seconds: 15, nanos: 0 }),
        online: true,
        ..Default::default()
    };
    set_capacity(&cluster, CapacityPolicy { auto_unassign: Some(auto_unassign), ..Default::default() }).await;
    let mut ann = online(&cluster, "acme", "ann").await;
    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut ann).await.conversation_id, opened.conversation_id);
    let assigned_at = Instant::now();
    // bob comes online; ann never answers.
    let mut bob = online(&cluster, "acme", "bob").await;
    loop {
        match next_event(&mut bob, Duration::from_secs(30)).await {
            Some(agentpb::agent_event::Event::Assigned(a)) => {
                assert_eq!(a.conversation_id, opened.conversation_id);
                break;
            }
            Some(_) => continue,
            None => panic!("not handed to bob within 30 s"),
        }
    }
    assert!(assigned_at.elapsed() >= Duration::from_secs(14), "not before the 15 s wait");
    let explain = ExplainRoutingRequest { account_id: "acme".into(), conversation_id: opened.conversation_id };
    let why = cluster.routing_admin().await.explain_routing(explain).await.unwrap().into_inner();
    assert!(why.decisions.iter().any(|d| d.kind == "queued" && d.reason == "auto_unassigned"), "{why:?}");
    cluster.stop().await;
}

/// R7.3: agents go AWAY with one of the account's away reasons (none: the system `default`);
/// the reason shows in the agent's load and in the account's metrics; an unknown one is refused
/// naming the field and the reasons there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_go_away_with_the_accounts_reasons_and_metrics_count_them_r7_3_r7_4() {
    use switchyard_proto::admin::v1::{AwayReason, GetRoutingConfigRequest};
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    let lunch = AwayReason { id: "lunch".into(), name: "Lunch break".into() };
    let account = AccountRouting { away_reasons: vec![lunch.clone()], ..Default::default() };
    let request = SetAccountRoutingRequest { account_id: "acme".into(), account: Some(account), expected_revision: 0 };
    cluster.routing_admin().await.set_account_routing(request).await.unwrap();
    let read = GetRoutingConfigRequest { account_id: "acme".into() };
    let read = cluster.routing_admin().await.get_routing_config(read).await.unwrap().into_inner();
    assert_eq!(read.config.unwrap().account.unwrap().away_reasons, vec![lunch]);
    let _ann = online(&cluster, "acme", "ann").await;
    let _bob = online(&cluster, "acme", "bob").await;
    let away = |agent: &str, reason: &str| agentpb::SetStateRequest {
        account_id: "acme".into(),
        agent_id: agent.into(),
        state: switchyard_proto::common::v1::AgentState::Away as i32,
        away_reason: reason.into(),
    };
    let mut agents = cluster.agent().await;
    let refused = agents.set_state(away("ann", "nap")).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("away_reason") && refused.message().contains("lunch, default"), "{refused:?}");
    let before_ms =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
    agents.set_state(away("ann", "lunch")).await.unwrap();
    agents.set_state(away("bob", "")).await.unwrap();
    assert_eq!(load_of(&cluster, "ann").await.away_reason, "lunch");
    // R7.4: the state's duration counts from when this state (and reason) was set.
    assert!(load_of(&cluster, "ann").await.state_since_ms >= before_ms);
    assert_eq!(load_of(&cluster, "bob").await.away_reason, "default");
    let request = GetLoadMetricsRequest { account_id: "acme".into() };
    let metrics = cluster.capacity_admin().await.get_load_metrics(request).await.unwrap().into_inner();
    let mut reasons: Vec<(String, u32)> = metrics.away_agents_by_reason.into_iter().collect();
    reasons.sort();
    assert_eq!(reasons, [("default".to_owned(), 1), ("lunch".to_owned(), 1)]);
    // Time per reason: ann's lunch is counted when it ends, under its reason.
    let back = agentpb::SetStateRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        state: switchyard_proto::common::v1::AgentState::Online as i32,
        away_reason: String::new(),
    };
    agents.set_state(back).await.unwrap();
    let (_, text) = http_get(&format!("{}/metrics", cluster.ops["connectors"])).await.unwrap();
    let lunch_ms: f64 = text
        .lines()
        .find(|l| l.starts_with("switchyard_connectors_away_milliseconds_total") && l.contains("reason=\"lunch\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no lunch time in {text}"));
    assert!(lunch_ms >= 1.0, "{lunch_ms}");
    let counted = |reason: &str| {
        let label = format!("reason=\"{reason}\"");
        text.lines().any(|l| l.starts_with("switchyard_connectors_away_milliseconds_total") && l.contains(&label))
    };
    assert!(!counted("default"), "bob is still away: his spell is not over");
    cluster.stop().await;
}

/// R8.15: with manual-SLA reduction on (threshold 1 min), an agent promising an answer in two
/// hours frees her room at once (the conversation weighs the inactive weight) and the waiting
/// conversation comes; R8.16: the consumer writing restores the full weight; R8.17: returned
/// to the queue, it waits non-actionable behind everything else until shortly before the due
/// time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_manual_response_time_frees_the_agent_until_the_consumer_writes_r8_15_r8_16_r8_17() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 1)]).await;
    let relief = CapacityRelief { enabled: true, threshold: Some(prost_types::Duration { seconds: 60, nanos: 0 }) };
    set_capacity(&cluster, CapacityPolicy { manual_sla_reduction: Some(relief), ..Default::default() }).await;
    let mut stream = online(&cluster, "acme", "ann").await;
    let mut partner = cluster.connector().await;
    let kim = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, kim.conversation_id);
    let lee = partner.open_conversation(open("acme", "lee", "sales", "")).await.unwrap().into_inner();
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    let now_ms =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let promise = agentpb::SetManualResponseTimeRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        conversation_id: kim.conversation_id.clone(),
        respond_by_ms: now_ms + 2 * 3_600_000,
    };
    cluster.agent().await.set_manual_response_time(promise).await.unwrap();
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, lee.conversation_id, "R8.15");
    let mut expected = vec![(kim.conversation_id.clone(), 0.1), (lee.conversation_id.clone(), 1.0)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(weights(&load_of(&cluster, "ann").await), expected);

    let message = conn::PublishMessageRequest {
        account_id: "acme".into(),
        conversation_id: kim.conversation_id.clone(),
        text: "any news?".into(),
        ..Default::default()
    };
    partner.publish_message(message).await.unwrap();
    wait_until(|| async { load_of(&cluster, "ann").await.capacity_used == 2.0 }).await;

    let back = agentpb::BackToQueueRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        conversation_id: kim.conversation_id.clone(),
    };
    cluster.agent().await.back_to_queue(back).await.unwrap();
    let queued = || async {
        let request = GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 10 };
        cluster.routing_admin().await.get_queue(request).await.unwrap().into_inner().entries
    };
    wait_until(|| async { queued().await.len() == 1 }).await;
    let entry = queued().await.remove(0);
    assert_eq!(entry.conversation_id, kim.conversation_id);
    assert_eq!((entry.actionable, entry.sla.as_str()), (false, "manual"), "R8.17: {entry:?}");
    cluster.stop().await;
}
