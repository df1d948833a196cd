//! In-memory event bus: the embedded mode's real bus, with Kafka's semantics.
//!
//! - A topic has a fixed number of partitions; a record goes to `partition_for(key, n)` and
//!   gets the next offset of that partition. Every record is kept (no retention yet).
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;

use super::{check_new_topics, partition_for, BusError, Delivery, EventBus, Header, Record, StartFrom, Subscription};

/// Records per storage segment: the log grows by segments, so a long log is never copied.
const SEGMENT: usize = 4096;

/// The in-memory event bus. Cheap to clone: clones share the same topics and groups.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    next_member: AtomicU64,
}

struct Topic {
    name: String,
    partitions: Box<[Partition]>,
}

#[derive(Default)]
struct Partition {
    log: Mutex<Log>,
}

/// One partition's records and the members (one per group at most) that own it now.
#[derive(Default)]
struct Log {
    segments: Vec<Vec<Entry>>,
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

#[derive(Default)]
struct Group {
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
    pub fn new() -> Self {
        Self::default()
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, BusError> {
        let topics = self.inner.topics.read().unwrap_or_else(PoisonError::into_inner);
        topics.get(name).cloned().ok_or_else(|| BusError::UnknownTopic(name.to_owned()))
    }

    fn group(&self, name: &str) -> Arc<Group> {
        let mut groups = lock(&self.inner.groups);
        groups.entry(name.to_owned()).or_default().clone()
    }
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics = self.inner.topics.read().map(|t| t.len()).unwrap_or_default();
        f.debug_struct("MemoryBus").field("topics", &topics).finish_non_exhaustive()
    }
}

impl Log {
    fn get(&self, offset: i64) -> Option<&Entry> {
        let offset = usize::try_from(offset).ok()?;
        self.segments.get(offset / SEGMENT)?.get(offset % SEGMENT)
    }

    fn push(&mut self, entry: Entry) -> i64 {
        match self.segments.last_mut() {
            Some(segment) if segment.len() < SEGMENT => segment.push(entry),
            _ => {
                let mut segment = Vec::with_capacity(SEGMENT);
                segment.push(entry);
                self.segments.push(segment);
            }
        }
        self.len += 1;
        self.len - 1
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
                            StartFrom::Earliest => 0,
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
        for watcher in &log.watchers {
            watcher.notify.notify_one();
        }
        Ok(())
    }

    async fn subscribe(
        &self,
        group: &str,
        topics: &[String],
        start: StartFrom,
    ) -> Result<Box<dyn Subscription>, BusError> {
        if group.is_empty() {
            return Err(BusError::Other("a consumer group needs a name".into()));
        }
        if topics.is_empty() {
            return Err(BusError::Other("a subscription needs at least one topic".into()));
        }
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
        Ok(Box::new(MemorySubscription { group: group_state, id, notify }))
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
            if let Some(entry) = log.get(owned.cursor) {
                let delivery = Delivery {
                    topic: owned.topic.name.clone(),
                    partition: owned.partition,
                    offset: owned.cursor,
                    key: entry.key.clone(),
                    payload: entry.payload.clone(),
                    headers: entry.headers.clone(),
                };
                drop(log);
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

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        // Commits already took effect; leaving happens in Drop.
        Ok(())
    }
}

impl Drop for MemorySubscription {
    fn drop(&mut self) {
        lock(&self.group.state).leave(self.id);
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

    /// Not a timed assertion: prints the rate, for `cargo test -- --nocapture`.
    #[tokio::test]
    async fn publish_rate() {
        let bus = bus_with("t", 12).await;
        let keys: Vec<String> = (0..1000).map(|i| format!("acme/conv-{i}")).collect();
        let n = 200_000;
        let started = Instant::now();
        for i in 0..n {
            bus.publish(Record::new("t", keys[i % keys.len()].clone(), Bytes::from_static(b"payload"))).await.unwrap();
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        println!("memory bus: {rate:.0} publishes/s");
    }
}
