//! Conformance of warm-up in the stores (R8.12-R8.14), on controlled instants: after a login
//! the first conversation at once, then one per 90 s step counted not weighed, whatever became
//! of the earlier ones, over after 20 minutes; again after an hour without a conversation
//! (55 minutes: no, 65: yes). `rules::warm_check`'s shared cases pin the rule itself; this
//! runs it through `claim_best.lua`, `claim.lua` and the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::rules::{WarmupTerms, WARM_TERMS};
use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    after_a_login_one_at_once_then_one_per_step_counted_not_weighed_r8_12_r8_14,
    warm_up_comes_back_after_an_hour_without_a_conversation_r8_13,
    a_new_login_starts_a_warm_up_again_and_the_direct_claim_keeps_to_it_r8_12,
);

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const T: i64 = 1_000 * MIN;
const INACTIVE: Milli = 100;

fn best(account: &str, conversation: &str, now_ms: i64, warmup: Option<WarmupTerms>) -> BestClaim {
    BestClaim {
        account_id: account.into(),
        conversation_id: conversation.into(),
        skill_id: SKILL.into(),
        weight: ONE,
        headroom: 500,
        max_open: 0,
        warmup,
        now_ms,
        scan: 64,
        via_skill: String::new(),
        via_reason: QueueReason::New,
        groups: Vec::new(),
        history_window_ms: 0,
        offer: None,
    }
}

/// Who takes `conversation` (queued at `at`) at `at`: the agent, or why ann passed.
async fn at(store: &Store, account: &str, conversation: &str, at: i64) -> Result<String, PassReason> {
    if store.route(account, conversation).await.unwrap().is_none() {
        queued_conversation(store, account, conversation, at).await;
    }
    match store.claim_best(&best(account, conversation, at, Some(WARM_TERMS))).await.unwrap() {
        BestOutcome::Claimed { agent_id, .. } => Ok(agent_id),
        BestOutcome::NoAgent { passed } => Err(passed.first().map(|(_, why)| *why).expect("ann passed")),
        other => panic!("{other:?}"),
    }
}

async fn closes(store: &Store, account: &str, conversation: &str, now: i64) {
    store.close_conversation(account, conversation, now, None).await.unwrap();
    store.release(account, conversation, now).await.unwrap();
}

async fn after_a_login_one_at_once_then_one_per_step_counted_not_weighed_r8_12_r8_14(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 4).await;
    assert_eq!(at(&store, &a, "c1", T).await.as_deref(), Ok("ann"), "the first at once");
    assert_eq!(at(&store, &a, "c2", T + 10 * SEC).await, Err(PassReason::WarmingUp));
    assert_eq!(at(&store, &a, "c2", T + 90 * SEC).await.as_deref(), Ok("ann"), "one per 90 s step");
    assert_eq!(at(&store, &a, "c3", T + 179 * SEC).await, Err(PassReason::WarmingUp));
    assert_eq!(at(&store, &a, "c3", T + 180 * SEC).await.as_deref(), Ok("ann"));
    // Weights are ignored meanwhile: two quiet conversations do not make room for more.
    store.set_load_weight(&a, "ann", "c1", INACTIVE).await.unwrap();
    store.set_load_weight(&a, "ann", "c2", INACTIVE).await.unwrap();
    assert_eq!(at(&store, &a, "c4", T + 200 * SEC).await, Err(PassReason::WarmingUp));
    // Steps count whether or not the earlier ones stayed: c1 closed, the fourth step is due.
    closes(&store, &a, "c1", T + 250 * SEC).await;
    assert_eq!(at(&store, &a, "c4", T + 270 * SEC).await.as_deref(), Ok("ann"));
    assert_eq!(at(&store, &a, "c5", T + 300 * SEC).await, Err(PassReason::WarmingUp));
    // R8.14: after 20 minutes the weighted rule: 0.1 + 1.0 + 1.0 held, room for one more.
    assert_eq!(at(&store, &a, "c5", T + 20 * MIN).await.as_deref(), Ok("ann"));
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!((ann.warmup.from_ms, ann.warmup.taken, ann.warmup.armed), (T, 4, false));
}

async fn warm_up_comes_back_after_an_hour_without_a_conversation_r8_13(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 4).await;
    assert_eq!(at(&store, &a, "c1", T).await.as_deref(), Ok("ann"));
    closes(&store, &a, "c1", T + MIN).await;
    // 55 minutes without a conversation: no warm-up, two at once.
    let later = T + 55 * MIN;
    assert_eq!(at(&store, &a, "c2", later).await.as_deref(), Ok("ann"));
    assert_eq!(at(&store, &a, "c3", later).await.as_deref(), Ok("ann"), "no warm-up at 55 minutes");
    closes(&store, &a, "c2", later).await;
    closes(&store, &a, "c3", later).await;
    // 65 minutes: warm-up again, the second waits for the step.
    let much_later = later + 65 * MIN;
    assert_eq!(at(&store, &a, "c4", much_later).await.as_deref(), Ok("ann"));
    assert_eq!(at(&store, &a, "c5", much_later).await, Err(PassReason::WarmingUp), "warm-up at 65 minutes");
    assert_eq!(at(&store, &a, "c5", much_later + 90 * SEC).await.as_deref(), Ok("ann"));
}

async fn a_new_login_starts_a_warm_up_again_and_the_direct_claim_keeps_to_it_r8_12(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 4).await;
    assert_eq!(at(&store, &a, "c1", T).await.as_deref(), Ok("ann"));
    closes(&store, &a, "c1", T + MIN).await;
    let over = T + 21 * MIN;
    assert_eq!(at(&store, &a, "c2", over).await.as_deref(), Ok("ann"), "warm-up over");
    assert_eq!(at(&store, &a, "c3", over).await.as_deref(), Ok("ann"));
    // Logged out and in again a minute later: the next conversation starts a warm-up.
    let offline = AgentSession { logged_in: false, state: AgentState::Offline, away_reason: String::new() };
    store.set_agent_session(&a, "ann", &offline, over + 10 * SEC).await.unwrap();
    store.set_agent_session(&a, "ann", &online(), over + MIN).await.unwrap();
    assert!(store.get_agent(&a, "ann").await.unwrap().unwrap().warmup.armed);
    let back = over + 2 * MIN;
    queued_conversation(&store, &a, "c4", back).await;
    let direct =
        |c: &str, now: i64| Claim { warmup: Some(WARM_TERMS), now_ms: now, ..claim_of(&a, c, "ann", ONE, 500) };
    assert!(matches!(store.claim(&direct("c4", back)).await.unwrap(), ClaimOutcome::Claimed { .. }));
    queued_conversation(&store, &a, "c5", back).await;
    assert_eq!(store.claim(&direct("c5", back + 30 * SEC)).await.unwrap(), ClaimOutcome::AgentFull);
    let outcome = store.claim(&direct("c5", back + 90 * SEC)).await.unwrap();
    assert!(matches!(outcome, ClaimOutcome::Claimed { .. }), "{outcome:?}");
    // Without warm-up terms (turned off) the weighted rule alone applies.
    queued_conversation(&store, &a, "c6", back).await;
    assert!(matches!(
        store.claim(&Claim { now_ms: back + 91 * SEC, ..claim_of(&a, "c6", "ann", 100, 500) }).await.unwrap(),
        ClaimOutcome::Claimed { .. }
    ));
}
