//! Conformance of queue placements (R9.2, R9.3, R10.2, R10.4): the queue is ordered by the
//! router's score, non-actionable conversations last; a placement moves one conversation in
//! place; first-time consumers, the profile and the skill selection are kept on the record; in
//! memory, on one Redis and on a Redis Cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

const MESSAGE: Replacement = Replacement::ConsumerMessage;

conformance!(
    the_queue_is_ordered_by_score_r9_2_r9_3,
    a_placement_moves_a_queued_conversation_in_place_r10_4,
    a_consumer_is_first_time_until_seen_r10_2,
    every_routing_decision_is_logged_with_its_reasons,
);

/// ExplainRouting's record: queued with its placement, moved, the latest pass that found
/// nobody (with who was passed over and why), assigned (with the passed candidates), returned.
async fn every_routing_decision_is_logged_with_its_reasons(store: Store) {
    let a = unique("acct");
    let mut grouped = placement(900, 800, true);
    grouped.agent_group = "east".into();
    queue(&store, &a, "c1", grouped).await;
    assert!(store.replace_in_queue(&a, "c1", SKILL, &placement(1_900, 1_800, true), MESSAGE, 20).await.unwrap());
    let best = BestClaim {
        account_id: a.clone(),
        conversation_id: "c1".into(),
        skill_id: SKILL.into(),
        weight: ONE,
        headroom: 0,
        max_open: 0,
        warmup: None,
        now_ms: 30,
        scan: 8,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer: None,
    };
    online_agent(&store, &a, "full", &[SKILL], 1).await;
    queued_conversation(&store, &a, "other", 2).await;
    assert!(matches!(store.claim(&claim_of(&a, "other", "full", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert!(matches!(store.claim_best(&best).await.unwrap(), BestOutcome::NoAgent { .. }));
    let (_, waiting) = store.routing_log(&a, "c1").await.unwrap();
    let waiting = waiting.expect("the pass that found nobody");
    assert_eq!((waiting.kind.as_str(), waiting.at_ms, waiting.skill_id.as_str()), ("waiting", 30, SKILL));
    assert_eq!(waiting.passed, [("full".to_owned(), "full".to_owned())]);
    // aaa ranks first (idle, earliest id) but is not in the conversation's group.
    online_agent(&store, &a, "aaa", &[SKILL], 5).await;
    let east = AgentSpec { group_id: "east".into(), ..spec("ann", &[SKILL], 2) };
    assert!(store.create_agent(&a, &east).await.unwrap());
    store.set_agent_session(&a, "ann", &online(), 35).await.unwrap();
    let in_east = BestClaim { now_ms: 40, groups: vec!["east".into()], ..best };
    let version = match store.claim_best(&in_east).await.unwrap() {
        BestOutcome::Claimed { agent_id, version } if agent_id == "ann" => version,
        other => panic!("{other:?}"),
    };
    // The router's placement for a return keeps the group (R8.21).
    let kept = Placement { agent_group: "east".into(), ..placement(50, 60, false) };
    let back = Requeue { placement: Some(kept), ..back_to_queue(&a, "c1", "ann", version, SKILL, 70) };
    assert_eq!(store.requeue(&back).await.unwrap(), RequeueOutcome::Requeued);

    let (log, _) = store.routing_log(&a, "c1").await.unwrap();
    let summary: Vec<(&str, i64, &str, &str)> =
        log.iter().map(|e| (e.kind.as_str(), e.at_ms, e.agent_id.as_str(), e.reason.as_str())).collect();
    assert_eq!(
        summary,
        [
            ("queued", 1, "", "new"),
            ("moved", 20, "", "consumer_message"),
            ("assigned", 40, "ann", "best_agent"),
            ("queued", 70, "ann", "back_to_queue"),
        ]
    );
    let queued = &log[0];
    assert_eq!(
        (queued.due_ms, queued.score, queued.actionable, queued.sla.as_str(), queued.velocity_milli),
        (900, 800, true, "default", 2 * ONE)
    );
    assert_eq!(queued.agent_group, "east");
    assert_eq!((log[1].due_ms, log[1].score), (1_900, 1_800));
    assert_eq!((log[2].version, log[2].skill_id.as_str()), (version, SKILL));
    assert_eq!(log[2].passed, [("aaa".to_owned(), "other_group".to_owned())], "who was passed over before ann");
    assert_eq!((log[3].score, log[3].actionable, log[3].agent_group.as_str()), (60, false, "east"));
    // Nothing for a conversation never routed.
    assert_eq!(store.routing_log(&a, "ghost").await.unwrap(), (vec![], None));
}

fn placement(due_ms: i64, score: i64, actionable: bool) -> Placement {
    Placement { due_ms, score, actionable, sla: "default".into(), velocity_milli: 2 * ONE, agent_group: String::new() }
}

async fn queue(store: &Store, a: &str, conversation: &str, p: Placement) {
    open(store, a, conversation).await;
    assert_eq!(store.enqueue(a, conversation, SKILL, 1, &p).await.unwrap(), EnqueueOutcome::Queued);
}

async fn the_queue_is_ordered_by_score_r9_2_r9_3(store: Store) {
    let a = unique("acct");
    // Entered in this order; served by score: actionable ones by effective due, then the
    // non-actionable one whatever its due time.
    queue(&store, &a, "late", placement(900, 900, true)).await;
    queue(&store, &a, "answered", placement(10, 10 + 1_000_000_000_000_000, false)).await;
    queue(&store, &a, "soon", placement(500, 300, true)).await;
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["soon", "late", "answered"]);
    assert_eq!(
        (head[0].response_due_ms, head[0].score, head[0].actionable, head[0].sla.as_str(), head[0].velocity_milli),
        (500, 300, true, "default", 2 * ONE)
    );
    assert!(!head[2].actionable);
    let route = store.route(&a, "soon").await.unwrap().unwrap();
    assert_eq!((route.response_due_ms, route.queue_score, route.actionable), (500, 300, true));
    // The assignment decision takes the queue's order (the router walks the head).
    online_agent(&store, &a, "ann", &[SKILL], 5).await;
    let best = |c: &str| BestClaim {
        account_id: a.clone(),
        conversation_id: c.into(),
        skill_id: SKILL.into(),
        weight: ONE,
        headroom: 0,
        max_open: 0,
        warmup: None,
        now_ms: 5,
        scan: 8,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer: None,
    };
    assert!(matches!(store.claim_best(&best("soon")).await.unwrap(), BestOutcome::Claimed { .. }));
    assert_eq!(ids(&store.queue_head(&a, SKILL, 10).await.unwrap()), ["late", "answered"]);
}

async fn a_placement_moves_a_queued_conversation_in_place_r10_4(store: Store) {
    let a = unique("acct");
    queue(&store, &a, "c1", placement(100, 100, true)).await;
    queue(&store, &a, "c2", placement(200, 200, true)).await;
    assert!(store.replace_in_queue(&a, "c1", SKILL, &placement(300, 300, true), MESSAGE, 250).await.unwrap());
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["c2", "c1"]);
    assert_eq!((head[1].response_due_ms, head[1].score), (300, 300));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 2, "moved, not added");
    let skills = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(store.any_queued(&a, &skills(&["sales", SKILL])).await.unwrap());
    assert!(!store.any_queued(&a, &skills(&["sales", "-1"])).await.unwrap());
    assert!(!store.any_queued(&a, &[]).await.unwrap());
    // Not queued there: nothing moves and nothing is added.
    assert!(!store.replace_in_queue(&a, "c1", "sales", &placement(1, 1, true), MESSAGE, 250).await.unwrap());
    assert!(!store.replace_in_queue(&a, "ghost", SKILL, &placement(1, 1, true), MESSAGE, 250).await.unwrap());
    online_agent(&store, &a, "ann", &[SKILL], 5).await;
    assert!(matches!(store.claim(&claim_of(&a, "c2", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert!(!store.replace_in_queue(&a, "c2", SKILL, &placement(1, 1, true), MESSAGE, 250).await.unwrap(), "assigned");
    // R10.3, R10.8: a response time set by a person is kept on the assigned route, for when
    // it returns to a queue; it does not enter the queue.
    let manual = Placement { sla: "manual".into(), ..placement(7_000, 6_000, true) };
    assert!(store.replace_in_queue(&a, "c2", SKILL, &manual, Replacement::ManualSla, 250).await.unwrap());
    let held = store.route(&a, "c2").await.unwrap().unwrap();
    assert_eq!((held.status, held.response_due_ms, held.sla.as_str()), (RouteStatus::Assigned, 7_000, "manual"));
    assert_eq!(ids(&store.queue_head(&a, SKILL, 10).await.unwrap()), ["c1"]);
    // A requeue with a placement takes it, and counts a transfer.
    let transfer = Requeue {
        placement: Some(placement(50, 40, true)),
        reason: QueueReason::Transfer,
        ..back_to_queue(&a, "c2", "ann", 0, SKILL, 500)
    };
    assert_eq!(store.requeue(&transfer).await.unwrap(), RequeueOutcome::Requeued);
    let route = store.route(&a, "c2").await.unwrap().unwrap();
    assert_eq!((route.queue_score, route.response_due_ms, route.transfers), (40, 50, 1));
    assert_eq!(ids(&store.queue_head(&a, SKILL, 10).await.unwrap()), ["c2", "c1"]);
}

async fn a_consumer_is_first_time_until_seen_r10_2(store: Store) {
    let a = unique("acct");
    let first = created(store.open_conversation(&a, &new_conversation("c1", "alice", "")).await.unwrap());
    assert!(first.first_conversation);
    assert_eq!(first.profile.get("tier").map(String::as_str), Some("gold"));
    let stored = store.get_conversation(&a, "c1").await.unwrap().unwrap();
    assert_eq!(stored, first, "profile, skill reason and first-time flag are stored");
    store.close_conversation(&a, "c1", 2_000, None).await.unwrap();
    let again = NewConversation {
        skill_reason: "engagement".into(),
        skill_detail: "spring/web".into(),
        ..new_conversation("c2", "alice", "")
    };
    let second = created(store.open_conversation(&a, &again).await.unwrap());
    assert!(!second.first_conversation, "alice was seen");
    assert_eq!((second.skill_reason.as_str(), second.skill_detail.as_str()), ("engagement", "spring/web"));
    // Per account (invariant 7).
    let b = unique("acct");
    assert!(
        created(store.open_conversation(&b, &new_conversation("c1", "alice", "")).await.unwrap()).first_conversation
    );
}
