//! End to end in embedded mode (`switchyard up` on the in-memory bus and store), through the
//! public gRPC APIs only: the vertical slice of issue 2 and the bad-input rules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_kit::error::bad_request_field;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use switchyard_proto::capacity::v1::*;
use switchyard_proto::common::v1::{AgentState, Channel, Party};
use switchyard_proto::connectors::v1::{self as conn, outbound_event};
use tonic::Code;

/// The slice: open for skill S, queue, assign to the ONLINE agent with room, messages both
/// ways without the router, close frees capacity and the longest-waiting conversation is
/// assigned at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_is_routed_answered_and_closed_end_to_end() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 1)]).await;
    let mut partner = cluster.connector().await;
    let mut outbound = outbound_stream(&mut partner).await;

    // No agent online yet: the conversation waits in its queue.
    let mut req = open("acme", "consumer-1", "sales", "pm-1");
    req.first_message = "hi, I want to buy".into();
    let opened = partner.open_conversation(req).await.unwrap().into_inner();
    assert!(opened.created);
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    let mut alice = online(&cluster, "acme", "alice").await;
    let assigned = expect_assigned(&mut alice).await;
    assert_eq!(assigned.conversation_id, opened.conversation_id);
    assert_eq!(assigned.history.len(), 1);
    assert_eq!(assigned.history[0].text, "hi, I want to buy");
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 0);

    // Consumer writes: the agent's stream gets it.
    partner
        .publish_message(conn::PublishMessageRequest {
            account_id: "acme".into(),
            conversation_id: opened.conversation_id.clone(),
            text: "the blue one".into(),
            partner_message_id: "pm-2".into(),
        })
        .await
        .unwrap();
    match next_event(&mut alice, WAIT).await {
        Some(agent_event::Event::Message(m)) => {
            assert_eq!(m.text, "the blue one");
            assert_eq!(m.from, Party::Consumer as i32);
        }
        other => panic!("expected the consumer message, got {other:?}"),
    }

    // Agent replies: the partner's stream delivers it after the join.
    let mut agent_client = cluster.agent().await;
    agent_client
        .send_message(agentpb::SendMessageRequest {
            account_id: "acme".into(),
            agent_id: "alice".into(),
            conversation_id: opened.conversation_id.clone(),
            text: "great choice".into(),
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(WAIT, outbound.message()).await.unwrap().unwrap().unwrap();
        seen.push(event);
    }
    assert!(matches!(&seen[0].event, Some(outbound_event::Event::AgentJoined(j)) if j.agent_id == "alice"));
    assert!(matches!(&seen[1].event, Some(outbound_event::Event::Message(m)) if m.text == "great choice"));
    assert!(seen[1].sequence > seen[0].sequence);
    partner
        .ack_outbound(conn::AckOutboundRequest {
            account_id: "acme".into(),
            channel: Channel::Web as i32,
            sequence: seen[1].sequence,
        })
        .await
        .unwrap();

    // Alice is full (max 1): a second conversation waits.
    let second = partner.open_conversation(open("acme", "consumer-2", "sales", "pm-3")).await.unwrap().into_inner();
    let third = partner.open_conversation(open("acme", "consumer-3", "sales", "pm-4")).await.unwrap().into_inner();
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 2 }).await;

    // The agent closes: capacity frees and the longest-waiting one is hers at once.
    agent_client
        .close_conversation(agentpb::CloseConversationRequest {
            account_id: "acme".into(),
            agent_id: "alice".into(),
            conversation_id: opened.conversation_id.clone(),
        })
        .await
        .unwrap();
    // The close and the next assignment travel on different topics: either may come first.
    let (mut closed, mut next) = (None, None);
    while closed.is_none() || next.is_none() {
        match next_event(&mut alice, WAIT).await {
            Some(agent_event::Event::Closed(c)) => closed = Some(c.conversation_id),
            Some(agent_event::Event::Assigned(a)) => next = Some(a.conversation_id),
            other => panic!("expected the close and the next assignment, got {other:?}"),
        }
    }
    assert_eq!(closed.as_ref(), Some(&opened.conversation_id));
    assert_eq!(next.as_ref(), Some(&second.conversation_id), "the longest-waiting one");
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 1);

    // The partner closes it: she gets the third.
    partner
        .close_conversation(conn::CloseConversationRequest {
            account_id: "acme".into(),
            conversation_id: second.conversation_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(expect_assigned(&mut alice).await.conversation_id, third.conversation_id);

    // The partner stream, resumed after the ack, continues after the acknowledged sequence.
    drop(outbound);
    let mut resumed = outbound_stream(&mut partner).await;
    let next = tokio::time::timeout(WAIT, resumed.message()).await.unwrap().unwrap().unwrap();
    assert!(next.sequence > seen[1].sequence);

    let load = cluster
        .capacity_admin()
        .await
        .get_agent_load(GetAgentLoadRequest { account_id: "acme".into(), agent_id: "alice".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(load.conversation_ids, vec![third.conversation_id.clone()]);
    assert_eq!(load.capacity_used, 1.0);
    cluster.stop().await;
}

/// R6.2/R6.3: least loaded first, then longest idle; R7.1: only ONLINE agents receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_loaded_agent_first_and_away_agents_get_nothing() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("a1", &["sales"], 3), ("a2", &["sales"], 3), ("a3", &["sales"], 3)])
        .await;
    let mut s1 = online(&cluster, "acme", "a1").await;
    let mut s2 = online(&cluster, "acme", "a2").await;
    let mut s3 = online(&cluster, "acme", "a3").await;
    let mut agent_client = cluster.agent().await;
    agent_client
        .set_state(agentpb::SetStateRequest {
            account_id: "acme".into(),
            agent_id: "a3".into(),
            state: AgentState::Away as i32,
            away_reason: "lunch".into(),
        })
        .await
        .unwrap();
    // Wait until a3's AWAY is applied by capacity.
    common::wait_until(|| async {
        let load = cluster
            .capacity_admin()
            .await
            .get_agent_load(GetAgentLoadRequest { account_id: "acme".into(), agent_id: "a3".into() })
            .await
            .unwrap()
            .into_inner();
        load.state == AgentState::Away as i32
    })
    .await;
    let mut partner = cluster.connector().await;
    for i in 0..4 {
        partner.open_conversation(open("acme", &format!("c{i}"), "sales", &format!("m{i}"))).await.unwrap();
    }
    let mut per_agent = [0, 0];
    for (i, s) in [&mut s1, &mut s2].into_iter().enumerate() {
        for _ in 0..2 {
            expect_assigned(s).await;
            per_agent[i] += 1;
        }
    }
    assert_eq!(per_agent, [2, 2], "load is spread evenly");
    assert!(next_event(&mut s3, Duration::from_millis(500)).await.is_none(), "an AWAY agent gets nothing");
    cluster.stop().await;
}

/// Invariant 6: repeats of one partner message id and a burst of opens for one consumer
/// yield one conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_and_concurrent_opens_yield_one_conversation() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let partner = cluster.connector().await;
    let first = partner.clone().open_conversation(open("acme", "c1", "sales", "pm-1")).await.unwrap().into_inner();
    let again = partner.clone().open_conversation(open("acme", "c1", "sales", "pm-1")).await.unwrap().into_inner();
    assert_eq!(first.conversation_id, again.conversation_id);
    assert!(!again.created);

    let burst =
        (0..30).map(|i| {
            let mut p = partner.clone();
            async move {
                p.open_conversation(open("acme", "c2", "sales", &format!("burst-{i}"))).await.unwrap().into_inner()
            }
        });
    let results = futures::future::join_all(burst).await;
    let ids: std::collections::HashSet<_> = results.iter().map(|r| r.conversation_id.clone()).collect();
    assert_eq!(ids.len(), 1, "one conversation for the burst");
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 2 }).await;
    cluster.stop().await;
}

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
            agent: Some(AgentSpec { agent_id: "carol".into(), skill_ids: vec![], max_conversations: 0, bot: false }),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_request_field(&err).as_deref(), Some("agent.max_conversations"));
    cluster.stop().await;
}

/// Back to queue (R3.8, R6.4) and transfer to skill (R3.9) are atomic requeues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_queue_prefers_another_agent_and_transfer_moves_skill() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[("a1", &["sales"], 2), ("a2", &["sales", "support"], 2)])
        .await;
    let mut s1 = online(&cluster, "acme", "a1").await;
    let mut partner = cluster.connector().await;
    let conv = partner.open_conversation(open("acme", "c1", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut s1).await.conversation_id, conv.conversation_id);
    let mut s2 = online(&cluster, "acme", "a2").await;
    let mut agents = cluster.agent().await;
    agents
        .back_to_queue(agentpb::BackToQueueRequest {
            account_id: "acme".into(),
            agent_id: "a1".into(),
            conversation_id: conv.conversation_id.clone(),
        })
        .await
        .unwrap();
    assert!(matches!(next_event(&mut s1, WAIT).await, Some(agent_event::Event::Unassigned(_))));
    assert_eq!(expect_assigned(&mut s2).await.conversation_id, conv.conversation_id, "someone else takes it");

    agents
        .transfer_to_skill(agentpb::TransferToSkillRequest {
            account_id: "acme".into(),
            agent_id: "a2".into(),
            conversation_id: conv.conversation_id.clone(),
            skill_id: "support".into(),
        })
        .await
        .unwrap();
    assert!(matches!(next_event(&mut s2, WAIT).await, Some(agent_event::Event::Unassigned(_))));
    // Only a2 holds support: it comes back to a2 (avoided, but nobody else can take it).
    let again = expect_assigned(&mut s2).await;
    assert_eq!((again.conversation_id.as_str(), again.skill_id.as_str()), (conv.conversation_id.as_str(), "support"));
    cluster.stop().await;
}

/// Health: gRPC health answers SERVING and /health/livez is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_and_ops_endpoints_answer() {
    let cluster = Cluster::embedded().await;
    for service in ["connectors", "router", "capacity", "automessages", "surveys"] {
        let channel =
            tonic::transport::Channel::from_shared(cluster.grpc[service].clone()).unwrap().connect().await.unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let resp = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(resp.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        let (code, _) = common::http_get(&format!("{}/health/livez", cluster.ops[service])).await.unwrap();
        assert_eq!(code, 200);
        let (code, body) = common::http_get(&format!("{}/metrics", cluster.ops[service])).await.unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("switchyard_"), "{service} metrics: {body}");
    }
    // The gRPC layer counted the health checks above, by method and code.
    let (_, body) = common::http_get(&format!("{}/metrics", cluster.ops["router"])).await.unwrap();
    assert!(
        body.lines().any(|l| l.starts_with("switchyard_grpc_requests_total")
            && l.contains("method=\"grpc.health.v1.Health/Check\"")
            && l.contains("code=\"0\"")),
        "{body}"
    );
    cluster.stop().await;
}

/// Admin: skills are listed per account; agents are updated in place (skills, max) and the
/// router follows the new spec; unknown agents are NOT_FOUND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_skills_and_updates_agents() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[("a1", &["sales"], 1)]).await;
    let skills = cluster
        .routing_admin()
        .await
        .list_skills(ListSkillsRequest { account_id: "acme".into() })
        .await
        .unwrap()
        .into_inner()
        .skills;
    let mut ids: Vec<_> = skills.into_iter().map(|s| s.skill_id).collect();
    ids.sort();
    assert_eq!(ids, vec!["sales", "support"]);

    let mut capacity = cluster.capacity_admin().await;
    let spec = |max| AgentSpec {
        agent_id: "a1".into(),
        skill_ids: vec!["support".into()],
        max_conversations: max,
        bot: false,
    };
    capacity.update_agent(UpdateAgentRequest { account_id: "acme".into(), agent: Some(spec(2)) }).await.unwrap();
    let load = capacity
        .get_agent_load(GetAgentLoadRequest { account_id: "acme".into(), agent_id: "a1".into() })
        .await
        .unwrap()
        .into_inner();
    let agent = load.agent.unwrap();
    assert_eq!((agent.skill_ids, agent.max_conversations), (vec!["support".to_owned()], 2));
    let err = capacity
        .update_agent(UpdateAgentRequest {
            account_id: "acme".into(),
            agent: Some(AgentSpec { agent_id: "ghost".into(), ..spec(1) }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Routing follows the update: a support conversation now goes to a1, up to 2 at once.
    let mut stream = online(&cluster, "acme", "a1").await;
    let mut partner = cluster.connector().await;
    for i in 0..3 {
        partner.open_conversation(open("acme", &format!("c{i}"), "support", "")).await.unwrap();
    }
    expect_assigned(&mut stream).await;
    expect_assigned(&mut stream).await;
    common::wait_until(|| async { queue_depth(&cluster, "acme", "support").await == 1 }).await;
    cluster.stop().await;
}
