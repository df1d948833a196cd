#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use switchyard_platform::bus::{BusError, MemoryBus, Record};
use switchyard_platform::{EventBus, StateStore};
use switchyard_proto::events::v1::{envelope::Body, DequeueConversation, RouteConversation};

use super::*;
use crate::ops::Readiness;

/// Fails `failures` times with `error`, then succeeds; counts attempts and successes.
pub(super) struct Flaky {
    failures: usize,
    error: fn() -> ServiceError,
    attempts: Arc<AtomicUsize>,
    applied: Arc<AtomicUsize>,
}

impl Flaky {
    pub(super) fn new(failures: usize, error: fn() -> ServiceError) -> Self {
        Self { failures, error, attempts: Arc::default(), applied: Arc::default() }
    }
}

#[async_trait]
impl Handler for Flaky {
    async fn handle(&mut self, _env: Envelope, _d: &Delivery) -> Result<(), ServiceError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.failures > 0 {
            self.failures -= 1;
            return Err((self.error)());
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

pub(super) fn unavailable() -> ServiceError {
    ServiceError::Unavailable("store down".into())
}

pub(super) async fn setup() -> (Arc<MemoryBus>, Readiness) {
    let bus = Arc::new(MemoryBus::new());
    bus.ensure_topics(&["t".to_owned(), "dlq".to_owned()], 1).await.unwrap();
    let store: Arc<dyn StateStore> = Arc::new(switchyard_platform::store::MemoryStore::new());
    (bus.clone(), Readiness::new(bus, store))
}

pub(super) fn event() -> Envelope {
    crate::envelope::new(
        "acme",
        0,
        Body::DequeueConversation(DequeueConversation { conversation_id: "c".into(), skill_id: "s".into() }),
    )
}

pub(super) fn spec() -> ConsumerSpec {
    ConsumerSpec {
        service: "test",
        group: format!("g-{}", uuid::Uuid::new_v4().simple()),
        topics: vec!["t".into()],
        start: StartFrom::Earliest,
        tick: Duration::from_millis(50),
        mode: Mode::Group,
        dead_letters: "dlq".into(),
        progress: ProgressRules {
            join_grace: Duration::from_millis(300),
            stall_after: Duration::from_millis(400),
            group_check_every: Duration::from_millis(100),
        },
    }
}

/// Records left for the group on `topic` (what a new member would get).
async fn pending(bus: &MemoryBus, group: &str, topic: &str) -> Vec<Delivery> {
    let mut sub = bus.subscribe(group, &[topic.to_owned()], StartFrom::Earliest).await.unwrap();
    let mut out = Vec::new();
    while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
        out.push(d);
    }
    out
}

/// Runs the consumer until `done` holds (at most 10 s), then shuts it down.
async fn run_until(
    bus: &Arc<MemoryBus>,
    readiness: &Readiness,
    spec: ConsumerSpec,
    handler: Flaky,
    done: impl Fn() -> bool,
) {
    let shutdown = Shutdown::new();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("c"));
    let task = tokio::spawn(async move { run(&*b, spec, flag, s, handler).await });
    for _ in 0..500 {
        if done() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_transient_failure_is_retried_then_committed_once() {
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(3, unavailable);
    let applied = handler.applied.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || applied.load(Ordering::SeqCst) == 1).await;
    assert_eq!(applied.load(Ordering::SeqCst), 1);
    assert!(pending(&bus, &group, "t").await.is_empty(), "committed");
    assert!(pending(&bus, "other", "dlq").await.is_empty(), "a transient failure is never a dead letter");
}

#[tokio::test]
async fn a_record_that_is_not_an_envelope_is_dead_lettered_and_the_partition_moves_on() {
    let (bus, readiness) = setup().await;
    let poison = Record::new("t", "acme/c", b"\xff\xff not protobuf".to_vec()).with_header("traceparent", "x");
    bus.publish(poison).await.unwrap();
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let applied = handler.applied.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || applied.load(Ordering::SeqCst) == 1).await;
    assert_eq!(applied.load(Ordering::SeqCst), 1, "the record after the poison one was applied");
    assert!(pending(&bus, &group, "t").await.is_empty());
    let letters = pending(&bus, "inspect", "dlq").await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.key, "acme/c");
    assert_eq!(letter.payload.as_ref(), b"\xff\xff not protobuf");
    assert_eq!(letter.header("traceparent"), Some(&b"x"[..]), "original headers kept");
    assert_eq!(letter.header(dead_letter::HEADER_TOPIC), Some(&b"t"[..]));
    assert_eq!(letter.header(dead_letter::HEADER_OFFSET), Some(&b"0"[..]));
    assert_eq!(letter.header(dead_letter::HEADER_GROUP), Some(group.as_bytes()));
    assert_eq!(letter.header(dead_letter::HEADER_CLASS), Some(&b"permanent"[..]));
    let error = String::from_utf8_lossy(letter.header(dead_letter::HEADER_ERROR).unwrap()).to_string();
    assert!(error.contains("not a switchyard envelope"), "{error}");
}

#[tokio::test]
async fn an_invalid_payload_is_dead_lettered_without_reaching_the_handler() {
    let (bus, readiness) = setup().await;
    let bad = crate::envelope::new(
        "acme",
        0,
        Body::RouteConversation(RouteConversation {
            conversation_id: String::new(),
            skill_id: "s".into(),
            ..Default::default()
        }),
    );
    crate::envelope::publish(&*bus, "t", "k".into(), &bad).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let attempts = handler.attempts.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || false).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 0);
    assert!(pending(&bus, &group, "t").await.is_empty());
    let letters = pending(&bus, "inspect", "dlq").await;
    let error = String::from_utf8_lossy(letters[0].header(dead_letter::HEADER_ERROR).unwrap()).to_string();
    assert!(error.contains("conversation_id"), "{error}");
}

#[tokio::test]
async fn a_permanent_failure_is_dead_lettered_at_once_and_an_unknown_one_after_bounded_retries() {
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(usize::MAX, || ServiceError::Corrupt("undecodable route".into()));
    let attempts = handler.attempts.clone();
    let watch = attempts.clone();
    run_until(&bus, &readiness, spec(), handler, move || watch.load(Ordering::SeqCst) == 1).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "a permanent failure is not retried");
    assert_eq!(pending(&bus, "inspect-1", "dlq").await.len(), 1);

    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(usize::MAX, || ServiceError::Internal("surprise".into()));
    let attempts = handler.attempts.clone();
    let watch = attempts.clone();
    let spec = ConsumerSpec { start: StartFrom::Latest, ..spec() };
    let group = spec.group.clone();
    // The group starts at the end: publish after it joined.
    let shutdown = Shutdown::new();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("u"));
    let task = tokio::spawn(async move { run(&*b, spec, flag, s, handler).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    for _ in 0..500 {
        if watch.load(Ordering::SeqCst) >= UNKNOWN_FAILURE_ATTEMPTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), UNKNOWN_FAILURE_ATTEMPTS);
    assert!(pending(&bus, &group, "t").await.is_empty());
    let letters = pending(&bus, "inspect-2", "dlq").await;
    assert_eq!(letters.len(), 2);
    assert_eq!(letters[1].header(dead_letter::HEADER_CLASS), Some(&b"unknown"[..]));
}

#[tokio::test]
async fn an_event_type_this_version_does_not_know_is_counted_and_skipped() {
    let handle = crate::ops::prometheus();
    let (bus, readiness) = setup().await;
    // An envelope from a newer producer: field 99 is a body type this binary has no name for.
    let mut newer = prost::Message::encode_to_vec(&Envelope { body: None, ..event() });
    newer.extend_from_slice(&[0x9a, 0x06, 0x02, 0x08, 0x01]);
    bus.publish(Record::new("t", "k", newer)).await.unwrap();
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let (applied, attempts) = (handler.applied.clone(), handler.attempts.clone());
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || applied.load(Ordering::SeqCst) == 1).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "only the known event reached the handler");
    assert!(pending(&bus, &group, "t").await.is_empty());
    assert!(pending(&bus, "inspect", "dlq").await.is_empty());
    let line = format!("{EVENTS}{{service=\"test\",group=\"{group}\",outcome=\"unknown_type\"}} 1");
    assert!(handle.render().contains(&line), "{line} missing");
}

/// An event of a newer schema version (its meaning may have changed) is neither applied nor
/// dropped: it waits, the consumer turns unready naming both versions, and the record stays
/// for an upgraded member. Version 0 (an older producer's) is applied.
#[tokio::test]
async fn an_event_of_a_newer_schema_waits_for_an_upgraded_consumer() {
    let (bus, readiness) = setup().await;
    let newer = Envelope { schema_version: switchyard_proto::EVENT_SCHEMA_VERSION + 1, ..event() };
    crate::envelope::publish(&*bus, "t", "k".into(), &newer).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let attempts = handler.attempts.clone();
    let (waiting_spec, shutdown) = (spec(), Shutdown::new());
    let group = waiting_spec.group.clone();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("consumer"));
    let task = tokio::spawn(async move { run(&*b, waiting_spec, flag, s, handler).await });
    let waiting = "event schema version 2 is newer than this binary's 1: waiting for an upgraded consumer";
    let mut detail = Default::default();
    for _ in 0..250 {
        detail = readiness.check().await.1;
        if detail["consumer"].contains(waiting) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(detail["consumer"].contains(waiting), "{detail:?}");
    shutdown.trigger();
    task.await.unwrap().unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 0, "never applied");
    assert_eq!(pending(&bus, &group, "t").await.len(), 1, "still there for the next member");

    let (bus, readiness) = setup().await;
    let older = Envelope { schema_version: 0, ..event() };
    crate::envelope::publish(&*bus, "t", "k".into(), &older).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let applied = handler.applied.clone();
    run_until(&bus, &readiness, spec(), handler, || applied.load(Ordering::SeqCst) == 1).await;
}

#[tokio::test]
async fn each_group_exports_its_outcomes_and_event_age() {
    let handle = crate::ops::prometheus();
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    bus.publish(Record::new("t", "k", b"not an envelope".to_vec())).await.unwrap();
    let handler = Flaky::new(1, unavailable);
    let applied = handler.applied.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || applied.load(Ordering::SeqCst) == 1).await;
    let text = handle.render();
    let line = |o: &str| format!("{EVENTS}{{service=\"test\",group=\"{group}\",outcome=\"{o}\"}} 1");
    for outcome in ["applied", "retried", "dead_lettered"] {
        assert!(text.contains(&line(outcome)), "{outcome} missing:\n{text}");
    }
    assert!(text.contains(&format!("{DEAD_LETTERS}{{service=\"test\",group=\"{group}\"}} 1")), "{text}");
    assert!(text.contains(&format!("{EVENT_AGE}_count{{service=\"test\",group=\"{group}\"}} 1")), "{text}");
}

#[tokio::test]
async fn shutdown_before_the_effect_leaves_the_record_for_the_next_owner() {
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(usize::MAX, unavailable);
    let applied = handler.applied.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || false).await;
    assert_eq!(applied.load(Ordering::SeqCst), 0);
    assert_eq!(pending(&bus, &group, "t").await.len(), 1, "redelivered to the next member");
}

#[tokio::test]
async fn a_tail_reader_starts_at_the_end_and_leaves_no_group_behind() {
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let groups_before = bus.group_count();
    let handler = Flaky::new(0, unavailable);
    let applied = handler.applied.clone();
    let spec = ConsumerSpec { mode: Mode::Tail, start: StartFrom::Latest, ..spec() };
    let shutdown = Shutdown::new();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("tail"));
    let task = tokio::spawn(async move { run(&*b, spec, flag, s, handler).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(applied.load(Ordering::SeqCst), 0, "what was published before it started is not read");
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    for _ in 0..100 {
        if applied.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(applied.load(Ordering::SeqCst), 1);
    shutdown.trigger();
    task.await.unwrap().unwrap();
    assert_eq!(bus.group_count(), groups_before, "no group is left behind");
}

/// A bus whose first subscription fails on its first read, and whose next `subscribe` waits
/// for a go-ahead: while it waits, the consumer must not be ready.
struct BreakingBus {
    inner: Arc<MemoryBus>,
    subscribed: AtomicUsize,
    go: tokio::sync::Notify,
}

struct Broken;

#[async_trait]
impl Subscription for Broken {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        Err(BusError::Other("fatal consumer error: test".into()))
    }
    fn commit(&mut self, _: &Delivery) -> Result<(), BusError> {
        Ok(())
    }
    fn assignment(&self) -> Vec<(String, i32)> {
        vec![("t".into(), 0)]
    }
    fn lag(&self) -> Vec<switchyard_platform::bus::PartitionLag> {
        Vec::new()
    }
    async fn group_lag(&self) -> Result<Vec<switchyard_platform::bus::PartitionLag>, BusError> {
        Ok(Vec::new())
    }
    async fn close(self: Box<Self>) -> Result<(), BusError> {
        Ok(())
    }
}

#[async_trait]
impl EventBus for BreakingBus {
    async fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), BusError> {
        self.inner.ensure_topics(topics, partitions).await
    }
    async fn publish(&self, record: Record) -> Result<(), BusError> {
        self.inner.publish(record).await
    }
    async fn subscribe(&self, g: &str, t: &[String], s: StartFrom) -> Result<Box<dyn Subscription>, BusError> {
        if self.subscribed.fetch_add(1, Ordering::SeqCst) == 0 {
            return Ok(Box::new(Broken));
        }
        self.go.notified().await;
        self.inner.subscribe(g, t, s).await
    }
    async fn tail(&self, topics: &[String], from: StartFrom) -> Result<Box<dyn Subscription>, BusError> {
        self.inner.tail(topics, from).await
    }
    async fn partition_count(&self, topic: &str) -> Result<i32, BusError> {
        self.inner.partition_count(topic).await
    }
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_subscription_makes_the_consumer_unready_until_it_joined_again() {
    let (memory, _) = setup().await;
    let bus = Arc::new(BreakingBus { inner: memory.clone(), subscribed: AtomicUsize::new(0), go: Default::default() });
    let store: Arc<dyn StateStore> = Arc::new(switchyard_platform::store::MemoryStore::new());
    let readiness = Readiness::new(bus.clone(), store);
    let shutdown = Shutdown::new();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("consumer"));
    let task = tokio::spawn(async move { run(&*b, spec(), flag, s, Flaky::new(0, unavailable)).await });
    for _ in 0..100 {
        if bus.subscribed.load(Ordering::SeqCst) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bus.subscribed.load(Ordering::SeqCst), 2, "subscribed again after the failure");
    assert!(!readiness.check().await.0, "not ready while the new subscription waits");
    bus.go.notify_one();
    let mut ready = false;
    for _ in 0..100 {
        ready = readiness.check().await.0;
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "ready again once a new member joined");
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

pub(super) async fn readiness_becomes(
    readiness: &Readiness,
    want: bool,
    within: Duration,
) -> std::collections::BTreeMap<String, String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (ready, detail) = readiness.check().await;
        if ready == want || tokio::time::Instant::now() >= deadline {
            assert_eq!(ready, want, "{detail:?}");
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Readiness tells the truth: a consumer whose partition has records waiting and that applies
/// nothing (its store is down) is not ready, and is ready again once it catches up.
#[tokio::test]
async fn a_consumer_that_stops_making_progress_is_not_ready() {
    let (bus, readiness) = setup().await;
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    // Fails for a few seconds of backoff, well past the spec's 400 ms stall.
    let handler = Flaky::new(7, unavailable);
    let applied = handler.applied.clone();
    let shutdown = Shutdown::new();
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("consumer"));
    let task = tokio::spawn(async move { run(&*b, spec(), flag, s, handler).await });
    let mut detail = Default::default();
    for _ in 0..200 {
        detail = readiness.check().await.1;
        if detail["consumer"].contains("stalled") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(detail["consumer"].contains("stalled: retrying event"), "{detail:?}");
    readiness_becomes(&readiness, true, Duration::from_secs(20)).await;
    assert_eq!(applied.load(Ordering::SeqCst), 1);
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

/// `switchyard dead-letters`: the letters are listed with where they came from and why, and a
/// replay puts the original record back on its topic (where, still poison, it is
/// dead-lettered again, remembering the replay).
#[tokio::test]
async fn dead_letters_are_listed_and_replayed_to_their_topic() {
    let (bus, readiness) = setup().await;
    bus.publish(Record::new("t", "acme/c9", b"poison".to_vec()).with_header("traceparent", "tp")).await.unwrap();
    crate::envelope::publish(&*bus, "t", "k".into(), &event()).await.unwrap();
    let handler = Flaky::new(0, unavailable);
    let applied = handler.applied.clone();
    let spec = spec();
    let group = spec.group.clone();
    run_until(&bus, &readiness, spec, handler, || applied.load(Ordering::SeqCst) == 1).await;

    let letters = dead_letter::read(&*bus, "dlq", None, Duration::from_millis(200), 100).await.unwrap();
    assert_eq!(letters.len(), 1);
    let line = letters[0].describe();
    assert!(line.starts_with("0/0\t") && line.contains(&format!("group={group}")), "{line}");
    assert!(line.contains("from=t/0/0") && line.contains("not a switchyard envelope"), "{line}");
    assert!(dead_letter::read(&*bus, "dlq", Some("another"), Duration::from_millis(200), 100)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(dead_letter::replay(&*bus, &letters).await.unwrap(), 1);
    let back = pending(&bus, "inspect-t", "t").await;
    let replayed = back.last().unwrap();
    assert_eq!((replayed.key.as_str(), replayed.payload.as_ref()), ("acme/c9", &b"poison"[..]));
    assert_eq!(replayed.header("traceparent"), Some(&b"tp"[..]));
    assert_eq!(replayed.header(dead_letter::HEADER_REPLAYED_FROM), Some(&b"0/0"[..]));
    assert!(replayed.header(dead_letter::HEADER_ERROR).is_none(), "the dead letter's own headers stay behind");
}
