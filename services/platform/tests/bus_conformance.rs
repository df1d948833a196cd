//! One conformance suite for the event bus, run against the in-memory bus and against Kafka
//! (a real `tansu` broker per test): per-key order, at-least-once redelivery, commits, where a
//! group starts, and errors. Groups and tail readers: `bus_group_conformance.rs`.
//!
//! Every rule is one generic `async fn(Harness)`; the `bus_conformance!` macro generates
//! `memory::<rule>` and `kafka::<rule>` from it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bus_support;

use std::collections::{BTreeMap, BTreeSet};

use bus_support::*;
use switchyard_platform::bus::{partition_for, BusError, Delivery, Record, StartFrom};
use switchyard_testkit::unique;
use tokio::time::timeout;

bus_conformance!(
    keeps_per_key_order_and_places_by_key,
    redelivers_everything_after_close_without_commit,
    redelivers_uncommitted_after_crash,
    commit_never_moves_the_group_backwards,
    start_from_applies_only_without_committed_offset,
    unknown_topics_are_errors,
    ensure_topics_is_idempotent,
);

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
