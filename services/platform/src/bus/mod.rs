//! The event bus: topics split into partitions by key, consumer groups that share partitions
//! among their members, and offsets that are committed only when the consumer says the
//! effect of a record is durable (at-least-once).
//!
//! Both implementations place a record by [`partition_for`] (Kafka's murmur2 over the key),
//! so a service can tell which keys it owns from its assigned partitions.

mod kafka;
mod kafka_client;
mod kafka_group;
mod kafka_lag;
mod kafka_settings;
mod kafka_tail;
mod kafka_topics;
mod memory;

pub use kafka::{KafkaBus, KafkaSettings};
pub use memory::{MemoryBus, DEFAULT_RETENTION_RECORDS};

use async_trait::async_trait;
use bytes::Bytes;

/// A header on a record: W3C trace context travels here.
pub type Header = (String, Vec<u8>);

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub key: String,
    pub payload: Bytes,
    pub headers: Vec<Header>,
}

impl Record {
    pub fn new(topic: impl Into<String>, key: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self { topic: topic.into(), key: key.into(), payload: payload.into(), headers: Vec::new() }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A record received from a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub payload: Bytes,
    pub headers: Vec<Header>,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }
}

/// How far one partition's reader is behind its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The next offset the reader (or the group, when measured from its commits) will read.
    pub position: i64,
    /// The partition's end: the offset the next published record gets.
    pub end: i64,
}

impl PartitionLag {
    /// Records published and not yet read (never negative).
    pub fn lag(&self) -> i64 {
        (self.end - self.position).max(0)
    }
}

/// Where a group starts on a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("subscription closed")]
    Closed,
    #[error("event bus error: {0}")]
    Other(String),
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Creates the topics that do not exist yet, with `partitions` partitions each.
    async fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), BusError>;

    /// Publishes a record; resolves once the bus has made it durable (broker ack).
    async fn publish(&self, record: Record) -> Result<(), BusError>;

    /// Joins consumer group `group` on `topics`. Each partition is read by one member of the
    /// group at a time, from the group's committed offset (or `start` when there is none).
    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
        start: StartFrom,
    ) -> Result<Box<dyn Subscription>, BusError>;

    /// Reads every partition of `topics` from its end (`Latest`: a per-replica fan-out that
    /// only cares about what happens from now on) or its start (`Earliest`: an admin reading a
    /// whole topic), outside any consumer group: no offsets are committed and the broker keeps
    /// no group for it. `commit` is a no-op.
    async fn tail(&self, topics: &[String], from: StartFrom) -> Result<Box<dyn Subscription>, BusError>;

    /// Number of partitions of `topic`, if known.
    async fn partition_count(&self, topic: &str) -> Result<i32, BusError>;

    /// Whether the bus answers (readiness).
    async fn ping(&self) -> Result<(), BusError>;
}

#[async_trait]
pub trait Subscription: Send + Sync {
    /// The next record. Records of one partition come in offset order.
    async fn next(&mut self) -> Result<Delivery, BusError>;

    /// Marks `delivery` as done: the group's offset for its partition moves past it. Call
    /// only after the record's effect is durable; what is not committed is delivered again
    /// to whoever owns the partition next.
    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError>;

    /// The (topic, partition) pairs this member owns right now.
    fn assignment(&self) -> Vec<(String, i32)>;

    /// How far this member is behind on the partitions it owns, from what it knows locally
    /// (cheap; a partition whose end or position is not known yet is left out).
    fn lag(&self) -> Vec<PartitionLag>;

    /// How far the whole group is behind on every partition of its topics, from the group's
    /// committed offsets and the partitions' ends (asks the broker; a member that owns no
    /// partitions uses it to tell whether its group makes progress without it).
    async fn group_lag(&self) -> Result<Vec<PartitionLag>, BusError>;

    /// Commits what was marked done and leaves the group, handing partitions to the others.
    async fn close(self: Box<Self>) -> Result<(), BusError>;
}

/// Kafka's rule for topic names, enforced by both buses so that a name that works embedded
/// also works on Kafka (and never reaches librdkafka's C strings with a NUL in it).
pub(crate) fn check_topic_name(name: &str) -> Result<(), BusError> {
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if legal {
        Ok(())
    } else {
        Err(BusError::Other(format!("invalid topic name {name:?}: use 1 to 249 of [a-zA-Z0-9._-]")))
    }
}

/// The arguments of `ensure_topics`, checked the same way by both buses.
pub(crate) fn check_new_topics(topics: &[String], partitions: i32) -> Result<(), BusError> {
    if partitions < 1 {
        return Err(BusError::Other(format!("a topic needs at least one partition, not {partitions}")));
    }
    topics.iter().try_for_each(|t| check_topic_name(t))
}

/// The arguments of `subscribe`, checked the same way by both buses.
pub(crate) fn check_subscription(group: &str, topics: &[String]) -> Result<(), BusError> {
    if group.is_empty() || group.contains('\0') {
        return Err(BusError::Other(format!("invalid consumer group name {group:?}")));
    }
    if topics.is_empty() {
        return Err(BusError::Other("a subscription needs at least one topic".into()));
    }
    Ok(())
}

/// Kafka's default partitioner (murmur2, as in the Java client), used by both
/// implementations so that key ownership is computable.
pub fn partition_for(key: &str, partitions: i32) -> i32 {
    if partitions <= 1 {
        return 0;
    }
    ((murmur2(key.as_bytes()) & 0x7fff_ffff) % partitions as u32) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka_reference_values() {
        // Values from Kafka's UtilsTest.testMurmur2 (as signed ints there).
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32, -58897971);
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }

    #[test]
    fn partition_for_is_stable_and_in_range() {
        for key in ["acme/sales", "acme/support", "b/x", ""] {
            let p = partition_for(key, 12);
            assert!((0..12).contains(&p));
            assert_eq!(p, partition_for(key, 12));
        }
        assert_eq!(partition_for("anything", 1), 0);
    }
}
