//! Conformance of the durable timers ([`TimerStore`]), in memory and on a real Redis: due
//! order, leases, rescheduling, cancelling, shards, and concurrent pollers (each timer handed
//! out once per lease however many replicas poll its shard).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use bytes::Bytes;
use switchyard_platform::store::*;
use switchyard_testkit::unique;

use support::*;

conformance!(
    timers_fire_when_due_once_per_lease,
    concurrent_pollers_hand_out_each_due_timer_once,
    the_earliest_timer_is_read_without_handing_it_out,
    scheduling_no_later_only_ever_brings_a_timer_forward,
);

/// "At the latest by" timers (the router's skill sweep): scheduling never pushes one later,
/// a leased one is brought forward (it fires again, its old lease no longer completes it).
async fn scheduling_no_later_only_ever_brings_a_timer_forward(store: Store) {
    let shard = unique("shard");
    let p = |s: &str| Bytes::from(s.to_owned());
    store.schedule_timer_no_later(&shard, "t", 500, p("first")).await.unwrap();
    store.schedule_timer_no_later(&shard, "t", 900, p("later")).await.unwrap();
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(500), "not pushed later");
    store.schedule_timer_no_later(&shard, "t", 300, p("sooner")).await.unwrap();
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(300));

    let fired = store.due_timers(&shard, 300, 1_000, 10).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].payload, p("sooner"));
    // Leased until 1_300: scheduling at 400 brings it forward, and the old lease's completion
    // leaves it in place.
    store.schedule_timer_no_later(&shard, "t", 400, p("again")).await.unwrap();
    store.complete_timer(&shard, &fired[0]).await.unwrap();
    let again = store.due_timers(&shard, 400, 1_000, 10).await.unwrap();
    assert_eq!(again.iter().map(|t| t.payload.clone()).collect::<Vec<_>>(), [p("again")]);
    store.complete_timer(&shard, &again[0]).await.unwrap();
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), None);
}

/// Durable timers: fire when due, earliest first; a handed-out timer is leased (not handed out
/// again while the lease holds, handed out again after it, as when its poller died);
/// completing removes it unless it was rescheduled meanwhile; shards are separate.
async fn timers_fire_when_due_once_per_lease(store: Store) {
    let shard = unique("shard");
    let other = unique("shard");
    let p = |s: &str| Bytes::from(s.to_owned());
    store.schedule_timer(&shard, "t2", 200, p("two")).await.unwrap();
    store.schedule_timer(&shard, "t1", 100, p("one")).await.unwrap();
    store.schedule_timer(&shard, "t3", 300, p("three")).await.unwrap();
    store.schedule_timer(&other, "t1", 50, p("elsewhere")).await.unwrap();
    assert!(store.due_timers(&shard, 99, 1_000, 10).await.unwrap().is_empty());

    let due = store.due_timers(&shard, 250, 1_000, 10).await.unwrap();
    let ids = |d: &[DueTimer]| d.iter().map(|t| (t.timer_id.clone(), t.payload.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&due), vec![("t1".into(), p("one")), ("t2".into(), p("two"))]);
    assert!(due.iter().all(|t| t.lease == 1_250));
    assert!(store.due_timers(&shard, 260, 1_000, 10).await.unwrap().is_empty(), "leased");
    // t1 completes; t2's taker dies; t2 comes due again when its lease ends (after t3).
    store.complete_timer(&shard, &due[0]).await.unwrap();
    let again = store.due_timers(&shard, 1_300, 1_000, 10).await.unwrap();
    assert_eq!(ids(&again), vec![("t3".into(), p("three")), ("t2".into(), p("two"))]);

    // Rescheduled after it was handed out: completing the old lease keeps the new timer.
    store.schedule_timer(&shard, "t2", 5_000, p("moved")).await.unwrap();
    store.complete_timer(&shard, &again[0]).await.unwrap();
    store.complete_timer(&shard, &again[1]).await.unwrap();
    assert!(store.due_timers(&shard, 4_999, 1_000, 10).await.unwrap().is_empty());
    let moved = store.due_timers(&shard, 5_000, 1_000, 1).await.unwrap();
    assert_eq!(ids(&moved), vec![("t2".into(), p("moved"))]);

    // Cancel, limits, and the other shard untouched.
    assert!(store.cancel_timer(&shard, "t2").await.unwrap());
    assert!(!store.cancel_timer(&shard, "t2").await.unwrap());
    assert!(store.due_timers(&shard, i64::MAX / 2, 1_000, 10).await.unwrap().is_empty());
    for i in 0..5 {
        store.schedule_timer(&other, &format!("x{i}"), i, p("x")).await.unwrap();
    }
    assert_eq!(store.due_timers(&other, 100, 1_000, 3).await.unwrap().len(), 3);
    assert_eq!(store.due_timers(&other, 100, 1_000, 10).await.unwrap().len(), 3, "the rest, t1 and x3, x4");
}

/// Eight replicas poll one shard at once, in small batches, until 300 due timers are handed
/// out: each is handed out exactly once while its lease holds (a lease longer than the test),
/// and a poll right after finds nothing left.
async fn concurrent_pollers_hand_out_each_due_timer_once(store: Store) {
    const TIMERS: usize = 300;
    let shard = unique("shard");
    for i in 0..TIMERS {
        store.schedule_timer(&shard, &format!("t{i}"), i as i64, Bytes::new()).await.unwrap();
    }
    let pollers = (0..8).map(|_| {
        let (store, shard) = (store.clone(), shard.clone());
        tokio::spawn(async move {
            let mut taken = Vec::new();
            // Bounded: 300 timers in batches of at least one need at most 300 polls each.
            for _ in 0..TIMERS {
                let due = store.due_timers(&shard, 1_000, 60_000, 7).await.unwrap();
                if due.is_empty() {
                    break;
                }
                taken.extend(due.into_iter().map(|t| t.timer_id));
            }
            taken
        })
    });
    let mut counts: HashMap<String, usize> = HashMap::new();
    for poller in futures::future::join_all(pollers).await {
        for id in poller.unwrap() {
            *counts.entry(id).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), TIMERS, "every due timer handed out");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "handed out more than once while leased: {twice:?}");
    assert!(store.due_timers(&shard, 1_000, 60_000, 10).await.unwrap().is_empty());
}

/// The earliest due time of a shard (what a replica that does not own it checks to see that
/// nobody fires its timers): a handed-out timer counts at its lease's end; reading hands out
/// nothing.
async fn the_earliest_timer_is_read_without_handing_it_out(store: Store) {
    let shard = unique("shard");
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), None);
    store.schedule_timer(&shard, "t1", 300, Bytes::new()).await.unwrap();
    store.schedule_timer(&shard, "t2", 100, Bytes::new()).await.unwrap();
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(100));
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(100), "reading handed out nothing");
    let due = store.due_timers(&shard, 150, 1_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(300), "t2 is leased until 1,150");
    assert!(store.cancel_timer(&shard, "t1").await.unwrap());
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), Some(1_150));
    store.complete_timer(&shard, &due[0]).await.unwrap();
    assert_eq!(store.earliest_timer(&shard).await.unwrap(), None);
}
