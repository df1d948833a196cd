//! Tests of the offer audit on hand-built decision lists.

use super::*;

fn d(kind: &str, at_ms: i64, agent: &str, reason: &str) -> RoutingDecision {
    RoutingDecision {
        kind: kind.into(),
        at_ms,
        agent_id: agent.into(),
        reason: reason.into(),
        skill_id: "support".into(),
        ..RoutingDecision::default()
    }
}

fn agents() -> BTreeSet<(u32, String)> {
    ["a-0", "a-1", "a-2"].iter().map(|a| (0, (*a).to_owned())).collect()
}

fn tally() -> Tally {
    let mut t = Tally::default();
    for a in ["a-0", "a-1", "a-2"] {
        t.first_login_ms.insert(Tally::login_key(0, a), 0);
    }
    t
}

fn run(convs: &[ConvOffers], tally: &Tally, assigned: &[&str]) -> Vec<Check> {
    let assigned: HashSet<String> = assigned.iter().map(|s| (*s).to_owned()).collect();
    let agents = agents();
    let input =
        Input { mode: "ring_one", tally, explained: convs, unexplained: &[], assigned: &assigned, agents: &agents };
    judge(&input).0
}

fn failed(checks: &[Check]) -> Vec<&str> {
    checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
}

#[test]
fn ring_one_offers_in_turn_and_ring_all_with_rejects_pass() {
    // Ring-one: rejected, rang out, then accepted.
    let one = [
        d("queued", 10, "", "new"),
        d("offered", 20, "a-0", "best_agent"),
        d("rejected", 30, "a-0", "offer_rejected"),
        d("offered", 40, "a-1", "best_agent"),
        d("expired", 5_040, "a-1", "offer_expired"),
        d("offered", 5_050, "a-2", "best_agent"),
        d("assigned", 5_060, "a-2", "offer_accepted"),
    ];
    // Ring-all: one rejects while the others ring; one accepts.
    let all = [
        d("queued", 10, "", "new"),
        d("offered", 20, "a-0,a-1,a-2", "best_agent"),
        d("rejected", 25, "a-1", "offer_rejected"),
        d("assigned", 30, "a-2", "offer_accepted"),
    ];
    let convs = [ConvOffers::from_decisions("c1", 0, &one), ConvOffers::from_decisions("c2", 0, &all)];
    assert_eq!((convs[0].offered, convs[0].rejected, convs[0].expired, convs[0].accepted), (3, 1, 1, 1));
    let checks = run(&convs, &tally(), &["c1", "c2"]);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let (_, s) = judge(&Input {
        mode: "ring_one",
        tally: &tally(),
        explained: &convs,
        unexplained: &[],
        assigned: &HashSet::new(),
        agents: &agents(),
    });
    assert_eq!((s.decisions_offered, s.decisions_accepted, s.decisions_rejected, s.explained), (4, 2, 2, 2));
    assert!(s.summary().starts_with("ring_one: 0 received"), "{}", s.summary());
}

#[test]
fn overlapping_offers_fail() {
    let decisions = [
        d("offered", 20, "a-0", "best_agent"),
        d("offered", 30, "a-1", "best_agent"),
        d("assigned", 40, "a-1", "offer_accepted"),
    ];
    let convs = [ConvOffers::from_decisions("c1", 0, &decisions)];
    let checks = run(&convs, &tally(), &["c1"]);
    assert_eq!(failed(&checks), [OVERLAP_CHECK]);
    let c = checks.iter().find(|c| c.name == OVERLAP_CHECK).unwrap();
    assert_eq!(c.ids, ["c1: offered at 30 while an earlier offer rang"]);
    // In ring-all a reject leaves the offer ringing for the others.
    let decisions = [
        d("offered", 20, "a-0,a-1", "best_agent"),
        d("rejected", 25, "a-0", "offer_rejected"),
        d("offered", 30, "a-2", "best_agent"),
    ];
    let c = ConvOffers::from_decisions("c2", 0, &decisions);
    assert_eq!(c.overlaps.len(), 1, "{c:?}");
}

#[test]
fn two_accepts_fail() {
    // Two accepts of one offer in the router's decisions.
    let decisions = [
        d("offered", 20, "a-0,a-1", "best_agent"),
        d("assigned", 30, "a-0", "offer_accepted"),
        d("assigned", 31, "a-1", "offer_accepted"),
    ];
    let convs = [ConvOffers::from_decisions("c1", 0, &decisions)];
    let checks = run(&convs, &tally(), &["c1"]);
    assert_eq!(failed(&checks), [ACCEPT_CHECK]);
    let c = checks.iter().find(|c| c.name == ACCEPT_CHECK).unwrap();
    assert!(c.ids.iter().any(|i| i.contains("a second accept")), "{c:?}");
    assert!(c.ids.iter().any(|i| i.contains("with 2 accepts in its decisions")), "{c:?}");
    // Two agents whose AcceptOffer both succeeded, whatever the decisions say.
    let ok = [d("offered", 20, "a-0,a-1", "best_agent"), d("assigned", 30, "a-0", "offer_accepted")];
    let mut t = tally();
    t.accepts.insert("c1".into(), ["a-0".to_owned(), "a-1".to_owned()].into());
    let checks = run(&[ConvOffers::from_decisions("c1", 0, &ok)], &t, &["c1"]);
    assert_eq!(failed(&checks), [ACCEPT_CHECK]);
    // An assigned conversation without an accept: assigned outright after a reject.
    let outright = [
        d("queued", 1, "", "new"),
        d("offered", 2, "a-0", "best_agent"),
        d("rejected", 3, "a-0", "offer_rejected"),
        d("assigned", 4, "a-1", "agent_available"),
    ];
    let checks = run(&[ConvOffers::from_decisions("c1", 0, &outright)], &tally(), &["c1"]);
    assert_eq!(failed(&checks), [ACCEPT_CHECK]);
    let c = checks.iter().find(|c| c.name == ACCEPT_CHECK).unwrap();
    assert_eq!(
        c.ids,
        ["c1: assigned, with 0 accepts in its decisions (expected 1): queued new, offered a-0 best_agent, rejected a-0 offer_rejected, assigned a-1 agent_available"]
    );
}

#[test]
fn an_unresolved_offer_fails() {
    let decisions = [d("offered", 20, "a-0", "best_agent"), d("expired", 30, "a-0", "offer_expired")];
    assert!(!ConvOffers::from_decisions("c1", 0, &decisions).unresolved);
    let decisions = [d("offered", 20, "a-0", "best_agent"), d("offered", 5_000, "a-1", "best_agent")];
    let convs = [ConvOffers::from_decisions("c1", 0, &decisions)];
    assert!(convs[0].unresolved);
    let checks = run(&convs, &tally(), &[]);
    assert_eq!(failed(&checks), [OVERLAP_CHECK, RESOLVED_CHECK]);
    // Ring-all: rejected by one of two, the other never answered.
    let decisions = [d("offered", 20, "a-0,a-1", "best_agent"), d("rejected", 30, "a-0", "offer_rejected")];
    assert!(ConvOffers::from_decisions("c2", 0, &decisions).unresolved);
    // ...and by both: over.
    let decisions = [
        d("offered", 20, "a-0,a-1", "best_agent"),
        d("rejected", 30, "a-0", "offer_rejected"),
        d("rejected", 31, "a-1", "offer_rejected"),
    ];
    assert!(!ConvOffers::from_decisions("c2", 0, &decisions).unresolved);
}

#[test]
fn offers_to_logged_out_agents_fail() {
    let decisions = [d("offered", 500, "a-0", "best_agent"), d("assigned", 600, "a-0", "offer_accepted")];
    let convs = [ConvOffers::from_decisions("c1", 0, &decisions)];
    let mut t = tally();
    // Logged in 2 s after the offer.
    t.first_login_ms.insert(Tally::login_key(0, "a-0"), 2_500);
    let checks = run(&convs, &t, &["c1"]);
    assert_eq!(failed(&checks), [ONLINE_CHECK]);
    // Within the clock skew allowed: fine.
    t.first_login_ms.insert(Tally::login_key(0, "a-0"), 1_400);
    assert!(failed(&run(&convs, &t, &["c1"])).is_empty());
    // Never logged in, or seen on the stream while logged out.
    t.first_login_ms.remove(&Tally::login_key(0, "a-0"));
    assert_eq!(failed(&run(&convs, &t, &["c1"])), [ONLINE_CHECK]);
    let mut t = tally();
    t.while_logged_out.push("a-1 (c9:1)".into());
    assert_eq!(failed(&run(&convs, &t, &["c1"])), [ONLINE_CHECK]);
}

#[test]
fn answers_follow_the_shares_and_are_stable() {
    let n = 10_000;
    let answers: Vec<Answer> = (0..n).map(|i| answer(7, "a-1", &format!("conv{i}:1"), 0.2, 0.3)).collect();
    let share = |a: Answer| answers.iter().filter(|x| **x == a).count() as f64 / f64::from(n);
    assert!((share(Answer::Reject) - 0.2).abs() < 0.02, "{}", share(Answer::Reject));
    assert!((share(Answer::Ignore) - 0.3).abs() < 0.02, "{}", share(Answer::Ignore));
    assert_eq!(answer(7, "a-1", "conv1:1", 0.2, 0.3), answers[1]);
    assert_eq!(answer(7, "a-1", "x:1", 0.0, 0.0), Answer::Accept);
    assert_eq!(answer(7, "a-1", "x:1", 1.0, 0.0), Answer::Reject);
}
