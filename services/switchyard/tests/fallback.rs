//! Fallback skills and the unassigned skill end to end in embedded mode, through gRPC: a chain
//! is walked to the first skill with an agent who can take the conversation (R5.1, R5.4), the
//! away-versus-logged-out rule (R5.5), a skill nobody holds goes to any agent (R4.5), and the
//! agent sees the skill path with the fallback (R5.7).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::common::v1::AgentState;

async fn fall_back(cluster: &Cluster, skill: &str, to: &str, when_all_away: bool) {
    let routing = SkillRouting {
        fallback_skill_id: to.into(),
        fallback_when_all_agents_away: when_all_away,
        ..Default::default()
    };
    cluster
        .routing_admin()
        .await
        .set_skill_routing(SetSkillRoutingRequest {
            account_id: "acme".into(),
            skill_id: skill.into(),
            skill: Some(routing),
            expected_revision: 0,
        })
        .await
        .unwrap();
}

fn path(assignment: &agentpb::Assignment) -> Vec<(&str, &str)> {
    assignment.skill_path.iter().map(|s| (s.skill_id.as_str(), s.reason.as_str())).collect()
}

/// R5.1, R5.4: a -> b -> c; nobody of a or b is logged in, carl of c is: the conversation
/// skips b (no agent there could take it) and goes to carl on c.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_is_walked_to_the_first_skill_with_an_agent_r5_1() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["a", "b", "c"], &[("amy", &["a"], 2), ("bea", &["b"], 2), ("carl", &["c"], 2)])
        .await;
    fall_back(&cluster, "a", "b", false).await;
    fall_back(&cluster, "b", "c", false).await;
    let mut carl = online(&cluster, "acme", "carl").await;
    let opened = cluster.connector().await.open_conversation(open("acme", "k1", "a", "")).await.unwrap().into_inner();
    let assignment = expect_assigned(&mut carl).await;
    assert_eq!(
        (assignment.conversation_id.as_str(), assignment.skill_id.as_str()),
        (opened.conversation_id.as_str(), "c")
    );
    assert_eq!(path(&assignment), [("a", "requested"), ("c", "fallback")]);
    assert_eq!(queue_depth(&cluster, "acme", "a").await, 0);

    // Why carl: queued on a, nobody on a or b, given to carl on c by the fallback.
    let mut admin = cluster.routing_admin().await;
    let why = admin
        .explain_routing(ExplainRoutingRequest {
            account_id: "acme".into(),
            conversation_id: opened.conversation_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((why.status.as_str(), why.skill_id.as_str(), why.agent_id.as_str()), ("assigned", "c", "carl"));
    let decisions: Vec<(&str, &str, &str, &str)> = why
        .decisions
        .iter()
        .map(|d| (d.kind.as_str(), d.skill_id.as_str(), d.agent_id.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(decisions, [("queued", "a", "", "new"), ("assigned", "c", "carl", "fallback")]);
    assert_eq!(why.decisions[0].sla, "first_time", "k1 was never seen: R10.2");
    let last = why.last_pass.expect("the passes that found nobody");
    assert_eq!((last.kind.as_str(), last.skill_id.as_str()), ("waiting", "b"), "b was tried before c");
    assert_eq!(why.skill_path.len(), 2);
    let err = admin
        .explain_routing(ExplainRoutingRequest { account_id: "acme".into(), conversation_id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    cluster.stop().await;
}

/// R5.5: with `fallback_when_all_agents_away` off, an AWAY agent of the skill keeps the
/// conversation waiting there; once nobody is logged in it falls back. With the flag on, all
/// AWAY is enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_away_waits_unless_the_skill_says_so_r5_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["a", "b", "x", "y"], &[("amy", &["a", "x"], 2), ("bea", &["b", "y"], 2)]).await;
    fall_back(&cluster, "a", "b", false).await;
    fall_back(&cluster, "x", "y", true).await;
    let mut agent = cluster.agent().await;
    agent
        .login(agentpb::LoginRequest {
            account_id: "acme".into(),
            agent_id: "amy".into(),
            initial_state: AgentState::Away as i32,
        })
        .await
        .unwrap();
    let mut bea = online(&cluster, "acme", "bea").await;
    let mut partner = cluster.connector().await;
    let on_a = partner.open_conversation(open("acme", "k1", "a", "")).await.unwrap().into_inner();
    let on_x = partner.open_conversation(open("acme", "k2", "x", "")).await.unwrap().into_inner();
    // x (flag on) falls back to y at once; a waits for amy.
    let first = expect_assigned(&mut bea).await;
    assert_eq!((first.conversation_id.as_str(), first.skill_id.as_str()), (on_x.conversation_id.as_str(), "y"));
    // Several passes (200 ms each) later, still queued on a.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(queue_depth(&cluster, "acme", "a").await, 1, "all away, flag off: it waits");
    agent.logout(agentpb::LogoutRequest { account_id: "acme".into(), agent_id: "amy".into() }).await.unwrap();
    let second = expect_assigned(&mut bea).await;
    assert_eq!((second.conversation_id.as_str(), second.skill_id.as_str()), (on_a.conversation_id.as_str(), "b"));
    cluster.stop().await;
}

/// R4.5: a skill no agent holds goes to the unassigned skill and any agent takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skill_nobody_holds_goes_to_any_agent_r4_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["orphan", "sales"], &[("sam", &["sales"], 2)]).await;
    let mut sam = online(&cluster, "acme", "sam").await;
    cluster.connector().await.open_conversation(open("acme", "k1", "orphan", "")).await.unwrap();
    let assignment = expect_assigned(&mut sam).await;
    assert_eq!(assignment.skill_id, "-1");
    assert_eq!(path(&assignment), [("orphan", "requested"), ("-1", "unassigned_skill")]);
    cluster.stop().await;
}
