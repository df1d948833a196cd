//! End to end in embedded mode (`switchyard up` on the in-memory bus and store), through the
//! public gRPC APIs only: the admin APIs (skills listed per account, agents updated in place
//! and routing following the new spec) and each service's gRPC health, liveness and metrics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_proto::admin::v1::*;
use switchyard_proto::capacity::v1::*;
use tonic::Code;

/// Health: gRPC health answers SERVING and /health/livez is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_and_ops_endpoints_answer() {
    let cluster = Cluster::embedded().await;
    for service in switchyard_registry::Service::ALL.map(|s| s.name()) {
        let channel =
            tonic::transport::Channel::from_shared(cluster.grpc[service].clone()).unwrap().connect().await.unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let resp = health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.unwrap();
        assert_eq!(resp.into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
        let (code, _) = common::http_get(&format!("{}/health/livez", cluster.ops[service])).await.unwrap();
        assert_eq!(code, 200);
        let (code, body) = common::http_get(&format!("{}/metrics", cluster.ops[service])).await.unwrap();
        assert_eq!(code, 200);
        assert!(body.contains("switchyard_"), "{service} metrics: {body}");
    }
    // The gRPC layer counted the health checks above, by method and code.
    let (_, body) = common::http_get(&format!("{}/metrics", cluster.ops["router"])).await.unwrap();
    assert!(
        body.lines().any(|l| l.starts_with("switchyard_grpc_requests_total")
            && l.contains("method=\"grpc.health.v1.Health/Check\"")
            && l.contains("code=\"0\"")),
        "{body}"
    );
    cluster.stop().await;
}

/// Admin: skills are listed per account; agents are updated in place (skills, max) and the
/// router follows the new spec; unknown agents are NOT_FOUND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_skills_and_updates_agents() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales", "support"], &[("a1", &["sales"], 1)]).await;
    let skills = cluster
        .routing_admin()
        .await
        .list_skills(ListSkillsRequest { account_id: "acme".into() })
        .await
        .unwrap()
        .into_inner()
        .skills;
    let mut ids: Vec<_> = skills.into_iter().map(|s| s.skill_id).collect();
    ids.sort();
    assert_eq!(ids, vec!["sales", "support"]);

    let mut capacity = cluster.capacity_admin().await;
    let spec = |max| AgentSpec {
        agent_id: "a1".into(),
        skill_ids: vec!["support".into()],
        max_conversations: max,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    };
    capacity.update_agent(UpdateAgentRequest { account_id: "acme".into(), agent: Some(spec(2)) }).await.unwrap();
    let load = capacity
        .get_agent_load(GetAgentLoadRequest { account_id: "acme".into(), agent_id: "a1".into() })
        .await
        .unwrap()
        .into_inner();
    let agent = load.agent.unwrap();
    assert_eq!((agent.skill_ids, agent.max_conversations), (vec!["support".to_owned()], 2));
    let err = capacity
        .update_agent(UpdateAgentRequest {
            account_id: "acme".into(),
            agent: Some(AgentSpec { agent_id: "ghost".into(), ..spec(1) }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Routing follows the update: a support conversation now goes to a1, up to 2 at once.
    let mut stream = online(&cluster, "acme", "a1").await;
    let mut partner = cluster.connector().await;
    for i in 0..3 {
        partner.open_conversation(open("acme", &format!("c{i}"), "support", "")).await.unwrap();
    }
    expect_assigned(&mut stream).await;
    expect_assigned(&mut stream).await;
    common::wait_until(|| async { queue_depth(&cluster, "acme", "support").await == 1 }).await;
    cluster.stop().await;
}
