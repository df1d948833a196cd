//! Warm-up step announcements on the durable timers, on a controlled clock (R8.12-R8.14): the
//! allowance is the claim's arithmetic (pinned in `switchyard-platform`); here each step of a
//! logged-in agent's warm-up announces it, and nothing is announced after the period.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchyard_platform::store::prelude::*;
use switchyard_platform::store::{AgentSession, AgentState};
use switchyard_platform::Clock;
use switchyard_proto::common::v1::AgentState as ProtoState;
use switchyard_proto::events::v1::{envelope::Body, AgentSessionChanged};

use crate::testing::{world, World, MIN};

const SEC: Duration = Duration::from_secs(1);

async fn logs_in(w: &mut World) {
    let online = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
    w.store.set_agent_session("acme", "ann", &online, w.clock.now_ms()).await.unwrap();
    let body = Body::AgentSessionChanged(AgentSessionChanged {
        agent_id: "ann".into(),
        logged_in: true,
        state: ProtoState::Online as i32,
        away_reason: String::new(),
    });
    w.feed(body).await;
}

#[tokio::test]
async fn each_warm_up_step_announces_the_agent_until_the_period_ends_r8_12_r8_14() {
    let mut w = world().await;
    w.configure(|c| {
        c.account.capacity.warmup.enabled = true;
        c.account.capacity.warmup.interval_ms = 90_000;
        c.account.capacity.warmup.max_period_ms = 5 * 60_000;
    })
    .await;
    // ann exists, logged out (a conversation of hers keeps her record).
    w.assigned("c1", "sales").await;
    let offline = AgentSession { logged_in: false, state: AgentState::Offline, away_reason: String::new() };
    w.store.set_agent_session("acme", "ann", &offline, w.clock.now_ms()).await.unwrap();
    logs_in(&mut w).await;
    let at_login = w.hints().await;
    w.after(89 * SEC).await;
    assert_eq!(w.hints().await, at_login, "no step before 90 s");
    w.after(SEC).await;
    assert_eq!(w.hints().await, at_login + 1, "the 90 s step");
    w.after(90 * SEC).await;
    assert_eq!(w.hints().await, at_login + 2, "the 180 s step");
    w.after(90 * SEC).await;
    assert_eq!(w.hints().await, at_login + 3, "the 270 s step");
    // The period is 5 minutes: no step at 360 s or later.
    w.after(10 * MIN).await;
    assert_eq!(w.hints().await, at_login + 3);
}

#[tokio::test]
async fn without_warm_up_a_login_schedules_nothing_r8_12() {
    let mut w = world().await;
    w.assigned("c1", "sales").await;
    let offline = AgentSession { logged_in: false, state: AgentState::Offline, away_reason: String::new() };
    w.store.set_agent_session("acme", "ann", &offline, w.clock.now_ms()).await.unwrap();
    logs_in(&mut w).await;
    let at_login = w.hints().await;
    w.after(10 * MIN).await;
    assert_eq!(w.hints().await, at_login);
}

/// The first claim may start the warm-up before capacity reads the login (the router and
/// capacity read different topics, or capacity restarted): the steps are announced anyway,
/// counted from when the warm-up began.
#[tokio::test]
async fn a_warm_up_started_by_a_claim_before_the_login_was_read_still_announces_its_steps_r8_12() {
    use switchyard_platform::store::rules::WarmupTerms;
    use switchyard_platform::store::{Claim, ClaimOutcome, NewConversation, Placement, ONE};
    let mut w = world().await;
    w.configure(|c| {
        c.account.capacity.warmup.enabled = true;
        c.account.capacity.warmup.interval_ms = 90_000;
    })
    .await;
    w.assigned("c1", "sales").await;
    let offline = AgentSession { logged_in: false, state: AgentState::Offline, away_reason: String::new() };
    w.store.set_agent_session("acme", "ann", &offline, w.clock.now_ms()).await.unwrap();
    // The login is written (armed) at `login`, then a claim 2 s later starts the warm-up...
    let login = w.clock.now_ms();
    let online = AgentSession { logged_in: true, state: AgentState::Online, away_reason: String::new() };
    w.store.set_agent_session("acme", "ann", &online, login).await.unwrap();
    w.clock.advance(2 * SEC);
    let now = w.clock.now_ms();
    let new = NewConversation {
        conversation_id: "c2".into(),
        consumer_id: "consumer-c2".into(),
        channel: 1,
        skill_id: "sales".into(),
        language: String::new(),
        partner_message_id: String::new(),
        opened_at_ms: now,
        profile: Default::default(),
        skill_reason: String::new(),
        skill_detail: String::new(),
    };
    w.store.open_conversation("acme", &new).await.unwrap();
    w.store.enqueue("acme", "c2", "sales", now, &Placement::by_due(now)).await.unwrap();
    let terms = WarmupTerms { step_ms: 90_000, period_ms: 20 * 60_000, idle_ms: 3_600_000 };
    let claim = Claim {
        account_id: "acme".into(),
        conversation_id: "c2".into(),
        skill_id: "sales".into(),
        agent_id: "ann".into(),
        weight: ONE,
        headroom: 500,
        max_open: 0,
        warmup: Some(terms),
        now_ms: now,
        history_window_ms: 0,
    };
    assert!(matches!(w.store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { .. }));
    assert!(!w.store.get_agent("acme", "ann").await.unwrap().unwrap().warmup.armed, "the claim started it");
    // ...and only then capacity reads the login event.
    w.feed_at(
        Body::AgentSessionChanged(AgentSessionChanged {
            agent_id: "ann".into(),
            logged_in: true,
            state: ProtoState::Online as i32,
            away_reason: String::new(),
        }),
        login,
    )
    .await;
    let before = w.hints().await;
    w.after(89 * SEC).await;
    assert_eq!(w.hints().await, before, "no step before 90 s after the warm-up began");
    w.after(SEC).await;
    assert_eq!(w.hints().await, before + 1, "the step at 90 s after the claim");
}
