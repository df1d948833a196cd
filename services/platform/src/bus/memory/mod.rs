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

mod subscription;

use subscription::MemorySubscription;

#[cfg(test)]
mod tests;
