//! Conformance of dynamic capacity in the stores (R8.2, R8.3, R8.5-R8.8): a held
//! conversation's weight changes atomically with the agent's index entry, never an offer's
//! reservation or a conversation the agent does not hold, and the claim then counts the
//! weighted load (`memory::<name>`, `redis::<name>`, `redis_cluster::<name>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    a_held_conversations_weight_changes_and_nothing_else_r8_3,
    an_agent_of_max_4_holds_3_active_and_10_inactive_r8_7,
    an_inactive_conversation_leaves_room_for_one_more_r8_6,
    the_agent_index_follows_a_weight_change_r8_5,
    an_open_cap_limits_how_many_an_agent_holds_whatever_the_weights_r8_8,
);

const INACTIVE: Milli = 100;

fn best(account: &str, conversation: &str, now_ms: i64, offer: Option<OfferTerms>) -> BestClaim {
    BestClaim {
        account_id: account.into(),
        conversation_id: conversation.into(),
        skill_id: SKILL.into(),
        weight: ONE,
        headroom: 500,
        max_open: 0,
        warmup: None,
        now_ms,
        scan: 64,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer,
    }
}

/// Queues `conversation` and gives it to the best agent; returns who took it, or None.
async fn arrives(store: &Store, account: &str, conversation: &str, now_ms: i64) -> Option<String> {
    queued_conversation(store, account, conversation, now_ms).await;
    match store.claim_best(&best(account, conversation, now_ms, None)).await.unwrap() {
        BestOutcome::Claimed { agent_id, .. } => Some(agent_id),
        BestOutcome::NoAgent { .. } => None,
        other => panic!("{other:?}"),
    }
}

async fn used(store: &Store, account: &str, agent: &str) -> Milli {
    store.get_agent(account, agent).await.unwrap().unwrap().capacity_used()
}

async fn a_held_conversations_weight_changes_and_nothing_else_r8_3(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 3).await;
    assert_eq!(arrives(&store, &a, "c1", 10).await.as_deref(), Some("ann"));
    assert_eq!(store.set_load_weight(&a, "ann", "c1", INACTIVE).await.unwrap(), Some(ONE));
    assert_eq!(used(&store, &a, "ann").await, INACTIVE);
    // Again (a redelivered timer): the same weight, reported as it is now.
    assert_eq!(store.set_load_weight(&a, "ann", "c1", INACTIVE).await.unwrap(), Some(INACTIVE));
    // Another agent's, or a conversation nobody holds: nothing.
    assert_eq!(store.set_load_weight(&a, "bob", "c1", ONE).await.unwrap(), None);
    assert_eq!(store.set_load_weight(&a, "ann", "nope", ONE).await.unwrap(), None);
    // An offer's reservation is not an assignment.
    let ring = Some(OfferTerms { ring_all: false, expires_at_ms: 60_000 });
    queued_conversation(&store, &a, "c2", 20).await;
    let offered = store.claim_best(&best(&a, "c2", 20, ring)).await.unwrap();
    assert!(matches!(offered, BestOutcome::Offered { .. }), "{offered:?}");
    assert_eq!(store.set_load_weight(&a, "ann", "c2", INACTIVE).await.unwrap(), None);
    assert_eq!(used(&store, &a, "ann").await, INACTIVE + ONE, "the reservation kept its weight");
    // Closed and released: no longer held.
    store.close_conversation(&a, "c1", 30, None).await.unwrap();
    store.release(&a, "c1", 30).await.unwrap();
    assert_eq!(store.set_load_weight(&a, "ann", "c1", ONE).await.unwrap(), None);
    // Invariant 7: another account's agent of the same name is untouched.
    let b = unique("acct");
    online_agent(&store, &b, "ann", &[SKILL], 3).await;
    assert_eq!(store.set_load_weight(&b, "ann", "c2", INACTIVE).await.unwrap(), None);
}

async fn an_agent_of_max_4_holds_3_active_and_10_inactive_r8_7(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 4).await;
    // Ten conversations each go quiet (inactive, 0.1) after the agent answered.
    for i in 0..10 {
        let c = format!("quiet-{i}");
        assert_eq!(arrives(&store, &a, &c, i).await.as_deref(), Some("ann"), "{c}");
        assert_eq!(store.set_load_weight(&a, "ann", &c, INACTIVE).await.unwrap(), Some(ONE));
    }
    for i in 0..3 {
        assert_eq!(arrives(&store, &a, &format!("busy-{i}"), 100 + i).await.as_deref(), Some("ann"));
    }
    // 3 x 1.0 + 10 x 0.1 = 4.0: 13 open conversations on a max of 4, and no room for a 14th
    // (4.0 + 1.0 > 4 + 0.5).
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!((ann.load.len(), ann.capacity_used()), (13, 4 * ONE));
    assert_eq!(arrives(&store, &a, "one-too-many", 200).await, None);
    // A consumer writes to one of the quiet ones: it weighs 1.0 again (R8.2).
    assert_eq!(store.set_load_weight(&a, "ann", "quiet-0", ONE).await.unwrap(), Some(INACTIVE));
    assert_eq!(used(&store, &a, "ann").await, 4 * ONE + ONE - INACTIVE);
}

async fn an_inactive_conversation_leaves_room_for_one_more_r8_6(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 3).await;
    for c in ["c1", "c2", "c3"] {
        assert_eq!(arrives(&store, &a, c, 1).await.as_deref(), Some("ann"));
    }
    assert_eq!(arrives(&store, &a, "c4", 2).await, None, "3.0 + 1.0 > 3.5");
    // Two active and one inactive: 2.1, so one more (3.1 <= 3.5), then no more.
    store.set_load_weight(&a, "ann", "c1", INACTIVE).await.unwrap();
    let agent = store.claim(&claim_of(&a, "c4", "ann", ONE, 500)).await.unwrap();
    assert!(matches!(agent, ClaimOutcome::Claimed { .. }), "{agent:?}");
    assert_eq!(used(&store, &a, "ann").await, 3_100);
    assert_eq!(arrives(&store, &a, "c5", 3).await, None);
}

async fn the_agent_index_follows_a_weight_change_r8_5(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 2).await;
    online_agent(&store, &a, "bob", &[SKILL], 2).await;
    assert_eq!(arrives(&store, &a, "c1", 10).await.as_deref(), Some("ann"), "idle, id order");
    assert_eq!(arrives(&store, &a, "c2", 20).await.as_deref(), Some("bob"), "ann is at 0.5");
    assert_eq!(arrives(&store, &a, "c3", 30).await.as_deref(), Some("ann"));
    store.close_conversation(&a, "c1", 40, None).await.unwrap();
    store.release(&a, "c1", 40).await.unwrap();
    assert_eq!((used(&store, &a, "ann").await, used(&store, &a, "bob").await), (ONE, ONE));
    // Equal load, ann assigned later: bob would be next. ann's conversation goes quiet.
    store.set_load_weight(&a, "ann", "c3", INACTIVE).await.unwrap();
    assert_eq!(arrives(&store, &a, "c4", 50).await.as_deref(), Some("ann"), "0.05 before 0.5");
}

async fn an_open_cap_limits_how_many_an_agent_holds_whatever_the_weights_r8_8(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 4).await;
    let capped = |c: &str, now: i64| BestClaim { max_open: 3, ..best(&a, c, now, None) };
    for (i, c) in ["c1", "c2", "c3"].into_iter().enumerate() {
        queued_conversation(&store, &a, c, i as i64).await;
        assert!(matches!(store.claim_best(&capped(c, i as i64)).await.unwrap(), BestOutcome::Claimed { .. }));
        store.set_load_weight(&a, "ann", c, INACTIVE).await.unwrap();
    }
    // 0.3 of 4 used, yet three conversations is the cap.
    queued_conversation(&store, &a, "c4", 10).await;
    let outcome = store.claim_best(&capped("c4", 10)).await.unwrap();
    assert_eq!(outcome, BestOutcome::NoAgent { passed: vec![("ann".into(), PassReason::Full)] });
    let direct = store.claim(&Claim { max_open: 3, ..claim_of(&a, "c4", "ann", ONE, 500) }).await.unwrap();
    assert_eq!(direct, ClaimOutcome::AgentFull);
    // Without the cap the weighted limit alone applies.
    assert!(matches!(store.claim_best(&best(&a, "c4", 11, None)).await.unwrap(), BestOutcome::Claimed { .. }));
}
