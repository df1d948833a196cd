//! The conversation model (issue 9): the route's queue order by response due time (R9.3), what
//! a return to the queue keeps and a transfer restarts (R10.6), the skill path with its reasons
//! (R5.7), the agent to avoid apart from the assigned agent (R6.4), and the conversation's
//! turn and last message times (R9.2), and its readers and managers. Run against both stores: these are the shared cases
//! that pin the Lua scripts and the in-memory store to the same outcomes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use switchyard_platform::store::*;
use switchyard_testkit::unique;

use support::*;

conformance!(
    a_return_to_the_queue_keeps_its_place_and_a_transfer_starts_again_r9_3_r10_6,
    the_skill_path_records_each_change_with_its_reason_and_stays_bounded_r5_7,
    the_assigned_agent_and_the_agent_to_avoid_are_apart_r6_4,
    a_message_sets_whose_turn_it_is_and_when_that_side_last_wrote_r9_2,
    readers_and_managers_join_and_leave_an_open_conversation,
);

async fn claim(store: &Store, account: &str, conversation: &str, agent: &str) -> u64 {
    match store.claim(&claim_of(account, conversation, agent, ONE, 0)).await.unwrap() {
        ClaimOutcome::Claimed { version } => version,
        other => panic!("claim of {conversation} by {agent}: {other:?}"),
    }
}

async fn a_return_to_the_queue_keeps_its_place_and_a_transfer_starts_again_r9_3_r10_6(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 5).await;
    queued_conversation(&store, &a, "early", 100).await;
    let version = claim(&store, &a, "early", "ann").await;
    queued_conversation(&store, &a, "later", 200).await;
    // Returned at 300, it was due at 100: it goes before the one that came in at 200.
    let back = back_to_queue(&a, "early", "ann", version, SKILL, 300);
    assert_eq!(store.requeue(&back).await.unwrap(), RequeueOutcome::Requeued);
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["early", "later"]);
    assert_eq!((head[0].response_due_ms, head[0].queued_at_ms), (100, 300));

    // Transferred at 400 (to the same skill here): its due time starts again, behind `later`.
    let version = claim(&store, &a, "early", "ann").await;
    let moved = Requeue { version, ..transfer(&a, "early", "ann", SKILL, 400) };
    assert_eq!(store.requeue(&moved).await.unwrap(), RequeueOutcome::Requeued);
    let head = store.queue_head(&a, SKILL, 10).await.unwrap();
    assert_eq!(ids(&head), ["later", "early"]);
    let route = store.route(&a, "early").await.unwrap().unwrap();
    assert_eq!((route.queue_reason, route.queued_at_ms, route.response_due_ms), (QueueReason::Transfer, 400, 400));
}

async fn the_skill_path_records_each_change_with_its_reason_and_stays_bounded_r5_7(store: Store) {
    let a = unique("acct");
    let skills = ["s0", "s1", "s2"];
    online_agent(&store, &a, "ann", &[SKILL, "s0", "s1", "s2"], 5).await;
    queued_conversation(&store, &a, "c1", 10).await;
    let mut on = SKILL.to_owned();
    let mut expected = vec![step(SKILL, QueueReason::New, 10)];
    for i in 0..(SKILL_HISTORY_LIMIT + 4) {
        let claimed = Claim { skill_id: on.clone(), ..claim_of(&a, "c1", "ann", ONE, 0) };
        assert!(matches!(store.claim(&claimed).await.unwrap(), ClaimOutcome::Claimed { .. }));
        let at = 100 + i as i64;
        let to = skills[i % 3];
        let reason = if i % 2 == 0 { QueueReason::Transfer } else { QueueReason::BackToQueue };
        let requeue = Requeue { reason, ..back_to_queue(&a, "c1", "ann", 0, to, at) };
        assert_eq!(store.requeue(&requeue).await.unwrap(), RequeueOutcome::Requeued);
        expected.push(step(to, reason, at));
        on = to.to_owned();
    }
    // A return to the skill it is on is no change: nothing recorded.
    let claimed = Claim { skill_id: on.clone(), ..claim_of(&a, "c1", "ann", ONE, 0) };
    assert!(matches!(store.claim(&claimed).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert_eq!(store.requeue(&back_to_queue(&a, "c1", "ann", 0, &on, 999)).await.unwrap(), RequeueOutcome::Requeued);

    let route = store.route(&a, "c1").await.unwrap().unwrap();
    let kept = expected.split_off(expected.len() - SKILL_HISTORY_LIMIT);
    assert_eq!(route.skill_history, kept, "the latest {SKILL_HISTORY_LIMIT} steps, oldest first");
    assert_eq!(route.skill_id, on);
}

async fn the_assigned_agent_and_the_agent_to_avoid_are_apart_r6_4(store: Store) {
    let a = unique("acct");
    online_agent(&store, &a, "ann", &[SKILL], 5).await;
    online_agent(&store, &a, "bob", &[SKILL], 5).await;
    queued_conversation(&store, &a, "c1", 10).await;
    let version = claim(&store, &a, "c1", "ann").await;
    store.requeue(&back_to_queue(&a, "c1", "ann", version, SKILL, 20)).await.unwrap();
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.agent_id.as_str(), route.avoid_agent_id.as_str()), ("", "ann"), "queued: nobody has it");
    claim(&store, &a, "c1", "bob").await;
    let route = store.route(&a, "c1").await.unwrap().unwrap();
    assert_eq!((route.agent_id.as_str(), route.avoid_agent_id.as_str()), ("bob", ""));
}

async fn a_message_sets_whose_turn_it_is_and_when_that_side_last_wrote_r9_2(store: Store) {
    let a = unique("acct");
    open(&store, &a, "c1").await;
    let fresh = store.get_conversation(&a, "c1").await.unwrap().unwrap();
    let opened = fresh.opened_at_ms;
    assert_eq!(
        (fresh.pending, fresh.last_consumer_message_ms, fresh.last_agent_message_ms, fresh.waiting_since_ms),
        (PendingSide::Agent, 0, 0, opened),
        "the consumer waits from the open"
    );
    let say = |from: i32, at: i64| NewMessage { from, sent_at_ms: at, ..message("hi", "") };
    let cases = [
        // (from, at, pending after, last consumer, last agent, waiting since); PARTY_CONSUMER =
        // 1, AGENT = 2, SYSTEM = 3. The wait (R8.19) begins with the first consumer message
        // after an agent's and stands through the agent's answer.
        (1, 2_000, PendingSide::Agent, 2_000, 0, opened),
        (2, 2_500, PendingSide::Consumer, 2_000, 2_500, opened),
        (3, 2_600, PendingSide::Consumer, 2_000, 2_500, opened),
        (1, 3_000, PendingSide::Agent, 3_000, 2_500, 3_000),
        (1, 3_500, PendingSide::Agent, 3_500, 2_500, 3_000),
        (2, 4_000, PendingSide::Consumer, 3_500, 4_000, 3_000),
    ];
    for (from, at, pending, consumer, agent, waiting) in cases {
        assert!(matches!(
            store.append_message(&a, "c1", &say(from, at), None).await.unwrap(),
            AppendOutcome::Appended(_)
        ));
        let c = store.get_conversation(&a, "c1").await.unwrap().unwrap();
        assert_eq!(
            (c.pending, c.last_consumer_message_ms, c.last_agent_message_ms, c.waiting_since_ms),
            (pending, consumer, agent, waiting),
            "{from} at {at}"
        );
    }
}

async fn readers_and_managers_join_and_leave_an_open_conversation(store: Store) {
    let a = unique("acct");
    open(&store, &a, "c1").await;
    let set = |agent: &'static str, role: Option<ParticipantRole>| {
        let (store, a) = (store.clone(), a.clone());
        async move { store.set_participant(&a, "c1", agent, role).await.unwrap() }
    };
    let lists = || async {
        let c = store.get_conversation(&a, "c1").await.unwrap().unwrap();
        (c.readers, c.managers)
    };
    assert_eq!(set("zoe", Some(ParticipantRole::Reader)).await, ParticipantOutcome::Changed);
    assert_eq!(set("amy", Some(ParticipantRole::Reader)).await, ParticipantOutcome::Changed);
    assert_eq!(set("amy", Some(ParticipantRole::Reader)).await, ParticipantOutcome::Unchanged, "a retry");
    assert_eq!(set("max", Some(ParticipantRole::Manager)).await, ParticipantOutcome::Changed);
    assert_eq!(lists().await, (vec!["amy".to_owned(), "zoe".to_owned()], vec!["max".to_owned()]));
    // A reader who becomes a manager leaves the readers.
    assert_eq!(set("zoe", Some(ParticipantRole::Manager)).await, ParticipantOutcome::Changed);
    assert_eq!(lists().await, (vec!["amy".to_owned()], vec!["max".to_owned(), "zoe".to_owned()]));
    assert_eq!(set("max", None).await, ParticipantOutcome::Changed);
    assert_eq!(set("max", None).await, ParticipantOutcome::Unchanged);
    assert_eq!(lists().await, (vec!["amy".to_owned()], vec!["zoe".to_owned()]));

    assert_eq!(store.set_participant(&a, "nope", "amy", None).await.unwrap(), ParticipantOutcome::NotFound);
    store.close_conversation(&a, "c1", 9_000, None).await.unwrap();
    assert_eq!(set("bob", Some(ParticipantRole::Reader)).await, ParticipantOutcome::NotOpen);
    assert_eq!(lists().await, (vec!["amy".to_owned()], vec!["zoe".to_owned()]), "a closed one keeps its list");
}
