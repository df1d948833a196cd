//! The in-memory bus's own behaviour (the shared contract is in tests/bus_conformance.rs).

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
            bus.publish(Record::new("t", keys[i % keys.len()].clone(), Bytes::from_static(b"payload"))).await.unwrap();
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
