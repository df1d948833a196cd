//! The transfer audit on hand-built decisions: the outcomes that pass, and each rule broken.

use super::*;

const WAIT: i64 = 60_000;

fn d(kind: &str, at_ms: i64, skill: &str, agent: &str, reason: &str) -> RoutingDecision {
    RoutingDecision {
        kind: kind.into(),
        at_ms,
        skill_id: skill.into(),
        agent_id: agent.into(),
        reason: reason.into(),
        ..RoutingDecision::default()
    }
}

fn to_agent(id: &str, target: &str) -> Issued {
    Issued {
        conversation_id: id.into(),
        account: 0,
        from_agent: "desk-0".into(),
        kind: Kind::ToAgent,
        to: target.into(),
        target_state: Some(Some(Presence::BackSoon)),
        refused: None,
    }
}

fn to_skill(id: &str, skill: &str) -> Issued {
    Issued { kind: Kind::ToSkill, to: skill.into(), target_state: None, ..to_agent(id, "") }
}

/// The start every conversation shares: queued on sales, assigned to desk-0.
fn opened() -> Vec<RoutingDecision> {
    vec![d("queued", 0, "sales", "", "new"), d("assigned", 10, "sales", "desk-0", "best_agent")]
}

/// desk-* and gone-0 hold sales; billing-* hold billing.
fn holds(agent: &str, skill: &str) -> bool {
    match skill {
        "sales" => agent.starts_with("desk-") || agent.starts_with("late-") || agent == "gone-0",
        "billing" => agent.starts_with("billing-"),
        _ => false,
    }
}

fn replay(t: &Issued, status: &str, decisions: &[RoutingDecision], holders: &[&str]) -> Story {
    let holders: Vec<String> = holders.iter().map(|h| (*h).to_owned()).collect();
    Story::replay(t, &Explanation { status, decisions, holders: &holders }, WAIT, &holds)
}

fn with(mut base: Vec<RoutingDecision>, more: &[RoutingDecision]) -> Vec<RoutingDecision> {
    base.extend_from_slice(more);
    base
}

#[test]
fn served_by_the_suggested_agent_timed_out_to_the_skill_and_on_the_skill_pass() {
    // Waited for late-1 (BACK_SOON), who took it when ONLINE again.
    let suggested = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("waiting", 2_000, "sales", "", "suggested_agent"),
            d("assigned", 9_000, "sales", "late-1", "suggested_agent"),
        ],
    );
    let a = to_agent("c1", "late-1");
    let s1 = replay(&a, "closed", &suggested, &["desk-0", "late-1"]);
    assert_eq!((s1.outcome, s1.problems.as_slice()), (Outcome::BySuggested, &[][..]));
    // gone-0 stayed BACK_SOON: after the maximum wait desk-2 took it.
    let timed_out = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("moved", 61_200, "sales", "gone-0", "suggested_agent_timeout"),
            d("assigned", 61_300, "sales", "desk-2", "best_agent"),
        ],
    );
    let b = to_agent("c2", "gone-0");
    let s2 = replay(&b, "closed", &timed_out, &["desk-0", "desk-2"]);
    assert_eq!((s2.outcome, s2.problems.as_slice(), s2.timeout_late_ms), (Outcome::TimedOut, &[][..], Some(200)));
    // To billing: served there.
    let on_skill = with(
        opened(),
        &[
            d("queued", 1_000, "billing", "desk-0", "transfer"),
            d("assigned", 1_100, "billing", "billing-1", "best_agent"),
        ],
    );
    let c = to_skill("c3", "billing");
    let s3 = replay(&c, "assigned", &on_skill, &["desk-0", "billing-1"]);
    assert_eq!((s3.outcome, s3.problems.as_slice()), (Outcome::OnSkill, &[][..]));

    let mut tally = Tally::default();
    let mut refused = to_agent("c4", "away-0");
    refused.refused = Some("FAILED_PRECONDITION".into());
    refused.target_state = Some(Some(Presence::Away));
    for (i, t) in [&a, &b, &c, &refused].into_iter().enumerate() {
        tally.issued.insert(i, t.clone());
    }
    let stories = [(&a, s1), (&b, s2), (&c, s3)];
    let (checks, s) = judge(&Input { tally: &tally, stories: &stories, unexplained: &[], max_wait_ms: 60_000 });
    assert!(checks.iter().all(|c| c.passed), "{checks:#?}");
    assert_eq!(checks.len(), CHECKS.len());
    assert_eq!((s.to_agent, s.to_agent_refused, s.to_skill, s.to_skill_refused), (2, 1, 1, 0));
    assert_eq!((s.served_by_suggested, s.timed_out, s.served_on_skill, s.explained), (1, 1, 1, 3));
    assert_eq!(s.refused_by_code["FAILED_PRECONDITION"], 1);
    assert_eq!(s.timeout_late_max_ms, 200);
    assert_eq!(s.timed_out_from["back_soon"], 1);
    assert!(
        s.summary().starts_with(
            "to agent: 2 accepted, 1 refused; 1 served by the suggested agent (back_soon 1), 1 timed out to the skill \
             (back_soon 1), 0 timed out"
        ),
        "{}",
        s.summary()
    );
    assert!(s.summary().contains("refusals (FAILED_PRECONDITION 1)"), "{}", s.summary());
}

fn failed(checks: &[Check]) -> Vec<&str> {
    checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
}

/// The checks over one explained transfer.
fn judge_one(t: &Issued, story: Story) -> Vec<Check> {
    let mut tally = Tally::default();
    tally.issued.insert(0, t.clone());
    let stories = [(t, story)];
    judge(&Input { tally: &tally, stories: &stories, unexplained: &[], max_wait_ms: 60_000 }).0
}

#[test]
fn another_agent_before_the_timeout_fails() {
    let t = to_agent("c1", "late-1");
    let early = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("assigned", 3_000, "sales", "desk-3", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &early, &["desk-0", "desk-3"]);
    assert_eq!(story.outcome, Outcome::Broken);
    assert_eq!(
        story.problems,
        [
            "c1: assigned to desk-3 2000 ms after the transfer to late-1, before its timeout",
            "c1: desk-3 got it after the transfer to late-1 (no timeout)",
        ]
    );
    assert_eq!(failed(&judge_one(&t, story)), [TO_AGENT_CHECK]);
    // Offered to someone else while waiting (ring modes) is as bad.
    let offered = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("offered", 1_500, "sales", "desk-3", "best_agent"),
            d("assigned", 1_600, "sales", "late-1", "offer_accepted"),
        ],
    );
    let story = replay(&t, "assigned", &offered, &["desk-0", "late-1"]);
    assert_eq!(story.problems, ["c1: offered to desk-3 500 ms after the transfer to late-1, before its timeout"]);
    // The router logged the suggested agent, but the harness saw another agent get it.
    let good = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("assigned", 2_000, "sales", "late-1", "suggested_agent"),
        ],
    );
    let story = replay(&t, "assigned", &good, &["desk-0", "desk-5"]);
    assert_eq!(
        story.problems,
        [
            "c1: desk-5 got it after the transfer to late-1 (no timeout)",
            "c1: assigned to late-1 by the router, who never got it",
        ]
    );
}

#[test]
fn an_early_wrong_or_missing_timeout_fails() {
    let t = to_agent("c1", "gone-0");
    // 30 s into a 60 s maximum wait.
    let early = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("moved", 31_000, "sales", "gone-0", "suggested_agent_timeout"),
            d("assigned", 31_100, "sales", "desk-1", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &early, &["desk-0", "desk-1"]);
    assert_eq!(story.problems, ["c1: timed out 30000 ms after the transfer, before the maximum wait (60000 ms)"]);
    assert_eq!(failed(&judge_one(&t, story)), [TO_AGENT_CHECK]);
    // A timeout naming another agent.
    let wrong = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("moved", 61_000, "sales", "late-0", "suggested_agent_timeout"),
            d("assigned", 61_100, "sales", "desk-1", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &wrong, &["desk-0", "desk-1"]);
    assert_eq!(story.problems, ["c1: the timeout names \"late-0\", not the suggested gone-0"]);
    // Never served, still queued after the drain.
    let waiting = with(opened(), &[d("queued", 1_000, "sales", "desk-0", "transfer_to_agent")]);
    let story = replay(&t, "queued", &waiting, &["desk-0"]);
    assert_eq!(story.outcome, Outcome::Broken);
    assert!(
        story.problems[0].starts_with("c1: never served after the transfer (queued): queued sales new"),
        "{story:?}"
    );
    // No transfer decision at all.
    let story = replay(&t, "assigned", &opened(), &["desk-0"]);
    assert!(story.problems[0].starts_with("c1: no `queued transfer_to_agent` decision"), "{story:?}");
    // Timed out, then taken by an agent who does not hold the skill.
    let outsider = with(
        opened(),
        &[
            d("queued", 1_000, "sales", "desk-0", "transfer_to_agent"),
            d("moved", 61_000, "sales", "gone-0", "suggested_agent_timeout"),
            d("assigned", 61_100, "sales", "billing-0", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &outsider, &["desk-0", "billing-0"]);
    assert_eq!(story.problems, ["c1: assigned to billing-0, who does not hold skill \"sales\""]);
    // Closed while it waited: an outcome, not a failure.
    let story = replay(&t, "closed", &waiting, &["desk-0"]);
    assert_eq!((story.outcome, story.problems.len()), (Outcome::ClosedWaiting, 0));
}

#[test]
fn a_transfer_to_a_skill_served_elsewhere_fails() {
    let t = to_skill("c1", "billing");
    let elsewhere = with(
        opened(),
        &[d("queued", 1_000, "billing", "desk-0", "transfer"), d("assigned", 1_100, "sales", "desk-1", "fallback")],
    );
    let story = replay(&t, "assigned", &elsewhere, &["desk-0", "desk-1"]);
    assert_eq!(story.problems, ["c1: assigned on \"sales\", not on billing where it was transferred"]);
    assert_eq!(failed(&judge_one(&t, story)), [TO_SKILL_CHECK]);
    // Moved to another skill on the way.
    let moved = with(
        opened(),
        &[
            d("queued", 1_000, "billing", "desk-0", "transfer"),
            d("moved", 1_050, "sales", "", "fallback"),
            d("assigned", 1_100, "billing", "billing-0", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &moved, &["desk-0", "billing-0"]);
    assert_eq!(story.problems, ["c1: moved to skill sales (fallback) 50 ms after the transfer"]);
    // Queued from another agent than the one the harness transferred it from.
    let other = with(
        opened(),
        &[
            d("queued", 1_000, "billing", "desk-9", "transfer"),
            d("assigned", 1_100, "billing", "billing-0", "best_agent"),
        ],
    );
    let story = replay(&t, "assigned", &other, &["desk-0", "billing-0"]);
    assert_eq!(story.problems, ["c1: queued for the transfer from \"desk-9\", the harness transferred it from desk-0"]);
}

#[test]
fn refusals_against_the_targets_state_fail() {
    let check = |t: Issued| {
        let mut tally = Tally::default();
        tally.issued.insert(0, t);
        let (checks, _) = judge(&Input { tally: &tally, stories: &[], unexplained: &[], max_wait_ms: 60_000 });
        let c = checks.into_iter().find(|c| c.name == REACH_CHECK).unwrap();
        (c.passed, c.ids)
    };
    let refused = |state: Option<Option<Presence>>| Issued {
        refused: Some("FAILED_PRECONDITION".into()),
        target_state: state,
        ..to_agent("c1", "late-0")
    };
    // Refused while BACK_SOON: agents may reach BACK_SOON agents.
    assert_eq!(
        check(refused(Some(Some(Presence::BackSoon)))),
        (false, vec!["c1: the transfer to late-0 (back_soon) was refused (FAILED_PRECONDITION)".to_owned()])
    );
    // Accepted while AWAY, or logged out.
    let accepted = |state| Issued { target_state: state, ..to_agent("c1", "away-0") };
    assert_eq!(
        check(accepted(Some(Some(Presence::Away)))),
        (false, vec!["c1: transferred to away-0 (away): agents may not reach it".to_owned()])
    );
    assert!(!check(accepted(Some(None))).0);
    // Refused while AWAY or logged out, or while its state changed: fine.
    assert!(check(refused(Some(Some(Presence::Away)))).0);
    assert!(check(refused(Some(None))).0);
    assert!(check(refused(None)).0);
    // No transfer to a skill is refused: the scenario sets no transfer lists.
    let skill = Issued { refused: Some("FAILED_PRECONDITION".into()), ..to_skill("c2", "billing") };
    assert_eq!(
        check(skill),
        (false, vec!["c2: the transfer to skill billing was refused (FAILED_PRECONDITION)".to_owned()])
    );
}

#[test]
fn unexplained_transfers_fail_the_router_checks() {
    let tally = Tally::default();
    let unexplained = ["c9 (UNAVAILABLE down)".to_owned()];
    let (checks, s) = judge(&Input { tally: &tally, stories: &[], unexplained: &unexplained, max_wait_ms: 60_000 });
    assert_eq!(failed(&checks), [TO_AGENT_CHECK, TO_SKILL_CHECK]);
    assert_eq!(s.unexplained, 1);
    assert!(checks[0].ids.contains(&"c9 (UNAVAILABLE down): not explained".to_owned()), "{checks:?}");
}
