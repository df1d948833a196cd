//! Kafka event bus over librdkafka (the `rdkafka` crate).
//!
//! - Publishing: one idempotent `FutureProducer` with `acks=all` and a short linger. The
//!   partition is computed here with [`partition_for`] over a cached partition count, so both
//!   bus implementations agree on key ownership; `publish` resolves on the broker's ack.
//! - Consuming: one `StreamConsumer` per subscription, in consumer group `group`, with
//!   `enable.auto.offset.store=false`: [`Subscription::commit`] stores `offset + 1` (the next
//!   offset to read) and librdkafka commits stored offsets in the background
//!   (`enable.auto.commit`), synchronously when partitions are revoked, and on `close`.
//! - `subscribe` returns once the member has received its first assignment, and a
//!   [`StartFrom::Latest`] group that has no committed offset on a partition gets the
//!   partition's end offset pinned and committed at that moment (as the in-memory bus does), so
//!   "latest" means "from when the group first got the partition", not "from whenever a member
//!   happened to pick it up".
//!
//! Blocking librdkafka calls (metadata, commits, closing a consumer) run on tokio's blocking
//! pool; the rebalance callback runs inside the consumer's poll, on the task calling `next`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::kafka_client::{admin_error, code_error, config_error, join_error, produce_error};
use super::kafka_client::{unavailable, LogContext};
pub use super::kafka_settings::KafkaSettings;
use super::kafka_settings::{DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_SESSION_TIMEOUT_MS};
use super::kafka_topics::EnsuredTopics;
use super::{check_new_topics, check_subscription, check_topic_name};
use super::{partition_for, BusError, EventBus, Record, StartFrom, Subscription};

/// How long a metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `ping` waits for the cluster.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `publish` waits for room in the producer's local queue.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long offset look-ups and commits inside a rebalance may take.
pub(super) const OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `ensure_topics` waits for new topics to show in metadata.
const TOPIC_VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Added to the session timeout to bound how long `subscribe` waits for its first assignment
/// (a join waits at most a session timeout for members that died without leaving).
const JOIN_GRACE: Duration = Duration::from_secs(30);
/// The Kafka event bus. Cheap to clone: clones share the producer and admin client.
#[derive(Clone)]
pub struct KafkaBus {
    pub(super) inner: Arc<KafkaInner>,
}

pub(super) struct KafkaInner {
    settings: KafkaSettings,
    /// Replaced when the broker stops accepting its idempotent sequence (see `publish`).
    producer: RwLock<FutureProducer<LogContext>>,
    admin: AdminClient<LogContext>,
    partitions: RwLock<HashMap<String, i32>>,
    /// Topics `ensure_topics` created, kept in existence (see `kafka_topics`).
    pub(super) ensured: EnsuredTopics,
}

impl fmt::Debug for KafkaBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaBus").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}

impl KafkaBus {
    /// Creates the producer and the admin client. Does not contact the cluster (see `ping`).
    pub fn new(settings: KafkaSettings) -> Result<Self, BusError> {
        let producer = make_producer(&settings)?;

        let mut admin = settings.base_config();
        settings.apply_extra(&mut admin)?;
        let admin: AdminClient<LogContext> =
            AdminClient::from_config_and_context(&admin, LogContext).map_err(config_error)?;

        let producer = RwLock::new(producer);
        let partitions = RwLock::new(HashMap::new());
        let ensured = EnsuredTopics::default();
        Ok(Self { inner: Arc::new(KafkaInner { settings, producer, admin, partitions, ensured }) })
    }

    pub fn settings(&self) -> &KafkaSettings {
        &self.inner.settings
    }

    pub(super) fn producer(&self) -> FutureProducer<LogContext> {
        self.inner.producer.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces `broken` with a new producer (a new producer id), unless another publish did
    /// already. Messages in flight on the old one fail and are retried by their callers.
    fn replace_producer(&self, broken: &FutureProducer<LogContext>, err: &KafkaError) {
        let current = self.inner.producer.read().unwrap_or_else(PoisonError::into_inner).clone();
        if std::ptr::eq(current.client().native_ptr(), broken.client().native_ptr()) {
            self.renew_producer(&format!("the broker refused the producer's state ({err})"));
        }
    }

    /// Publishes with a new producer from now on (a new producer id, no cached metadata).
    pub(super) fn renew_producer(&self, why: &str) {
        let mut current = self.inner.producer.write().unwrap_or_else(PoisonError::into_inner);
        match make_producer(&self.inner.settings) {
            Ok(fresh) => {
                tracing::warn!(reason = why, "publishing with a new producer");
                *current = fresh;
            }
            Err(e) => tracing::error!(error = %e, "cannot create a new producer"),
        }
    }

    fn cached_partitions(&self, topic: &str) -> Option<i32> {
        self.inner.partitions.read().unwrap_or_else(PoisonError::into_inner).get(topic).copied()
    }

    pub(super) fn forget_partitions(&self, topic: &str) {
        self.inner.partitions.write().unwrap_or_else(PoisonError::into_inner).remove(topic);
    }

    /// The partition count from the cache, or from the cluster's metadata.
    pub(super) async fn partitions_of(&self, topic: &str) -> Result<i32, BusError> {
        if check_topic_name(topic).is_err() {
            return Err(BusError::UnknownTopic(topic.to_owned()));
        }
        if let Some(n) = self.cached_partitions(topic) {
            return Ok(n);
        }
        self.fetch_partitions(topic).await
    }

    async fn fetch_partitions(&self, topic: &str) -> Result<i32, BusError> {
        let producer = self.producer();
        let name = topic.to_owned();
        let count = tokio::task::spawn_blocking(move || -> Result<i32, BusError> {
            let metadata = producer.client().fetch_metadata(Some(&name), METADATA_TIMEOUT).map_err(unavailable)?;
            let Some(found) = metadata.topics().iter().find(|t| t.name() == name) else {
                return Err(BusError::UnknownTopic(name));
            };
            if let Some(err) = found.error() {
                let code: RDKafkaErrorCode = err.into();
                return Err(match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                        BusError::UnknownTopic(name)
                    }
                    RDKafkaErrorCode::LeaderNotAvailable | RDKafkaErrorCode::BrokerNotAvailable => {
                        BusError::Unavailable(format!("metadata of topic {name}: {code}"))
                    }
                    _ => BusError::Other(format!("metadata of topic {name}: {code}")),
                });
            }
            match found.partitions().len() {
                0 => Err(BusError::UnknownTopic(name)),
                n => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
            }
        })
        .await
        .map_err(join_error)??;
        self.inner.partitions.write().unwrap_or_else(PoisonError::into_inner).insert(topic.to_owned(), count);
        Ok(count)
    }

    /// Waits until `topic` shows in metadata (topic creation is asynchronous in Kafka).
    async fn wait_visible(&self, topic: &str) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + TOPIC_VISIBLE_TIMEOUT;
        loop {
            match self.fetch_partitions(topic).await {
                Ok(_) => return Ok(()),
                Err(BusError::UnknownTopic(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(BusError::UnknownTopic(_)) => {
                    return Err(BusError::Unavailable(format!(
                        "topic {topic} was created but is not in metadata after {TOPIC_VISIBLE_TIMEOUT:?}"
                    )))
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl EventBus for KafkaBus {
    async fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), BusError> {
        check_new_topics(topics, partitions)?;
        if topics.is_empty() {
            return Ok(());
        }
        let replication = self.inner.settings.replication_factor;
        let new_topics: Vec<NewTopic<'_>> =
            topics.iter().map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication))).collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(METADATA_TIMEOUT))
            .request_timeout(Some(METADATA_TIMEOUT + Duration::from_secs(5)));
        let results = self.inner.admin.create_topics(&new_topics, &options).await.map_err(admin_error)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => return Err(code_error(&format!("creating topic {name}"), code)),
            }
        }
        for topic in topics {
            self.wait_visible(topic).await?;
        }
        self.keep_topics(topics, partitions);
        Ok(())
    }

    async fn publish(&self, record: Record) -> Result<(), BusError> {
        let partitions = self.partitions_of(&record.topic).await?;
        let partition = partition_for(&record.key, partitions);
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in &record.headers {
            if name.contains('\0') {
                return Err(BusError::Other(format!("invalid header name {name:?}")));
            }
            headers = headers.insert(KafkaHeader { key: name, value: Some(value.as_slice()) });
        }
        let message = FutureRecord::to(&record.topic)
            .key(record.key.as_bytes())
            .payload(record.payload.as_ref())
            .partition(partition)
            .headers(headers);
        let producer = self.producer();
        match producer.send(message, QUEUE_TIMEOUT).await {
            Ok(_) => Ok(()),
            Err((err, _)) if broken_producer_state(&err) || producer.client().fatal_error().is_some() => {
                self.replace_producer(&producer, &err);
                Err(BusError::Unavailable(format!(
                    "publishing to {}: {err}; the producer was reset, retry",
                    record.topic
                )))
            }
            Err((err, _)) => {
                let mapped = produce_error(&record.topic, err);
                if matches!(mapped, BusError::UnknownTopic(_)) {
                    // The topic may have been re-created with another partition count.
                    self.forget_partitions(&record.topic);
                }
                Err(mapped)
            }
        }
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
        start: StartFrom,
    ) -> Result<Box<dyn Subscription>, BusError> {
        check_subscription(group, topics)?;
        for topic in topics {
            self.partitions_of(topic).await?;
        }

        let settings = &self.inner.settings;
        let mut config = settings.base_config();
        config
            .set("enable.auto.commit", "true")
            .set("partition.assignment.strategy", "roundrobin")
            .set("allow.auto.create.topics", "false")
            // Routing is latency-bound: do not let an idle fetch park for librdkafka's
            // default 500 ms (brokers that do not answer long polls early add it per hop).
            .set("fetch.wait.max.ms", "10")
            .set("statistics.interval.ms", super::kafka_lag::STATISTICS_INTERVAL_MS)
            .set("session.timeout.ms", DEFAULT_SESSION_TIMEOUT_MS.to_string())
            .set("heartbeat.interval.ms", DEFAULT_HEARTBEAT_INTERVAL_MS.to_string());
        if let Some(instance) = &settings.group_instance {
            config.set("group.instance.id", instance);
        }
        settings.apply_extra(&mut config)?;
        config.set("group.id", group).set("enable.auto.offset.store", "false").set(
            "auto.offset.reset",
            match start {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        );
        let wait = settings.session_timeout() + JOIN_GRACE;
        super::kafka_group::join(&config, group, topics, start, wait, self.topics_recreated()).await
    }

    async fn tail(&self, topics: &[String], from: StartFrom) -> Result<Box<dyn Subscription>, BusError> {
        super::kafka_tail::subscribe(self, topics, from).await
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, BusError> {
        self.partitions_of(topic).await
    }

    /// The cluster answers, and has every topic this bus ensured.
    async fn ping(&self) -> Result<(), BusError> {
        let missing = self.missing_topics(PING_TIMEOUT).await?;
        if missing.is_empty() && self.recovering_topics() {
            return Err(BusError::Unavailable(
                "the broker lost its topics; they exist again, and this process's clients are being renewed".into(),
            ));
        }
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.values().flatten().map(String::as_str).collect();
        Err(BusError::Unavailable(format!(
            "topics missing on the broker (restarted without its log?), being created again: {}",
            names.join(", ")
        )))
    }
}

/// The idempotent producer: acks from every replica, records of one partition in order, and a
/// short linger so batches form under load.
fn make_producer(settings: &KafkaSettings) -> Result<FutureProducer<LogContext>, BusError> {
    let mut producer = settings.base_config();
    producer
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .set("allow.auto.create.topics", "false");
    settings.apply_extra(&mut producer)?;
    FutureProducer::from_config_and_context(&producer, LogContext).map_err(config_error)
}

/// Errors after which an idempotent producer's id, epoch or sequence is no longer accepted by
/// the broker, so every later record would fail the same way: seen from tansu after an
/// orderly restart (every produce answered UNKNOWN_SERVER_ERROR), and what Kafka answers when it
/// lost the producer's state.
fn broken_producer_state(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Unknown
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerIdMapping
        )
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn bad_settings_are_an_error_not_a_panic() {
        let settings = KafkaSettings::new("127.0.0.1:1").with("no.such.setting", "1");
        assert!(matches!(KafkaBus::new(settings), Err(BusError::Other(_))));
    }

    #[tokio::test]
    async fn invalid_topic_names_are_rejected_before_librdkafka() {
        let bus = KafkaBus::new(KafkaSettings::new("127.0.0.1:1")).unwrap();
        let err = bus.publish(Record::new("bad\0topic", "k", "v")).await.unwrap_err();
        assert!(matches!(err, BusError::UnknownTopic(_)), "{err:?}");
        let err = bus.ensure_topics(&["bad topic".into()], 1).await.unwrap_err();
        assert!(matches!(err, BusError::Other(_)), "{err:?}");
        let err = bus.subscribe("g\0", &["t".into()], StartFrom::Earliest).await.err().unwrap();
        assert!(matches!(err, BusError::Other(_)), "{err:?}");
    }
}
