//! In-memory event bus: the embedded mode's real bus, with Kafka's semantics.
//!
//! - A topic has a fixed number of partitions; a record goes to `partition_for(key, n)` and
//!   gets the next offset of that partition. A record keeps its offset forever.
//! - Retention by size, like Kafka's `retention.bytes` counted in records: the log of a
//!   partition is a queue of segments of `SEGMENT` records, and a publish that leaves more
//!   than the bound retained drops whole segments from the front, as long as what stays still
//!   holds the bound. So a partition retains at least the newest `bound` records (once it has
//!   that many) and fewer than `bound + SEGMENT`. Dropping is O(segments dropped), and the
//!   dropped records are freed after the partition lock is released.
//! - A member whose next offset (its cursor, or the group's committed offset) fell below the
//!   first retained offset continues at the first retained offset, as Kafka does with
//!   `auto.offset.reset` when an offset is out of range, and logs a warning with what it
//!   skipped. The group's committed offset only moves when the member commits.
//! - A consumer group shares the partitions of the subscribed topics among its members
//!   (round-robin over the members in join order, like Kafka's `RoundRobinAssignor`). The
//!   assignment is recomputed whenever a member joins, closes or is dropped. A member that
//!   keeps a partition across a rebalance keeps its position; a partition that moves starts
//!   at the group's committed offset, so what was not committed is delivered again.
//! - A partition the group has never committed starts at `StartFrom` when it is first
//!   assigned, and that start is committed for the group at once: a group subscribed with
//!   `Latest` keeps every record published after it first got the partition, even if the
//!   member that got it dies before committing anything (the Kafka adapter does the same).
//! - Commits take effect immediately, so dropping a subscription (a crash) loses nothing that
//!   was committed and commits nothing more.
//!
//! Locking: publishers take the topic map's read lock and one partition lock; consumers take
//! their group's lock and then one partition lock. The lock order is always
//! groups map → group → partition, and no lock is held across an await.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;

use super::{
    check_new_topics, check_subscription, partition_for, BusError, Delivery, EventBus, Header, PartitionLag, Record,
    StartFrom, Subscription,
};

/// Records per storage segment: the log grows by segments, so a long log is never copied.
/// Retention is counted in whole segments, so a bound is never smaller than one segment.
const SEGMENT: usize = 4096;

/// Names the one-member groups behind `tail` readers.
const TAIL_GROUP_PREFIX: &str = "~tail.";

/// Records retained per partition by [`MemoryBus::new`] (at least this many once published,
/// and fewer than this plus one segment of 4096 records).
pub const DEFAULT_RETENTION_RECORDS: usize = 65_536;

/// The in-memory event bus. Cheap to clone: clones share the same topics and groups.
#[derive(Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

struct Inner {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
    /// Records to retain per partition; at least `SEGMENT`.
    retention: i64,
}

struct Topic {
    name: String,
    partitions: Box<[Partition]>,
}

#[derive(Default)]
struct Partition {
    log: Mutex<Log>,
}

/// One partition's retained records and the members (one per group at most) that own it now.
#[derive(Default)]
struct Log {
    /// Retained records, oldest first. Every segment but the last is full, so `start` is a
    /// multiple of `SEGMENT`.
    segments: VecDeque<Vec<Entry>>,
    /// The offset of the first retained record (`len` when nothing is retained).
    start: i64,
    /// The next offset to assign.
    len: i64,
    watchers: Vec<Watcher>,
}

struct Watcher {
    member: u64,
    notify: Arc<Notify>,
}

struct Entry {
    key: String,
    payload: Bytes,
    headers: Vec<Header>,
}

struct Group {
    name: String,
    state: Mutex<GroupState>,
}

#[derive(Default)]
struct GroupState {
    /// Members by id; ids grow, so this is join order.
    members: BTreeMap<u64, Member>,
    /// Per topic, per partition: the next offset the group has to read.
    committed: HashMap<String, Vec<Option<i64>>>,
}

struct Member {
    topics: Vec<Arc<Topic>>,
    start: StartFrom,
    notify: Arc<Notify>,
    owned: Vec<Owned>,
    /// Where the next scan over `owned` starts, so that partitions take turns.
    turn: usize,
}

struct Owned {
    topic: Arc<Topic>,
    partition: i32,
    /// The next offset this member reads from the partition.
    cursor: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBus {
    /// A bus that retains [`DEFAULT_RETENTION_RECORDS`] records per partition.
    pub fn new() -> Self {
        Self::with_retention(DEFAULT_RETENTION_RECORDS)
    }

    /// A bus that retains `max_records_per_partition` records per partition: a publish that
    /// leaves more than that drops whole segments (4096 records each) from the front of the
    /// partition, as long as the rest still holds the bound, so a partition keeps at least the
    /// newest `max_records_per_partition` records and fewer than that plus one segment.
    ///
    /// Values below one segment (4096 records) are rounded up to one segment: the segment
    /// being written is never dropped.
    pub fn with_retention(max_records_per_partition: usize) -> Self {
        let retention = i64::try_from(max_records_per_partition.max(SEGMENT)).unwrap_or(i64::MAX);
        let inner =
            Inner { topics: RwLock::default(), groups: Mutex::default(), next_member: AtomicU64::new(0), retention };
        Self { inner: Arc::new(inner) }
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, BusError> {
        let topics = self.inner.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(name).cloned().ok_or_else(|| BusError::UnknownTopic(name.to_owned()))
    }

    /// Adds a member to `group` (created on first use). An ephemeral group is removed with
    /// its last member.
    fn join(
        &self,
        group: &str,
        topics: &[String],
        start: StartFrom,
        ephemeral: bool,
    ) -> Result<MemorySubscription, BusError> {
        check_subscription(group, topics)?;
        let mut resolved: Vec<Arc<Topic>> = Vec::with_capacity(topics.len());
        for name in topics {
            let topic = self.topic(name)?;
            if !resolved.iter().any(|t| Arc::ptr_eq(t, &topic)) {
                resolved.push(topic);
            }
        }
        let group_state = self.group(group);
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        {
            let mut state = lock(&group_state.state);
            let member = Member { topics: resolved, start, notify: notify.clone(), owned: Vec::new(), turn: 0 };
            state.members.insert(id, member);
            state.rebalance();
        }
        let ephemeral = ephemeral.then(|| self.inner.clone());
        Ok(MemorySubscription { group: group_state, id, notify, ephemeral })
    }

    /// Consumer groups that exist now (tests check that readers leave none behind).
    pub fn group_count(&self) -> usize {
        lock(&self.inner.groups).len()
    }

    fn group(&self, name: &str) -> Arc<Group> {
        let mut groups = lock(&self.inner.groups);
        groups
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Group { name: name.to_owned(), state: Mutex::default() }))
            .clone()
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics = self.inner.topics.read().map(|t| t.len()).unwrap_or_default();
        f.debug_struct("MemoryBus")
            .field("topics", &topics)
            .field("retention", &self.inner.retention)
            .finish_non_exhaustive()
    }
}

impl Log {
    /// The record at `offset`, if it is retained.
    fn get(&self, offset: i64) -> Option<&Entry> {
        let index = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        self.segments.get(index / SEGMENT)?.get(index % SEGMENT)
    }

    fn push(&mut self, entry: Entry) {
        match self.segments.back_mut() {
            Some(segment) if segment.len() < SEGMENT => segment.push(entry),
            _ => {
                let mut segment = Vec::with_capacity(SEGMENT);
                segment.push(entry);
                self.segments.push_back(segment);
            }
        }
        self.len += 1;
    }

    /// Drops whole segments from the front while more than `retention` records are retained
    /// and the rest still holds `retention` (Kafka's rule for size retention). Returns the
    /// dropped segments, for the caller to free once the lock is released; empty (no
    /// allocation) unless something was dropped.
    fn trim(&mut self, retention: i64) -> Vec<Vec<Entry>> {
        let mut dropped = Vec::new();
        if self.len - self.start <= retention {
            return dropped;
        }
        // Never the last segment: it is the one being written.
        while self.segments.len() > 1 {
            let front = self.segments.front().map_or(0, Vec::len) as i64;
            if self.len - self.start - front < retention {
                break;
            }
            if let Some(segment) = self.segments.pop_front() {
                dropped.push(segment);
            }
            self.start += front;
        }
        dropped
    }

    fn watch(&mut self, member: u64, notify: &Arc<Notify>) {
        if !self.watchers.iter().any(|w| w.member == member) {
            self.watchers.push(Watcher { member, notify: notify.clone() });
        }
    }

    fn unwatch(&mut self, member: u64) {
        self.watchers.retain(|w| w.member != member);
    }
}

impl Topic {
    fn partition(&self, partition: i32) -> Option<&Partition> {
        usize::try_from(partition).ok().and_then(|p| self.partitions.get(p))
    }
}

impl GroupState {
    /// Recomputes the assignment of every member: round-robin over the topic-partitions of
    /// all subscribed topics (sorted by topic, then partition), skipping members that do not
    /// subscribe to the topic. Keeps the position of partitions that stay with their member.
    fn rebalance(&mut self) {
        let mut topics: BTreeMap<&str, &Arc<Topic>> = BTreeMap::new();
        for member in self.members.values() {
            for topic in &member.topics {
                topics.insert(topic.name.as_str(), topic);
            }
        }
        let ids: Vec<u64> = self.members.keys().copied().collect();
        let mut plan: HashMap<u64, Vec<(Arc<Topic>, i32)>> = HashMap::new();
        let mut next = 0usize;
        for (name, topic) in topics {
            for partition in 0..topic.partitions.len() {
                for k in 0..ids.len() {
                    let id = ids[(next + k) % ids.len()];
                    let subscribed = self.members.get(&id).is_some_and(|m| m.topics.iter().any(|t| t.name == name));
                    if subscribed {
                        plan.entry(id).or_default().push((topic.clone(), partition as i32));
                        next = (next + k + 1) % ids.len();
                        break;
                    }
                }
            }
        }

        let GroupState { members, committed } = self;
        for (id, member) in members.iter_mut() {
            let wanted = plan.remove(id).unwrap_or_default();
            let mut old: Vec<Owned> = std::mem::take(&mut member.owned);
            let mut owned = Vec::with_capacity(wanted.len());
            for (topic, partition) in wanted {
                if let Some(i) = old.iter().position(|o| Arc::ptr_eq(&o.topic, &topic) && o.partition == partition) {
                    owned.push(old.swap_remove(i));
                    continue;
                }
                let Some(part) = topic.partition(partition) else { continue };
                let mut log = lock(&part.log);
                let slots = committed.entry(topic.name.clone()).or_insert_with(|| vec![None; topic.partitions.len()]);
                let cursor = match slots.get(partition as usize).copied().flatten() {
                    Some(offset) => offset,
                    None => {
                        let start = match member.start {
                            StartFrom::Earliest => log.start,
                            StartFrom::Latest => log.len,
                        };
                        if let Some(slot) = slots.get_mut(partition as usize) {
                            *slot = Some(start);
                        }
                        start
                    }
                };
                log.watch(*id, &member.notify);
                drop(log);
                owned.push(Owned { topic, partition, cursor });
            }
            for gone in old {
                if let Some(part) = gone.topic.partition(gone.partition) {
                    lock(&part.log).unwatch(*id);
                }
            }
            member.owned = owned;
            member.turn = 0;
            member.notify.notify_one();
        }
    }

    /// Removes a member and hands its partitions to the others.
    fn leave(&mut self, id: u64) {
        if let Some(member) = self.members.remove(&id) {
            for owned in member.owned {
                if let Some(part) = owned.topic.partition(owned.partition) {
                    lock(&part.log).unwatch(id);
                }
            }
            self.rebalance();
        }
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), BusError> {
        check_new_topics(topics, partitions)?;
        let mut map = self.inner.topics.write().unwrap_or_else(PoisonError::into_inner);
        for name in topics {
            map.entry(name.clone()).or_insert_with(|| {
                let partitions = (0..partitions).map(|_| Partition::default()).collect();
                Arc::new(Topic { name: name.clone(), partitions })
            });
        }
        Ok(())
    }

    async fn publish(&self, record: Record) -> Result<(), BusError> {
        let topics = self.inner.topics.read().unwrap_or_else(PoisonError::into_inner);
        let Some(topic) = topics.get(&record.topic) else {
            return Err(BusError::UnknownTopic(record.topic));
        };
        let partition = partition_for(&record.key, topic.partitions.len() as i32);
        let Some(part) = topic.partition(partition) else {
            return Err(BusError::Other(format!("no partition {partition} in {}", record.topic)));
        };
        let mut log = lock(&part.log);
        log.push(Entry { key: record.key, payload: record.payload, headers: record.headers });
        let dropped = log.trim(self.inner.retention);
        for watcher in &log.watchers {
            watcher.notify.notify_one();
        }
        drop(log);
        // Freeing a segment's records is the slow part of trimming: do it outside the lock.
        drop(dropped);
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
        start: StartFrom,
    ) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(self.join(group, topics, start, false)?))
    }

    async fn tail(&self, topics: &[String], from: StartFrom) -> Result<Box<dyn Subscription>, BusError> {
        // A group of one that exists only while the reader does: it starts at the start or end
        // of every partition and is forgotten when dropped, as a group-less Kafka reader
        // leaves nothing.
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(self.join(&format!("{TAIL_GROUP_PREFIX}{id}"), topics, from, true)?))
    }

    async fn partition_count(&self, topic: &str) -> Result<i32, BusError> {
        Ok(self.topic(topic)?.partitions.len() as i32)
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// A member of a consumer group on a [`MemoryBus`]. Dropping it without `close` is a crash:
/// it leaves the group and commits nothing more.
struct MemorySubscription {
    group: Arc<Group>,
    id: u64,
    notify: Arc<Notify>,
    /// Set for a `tail` reader: its group goes when it does.
    ephemeral: Option<Arc<Inner>>,
}

impl MemorySubscription {
    /// The next record from one of the owned partitions, taking the partitions in turn.
    fn poll_one(&self) -> Result<Option<Delivery>, BusError> {
        let mut state = lock(&self.group.state);
        let member = state.members.get_mut(&self.id).ok_or(BusError::Closed)?;
        let n = member.owned.len();
        for k in 0..n {
            let i = (member.turn + k) % n;
            let owned = &mut member.owned[i];
            let Some(part) = owned.topic.partition(owned.partition) else { continue };
            let log = lock(&part.log);
            let behind = owned.cursor;
            if owned.cursor < log.start {
                owned.cursor = log.start;
            }
            let delivery = log.get(owned.cursor).map(|entry| Delivery {
                topic: owned.topic.name.clone(),
                partition: owned.partition,
                offset: owned.cursor,
                key: entry.key.clone(),
                payload: entry.payload.clone(),
                headers: entry.headers.clone(),
            });
            drop(log);
            if behind < owned.cursor {
                tracing::warn!(
                    group = %self.group.name,
                    topic = %owned.topic.name,
                    partition = owned.partition,
                    skipped = owned.cursor - behind,
                    from = behind,
                    to = owned.cursor,
                    "records were dropped by retention before the group read them; \
                     continuing at the first retained offset"
                );
            }
            if let Some(delivery) = delivery {
                owned.cursor += 1;
                member.turn = (i + 1) % n;
                return Ok(Some(delivery));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            if let Some(delivery) = self.poll_one()? {
                return Ok(delivery);
            }
            // A publish or rebalance between the check and this wait leaves a permit behind.
            self.notify.notified().await;
        }
    }

    fn commit(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let mut state = lock(&self.group.state);
        let GroupState { members, committed } = &mut *state;
        let member = members.get(&self.id).ok_or(BusError::Closed)?;
        let owned = member
            .owned
            .iter()
            .find(|o| o.partition == delivery.partition && o.topic.name == delivery.topic)
            .ok_or_else(|| {
            BusError::Other(format!(
                "cannot commit {}/{}: the partition is not assigned to this member",
                delivery.topic, delivery.partition
            ))
        })?;
        if delivery.offset < 0 || delivery.offset >= owned.cursor {
            return Err(BusError::Other(format!(
                "cannot commit {}/{} offset {}: not delivered to this member",
                delivery.topic, delivery.partition, delivery.offset
            )));
        }
        let slots =
            committed.entry(owned.topic.name.clone()).or_insert_with(|| vec![None; owned.topic.partitions.len()]);
        if let Some(slot) = slots.get_mut(delivery.partition as usize) {
            let next = delivery.offset + 1;
            if slot.is_none_or(|c| c < next) {
                *slot = Some(next);
            }
        }
        Ok(())
    }

    fn assignment(&self) -> Vec<(String, i32)> {
        let state = lock(&self.group.state);
        let mut out: Vec<(String, i32)> = state
            .members
            .get(&self.id)
            .map(|m| m.owned.iter().map(|o| (o.topic.name.clone(), o.partition)).collect())
            .unwrap_or_default();
        out.sort();
        out
    }

    fn lag(&self) -> Vec<PartitionLag> {
        let state = lock(&self.group.state);
        let Some(member) = state.members.get(&self.id) else { return Vec::new() };
        member
            .owned
            .iter()
            .filter_map(|o| {
                let end = lock(&o.topic.partition(o.partition)?.log).len;
                Some(PartitionLag { topic: o.topic.name.clone(), partition: o.partition, position: o.cursor, end })
            })
            .collect()
    }

    async fn group_lag(&self) -> Result<Vec<PartitionLag>, BusError> {
        let state = lock(&self.group.state);
        let member = state.members.get(&self.id).ok_or(BusError::Closed)?;
        let mut out = Vec::new();
        for topic in &member.topics {
            let committed = state.committed.get(&topic.name);
            for (i, part) in topic.partitions.iter().enumerate() {
                let log = lock(&part.log);
                let position = committed.and_then(|c| c.get(i).copied().flatten()).unwrap_or(log.start);
                out.push(PartitionLag { topic: topic.name.clone(), partition: i as i32, position, end: log.len });
            }
        }
        Ok(out)
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        // Commits already took effect; leaving happens in Drop.
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        lock(&self.group.state).leave(self.id);
        if let Some(inner) = &self.ephemeral {
            lock(&inner.groups).remove(&self.group.name);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, Instant};

    use super::*;

    async fn bus_with(topic: &str, partitions: i32) -> MemoryBus {
        let bus = MemoryBus::new();
        bus.ensure_topics(&[topic.to_owned()], partitions).await.unwrap();
        bus
    }

    #[tokio::test]
    async fn publish_places_record_by_key_partition() {
        let bus = bus_with("t", 8).await;
        bus.publish(Record::new("t", "acme/sales", "x").with_header("h", "v")).await.unwrap();
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        let d = sub.next().await.unwrap();
        assert_eq!(d.partition, partition_for("acme/sales", 8));
        assert_eq!(d.offset, 0);
        assert_eq!(d.header("h"), Some(&b"v"[..]));
    }

    #[tokio::test]
    async fn log_spans_segments_in_order() {
        let bus = bus_with("t", 1).await;
        let n = SEGMENT * 2 + 7;
        for i in 0..n {
            bus.publish(Record::new("t", "k", i.to_string())).await.unwrap();
        }
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        for i in 0..n {
            let d = sub.next().await.unwrap();
            assert_eq!(d.offset, i as i64);
            assert_eq!(d.payload, Bytes::from(i.to_string()));
        }
    }

    #[tokio::test]
    async fn commit_never_moves_backwards_and_rejects_undelivered_offsets() {
        let bus = bus_with("t", 1).await;
        for i in 0..3 {
            bus.publish(Record::new("t", "k", i.to_string())).await.unwrap();
        }
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        let d0 = sub.next().await.unwrap();
        let d1 = sub.next().await.unwrap();
        let mut d2 = d1.clone();
        d2.offset = 2;
        assert!(sub.commit(&d2).is_err(), "offset 2 was not delivered yet");
        sub.commit(&d1).unwrap();
        sub.commit(&d0).unwrap();
        drop(sub);
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        assert_eq!(sub.next().await.unwrap().offset, 2);
    }

    #[tokio::test]
    async fn next_wakes_on_publish() {
        let bus = bus_with("t", 4).await;
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Latest).await.unwrap();
        let publisher = bus.clone();
        let handle = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            publisher.publish(Record::new("t", "k", "late")).await.unwrap();
        });
        let d = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().unwrap();
        assert_eq!(d.payload, Bytes::from("late"));
        handle.await.unwrap();
    }

    #[tokio::test]
    async fn round_robin_covers_every_partition_once() {
        let bus = MemoryBus::new();
        bus.ensure_topics(&["a".into(), "b".into()], 5).await.unwrap();
        let topics = ["a".to_owned(), "b".to_owned()];
        let s1 = bus.subscribe("g", &topics, StartFrom::Earliest).await.unwrap();
        let s2 = bus.subscribe("g", &topics, StartFrom::Earliest).await.unwrap();
        let s3 = bus.subscribe("g", &topics[..1], StartFrom::Earliest).await.unwrap();
        let mut all: Vec<(String, i32)> = [&s1, &s2, &s3].iter().flat_map(|s| s.assignment()).collect();
        assert!(s3.assignment().iter().all(|(t, _)| t == "a"));
        assert!(!s1.assignment().is_empty() && !s2.assignment().is_empty() && !s3.assignment().is_empty());
        all.sort();
        let expected: Vec<(String, i32)> =
            ["a", "b"].iter().flat_map(|t| (0..5).map(move |p| (t.to_string(), p))).collect();
        assert_eq!(all, expected);
    }

    /// Not a timed assertion: prints the rate, for `cargo test -- --nocapture`. The second
    /// bus retains one segment per partition, so it trims about every 4096 publishes per
    /// partition.
    #[tokio::test]
    async fn publish_rate() {
        for (label, bus) in [("memory bus", MemoryBus::new()), ("memory bus, trimming", MemoryBus::with_retention(1))] {
            bus.ensure_topics(&["t".to_owned()], 12).await.unwrap();
            let keys: Vec<String> = (0..1000).map(|i| format!("acme/conv-{i}")).collect();
            let n = 200_000;
            let started = Instant::now();
            for i in 0..n {
                bus.publish(Record::new("t", keys[i % keys.len()].clone(), Bytes::from_static(b"payload")))
                    .await
                    .unwrap();
            }
            let rate = n as f64 / started.elapsed().as_secs_f64();
            println!("{label}: {rate:.0} publishes/s");
        }
    }

    /// (first retained offset, next offset) of a partition.
    fn bounds(bus: &MemoryBus, topic: &str, partition: i32) -> (i64, i64) {
        let topic = bus.topic(topic).unwrap();
        let log = lock(&topic.partition(partition).unwrap().log);
        (log.start, log.len)
    }

    fn retained(bus: &MemoryBus, topic: &str, partition: i32, offset: i64) -> bool {
        let topic = bus.topic(topic).unwrap();
        let log = lock(&topic.partition(partition).unwrap().log);
        log.get(offset).is_some()
    }

    async fn next(sub: &mut Box<dyn Subscription>) -> Delivery {
        tokio::time::timeout(Duration::from_secs(5), sub.next()).await.expect("a record in time").unwrap()
    }

    /// Nothing more arrives (the partition is drained).
    async fn drained(sub: &mut Box<dyn Subscription>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), sub.next()).await.is_err()
    }

    async fn publish_n(bus: &MemoryBus, from: usize, n: usize) {
        for i in from..from + n {
            bus.publish(Record::new("t", "k", i.to_string())).await.unwrap();
        }
    }

    #[tokio::test]
    async fn retention_drops_whole_segments_and_keeps_offsets() {
        // Not a multiple of SEGMENT, to show the rule: retained is in [bound, bound + SEGMENT).
        let bound = 2 * SEGMENT + 100;
        let bus = MemoryBus::with_retention(bound);
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        let n = 5 * SEGMENT + 7;
        for i in 0..n {
            bus.publish(Record::new("t", "k", i.to_string())).await.unwrap();
            let (start, len) = bounds(&bus, "t", 0);
            assert_eq!(len, i as i64 + 1, "len stays the next offset to assign");
            let kept = (len - start) as usize;
            assert!(kept < bound + SEGMENT, "{kept} retained after {len} publishes");
            assert!(kept >= bound.min(len as usize), "{kept} retained after {len} publishes");
            assert_eq!(start % SEGMENT as i64, 0, "only whole segments are dropped");
        }
        let (start, len) = bounds(&bus, "t", 0);
        // Every whole segment that could go without leaving fewer than `bound` records went.
        let segment = SEGMENT as i64;
        assert_eq!(start, (len - bound as i64) / segment * segment);
        assert!(start >= 2 * segment, "old segments were dropped (start {start})");
        assert!(!retained(&bus, "t", 0, 0) && !retained(&bus, "t", 0, start - 1));
        assert!(retained(&bus, "t", 0, start) && retained(&bus, "t", 0, len - 1) && !retained(&bus, "t", 0, len));

        // A new group starting from the earliest record starts at the first retained one, and
        // every retained record still has the offset it was published with.
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        for offset in start..len {
            let d = next(&mut sub).await;
            assert_eq!(d.offset, offset);
            assert_eq!(d.payload, Bytes::from(offset.to_string()));
        }
        assert!(drained(&mut sub).await);
    }

    #[tokio::test]
    async fn group_committed_far_behind_resumes_at_first_retained_offset() {
        let bus = MemoryBus::with_retention(SEGMENT);
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        publish_n(&bus, 0, 10).await;
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        for offset in 0..3 {
            let d = next(&mut sub).await;
            assert_eq!(d.offset, offset);
            sub.commit(&d).unwrap();
        }
        drop(sub);

        publish_n(&bus, 10, 3 * SEGMENT).await;
        let (start, len) = bounds(&bus, "t", 0);
        assert!(start > 3, "the committed offset 3 is no longer retained (start {start})");

        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        let first = next(&mut sub).await;
        assert_eq!(first.offset, start);
        assert_eq!(first.payload, Bytes::from(start.to_string()));
        let mut last = first;
        for offset in start + 1..len {
            last = next(&mut sub).await;
            assert_eq!(last.offset, offset);
        }
        assert!(drained(&mut sub).await);
        sub.commit(&last).unwrap();
        drop(sub);

        // The commit after the jump took effect: the group goes on from there.
        publish_n(&bus, len as usize, 1).await;
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        assert_eq!(next(&mut sub).await.offset, len);
    }

    /// Collects what is logged on this thread while the guard lives.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn start(&self) -> tracing::subscriber::DefaultGuard {
            let writer = self.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_default(subscriber)
        }

        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&lock(&self.0)).lines().map(str::to_owned).collect()
        }
    }

    #[tokio::test]
    async fn live_member_that_falls_behind_resumes_at_first_retained_offset() {
        let captured = Captured::default();
        let _guard = captured.start();
        let bus = MemoryBus::with_retention(SEGMENT);
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        publish_n(&bus, 0, 2).await;
        assert_eq!(next(&mut sub).await.offset, 0);
        publish_n(&bus, 2, 3 * SEGMENT).await;
        let (start, _) = bounds(&bus, "t", 0);
        assert!(start > 1);
        let d = next(&mut sub).await;
        assert_eq!(d.offset, start);
        assert_eq!(next(&mut sub).await.offset, start + 1);

        // One warning, for the one jump, saying what was skipped and where.
        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let skipped = start - 1;
        for field in [
            "WARN".to_owned(),
            "group=g".to_owned(),
            "topic=t".to_owned(),
            "partition=0".to_owned(),
            format!("skipped={skipped}"),
            format!("to={start}"),
        ] {
            assert!(lines[0].contains(&field), "{field} in {}", lines[0]);
        }
    }

    #[tokio::test]
    async fn group_within_retained_range_loses_nothing() {
        // The group reads only when it is exactly `bound` records behind: retention keeps at
        // least `bound` records, so the oldest unread one is always still there.
        let bound = 2 * SEGMENT + 100;
        let bus = MemoryBus::with_retention(bound);
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        let mut sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
        let rounds = 4;
        let mut expected = 0i64;
        for round in 0..rounds {
            publish_n(&bus, round * bound, bound).await;
            if round == 2 {
                // Hand over through the committed offset rather than the member's cursor.
                drop(sub);
                sub = bus.subscribe("g", &["t".into()], StartFrom::Earliest).await.unwrap();
            }
            for _ in 0..bound {
                let d = next(&mut sub).await;
                assert_eq!(d.offset, expected, "round {round}");
                assert_eq!(d.payload, Bytes::from(expected.to_string()));
                sub.commit(&d).unwrap();
                expected += 1;
            }
            assert!(drained(&mut sub).await);
        }
        let (start, len) = bounds(&bus, "t", 0);
        assert_eq!(len, (rounds * bound) as i64);
        assert!(start > 0, "retention dropped segments during the test");
    }

    #[tokio::test]
    async fn with_retention_rounds_up_to_one_segment() {
        for bound in [0, 1, SEGMENT - 1, SEGMENT] {
            assert_eq!(MemoryBus::with_retention(bound).inner.retention, SEGMENT as i64, "bound {bound}");
        }
        assert_eq!(MemoryBus::with_retention(SEGMENT + 1).inner.retention, SEGMENT as i64 + 1);
        assert_eq!(MemoryBus::with_retention(usize::MAX).inner.retention, i64::MAX);
        assert_eq!(MemoryBus::new().inner.retention, DEFAULT_RETENTION_RECORDS as i64);
        assert_eq!(MemoryBus::default().inner.retention, DEFAULT_RETENTION_RECORDS as i64);

        // A bound of 1 behaves as one segment: nothing is dropped until a second full segment
        // holds the bound on its own.
        let bus = MemoryBus::with_retention(1);
        bus.ensure_topics(&["t".to_owned()], 1).await.unwrap();
        publish_n(&bus, 0, 2 * SEGMENT - 1).await;
        assert_eq!(bounds(&bus, "t", 0), (0, 2 * SEGMENT as i64 - 1));
        publish_n(&bus, 2 * SEGMENT - 1, 1).await;
        assert_eq!(bounds(&bus, "t", 0), (SEGMENT as i64, 2 * SEGMENT as i64));
    }
}
