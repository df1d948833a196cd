//! One conformance suite for the event bus, run against the in-memory bus and against Kafka
//! (a real `tansu` broker per test): per-key order, at-least-once redelivery, consumer-group
//! assignment and handover, where a group starts, and errors.
//!
//! Every rule is one generic `async fn(Harness)`; the `conformance!` macro generates
//! `memory::<rule>` and `kafka::<rule>` from it. Every wait is bounded by a timeout and every
//! loop by a count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchyard_platform::bus::{
    partition_for, BusError, Delivery, EventBus, KafkaBus, KafkaSettings, MemoryBus, PartitionLag, Record, StartFrom,
    Subscription,
};
use switchyard_testkit::{unique, KafkaBroker};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// Upper bound for anything that should happen (a record arriving, a rebalance settling).
const WAIT: Duration = Duration::from_secs(30);
/// How long we listen to make sure nothing more arrives.
const QUIET: Duration = Duration::from_millis(750);

/// A bus under test, and the broker behind it (kept alive for the test's duration).
struct Harness {
    bus: Arc<dyn EventBus>,
    _broker: Option<KafkaBroker>,
}

async fn memory() -> Harness {
    Harness { bus: Arc::new(MemoryBus::new()), _broker: None }
}

async fn kafka() -> Harness {
    // RUST_LOG=librdkafka=debug,warn shows the client's side of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let broker = KafkaBroker::start().await.expect("start the tansu broker");
    let settings = KafkaSettings::new(broker.bootstrap())
        .with("session.timeout.ms", "6000")
        .with("heartbeat.interval.ms", "500")
        .with("fetch.wait.max.ms", "50")
        .with("statistics.interval.ms", "100");
    // SWITCHYARD_KAFKA_DEBUG=cgrp,eos (librdkafka `debug` contexts) with RUST_LOG=librdkafka=debug.
    let settings = match std::env::var("SWITCHYARD_KAFKA_DEBUG") {
        Ok(contexts) => settings.with("debug", contexts),
        Err(_) => settings,
    };
    let bus = KafkaBus::new(settings).expect("kafka bus");
    Harness { bus: Arc::new(bus), _broker: Some(broker) }
}

macro_rules! conformance {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule(super::memory().await).await;
                }
            )*
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule(super::kafka().await).await;
                }
            )*
        }
    };
}

conformance!(
    keeps_per_key_order_and_places_by_key,
    redelivers_everything_after_close_without_commit,
    redelivers_uncommitted_after_crash,
    commit_never_moves_the_group_backwards,
    group_members_split_partitions_and_hand_over_on_leave,
    start_from_applies_only_without_committed_offset,
    unknown_topics_are_errors,
    ensure_topics_is_idempotent,
    tail_reads_every_partition_from_now_on_outside_any_group,
    lag_shows_what_a_member_and_its_group_have_not_read,
);

// ---------------------------------------------------------------------------------------------
// helpers

async fn topic(bus: &Arc<dyn EventBus>, prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    timeout(WAIT, bus.ensure_topics(std::slice::from_ref(&name), partitions))
        .await
        .expect("ensure_topics timed out")
        .expect("ensure_topics");
    name
}

async fn publish(bus: &Arc<dyn EventBus>, topic: &str, key: &str, payload: &str) {
    let record = Record::new(topic, key, payload.to_owned()).with_header("traceparent", format!("tp-{payload}"));
    timeout(WAIT, bus.publish(record)).await.expect("publish timed out").expect("publish");
}

async fn subscribe(bus: &Arc<dyn EventBus>, group: &str, topic: &str, start: StartFrom) -> Box<dyn Subscription> {
    timeout(WAIT * 2, bus.subscribe(group, &[topic.to_owned()], start))
        .await
        .expect("subscribe timed out")
        .expect("subscribe")
}

fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.payload).into_owned()
}

/// Reads exactly `n` records (each within `WAIT`).
async fn read_n(sub: &mut Box<dyn Subscription>, n: usize) -> Vec<Delivery> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let d = timeout(WAIT, sub.next())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for record {} of {n}", i + 1))
            .expect("next");
        out.push(d);
    }
    out
}

/// Asserts that nothing arrives for a while.
async fn assert_quiet(sub: &mut Box<dyn Subscription>) {
    if let Ok(got) = timeout(QUIET, sub.next()).await {
        panic!("expected no record, got {got:?}");
    }
}

/// A group member polled by its own task (a Kafka member must keep polling for rebalances to
/// complete), sending what it receives to the test, committing it or not.
struct Member {
    received: mpsc::UnboundedReceiver<Delivery>,
    assignment: watch::Receiver<Vec<(String, i32)>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Box<dyn Subscription>>,
}

impl Member {
    fn spawn(mut sub: Box<dyn Subscription>, commit: bool) -> Self {
        let (tx, received) = mpsc::unbounded_channel();
        let (assignment_tx, assignment) = watch::channel(sub.assignment());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            // 50 ms slices, at most ~5 minutes.
            for _ in 0..6_000 {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                assignment_tx.send_replace(sub.assignment());
                if let Ok(next) = timeout(Duration::from_millis(50), sub.next()).await {
                    let d = next.expect("next");
                    if commit {
                        sub.commit(&d).expect("commit");
                    }
                    let _ = tx.send(d);
                }
            }
            sub
        });
        Self { received, assignment, stop, task }
    }

    fn assignment(&self) -> BTreeSet<(String, i32)> {
        self.assignment.borrow().iter().cloned().collect()
    }

    /// Stops polling and hands the subscription back.
    async fn stop(self) -> (Box<dyn Subscription>, mpsc::UnboundedReceiver<Delivery>) {
        self.stop.store(true, Ordering::SeqCst);
        let sub = timeout(WAIT, self.task).await.expect("member stop timed out").expect("member task");
        (sub, self.received)
    }
}

/// Waits until `check` holds, polling every 50 ms, at most `WAIT`.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let step = Duration::from_millis(50);
    for _ in 0..(WAIT.as_millis() / step.as_millis()) {
        if check() {
            return;
        }
        tokio::time::sleep(step).await;
    }
    panic!("timed out waiting until {what}");
}

/// Drains `rx` into `into` until `done(into)` holds, at most `WAIT` and 10 000 records.
async fn collect_until(
    rx: &mut mpsc::UnboundedReceiver<Delivery>,
    into: &mut Vec<Delivery>,
    what: &str,
    done: impl Fn(&[Delivery]) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    for _ in 0..10_000 {
        if done(into) {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(d)) => into.push(d),
            Ok(None) => panic!("member stopped while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}; got {} records", into.len()),
        }
    }
    panic!("too many records while waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// rules

/// Each key's records arrive in publish order, on partition `partition_for(key, n)`, with
/// their headers, and the offsets of a partition increase.
async fn keeps_per_key_order_and_places_by_key(h: Harness) {
    let bus = h.bus;
    let partitions = 4;
    let topic = topic(&bus, "order", partitions).await;
    let keys: Vec<String> = (0..12).map(|i| format!("acme/conv-{i}")).collect();
    let per_key = 8;
    for seq in 0..per_key {
        for key in &keys {
            publish(&bus, &topic, key, &format!("{key}#{seq}")).await;
        }
    }
    let mut sub = subscribe(&bus, &unique("g"), &topic, StartFrom::Earliest).await;
    let got = read_n(&mut sub, keys.len() * per_key).await;

    let mut seqs: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut last_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for d in &got {
        assert_eq!(d.topic, topic);
        assert_eq!(d.partition, partition_for(&d.key, partitions), "record {d:?} not on its key's partition");
        let payload = text(d);
        assert_eq!(d.header("traceparent"), Some(format!("tp-{payload}").as_bytes()));
        let (key, seq) = payload.split_once('#').expect("payload key#seq");
        assert_eq!(key, d.key);
        seqs.entry(d.key.clone()).or_default().push(seq.parse().expect("seq"));
        if let Some(prev) = last_offset.insert(d.partition, d.offset) {
            assert!(d.offset > prev, "offsets of partition {} went from {prev} to {}", d.partition, d.offset);
        }
    }
    let expected: Vec<usize> = (0..per_key).collect();
    for key in &keys {
        assert_eq!(seqs.get(key), Some(&expected), "order of key {key}");
    }
    assert_quiet(&mut sub).await;
    sub.close().await.expect("close");
}

/// A member that closes without committing hands every record it received to the next one.
async fn redelivers_everything_after_close_without_commit(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "close", 3).await;
    let group = unique("g");
    for i in 0..15 {
        publish(&bus, &topic, &format!("k{i}"), &format!("r{i}")).await;
    }
    let mut first = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let seen: BTreeSet<String> = read_n(&mut first, 15).await.iter().map(text).collect();
    first.close().await.expect("close");

    let mut second = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let again: BTreeSet<String> = read_n(&mut second, 15).await.iter().map(text).collect();
    assert_eq!(again, seen);
    assert_quiet(&mut second).await;
    second.close().await.expect("close");
}

/// A member that crashes (is dropped) after committing part of what it received: the next
/// member gets exactly the uncommitted records, and none of the committed ones.
async fn redelivers_uncommitted_after_crash(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "crash", 3).await;
    let group = unique("g");
    let n = 30;
    for i in 0..n {
        publish(&bus, &topic, &format!("k{i}"), &format!("r{i}")).await;
    }
    let mut first = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let got = read_n(&mut first, n).await;
    // Commit the first half (by offset) of each partition's records.
    let mut by_partition: BTreeMap<i32, Vec<&Delivery>> = BTreeMap::new();
    for d in &got {
        by_partition.entry(d.partition).or_default().push(d);
    }
    let mut committed = BTreeSet::new();
    let mut uncommitted = BTreeSet::new();
    for ds in by_partition.values_mut() {
        ds.sort_by_key(|d| d.offset);
        let half = ds.len() / 2;
        if half > 0 {
            first.commit(ds[half - 1]).expect("commit");
        }
        committed.extend(ds[..half].iter().map(|d| text(d)));
        uncommitted.extend(ds[half..].iter().map(|d| text(d)));
    }
    assert!(!committed.is_empty() && !uncommitted.is_empty());
    drop(first); // crash: no close

    let mut second = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let again: BTreeSet<String> = read_n(&mut second, uncommitted.len()).await.iter().map(text).collect();
    assert_eq!(again, uncommitted);
    assert_quiet(&mut second).await;
    second.close().await.expect("close");
}

/// Committing an older record after a newer one does not move the group's offset back.
async fn commit_never_moves_the_group_backwards(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "backwards", 1).await;
    let group = unique("g");
    for i in 0..6 {
        publish(&bus, &topic, "k", &format!("r{i}")).await;
    }
    let mut first = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let got = read_n(&mut first, 6).await;
    first.commit(&got[3]).expect("commit r3");
    first.commit(&got[1]).expect("commit r1");
    first.close().await.expect("close");

    let mut second = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let again = read_n(&mut second, 2).await;
    assert_eq!(again.iter().map(text).collect::<Vec<_>>(), ["r4", "r5"]);
    assert_eq!(again[0].offset, got[4].offset);
    assert_quiet(&mut second).await;
    second.close().await.expect("close");
}

/// Two members split the partitions and together receive each record once; when one leaves,
/// the other takes over its partitions and receives what the leaver had not committed (and
/// nothing it had committed itself).
async fn group_members_split_partitions_and_hand_over_on_leave(h: Harness) {
    let bus = h.bus;
    let partitions = 4;
    let topic = topic(&bus, "handover", partitions).await;
    let group = unique("g");
    let all: BTreeSet<(String, i32)> = (0..partitions).map(|p| (topic.clone(), p)).collect();

    let a = Member::spawn(subscribe(&bus, &group, &topic, StartFrom::Earliest).await, true);
    let b = Member::spawn(subscribe(&bus, &group, &topic, StartFrom::Earliest).await, false);
    eventually("the two members split the partitions", || {
        let (sa, sb) = (a.assignment(), b.assignment());
        !sa.is_empty()
            && !sb.is_empty()
            && sa.is_disjoint(&sb)
            && sa.union(&sb).cloned().collect::<BTreeSet<_>>() == all
    })
    .await;
    let (owned_a, owned_b) = (a.assignment(), b.assignment());

    let n = 40;
    for i in 0..n {
        publish(&bus, &topic, &format!("k{i}"), &format!("r{i}")).await;
    }
    let (mut a, mut b) = (a, b);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + WAIT;
    for _ in 0..(n * 10) {
        if got_a.len() + got_b.len() >= n {
            break;
        }
        tokio::select! {
            Some(d) = a.received.recv() => got_a.push(d),
            Some(d) = b.received.recv() => got_b.push(d),
            _ = tokio::time::sleep_until(deadline) => panic!("timed out: {} + {} of {n}", got_a.len(), got_b.len()),
        }
    }
    for (name, got, owned) in [("a", &got_a, &owned_a), ("b", &got_b, &owned_b)] {
        for d in got {
            assert!(
                owned.contains(&(d.topic.clone(), d.partition)),
                "{name} got {d:?} from a partition it does not own"
            );
        }
    }
    let union: BTreeSet<String> = got_a.iter().chain(&got_b).map(text).collect();
    assert_eq!(union.len(), n, "each record delivered once to the group");
    assert!(!got_b.is_empty(), "b owns partitions: {owned_b:?}");

    // b leaves without having committed anything: a takes over and gets b's records again.
    let (b_sub, _) = b.stop().await;
    timeout(WAIT, b_sub.close()).await.expect("close timed out").expect("close");
    eventually("a owns every partition", || a.assignment() == all).await;
    let b_records: BTreeSet<String> = got_b.iter().map(text).collect();
    let mut after = Vec::new();
    collect_until(&mut a.received, &mut after, "b's uncommitted records at a", |got| {
        b_records.iter().all(|r| got.iter().any(|d| text(d) == *r))
    })
    .await;
    // And only those: a committed everything it processed.
    tokio::time::sleep(QUIET).await;
    while let Ok(d) = a.received.try_recv() {
        after.push(d);
    }
    let a_records: BTreeSet<String> = got_a.iter().map(text).collect();
    let repeated: Vec<String> = after.iter().map(text).filter(|r| a_records.contains(r)).collect();
    assert!(repeated.is_empty(), "a's committed records came back: {repeated:?}");

    // New records all go to a now.
    for i in n..n + 8 {
        publish(&bus, &topic, &format!("k{i}"), &format!("r{i}")).await;
    }
    let mut fresh = Vec::new();
    collect_until(&mut a.received, &mut fresh, "new records at a", |got| got.len() >= 8).await;
    let fresh: BTreeSet<String> = fresh.iter().map(text).collect();
    assert_eq!(fresh, (n..n + 8).map(|i| format!("r{i}")).collect());

    let (a_sub, _) = a.stop().await;
    timeout(WAIT, a_sub.close()).await.expect("close timed out").expect("close");
}

/// `Earliest` reads what was there before; `Latest` only what comes after `subscribe`
/// returned, and its start is the group's (a later member of the group does not skip what the
/// first one left uncommitted). A committed offset wins over either.
async fn start_from_applies_only_without_committed_offset(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "start", 1).await;
    for i in 0..3 {
        publish(&bus, &topic, "k", &format!("old{i}")).await;
    }

    // Earliest: everything from the beginning.
    let early = unique("early");
    let mut e = subscribe(&bus, &early, &topic, StartFrom::Earliest).await;
    let got = read_n(&mut e, 3).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["old0", "old1", "old2"]);

    // Latest: nothing old, then what is published after subscribe returned.
    let late = unique("late");
    let mut l = subscribe(&bus, &late, &topic, StartFrom::Latest).await;
    assert_quiet(&mut l).await;
    for i in 0..3 {
        publish(&bus, &topic, "k", &format!("new{i}")).await;
    }
    let got = read_n(&mut l, 3).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["new0", "new1", "new2"]);
    // The group's start was fixed when it first got the partition: a member that takes over
    // after a crash still sees the records the first one never committed.
    drop(l);
    let mut l2 = subscribe(&bus, &late, &topic, StartFrom::Latest).await;
    let got = read_n(&mut l2, 3).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["new0", "new1", "new2"]);
    l2.close().await.expect("close");

    // A committed offset wins over StartFrom: commit new0 (offset 3), come back with Latest.
    let news = read_n(&mut e, 3).await;
    e.commit(&news[0]).expect("commit new0");
    e.close().await.expect("close");
    let mut e2 = subscribe(&bus, &early, &topic, StartFrom::Latest).await;
    let got = read_n(&mut e2, 2).await;
    assert_eq!(got.iter().map(text).collect::<Vec<_>>(), ["new1", "new2"]);
    assert_quiet(&mut e2).await;
    e2.close().await.expect("close");
}

/// A tail reader (the per-replica fan-out) gets every partition from the moment it starts,
/// commits nothing, and leaves the group readers alone.
async fn tail_reads_every_partition_from_now_on_outside_any_group(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "tail", 3).await;
    for i in 0..6 {
        publish(&bus, &topic, &format!("k{i}"), &format!("old{i}")).await;
    }
    let mut tail = timeout(WAIT, bus.tail(std::slice::from_ref(&topic), StartFrom::Latest))
        .await
        .expect("tail timed out")
        .expect("tail");
    let mut owned = tail.assignment();
    owned.sort();
    assert_eq!(owned, (0..3).map(|p| (topic.clone(), p)).collect::<Vec<_>>(), "every partition");
    for i in 0..6 {
        publish(&bus, &topic, &format!("k{i}"), &format!("new{i}")).await;
    }
    let mut got: Vec<String> = read_n(&mut tail, 6).await.iter().map(text).collect();
    got.sort();
    assert_eq!(got, ["new0", "new1", "new2", "new3", "new4", "new5"], "nothing from before it started");
    assert_quiet(&mut tail).await;
    let last = publish_and_read_one(&bus, &topic, &mut tail).await;
    tail.commit(&last).expect("commit is a no-op");
    tail.close().await.expect("close");

    // A second tail starts at the end again (nothing was committed for it), and a group
    // reader still gets everything.
    let mut again = timeout(WAIT, bus.tail(std::slice::from_ref(&topic), StartFrom::Latest))
        .await
        .expect("tail timed out")
        .expect("tail");
    assert_quiet(&mut again).await;
    let mut group = subscribe(&bus, &unique("g"), &topic, StartFrom::Earliest).await;
    assert_eq!(read_n(&mut group, 13).await.len(), 13);
    group.close().await.expect("close");
}

async fn publish_and_read_one(bus: &Arc<dyn EventBus>, topic: &str, sub: &mut Box<dyn Subscription>) -> Delivery {
    publish(bus, topic, "last", "last").await;
    let d = read_n(sub, 1).await.remove(0);
    assert_eq!(text(&d), "last");
    d
}

/// A member's lag is what it has not read of its partitions (known from its fetches); the
/// group's lag is what the group has not committed, on every partition, whoever owns it.
async fn lag_shows_what_a_member_and_its_group_have_not_read(h: Harness) {
    let bus = h.bus;
    let topic = topic(&bus, "lag", 1).await;
    for i in 0..5 {
        publish(&bus, &topic, "k", &format!("m{i}")).await;
    }
    let group = unique("g");
    let mut sub = subscribe(&bus, &group, &topic, StartFrom::Earliest).await;
    let got = read_n(&mut sub, 5).await;
    sub.commit(&got[1]).expect("commit");
    // Kafka's figures come with the client's statistics, served while it polls.
    let mut member = Vec::new();
    for _ in 0..100 {
        member = sub.lag();
        if member.iter().any(|l| l.position == 5 && l.end == 5) {
            break;
        }
        let _ = timeout(Duration::from_millis(50), sub.next()).await;
    }
    assert_eq!(member, vec![PartitionLag { topic: topic.clone(), partition: 0, position: 5, end: 5 }]);
    // The group's figures are the broker's: they follow the commit once it reached it.
    let mut group_lag = Vec::new();
    for _ in 0..100 {
        group_lag = timeout(WAIT, sub.group_lag()).await.expect("group lag in time").expect("group lag");
        if group_lag.first().is_some_and(|l| l.position == 2) {
            break;
        }
        let _ = timeout(Duration::from_millis(100), sub.next()).await;
    }
    assert_eq!(
        group_lag,
        vec![PartitionLag { topic: topic.clone(), partition: 0, position: 2, end: 5 }],
        "from the committed offset"
    );
    assert_eq!(group_lag[0].lag(), 3);
    sub.close().await.expect("close");
}

/// Publishing to, subscribing to or asking about a topic that does not exist is
/// `UnknownTopic`; bad arguments are errors, not panics.
async fn unknown_topics_are_errors(h: Harness) {
    let bus = h.bus;
    let missing = unique("missing");
    let err = bus.publish(Record::new(missing.as_str(), "k", "v")).await.expect_err("publish to a missing topic");
    assert!(matches!(err, BusError::UnknownTopic(ref t) if *t == missing), "{err:?}");
    let err = bus.partition_count(&missing).await.expect_err("partition_count of a missing topic");
    assert!(matches!(err, BusError::UnknownTopic(_)), "{err:?}");
    let err = bus.subscribe("g", std::slice::from_ref(&missing), StartFrom::Earliest).await.err().expect("subscribe");
    assert!(matches!(err, BusError::UnknownTopic(_)), "{err:?}");

    let err = bus.ensure_topics(&["no spaces allowed".to_owned()], 1).await.expect_err("invalid name");
    assert!(matches!(err, BusError::Other(_)), "{err:?}");
    let err = bus.ensure_topics(&[unique("zero")], 0).await.expect_err("zero partitions");
    assert!(matches!(err, BusError::Other(_)), "{err:?}");
    let err = bus.subscribe("g", &[], StartFrom::Earliest).await.err().expect("no topics");
    assert!(matches!(err, BusError::Other(_)), "{err:?}");
}

/// `ensure_topics` creates missing topics and leaves existing ones as they are.
async fn ensure_topics_is_idempotent(h: Harness) {
    let bus = h.bus;
    timeout(WAIT, bus.ping()).await.expect("ping timed out").expect("ping");
    let a = topic(&bus, "idem", 3).await;
    assert_eq!(bus.partition_count(&a).await.expect("count"), 3);
    let b = unique("idem");
    timeout(WAIT, bus.ensure_topics(&[a.clone(), b.clone()], 5)).await.expect("timed out").expect("ensure again");
    assert_eq!(bus.partition_count(&a).await.expect("count"), 3, "existing topic unchanged");
    assert_eq!(bus.partition_count(&b).await.expect("count"), 5);
}
