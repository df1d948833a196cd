//! Consumer lag on Kafka: what a member knows locally about the partitions it owns (its
//! position, and the end offsets its fetches brought back), and what the broker says about a
//! whole group (committed offsets against the partitions' ends).

use std::collections::HashMap;
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
        // One ListOffsets request for every end (and one for the starts of partitions the group
        // never committed), not a round trip per partition: every member asks every 10 s.
        let ends = offsets_at(&*consumer, &committed, |_| true, Offset::End)?;
        let starts = offsets_at(&*consumer, &committed, |o| !matches!(o, Offset::Offset(_)), Offset::Beginning)?;
        let mut out = Vec::new();
        for elem in committed.elements() {
            let key = (elem.topic().to_owned(), elem.partition());
            let Some(&end) = ends.get(&key) else { continue };
            let position = match elem.offset() {
                Offset::Offset(committed) => committed,
                _ => starts.get(&key).copied().unwrap_or(end),
            };
            out.push(PartitionLag { topic: key.0, partition: key.1, position, end });
        }
        Ok(out)
    })
    .await
    .map_err(|e| BusError::Other(format!("lag task: {e}")))?
}

/// The offsets at `at` (`Offset::End` or `Offset::Beginning`) of the partitions of `list` whose
/// offset passes `filter`, by topic and partition, in one request.
fn offsets_at<C, K>(
    consumer: &K,
    list: &TopicPartitionList,
    filter: impl Fn(Offset) -> bool,
    at: Offset,
) -> Result<HashMap<(String, i32), i64>, BusError>
where
    C: ConsumerContext,
    K: Consumer<C>,
{
    let mut ask = TopicPartitionList::new();
    for elem in list.elements().iter().filter(|e| filter(e.offset())) {
        ask.add_partition_offset(elem.topic(), elem.partition(), at)
            .map_err(|e| BusError::Other(format!("offset request: {e}")))?;
    }
    if ask.count() == 0 {
        return Ok(HashMap::new());
    }
    let answer = consumer
        .offsets_for_times(ask, LAG_TIMEOUT)
        .map_err(|e| BusError::Unavailable(format!("partition offsets: {e}")))?;
    Ok(answer
        .elements()
        .iter()
        .filter_map(|e| match (e.error(), e.offset()) {
            (Ok(()), Offset::Offset(o)) => Some(((e.topic().to_owned(), e.partition()), o)),
            _ => None,
        })
        .collect())
}
