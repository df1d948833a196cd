//! End to end in embedded mode (`switchyard up` on the in-memory bus and store), through the
//! public gRPC APIs only: the bad-input rules. Bad input to the partner, agent and admin APIs
//! gets a precise status (the field at fault where there is one) and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_kit::error::bad_request_field;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::capacity::v1::*;
use switchyard_proto::common::v1::AgentState;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

/// Invariant 8: bad input gets a precise status and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_precise_status_and_changes_nothing() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 1), ("bob", &["sales"], 1)]).await;
    setup_account(&cluster, "other", &["sales"], &[]).await;
    let mut partner = cluster.connector().await;
    let mut agents = cluster.agent().await;
    let mut admin = cluster.routing_admin().await;
    let mut capacity = cluster.capacity_admin().await;

    let err = partner.open_conversation(open("nobody", "c1", "sales", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "unknown account");
    let err = partner.open_conversation(open("acme", "c1", "nope", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "unknown skill");
    let err = partner.open_conversation(open("acme", "", "sales", "")).await.unwrap_err();
    assert_eq!((err.code(), bad_request_field(&err).as_deref()), (Code::InvalidArgument, Some("consumer_id")));
    let err = partner.open_conversation(open("acme", &"x".repeat(200), "sales", "")).await.unwrap_err();
    assert_eq!((err.code(), bad_request_field(&err).as_deref()), (Code::InvalidArgument, Some("consumer_id")));
    let err = partner.open_conversation(open("acme", "c 1", "sales", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "malformed id");
    let mut no_channel = open("acme", "c1", "sales", "");
    no_channel.channel = 0;
    let err = partner.open_conversation(no_channel).await.unwrap_err();
    assert_eq!(bad_request_field(&err).as_deref(), Some("channel"));
    // None of these wrote anything: the consumer's first real open creates.
    let created = partner.open_conversation(open("acme", "c1", "sales", "")).await.unwrap().into_inner();
    assert!(created.created);
    // Routing is asynchronous: the open returns once the route command is published.
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    let err = partner
        .publish_message(conn::PublishMessageRequest {
            account_id: "acme".into(),
            conversation_id: created.conversation_id.clone(),
            text: "x".repeat(20_000),
            partner_message_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!((err.code(), bad_request_field(&err).as_deref()), (Code::InvalidArgument, Some("text")));
    // Invariant 7: another account does not see the conversation.
    let err = partner
        .publish_message(conn::PublishMessageRequest {
            account_id: "other".into(),
            conversation_id: created.conversation_id.clone(),
            text: "hello".into(),
            partner_message_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    partner
        .close_conversation(conn::CloseConversationRequest {
            account_id: "acme".into(),
            conversation_id: created.conversation_id.clone(),
        })
        .await
        .unwrap();
    let err = partner
        .publish_message(conn::PublishMessageRequest {
            account_id: "acme".into(),
            conversation_id: created.conversation_id.clone(),
            text: "still there?".into(),
            partner_message_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "message on a closed conversation");
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 0 }).await;

    // Agents.
    let err = agents
        .login(agentpb::LoginRequest { account_id: "acme".into(), agent_id: "ghost".into(), initial_state: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = agents
        .set_state(agentpb::SetStateRequest {
            account_id: "acme".into(),
            agent_id: "alice".into(),
            state: AgentState::Online as i32,
            away_reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "agent not logged in");
    let mut bob = online(&cluster, "acme", "bob").await;
    let err = agents
        .accept_offer(agentpb::AcceptOfferRequest {
            account_id: "acme".into(),
            agent_id: "bob".into(),
            offer_id: "offer-1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "an offer that is gone");
    let err = agents
        .set_state(agentpb::SetStateRequest {
            account_id: "acme".into(),
            agent_id: "bob".into(),
            state: AgentState::Online as i32,
            away_reason: "why".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_field(&err).as_deref(), Some("away_reason"));
    let conv = partner.open_conversation(open("acme", "c9", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut bob).await.conversation_id, conv.conversation_id);
    let mut alice_client = cluster.agent().await;
    alice_client
        .login(agentpb::LoginRequest { account_id: "acme".into(), agent_id: "alice".into(), initial_state: 0 })
        .await
        .unwrap();
    let err = alice_client
        .send_message(agentpb::SendMessageRequest {
            account_id: "acme".into(),
            agent_id: "alice".into(),
            conversation_id: conv.conversation_id.clone(),
            text: "mine now".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "not her conversation");
    let err = agents
        .transfer_to_skill(agentpb::TransferToSkillRequest {
            account_id: "acme".into(),
            agent_id: "bob".into(),
            conversation_id: conv.conversation_id.clone(),
            skill_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Admin.
    let err = admin
        .create_skill(CreateSkillRequest {
            account_id: "acme".into(),
            skill: Some(Skill { skill_id: "sales".into(), name: String::new() }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    let err = capacity
        .create_agent(CreateAgentRequest {
            account_id: "acme".into(),
            agent: Some(AgentSpec {
                agent_id: "carol".into(),
                skill_ids: vec!["sales".into(), "nope".into()],
                max_conversations: 2,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = capacity
        .get_agent_load(GetAgentLoadRequest { account_id: "acme".into(), agent_id: "carol".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "no partial write");
    let err = capacity
        .create_agent(CreateAgentRequest {
            account_id: "acme".into(),
            agent: Some(AgentSpec {
                agent_id: "carol".into(),
                skill_ids: vec![],
                max_conversations: 0,
                bot: false,
                group_id: String::new(),
                nickname: String::new(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_field(&err).as_deref(), Some("agent.max_conversations"));
    cluster.stop().await;
}
