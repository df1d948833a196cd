//! What the two event bus conformance files share: the buses under test, the generator of
//! `memory::<rule>` and `kafka::<rule>` tests, and helpers. Every wait is bounded by a timeout
//! and every loop by a count.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use switchyard_platform::bus::{
    Delivery, EventBus, KafkaBus, KafkaSettings, MemoryBus, Record, StartFrom, Subscription,
};
use switchyard_testkit::{unique, KafkaBroker};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

#[macro_export]
macro_rules! bus_conformance {
    ($($rule:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule($crate::bus_support::memory().await).await;
                }
            )*
        }
        mod kafka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $rule() {
                    super::$rule($crate::bus_support::kafka().await).await;
                }
            )*
        }
    };
}

/// Upper bound for anything that should happen (a record arriving, a rebalance settling).
pub const WAIT: Duration = Duration::from_secs(30);
/// How long we listen to make sure nothing more arrives.
pub const QUIET: Duration = Duration::from_millis(750);

/// A bus under test, and the broker behind it (kept alive for the test's duration).
pub struct Harness {
    pub bus: Arc<dyn EventBus>,
    _broker: Option<KafkaBroker>,
}

pub async fn memory() -> Harness {
    Harness { bus: Arc::new(MemoryBus::new()), _broker: None }
}

pub async fn kafka() -> Harness {
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

pub async fn topic(bus: &Arc<dyn EventBus>, prefix: &str, partitions: i32) -> String {
    let name = unique(prefix);
    timeout(WAIT, bus.ensure_topics(std::slice::from_ref(&name), partitions))
        .await
        .expect("ensure_topics timed out")
        .expect("ensure_topics");
    name
}

pub async fn publish(bus: &Arc<dyn EventBus>, topic: &str, key: &str, payload: &str) {
    let record = Record::new(topic, key, payload.to_owned()).with_header("traceparent", format!("tp-{payload}"));
    timeout(WAIT, bus.publish(record)).await.expect("publish timed out").expect("publish");
}

pub async fn subscribe(bus: &Arc<dyn EventBus>, group: &str, topic: &str, start: StartFrom) -> Box<dyn Subscription> {
    timeout(WAIT * 2, bus.subscribe(group, &[topic.to_owned()], start))
        .await
        .expect("subscribe timed out")
        .expect("subscribe")
}

pub fn text(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.payload).into_owned()
}

/// Reads exactly `n` records (each within `WAIT`).
pub async fn read_n(sub: &mut Box<dyn Subscription>, n: usize) -> Vec<Delivery> {
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
pub async fn assert_quiet(sub: &mut Box<dyn Subscription>) {
    if let Ok(got) = timeout(QUIET, sub.next()).await {
        panic!("expected no record, got {got:?}");
    }
}

/// A group member polled by its own task (a Kafka member must keep polling for rebalances to
/// complete), sending what it receives to the test, committing it or not.
pub struct Member {
    pub received: mpsc::UnboundedReceiver<Delivery>,
    assignment: watch::Receiver<Vec<(String, i32)>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<Box<dyn Subscription>>,
}

impl Member {
    pub fn spawn(mut sub: Box<dyn Subscription>, commit: bool) -> Self {
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

    pub fn assignment(&self) -> BTreeSet<(String, i32)> {
        self.assignment.borrow().iter().cloned().collect()
    }

    /// Stops polling and hands the subscription back.
    pub async fn stop(self) -> (Box<dyn Subscription>, mpsc::UnboundedReceiver<Delivery>) {
        self.stop.store(true, Ordering::SeqCst);
        let sub = timeout(WAIT, self.task).await.expect("member stop timed out").expect("member task");
        (sub, self.received)
    }
}

/// Waits until `check` holds, polling every 50 ms, at most `WAIT`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
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
pub async fn collect_until(
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
