//! No record can wedge a partition (issue 8), on a real Kafka-protocol broker and Redis: a
//! record that is not an envelope, an event that fails validation, and an event that meets
//! corrupt stored data each go to the dead-letter topic while the conversations behind them on
//! the same partition are routed; an event type this version does not know is counted and
//! skipped; `switchyard dead-letters` lists and replays what was given up on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use prost::Message as _;
use switchyard_kit::config::keys;
use switchyard_platform::bus::{EventBus, KafkaBus, KafkaSettings, Record};
use switchyard_proto::events::v1::{envelope::Body, Envelope, RouteConversation};

const ACCOUNT: &str = "acme";

fn dead_letters(cluster: &Cluster, args: &[&str]) -> (bool, String, String) {
    let kafka = cluster.kafka.as_ref().unwrap().bootstrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--kafka", &kafka, "dead-letters"])
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn route(conversation: &str, skill: &str) -> Envelope {
    switchyard_kit::envelope::new(
        ACCOUNT,
        0,
        Body::RouteConversation(RouteConversation {
            conversation_id: conversation.into(),
            skill_id: skill.into(),
            queued_at_ms: 1,
            reason: "new".into(),
            ..Default::default()
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_records_are_dead_lettered_and_the_partition_keeps_moving() {
    let cluster = Cluster::on(Backend::Real, |_| {}).await;
    setup_account(&cluster, ACCOUNT, &["sales"], &[("alice", &["sales"], 10)]).await;
    let bus: Arc<dyn EventBus> =
        Arc::new(KafkaBus::new(KafkaSettings::new(cluster.kafka.as_ref().unwrap().bootstrap())).unwrap());
    let routing = "switchyard.routing";
    let key = keys::skill(ACCOUNT, "sales");
    let mut alice = online(&cluster, ACCOUNT, "alice").await;

    // 1. Not an envelope at all, 2. an event whose id is empty, 3. an event of a type this
    // version does not know, 4. an event meeting a corrupt stored route: all on the routing
    // partition of skill "sales", each followed by a real conversation of that skill.
    bus.publish(Record::new(routing, key.clone(), b"\x08\xff garbage".to_vec())).await.unwrap();
    let mut partner = cluster.connector().await;
    let first = partner.open_conversation(open(ACCOUNT, "c1", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut alice).await.conversation_id, first.conversation_id);

    let invalid = route("", "sales");
    bus.publish(Record::new(routing, key.clone(), invalid.encode_to_vec())).await.unwrap();
    let mut newer = Envelope { body: None, ..route("x", "sales") }.encode_to_vec();
    newer.extend_from_slice(&[0x9a, 0x06, 0x02, 0x08, 0x01]); // field 99: a body type from the future
    bus.publish(Record::new(routing, key.clone(), newer)).await.unwrap();

    let prefix = cluster_prefix(&cluster);
    let redis = cluster.redis.as_ref().unwrap();
    let mut con = ::redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let corrupt_key = format!("{prefix}:{{{ACCOUNT}}}:route:broken");
    let _: () = ::redis::cmd("SET").arg(&corrupt_key).arg("not a hash").query_async(&mut con).await.unwrap();
    bus.publish(Record::new(routing, key.clone(), route("broken", "sales").encode_to_vec())).await.unwrap();

    let second = partner.open_conversation(open(ACCOUNT, "c2", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut alice).await.conversation_id, second.conversation_id, "the partition moved on");

    // Three dead letters (the unknown type was skipped and counted), listed by the command.
    let mut listed = String::new();
    for _ in 0..50 {
        let (ok, out, err) = dead_letters(&cluster, &["list", "--group", "router"]);
        assert!(ok, "{err}");
        listed = out;
        if listed.lines().count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 3, "{listed}");
    assert!(lines[0].contains("class=permanent") && lines[0].contains("not a switchyard envelope"), "{listed}");
    assert!(lines[1].contains("conversation_id"), "{listed}");
    assert!(lines[2].contains("corrupt data"), "{listed}");
    let metrics = http_get(&format!("{}/metrics", cluster.ops["router"])).await.unwrap().1;
    assert!(metrics.contains("group=\"router\",outcome=\"unknown_type\"} 1"), "the unknown type is counted");
    assert!(metrics.contains("switchyard_consumer_dead_letters_total{service=\"router\",group=\"router\"} 3"));

    // Replay one: back on its topic, dead-lettered again (still bad), remembered as a replay.
    let letter = lines[1].split('\t').next().unwrap();
    let (ok, out, err) = dead_letters(&cluster, &["replay", "--letter", letter]);
    assert!(ok && out.contains(&format!("replayed {letter} to {routing}")), "{out}{err}");
    let mut relisted = String::new();
    for _ in 0..50 {
        relisted = dead_letters(&cluster, &["list"]).1;
        if relisted.lines().count() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(relisted.lines().count(), 4, "{relisted}");
    let (ok, _, err) = dead_letters(&cluster, &["replay", "--letter", "0/999999"]);
    assert!(!ok && err.contains("no dead letter 0/999999"), "{err}");
    cluster.stop().await;
}

/// The Redis key prefix the cluster runs with.
fn cluster_prefix(cluster: &Cluster) -> String {
    cluster.redis_prefix.clone().unwrap()
}
