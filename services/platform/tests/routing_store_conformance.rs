//! Conformance of the routing store family (`RoutingStore`: accounts, skills, queues, routes,
//! release and requeue; the claim is in claim_conformance.rs), in memory and on a real Redis.
//! Invariant numbers refer to architecture §6, rule numbers (R…) to the domain reference.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    accounts_and_skills,
    enqueue_is_idempotent_and_ignored_after_release,
    queue_order_is_oldest_first,
    release_frees_agent_or_leaves_queue,
    requeue_only_from_the_assigned_agent,
    active_skills_tracks_non_empty_queues,
    routing_config_is_saved_by_compare_and_set,
);

/// The routing configuration document is saved only over the revision its writer read: of
/// concurrent writers over the same revision exactly one wins, the others learn the stored one.
async fn routing_config_is_saved_by_compare_and_set(store: Store) {
    let (a, b) = (unique("acct"), unique("acct"));
    assert_eq!(store.routing_config(&a).await.unwrap(), (0, None));
    assert_eq!(store.routing_config_revision(&a).await.unwrap(), 0);
    let doc = bytes::Bytes::from_static(b"{\"account\":{}}");
    assert_eq!(store.save_routing_config(&a, 0, doc.clone()).await.unwrap(), ConfigSave::Saved { revision: 1 });
    assert_eq!(store.routing_config(&a).await.unwrap(), (1, Some(doc.clone())));
    assert_eq!(store.save_routing_config(&a, 0, doc.clone()).await.unwrap(), ConfigSave::Conflict { current: 1 });
    // Invariant 7: accounts do not share documents.
    assert_eq!(store.routing_config(&b).await.unwrap(), (0, None));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, a) = (store.clone(), a.clone());
            tokio::spawn(async move {
                store.save_routing_config(&a, 1, bytes::Bytes::from(format!("{{\"n\":{i}}}"))).await.unwrap()
            })
        })
        .collect();
    let mut saved = 0;
    for task in tasks {
        match task.await.unwrap() {
            ConfigSave::Saved { revision } => {
                assert_eq!(revision, 2);
                saved += 1;
            }
            ConfigSave::Conflict { current } => assert_eq!(current, 2),
        }
    }
    assert_eq!(saved, 1, "exactly one writer over revision 1 wins");
    assert_eq!(store.routing_config_revision(&a).await.unwrap(), 2);
}

/// Invariant 7: one account never sees another account's skills.
async fn accounts_and_skills(store: Store) {
    let (a, b) = (unique("acct"), unique("acct"));
    assert!(!store.account_exists(&a).await.unwrap());
    assert!(store.create_account(&a, "Acme").await.unwrap());
    assert!(!store.create_account(&a, "Acme again").await.unwrap(), "create_account is create-if-absent");
    assert!(store.account_exists(&a).await.unwrap());
    assert!(!store.account_exists(&b).await.unwrap());

    let skill = |id: &str, name: &str| SkillRecord { skill_id: id.into(), name: name.into() };
    assert!(store.create_skill(&a, &skill("sales", "Sales")).await.unwrap());
    assert!(store.create_skill(&a, &skill("billing", "Billing")).await.unwrap());
    assert!(!store.create_skill(&a, &skill("sales", "Other name")).await.unwrap(), "skill id already exists");
    assert_eq!(
        store.list_skills(&a).await.unwrap(),
        vec![skill("billing", "Billing"), skill("sales", "Sales")],
        "sorted by skill id; the first name wins"
    );
    assert!(store.skill_exists(&a, "sales").await.unwrap());
    assert!(!store.skill_exists(&a, "support").await.unwrap());

    assert!(store.list_skills(&b).await.unwrap().is_empty());
    assert!(!store.skill_exists(&b, "sales").await.unwrap());
    assert!(store.create_skill(&b, &skill("sales", "B sales")).await.unwrap(), "same id in another account");
}

/// Invariant 4 (redelivered enqueue changes nothing) and invariant 3 (a released conversation
/// is not resurrected by a late enqueue).
async fn enqueue_is_idempotent_and_ignored_after_release(store: Store) {
    let a = unique("acct");
    assert_eq!(store.route(&a, "c1").await.unwrap(), None);
    queued_conversation(&store, &a, "c1", 100).await;
    let queued = Route {
        skill_history: vec![step(SKILL, QueueReason::New, 100)],
        ..route_of("c1", SKILL, RouteStatus::Queued, 100)
    };
    assert_eq!(store.route(&a, "c1").await.unwrap(), Some(queued.clone()));
    assert_eq!(
        store.enqueue(&a, "c1", SKILL, 200, &Placement::by_due(200)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Queued)
    );
    assert_eq!(
        store.enqueue(&a, "c1", "sales", 200, &Placement::by_due(200)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Queued)
    );
    assert_eq!(store.route(&a, "c1").await.unwrap(), Some(queued));
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 1);
    assert_eq!(store.queue_depth(&a, "sales").await.unwrap(), 0);

    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    assert!(matches!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(
        store.enqueue(&a, "c1", SKILL, 300, &Placement::by_due(300)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Assigned)
    );
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);

    store.release(&a, "c1", 10_000).await.unwrap();
    assert_eq!(
        store.enqueue(&a, "c1", SKILL, 400, &Placement::by_due(400)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Closed)
    );
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);

    // Released before it was ever routed: the late enqueue is ignored too.
    assert_eq!(store.release(&a, "c2", 10_000).await.unwrap(), ReleaseOutcome::Unchanged);
    let closed = store.route(&a, "c2").await.unwrap().unwrap();
    assert_eq!(closed.status, RouteStatus::Closed);
    assert_eq!(
        store.enqueue(&a, "c2", SKILL, 500, &Placement::by_due(500)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Closed)
    );
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
}

/// New conversations: oldest first (their response is due from their entry, R9.3); equal
/// times ordered by conversation id (the in-memory BTreeSet order).
async fn queue_order_is_oldest_first(store: Store) {
    let a = unique("acct");
    assert!(store.queue_head(&a, SKILL, 10).await.unwrap().is_empty());
    for (id, at) in [("c5", 500), ("c1", 100), ("c3", 300), ("b3", 300), ("c0", -50), ("d3", 300)] {
        queued_conversation(&store, &a, id, at).await;
    }
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["c0", "c1", "b3", "c3", "d3", "c5"]);
    assert_eq!(head.iter().map(|e| e.queued_at_ms).collect::<Vec<_>>(), [-50, 100, 300, 300, 300, 500]);
    assert!(head.iter().all(|e| e.avoid_agent_id.is_empty()));
    assert_eq!(ids(&store.queue_head(&a, SKILL, 2).await.unwrap()), ["c0", "c1"]);
    assert!(store.queue_head(&a, SKILL, 0).await.unwrap().is_empty());
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 6);

    // Realistic epoch-ms timestamps keep their exact value.
    let now = 1_754_000_000_123;
    queued_conversation(&store, &a, "late", now).await;
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!((head[6].conversation_id.as_str(), head[6].queued_at_ms), ("late", now));

    // Queues are per skill and per account (invariant 7).
    open(&store, &a, "s1").await;
    store.enqueue(&a, "s1", "sales", 1, &Placement::by_due(1)).await.unwrap();
    assert_eq!(ids(&store.queue_head(&a, "sales", 10).await.unwrap()), ["s1"]);
    assert!(store.queue_head(&unique("acct"), SKILL, 10).await.unwrap().is_empty());
}

async fn release_frees_agent_or_leaves_queue(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    queued_conversation(&store, &a, "queued", 100).await;
    queued_conversation(&store, &a, "assigned", 200).await;
    queued_conversation(&store, &a, "other", 300).await;
    assert!(matches!(
        store.claim(&claim_of(&a, "assigned", "ann", ONE, 0)).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));

    // Still queued: it leaves the queue.
    assert_eq!(
        store.release(&a, "queued", 10_000).await.unwrap(),
        ReleaseOutcome::LeftQueue { skill_id: SKILL.into() }
    );
    assert_eq!(ids(&store.queue_head(&a, SKILL, 10).await.unwrap()), ["other"]);
    assert_eq!(store.route(&a, "queued").await.unwrap().unwrap().status, RouteStatus::Closed);
    assert_eq!(store.release(&a, "queued", 10_000).await.unwrap(), ReleaseOutcome::Unchanged, "idempotent");

    // Assigned: the agent's load no longer counts it.
    assert_eq!(
        store.release(&a, "assigned", 10_000).await.unwrap(),
        ReleaseOutcome::FreedAgent { agent_id: "ann".into(), skill_id: SKILL.into() }
    );
    assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.is_empty());
    let route = store.route(&a, "assigned").await.unwrap().unwrap();
    assert_eq!((route.status, route.version), (RouteStatus::Closed, 1));
    assert_eq!(store.release(&a, "assigned", 10_000).await.unwrap(), ReleaseOutcome::Unchanged, "idempotent");
    assert_eq!(store.claim(&claim_of(&a, "assigned", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);

    // The freed capacity is usable at once (invariant 5).
    assert!(store.update_agent(&a, &spec("ann", &[SKILL], 1)).await.unwrap());
    assert!(matches!(store.claim(&claim_of(&a, "other", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));

    // Never routed: unchanged, and a route now says closed.
    assert_eq!(store.release(&a, "never", 10_000).await.unwrap(), ReleaseOutcome::Unchanged);
    assert_eq!(store.route(&a, "never").await.unwrap(), Some(route_of("never", "", RouteStatus::Closed, 0)));
}

/// Back to queue / transfer (R6.4: the returning agent is remembered to be avoided).
async fn requeue_only_from_the_assigned_agent(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL, "sales"], 2).await;
    online_agent(&store, &a, "bob", &[SKILL, "sales"], 2).await;
    queued_conversation(&store, &a, "c1", 100).await;

    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 0, "sales", 150)).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "queued"
    );
    assert_eq!(
        store.requeue(&back_to_queue(&a, "nope", "ann", 0, "sales", 150)).await.unwrap(),
        RequeueOutcome::NotAssigned
    );
    assert_eq!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { version: 1 });
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "bob", 0, "sales", 150)).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "other agent"
    );
    assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().status, RouteStatus::Assigned);

    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 0, "sales", 200)).await.unwrap(),
        RequeueOutcome::Requeued
    );
    assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().load.is_empty(), "agent freed");
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!(
        route,
        Route {
            avoid_agent_id: "ann".into(),
            version: 1,
            // The claim's time (`claim_of`): kept for the record after the requeue.
            assigned_at_ms: 5_000,
            queue_reason: QueueReason::BackToQueue,
            // Back to queue keeps the response due time (R10.6 restarts it on transfers only).
            response_due_ms: 100,
            queue_score: 100,
            requeued_version: 1,
            skill_history: vec![step(SKILL, QueueReason::New, 100), step("sales", QueueReason::BackToQueue, 200)],
            ..route_of("c1", "sales", RouteStatus::Queued, 200)
        }
    );
    assert_eq!(
        store.queue_head(&a, "sales", 10).await.unwrap(),
        vec![QueueEntry {
            conversation_id: "c1".into(),
            response_due_ms: 100,
            score: 100,
            actionable: true,
            sla: String::new(),
            velocity_milli: ONE,
            queued_at_ms: 200,
            avoid_agent_id: "ann".into(),
            reason: QueueReason::BackToQueue,
            agent_group: String::new(),
            suggested_agent_id: String::new(),
        }]
    );
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 0, "sales", 250)).await.unwrap(),
        RequeueOutcome::NotAssigned,
        "not twice"
    );

    // Claimable again, on the new skill only.
    assert_eq!(store.claim(&claim_of(&a, "c1", "bob", ONE, 0)).await.unwrap(), ClaimOutcome::ConversationGone);
    let sales = |agent: &str| Claim { skill_id: "sales".into(), ..claim_of(&a, "c1", agent, ONE, 0) };
    assert_eq!(store.claim(&sales("bob")).await.unwrap(), ClaimOutcome::Claimed { version: 2 });
    assert_eq!(store.route(&a, "c1").await.unwrap().unwrap().agent_id, "bob");
    assert_eq!(
        store.requeue(&back_to_queue(&a, "c1", "ann", 0, SKILL, 300)).await.unwrap(),
        RequeueOutcome::NotAssigned
    );
    assert_eq!(store.requeue(&back_to_queue(&a, "c1", "bob", 0, SKILL, 300)).await.unwrap(), RequeueOutcome::Requeued);
    assert_eq!(store.queue_head(&a, SKILL, 10).await.unwrap()[0].avoid_agent_id, "bob");
    assert!(store.get_agent(&a, "bob").await.unwrap().unwrap().load.is_empty());

    // Released while queued after a requeue: leaves that queue.
    assert_eq!(store.release(&a, "c1", 10_000).await.unwrap(), ReleaseOutcome::LeftQueue { skill_id: SKILL.into() });
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0);
}

/// The router loads the queues of active skills on start (architecture §3): every non-empty
/// queue is listed, an emptied one is not.
async fn active_skills_tracks_non_empty_queues(store: Store) {
    let (a, b) = (unique("acct"), unique("acct"));
    assert!(store.active_skills().await.unwrap().is_empty());
    online_agent(&store, &a, "ann", &[SKILL, "sales"], 5).await;

    queued_conversation(&store, &a, "c1", 1).await;
    queued_conversation(&store, &a, "c2", 2).await;
    open(&store, &b, "x1").await;
    store.enqueue(&b, "x1", "support", 1, &Placement::by_due(1)).await.unwrap();
    let mut expected = vec![(a.clone(), SKILL.to_string()), (b.clone(), "support".to_string())];
    expected.sort();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // A redelivered enqueue on another skill changes nothing.
    store.enqueue(&a, "c1", "sales", 3, &Placement::by_due(3)).await.unwrap();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // Claim one: still non-empty. Claim the other: gone.
    assert!(matches!(store.claim(&claim_of(&a, "c1", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.active_skills().await.unwrap(), expected);
    assert!(matches!(store.claim(&claim_of(&a, "c2", "ann", ONE, 0)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.active_skills().await.unwrap(), vec![(b.clone(), "support".to_string())]);

    // Requeue marks the target skill active.
    assert_eq!(store.requeue(&back_to_queue(&a, "c1", "ann", 0, "sales", 10)).await.unwrap(), RequeueOutcome::Requeued);
    let mut expected = vec![(a.clone(), "sales".to_string()), (b.clone(), "support".to_string())];
    expected.sort();
    assert_eq!(store.active_skills().await.unwrap(), expected);

    // Release of the last queued conversation empties it.
    assert_eq!(
        store.release(&b, "x1", 10_000).await.unwrap(),
        ReleaseOutcome::LeftQueue { skill_id: "support".into() }
    );
    assert_eq!(store.active_skills().await.unwrap(), vec![(a.clone(), "sales".to_string())]);
    store.release(&a, "c1", 10_000).await.unwrap();
    assert!(store.active_skills().await.unwrap().is_empty());

    // And it comes back with the next enqueue.
    open(&store, &b, "x2").await;
    store.enqueue(&b, "x2", "support", 20, &Placement::by_due(20)).await.unwrap();
    assert_eq!(store.active_skills().await.unwrap(), vec![(b, "support".to_string())]);
}
