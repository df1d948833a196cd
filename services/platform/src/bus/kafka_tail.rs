//! The group-less Kafka reader behind [`EventBus::tail`](super::EventBus::tail): one consumer
//! that assigns itself every partition of its topics at the end offset. It never joins a group
//! and never commits, so a process start leaves nothing behind on the broker.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::KafkaBus;
use super::kafka_client::{config_error, LogContext};
use super::kafka_group::received_delivery;
use super::kafka_topics::TopicsRecreated;
use super::{check_subscription, BusError, Delivery, PartitionLag, StartFrom, Subscription};

/// The group id librdkafka requires for `assign`; never joined, never committed to.
const TAIL_GROUP: &str = "switchyard.tail";
/// How long the end offset of one partition may take to read.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn subscribe(
    bus: &KafkaBus,
    topics: &[String],
    from: StartFrom,
) -> Result<Box<dyn Subscription>, BusError> {
    check_subscription("tail", topics)?;
    let mut partitions = Vec::new();
    for topic in topics {
        for partition in 0..bus.partitions_of(topic).await? {
            partitions.push((topic.clone(), partition));
        }
    }
    let settings = bus.settings();
    let mut config = settings.base_config();
    config.set("allow.auto.create.topics", "false").set("fetch.wait.max.ms", "10");
    settings.apply_extra(&mut config)?;
    // librdkafka needs a group id to assign partitions; this one never joins (no subscribe) and
    // never commits, so the broker keeps nothing for it.
    config.set("group.id", TAIL_GROUP).set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    config.set("statistics.interval.ms", super::kafka_lag::STATISTICS_INTERVAL_MS);
    let consumer: StreamConsumer<TailContext> =
        StreamConsumer::from_config_and_context(&config, TailContext::default()).map_err(config_error)?;
    // The start or end of each partition now, as a number: a record published after `tail`
    // returns is read (a symbolic end offset would be resolved later, and could skip it).
    let (consumer, owned) = tokio::task::spawn_blocking(move || -> Result<_, BusError> {
        let mut assignment = TopicPartitionList::new();
        for (topic, partition) in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, *partition, WATERMARKS_TIMEOUT)
                .map_err(|e| BusError::Unavailable(format!("offsets of {topic}/{partition}: {e}")))?;
            let start = match from {
                StartFrom::Earliest => low,
                StartFrom::Latest => high,
            };
            assignment
                .add_partition_offset(topic, *partition, Offset::Offset(start))
                .map_err(|e| BusError::Other(format!("assigning {topic}/{partition}: {e}")))?;
        }
        consumer.assign(&assignment).map_err(|e| BusError::Other(format!("assigning partitions: {e}")))?;
        Ok((consumer, partitions))
    })
    .await
    .map_err(|e| BusError::Other(format!("tail setup task: {e}")))??;
    Ok(Box::new(TailSubscription { consumer, owned, recreated: bus.topics_recreated() }))
}

/// Logs like every client, and keeps the lag of the last statistics report.
#[derive(Default)]
struct TailContext {
    lag: std::sync::Mutex<Vec<PartitionLag>>,
}

impl ClientContext for TailContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        LogContext.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }

    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        if let Ok(mut lag) = self.lag.lock() {
            *lag = super::kafka_lag::from_statistics(&statistics);
        }
    }
}

impl ConsumerContext for TailContext {}

struct TailSubscription {
    consumer: StreamConsumer<TailContext>,
    owned: Vec<(String, i32)>,
    /// Ends `next` with an error once lost topics were created again (see `kafka_topics`).
    recreated: TopicsRecreated,
}

#[async_trait]
impl Subscription for TailSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            tokio::select! {
                received = self.consumer.recv() => {
                    if let Some(delivery) = received_delivery(received, "tail")? {
                        return Ok(delivery);
                    }
                }
                lost = self.recreated.wait() => return Err(lost),
            }
        }
    }

    fn commit(&mut self, _delivery: &Delivery) -> Result<(), BusError> {
        Ok(())
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        self.owned.clone()
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.consumer.context().lag.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A tail reader has no group: its own lag is the answer.
    async fn group_lag(&self) -> Result<Vec<PartitionLag>, BusError> {
        Ok(self.lag())
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        let consumer = self.consumer;
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .map_err(|e| BusError::Other(format!("closing tail consumer: {e}")))
    }
}
