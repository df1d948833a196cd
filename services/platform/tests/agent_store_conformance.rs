//! Conformance of the agent store family (`AgentStore`: agents, their sessions and the skill
//! index), in memory and on a real Redis (`memory::<name>`, `redis::<name>`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use switchyard_platform::store::*;
use switchyard_testkit::unique;

mod support;
use support::*;

conformance!(
    agents_create_update_and_skill_index,
    agent_session_tracks_state_since,
    presence_is_the_session_and_skills,
);

async fn agents_create_update_and_skill_index(store: Store) {
    let a = unique("acct");
    assert_eq!(store.get_agent(&a, "ann").await.unwrap(), None);
    let ann_spec = AgentSpec { bot: true, nickname: "Ann B.".into(), ..spec("ann", &["sales", "billing"], 3) };
    assert!(store.create_agent(&a, &ann_spec).await.unwrap());
    assert!(!store.create_agent(&a, &spec("ann", &["other"], 9)).await.unwrap(), "agent already exists");

    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!(
        ann,
        AgentRecord {
            account_id: a.clone(),
            spec: ann_spec.clone(),
            logged_in: false,
            state: AgentState::Offline,
            away_reason: String::new(),
            state_since_ms: 0,
            last_assigned_ms: 0,
            load: vec![],
            warmup: Default::default(),
        }
    );

    assert!(store.create_agent(&a, &spec("bob", &["billing"], 2)).await.unwrap());
    assert!(store.create_agent(&a, &spec("al", &["billing", "support"], 1)).await.unwrap());
    let names = |agents: Vec<AgentRecord>| agents.into_iter().map(|x| x.spec.agent_id).collect::<Vec<_>>();
    assert_eq!(names(store.agents_with_skill(&a, "billing").await.unwrap()), ["al", "ann", "bob"], "sorted by id");
    assert_eq!(names(store.agents_with_skill(&a, "sales").await.unwrap()), ["ann"]);
    assert!(store.agents_with_skill(&a, "nobody").await.unwrap().is_empty());

    // Update replaces the spec and moves the agent between skill indexes; session is kept.
    assert!(!store.update_agent(&a, &spec("zed", &["sales"], 1)).await.unwrap(), "unknown agent");
    assert!(store.set_agent_session(&a, "ann", &online(), 10).await.unwrap());
    assert!(store.update_agent(&a, &spec("ann", &["support", "sales"], 5)).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert_eq!(ann.spec, spec("ann", &["support", "sales"], 5));
    assert!(ann.logged_in);
    assert_eq!(ann.state, AgentState::Online);
    assert_eq!(names(store.agents_with_skill(&a, "billing").await.unwrap()), ["al", "bob"]);
    assert_eq!(names(store.agents_with_skill(&a, "support").await.unwrap()), ["al", "ann"]);
    assert_eq!(names(store.agents_with_skill(&a, "sales").await.unwrap()), ["ann"]);
    let full = store.agents_with_skill(&a, "sales").await.unwrap();
    assert_eq!(full, vec![ann], "agents_with_skill returns whole records");

    // An agent with no skills is listed nowhere. Invariant 7: nothing leaks across accounts.
    assert!(store.update_agent(&a, &spec("al", &[], 1)).await.unwrap());
    assert_eq!(names(store.agents_with_skill(&a, "support").await.unwrap()), ["ann"]);
    let other = unique("acct");
    assert_eq!(store.get_agent(&other, "ann").await.unwrap(), None);
    assert!(store.agents_with_skill(&other, "sales").await.unwrap().is_empty());
}

async fn agent_session_tracks_state_since(store: Store) {
    let a = unique("acct");
    let away = |reason: &str| AgentSession { logged_in: true, state: AgentState::Away, away_reason: reason.into() };
    assert!(!store.set_agent_session(&a, "ann", &online(), 10).await.unwrap(), "unknown agent");
    assert!(store.create_agent(&a, &spec("ann", &[SKILL], 2)).await.unwrap());

    assert!(store.set_agent_session(&a, "ann", &online(), 10).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.logged_in, ann.state, ann.state_since_ms) == (true, AgentState::Online, 10));

    // Same state and reason: state_since stays even if login changes.
    let logged_out_online = AgentSession { logged_in: false, ..online() };
    assert!(store.set_agent_session(&a, "ann", &logged_out_online, 20).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.logged_in, ann.state, ann.state_since_ms) == (false, AgentState::Online, 10));

    assert!(store.set_agent_session(&a, "ann", &away("lunch"), 30).await.unwrap());
    assert!(store.set_agent_session(&a, "ann", &away("lunch"), 40).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.state, ann.away_reason.as_str(), ann.state_since_ms) == (AgentState::Away, "lunch", 30));

    // A new reason is a change.
    assert!(store.set_agent_session(&a, "ann", &away("meeting"), 50).await.unwrap());
    let ann = store.get_agent(&a, "ann").await.unwrap().unwrap();
    assert!((ann.away_reason.as_str(), ann.state_since_ms) == ("meeting", 50));
}

/// `agent_presence` answers what `get_agent` says of the session and skills, without the load.
async fn presence_is_the_session_and_skills(store: Store) {
    let a = unique("acct");
    assert_eq!(store.agent_presence(&a, "ann").await.unwrap(), None);
    assert!(store.create_agent(&a, &spec("ann", &["sales", "billing"], 3)).await.unwrap());
    let presence =
        |logged_in, state| AgentPresence { logged_in, state, skill_ids: vec!["sales".into(), "billing".into()] };
    assert_eq!(store.agent_presence(&a, "ann").await.unwrap(), Some(presence(false, AgentState::Offline)));
    assert!(store.set_agent_session(&a, "ann", &online(), 10).await.unwrap());
    assert_eq!(store.agent_presence(&a, "ann").await.unwrap(), Some(presence(true, AgentState::Online)));
    assert_eq!(store.agent_presence(&unique("acct"), "ann").await.unwrap(), None, "another account");
}
