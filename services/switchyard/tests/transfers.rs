//! Transfers to an agent end to end in embedded mode, through gRPC (R12.2-R12.7): the target
//! gets the conversation (and nobody else does), an agent may not transfer to an AWAY agent
//! but a manager may (R12.3), and not to one already in the conversation (R12.7); the skill is
//! the current one when the target holds it (R12.5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_auth::Role;
use switchyard_proto::agent::v1::{self as agentpb, agent_service_client::AgentServiceClient};
use switchyard_proto::common::v1::AgentState;
use tonic::Code;

fn to_agent(conversation: &str, target: &str) -> agentpb::TransferToAgentRequest {
    agentpb::TransferToAgentRequest {
        account_id: "acme".into(),
        agent_id: "alice".into(),
        conversation_id: conversation.into(),
        target_agent_id: target.into(),
        skill_id: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_an_agent_reaches_only_that_agent_r12_2() {
    let cluster = Cluster::embedded().await;
    let agents = [
        ("alice", &["sales"][..], 2),
        ("bob", &["sales"][..], 2),
        ("carol", &["sales"][..], 5),
        ("dan", &["sales"][..], 2),
    ];
    setup_account(&cluster, "acme", &["sales"], &agents).await;
    let mut alice = online(&cluster, "acme", "alice").await;
    let opened =
        cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap().into_inner();
    expect_assigned(&mut alice).await;
    let mut bob = online(&cluster, "acme", "bob").await;
    // carol is ONLINE with more room than bob: the transfer still goes to bob only.
    let _carol = online(&cluster, "acme", "carol").await;
    let mut agent = cluster.agent().await;
    // R12.7: not to the agent that has it.
    let err = agent.transfer_to_agent(to_agent(&opened.conversation_id, "alice")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // R12.3: an agent may not transfer to an AWAY agent.
    let mut dan_client = cluster.agent().await;
    dan_client
        .login(agentpb::LoginRequest {
            account_id: "acme".into(),
            agent_id: "dan".into(),
            initial_state: AgentState::Away as i32,
        })
        .await
        .unwrap();
    let err = agent.transfer_to_agent(to_agent(&opened.conversation_id, "dan")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("R12.3"), "{}", err.message());
    agent.transfer_to_agent(to_agent(&opened.conversation_id, "bob")).await.unwrap();
    let assignment = expect_assigned(&mut bob).await;
    assert_eq!(
        (assignment.conversation_id.as_str(), assignment.skill_id.as_str()),
        (opened.conversation_id.as_str(), "sales")
    );
    // R12.9: the transfer and its reason are recorded (the skill did not change: no skill step).
    let why = cluster
        .routing_admin()
        .await
        .explain_routing(switchyard_proto::admin::v1::ExplainRoutingRequest {
            account_id: "acme".into(),
            conversation_id: opened.conversation_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let decisions: Vec<(&str, &str, &str)> =
        why.decisions.iter().map(|d| (d.kind.as_str(), d.reason.as_str(), d.agent_id.as_str())).collect();
    assert!(decisions.contains(&("queued", "transfer_to_agent", "alice")), "{decisions:?}");
    assert!(decisions.contains(&("assigned", "suggested_agent", "bob")), "{decisions:?}");
    cluster.stop().await;
}

/// R12.3: a manager may transfer to an AWAY agent; the conversation waits for that agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_may_transfer_to_an_away_agent_and_it_waits_r12_3() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 2), ("dan", &["sales"], 2)]).await;
    let mut alice = online(&cluster, "acme", "alice").await;
    let opened =
        cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap().into_inner();
    expect_assigned(&mut alice).await;
    let mut dan = cluster.agent().await;
    dan.login(agentpb::LoginRequest {
        account_id: "acme".into(),
        agent_id: "dan".into(),
        initial_state: AgentState::Away as i32,
    })
    .await
    .unwrap();
    let mut manager = AgentServiceClient::new(cluster.as_role("connectors", Role::AgentManager, "mia").await);
    manager.transfer_to_agent(to_agent(&opened.conversation_id, "dan")).await.unwrap();
    // Queued for dan; alice (who has room) does not get it back.
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;
    let request =
        switchyard_proto::admin::v1::GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 };
    let queue = cluster.routing_admin().await.get_queue(request).await.unwrap().into_inner();
    let entry = &queue.entries[0];
    assert_eq!(
        (entry.suggested_agent_id.as_str(), entry.reason.as_str(), entry.avoid_agent_id.as_str()),
        ("dan", "transfer_to_agent", "alice"),
        "the manager's queue view shows who it waits for"
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 1, "waits for dan");
    cluster.stop().await;
}
