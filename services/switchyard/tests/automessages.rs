//! End to end in embedded mode, through the public gRPC APIs only: automatic messages
//! (domain §2.14). An admin sets a welcome per skill and language; the consumer's partner
//! stream and the agent see it once, as the system's (R14.6), and it changes nothing the
//! conversation waits on. The timed rules and their spec examples are tested with a controlled
//! clock in the automessages crate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_kit::error::bad_request_field;
use switchyard_proto::admin::v1::GetResponseTimeRequest;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::automessages::v1::*;
use switchyard_proto::common::v1::Party;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;

/// The system messages of the partner's stream, in order, until `count` arrived.
async fn system_texts(stream: &mut tonic::Streaming<conn::OutboundEvent>, count: usize) -> Vec<String> {
    let mut texts = Vec::new();
    while texts.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .expect("the partner stream delivers the system message")
            .unwrap()
            .unwrap();
        if let Some(conn::outbound_event::Event::Message(m)) = event.event {
            if m.from == Party::System as i32 {
                texts.push(m.text);
            }
        }
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_per_skill_and_language_reaches_partner_and_agent_once_r14_2_r14_6() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2)]).await;
    let mut admin = cluster.automessages_admin().await;
    let revision = admin
        .set_automatic_messages_account(SetAutomaticMessagesAccountRequest {
            account_id: "acme".into(),
            enabled: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    admin
        .set_automatic_message(SetAutomaticMessageRequest {
            account_id: "acme".into(),
            expected_revision: revision,
            skill_id: "sales".into(),
            event: AutomaticMessageEvent::FirstTimeWelcome as i32,
            language: "es".into(),
            text: Some("¡Bienvenido! Te respondemos en {expectedResponseTime}.".into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let mut partner = cluster.connector().await;
    let mut outbound = outbound_stream(&mut partner).await;
    let mut request = open("acme", "maria", "sales", "m1");
    request.language = "es".into();
    let conversation = partner.open_conversation(request).await.unwrap().into_inner().conversation_id;
    let welcome = system_texts(&mut outbound, 1).await.remove(0);
    assert!(welcome.starts_with("¡Bienvenido! Te respondemos en "), "{welcome}");
    assert!(welcome.contains("hora") || welcome.contains("minuto"), "the duration in Spanish (R14.4): {welcome}");

    // R14.6: the conversation still waits for an agent; its response time is unchanged.
    let mut router = cluster.routing_admin().await;
    let ettr = GetResponseTimeRequest { account_id: "acme".into(), conversation_id: conversation.clone() };
    assert!(router.get_response_time(ettr).await.unwrap().into_inner().due, "a system message answers nothing");

    // The agent sees the welcome with the assignment, and the agent-accepts message on its
    // stream (events of two topics: the message may come first, or be in the history already).
    let accepts = "You are now connected to ann.".to_owned();
    let mut stream = online(&cluster, "acme", "ann").await;
    let (mut history, mut seen) = (None, Vec::new());
    while history.is_none() || !seen.iter().chain(history.iter().flatten()).any(|t: &String| *t == accepts) {
        match next_event(&mut stream, WAIT).await {
            Some(agentpb::agent_event::Event::Assigned(a)) => {
                let system = a.history.into_iter().filter(|m| m.from == Party::System as i32).map(|m| m.text);
                history = Some(system.collect::<Vec<_>>());
            }
            Some(agentpb::agent_event::Event::Message(m)) if m.from == Party::System as i32 => seen.push(m.text),
            Some(_) => {}
            None => panic!("the agent saw no assignment or no agent-accepts message: {history:?} {seen:?}"),
        }
    }
    assert_eq!(history.unwrap()[0], welcome, "no nickname: the agent id");
    assert_eq!(system_texts(&mut outbound, 1).await, std::slice::from_ref(&accepts));

    // Once each in the transcript.
    let transcript = cluster
        .agent()
        .await
        .get_transcript(agentpb::GetTranscriptRequest {
            account_id: "acme".into(),
            agent_id: "ann".into(),
            conversation_id: conversation.clone(),
            after_sequence: 0,
            page_size: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let system: Vec<&str> =
        transcript.messages.iter().filter(|m| m.from == Party::System as i32).map(|m| m.text.as_str()).collect();
    assert_eq!(system, [welcome.as_str(), accepts.as_str()]);

    // Preview says what the welcome would be now, and from where.
    let preview = admin
        .preview(PreviewRequest {
            account_id: "acme".into(),
            conversation_id: conversation.clone(),
            event: AutomaticMessageEvent::FirstTimeWelcome as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(preview.would_send, "{preview:?}");
    assert_eq!(
        (preview.skill_id.as_str(), preview.language.as_str(), preview.source.as_str()),
        ("sales", "es", "skill")
    );
    let preview = admin
        .preview(PreviewRequest {
            account_id: "acme".into(),
            conversation_id: conversation,
            event: AutomaticMessageEvent::Welcome as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!preview.would_send && preview.reason.contains("first_time_welcome applies"), "{preview:?}");
    cluster.stop().await;
}

/// Invariant 8 for the admin API: the field at fault, and nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_get_a_precise_status_and_change_nothing_r14_8_r14_10() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut admin = cluster.automessages_admin().await;
    let get = GetAutomaticMessagesRequest { account_id: "acme".into() };
    let before = admin.get_automatic_messages(get.clone()).await.unwrap().into_inner();
    assert_eq!((before.revision, before.enabled), (0, false), "off until an admin turns it on (R14.1)");
    assert_eq!(before.account.len(), 16, "the whole catalogue");

    let set = |event: AutomaticMessageEvent, text: &str| SetAutomaticMessageRequest {
        account_id: "acme".into(),
        event: event as i32,
        text: Some(text.into()),
        ..Default::default()
    };
    let cases = [
        (set(AutomaticMessageEvent::Welcome, "<b>Hello</b>"), Code::InvalidArgument, Some("text")),
        (set(AutomaticMessageEvent::Welcome, "Two\nlines"), Code::InvalidArgument, Some("text")),
        (set(AutomaticMessageEvent::Welcome, "Hi {agentNickname}"), Code::InvalidArgument, Some("text")),
        (set(AutomaticMessageEvent::Unspecified, "Hi"), Code::InvalidArgument, Some("event")),
        (
            SetAutomaticMessageRequest { timer_seconds: 14, ..set(AutomaticMessageEvent::WaitingInQueue, "Hold on.") },
            Code::InvalidArgument,
            Some("timer_seconds"),
        ),
        (
            SetAutomaticMessageRequest { language: "EN_us".into(), ..set(AutomaticMessageEvent::Welcome, "Hi") },
            Code::InvalidArgument,
            Some("language"),
        ),
        (
            SetAutomaticMessageRequest { skill_id: "nope".into(), ..set(AutomaticMessageEvent::Welcome, "Hi") },
            Code::NotFound,
            None,
        ),
        (
            SetAutomaticMessageRequest { expected_revision: 7, ..set(AutomaticMessageEvent::Welcome, "Hi") },
            Code::FailedPrecondition,
            None,
        ),
        (
            SetAutomaticMessageRequest { account_id: "nobody".into(), ..set(AutomaticMessageEvent::Welcome, "Hi") },
            Code::NotFound,
            None,
        ),
    ];
    for (request, code, field) in cases {
        let err = admin.set_automatic_message(request.clone()).await.unwrap_err();
        assert_eq!((err.code(), bad_request_field(&err).as_deref()), (code, field), "{request:?}: {err:?}");
    }
    assert_eq!(admin.get_automatic_messages(get).await.unwrap().into_inner(), before, "nothing was written");

    let preview = |conversation: &str| PreviewRequest {
        account_id: "acme".into(),
        conversation_id: conversation.into(),
        event: AutomaticMessageEvent::Welcome as i32,
    };
    assert_eq!(admin.preview(preview("nope")).await.unwrap_err().code(), Code::NotFound);
    let mut partner = cluster.connector().await;
    let conversation =
        partner.open_conversation(open("acme", "u1", "sales", "")).await.unwrap().into_inner().conversation_id;
    partner
        .close_conversation(conn::CloseConversationRequest {
            account_id: "acme".into(),
            conversation_id: conversation.clone(),
        })
        .await
        .unwrap();
    assert_eq!(admin.preview(preview(&conversation)).await.unwrap_err().code(), Code::FailedPrecondition);
    cluster.stop().await;
}

/// R3.7 and catalogue rows 15 and 16: a manager's joining and leaving are told to the consumer
/// by nickname; a reader is silent; bad joins get a precise status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_joins_and_leaves_a_reader_is_silent_r3_7() {
    let cluster = Cluster::embedded().await;
    setup_account(
        &cluster,
        "acme",
        &["sales"],
        &[("ann", &["sales"], 2), ("mona", &["sales"], 1), ("rick", &["sales"], 1)],
    )
    .await;
    let nickname = switchyard_proto::capacity::v1::UpdateAgentRequest {
        account_id: "acme".into(),
        agent: Some(switchyard_proto::capacity::v1::AgentSpec {
            agent_id: "mona".into(),
            skill_ids: vec!["sales".into()],
            max_conversations: 1,
            nickname: "Mona (supervisor)".into(),
            ..Default::default()
        }),
    };
    cluster.capacity_admin().await.update_agent(nickname).await.unwrap();
    let mut admin = cluster.automessages_admin().await;
    let on = SetAutomaticMessagesAccountRequest { account_id: "acme".into(), enabled: true, ..Default::default() };
    admin.set_automatic_messages_account(on).await.unwrap();
    let mut partner = cluster.connector().await;
    let mut outbound = outbound_stream(&mut partner).await;
    let mut stream = online(&cluster, "acme", "ann").await;
    let conversation =
        partner.open_conversation(open("acme", "u1", "sales", "")).await.unwrap().into_inner().conversation_id;
    expect_assigned(&mut stream).await;
    let mut texts = system_texts(&mut outbound, 2).await;
    assert!(texts[0].starts_with("Welcome to our messaging service!"), "{texts:?}");
    assert_eq!(texts[1], "You are now connected to ann.");

    let mut agents = cluster.agent().await;
    let join = |agent: &str, role: agentpb::ParticipantRole| agentpb::JoinConversationRequest {
        account_id: "acme".into(),
        agent_id: agent.into(),
        conversation_id: conversation.clone(),
        role: role as i32,
    };
    agents.join_conversation(join("rick", agentpb::ParticipantRole::Reader)).await.unwrap();
    agents.join_conversation(join("mona", agentpb::ParticipantRole::Manager)).await.unwrap();
    agents.join_conversation(join("mona", agentpb::ParticipantRole::Manager)).await.unwrap();
    let leave = agentpb::LeaveConversationRequest {
        account_id: "acme".into(),
        agent_id: "mona".into(),
        conversation_id: conversation.clone(),
    };
    agents.leave_conversation(leave.clone()).await.unwrap();
    agents.leave_conversation(leave).await.unwrap();
    texts = system_texts(&mut outbound, 2).await;
    assert_eq!(texts, ["Mona (supervisor) joined the conversation.", "Mona (supervisor) left the conversation."]);

    let err = agents.join_conversation(join("mona", agentpb::ParticipantRole::Unspecified)).await.unwrap_err();
    assert_eq!((err.code(), bad_request_field(&err).as_deref()), (Code::InvalidArgument, Some("role")));
    let err = agents.join_conversation(join("ann", agentpb::ParticipantRole::Manager)).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "the assigned agent does not join besides");
    let mut unknown = join("mona", agentpb::ParticipantRole::Manager);
    unknown.conversation_id = "nope".into();
    assert_eq!(agents.join_conversation(unknown).await.unwrap_err().code(), Code::NotFound);
    cluster.stop().await;
}

/// R10.3 and catalogue rows 7 and 8: the consumer marks a conversation urgent and withdraws
/// the mark; each is told with the response time it sets, and the router orders by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_urgent_mark_and_its_withdrawal_are_told_r10_3() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut admin = cluster.automessages_admin().await;
    let on = SetAutomaticMessagesAccountRequest { account_id: "acme".into(), enabled: true, ..Default::default() };
    admin.set_automatic_messages_account(on).await.unwrap();
    let mut partner = cluster.connector().await;
    let mut outbound = outbound_stream(&mut partner).await;
    // A returning consumer (urgent is for second conversations on, R10.3).
    let first = partner.open_conversation(open("acme", "u1", "sales", "")).await.unwrap().into_inner().conversation_id;
    partner
        .close_conversation(conn::CloseConversationRequest { account_id: "acme".into(), conversation_id: first })
        .await
        .unwrap();
    let conversation =
        partner.open_conversation(open("acme", "u1", "sales", "")).await.unwrap().into_inner().conversation_id;
    let texts = system_texts(&mut outbound, 2).await;
    assert!(texts[1].starts_with("Thanks for messaging us again."), "{texts:?}");
    // Marked before the router queued it, the mark is refused as UNAVAILABLE (retry), never
    // lost; queued, it is taken.
    common::wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    let withdraw = conn::WithdrawUrgentRequest { account_id: "acme".into(), conversation_id: conversation.clone() };
    let err = partner.withdraw_urgent(withdraw.clone()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "not marked urgent: {err:?}");
    let mark = conn::MarkUrgentRequest { account_id: "acme".into(), conversation_id: conversation.clone() };
    partner.mark_urgent(mark).await.unwrap();
    let urgent = system_texts(&mut outbound, 1).await.remove(0);
    // The default urgent response time is 10 minutes, counted from the open a moment ago.
    assert!(
        urgent.starts_with("Your conversation is marked as urgent. An agent will respond within 9 minutes"),
        "{urgent}"
    );
    let router = cluster.routing_admin().await;
    let ettr = GetResponseTimeRequest { account_id: "acme".into(), conversation_id: conversation.clone() };
    common::wait_until(|| {
        let (mut router, ettr) = (router.clone(), ettr.clone());
        async move { router.get_response_time(ettr).await.unwrap().into_inner().sla == "urgent" }
    })
    .await;
    let due = partner.withdraw_urgent(withdraw).await.unwrap().into_inner().response_due_ms;
    let told = system_texts(&mut outbound, 1).await.remove(0);
    assert!(
        told.starts_with("Your conversation is no longer marked as urgent. An agent will respond within 59 minutes"),
        "{told}"
    );
    common::wait_until(|| {
        let (mut router, ettr) = (router.clone(), ettr.clone());
        async move {
            let reply = router.get_response_time(ettr).await.unwrap().into_inner();
            reply.sla == "default" && reply.due_ms == due
        }
    })
    .await;
    cluster.stop().await;
}
