//! Response times set by people, end to end in embedded mode through gRPC: the consumer's
//! urgent mark (R10.3: web only, from the second conversation, while waiting for an agent and
//! not overdue; it moves the conversation up its queue) and the agent's manual response time
//! (R10.8: it replaces the response time, is kept on a return to the queue, and consumer
//! messages before it do not restart it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_proto::admin::v1::{ExplainRoutingRequest, GetQueueRequest, QueuedConversation};
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::common::v1::Channel as ProtoChannel;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

const MIN_MS: i64 = 60_000;

fn urgent(conversation: &str) -> conn::MarkUrgentRequest {
    conn::MarkUrgentRequest { account_id: "acme".into(), conversation_id: conversation.into() }
}

async fn queue(cluster: &Cluster) -> Vec<QueuedConversation> {
    let mut admin = cluster.routing_admin().await;
    let request = GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 };
    admin.get_queue(request).await.unwrap().into_inner().entries
}

/// A conversation of a consumer the account has seen before (closed its first one).
async fn returning(
    partner: &mut conn::connector_service_client::ConnectorServiceClient<Authed>,
    consumer: &str,
) -> String {
    let first = partner.open_conversation(open("acme", consumer, "sales", "")).await.unwrap().into_inner();
    let close = conn::CloseConversationRequest { account_id: "acme".into(), conversation_id: first.conversation_id };
    partner.close_conversation(close).await.unwrap();
    partner.open_conversation(open("acme", consumer, "sales", "")).await.unwrap().into_inner().conversation_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_mark_moves_a_returning_web_consumer_up_the_queue_r10_3() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 1)]).await;
    let mut partner = cluster.connector().await;
    let older = returning(&mut partner, "kim").await;
    let newer = returning(&mut partner, "lee").await;
    // R10.3: not on a consumer's first conversation, not on other channels.
    let first = partner.open_conversation(open("acme", "new-consumer", "sales", "")).await.unwrap().into_inner();
    let sms =
        conn::OpenConversationRequest { channel: ProtoChannel::Sms as i32, ..open("acme", "+15550100", "sales", "") };
    let sms = partner.open_conversation(sms).await.unwrap().into_inner();
    wait_until(|| async { queue(&cluster).await.len() == 4 }).await;
    for (conversation, expected) in
        [(&first.conversation_id, "second conversation"), (&sms.conversation_id, "web messaging")]
    {
        let err = partner.mark_urgent(urgent(conversation)).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{}", err.message());
        assert!(err.message().contains(expected) && err.message().contains("R10.3"), "{}", err.message());
    }
    let err = partner.mark_urgent(urgent("no-such-conversation")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let order = |entries: Vec<QueuedConversation>| entries.into_iter().map(|e| e.conversation_id).collect::<Vec<_>>();
    let before = order(queue(&cluster).await);
    assert!(before.iter().position(|c| *c == older) < before.iter().position(|c| *c == newer));

    let due = partner.mark_urgent(urgent(&newer)).await.unwrap().into_inner().response_due_ms;
    // The urgent response time (10 min by default) from the consumer's wait.
    wait_until(|| async { queue(&cluster).await.iter().any(|e| e.conversation_id == newer && e.sla == "urgent") })
        .await;
    let entries = queue(&cluster).await;
    let marked = entries.iter().find(|e| e.conversation_id == newer).unwrap();
    assert_eq!(marked.due_ms, due);
    assert_eq!(marked.due_ms - marked.queued_at_ms, 10 * MIN_MS);
    let positions = order(entries);
    assert!(positions.iter().position(|c| *c == newer) < positions.iter().position(|c| *c == older));
    // Idempotent: marking again answers the same due time.
    assert_eq!(partner.mark_urgent(urgent(&newer)).await.unwrap().into_inner().response_due_ms, due);
    let why = cluster
        .routing_admin()
        .await
        .explain_routing(ExplainRoutingRequest { account_id: "acme".into(), conversation_id: newer.clone() })
        .await
        .unwrap()
        .into_inner();
    assert!(why.decisions.iter().any(|d| d.kind == "moved" && d.reason == "urgent" && d.sla == "urgent"));
    // The agent with one slot gets the urgent one first.
    let mut ann = online(&cluster, "acme", "ann").await;
    assert_eq!(expect_assigned(&mut ann).await.conversation_id, newer);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_response_time_replaces_the_sla_and_messages_do_not_restart_it_r10_8() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 1), ("bob", &["sales"], 1)]).await;
    let mut ann = online(&cluster, "acme", "ann").await;
    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    let conversation = opened.conversation_id.clone();
    expect_assigned(&mut ann).await;
    let mut agent = cluster.agent().await;
    let manual = |agent_id: &str, respond_by_ms: i64| agentpb::SetManualResponseTimeRequest {
        account_id: "acme".into(),
        agent_id: agent_id.into(),
        conversation_id: conversation.clone(),
        respond_by_ms,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for (respond_by, expected) in [(now - MIN_MS, "in the future"), (now + 31 * 24 * 60 * MIN_MS, "30 days")] {
        let err = agent.set_manual_response_time(manual("ann", respond_by)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("respond_by_ms") && err.message().contains(expected), "{}", err.message());
    }
    let _bob = online(&cluster, "acme", "bob").await;
    let err = agent.set_manual_response_time(manual("bob", now + 120 * MIN_MS)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "only the agent holding it");

    let respond_by = now + 120 * MIN_MS;
    agent.set_manual_response_time(manual("ann", respond_by)).await.unwrap();
    wait_until(|| async {
        let why = cluster
            .routing_admin()
            .await
            .explain_routing(ExplainRoutingRequest { account_id: "acme".into(), conversation_id: conversation.clone() })
            .await
            .unwrap()
            .into_inner();
        why.decisions.iter().any(|d| d.reason == "manual_sla" && d.due_ms == respond_by)
    })
    .await;
    // Back to the queue keeps it (nobody to take it: bob logs out, ann goes away).
    let logout = agentpb::LogoutRequest { account_id: "acme".into(), agent_id: "bob".into() };
    agent.logout(logout).await.unwrap();
    let back = agentpb::BackToQueueRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        conversation_id: conversation.clone(),
    };
    let away = agentpb::SetStateRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        state: switchyard_proto::common::v1::AgentState::Away as i32,
        away_reason: String::new(),
    };
    agent.set_state(away).await.unwrap();
    agent.back_to_queue(back).await.unwrap();
    wait_until(|| async { queue(&cluster).await.len() == 1 }).await;
    let entry = queue(&cluster).await.remove(0);
    assert_eq!((entry.sla.as_str(), entry.due_ms), ("manual", respond_by));
    // R10.8: a consumer message inside the window does not restart it.
    let message = conn::PublishMessageRequest {
        account_id: "acme".into(),
        conversation_id: conversation.clone(),
        text: "any news?".into(),
        ..Default::default()
    };
    partner.publish_message(message).await.unwrap();
    // Nothing to wait for when nothing changes: the embedded bus delivers within milliseconds
    // (the placement rule itself is unit-tested in the router with a controlled clock).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let entry = queue(&cluster).await.remove(0);
    assert_eq!((entry.sla.as_str(), entry.due_ms), ("manual", respond_by));
    cluster.stop().await;
}
