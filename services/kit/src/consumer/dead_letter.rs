//! Records no consumer could apply: republished to the dead-letter topic with the original
//! key, payload and headers, plus headers that say where they came from and why. The
//! `switchyard dead-letters` command lists them and replays them to their topic.

use std::time::Duration;

use switchyard_platform::bus::{BusError, Delivery, EventBus, Record, StartFrom};

use super::{backoff, ConsumerSpec, FailureClass};
use crate::{ServiceError, Shutdown};

/// Headers added to a dead letter (the original headers stay as they were).
pub const HEADER_PREFIX: &str = "switchyard-dlq-";
pub const HEADER_TOPIC: &str = "switchyard-dlq-topic";
pub const HEADER_PARTITION: &str = "switchyard-dlq-partition";
pub const HEADER_OFFSET: &str = "switchyard-dlq-offset";
pub const HEADER_GROUP: &str = "switchyard-dlq-group";
pub const HEADER_CLASS: &str = "switchyard-dlq-class";
pub const HEADER_ERROR: &str = "switchyard-dlq-error";
pub const HEADER_FAILED_AT: &str = "switchyard-dlq-failed-at-ms";
/// On a replayed record: the dead letter it came from. Not a `switchyard-dlq-` header, so a
/// replayed record that fails again carries it into its next dead letter.
pub const HEADER_REPLAYED_FROM: &str = "switchyard-replayed-from";

pub(super) fn record(delivery: &Delivery, spec: &ConsumerSpec, class: FailureClass, err: &ServiceError) -> Record {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut record = Record::new(spec.dead_letters.clone(), delivery.key.clone(), delivery.payload.clone());
    record.headers = delivery.headers.clone();
    // Bounded, so a huge error text cannot make the dead letter itself too big to publish.
    let error: String = err.to_string().chars().take(1000).collect();
    record
        .with_header(HEADER_TOPIC, delivery.topic.clone())
        .with_header(HEADER_PARTITION, delivery.partition.to_string())
        .with_header(HEADER_OFFSET, delivery.offset.to_string())
        .with_header(HEADER_GROUP, spec.group.clone())
        .with_header(HEADER_CLASS, class.as_str())
        .with_header(HEADER_ERROR, error)
        .with_header(HEADER_FAILED_AT, now_ms.to_string())
}

/// Publishes until the broker acknowledges (the original is committed only after that);
/// false when shutdown came first.
pub(super) async fn publish(bus: &dyn EventBus, letter: Record, shutdown: &Shutdown) -> bool {
    let mut delays = backoff();
    loop {
        match bus.publish(letter.clone()).await {
            Ok(()) => return true,
            Err(err) => {
                tracing::warn!(topic = %letter.topic, error = %err, "publishing a dead letter failed, retrying")
            }
        }
        tokio::select! {
            _ = shutdown.wait() => return false,
            _ = tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))) => {}
        }
    }
}

/// A record of the dead-letter topic, as `switchyard dead-letters` shows it.
#[derive(Debug, Clone)]
pub struct Letter {
    /// Where it sits in the dead-letter topic.
    pub partition: i32,
    pub offset: i64,
    pub record: Delivery,
}

impl Letter {
    pub fn header(&self, name: &str) -> String {
        self.record.header(name).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default()
    }

    /// The consumer group that gave up on it.
    pub fn group(&self) -> String {
        self.header(HEADER_GROUP)
    }

    /// The topic it came from.
    pub fn origin(&self) -> String {
        self.header(HEADER_TOPIC)
    }

    /// One line: where it is, who gave up, why, and where it came from.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}\tgroup={}\tclass={}\tfrom={}/{}/{}\tfailed_at_ms={}\terror={}",
            self.partition,
            self.offset,
            self.group(),
            self.header(HEADER_CLASS),
            self.origin(),
            self.header(HEADER_PARTITION),
            self.header(HEADER_OFFSET),
            self.header(HEADER_FAILED_AT),
            self.header(HEADER_ERROR),
        )
    }
}

/// Reads the dead-letter topic from its start, outside any group, until `idle` passes without
/// a record (or `limit` letters were read), optionally only those of `group`.
pub async fn read(
    bus: &dyn EventBus,
    topic: &str,
    group: Option<&str>,
    idle: Duration,
    limit: usize,
) -> Result<Vec<Letter>, BusError> {
    let mut sub = bus.tail(&[topic.to_owned()], StartFrom::Earliest).await?;
    let mut letters = Vec::new();
    while letters.len() < limit {
        let Ok(next) = tokio::time::timeout(idle, sub.next()).await else { break };
        let record = next?;
        let letter = Letter { partition: record.partition, offset: record.offset, record };
        if group.is_none_or(|g| letter.group() == g) {
            letters.push(letter);
        }
    }
    sub.close().await?;
    letters.sort_by_key(|l| (l.partition, l.offset));
    Ok(letters)
}

/// Publishes each letter to the topic it came from, with its key, payload and original
/// headers, marked `switchyard-dlq-replayed-from: <partition>/<offset>`. Every group of that
/// topic reads it again; consumers are idempotent, so only the group that failed does work.
pub async fn replay(bus: &dyn EventBus, letters: &[Letter]) -> Result<usize, BusError> {
    for letter in letters {
        let origin = letter.origin();
        if origin.is_empty() {
            return Err(BusError::Other(format!(
                "dead letter {}/{} names no topic to go back to",
                letter.partition, letter.offset
            )));
        }
        let mut record = Record::new(origin, letter.record.key.clone(), letter.record.payload.clone());
        record.headers =
            letter.record.headers.iter().filter(|(name, _)| !name.starts_with(HEADER_PREFIX)).cloned().collect();
        bus.publish(record.with_header(HEADER_REPLAYED_FROM, format!("{}/{}", letter.partition, letter.offset)))
            .await?;
    }
    Ok(letters.len())
}
