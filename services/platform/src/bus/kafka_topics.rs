//! The topics a Kafka bus was asked to ensure, kept in existence. A broker that comes back
//! without its log (in-memory storage, a wiped volume) has lost every topic: publishing then
//! times out and consumers read nothing, while every process looks healthy. The bus checks
//! its topics every [`CHECK_EVERY`] and creates the ones missing on two checks in a row (as a
//! service does at start), and until they exist `ping` names them, so readiness is false. Clients
//! that knew the old topics keep their old ids (librdkafka does not take a recreated topic's
//! metadata: its leader epoch starts again at 0), so once the topics are back the producer is
//! replaced and every subscription ends with an error: its consumer subscribes again.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use rdkafka::producer::Producer;
use tokio::sync::watch;

use super::kafka::{KafkaBus, KafkaInner};
use super::kafka_client::join_error;
use super::{BusError, EventBus};

/// How often a bus looks for its topics on the broker.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Topic name → partitions, for every topic `ensure_topics` was called with.
pub(super) struct EnsuredTopics {
    topics: Mutex<BTreeMap<String, i32>>,
    keeper_started: AtomicBool,
    /// Set while topics are missing or were created again and the clients not yet renewed:
    /// `ping` fails meanwhile.
    recovering: AtomicBool,
    /// Counts the times lost topics were created again.
    recreated: watch::Sender<u64>,
}

impl Default for EnsuredTopics {
    fn default() -> Self {
        Self {
            topics: Mutex::default(),
            keeper_started: AtomicBool::new(false),
            recovering: AtomicBool::new(false),
            recreated: watch::Sender::new(0),
        }
    }
}

/// Resolves when the bus has created lost topics again (after it was made).
pub(super) struct TopicsRecreated(watch::Receiver<u64>);

impl TopicsRecreated {
    /// The error that ends a subscription whose consumer knew the old topics.
    pub(super) async fn wait(&mut self) -> BusError {
        if self.0.changed().await.is_err() {
            // The bus is gone: nothing will be recreated.
            std::future::pending::<()>().await;
        }
        BusError::Unavailable("the broker lost its topics and they were created again; subscribe again".into())
    }
}

impl EnsuredTopics {
    fn add(&self, topics: &[String], partitions: i32) {
        let mut ensured = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        for topic in topics {
            ensured.insert(topic.clone(), partitions);
        }
    }

    /// The ensured topics not in `present`, by partition count.
    fn missing(&self, present: &HashSet<String>) -> BTreeMap<i32, Vec<String>> {
        let ensured = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        let mut missing: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for (topic, partitions) in ensured.iter().filter(|(t, _)| !present.contains(*t)) {
            missing.entry(*partitions).or_default().push(topic.clone());
        }
        missing
    }
}

impl KafkaBus {
    /// Remembers `topics` and starts the keeper (once per bus).
    pub(super) fn keep_topics(&self, topics: &[String], partitions: i32) {
        let ensured = &self.inner.ensured;
        ensured.add(topics, partitions);
        if ensured.keeper_started.swap(true, Ordering::SeqCst) {
            return;
        }
        // A weak reference: the keeper ends when the last clone of the bus is dropped.
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(keep(weak));
    }

    /// True from when the keeper saw topics missing until the clients were renewed.
    pub(super) fn recovering_topics(&self) -> bool {
        self.inner.ensured.recovering.load(Ordering::SeqCst)
    }

    pub(super) fn topics_recreated(&self) -> TopicsRecreated {
        TopicsRecreated(self.inner.ensured.recreated.subscribe())
    }

    /// The ensured topics the broker does not have, by partition count (one metadata request).
    pub(super) async fn missing_topics(&self, timeout: Duration) -> Result<BTreeMap<i32, Vec<String>>, BusError> {
        let producer = self.producer();
        let present = tokio::task::spawn_blocking(move || {
            let metadata =
                producer.client().fetch_metadata(None, timeout).map_err(|e| BusError::Unavailable(e.to_string()))?;
            Ok::<_, BusError>(
                metadata
                    .topics()
                    .iter()
                    .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                    .map(|t| t.name().to_owned())
                    .collect::<HashSet<_>>(),
            )
        })
        .await
        .map_err(join_error)??;
        Ok(self.inner.ensured.missing(&present))
    }
}

async fn keep(weak: Weak<KafkaInner>) {
    // Set when topics were seen missing, until they are all back and the clients renewed.
    let mut lost = false;
    // Consecutive checks that found topics missing. They are created on the second: every
    // process of the deployment checks in the meantime, so each sees them missing and renews
    // its clients once they are back, whichever process created them.
    let mut missing_checks = 0;
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        let Some(inner) = weak.upgrade() else { return };
        let bus = KafkaBus { inner };
        let missing = match bus.missing_topics(CHECK_EVERY).await {
            Ok(missing) => missing,
            // The broker is down: `ping` says so; look again later.
            Err(_) => continue,
        };
        if missing.is_empty() {
            missing_checks = 0;
        } else {
            lost = true;
            bus.inner.ensured.recovering.store(true, Ordering::SeqCst);
            missing_checks += 1;
            let topics: Vec<&String> = missing.values().flatten().collect();
            tracing::error!(?topics, "topics are missing on the broker (restarted without its log?)");
        }
        for (partitions, topics) in missing.into_iter().filter(|_| missing_checks >= 2) {
            for topic in &topics {
                bus.forget_partitions(topic);
            }
            match bus.ensure_topics(&topics, partitions).await {
                Ok(()) => tracing::warn!(?topics, "created missing topics again"),
                Err(err) => tracing::warn!(?topics, error = %err, "creating missing topics failed; trying again later"),
            }
        }
        if lost && bus.missing_topics(CHECK_EVERY).await.is_ok_and(|missing| missing.is_empty()) {
            lost = false;
            missing_checks = 0;
            bus.renew_producer("topics were created again");
            bus.inner.ensured.recreated.send_modify(|n| *n += 1);
            bus.inner.ensured.recovering.store(false, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_topics_are_grouped_by_their_partition_count() {
        let ensured = EnsuredTopics::default();
        ensured.add(&["a".into(), "b".into()], 4);
        ensured.add(&["dlq".into()], 1);
        let present: HashSet<String> = ["a".to_owned()].into();
        let missing = ensured.missing(&present);
        assert_eq!(missing, BTreeMap::from([(1, vec!["dlq".to_owned()]), (4, vec!["b".to_owned()])]));
        let all: HashSet<String> = ["a", "b", "dlq"].map(str::to_owned).into();
        assert!(ensured.missing(&all).is_empty());
    }
}
