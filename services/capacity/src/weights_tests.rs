//! Dynamic capacity through the capacity consumer, on a controlled clock (R8.1-R8.4, R8.10):
//! the handler is fed the events connectors and the router publish, its timers fire on tick.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchyard_platform::store::prelude::*;
use switchyard_platform::store::ONE;
use switchyard_platform::Clock;
use switchyard_proto::common::v1::Party;
use switchyard_proto::events::v1::{envelope::Body, ConversationAssigned};
use switchyard_routing::{CapacityMode, CapacityOverrides, SkillRouting};

use crate::testing::{world, MIN};

#[tokio::test]
async fn a_conversation_weighs_inactive_4_minutes_after_the_agent_answered_and_active_again_on_a_consumer_message_r8_2_r8_3(
) {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "pending agent: the active weight (R8.2)");
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer is waiting: no drop");

    w.writes("c1", Party::Agent, "sales").await;
    w.after(4 * MIN - Duration::from_secs(1)).await;
    assert_eq!(w.weight("c1").await, ONE, "3 min 59 s after the answer");
    let hints_before = w.hints().await;
    w.after(Duration::from_secs(1)).await;
    assert_eq!(w.weight("c1").await, 100, "4 min: the inactive weight 0.1 (R8.3, R8.4)");
    assert_eq!(w.hints().await, hints_before + 1, "the agent is announced: it may take more");

    w.writes("c1", Party::Consumer, "sales").await;
    assert_eq!(w.weight("c1").await, ONE, "the consumer wrote: full weight at once");
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "the drop was cancelled");
    // A system message changes nothing.
    w.writes("c1", Party::System, "sales").await;
    w.after(10 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE);
}

#[tokio::test]
async fn a_later_agent_message_moves_the_drop_and_a_close_cancels_it_r8_3() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(3 * MIN).await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "counted from the latest answer");
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, 100);

    w.assigned("c2", "sales").await;
    w.writes("c2", Party::Agent, "sales").await;
    w.store.close_conversation("acme", "c2", w.clock.now_ms(), None).await.unwrap();
    w.feed(Body::ConversationClosed(switchyard_proto::events::v1::ConversationClosed {
        conversation_id: "c2".into(),
        agent_id: "ann".into(),
        ..Default::default()
    }))
    .await;
    w.after(10 * MIN).await;
    let ann = w.store.get_agent("acme", "ann").await.unwrap().unwrap();
    assert_eq!(ann.load, vec![("c1".to_string(), 100)], "c2 released, its drop cancelled");
}

#[tokio::test]
async fn an_assignment_of_a_conversation_pending_consumer_counts_the_drop_from_the_assignment_r8_10() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(3 * MIN).await;
    // Returned to the queue and assigned again (the claim weighs it active): the count starts
    // at the new assignment, not at the agent's answer.
    w.feed(Body::ConversationAssigned(ConversationAssigned {
        conversation_id: "c1".into(),
        agent_id: "ann".into(),
        skill_id: "sales".into(),
        assignment_version: 2,
    }))
    .await;
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "5 min after the answer, 2 after the assignment");
    w.after(2 * MIN).await;
    assert_eq!(w.weight("c1").await, 100);
}

#[tokio::test]
async fn a_skill_has_its_own_weights_and_concurrency_mode_never_drops_r8_1_r8_4() {
    let mut w = world().await;
    w.configure(|c| {
        let capacity = CapacityOverrides {
            inactive_weight_milli: Some(300),
            time_to_inactive_ms: Some(60_000),
            ..Default::default()
        };
        c.skills.insert("vip".into(), SkillRouting { capacity, ..Default::default() });
    })
    .await;
    w.assigned("c1", "vip").await;
    w.writes("c1", Party::Agent, "vip").await;
    w.after(MIN).await;
    assert_eq!(w.weight("c1").await, 300, "vip: 0.3 after 1 minute");

    let mut w = world().await;
    w.configure(|c| c.account.capacity.mode = CapacityMode::Concurrency).await;
    w.assigned("c1", "sales").await;
    w.writes("c1", Party::Agent, "sales").await;
    w.after(60 * MIN).await;
    assert_eq!(w.weight("c1").await, ONE, "concurrency: every open conversation weighs 1.0");
}
