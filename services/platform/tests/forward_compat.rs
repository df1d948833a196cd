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
    assert_eq!(store.enqueue("acme", "c1", SKILL, 10).await.unwrap(), EnqueueOutcome::Queued);
    // A newer version offered c1 to an agent, and put c2 in a survey: values and fields this
    // version has no name for.
    let route_key = format!("{prefix}:{{acme}}:route:c1");
    let _: () = ::redis::cmd("HSET")
        .arg(&route_key)
        .arg(&["status", "offered", "offered_to", "ann"][..])
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
    assert_eq!(store.enqueue("acme", "c1", SKILL, 20).await.unwrap(), EnqueueOutcome::Unchanged(RouteStatus::Newer));
    assert_eq!(store.requeue("acme", "c1", "ann", 0, SKILL, 30).await.unwrap(), RequeueOutcome::NotAssigned);
    assert_eq!(store.release("acme", "c1", 40).await.unwrap(), ReleaseOutcome::Unchanged);
    let carried: Vec<Option<String>> =
        ::redis::cmd("HMGET").arg(&route_key).arg(&["status", "offered_to"][..]).query_async(&mut con).await.unwrap();
    assert_eq!(carried, [Some("offered".to_owned()), Some("ann".to_owned())], "the newer version's state stays");

    let conversation = store.get_conversation("acme", "c2").await.unwrap().unwrap();
    assert_eq!((conversation.status, conversation.consumer_id.as_str()), (ConversationStatus::Newer, "consumer-of-c2"));
}
