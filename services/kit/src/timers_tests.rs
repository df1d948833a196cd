//! Timers of one family: fired by the owner of their key's partition, once while leased,
//! again after a failed effect, moved when rescheduled; all on a controlled clock.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use switchyard_platform::bus::MemoryBus;
use switchyard_platform::store::MemoryStore;
use switchyard_platform::{EventBus, ManualClock};

use super::*;
use crate::Topics;

const PARTITIONS: i32 = 4;

async fn setup() -> (Timers, Arc<ManualClock>, String) {
    let bus = Arc::new(MemoryBus::new());
    let topics = Topics::with_prefix("t.");
    bus.ensure_topics(std::slice::from_ref(&topics.agents), PARTITIONS).await.unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let platform = Platform::without_auth(bus, Arc::new(MemoryStore::new()), clock.clone(), topics.clone(), "i");
    let timers = Timers::new(platform, "test", "test.agents", topics.agents.clone()).with_lease(Duration::from_secs(1));
    (timers, clock, topics.agents)
}

/// The partition `key` falls in, as the owner of that partition sees its assignment.
fn owner_of(topic: &str, key: &str) -> Vec<(String, i32)> {
    vec![(topic.to_owned(), partition_for(key, PARTITIONS))]
}

fn others_than(topic: &str, key: &str) -> Vec<(String, i32)> {
    let owned = partition_for(key, PARTITIONS);
    (0..PARTITIONS).filter(|p| *p != owned).map(|p| (topic.to_owned(), p)).collect()
}

/// Records what fired; fails while `failing` is set.
#[derive(Default)]
struct Effects {
    fired: Mutex<Vec<(String, Bytes)>>,
    failing: AtomicUsize,
}

impl Effects {
    async fn fire(&self, timer: DueTimer) -> Result<(), ServiceError> {
        if self.failing.load(Ordering::SeqCst) > 0 {
            self.failing.fetch_sub(1, Ordering::SeqCst);
            return Err(ServiceError::Unavailable("store down".into()));
        }
        self.fired.lock().unwrap().push((timer.timer_id, timer.payload));
        Ok(())
    }

    fn ids(&self) -> Vec<String> {
        self.fired.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }
}

#[tokio::test]
async fn a_timer_fires_once_when_due_and_only_in_the_replica_that_owns_its_key() {
    let (timers, clock, topic) = setup().await;
    let effects = Effects::default();
    timers.schedule("acme/ann", "logout:ann", 100, Bytes::from_static(b"ann")).await.unwrap();
    let fire = |t| effects.fire(t);

    clock.set(99);
    assert_eq!(timers.fire_due(&owner_of(&topic, "acme/ann"), fire).await, 0, "not due yet");
    clock.set(100);
    assert_eq!(timers.fire_due(&others_than(&topic, "acme/ann"), fire).await, 0, "another replica's partition");
    assert_eq!(timers.fire_due(&[("other-topic".into(), 0)], fire).await, 0, "another topic's partition");
    assert_eq!(timers.fire_due(&owner_of(&topic, "acme/ann"), fire).await, 1);
    assert_eq!(*effects.fired.lock().unwrap(), vec![("logout:ann".to_owned(), Bytes::from_static(b"ann"))]);
    clock.set(10_000);
    assert_eq!(timers.fire_due(&owner_of(&topic, "acme/ann"), fire).await, 0, "completed: fired once");
}

#[tokio::test]
async fn a_failed_effect_fires_again_after_the_lease() {
    let (timers, clock, topic) = setup().await;
    let effects = Effects::default();
    let fire = |t| effects.fire(t);
    let owner = owner_of(&topic, "acme/bob");
    timers.schedule("acme/bob", "t", 100, Bytes::new()).await.unwrap();
    effects.failing.store(1, Ordering::SeqCst);
    clock.set(100);
    assert_eq!(timers.fire_due(&owner, fire).await, 0, "the effect failed");
    clock.set(1_099);
    assert_eq!(timers.fire_due(&owner, fire).await, 0, "leased: not handed out twice");
    clock.set(1_100);
    assert_eq!(timers.fire_due(&owner, fire).await, 1, "the lease ran out: fires again");
    assert_eq!(effects.ids(), ["t"]);
}

#[tokio::test]
async fn rescheduling_moves_a_timer_and_cancelling_removes_it() {
    let (timers, clock, topic) = setup().await;
    let effects = Effects::default();
    let fire = |t| effects.fire(t);
    let owner = owner_of(&topic, "acme/cy");
    timers.schedule("acme/cy", "moved", 100, Bytes::new()).await.unwrap();
    timers.schedule("acme/cy", "moved", 500, Bytes::new()).await.unwrap();
    timers.schedule("acme/cy", "cancelled", 100, Bytes::new()).await.unwrap();
    assert!(timers.cancel("acme/cy", "cancelled").await.unwrap());
    assert!(!timers.cancel("acme/cy", "cancelled").await.unwrap(), "already gone");
    clock.set(499);
    assert_eq!(timers.fire_due(&owner, fire).await, 0);
    clock.set(500);
    assert_eq!(timers.fire_due(&owner, fire).await, 1);
    assert_eq!(effects.ids(), ["moved"]);
}

/// A replica sees the timers of partitions it does not own that nobody fires (the broker left
/// them unassigned): overdue by more than the limit, not merely due.
#[tokio::test]
async fn timers_nobody_fires_are_seen_from_the_partitions_a_replica_does_not_own() {
    let (timers, clock, topic) = setup().await;
    let limit = Duration::from_secs(30);
    timers.schedule("acme/dee", "t", 1_000, Bytes::new()).await.unwrap();
    let elsewhere = others_than(&topic, "acme/dee");
    clock.set(1_000 + 30_000);
    assert_eq!(timers.stranded(&elsewhere, limit).await, None, "due, not yet overdue by the limit");
    clock.set(1_000 + 30_001);
    let why = timers.stranded(&elsewhere, limit).await.unwrap();
    let partition = partition_for("acme/dee", PARTITIONS);
    assert!(why.contains(&format!("[{partition}]")) && why.contains("test.agents"), "{why}");
    assert_eq!(timers.stranded(&owner_of(&topic, "acme/dee"), limit).await, None, "its own: it fires them");
    let effects = Effects::default();
    timers.fire_due(&owner_of(&topic, "acme/dee"), |t| effects.fire(t)).await;
    assert_eq!(timers.stranded(&elsewhere, limit).await, None, "fired");
}
