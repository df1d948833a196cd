//! Automatic messages' durable timers survive a kill -9 (issue 13): automessages is killed
//! while waiting-in-queue timers are pending (R14.14) and comes back after they came due; each
//! due message is then sent once, and redelivered triggers write nothing twice (R14.6).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::topology::*;
use switchyard_proto::automessages::v1::automatic_messages_admin_service_client::AutomaticMessagesAdminServiceClient;
use switchyard_proto::automessages::v1::{
    AutomaticMessageEvent, SetAutomaticMessageRequest, SetAutomaticMessagesAccountRequest, Toggle,
};
use switchyard_proto::common::v1::{Channel, Party};
use switchyard_proto::connectors::v1 as conn;
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;

const WAITING: &str = "[waiting]";
const WELCOME: &str = "[welcome]";

type Seen = HashMap<(String, String), usize>;

/// Reads the partner's stream until `want` system messages were seen, or `within` passed.
async fn read(stream: &mut tonic::Streaming<conn::OutboundEvent>, seen: &mut Seen, want: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while seen.values().sum::<usize>() < want {
        let Ok(next) = tokio::time::timeout_at(deadline, stream.message()).await else { break };
        let Some(conn::outbound_event::Event::Message(m)) = next.unwrap().unwrap().event else { continue };
        if m.from == Party::System as i32 {
            *seen.entry((m.conversation_id, m.text)).or_default() += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_notices_due_while_automessages_was_dead_are_sent_once_after_the_restart_r14_14() {
    let mut topology = Topology::start_with(Options { durable: true, extra_config: "" }).await;
    let connectors = topology.channel("connectors").await;
    provision(&mut topology, 0).await;
    let mut admin = AutomaticMessagesAdminServiceClient::new(topology.channel("automessages").await);
    let on = SetAutomaticMessagesAccountRequest { account_id: ACCOUNT.into(), enabled: true, ..Default::default() };
    admin.set_automatic_messages_account(on).await.unwrap();
    // Only the welcome and the waiting notice, with marker texts; the notice after 15 s.
    for event in 1..=16 {
        let event = AutomaticMessageEvent::try_from(event).unwrap();
        let (text, timer_seconds, enabled) = match event {
            AutomaticMessageEvent::FirstTimeWelcome => (Some(WELCOME), 0, Toggle::On),
            AutomaticMessageEvent::WaitingInQueue => (Some(WAITING), 15, Toggle::On),
            _ => (None, 0, Toggle::Off),
        };
        let request = SetAutomaticMessageRequest {
            account_id: ACCOUNT.into(),
            event: event as i32,
            enabled: enabled as i32,
            text: text.map(str::to_owned),
            timer_seconds,
            ..Default::default()
        };
        admin.set_automatic_message(request).await.unwrap();
    }
    // Nobody is logged in: the three conversations wait in their queues.
    let opened = open_conversations(&connectors, 0..3).await;
    // Automessages reads the opens (welcomes sent, timers written) before it dies.
    let mut partner = ConnectorServiceClient::new(connectors.clone());
    let request = conn::StreamOutboundRequest {
        account_id: ACCOUNT.into(),
        channel: Channel::Whatsapp as i32,
        from_sequence: Some(0),
    };
    let mut stream = partner.stream_outbound(request).await.unwrap().into_inner();
    let mut seen = Seen::new();
    read(&mut stream, &mut seen, 3, Duration::from_secs(30)).await;
    topology.kill9_for_good("automessages");
    tokio::time::sleep(Duration::from_secs(16)).await; // the notices came due while it was dead
    topology.spawn("automessages").await;
    // The restarted member may join before the dead one is evicted: up to 90 s.
    read(&mut stream, &mut seen, 6, Duration::from_secs(90)).await;
    // And nothing more comes: each once.
    read(&mut stream, &mut seen, 7, Duration::from_secs(5)).await;
    let mut want = HashMap::new();
    for conversation in &opened {
        want.insert((conversation.clone(), WELCOME.to_owned()), 1);
        want.insert((conversation.clone(), WAITING.to_owned()), 1);
    }
    assert_eq!(seen, want, "{}", topology.logs());
}
