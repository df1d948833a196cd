//! Records no consumer could apply: republished to the dead-letter topic with the original
//! key, payload and headers, plus headers that say where they came from and why. The
//! `switchyard dead-letters` command lists them and replays them to their topic.

use std::time::Duration;

use switchyard_platform::bus::{Delivery, EventBus, Record};

use super::{backoff, ConsumerSpec, FailureClass};
use crate::{ServiceError, Shutdown};

/// Headers added to a dead letter (the original headers stay as they were).
pub const HEADER_TOPIC: &str = "switchyard-dlq-topic";
pub const HEADER_PARTITION: &str = "switchyard-dlq-partition";
pub const HEADER_OFFSET: &str = "switchyard-dlq-offset";
pub const HEADER_GROUP: &str = "switchyard-dlq-group";
pub const HEADER_CLASS: &str = "switchyard-dlq-class";
pub const HEADER_ERROR: &str = "switchyard-dlq-error";
pub const HEADER_FAILED_AT: &str = "switchyard-dlq-failed-at-ms";

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
