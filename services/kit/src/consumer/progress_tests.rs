//! Readiness from group progress, and the rejoin when partitions of the group go unread.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use switchyard_platform::bus::{BusError, MemoryBus, Record};
use switchyard_platform::EventBus;

use super::tests::{event, readiness_becomes, setup, spec, unavailable, Flaky};
use super::*;

/// The in-memory bus, counting the subscriptions made through it and keeping the member's
/// readiness detail at each (a rejoin's reason is visible only until the new member is ready:
/// polling for it can miss it on a busy machine).
struct Counting {
    inner: Arc<MemoryBus>,
    readiness: crate::ops::Readiness,
    subscribed: AtomicUsize,
    details: Mutex<Vec<(bool, String)>>,
}

#[async_trait]
impl EventBus for Counting {
    async fn ensure_topics(&self, topics: &[String], partitions: i32) -> Result<(), BusError> {
        self.inner.ensure_topics(topics, partitions).await
    }
    async fn publish(&self, record: Record) -> Result<(), BusError> {
        self.inner.publish(record).await
    }
    async fn subscribe(&self, g: &str, t: &[String], s: StartFrom) -> Result<Box<dyn Subscription>, BusError> {
        let (ready, details) = self.readiness.check().await;
        self.details.lock().unwrap().push((ready, details.get("member").cloned().unwrap_or_default()));
        self.subscribed.fetch_add(1, Ordering::SeqCst);
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

/// Runs a consumer of `spec` through a counting bus; returns the bus and the task.
fn start(
    memory: &Arc<MemoryBus>,
    readiness: &crate::ops::Readiness,
    spec: ConsumerSpec,
    shutdown: &Shutdown,
) -> (Arc<Counting>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    start_with(memory, readiness, spec, shutdown, Flaky::new(0, unavailable))
}

fn start_with(
    memory: &Arc<MemoryBus>,
    readiness: &crate::ops::Readiness,
    spec: ConsumerSpec,
    shutdown: &Shutdown,
    handler: impl Handler + 'static,
) -> (Arc<Counting>, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let bus = Arc::new(Counting {
        inner: memory.clone(),
        readiness: readiness.clone(),
        subscribed: AtomicUsize::new(0),
        details: Mutex::new(Vec::new()),
    });
    let (b, s, flag) = (bus.clone(), shutdown.clone(), readiness.flag("member"));
    let task = tokio::spawn(async move { run(&*b, spec, flag, s, handler).await });
    (bus, task)
}

/// Waits until the member has rejoined its group; returns its readiness detail when it did
/// (and checks that it was not ready then).
async fn rejoin_reason(bus: &Counting) -> String {
    for _ in 0..500 {
        if let Some((ready, detail)) = bus.details.lock().unwrap().get(1) {
            assert!(!ready, "ready while rejoining: {detail}");
            return detail.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the member never rejoined; details at subscribing: {:?}", bus.details.lock().unwrap());
}

/// A member that owns no partition cannot see its own lag: it sees its group's. A member that
/// holds the partition and reads nothing (as a crashed member the broker has not evicted yet)
/// leaves records unread: the member without partitions says so, and rejoins the group so the
/// broker can assign them again (here the holder keeps the partition, so it goes on rejoining).
#[tokio::test]
async fn a_member_without_partitions_is_not_ready_and_rejoins_while_its_group_is_stuck() {
    let (memory, readiness) = setup().await;
    let spec = spec();
    // The first member takes the only partition and never reads.
    let holder = memory.subscribe(&spec.group, &["t".to_owned()], StartFrom::Earliest).await.unwrap();
    let shutdown = Shutdown::new();
    let (bus, task) = start(&memory, &readiness, spec, &shutdown);
    readiness_becomes(&readiness, true, Duration::from_secs(2)).await;
    assert_eq!(bus.subscribed.load(Ordering::SeqCst), 1);
    crate::envelope::publish(&*memory, "t", "k".into(), &event()).await.unwrap();
    let detail = rejoin_reason(&bus).await;
    assert!(detail.contains("holds no partitions") && detail.contains("rejoining the group"), "{detail}");
    // The stuck member goes; the partition moves to ours, which catches up.
    drop(holder);
    readiness_becomes(&readiness, true, Duration::from_secs(5)).await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

/// A member that reads its own partitions also watches the others: records left unread on a
/// partition another member holds make it unready and make it rejoin.
#[tokio::test]
async fn a_member_with_partitions_rejoins_when_the_group_leaves_others_unread() {
    let (memory, readiness) = setup().await;
    memory.ensure_topics(&["two".to_owned()], 2).await.unwrap();
    let spec = ConsumerSpec { topics: vec!["two".into()], ..spec() };
    let holder = memory.subscribe(&spec.group, &["two".to_owned()], StartFrom::Earliest).await.unwrap();
    let shutdown = Shutdown::new();
    let (bus, task) = start(&memory, &readiness, spec, &shutdown);
    readiness_becomes(&readiness, true, Duration::from_secs(2)).await;
    assert_eq!(holder.assignment().len(), 1, "the two members share the partitions");
    for i in 0..20 {
        crate::envelope::publish(&*memory, "two", format!("k{i}"), &event()).await.unwrap();
    }
    let detail = rejoin_reason(&bus).await;
    assert!(detail.contains("waiting on 1 partitions it does not own") && detail.contains("rejoining"), "{detail}");
    drop(holder);
    readiness_becomes(&readiness, true, Duration::from_secs(5)).await;
    shutdown.trigger();
    task.await.unwrap().unwrap();
}

/// Reports stranded work (as timers nobody fires) of partitions its member does not own.
struct Stranding;

#[async_trait]
impl Handler for Stranding {
    async fn handle(&mut self, _env: Envelope, _d: &Delivery) -> Result<(), ServiceError> {
        Ok(())
    }

    async fn stranded(&mut self, _assignment: &[(String, i32)], older_than: Duration) -> Option<String> {
        Some(format!("timers overdue by more than {}ms elsewhere", older_than.as_millis()))
    }
}

/// No records wait, so the group's lag shows nothing; but the handler knows of work on a
/// partition the member does not own that nobody does: the member is unready and rejoins.
#[tokio::test]
async fn a_member_rejoins_when_its_handler_sees_work_stranded_on_partitions_it_does_not_own() {
    let (memory, readiness) = setup().await;
    memory.ensure_topics(&["two".to_owned()], 2).await.unwrap();
    let spec = ConsumerSpec { topics: vec!["two".into()], ..spec() };
    let holder = memory.subscribe(&spec.group, &["two".to_owned()], StartFrom::Earliest).await.unwrap();
    let shutdown = Shutdown::new();
    let (bus, task) = start_with(&memory, &readiness, spec, &shutdown, Stranding);
    let detail = rejoin_reason(&bus).await;
    assert!(detail.contains("timers overdue by more than 400ms elsewhere") && detail.contains("rejoining"), "{detail}");
    drop(holder);
    shutdown.trigger();
    task.await.unwrap().unwrap();
}
