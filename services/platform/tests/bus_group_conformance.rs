//! The event bus's consumer groups and tail readers, against the in-memory bus and Kafka (a
//! real `tansu` broker per test): members split the partitions and hand them over, a tail
//! reader reads every partition from now on outside any group, and lag is reported for a
//! member and its group.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bus_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use bus_support::*;
use switchyard_platform::bus::{Delivery, EventBus, PartitionLag, StartFrom, Subscription};
use switchyard_testkit::unique;
use tokio::time::{timeout, Instant};

bus_conformance!(
    group_members_split_partitions_and_hand_over_on_leave,
    tail_reads_every_partition_from_now_on_outside_any_group,
    lag_shows_what_a_member_and_its_group_have_not_read,
);

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
