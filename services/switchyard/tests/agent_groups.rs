//! Agent groups and split routing end to end in embedded mode, through gRPC (R6.8,
//! R8.20-R8.22): a skill splits its conversations across groups by percentage, each goes to an
//! agent of the group it was allocated to while that group has room, and to the cascade group
//! when it has none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::*;
use switchyard_proto::admin::v1::*;
use switchyard_proto::capacity::v1::{AgentSpec, CreateAgentRequest};

async fn agent(cluster: &Cluster, id: &str, group: &str, max: u32) {
    let spec = AgentSpec {
        agent_id: id.into(),
        skill_ids: vec!["sales".into()],
        max_conversations: max,
        bot: false,
        group_id: group.into(),
        nickname: String::new(),
    };
    cluster
        .capacity_admin()
        .await
        .create_agent(CreateAgentRequest { account_id: "acme".into(), agent: Some(spec) })
        .await
        .unwrap();
}

async fn split(cluster: &Cluster) -> Vec<switchyard_routing::GroupSplit> {
    let groups = vec![
        GroupSplit { group_id: "east".into(), priority: 1, percent: 50 },
        GroupSplit { group_id: "west".into(), priority: 2, percent: 50 },
    ];
    let routing = SkillRouting { group_split: groups.clone(), ..Default::default() };
    cluster
        .routing_admin()
        .await
        .set_skill_routing(SetSkillRoutingRequest {
            account_id: "acme".into(),
            skill_id: "sales".into(),
            skill: Some(routing),
            expected_revision: 0,
        })
        .await
        .unwrap();
    groups
        .into_iter()
        .map(|g| switchyard_routing::GroupSplit { group_id: g.group_id, priority: g.priority, percent: g.percent })
        .collect()
}

/// R8.20: with room in both groups every conversation goes to the agent of its allocated group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_conversation_goes_to_its_allocated_group_r8_20() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    agent(&cluster, "east-1", "east", 50).await;
    agent(&cluster, "west-1", "west", 50).await;
    let split = split(&cluster).await;
    let mut streams = HashMap::new();
    for id in ["east-1", "west-1"] {
        streams.insert(id, online(&cluster, "acme", id).await);
    }
    let mut partner = cluster.connector().await;
    let mut expected: HashMap<String, &str> = HashMap::new();
    for i in 0..20 {
        let opened = partner.open_conversation(open("acme", &format!("k{i}"), "sales", "")).await.unwrap().into_inner();
        let group = switchyard_routing::allocate_group(&split, &opened.conversation_id).unwrap();
        expected.insert(opened.conversation_id, if group == "east" { "east-1" } else { "west-1" });
    }
    let mut got: HashMap<String, &str> = HashMap::new();
    for (id, stream) in streams.iter_mut() {
        let want = expected.values().filter(|a| *a == id).count();
        for _ in 0..want {
            got.insert(expect_assigned(stream).await.conversation_id, id);
        }
    }
    assert_eq!(got, expected);
    assert!(expected.values().any(|a| *a == "east-1") && expected.values().any(|a| *a == "west-1"), "both used");
    cluster.stop().await;
}

/// R6.8: when the allocated group has no agent with room the cascade group takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_group_cascades_to_the_next_r6_8() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    agent(&cluster, "east-1", "east", 50).await;
    agent(&cluster, "west-1", "west", 50).await;
    split(&cluster).await;
    // Only east is online: conversations allocated to west go to east by the cascade.
    let mut east = online(&cluster, "acme", "east-1").await;
    let mut partner = cluster.connector().await;
    for i in 0..6 {
        partner.open_conversation(open("acme", &format!("k{i}"), "sales", "")).await.unwrap();
    }
    for _ in 0..6 {
        expect_assigned(&mut east).await;
    }
    cluster.stop().await;
}

/// R8.20: the manager's queue view shows the group each waiting conversation is allocated to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_shows_each_conversations_group_r8_20() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[]).await;
    agent(&cluster, "east-1", "east", 5).await;
    let split = split(&cluster).await;
    let mut partner = cluster.connector().await;
    let mut expected = Vec::new();
    for i in 0..6 {
        let opened = partner.open_conversation(open("acme", &format!("k{i}"), "sales", "")).await.unwrap().into_inner();
        let group = switchyard_routing::allocate_group(&split, &opened.conversation_id).unwrap();
        expected.push((opened.conversation_id, group.to_owned()));
    }
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 6 }).await;
    let request =
        switchyard_proto::admin::v1::GetQueueRequest { account_id: "acme".into(), skill_id: "sales".into(), limit: 0 };
    let queue = cluster.routing_admin().await.get_queue(request).await.unwrap().into_inner();
    let mut shown: Vec<(String, String)> =
        queue.entries.into_iter().map(|e| (e.conversation_id, e.agent_group)).collect();
    shown.sort();
    expected.sort();
    assert_eq!(shown, expected);
    cluster.stop().await;
}
