//! Offers end to end in embedded mode, through gRPC (R6.5): ring-one offers the best agent,
//! a reject moves it to the next best and keeps the rejecting agent away; ring-all rings for
//! every eligible agent, the first accept wins, the others are told and a late accept is
//! FAILED_PRECONDITION; an offer nobody answers rings out on the durable timer and goes to
//! another agent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1::{self as agentpb, agent_event};
use tonic::Code;

async fn acd(cluster: &Cluster, mode: AcdMode, ring_timeout_s: i64) {
    let account = AccountRouting {
        acd_mode: mode as i32,
        ring_timeout: Some(prost_types::Duration { seconds: ring_timeout_s, nanos: 0 }),
        ..Default::default()
    };
    let request = SetAccountRoutingRequest { account_id: "acme".into(), account: Some(account), expected_revision: 0 };
    cluster.routing_admin().await.set_account_routing(request).await.unwrap();
}

async fn expect_offer(stream: &mut tonic::Streaming<agentpb::AgentEvent>) -> agentpb::Offer {
    loop {
        match next_event(stream, WAIT).await {
            Some(agent_event::Event::Offer(o)) => return o,
            Some(_) => continue,
            None => panic!("no offer within {WAIT:?}"),
        }
    }
}

async fn expect_offer_ended(stream: &mut tonic::Streaming<agentpb::AgentEvent>) -> agentpb::OfferEnded {
    loop {
        match next_event(stream, WAIT).await {
            Some(agent_event::Event::OfferEnded(e)) => return e,
            Some(_) => continue,
            None => panic!("no offer end within {WAIT:?}"),
        }
    }
}

fn accept(agent: &str, offer: &str) -> agentpb::AcceptOfferRequest {
    agentpb::AcceptOfferRequest { account_id: "acme".into(), agent_id: agent.into(), offer_id: offer.into() }
}

fn reject(agent: &str, offer: &str) -> agentpb::RejectOfferRequest {
    agentpb::RejectOfferRequest { account_id: "acme".into(), agent_id: agent.into(), offer_id: offer.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_one_offers_the_best_agent_and_a_reject_moves_on_r6_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    acd(&cluster, AcdMode::RingOne, 60).await;
    let mut ann = online(&cluster, "acme", "ann").await;
    let mut bob = online(&cluster, "acme", "bob").await;
    let opened =
        cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap().into_inner();
    // ann ranks first (idle, id order): the offer rings for her only.
    let offer = expect_offer(&mut ann).await;
    assert_eq!((offer.conversation_id.as_str(), offer.skill_id.as_str()), (opened.conversation_id.as_str(), "sales"));
    assert!(offer.expires_at_ms > 0);
    let mut agent = cluster.agent().await;
    // bob cannot take ann's offer.
    assert_eq!(agent.accept_offer(accept("bob", &offer.offer_id)).await.unwrap_err().code(), Code::FailedPrecondition);
    agent.reject_offer(reject("ann", &offer.offer_id)).await.unwrap();
    assert_eq!(expect_offer_ended(&mut ann).await.reason, "rejected");
    // The next best: bob. He accepts and gets the assignment.
    let second = expect_offer(&mut bob).await;
    assert_ne!(second.offer_id, offer.offer_id);
    agent.accept_offer(accept("bob", &second.offer_id)).await.unwrap();
    // A retried accept answers OK again.
    agent.accept_offer(accept("bob", &second.offer_id)).await.unwrap();
    let assignment = expect_assigned(&mut bob).await;
    assert_eq!(assignment.conversation_id, opened.conversation_id);
    // ann's late accept of the rejected offer.
    assert_eq!(agent.accept_offer(accept("ann", &offer.offer_id)).await.unwrap_err().code(), Code::FailedPrecondition);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_all_first_accept_wins_and_the_others_are_told_r6_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    acd(&cluster, AcdMode::RingAll, 60).await;
    let mut ann = online(&cluster, "acme", "ann").await;
    let mut bob = online(&cluster, "acme", "bob").await;
    cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap();
    let (for_ann, for_bob) = (expect_offer(&mut ann).await, expect_offer(&mut bob).await);
    assert_eq!(for_ann.offer_id, for_bob.offer_id, "one offer ringing for both");
    let mut agent = cluster.agent().await;
    agent.accept_offer(accept("bob", &for_bob.offer_id)).await.unwrap();
    expect_assigned(&mut bob).await;
    assert_eq!(expect_offer_ended(&mut ann).await.reason, "rescinded");
    let late = agent.accept_offer(accept("ann", &for_ann.offer_id)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert!(late.message().contains("no longer available"), "{}", late.message());
    cluster.stop().await;
}

/// The offer's expiry is a durable timer: unanswered, it rings out and goes to the next agent
/// (the one that let it ring out is kept away for the cooldown).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_offer_rings_out_and_moves_on_r6_5() {
    let cluster = Cluster::embedded().await;
    setup_account(&cluster, "acme", &["sales"], &[("ann", &["sales"], 2), ("bob", &["sales"], 2)]).await;
    acd(&cluster, AcdMode::RingOne, 5).await;
    let mut ann = online(&cluster, "acme", "ann").await;
    let mut bob = online(&cluster, "acme", "bob").await;
    cluster.connector().await.open_conversation(open("acme", "k1", "sales", "")).await.unwrap();
    let first = expect_offer(&mut ann).await;
    let started = std::time::Instant::now();
    assert_eq!(expect_offer_ended(&mut ann).await.reason, "expired");
    assert!(started.elapsed() >= Duration::from_secs(3), "rang for the ring timeout");
    let second = expect_offer(&mut bob).await;
    assert_ne!(second.offer_id, first.offer_id);
    cluster.stop().await;
}
