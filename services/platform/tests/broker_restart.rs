//! A Kafka broker that comes back without its log (tansu with in-memory storage): every topic
//! is gone, and comes back with a new id once created again. librdkafka 2.12.1 crashed the
//! whole process on the first Fetch answer about the old topic id (patched in
//! vendor/rdkafka-sys); and nothing created the topics again, so publishing timed out for
//! good. The bus survives, creates its topics again, and works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use switchyard_platform::bus::{EventBus, KafkaBus, KafkaSettings, Record, StartFrom};
use switchyard_testkit::{unique, wait_for, KafkaBroker};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_back_without_its_log_gets_its_topics_again_and_crashes_nothing() {
    let mut broker = KafkaBroker::start().await.expect("start the tansu broker");
    let settings = KafkaSettings::new(broker.bootstrap())
        .with("session.timeout.ms", "6000")
        .with("heartbeat.interval.ms", "500")
        .with("fetch.wait.max.ms", "50");
    let bus = Arc::new(KafkaBus::new(settings).unwrap());
    let topic = unique("t");
    bus.ensure_topics(std::slice::from_ref(&topic), 2).await.unwrap();
    let mut sub = bus.subscribe(&unique("g"), std::slice::from_ref(&topic), StartFrom::Earliest).await.unwrap();
    bus.publish(Record::new(&topic, "k", "before")).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(30), sub.next()).await.unwrap().unwrap();
    assert_eq!(&first.payload[..], b"before");
    // Both keep fetching across the restart, and meet the lost topic: the group member, and a
    // tail (assigned partitions, no group: it fetches while the group would rejoin).
    let mut tail = bus.tail(std::slice::from_ref(&topic), StartFrom::Earliest).await.unwrap();
    let fetching = tokio::spawn(async move {
        for _ in 0..300 {
            let _ = tokio::time::timeout(Duration::from_millis(50), sub.next()).await;
            let _ = tokio::time::timeout(Duration::from_millis(50), tail.next()).await;
        }
    });

    broker.restart(Duration::from_secs(1)).await.unwrap();
    let ready = wait_for("the bus to see its topics again", Duration::from_secs(30), || {
        let bus = bus.clone();
        async move { bus.ping().await.ok() }
    })
    .await;
    ready.unwrap();
    // A client retries what the bus answers UNAVAILABLE (as the services' callers do).
    let published = wait_for("publishing after the restart", Duration::from_secs(30), || {
        let bus = bus.clone();
        let record = Record::new(&topic, "k", "after");
        async move { bus.publish(record).await.ok() }
    })
    .await;
    published.unwrap();
    let mut fresh = bus.subscribe(&unique("g"), std::slice::from_ref(&topic), StartFrom::Earliest).await.unwrap();
    let after = tokio::time::timeout(Duration::from_secs(30), fresh.next()).await.unwrap().unwrap();
    assert_eq!(&after.payload[..], b"after", "the topic came back empty, then took the new record");
    fetching.abort();
}
