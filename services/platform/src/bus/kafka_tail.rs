//! The group-less Kafka reader behind [`EventBus::tail`](super::EventBus::tail): one consumer
//! that assigns itself every partition of its topics at the end offset. It never joins a group
//! and never commits, so a process start leaves nothing behind on the broker.

use std::collections::BTreeSet;

use async_trait::async_trait;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};

use super::kafka::{config_error, received_delivery, KafkaBus, LogContext};
use super::{check_subscription, BusError, Delivery, Subscription};

pub(super) async fn subscribe(bus: &KafkaBus, topics: &[String]) -> Result<Box<dyn Subscription>, BusError> {
    check_subscription("tail", topics)?;
    let mut assignment = TopicPartitionList::new();
    let mut owned = BTreeSet::new();
    for topic in topics {
        for partition in 0..bus.partitions_of(topic).await? {
            assignment
                .add_partition_offset(topic, partition, Offset::End)
                .map_err(|e| BusError::Other(format!("assigning {topic}/{partition}: {e}")))?;
            owned.insert((topic.clone(), partition));
        }
    }
    let settings = bus.settings();
    let mut config = settings.base_config();
    config.set("allow.auto.create.topics", "false").set("fetch.wait.max.ms", "10");
    settings.apply_extra(&mut config);
    // Whatever the extra settings say: no group, no commits.
    config.remove("group.id");
    config.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    let consumer: StreamConsumer<LogContext> =
        StreamConsumer::from_config_and_context(&config, LogContext).map_err(config_error)?;
    consumer.assign(&assignment).map_err(|e| BusError::Other(format!("assigning {topics:?}: {e}")))?;
    Ok(Box::new(TailSubscription { consumer, owned: owned.into_iter().collect() }))
}

struct TailSubscription {
    consumer: StreamConsumer<LogContext>,
    owned: Vec<(String, i32)>,
}

#[async_trait]
impl Subscription for TailSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(delivery) = received_delivery(self.consumer.recv().await, "tail")? {
                return Ok(delivery);
            }
        }
    }

    fn commit(&mut self, _delivery: &Delivery) -> Result<(), BusError> {
        Ok(())
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        self.owned.clone()
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        let consumer = self.consumer;
        tokio::task::spawn_blocking(move || drop(consumer))
            .await
            .map_err(|e| BusError::Other(format!("closing tail consumer: {e}")))
    }
}
