//! Consumer lag on Kafka: what a member knows locally about the partitions it owns (its
//! position, and the end offsets its fetches brought back), and what the broker says about a
//! whole group (committed offsets against the partitions' ends).

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::{BusError, PartitionLag};

/// How long the broker may take to answer one lag question.
const LAG_TIMEOUT: Duration = Duration::from_secs(5);

/// Statistics every consumer sends itself (`statistics.interval.ms`), the source of its own
/// lag: librdkafka's fetcher knows each fetched partition's position and end.
pub(super) const STATISTICS_INTERVAL_MS: &str = "5000";

/// The partitions being fetched, with a known position and end, from one statistics report.
pub(super) fn from_statistics(statistics: &Statistics) -> Vec<PartitionLag> {
    let mut out: Vec<PartitionLag> = statistics
        .topics
        .iter()
        .flat_map(|(topic, t)| {
            t.partitions.values().filter_map(move |p| {
                let fetched = p.partition >= 0 && p.fetch_state != "none" && p.app_offset >= 0 && p.hi_offset >= 0;
                fetched.then(|| PartitionLag {
                    topic: topic.clone(),
                    partition: p.partition,
                    position: p.app_offset,
                    end: p.hi_offset,
                })
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

/// Every partition of `topics`: the group's committed offset (the start when it has none) and
/// the partition's end, from the broker.
pub(super) async fn group<C, K>(consumer: Arc<K>, topics: Vec<String>) -> Result<Vec<PartitionLag>, BusError>
where
    C: ConsumerContext + 'static,
    K: Consumer<C> + Send + Sync + 'static,
{
    tokio::task::spawn_blocking(move || {
        let unavailable =
            |what: String| move |e: rdkafka::error::KafkaError| BusError::Unavailable(format!("{what}: {e}"));
        let mut all = TopicPartitionList::new();
        for topic in &topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), LAG_TIMEOUT)
                .map_err(unavailable(format!("metadata of {topic}")))?;
            for t in metadata.topics() {
                for p in t.partitions() {
                    all.add_partition(topic, p.id());
                }
            }
        }
        let committed =
            consumer.committed_offsets(all, LAG_TIMEOUT).map_err(unavailable("committed offsets".into()))?;
        let mut out = Vec::new();
        for elem in committed.elements() {
            let (topic, partition) = (elem.topic().to_owned(), elem.partition());
            let (start, end) = consumer
                .fetch_watermarks(&topic, partition, LAG_TIMEOUT)
                .map_err(unavailable(format!("end of {topic}/{partition}")))?;
            let position = match elem.offset() {
                Offset::Offset(committed) => committed,
                _ => start,
            };
            out.push(PartitionLag { topic, partition, position, end });
        }
        Ok(out)
    })
    .await
    .map_err(|e| BusError::Other(format!("lag task: {e}")))?
}
