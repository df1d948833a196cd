//! Agent presence from its stream (peer lesson 22: a phone app in the background must not cost
//! the agent its conversations): a stream that drops and comes back within
//! `connectors.agent_presence_grace` changes nothing; past the grace the agent is AWAY
//! (`disconnected`), keeps what it holds and gets nothing new; a new stream puts it back ONLINE.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::capacity::v1::{GetAgentLoadRequest, GetAgentLoadResponse};
use switchyard_proto::common::v1::AgentState;

async fn load_of(cluster: &Cluster, agent: &str) -> GetAgentLoadResponse {
    let request = GetAgentLoadRequest { account_id: "acme".into(), agent_id: agent.into() };
    cluster.capacity_admin().await.get_agent_load(request).await.unwrap().into_inner()
}

async fn subscribe(cluster: &Cluster, agent: &str) -> tonic::Streaming<agentpb::AgentEvent> {
    let request = agentpb::SubscribeRequest { account_id: "acme".into(), agent_id: agent.into() };
    cluster.agent().await.subscribe(request).await.unwrap().into_inner()
}

fn state_of(load: &GetAgentLoadResponse) -> (i32, &str) {
    (load.state, load.away_reason.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_costs_nothing_within_the_grace_and_away_without_loss_after_it() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.connectors.agent_presence_grace = Duration::from_secs(2)).await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2)]).await;
    let mut partner = cluster.connector().await;
    let mut stream = online(&cluster, "acme", "ann").await;
    let first = partner.open_conversation(open("acme", "kim", "sales", "")).await.unwrap().into_inner();
    assert_eq!(expect_assigned(&mut stream).await.conversation_id, first.conversation_id);

    // The app goes to the background for half a second: nothing changes.
    drop(stream);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stream = subscribe(&cluster, "ann").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(state_of(&load_of(&cluster, "ann").await), (AgentState::Online as i32, ""));

    // Gone past the grace: AWAY (disconnected), and its conversation stays with it (R7.2).
    drop(stream);
    wait_until(|| async { state_of(&load_of(&cluster, "ann").await) == (AgentState::Away as i32, "disconnected") })
        .await;
    assert_eq!(load_of(&cluster, "ann").await.conversation_ids, vec![first.conversation_id.clone()]);
    // Nothing new for an AWAY agent (R7.1).
    let second = partner.open_conversation(open("acme", "lee", "sales", "")).await.unwrap().into_inner();
    wait_until(|| async { queue_depth(&cluster, "acme", "sales").await == 1 }).await;

    // Back: ONLINE again, and the waiting conversation comes.
    let mut stream = subscribe(&cluster, "ann").await;
    wait_until(|| async { state_of(&load_of(&cluster, "ann").await) == (AgentState::Online as i32, "") }).await;
    loop {
        let assigned = expect_assigned(&mut stream).await;
        if assigned.conversation_id == second.conversation_id {
            break;
        }
        assert_eq!(assigned.conversation_id, first.conversation_id, "the reconnect snapshot");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_the_agent_chose_stands_after_the_grace() {
    let cluster = Cluster::on(Backend::Embedded, |c| c.connectors.agent_presence_grace = Duration::from_secs(1)).await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2)]).await;
    let stream = online(&cluster, "acme", "ann").await;
    let back_soon = agentpb::SetStateRequest {
        account_id: "acme".into(),
        agent_id: "ann".into(),
        state: AgentState::BackSoon as i32,
        away_reason: String::new(),
    };
    cluster.agent().await.set_state(back_soon).await.unwrap();
    drop(stream);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(state_of(&load_of(&cluster, "ann").await), (AgentState::BackSoon as i32, ""));
    cluster.stop().await;
}
