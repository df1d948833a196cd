//! A member of a consumer group on Kafka: the rebalance callback that tracks the assignment
//! and commits before partitions move, and the subscription that reads, stores offsets and
//! reports lag.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::Notify;

use super::kafka::OFFSETS_TIMEOUT;
use super::kafka_client::{code_error, config_error, is_unavailable, join_error, log_to_tracing};
use super::kafka_topics::TopicsRecreated;
use super::{check_topic_name, BusError, Delivery, PartitionLag, StartFrom, Subscription};

/// Joins `group` on `topics` with the bus's consumer `config` and waits up to `wait` for the
/// first assignment.
pub(super) async fn join(
    config: &ClientConfig,
    group: &str,
    topics: &[String],
    start: StartFrom,
    wait: Duration,
    recreated: TopicsRecreated,
) -> Result<Box<dyn Subscription>, BusError> {
    let shared = Arc::new(Shared::default());
    let context = GroupContext { group: group.to_owned(), start, shared: shared.clone() };
    let consumer: StreamConsumer<GroupContext> =
        StreamConsumer::from_config_and_context(config, context).map_err(config_error)?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(|e| BusError::Other(format!("subscribing to {names:?}: {e}")))?;

    let mut subscription = KafkaSubscription {
        consumer: Some(Arc::new(consumer)),
        shared,
        topics: topics.to_vec(),
        pending: VecDeque::new(),
        group: group.to_owned(),
        recreated,
    };
    subscription.wait_for_assignment(wait).await?;
    Ok(Box::new(subscription))
}

/// What the rebalance callback and the subscription share.
#[derive(Default)]
struct Shared {
    state: Mutex<AssignState>,
    /// Signalled after each assignment, for `subscribe` waiting for the first one.
    assigned: Notify,
}

#[derive(Default)]
struct AssignState {
    /// The partitions this member owns now.
    partitions: BTreeSet<(String, i32)>,
    /// Number of assignments received (0: not joined yet).
    assignments: u64,
    /// The owned partitions' lag, from the last statistics report.
    lag: Vec<PartitionLag>,
    /// Highest offset stored per partition (the next offset to read), so commits never move
    /// the group's offset backwards. Forgotten when the partition is revoked.
    stored: HashMap<(String, i32), i64>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The consumer's context: tracks the assignment, pins `Latest` starts, and commits stored
/// offsets synchronously before partitions go to another member.
struct GroupContext {
    group: String,
    start: StartFrom,
    shared: Arc<Shared>,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        log_to_tracing(level, fac, message);
    }

    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        let lag = super::kafka_lag::from_statistics(&statistics);
        let mut state = lock(&self.shared.state);
        state.lag = lag.into_iter().filter(|l| state.partitions.contains(&(l.topic.clone(), l.partition))).collect();
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(target: "librdkafka", group = %self.group, %error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, tpl, cooperative),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.on_revoke(consumer, tpl, cooperative),
            other => {
                let code: RDKafkaErrorCode = other.into();
                tracing::warn!(group = %self.group, %code, "rebalance error: dropping the assignment");
                let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
                if let Err(e) = result {
                    tracing::warn!(group = %self.group, error = %e, "unassign after rebalance error failed");
                }
                let mut state = lock(&self.shared.state);
                state.partitions.clear();
                state.stored.clear();
            }
        }
    }
}

impl GroupContext {
    fn on_assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList, cooperative: bool) {
        if self.start == StartFrom::Latest && tpl.count() > 0 {
            if let Err(e) = self.pin_latest(consumer, tpl) {
                tracing::warn!(group = %self.group, error = %e, "could not pin the start of new partitions; \
                    librdkafka resets them to the latest offset itself");
            }
        }
        let result = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
        {
            let mut state = lock(&self.shared.state);
            if !cooperative {
                state.partitions.clear();
            }
            match result {
                Ok(()) => {
                    for elem in tpl.elements() {
                        state.partitions.insert((elem.topic().to_owned(), elem.partition()));
                    }
                }
                Err(e) => tracing::warn!(group = %self.group, error = %e, "assign failed"),
            }
            state.assignments += 1;
            tracing::debug!(group = %self.group, partitions = ?state.partitions, "assigned");
        }
        self.shared.assigned.notify_one();
    }

    /// For partitions the group has never committed: resolves the end offset now, commits it
    /// for the group and starts there.
    fn pin_latest(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) -> Result<(), KafkaError> {
        let committed = consumer.committed_offsets(tpl.clone(), OFFSETS_TIMEOUT)?;
        let mut missing = TopicPartitionList::new();
        for elem in committed.elements() {
            if !matches!(elem.offset(), Offset::Offset(_)) {
                missing.add_partition_offset(elem.topic(), elem.partition(), Offset::End)?;
            }
        }
        if missing.count() == 0 {
            return Ok(());
        }
        let ends = consumer.offsets_for_times(missing, OFFSETS_TIMEOUT)?;
        let mut pinned = TopicPartitionList::new();
        for elem in ends.elements() {
            if let (Ok(()), Offset::Offset(end)) = (elem.error(), elem.offset()) {
                pinned.add_partition_offset(elem.topic(), elem.partition(), Offset::Offset(end))?;
                tpl.set_partition_offset(elem.topic(), elem.partition(), Offset::Offset(end))?;
            }
        }
        if pinned.count() > 0 {
            consumer.commit(&pinned, CommitMode::Sync)?;
        }
        Ok(())
    }

    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList, cooperative: bool) {
        if consumer.assignment_lost() {
            tracing::warn!(group = %self.group, "assignment lost: stored offsets cannot be committed");
        } else {
            // Failures are logged inside; the revocation goes on either way.
            let _ = commit_stored(consumer, &self.group);
        }
        let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
        if let Err(e) = result {
            tracing::warn!(group = %self.group, error = %e, "unassign failed");
        }
        let mut state = lock(&self.shared.state);
        if cooperative {
            for elem in tpl.elements() {
                let key = (elem.topic().to_owned(), elem.partition());
                state.partitions.remove(&key);
                state.stored.remove(&key);
            }
        } else {
            state.partitions.clear();
            state.stored.clear();
        }
        tracing::debug!(group = %self.group, partitions = ?state.partitions, "revoked");
    }
}

/// Commits the stored offsets of the current assignment and waits for the broker.
fn commit_stored<C: ConsumerContext>(consumer: &impl Consumer<C>, group: &str) -> Result<(), BusError> {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
        Err(e) => {
            tracing::warn!(group, error = %e, "committing stored offsets failed");
            Err(match e.rdkafka_error_code() {
                Some(code) => code_error("committing offsets", code),
                None => BusError::Other(format!("committing offsets: {e}")),
            })
        }
    }
}

/// A member of a consumer group on Kafka. Dropping it closes the consumer: librdkafka commits
/// what was stored and leaves the group (unlike a real crash, which commits nothing more and
/// holds its partitions until the session times out).
struct KafkaSubscription {
    consumer: Option<Arc<StreamConsumer<GroupContext>>>,
    shared: Arc<Shared>,
    topics: Vec<String>,
    /// Records received while `subscribe` waited for the first assignment.
    pending: VecDeque<Delivery>,
    group: String,
    /// Ends `next` with an error once lost topics were created again (see `kafka_topics`).
    recreated: TopicsRecreated,
}

impl KafkaSubscription {
    async fn wait_for_assignment(&mut self, limit: Duration) -> Result<(), BusError> {
        let consumer = self.consumer.as_ref().ok_or(BusError::Closed)?;
        let deadline = tokio::time::Instant::now() + limit;
        while lock(&self.shared.state).assignments == 0 {
            tokio::select! {
                biased;
                _ = self.shared.assigned.notified() => {}
                received = consumer.recv() => {
                    if let Some(delivery) = received_delivery(received, &self.group)? {
                        self.pending.push_back(delivery);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(BusError::Unavailable(format!(
                        "consumer group {} gave no assignment within {limit:?} (are the other members polling?)",
                        self.group
                    )));
                }
            }
        }
        Ok(())
    }

    fn owns(&self, topic: &str, partition: i32) -> bool {
        lock(&self.shared.state).partitions.iter().any(|(t, p)| *p == partition && t == topic)
    }
}

/// Turns one `recv` result into a delivery, skipping (and logging) errors librdkafka recovers
/// from by itself.
pub(super) fn received_delivery(
    received: Result<BorrowedMessage<'_>, KafkaError>,
    group: &str,
) -> Result<Option<Delivery>, BusError> {
    match received {
        Ok(message) => Ok(Some(to_delivery(&message))),
        Err(KafkaError::MessageConsumptionFatal(code)) => {
            Err(BusError::Other(format!("fatal consumer error in group {group}: {code}")))
        }
        Err(KafkaError::MessageConsumption(code)) if is_unavailable(code) => {
            tracing::debug!(group, %code, "consumer error (librdkafka retries)");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(group, error = %e, "consumer error (librdkafka retries)");
            Ok(None)
        }
    }
}

fn to_delivery(message: &BorrowedMessage<'_>) -> Delivery {
    let headers = message
        .headers()
        .map(|h| {
            (0..h.count())
                .filter_map(|i| h.try_get(i))
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    Delivery {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
        payload: message.payload().map(Bytes::copy_from_slice).unwrap_or_default(),
        headers,
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        while let Some(delivery) = self.pending.pop_front() {
            if self.owns(&delivery.topic, delivery.partition) {
                return Ok(delivery);
            }
        }
        let consumer = self.consumer.clone().ok_or(BusError::Closed)?;
        let group = self.group.clone();
        loop {
            tokio::select! {
                received = consumer.recv() => {
                    if let Some(delivery) = received_delivery(received, &group)? {
                        return Ok(delivery);
                    }
                }
                lost = self.recreated.wait() => return Err(lost),
            }
        }
    }

    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let consumer = self.consumer.as_ref().ok_or(BusError::Closed)?;
        check_topic_name(&delivery.topic)?;
        if delivery.offset < 0 {
            return Err(BusError::Other(format!("invalid offset {}", delivery.offset)));
        }
        let key = (delivery.topic.clone(), delivery.partition);
        let next = delivery.offset + 1;
        if lock(&self.shared.state).stored.get(&key).is_some_and(|&stored| stored >= next) {
            return Ok(());
        }
        // `store_offset` stores offset + 1: the next offset the group reads.
        consumer.store_offset(&delivery.topic, delivery.partition, delivery.offset).map_err(|e| match e {
            KafkaError::StoreOffset(RDKafkaErrorCode::State) => BusError::Other(format!(
                "cannot commit {}/{}: the partition is not assigned to this member",
                delivery.topic, delivery.partition
            )),
            other => BusError::Other(format!(
                "cannot commit {}/{} offset {}: {other}",
                delivery.topic, delivery.partition, delivery.offset
            )),
        })?;
        lock(&self.shared.state).stored.insert(key, next);
        Ok(())
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        lock(&self.shared.state).partitions.iter().cloned().collect()
    }

    fn lag(&self) -> Vec<PartitionLag> {
        let state = lock(&self.shared.state);
        state.lag.iter().filter(|l| state.partitions.contains(&(l.topic.clone(), l.partition))).cloned().collect()
    }

    async fn group_lag(&self) -> Result<Vec<PartitionLag>, BusError> {
        let consumer = self.consumer.clone().ok_or(BusError::Closed)?;
        super::kafka_lag::group(consumer, self.topics.clone()).await
    }

    async fn close(mut self: Box<Self>) -> Result<(), BusError> {
        let Some(consumer) = self.consumer.take() else {
            return Ok(());
        };
        let group = self.group.clone();
        let result = tokio::task::spawn_blocking(move || {
            let committed = commit_stored(&*consumer, &group);
            consumer.unsubscribe();
            // Dropping closes the consumer: it handles the revocation and leaves the group.
            drop(consumer);
            committed
        })
        .await
        .map_err(join_error)?;
        let mut state = lock(&self.shared.state);
        state.partitions.clear();
        state.stored.clear();
        result
    }
}

impl Drop for KafkaSubscription {
    /// Leaves the group before returning, like the in-memory bus: librdkafka commits what was
    /// stored and sends LeaveGroup. This blocks the calling thread for that round trip (a few
    /// milliseconds, at most ~100 ms more for librdkafka's close loop); it needs nothing from
    /// the async runtime, so it cannot deadlock. Use `close` to do it off the async threads.
    fn drop(&mut self) {
        drop(self.consumer.take());
    }
}
