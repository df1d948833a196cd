//! Records written by a newer version are read, not refused: a status value this version does
//! not know is `Newer` (left alone: not queued, claimed, requeued or released here), and the
//! fields and values this version does not know stay in the record.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use switchyard_platform::store::*;
use switchyard_testkit::{unique, RedisServer};

use support::*;

#[tokio::test]
async fn a_route_and_a_conversation_written_by_a_newer_version_are_read_and_left_alone() {
    let server = RedisServer::start().await.expect("start redis-server");
    let prefix = unique("fc");
    let store: Store = Arc::new(RedisStore::connect(&server.url(), &prefix, Retention::default()).await.unwrap());
    let mut con = ::redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    open(&store, "acme", "c1").await;
    open(&store, "acme", "c2").await;
    assert_eq!(store.enqueue("acme", "c1", SKILL, 10, &Placement::by_due(10)).await.unwrap(), EnqueueOutcome::Queued);
    // A newer version parked c1 for an agent, and put c2 in a survey: values and fields this
    // version has no name for.
    let route_key = format!("{prefix}:{{acme}}:route:c1");
    let _: () = ::redis::cmd("HSET")
        .arg(&route_key)
        .arg(&["status", "parked", "parked_by", "ann"][..])
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = ::redis::cmd("HSET")
        .arg(format!("{prefix}:{{acme}}:conv:c2"))
        .arg(&["status", "in_survey", "survey_id", "s1"][..])
        .query_async(&mut con)
        .await
        .unwrap();

    let route = store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.status, route.skill_id.as_str()), (RouteStatus::Newer, SKILL));
    assert_eq!(
        store.enqueue("acme", "c1", SKILL, 20, &Placement::by_due(20)).await.unwrap(),
        EnqueueOutcome::Unchanged(RouteStatus::Newer)
    );
    assert_eq!(
        store.requeue(&back_to_queue("acme", "c1", "ann", 0, SKILL, 30)).await.unwrap(),
        RequeueOutcome::NotAssigned
    );
    assert_eq!(store.release("acme", "c1", 40).await.unwrap(), ReleaseOutcome::Unchanged);
    let carried: Vec<Option<String>> =
        ::redis::cmd("HMGET").arg(&route_key).arg(&["status", "parked_by"][..]).query_async(&mut con).await.unwrap();
    assert_eq!(carried, [Some("parked".to_owned()), Some("ann".to_owned())], "the newer version's state stays");

    let conversation = store.get_conversation("acme", "c2").await.unwrap().unwrap();
    assert_eq!((conversation.status, conversation.consumer_id.as_str()), (ConversationStatus::Newer, "consumer-of-c2"));
    // Writes leave it to the newer version (a retry reaches it), and write nothing.
    assert_eq!(store.append_message("acme", "c2", &message("hi", ""), None).await.unwrap(), AppendOutcome::NewerState);
    assert_eq!(store.close_conversation("acme", "c2", 50, None).await.unwrap(), CloseOutcome::NewerState);
    assert!(store.transcript_page("acme", "c2", 0, 10).await.unwrap().is_empty());
    let status: String = ::redis::cmd("HGET")
        .arg(format!("{prefix}:{{acme}}:conv:c2"))
        .arg("status")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(status, "in_survey");
}

/// A newer record version with fields and a reason this version has no name for is read,
/// claimed and requeued; the fields it does not know stay as they were.
#[tokio::test]
async fn a_newer_record_version_is_used_and_its_unknown_fields_are_carried() {
    let (server, prefix, store) = redis().await;
    let mut con = ::redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    online_agent(&store, "acme", "ann", &[SKILL], 5).await;
    queued_conversation(&store, "acme", "c1", 10).await;
    let route_key = format!("{prefix}:{{acme}}:route:c1");
    let newer = ["v", "9", "reason", "campaign_reply", "intent_score", "1.5"];
    let _: () = ::redis::cmd("HSET").arg(&route_key).arg(&newer[..]).query_async(&mut con).await.unwrap();

    let route = store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!((route.record_version, route.queue_reason, route.status), (9, QueueReason::Newer, RouteStatus::Queued));
    let version = match store.claim(&claim_of("acme", "c1", "ann", ONE, 0)).await.unwrap() {
        ClaimOutcome::Claimed { version } => version,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        store.requeue(&back_to_queue("acme", "c1", "ann", version, SKILL, 20)).await.unwrap(),
        RequeueOutcome::Requeued
    );
    let intent: Option<String> =
        ::redis::cmd("HGET").arg(&route_key).arg("intent_score").query_async(&mut con).await.unwrap();
    assert_eq!(intent.as_deref(), Some("1.5"), "carried through claim and requeue");
}

/// A route written before records were versioned (no `v`, no due time, and a queued route's
/// `agent` meaning the agent to avoid) reads with the meaning it had.
#[tokio::test]
async fn a_route_written_before_versioning_reads_with_its_old_meaning() {
    let (server, prefix, store) = redis().await;
    let mut con = ::redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    online_agent(&store, "acme", "bob", &[SKILL], 5).await;
    open(&store, "acme", "c1").await;
    let old = [
        "skill",
        SKILL,
        "status",
        "queued",
        "agent",
        "ann",
        "version",
        "1",
        "queued_at",
        "70",
        "requeued_version",
        "1",
    ];
    let _: () = ::redis::cmd("HSET")
        .arg(format!("{prefix}:{{acme}}:route:c1"))
        .arg(&old[..])
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = ::redis::cmd("ZADD")
        .arg(format!("{prefix}:{{acme}}:queue:{SKILL}"))
        .arg(70)
        .arg("c1")
        .query_async(&mut con)
        .await
        .unwrap();

    let route = store.route("acme", "c1").await.unwrap().unwrap();
    assert_eq!(route.record_version, 1);
    assert_eq!((route.agent_id.as_str(), route.avoid_agent_id.as_str(), route.response_due_ms), ("", "ann", 70));
    let head = store.queue_head("acme", SKILL, 10).await.unwrap();
    assert_eq!((head[0].avoid_agent_id.as_str(), head[0].response_due_ms, head[0].queued_at_ms), ("ann", 70, 70));
    assert_eq!(
        store.claim(&claim_of("acme", "c1", "bob", ONE, 0)).await.unwrap(),
        ClaimOutcome::Claimed { version: 2 }
    );
}

async fn redis() -> (RedisServer, String, Store) {
    let server = RedisServer::start().await.expect("start redis-server");
    let prefix = unique("fc");
    let store: Store = Arc::new(RedisStore::connect(&server.url(), &prefix, Retention::default()).await.unwrap());
    (server, prefix, store)
}
