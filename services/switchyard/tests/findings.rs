//! The findings of issue 8 ("tried from the outside"), each reproduced through the public
//! gRPC APIs, against the embedded mode and against a real redis-server and Kafka-protocol
//! broker (`embedded::<name>` and `real::<name>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard::Config;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::common::v1::{Channel, Party};
use switchyard_proto::connectors::v1::{self as conn, outbound_event};
use tonic::Code;
use tonic_types::StatusExt;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Embedded).await;
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Real).await;
                }
            )*
        }
    };
}

on_both!(
    consumer_text_is_stored_or_refused_never_dropped,
    idempotency_keys_are_scoped_to_channel_and_consumer,
    logout_ends_streams_and_requeues_after_the_grace,
    a_chatty_consumer_cannot_lock_an_agent_out,
    messages_are_limited_per_conversation_and_per_consumer_rate,
    an_ack_beyond_what_was_delivered_is_refused,
    one_truth_for_the_skill_and_closes_counted_once,
    an_agents_close_is_idempotent_and_frees_the_slot_once,
);

const ACCOUNT: &str = "acme";

async fn transcript(cluster: &Cluster, agent: &str, conversation: &str) -> Vec<String> {
    let mut client = cluster.agent().await;
    let mut after = 0;
    let mut texts = Vec::new();
    loop {
        let page = client
            .get_transcript(agentpb::GetTranscriptRequest {
                account_id: ACCOUNT.into(),
                agent_id: agent.into(),
                conversation_id: conversation.into(),
                after_sequence: after,
                page_size: 100,
            })
            .await
            .unwrap()
            .into_inner();
        texts.extend(page.messages.into_iter().map(|m| m.text));
        if page.next_after_sequence == 0 {
            return texts;
        }
        after = page.next_after_sequence;
    }
}

fn with_text(mut req: conn::OpenConversationRequest, text: &str) -> conn::OpenConversationRequest {
    req.first_message = text.into();
    req
}

/// Finding 1: `OpenConversation` with `first_message` and no `partner_message_id`, for a
/// consumer with an open conversation, answered OK and stored nothing.
async fn consumer_text_is_stored_or_refused_never_dropped(backend: Backend) {
    let cluster = Cluster::on(backend, |_| {}).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 3)]).await;
    let mut partner = cluster.connector().await;
    let first = partner.open_conversation(with_text(open(ACCOUNT, "+15550100", "sales", ""), "hi")).await.unwrap();
    let first = first.into_inner();
    assert!(first.created);
    for text in ["are you there?", "hello??"] {
        let again = partner.open_conversation(with_text(open(ACCOUNT, "+15550100", "sales", ""), text)).await.unwrap();
        let again = again.into_inner();
        assert_eq!((again.conversation_id.as_str(), again.created), (first.conversation_id.as_str(), false));
    }
    let mut stream = online(&cluster, ACCOUNT, "alice").await;
    let assignment = expect_assigned(&mut stream).await;
    assert_eq!(assignment.conversation_id, first.conversation_id);
    assert_eq!(transcript(&cluster, "alice", &first.conversation_id).await, ["hi", "are you there?", "hello??"]);
    cluster.stop().await;
}

/// Finding 2: consumer B opening with the partner message id consumer A used got A's
/// conversation, and B's text landed in A's transcript; after A's conversation closed,
/// consumer C got the closed conversation.
async fn idempotency_keys_are_scoped_to_channel_and_consumer(backend: Backend) {
    let cluster = Cluster::on(backend, |_| {}).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 5)]).await;
    let mut partner = cluster.connector().await;
    let a = partner.open_conversation(with_text(open(ACCOUNT, "consumer-a", "sales", "wamid.1"), "hello")).await;
    let a = a.unwrap().into_inner();
    let b = partner
        .open_conversation(with_text(open(ACCOUNT, "consumer-b", "sales", "wamid.1"), "my SSN is 078-05-1120"))
        .await
        .unwrap()
        .into_inner();
    assert!(b.created, "consumer B gets its own conversation");
    assert_ne!(a.conversation_id, b.conversation_id);
    // A's repeat is still idempotent.
    let repeat = partner.open_conversation(with_text(open(ACCOUNT, "consumer-a", "sales", "wamid.1"), "hello")).await;
    assert_eq!(repeat.unwrap().into_inner().conversation_id, a.conversation_id);

    let mut stream = online(&cluster, ACCOUNT, "alice").await;
    expect_assigned(&mut stream).await;
    expect_assigned(&mut stream).await;
    assert_eq!(transcript(&cluster, "alice", &a.conversation_id).await, ["hello"], "nothing of B's in A's transcript");
    assert_eq!(transcript(&cluster, "alice", &b.conversation_id).await, ["my SSN is 078-05-1120"]);

    // After A's conversation closed, consumer C with the same id gets a new one.
    let close =
        conn::CloseConversationRequest { account_id: ACCOUNT.into(), conversation_id: a.conversation_id.clone() };
    partner.close_conversation(close).await.unwrap();
    let c = partner.open_conversation(open(ACCOUNT, "consumer-c", "sales", "wamid.1")).await.unwrap().into_inner();
    assert!(c.created);
    assert_ne!(c.conversation_id, a.conversation_id);
    cluster.stop().await;
}

async fn wait_for_end(stream: &mut tonic::Streaming<agentpb::AgentEvent>) -> tonic::Status {
    loop {
        match tokio::time::timeout(WAIT, stream.message()).await.expect("the stream ended in time") {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the stream ended with OK"),
            Err(status) => return status,
        }
    }
}

/// Finding 3: after Logout the agent's conversations stayed assigned to an agent who cannot
/// act, its stream stayed open, and a failed publish during Logout made the retry fail while
/// capacity kept the agent ONLINE.
async fn logout_ends_streams_and_requeues_after_the_grace(backend: Backend) {
    let cluster = Cluster::on(backend, |c: &mut Config| c.capacity.logout_requeue_grace = Duration::from_secs(1)).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let mut alice = online(&cluster, ACCOUNT, "alice").await;
    let opened = partner.open_conversation(with_text(open(ACCOUNT, "c1", "sales", ""), "help")).await.unwrap();
    let conversation = opened.into_inner().conversation_id;
    assert_eq!(expect_assigned(&mut alice).await.conversation_id, conversation);

    let mut agents = cluster.agent().await;
    let logout = || agentpb::LogoutRequest { account_id: ACCOUNT.into(), agent_id: "alice".into() };
    agents.logout(logout()).await.unwrap();
    let ended = wait_for_end(&mut alice).await;
    assert_eq!(ended.code(), Code::FailedPrecondition, "{ended:?}");
    // Logout is retryable: the second one succeeds too.
    agents.logout(logout()).await.unwrap();
    // One truth: capacity's view says offline, and the agent can no longer act.
    let load = cluster
        .capacity_admin()
        .await
        .get_agent_load(switchyard_proto::capacity::v1::GetAgentLoadRequest {
            account_id: ACCOUNT.into(),
            agent_id: "alice".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!load.logged_in, "{load:?}");
    let send = agentpb::SendMessageRequest {
        account_id: ACCOUNT.into(),
        agent_id: "alice".into(),
        conversation_id: conversation.clone(),
        text: "still here?".into(),
    };
    assert_eq!(agents.send_message(send).await.unwrap_err().code(), Code::FailedPrecondition);
    let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: "alice".into() };
    assert_eq!(agents.subscribe(subscribe).await.unwrap_err().code(), Code::FailedPrecondition);

    // After the grace, the conversation goes to the next agent.
    let mut bob = online(&cluster, ACCOUNT, "bob").await;
    let taken = expect_assigned(&mut bob).await;
    assert_eq!(taken.conversation_id, conversation);
    assert_eq!(taken.history.first().map(|m| m.text.as_str()), Some("help"));
    cluster.stop().await;
}

/// Finding 4: every assignment and reconnect snapshot carried the whole transcript, so after
/// 450 messages of 10 KB a default gRPC client (4 MiB limit) failed the agent's stream, and
/// could not reconnect.
async fn a_chatty_consumer_cannot_lock_an_agent_out(backend: Backend) {
    let cluster = Cluster::on(backend, |c: &mut Config| c.connectors.consumer_messages_per_minute = 0).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(open(ACCOUNT, "chatty", "sales", "")).await.unwrap().into_inner();
    let big = "x".repeat(10_000);
    for i in 0..450 {
        let publish = conn::PublishMessageRequest {
            account_id: ACCOUNT.into(),
            conversation_id: opened.conversation_id.clone(),
            text: format!("{i:03}{big}")[..10_000].to_owned(),
            partner_message_id: String::new(),
        };
        partner.publish_message(publish).await.unwrap();
    }
    let mut stream = online(&cluster, ACCOUNT, "alice").await;
    let assignment = expect_assigned(&mut stream).await;
    assert_eq!(assignment.history.len(), 20, "connectors.assignment_history");
    assert_eq!(assignment.transcript_length, 450);
    assert!(assignment.history[0].text.starts_with("430"), "the newest messages");
    // Reconnect: the snapshot is bounded too.
    drop(stream);
    let mut client = cluster.agent().await;
    let subscribe = agentpb::SubscribeRequest { account_id: ACCOUNT.into(), agent_id: "alice".into() };
    let mut again = client.subscribe(subscribe).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut again).await.history.len(), 20);
    // The whole transcript, page by page.
    let texts = transcript(&cluster, "alice", &opened.conversation_id).await;
    assert_eq!(texts.len(), 450);
    assert!(texts[0].starts_with("000") && texts[449].starts_with("449"));
    let bad = agentpb::GetTranscriptRequest {
        account_id: ACCOUNT.into(),
        agent_id: "alice".into(),
        conversation_id: opened.conversation_id.clone(),
        after_sequence: 0,
        page_size: 501,
    };
    let err = client.get_transcript(bad).await.unwrap_err();
    assert_eq!(
        (err.code(), switchyard_kit::error::bad_request_field(&err).as_deref()),
        (Code::InvalidArgument, Some("page_size"))
    );
    cluster.stop().await;
}

/// Finding 4's bounds: RESOURCE_EXHAUSTED beyond the per-conversation limit and the consumer's
/// rate (with a retry delay), and nothing written.
async fn messages_are_limited_per_conversation_and_per_consumer_rate(backend: Backend) {
    let cluster = Cluster::on(backend, |c: &mut Config| {
        c.connectors.consumer_messages_per_minute = 5;
        c.connectors.max_messages_per_conversation = 8;
    })
    .await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let opened = partner.open_conversation(with_text(open(ACCOUNT, "k", "sales", ""), "first")).await.unwrap();
    let conversation = opened.into_inner().conversation_id;
    let publish = |text: &str| conn::PublishMessageRequest {
        account_id: ACCOUNT.into(),
        conversation_id: conversation.clone(),
        text: text.into(),
        partner_message_id: String::new(),
    };
    for i in 0..5 {
        partner.publish_message(publish(&format!("m{i}"))).await.unwrap();
    }
    let limited = partner.publish_message(publish("one too many")).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    let delay = limited.get_details_retry_info().and_then(|r| r.retry_delay).expect("a retry delay");
    assert!(delay > Duration::from_secs(10) && delay <= Duration::from_secs(12), "{delay:?}");

    // The agent fills the conversation to its limit (agents are not rate-limited).
    let mut stream = online(&cluster, ACCOUNT, "alice").await;
    expect_assigned(&mut stream).await;
    let mut agents = cluster.agent().await;
    let reply = |text: &str| agentpb::SendMessageRequest {
        account_id: ACCOUNT.into(),
        agent_id: "alice".into(),
        conversation_id: conversation.clone(),
        text: text.into(),
    };
    agents.send_message(reply("r1")).await.unwrap();
    agents.send_message(reply("r2")).await.unwrap();
    let full = agents.send_message(reply("r3")).await.unwrap_err();
    assert_eq!(full.code(), Code::ResourceExhausted, "{full:?}");
    assert_eq!(transcript(&cluster, "alice", &conversation).await.len(), 8, "nothing written beyond the limit");
    cluster.stop().await;
}

/// Finding 5: `AckOutbound` accepted a sequence no stream had delivered and deleted the
/// entries before it, so the partner's messages were lost even reading from sequence 0.
async fn an_ack_beyond_what_was_delivered_is_refused(backend: Backend) {
    let cluster = Cluster::on(backend, |_| {}).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let mut alice = online(&cluster, ACCOUNT, "alice").await;
    let opened = partner.open_conversation(with_text(open(ACCOUNT, "k", "sales", ""), "hi")).await.unwrap();
    let conversation = opened.into_inner().conversation_id;
    expect_assigned(&mut alice).await;
    let mut agents = cluster.agent().await;
    agents
        .send_message(agentpb::SendMessageRequest {
            account_id: ACCOUNT.into(),
            agent_id: "alice".into(),
            conversation_id: conversation.clone(),
            text: "hello".into(),
        })
        .await
        .unwrap();
    let ack =
        |sequence: u64| conn::AckOutboundRequest { account_id: ACCOUNT.into(), channel: Channel::Web as i32, sequence };
    wait_until(|| {
        let mut partner = partner.clone();
        async move {
            // Two entries exist (joined, the reply) before any stream read them.
            let refused = partner.ack_outbound(ack(2)).await.unwrap_err();
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
            refused.message().contains("not been delivered")
        }
    })
    .await;
    // Nothing was lost: a stream from 0 delivers both, and then the ack is accepted.
    let stream = partner
        .stream_outbound(conn::StreamOutboundRequest {
            account_id: ACCOUNT.into(),
            channel: Channel::Web as i32,
            from_sequence: Some(0),
        })
        .await
        .unwrap();
    let mut stream = stream.into_inner();
    let mut events = Vec::new();
    while events.len() < 2 {
        let event = tokio::time::timeout(WAIT, stream.message()).await.unwrap().unwrap().unwrap();
        events.push(event);
    }
    assert!(matches!(events[0].event, Some(outbound_event::Event::AgentJoined(_))));
    let Some(outbound_event::Event::Message(m)) = &events[1].event else { panic!("{:?}", events[1]) };
    assert_eq!((m.text.as_str(), m.sequence), ("hello", 2), "the message keeps its transcript sequence");
    partner.ack_outbound(ack(events[1].sequence)).await.unwrap();
    cluster.stop().await;
}

/// Finding 6: the conversation's skill had two truths (a repeated open answered the opening
/// skill after a transfer), and `conversations_closed_total` counted repeated closes.
async fn one_truth_for_the_skill_and_closes_counted_once(backend: Backend) {
    let cluster = Cluster::on(backend, |_| {}).await;
    // bob holds billing but is not logged in: the transfer waits there (a skill nobody held
    // would go to the unassigned skill, R4.5, and back to alice).
    let agents = [("alice", &["sales"][..], 2), ("bob", &["billing"][..], 2)];
    setup_account(&cluster, ACCOUNT, &["sales", "billing"], &agents).await;
    let mut partner = cluster.connector().await;
    let mut alice = online(&cluster, ACCOUNT, "alice").await;
    let opened = partner.open_conversation(open(ACCOUNT, "k", "sales", "p1")).await.unwrap().into_inner();
    expect_assigned(&mut alice).await;
    let mut agents = cluster.agent().await;
    agents
        .transfer_to_skill(agentpb::TransferToSkillRequest {
            account_id: ACCOUNT.into(),
            agent_id: "alice".into(),
            conversation_id: opened.conversation_id.clone(),
            skill_id: "billing".into(),
        })
        .await
        .unwrap();
    wait_until(|| {
        let mut partner = partner.clone();
        async move {
            let again = partner.open_conversation(open(ACCOUNT, "k", "sales", "p2")).await.unwrap().into_inner();
            again.skill_id == "billing"
        }
    })
    .await;

    let closed_total = || async {
        let (_, text) = http_get(&format!("{}/metrics", cluster.ops["connectors"])).await.unwrap();
        text.lines()
            .filter(|l| l.starts_with(switchyard_connectors::CLOSED_TOTAL))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = closed_total().await;
    let close = conn::CloseConversationRequest { account_id: ACCOUNT.into(), conversation_id: opened.conversation_id };
    for _ in 0..3 {
        partner.close_conversation(close.clone()).await.unwrap();
    }
    assert_eq!(closed_total().await - before, 1.0);
    // The partner's stream ends the conversation with one close, from the consumer.
    let mut outbound = outbound_stream(&mut partner).await;
    let mut closes = 0;
    while let Ok(Ok(Some(event))) = tokio::time::timeout(Duration::from_millis(500), outbound.message()).await {
        if let Some(outbound_event::Event::Closed(c)) = event.event {
            assert_eq!(c.closed_by, Party::Consumer as i32);
            closes += 1;
        }
    }
    assert_eq!(closes, 1);
    cluster.stop().await;
}

/// Chaos at 50/s with a Redis restart: an agent's close whose first attempt closed the
/// conversation but lost its answer was refused on retry (FAILED_PRECONDITION "is closed"), and
/// had its event been lost too, the agent's slot would never have been released. A close by
/// the agent that held the conversation is idempotent; another agent is still refused.
async fn an_agents_close_is_idempotent_and_frees_the_slot_once(backend: Backend) {
    let cluster = Cluster::on(backend, |_| {}).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 1), ("bob", &["sales"], 1)]).await;
    let mut partner = cluster.connector().await;
    let mut alice = online(&cluster, ACCOUNT, "alice").await;
    let opened = partner.open_conversation(open(ACCOUNT, "k", "sales", "p1")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut alice).await.conversation_id, opened.conversation_id);
    let _bob = online(&cluster, ACCOUNT, "bob").await;
    let mut agents = cluster.agent().await;
    let close = |agent: &str| agentpb::CloseConversationRequest {
        account_id: ACCOUNT.into(),
        agent_id: agent.into(),
        conversation_id: opened.conversation_id.clone(),
    };
    let refused = agents.close_conversation(close("bob")).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("not assigned to agent bob"), "{refused:?}");
    for _ in 0..3 {
        agents.close_conversation(close("alice")).await.unwrap();
    }
    let refused = agents.close_conversation(close("bob")).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("is closed"), "{refused:?}");
    // Her slot is free again: of the next two conversations, she gets one and Bob the other.
    let second = partner.open_conversation(open(ACCOUNT, "k2", "sales", "p2")).await.unwrap().into_inner();
    let third = partner.open_conversation(open(ACCOUNT, "k3", "sales", "p3")).await.unwrap().into_inner();
    let mut want = vec![second.conversation_id, third.conversation_id];
    want.sort();
    // Wait for the two new conversations to be held: the closed one may still show in her
    // load for a moment, so a count alone could be satisfied by stale state.
    let held = || async {
        let mut all = [load_of(&cluster, "alice").await, load_of(&cluster, "bob").await].concat();
        all.sort();
        all
    };
    wait_until(|| async { held().await == want }).await;
    let held_by_alice = load_of(&cluster, "alice").await;
    assert_eq!(held_by_alice.len(), 1, "{held_by_alice:?}");
    cluster.stop().await;
}

async fn load_of(cluster: &Cluster, agent: &str) -> Vec<String> {
    let request =
        switchyard_proto::capacity::v1::GetAgentLoadRequest { account_id: ACCOUNT.into(), agent_id: agent.into() };
    cluster.capacity_admin().await.get_agent_load(request).await.unwrap().into_inner().conversation_ids
}
