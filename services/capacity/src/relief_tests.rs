//! Capacity relief on a controlled clock: manual-SLA capacity reduction (R8.15, R8.16) and
//! queue backlog management (R8.19), each behind its account flag.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::ONE;
use switchyard_platform::Clock;
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, ResponseTimeChanged};

use crate::testing::{world, World, MIN};

fn manual(conversation: &str, due_ms: i64) -> Body {
    Body::ResponseTimeChanged(ResponseTimeChanged {
        conversation_id: conversation.into(),
        sla: "manual".into(),
        from_ms: due_ms,
        skill_id: "sales".into(),
    })
}

async fn reducing() -> World {
    let w = world().await;
    w.configure(|c| {
        c.account.capacity.manual_sla_reduction.enabled = true;
        c.account.capacity.manual_sla_reduction.threshold_ms = 30 * 60_000;
    })
    .await;
    w
}

#[tokio::test]
async fn a_manual_response_time_beyond_the_threshold_weighs_inactive_at_once_r8_15() {
    let mut w = reducing().await;
    w.assigned("c1", "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer waits");
    let hints = w.hints().await;
    let due = w.clock.now_ms() + 60 * 60_000;
    w.feed(manual("c1", due)).await;
    assert_eq!(w.weight("c1").await, 100, "an hour away, past 30 min: inactive at once");
    assert_eq!(w.hints().await, hints + 1, "the agent is announced: it may take more");

    // Below the threshold: normal dynamic logic (the consumer still waits: full weight).
    w.assigned("c2", "sales").await;
    let due = w.clock.now_ms() + 20 * 60_000;
    w.feed(manual("c2", due)).await;
    assert_eq!(w.weight("c2").await, ONE);
}

#[tokio::test]
async fn either_partys_new_message_restores_the_active_weight_r8_16() {
    let mut w = reducing().await;
    w.assigned("c1", "sales").await;
    let set_at = w.clock.now_ms();
    let due = set_at + 2 * 60 * 60_000;
    w.feed(manual("c1", due)).await;
    // The router placed it under the manual time (its route's sla is manual).
    w.route_is_manual("c1", due).await;
    assert_eq!(w.weight("c1").await, 100);
    w.after(MIN).await;
    w.writes("c1", Party::Agent, "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "the agent wrote: active again");
    w.after(4 * MIN).await;
    assert_eq!(w.weight("c1").await, 100, "and inactive after the time to inactive, as usual");
    w.writes("c1", Party::Consumer, "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer wrote: active again");
    // The change redelivered after those messages does not reduce it again.
    w.feed_at(manual("c1", due), set_at).await;
    assert_eq!(w.weight("c1").await, ONE);
}

#[tokio::test]
async fn with_the_flag_off_a_manual_response_time_changes_no_weight_r8_9() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    let due = w.clock.now_ms() + 5 * 60 * 60_000;
    w.feed(manual("c1", due)).await;
    assert_eq!(w.weight("c1").await, ONE);
}

#[tokio::test]
async fn answering_a_consumer_who_waited_past_two_hours_frees_the_room_at_once_r8_19() {
    let mut w = world().await;
    w.configure(|c| c.account.capacity.backlog_relief.enabled = true).await;
    // c1 opened and waited 2 h 1 min in the backlog before its agent answered.
    w.assigned("c1", "sales").await;
    w.after(121 * MIN).await;
    let hints = w.hints().await;
    w.writes("c1", Party::Agent, "sales").await;
    assert_eq!(w.weight("c1").await, 100, "low intensity at once, not after 4 minutes");
    assert_eq!(w.hints().await, hints + 1, "the next conversation may be assigned within a cycle");

    // c2 waited 1 h 59 min: the normal drop after the time to inactive.
    w.assigned("c2", "sales").await;
    w.after(119 * MIN).await;
    w.writes("c2", Party::Agent, "sales").await;
    assert_eq!(w.weight("c2").await, ONE);
    w.after(4 * MIN).await;
    assert_eq!(w.weight("c2").await, 100);
}

#[tokio::test]
async fn with_the_flag_off_a_long_wait_answered_drops_only_after_the_time_to_inactive() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.after(5 * 60 * MIN).await;
    w.writes("c1", Party::Agent, "sales").await;
    assert_eq!(w.weight("c1").await, ONE);
}
