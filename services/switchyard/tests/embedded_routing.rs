//! End to end in embedded mode (`switchyard up` on the in-memory bus and store), through the
//! public gRPC APIs only: routing. The vertical slice of issue 2 (open, queue, assign, messages
//! both ways, close, the next one assigned), least loaded first and AWAY agents getting
//! nothing, repeated and concurrent opens yielding one conversation, back to queue and
//! transfer to skill.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use switchyard_proto::capacity::v1::*;
use switchyard_proto::common::v1::{AgentState, Channel, Party};
use switchyard_proto::connectors::v1::{self as conn, outbound_event};

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
            away_reason: String::new(),
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
