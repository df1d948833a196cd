//! Issue 10 item 4: limits per account, per credential, per agent and partner channel stream,
//! per request size and per consumer open, each refused with RESOURCE_EXHAUSTED and a retry
//! delay in the status details, and each recovered from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_auth::Role;
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::ListSkillsRequest;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::common::v1::Channel as ProtoChannel;
use switchyard_proto::connectors::v1 as conn;
use tonic::Code;
use tonic_types::StatusExt;

/// The retry delay of a RESOURCE_EXHAUSTED status (panics if it has none).
fn retry_after(status: &tonic::Status) -> Duration {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let info = status.get_details_retry_info().unwrap_or_else(|| panic!("no RetryInfo in {status:?}"));
    let delay = info.retry_delay.expect("a retry delay");
    assert!(delay > Duration::ZERO && delay <= Duration::from_secs(60), "{delay:?}");
    delay
}

async fn list_skills(client: &mut RoutingAdminServiceClient<Authed>, account: &str) -> Result<(), tonic::Status> {
    client.list_skills(ListSkillsRequest { account_id: account.into() }).await.map(|_| ())
}

/// Calls until the first refusal (at most `n` calls); the refusal.
async fn until_refused(client: &mut RoutingAdminServiceClient<Authed>, account: &str, n: usize) -> tonic::Status {
    for _ in 0..n {
        if let Err(status) = list_skills(client, account).await {
            return status;
        }
    }
    panic!("{n} calls in a row were all admitted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_over_its_rate_is_told_when_to_retry_and_others_are_not_slowed() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.limits.requests_per_second_per_credential = 5).await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut carol = RoutingAdminServiceClient::new(cluster.as_role("router", Role::Admin, "carol").await);
    let mut dave = RoutingAdminServiceClient::new(cluster.as_role("router", Role::Admin, "dave").await);
    let refused = until_refused(&mut carol, "acme", 50).await;
    let delay = retry_after(&refused);
    assert!(refused.message().contains("limits.requests_per_second_per_credential"), "{refused:?}");
    list_skills(&mut dave, "acme").await.expect("another credential of the account is not limited by carol's rate");
    tokio::time::sleep(delay).await;
    list_skills(&mut carol, "acme").await.expect("admitted again after the retry delay");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_over_its_rate_is_limited_across_its_credentials_but_not_other_accounts() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.limits.requests_per_second_per_account = 5).await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    setup_account(&cluster, "globex", &["sales"], &[]).await;
    let mut carol = RoutingAdminServiceClient::new(cluster.as_role("router", Role::Admin, "carol").await);
    let mut dave = RoutingAdminServiceClient::new(cluster.as_role("router", Role::Admin, "dave").await);
    let refused = until_refused(&mut carol, "acme", 50).await;
    let delay = retry_after(&refused);
    assert!(refused.message().contains("limits.requests_per_second_per_account"), "{refused:?}");
    let shared = list_skills(&mut dave, "acme").await.unwrap_err();
    assert_eq!(shared.code(), Code::ResourceExhausted, "the account's budget is shared: {shared:?}");
    list_skills(&mut dave, "globex").await.expect("another account has its own budget");
    tokio::time::sleep(delay.max(Duration::from_millis(400))).await;
    list_skills(&mut carol, "acme").await.expect("admitted again after the retry delay");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_partner_channel_streams_are_bounded_and_freed_when_they_end() {
    let cluster = Cluster::on(Backend::Embedded, |c| {
        c.limits.streams_per_agent = 1;
        c.limits.streams_per_partner_channel = 1;
    })
    .await;
    setup_account(&cluster, "acme", &["sales"], &[("alice", &["sales"], 2)]).await;
    let first = online(&cluster, "acme", "alice").await;
    let mut agent = cluster.agent().await;
    let subscribe = agentpb::SubscribeRequest { account_id: "acme".into(), agent_id: "alice".into() };
    let refused = agent.subscribe(subscribe.clone()).await.unwrap_err();
    retry_after(&refused);
    assert!(refused.message().contains("limits.streams_per_agent"), "{refused:?}");
    drop(first);
    common::wait_until(|| {
        let (mut agent, subscribe) = (agent.clone(), subscribe.clone());
        async move { agent.subscribe(subscribe).await.is_ok() }
    })
    .await;

    let mut partner = cluster.connector().await;
    let web = outbound_stream(&mut partner).await;
    let refused = partner
        .stream_outbound(conn::StreamOutboundRequest {
            account_id: "acme".into(),
            channel: ProtoChannel::Web as i32,
            from_sequence: None,
        })
        .await
        .unwrap_err();
    retry_after(&refused);
    assert!(refused.message().contains("limits.streams_per_partner_channel"), "{refused:?}");
    let sms = conn::StreamOutboundRequest {
        account_id: "acme".into(),
        channel: ProtoChannel::Sms as i32,
        from_sequence: None,
    };
    partner.stream_outbound(sms).await.expect("another channel has its own streams");
    drop(web);
    common::wait_until(|| {
        let mut partner = partner.clone();
        async move { outbound_stream_once(&mut partner).await }
    })
    .await;
    cluster.stop().await;
}

async fn outbound_stream_once(
    partner: &mut switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient<Authed>,
) -> bool {
    let request = conn::StreamOutboundRequest {
        account_id: "acme".into(),
        channel: ProtoChannel::Web as i32,
        from_sequence: None,
    };
    partner.stream_outbound(request).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_larger_than_the_limit_are_refused_before_any_handler_runs() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.limits.max_message_bytes = 2048).await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut partner = cluster.connector().await;
    let mut big = open("acme", "c-1", "sales", "pm-1");
    big.first_message = "x".repeat(3000);
    let refused = partner.open_conversation(big).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("limits.max_message_bytes"), "{refused:?}");
    assert_eq!(queue_depth(&cluster, "acme", "sales").await, 0, "nothing was opened");
    let mut small = open("acme", "c-1", "sales", "pm-2");
    small.first_message = "x".repeat(1000);
    partner.open_conversation(small).await.unwrap();
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_opening_too_often_is_told_when_to_retry() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.limits.opens_per_consumer_per_minute = 3).await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    let mut partner = cluster.connector().await;
    for i in 0..3 {
        partner.open_conversation(open("acme", "+15550100", "sales", &format!("pm-{i}"))).await.unwrap();
    }
    let refused = partner.open_conversation(open("acme", "+15550100", "sales", "pm-3")).await.unwrap_err();
    let delay = retry_after(&refused);
    assert!(delay > Duration::from_secs(10), "one open every 20 s at 3 per minute: {delay:?}");
    assert!(refused.message().contains("limits.opens_per_consumer_per_minute"), "{refused:?}");
    partner.open_conversation(open("acme", "+15550199", "sales", "pm-x")).await.expect("another consumer may open");
    cluster.stop().await;
}
