//! Conformance of offers (R6.5, TaskRouter's reservations): an offer reserves the capacity of
//! the agents it rings for, the first accept wins and frees the others, a reject or the expiry
//! puts it back in its queue with the agents kept from it for the cooldown, a close frees
//! everything; exactly one accept wins under 100 concurrent ones; in memory, on one Redis and
//! on a Redis Cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    ring_one_reserves_and_the_accept_assigns,
    a_reject_requeues_and_keeps_the_agent_away_for_the_cooldown,
    an_offer_rings_out_and_a_close_frees_it,
    ring_all_has_exactly_one_winner_under_100_concurrent_accepts,
);

const COOLDOWN: i64 = 60_000;

fn ring(account: &str, conversation: &str, now_ms: i64, ring_all: bool) -> BestClaim {
    BestClaim {
        account_id: account.into(),
        conversation_id: conversation.into(),
        skill_id: SKILL.into(),
        weight: ONE,
        headroom: 0,
        max_open: 0,
        warmup: None,
        now_ms,
        scan: 64,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer: Some(OfferTerms { ring_all, expires_at_ms: now_ms + 30_000 }),
    }
}

fn answer(account: &str, offer_id: &str, agent: &str, now_ms: i64) -> OfferAnswer {
    OfferAnswer {
        account_id: account.into(),
        conversation_id: offer_id.rsplit_once(':').unwrap().0.into(),
        offer_id: offer_id.into(),
        agent_id: agent.into(),
        now_ms,
    }
}

async fn offered(store: &Store, claim: &BestClaim) -> (String, Vec<String>) {
    match store.claim_best(claim).await.unwrap() {
        BestOutcome::Offered { offer_id, agents } => (offer_id, agents),
        other => panic!("{} not offered: {other:?}", claim.conversation_id),
    }
}

async fn load(store: &Store, a: &str, agent: &str) -> Vec<String> {
    store.get_agent(a, agent).await.unwrap().unwrap().load.into_iter().map(|(c, _)| c).collect()
}

async fn ring_one_reserves_and_the_accept_assigns(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 1).await;
    online_agent(&store, &a, "bob", &[SKILL], 1).await;
    queued_conversation(&store, &a, "c1", 1).await;
    let (offer, agents) = offered(&store, &ring(&a, "c1", 100, false)).await;
    assert_eq!(agents, ["ann"], "the best agent only");
    assert_eq!(offer, "c1:1");
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!(
        (route.status, route.offer_id.as_str(), route.offer_agents.clone()),
        (RouteStatus::Offered, "c1:1", agents)
    );
    assert_eq!(route.offer_expires_ms, 30_100);
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 0, "not offered to anyone else meanwhile");
    // The reservation counts: ann (max 1) is full for anything else.
    assert_eq!(load(&store, &a, "ann").await, ["c1"]);
    queued_conversation(&store, &a, "c2", 2).await;
    assert_eq!(offered(&store, &ring(&a, "c2", 110, false)).await.1, ["bob"]);
    // Only ann may accept, once.
    assert_eq!(store.accept_offer(&answer(&a, &offer, "bob", 120)).await.unwrap(), AcceptOutcome::Gone);
    assert_eq!(store.accept_offer(&answer(&a, "c1:7", "ann", 120)).await.unwrap(), AcceptOutcome::Gone);
    let accepted = store.accept_offer(&answer(&a, &offer, "ann", 130)).await.unwrap();
    assert_eq!(accepted, AcceptOutcome::Accepted { version: 1, skill_id: SKILL.into(), rescinded: vec![] });
    let again = store.accept_offer(&answer(&a, &offer, "ann", 140)).await.unwrap();
    assert_eq!(again, AcceptOutcome::AlreadyAccepted { version: 1, skill_id: SKILL.into() });
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.agent_id.as_str(), route.version), (RouteStatus::Assigned, "ann", 1));
    assert_eq!(route.assigned_at_ms, 130, "the accept's time, not the repeat's");
    assert_eq!(load(&store, &a, "ann").await, ["c1"]);
    // Pending announcement like any assignment.
    let pending: Vec<String> =
        store.unannounced_of(&a, 10).await.unwrap().into_iter().map(|(_, r)| r.conversation_id).collect();
    assert_eq!(pending, ["c1"]);
    // A rejected or expired offer cannot be accepted after the accept.
    assert_eq!(store.reject_offer(&answer(&a, &offer, "ann", 150), COOLDOWN).await.unwrap(), RejectOutcome::Gone);
    assert_eq!(store.expire_offer(&a, "c1", &offer, 150, COOLDOWN).await.unwrap(), ExpireOutcome::Gone);
}

async fn a_reject_requeues_and_keeps_the_agent_away_for_the_cooldown(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    online_agent(&store, &a, "bob", &[SKILL], 2).await;
    queued_conversation(&store, &a, "c1", 1).await;
    let (offer, agents) = offered(&store, &ring(&a, "c1", 100, false)).await;
    assert_eq!(agents, ["ann"]);
    let rejected = store.reject_offer(&answer(&a, &offer, "ann", 200), COOLDOWN).await.unwrap();
    assert_eq!(rejected, RejectOutcome::Requeued { skill_id: SKILL.into() });
    assert!(load(&store, &a, "ann").await.is_empty(), "reservation freed");
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!((ids(&head), head[0].score), (vec!["c1"], 1), "back at the place it had");
    // ann is passed over during the cooldown (she ranks first otherwise): bob gets it.
    let (second, agents) = offered(&store, &ring(&a, "c1", 300, false)).await;
    assert_eq!((second.as_str(), agents), ("c1:2", vec!["bob".to_owned()]));
    assert_eq!(
        store.reject_offer(&answer(&a, &second, "bob", 400), COOLDOWN).await.unwrap(),
        RejectOutcome::Requeued { skill_id: SKILL.into() }
    );
    // Both in the cooldown: nobody, and the log says why.
    let outcome = store.claim_best(&ring(&a, "c1", 500, false)).await.unwrap();
    let BestOutcome::NoAgent { mut passed } = outcome else { panic!("{outcome:?}") };
    passed.sort();
    assert_eq!(passed, [("ann".to_owned(), PassReason::Rejected), ("bob".to_owned(), PassReason::Rejected)]);
    // After ann's cooldown she may get it again.
    assert_eq!(offered(&store, &ring(&a, "c1", 200 + COOLDOWN + 1, false)).await.1, ["ann"]);
    let (log, _) = store.routing_log(&a, "c1").await.unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["queued", "offered", "rejected", "offered", "rejected", "offered"]);
}

async fn an_offer_rings_out_and_a_close_frees_it(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    queued_conversation(&store, &a, "c1", 1).await;
    let (offer, _) = offered(&store, &ring(&a, "c1", 100, false)).await;
    assert_eq!(
        store.expire_offer(&a, "c1", "c1:9", 200, COOLDOWN).await.unwrap(),
        ExpireOutcome::Gone,
        "another offer"
    );
    let expired = store.expire_offer(&a, "c1", &offer, 200, COOLDOWN).await.unwrap();
    assert_eq!(expired, ExpireOutcome::Requeued { skill_id: SKILL.into(), agents: vec!["ann".into()] });
    assert!(load(&store, &a, "ann").await.is_empty());
    assert_eq!(store.queue_depth(&a, SKILL).await.unwrap(), 1);
    assert_eq!(store.accept_offer(&answer(&a, &offer, "ann", 300)).await.unwrap(), AcceptOutcome::Gone, "rang out");
    // Offered again (after the cooldown) and closed while ringing: the reservation is freed.
    let (offer, _) = offered(&store, &ring(&a, "c1", 200 + COOLDOWN + 1, false)).await;
    store.close_conversation(&a, "c1", 70_000, None).await.unwrap();
    assert_eq!(store.release(&a, "c1", 70_000).await.unwrap(), ReleaseOutcome::LeftQueue { skill_id: SKILL.into() });
    assert!(load(&store, &a, "ann").await.is_empty());
    assert_eq!(store.accept_offer(&answer(&a, &offer, "ann", 70_001)).await.unwrap(), AcceptOutcome::Gone);
}

/// R6.5 ring-all: every eligible agent rings; of 100 concurrent accepts by them exactly one
/// wins, the others' reservations are freed, and nobody else can accept afterwards.
async fn ring_all_has_exactly_one_winner_under_100_concurrent_accepts(store: Store) {
    let a = unique("acct");
    let agents: Vec<String> = (0..5).map(|i| format!("agent{i}")).collect();
    for agent in &agents {
        online_agent(&store, &a, agent, &[SKILL], 1).await;
    }
    queued_conversation(&store, &a, "c1", 1).await;
    let (offer, mut ringing) = offered(&store, &ring(&a, "c1", 100, true)).await;
    ringing.sort();
    assert_eq!(ringing, agents, "every eligible agent at once");
    for agent in &agents {
        assert_eq!(load(&store, &a, agent).await, ["c1"], "{agent}'s capacity reserved");
    }
    let winners: Arc<Mutex<Vec<String>>> = Arc::default();
    let tasks: Vec<_> = (0..100usize)
        .map(|i| {
            let (store, a, offer, agent, winners) =
                (store.clone(), a.clone(), offer.clone(), agents[i % 5].clone(), winners.clone());
            tokio::spawn(async move {
                match store.accept_offer(&answer(&a, &offer, &agent, 200 + i as i64)).await.unwrap() {
                    AcceptOutcome::Accepted { version, rescinded, .. } => {
                        assert_eq!((version, rescinded.len()), (1, 4));
                        winners.lock().unwrap().push(agent);
                    }
                    AcceptOutcome::AlreadyAccepted { version, .. } => assert_eq!(version, 1),
                    AcceptOutcome::Gone => {}
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let winners = winners.lock().unwrap().clone();
    assert_eq!(winners.len(), 1, "exactly one accept wins: {winners:?}");
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.agent_id.clone(), route.version), (RouteStatus::Assigned, winners[0].clone(), 1));
    for agent in &agents {
        let expected: Vec<&str> = if *agent == winners[0] { vec!["c1"] } else { vec![] };
        assert_eq!(load(&store, &a, agent).await, expected, "{agent}");
    }
}
