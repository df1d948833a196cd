use std::time::Duration;

use super::*;

const S: u64 = 1_000_000;

fn agents() -> Vec<AgentInfo> {
    vec![AgentInfo { account: 0, id: "a-0".into(), max_conversations: 2 }]
}

/// Weights 1.0 / 0.1 after 2 s, headroom 0.5 (the `inactive` scenario's).
fn weighted() -> Capacity {
    Capacity {
        active_weight: 1.0,
        inactive_weight: 0.1,
        time_to_inactive: Duration::from_secs(2),
        headroom: 0.5,
        warmup: None,
        expect_beyond_max: false,
    }
}

/// Assigned to agent 0 at `at`, first reply at `reply`, close issued at `closed`.
fn conv(at: u64, reply: Option<u64>, closed: Option<u64>) -> ConvObs {
    ConvObs {
        conversation_ids: vec![format!("c{at}")],
        assignments: vec![(0, at)],
        first_replies: reply.map(|r| vec![(0, r)]).unwrap_or_default(),
        close_issued_us: closed,
        ..ConvObs::default()
    }
}

fn failed(checks: &[Check]) -> Vec<(&str, &[String])> {
    checks.iter().filter(|c| !c.passed).map(|c| (c.name.as_str(), c.ids.as_slice())).collect()
}

#[test]
fn r8_3_quiet_conversations_weigh_the_inactive_weight_so_an_agent_holds_more_than_max() {
    // Max 2: two answered at 0 s and 1 s went quiet by 3.1 s (0.2), so a third and fourth fit
    // (0.2 + 1.0 + 1.0 = 2.2 <= 2.5).
    let convs = [
        conv(0, Some(S / 10), None),
        conv(S, Some(S + S / 10), None),
        conv(4 * S, None, None),
        conv(5 * S, None, None),
    ];
    let mut capacity = weighted();
    capacity.expect_beyond_max = true;
    let checks = judge(&convs, &agents(), &BTreeMap::new(), &capacity);
    assert!(failed(&checks).is_empty(), "{:?}", failed(&checks));
    assert!(checks[1].detail.contains("a-0 (held 4, max 2)"), "{}", checks[1].detail);
}

#[test]
fn r8_6_an_assignment_past_max_plus_headroom_is_named() {
    // The first is not quiet before 2.1 s, so at 1.5 s the third makes 3.0 > 2.5.
    let convs = [conv(0, Some(S / 10), None), conv(S, None, None), conv(S + S / 2, None, None)];
    let checks = judge(&convs, &agents(), &BTreeMap::new(), &weighted());
    let failed = failed(&checks);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "no agent over its maximum (weighted load)");
    assert_eq!(failed[0].1, ["a-0 (load 3.0 at 1.500 s, max 2 + headroom 0.5)"]);
}

#[test]
fn an_unanswered_conversation_never_weighs_less_and_a_close_frees_it() {
    // Never answered: active forever, so a third at 10 s is over.
    let convs = [conv(0, None, None), conv(S, None, None), conv(10 * S, None, None)];
    assert!(!failed(&judge(&convs, &agents(), &BTreeMap::new(), &weighted())).is_empty());
    // The first closed at 9 s: room again.
    let convs = [conv(0, None, Some(9 * S)), conv(S, None, None), conv(10 * S, None, None)];
    assert!(failed(&judge(&convs, &agents(), &BTreeMap::new(), &weighted())).is_empty());
}

#[test]
fn expecting_more_than_max_fails_a_run_where_no_agent_got_there() {
    let mut capacity = weighted();
    capacity.expect_beyond_max = true;
    let checks = judge(&[conv(0, Some(S), Some(2 * S))], &agents(), &BTreeMap::new(), &capacity);
    assert_eq!(failed(&checks)[0].0, "agents held more than their maximum (inactive weights)");
}

fn warming() -> Capacity {
    let warmup = Warmup { interval: Duration::from_secs(15), max_period: Duration::from_secs(60) };
    Capacity { inactive_weight: 1.0, warmup: Some(warmup), ..weighted() }
}

#[test]
fn r8_12_warm_up_feeds_one_at_login_then_one_per_interval() {
    // Logged in at 5 s: 1 at once, a second at 20 s, the maximum (2) reached.
    let logins = BTreeMap::from([(0, 5 * S)]);
    let convs = [conv(5 * S + 1000, None, None), conv(20 * S + 2000, None, None)];
    assert!(failed(&judge(&convs, &agents(), &logins, &warming())).is_empty());
    // A second at 12 s is too soon, even when the first was closed by then: the steps count
    // assignments, not what is held.
    let convs = [conv(5 * S + 1000, None, Some(8 * S)), conv(12 * S, None, None), conv(36 * S, None, None)];
    let checks = judge(&convs, &agents(), &logins, &warming());
    let failed = failed(&checks);
    assert_eq!(failed[0].0, "warm-up: one more conversation per interval after login");
    assert_eq!(failed[0].1, ["a-0 (assignment 2 at 7.000 s after login, warm-up allows 1)"]);
}

#[test]
fn r8_12_an_agent_that_never_reached_its_maximum_was_not_fed() {
    let logins = BTreeMap::from([(0, 5 * S)]);
    let checks = judge(&[conv(6 * S, None, None)], &agents(), &logins, &warming());
    assert_eq!(
        failed(&checks),
        [(
            "warm-up: agents logging in during a backlog are fed up to max",
            &["a-0 (held at most 1, max 2)".to_owned()][..]
        )]
    );
}

#[test]
fn r8_13_after_the_maximum_period_warm_up_no_longer_limits() {
    let logins = BTreeMap::from([(0, 0)]);
    let convs = [conv(61 * S, None, None), conv(61 * S + 1, None, None)];
    assert!(failed(&judge(&convs, &agents(), &logins, &warming())).is_empty());
}
