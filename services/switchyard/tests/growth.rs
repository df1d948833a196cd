//! Nothing grows forever (issue 8): a thousand conversations opened, talked in, assigned,
//! closed and delivered to the partner through the public gRPC APIs leave nothing behind once
//! the retention has passed: Redis's key count (by SCAN) and the embedded store's sizes return
//! to their baseline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use switchyard::Config;
use switchyard_proto::common::v1::Channel;
use switchyard_proto::connectors::v1 as conn;

const ACCOUNT: &str = "acme";
const RETENTION: Duration = Duration::from_secs(2);

fn short_retention(config: &mut Config) {
    config.retention.closed = RETENTION;
    config.retention.dedupe_window = RETENTION;
    config.retention.consumer_memory = RETENTION;
    config.connectors.consumer_messages_per_minute = 0;
}

/// Opens `n` conversations with a first message (an agent takes them) and closes them as the
/// consumer; `deliver` then reads and acknowledges everything the partner stream has.
async fn open_and_close(cluster: &Cluster, from: usize, n: usize) {
    let mut partner = cluster.connector().await;
    for i in from..from + n {
        let mut open = open(ACCOUNT, &format!("consumer-{i}"), "sales", &format!("pm-{i}"));
        open.first_message = "hello".into();
        let opened = partner.open_conversation(open).await.unwrap().into_inner();
        let close =
            conn::CloseConversationRequest { account_id: ACCOUNT.into(), conversation_id: opened.conversation_id };
        partner.close_conversation(close).await.unwrap();
    }
}

async fn deliver(cluster: &Cluster, n: usize) {
    let mut partner = cluster.connector().await;
    // Every close reaches the partner's stream; acking the last entry trims the outbox.
    let mut stream = outbound_stream(&mut partner).await;
    let mut last = 0;
    let mut closes = 0;
    while closes < n {
        let event = tokio::time::timeout(WAIT, stream.message()).await.expect("outbound in time").unwrap().unwrap();
        last = event.sequence;
        if matches!(event.event, Some(conn::outbound_event::Event::Closed(_))) {
            closes += 1;
        }
    }
    let ack = conn::AckOutboundRequest { account_id: ACCOUNT.into(), channel: Channel::Web as i32, sequence: last };
    partner.ack_outbound(ack).await.unwrap();
}

async fn churn(cluster: &Cluster, from: usize, n: usize) {
    open_and_close(cluster, from, n).await;
    deliver(cluster, n).await;
}

async fn setup(cluster: &Cluster) -> tonic::Streaming<switchyard_proto::agent::v1::AgentEvent> {
    setup_account(cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 1000)]).await;
    online(cluster, ACCOUNT, "alice").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_returns_to_its_baseline() {
    let cluster = Cluster::on(Backend::Embedded, short_retention).await;
    let _alice = setup(&cluster).await;
    let memory = cluster.memory.clone().unwrap();
    // What stays whatever was handled (the account's outbox counters) exists after the first.
    churn(&cluster, 0, 1).await;
    let settled = || async {
        tokio::time::sleep(RETENTION + Duration::from_millis(1_500)).await;
        memory.sizes()
    };
    let baseline: BTreeMap<_, _> = settled().await;
    open_and_close(&cluster, 1, 1_000).await;
    // On a slow machine the churn outlasts the retention and the first ones are gone already;
    // the last one closed a moment ago is kept.
    let during = memory.sizes()["conversations"];
    assert!(during > baseline["conversations"], "kept for the retention: {during} vs {baseline:?}");
    deliver(&cluster, 1_000).await;
    assert_eq!(settled().await, baseline, "the connectors' housekeeping deletes what outlived the retention");
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_key_count_returns_to_its_baseline() {
    let cluster = Cluster::on(Backend::Real, short_retention).await;
    let _alice = setup(&cluster).await;
    let prefix = cluster.redis_prefix.clone().unwrap();
    let url = cluster.redis.as_ref().unwrap().url();
    let mut con = ::redis::Client::open(url).unwrap().get_multiplexed_async_connection().await.unwrap();
    churn(&cluster, 0, 1).await;
    let baseline = settle(&mut con, &prefix, None).await;
    open_and_close(&cluster, 1, 1_000).await;
    // The churn takes longer than the retention: the first conversations' keys are gone
    // already, the last ones' (closed a moment ago) still there.
    let after = count_keys(&mut con, &prefix).await;
    assert!(after > baseline, "{after} keys after the churn, {baseline} before");
    deliver(&cluster, 1_000).await;
    assert_eq!(settle(&mut con, &prefix, Some(baseline)).await, baseline, "keys outlived the retention");
    cluster.stop().await;
}

/// Waits past the retention until the key count reaches `target` (or, without one, stops
/// changing); at most 15 s.
async fn settle(con: &mut ::redis::aio::MultiplexedConnection, prefix: &str, target: Option<usize>) -> usize {
    tokio::time::sleep(RETENTION).await;
    let mut now = count_keys(con, prefix).await;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = count_keys(con, prefix).await;
        let done = target.map_or(next == now, |t| next == t);
        now = next;
        if done {
            break;
        }
    }
    now
}

async fn count_keys(con: &mut ::redis::aio::MultiplexedConnection, prefix: &str) -> usize {
    let mut cursor: u64 = 0;
    let mut count = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(con)
            .await
            .unwrap();
        count += keys.len();
        if next == 0 {
            return count;
        }
        cursor = next;
    }
}
