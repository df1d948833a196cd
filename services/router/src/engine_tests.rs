//! The engine against the in-memory store and bus, on a controlled clock.

use std::time::Duration;

use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{AgentState, NewConversation};
use switchyard_platform::Clock;

use super::*;
use crate::testing::*;

#[tokio::test]
async fn conversations_wait_until_an_agent_is_online_then_go_oldest_first() {
    let w = world().await;
    w.agent("away", &["sales"], 2, AgentState::Away).await;
    w.conversation("c1", "sales").await;
    w.conversation("c2", "sales").await;
    assert!(w.assignments().await.is_empty(), "R7.1: nobody ONLINE, nothing assigned");
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 2);

    w.agent("alice", &["sales"], 1, AgentState::Online).await;
    assert_eq!(w.engine.assign_skill("acme", "sales").await.unwrap(), 1);
    assert_eq!(w.assignments().await, vec![("c1".to_owned(), "alice".to_owned())]);
}

#[tokio::test]
async fn a_freed_agent_gets_the_longest_waiting_conversation_of_its_skills() {
    let w = world().await;
    w.agent("bob", &["sales", "support"], 1, AgentState::Online).await;
    w.conversation("first", "sales").await; // assigned to bob at once
    w.conversation("older-support", "support").await; // waits: bob is full
    w.conversation("newer-sales", "sales").await;
    assert_eq!(w.assignments().await.len(), 1);
    w.store.release("acme", "first", w.clock.now_ms()).await.unwrap();
    // A hint naming skills without a queued conversation finds nothing to take.
    assert_eq!(w.engine.assign_agent("acme", "bob", &["billing".to_owned()]).await.unwrap(), 0);
    // Invariant 5 / chatwoot#10583: the oldest across the agent's skills, at once (the hint
    // names one of them with a queue).
    let hint = ["sales".to_owned(), "support".to_owned()];
    assert_eq!(w.engine.assign_agent("acme", "bob", &hint).await.unwrap(), 1);
    assert_eq!(w.assignments().await.last().unwrap(), &("older-support".to_owned(), "bob".to_owned()));
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 1);
}

/// The skill actor commits a route command after `accept` and assigns in a later,
/// coalesced pass: the accepted conversation is durably queued in between (a crash there
/// leaves it for the sweep), and one pass then assigns everything accepted, oldest first.
#[tokio::test]
async fn accepted_routes_wait_queued_for_one_pass_that_assigns_them_all() {
    let w = world().await;
    for (i, id) in ["c1", "c2", "c3"].iter().enumerate() {
        let new = NewConversation {
            conversation_id: (*id).into(),
            consumer_id: format!("consumer-{id}"),
            channel: 1,
            skill_id: "sales".into(),
            language: String::new(),
            partner_message_id: String::new(),
            opened_at_ms: i as i64,
            profile: Default::default(),
            skill_reason: String::new(),
            skill_detail: String::new(),
        };
        w.store.open_conversation("acme", &new).await.unwrap();
        let cmd = RouteConversation {
            conversation_id: (*id).into(),
            skill_id: "sales".into(),
            queued_at_ms: i as i64,
            avoid_agent_id: String::new(),
            ..Default::default()
        };
        w.engine.accept("acme", &cmd, &format!("route:{id}")).await.unwrap();
    }
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.agent("b", &["sales"], 2, AgentState::Online).await;
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 3, "accepted, not yet assigned");
    assert!(w.assignments().await.is_empty());
    assert_eq!(w.engine.assign_skill("acme", "sales").await.unwrap(), 3);
    // Announced concurrently, so the events may come in any order.
    let mut got: Vec<String> = w.assignments().await.into_iter().map(|(c, _)| c).collect();
    got.sort();
    assert_eq!(got, ["c1", "c2", "c3"]);
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 0);
    // Every claim of the pass was announced (none left pending for the sweep).
    assert!(w.store.unannounced(i64::MAX, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn capacity_is_never_exceeded_and_each_conversation_goes_once() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.agent("b", &["sales"], 1, AgentState::Online).await;
    for i in 0..6 {
        w.conversation(&format!("c{i}"), "sales").await;
    }
    for _ in 0..3 {
        w.engine.assign_skill("acme", "sales").await.unwrap();
        w.engine.assign_agent("acme", "a", &[]).await.unwrap();
    }
    let got = w.assignments().await;
    assert_eq!(got.len(), 3, "total capacity is 3: {got:?}");
    let unique: std::collections::HashSet<_> = got.iter().map(|(c, _)| c).collect();
    assert_eq!(unique.len(), 3);
    assert_eq!(got.iter().filter(|(_, a)| a == "a").count(), 2);
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 3);
}

#[tokio::test]
async fn a_redelivered_route_command_changes_nothing_but_reannounces() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.conversation("c1", "sales").await;
    let cmd = RouteConversation {
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        queued_at_ms: 0,
        avoid_agent_id: String::new(),
        ..Default::default()
    };
    w.engine.route("acme", &cmd, "route:c1").await.unwrap();
    let got = w.assignments().await;
    // Two events with the same id (assigned:c1:1): consumers dedupe; the state has one.
    assert_eq!(got, vec![("c1".to_owned(), "a".to_owned()), ("c1".to_owned(), "a".to_owned())]);
    assert_eq!(w.store.get_agent("acme", "a").await.unwrap().unwrap().load.len(), 1);
    assert_eq!(w.store.queue_depth("acme", "sales").await.unwrap(), 0);
}

#[tokio::test]
async fn a_claim_whose_event_was_lost_is_announced_by_the_sweep() {
    let w = world().await;
    w.conversation("c1", "sales").await; // queued: nobody online yet
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    // A router claims and dies before publishing (the store call alone).
    let claim = Claim {
        account_id: "acme".into(),
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        agent_id: "a".into(),
        weight: ONE,
        headroom: 500,
        max_open: 0,
        warmup: None,
        now_ms: w.clock.now_ms(),
        history_window_ms: 0,
    };
    assert_eq!(w.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    assert!(w.assignments().await.is_empty());
    let grace = Duration::from_secs(6);
    // Not yet past the grace period: the claimer may still be publishing; still pending.
    assert_eq!(w.engine.reannounce_skill("acme", "sales", grace).await.unwrap(), 1);
    assert!(w.assignments().await.is_empty());
    // Another skill's sweep leaves it alone.
    assert_eq!(w.engine.reannounce_skill("acme", "billing", grace).await.unwrap(), 0);
    w.clock.advance(Duration::from_secs(7));
    assert_eq!(w.engine.reannounce_skill("acme", "sales", grace).await.unwrap(), 0);
    assert_eq!(w.assignments().await, vec![("c1".to_owned(), "a".to_owned())]);
    // Confirmed: not published again.
    assert_eq!(w.engine.reannounce_skill("acme", "sales", grace).await.unwrap(), 0);
    assert_eq!(w.assignments().await.len(), 1);
}

fn back_to_queue(w: &World, agent: &str, version: u64) -> RouteConversation {
    RouteConversation {
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        queued_at_ms: w.clock.now_ms(),
        avoid_agent_id: agent.into(),
        assignment_version: version,
        reason: "back_to_queue".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_requeue_whose_event_was_lost_is_announced_on_redelivery() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.conversation("c1", "sales").await;
    // A router requeued and died before publishing; the command comes again.
    let requeue = Requeue {
        account_id: "acme".into(),
        conversation_id: "c1".into(),
        from_agent: "a".into(),
        version: 1,
        to_skill: "sales".into(),
        reason: QueueReason::BackToQueue,
        now_ms: w.clock.now_ms(),
        placement: None,
        suggested_agent: String::new(),
    };
    w.store.requeue(&requeue).await.unwrap();
    w.engine.route("acme", &back_to_queue(&w, "a", 1), "b2q-1").await.unwrap();
    assert_eq!(w.unassignments().await, vec![("c1".to_owned(), "a".to_owned())]);
}

/// Finding: a redelivered back-to-queue requeued the conversation a second time, taking it
/// from the agent it had gone to since.
#[tokio::test]
async fn a_redelivered_back_to_queue_requeues_once() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.conversation("c1", "sales").await;
    let cmd = back_to_queue(&w, "a", 1);
    w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
    // Nobody else can take it: R6.4 gives it back to `a` (assignment 2).
    let route = w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.agent_id.as_str(), route.version), (RouteStatus::Assigned, "a", 2));
    w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
    let route = w.store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.version), (RouteStatus::Assigned, 2), "assignment 2 stays");
    assert_eq!(w.store.get_agent("acme", "a").await.unwrap().unwrap().load.len(), 1);
    // The repeat re-announced the same unassignment (same event id), nothing more.
    assert_eq!(w.unassignments().await.len(), 2);
}

/// Finding: a redelivered back-to-queue sent "unassigned" after "closed".
#[tokio::test]
async fn a_back_to_queue_redelivered_after_the_close_announces_nothing() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.conversation("c1", "sales").await;
    let cmd = back_to_queue(&w, "a", 1);
    w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
    w.store.close_conversation("acme", "c1", w.clock.now_ms(), None).await.unwrap();
    w.store.release("acme", "c1", w.clock.now_ms()).await.unwrap();
    let before = w.unassignments().await.len();
    w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
    assert_eq!(w.unassignments().await.len(), before);
}

#[tokio::test]
async fn back_to_queue_goes_to_another_agent_when_one_is_free() {
    let w = world().await;
    w.agent("a", &["sales"], 2, AgentState::Online).await;
    w.conversation("c1", "sales").await;
    w.agent("b", &["sales"], 2, AgentState::Online).await;
    let cmd = RouteConversation {
        conversation_id: "c1".into(),
        skill_id: "sales".into(),
        queued_at_ms: w.clock.now_ms(),
        avoid_agent_id: "a".into(),
        ..Default::default()
    };
    w.engine.route("acme", &cmd, "b2q-1").await.unwrap();
    // R6.4: a is less loaded now, but b is tried first.
    assert_eq!(w.assignments().await.last().unwrap(), &("c1".to_owned(), "b".to_owned()));
}
