//! Auto unassign through the capacity consumer on a controlled clock (R8.23, R8.24).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchyard_platform::store::AgentState;
use switchyard_proto::common::v1::Party;

use crate::testing::{world, World, MIN};

const SEC: Duration = Duration::from_secs(1);

async fn unassigning(online: bool, away: bool) -> World {
    let w = world().await;
    w.configure(|c| {
        let policy = &mut c.account.capacity.auto_unassign;
        (policy.after_ms, policy.online, policy.away) = (60_000, online, away);
    })
    .await;
    w
}

fn requeued(conversation: &str) -> (String, String, String) {
    (conversation.into(), "auto_unassigned".into(), "ann".into())
}

#[tokio::test]
async fn an_unanswered_consumer_goes_back_to_the_queue_after_60_s_r8_23() {
    let mut w = unassigning(true, false).await;
    // A new conversation: the consumer waits from the assignment.
    w.assigned("c1", "sales").await;
    w.after(59 * SEC).await;
    assert!(w.requeues().await.is_empty(), "59 s: not yet");
    w.after(SEC).await;
    assert_eq!(w.requeues().await, vec![requeued("c1")], "60 s, avoiding ann (R6.4)");
}

#[tokio::test]
async fn the_agents_answer_stops_it_and_the_consumers_next_message_starts_it_again_r8_23() {
    let mut w = unassigning(true, false).await;
    w.assigned("c1", "sales").await;
    w.after(30 * SEC).await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(2 * MIN).await;
    assert!(w.requeues().await.is_empty(), "answered");
    w.writes("c1", Party::Consumer, "sales").await;
    w.after(40 * SEC).await;
    // A second message does not move the deadline: the wait began with the first.
    w.writes("c1", Party::Consumer, "sales").await;
    w.after(20 * SEC).await;
    assert_eq!(w.requeues().await, vec![requeued("c1")]);
}

#[tokio::test]
async fn each_agent_state_is_switched_on_separately_r8_24() {
    // Only AWAY agents: an ONLINE agent who does not answer keeps the conversation.
    let mut w = unassigning(false, true).await;
    w.assigned("c1", "sales").await;
    w.after(5 * MIN).await;
    assert!(w.requeues().await.is_empty(), "ONLINE is not switched on");
    // The agent goes AWAY while the consumer still waits: at the next look it goes back.
    w.ann_is(AgentState::Away).await;
    w.after(MIN).await;
    assert_eq!(w.requeues().await, vec![requeued("c1")]);
}

#[tokio::test]
async fn off_by_default_nothing_is_unassigned_r8_23() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.ann_is(AgentState::Away).await;
    w.after(60 * MIN).await;
    assert!(w.requeues().await.is_empty());
}
