//! The invariant audit (architecture §6), computed only from what the simulated partners and
//! agents observed. A failed check names the offending ids.

use std::collections::BTreeMap;

use crate::observe::{Anomaly, CodeTable, ConvObs};
use crate::result::{Audit, Check};

/// Calls the harness makes for itself (queue depth samples), not as a simulated client: their
/// failures show in the errors table but are not failures of the run (a backlog left after
/// the drain is its own check).
pub const HARNESS_METHODS: [&str; 1] = ["GetQueue"];

/// Ids listed per failed check.
const MAX_IDS: usize = 50;

/// A simulated agent as the audit needs it.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub account: u32,
    pub id: String,
    pub max_conversations: u32,
}

pub struct Input<'a> {
    pub convs: &'a [ConvObs],
    pub agents: &'a [AgentInfo],
    pub anomalies: &'a BTreeMap<Anomaly, Vec<String>>,
    /// Calls that failed for good: method -> code -> count (expected refusals excluded).
    pub failures: &'a CodeTable,
    /// Sum of queue depths over every skill after the drain; None if it could not be read.
    pub final_queue_depth: Option<u64>,
    /// Capacity is weighted (`[capacity]`): invariant 2 is judged on weighted load by
    /// `crate::capacity_audit` instead of open conversations here.
    pub weighted: bool,
}

fn conv_id(idx: usize, c: &ConvObs) -> String {
    c.conversation_ids.first().cloned().unwrap_or_else(|| format!("consumer c{idx}"))
}

fn check(name: &str, invariant: u8, offenders: Vec<String>, what: &str) -> Check {
    let passed = offenders.is_empty();
    let detail = if passed { "ok".to_owned() } else { format!("{} {what}", offenders.len()) };
    Check { name: name.to_owned(), invariant, passed, detail, ids: offenders.into_iter().take(MAX_IDS).collect() }
}

/// Runs every check; the audit passes when all do.
pub fn audit(input: &Input<'_>) -> Audit {
    let convs = input.convs.iter().enumerate();
    let mut checks = Vec::new();

    // Distinct agents holding the conversation; an agent whose stream said it was taken away
    // (a requeue) no longer holds it.
    let holders = |c: &ConvObs| c.assignments.iter().filter(|(a, _)| !c.unassigned.contains(a)).count();
    let twice: Vec<String> = convs
        .clone()
        .filter(|(_, c)| holders(c) > 1)
        .map(|(i, c)| {
            let agents: Vec<&str> = c
                .assignments
                .iter()
                .filter_map(|(a, _)| input.agents.get(*a as usize))
                .map(|a| a.id.as_str())
                .collect();
            format!("{} (agents {})", conv_id(i, c), agents.join(", "))
        })
        .collect();
    checks.push(check("at most one assignment per conversation", 1, twice, "conversations assigned more than once"));

    if !input.weighted {
        checks.push(check(
            "no agent over its maximum",
            2,
            agents_over_max(input),
            "agents held more than their maximum",
        ));
    }

    let lost = |f: &dyn Fn(&ConvObs) -> bool| -> Vec<String> {
        convs.clone().filter(|(_, c)| c.opened() && f(c)).map(|(i, c)| conv_id(i, c)).collect()
    };
    checks.push(check(
        "every opened conversation assigned",
        3,
        lost(&|c| c.assignments.is_empty()),
        "conversations opened and never assigned",
    ));
    let undelivered = |sent: &[bool], delivered: &[u32]| {
        sent.iter().enumerate().any(|(n, s)| *s && delivered.get(n).copied().unwrap_or(0) == 0)
    };
    checks.push(check(
        "every consumer message reached the agent",
        3,
        lost(&|c| !c.assignments.is_empty() && undelivered(&c.consumer_sent, &c.consumer_delivered)),
        "conversations with a consumer message the agent never received",
    ));
    checks.push(check(
        "every agent reply reached the partner",
        3,
        lost(&|c| undelivered(&c.replies_sent, &c.replies_delivered)),
        "conversations with an agent reply the partner never received",
    ));
    // An auto close (R13.5) is a close the partner saw: counted apart, never lost.
    checks.push(check(
        "every conversation closed",
        3,
        lost(&|c| !c.closed_seen),
        "conversations the partner never saw closed",
    ));

    let mut calls = check("no call failed", 3, failed_calls(input.failures), "");
    if !calls.passed {
        let total: u64 = input
            .failures
            .iter()
            .filter(|(method, _)| !HARNESS_METHODS.contains(&method.as_str()))
            .flat_map(|(_, codes)| codes.values())
            .sum();
        calls.detail = format!("{total} calls failed (refused, or still failing after their retries)");
    }
    checks.push(calls);

    let anomaly = |kind: Anomaly| input.anomalies.get(&kind).cloned().unwrap_or_default();
    checks.push(check(
        "partner stream in sequence order",
        4,
        anomaly(Anomaly::OutOfOrder),
        "outbound events whose sequence did not increase",
    ));
    checks.push(check(
        "nothing reaches the partner after a close",
        4,
        anomaly(Anomaly::AfterClose),
        "agent messages or joins on the partner stream after the conversation's close",
    ));

    let backlog = match input.final_queue_depth {
        Some(0) => Vec::new(),
        Some(depth) => vec![format!("{depth} conversations still queued after the drain")],
        None => vec!["queue depth could not be read after the drain".to_owned()],
    };
    checks.push(check("backlog drained", 5, backlog, "problem"));

    let duplicated: Vec<String> = convs
        .clone()
        .filter(|(_, c)| c.conversation_ids.len() > 1 || c.created > 1)
        .map(|(i, c)| format!("consumer c{i}: {}", c.conversation_ids.join(", ")))
        .collect();
    checks.push(check(
        "no duplicate conversation from a burst",
        6,
        duplicated,
        "consumers with more than one conversation",
    ));

    checks.push(check(
        "no other account's data",
        7,
        anomaly(Anomaly::ForeignAccount),
        "events for another account's conversation",
    ));
    checks.push(check(
        "every event names something this run created",
        0,
        anomaly(Anomaly::Unknown),
        "events for unknown conversations or messages",
    ));

    Audit { passed: checks.iter().all(|c| c.passed), checks }
}

/// Adds checks computed elsewhere (the queue-order audit, `crate::priority`); the audit
/// passes only if they pass too.
pub fn add_checks(audit: &mut Audit, checks: Vec<Check>) {
    audit.checks.extend(checks);
    audit.passed = audit.checks.iter().all(|c| c.passed);
}

/// "OpenConversation NOT_FOUND: 3" per method and code, harness-only methods left out.
fn failed_calls(failures: &CodeTable) -> Vec<String> {
    failures
        .iter()
        .filter(|(method, _)| !HARNESS_METHODS.contains(&method.as_str()))
        .flat_map(|(method, codes)| codes.iter().map(move |(code, n)| format!("{method} {code}: {n}")))
        .collect()
}

/// Invariant 2 from the agents' side: at every assignment, count the agent's conversations
/// assigned and not yet closed (or transferred away by that agent). A close or a transfer
/// counts from the moment it was issued, which is before the service can free the capacity,
/// so a correct service never trips this.
fn agents_over_max(input: &Input<'_>) -> Vec<String> {
    let mut events: BTreeMap<u32, Vec<(u64, i32)>> = BTreeMap::new();
    for c in input.convs {
        for (agent, at) in &c.assignments {
            let e = events.entry(*agent).or_default();
            e.push((*at, 1));
            let released = c.released.iter().filter(|(a, _)| a == agent).map(|(_, t)| *t).min();
            if let Some(end) = released.or(c.close_issued_us) {
                e.push((end.max(*at), -1));
            }
        }
    }
    let mut offenders = Vec::new();
    for (agent, mut e) in events {
        // Closes before assignments at the same instant.
        e.sort_unstable();
        let (mut held, mut peak) = (0i32, 0i32);
        for (_, delta) in e {
            held += delta;
            peak = peak.max(held);
        }
        let Some(info) = input.agents.get(agent as usize) else { continue };
        if peak > info.max_conversations as i32 {
            offenders.push(format!("{} (held {peak}, max {})", info.id, info.max_conversations));
        }
    }
    offenders
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agents() -> Vec<AgentInfo> {
        vec![
            AgentInfo { account: 0, id: "a-0".into(), max_conversations: 1 },
            AgentInfo { account: 0, id: "a-1".into(), max_conversations: 2 },
        ]
    }

    /// A conversation that went right: opened, assigned to `agent` at `at`, message and reply
    /// delivered, closed at `closed`.
    fn good(id: &str, agent: u32, at: u64, closed: u64) -> ConvObs {
        ConvObs {
            conversation_ids: vec![id.into()],
            created: 1,
            assignments: vec![(agent, at)],
            close_issued_us: Some(closed),
            closed_seen: true,
            consumer_sent: vec![true],
            consumer_delivered: vec![1],
            replies_sent: vec![true],
            replies_delivered: vec![1],
            ..ConvObs::default()
        }
    }

    fn run(convs: &[ConvObs], depth: Option<u64>) -> Audit {
        let anomalies = BTreeMap::new();
        let agents = agents();
        let failures = CodeTable::new();
        audit(&Input {
            convs,
            agents: &agents,
            anomalies: &anomalies,
            failures: &failures,
            final_queue_depth: depth,
            weighted: false,
        })
    }

    fn failed(audit: &Audit) -> Vec<(String, Vec<String>)> {
        audit.checks.iter().filter(|c| !c.passed).map(|c| (c.name.clone(), c.ids.clone())).collect()
    }

    #[test]
    fn a_clean_run_passes_every_check() {
        // a-0 (max 1) holds x then y back to back: the close at 20 comes before the assignment at 20.
        let convs = [good("x", 0, 10, 20), good("y", 0, 20, 30), good("z", 1, 5, 40)];
        let audit = run(&convs, Some(0));
        assert!(audit.passed, "{:?}", failed(&audit));
        assert!(audit.checks.len() >= 9);
    }

    #[test]
    fn invariant_1_a_conversation_assigned_twice_is_named_with_its_agents() {
        let mut c = good("x", 0, 10, 20);
        c.assignments.push((1, 12));
        let audit = run(&[c], Some(0));
        assert!(!audit.passed);
        assert_eq!(
            failed(&audit)[0],
            ("at most one assignment per conversation".into(), vec!["x (agents a-0, a-1)".into()])
        );
    }

    #[test]
    fn invariant_2_an_agent_over_its_maximum_is_named() {
        // a-0 has max 1 but holds x and y from 15 to 20.
        let audit = run(&[good("x", 0, 10, 20), good("y", 0, 15, 30)], Some(0));
        assert_eq!(failed(&audit), vec![("no agent over its maximum".into(), vec!["a-0 (held 2, max 1)".into()])]);
    }

    #[test]
    fn invariant_3_lost_conversations_messages_and_replies_are_named() {
        let mut unassigned = good("u", 0, 0, 0);
        unassigned.assignments.clear();
        unassigned.closed_seen = false;
        let mut no_message = good("m", 1, 10, 20);
        no_message.consumer_delivered = vec![0];
        let mut no_reply = good("r", 1, 30, 40);
        no_reply.replies_delivered.clear();
        let audit = run(&[unassigned, no_message, no_reply], Some(0));
        let failed = failed(&audit);
        assert!(failed.contains(&("every opened conversation assigned".into(), vec!["u".into()])), "{failed:?}");
        assert!(failed.contains(&("every consumer message reached the agent".into(), vec!["m".into()])), "{failed:?}");
        assert!(failed.contains(&("every agent reply reached the partner".into(), vec!["r".into()])), "{failed:?}");
        assert!(failed.contains(&("every conversation closed".into(), vec!["u".into()])), "{failed:?}");
    }

    #[test]
    fn invariant_5_a_backlog_left_in_the_queue_fails() {
        let audit = run(&[good("x", 0, 10, 20)], Some(3));
        assert_eq!(failed(&audit)[0].0, "backlog drained");
        assert!(failed(&audit)[0].1[0].contains("3 conversations still queued"));
        assert!(!run(&[good("x", 0, 10, 20)], None).passed);
    }

    #[test]
    fn invariant_6_two_conversations_for_one_consumer_fail() {
        let mut c = good("x", 0, 10, 20);
        c.conversation_ids.push("x2".into());
        c.created = 2;
        let audit = run(&[c], Some(0));
        assert_eq!(
            failed(&audit),
            vec![("no duplicate conversation from a burst".into(), vec!["consumer c0: x, x2".into()])]
        );
    }

    #[test]
    fn anomalies_fail_their_invariant() {
        let mut anomalies = BTreeMap::new();
        anomalies.insert(Anomaly::ForeignAccount, vec!["conv-9".to_owned()]);
        anomalies.insert(Anomaly::OutOfOrder, vec!["seq 4 after 7".to_owned()]);
        anomalies.insert(Anomaly::AfterClose, vec!["conv-3: agent message after close (sequence 12)".to_owned()]);
        let agents = agents();
        let audit = audit(&Input {
            convs: &[good("x", 0, 1, 2)],
            agents: &agents,
            anomalies: &anomalies,
            failures: &CodeTable::new(),
            final_queue_depth: Some(0),
            weighted: false,
        });
        let failed = failed(&audit);
        let names: Vec<_> = failed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "partner stream in sequence order",
                "nothing reaches the partner after a close",
                "no other account's data"
            ]
        );
        assert_eq!(failed[1].1, ["conv-3: agent message after close (sequence 12)"]);
        let after_close = audit.checks.iter().find(|c| c.name == "nothing reaches the partner after a close").unwrap();
        assert_eq!(after_close.invariant, 4);
    }

    #[test]
    fn a_refused_open_fails_the_run_naming_method_and_code() {
        // The refused conversation never opened, so only the failure check can see it.
        let mut refused = ConvObs { open_failed: true, ..ConvObs::default() };
        refused.conversation_ids.clear();
        let mut failures = CodeTable::new();
        failures.entry("OpenConversation".into()).or_default().insert("NOT_FOUND".into(), 2);
        failures.entry("SendMessage".into()).or_default().insert("UNAVAILABLE".into(), 1);
        // Queue depth samples are the harness's own reads: shown, but not a failure of the run.
        failures.entry("GetQueue".into()).or_default().insert("UNAVAILABLE".into(), 4);
        let agents = agents();
        let audit = audit(&Input {
            convs: &[good("x", 0, 1, 2), refused],
            agents: &agents,
            anomalies: &BTreeMap::new(),
            failures: &failures,
            final_queue_depth: Some(0),
            weighted: false,
        });
        assert!(!audit.passed);
        let failed = failed(&audit);
        assert_eq!(
            failed,
            vec![(
                "no call failed".into(),
                vec!["OpenConversation NOT_FOUND: 2".into(), "SendMessage UNAVAILABLE: 1".into()]
            )]
        );
        let check = audit.checks.iter().find(|c| c.name == "no call failed").unwrap();
        assert_eq!(check.invariant, 3);
        assert!(check.detail.starts_with("3 calls failed"), "{}", check.detail);
    }

    #[test]
    fn one_agent_told_twice_is_one_assignment_and_a_requeue_is_not_a_second() {
        // Told twice (a snapshot after a re-subscribe): the collector keeps one entry per agent.
        let audit = run(&[good("x", 0, 10, 20)], Some(0));
        assert!(audit.passed, "{:?}", failed(&audit));
        // Taken from a-0 (requeued), then given to a-1: one holder at a time.
        let mut moved = good("y", 0, 10, 40);
        moved.assignments.push((1, 30));
        moved.unassigned.push(0);
        let audit = run(&[moved], Some(0));
        assert!(audit.passed, "{:?}", failed(&audit));
    }

    #[test]
    fn a_transfer_frees_the_agent_that_made_it() {
        // a-0 (max 1) transfers x to a-1 at 15 and gets y at 16; x closes at 40.
        let mut x = good("x", 0, 10, 40);
        x.assignments.push((1, 17));
        x.unassigned.push(0);
        x.released.push((0, 15));
        let y = good("y", 0, 16, 30);
        let audit = run(&[x.clone(), y.clone()], Some(0));
        assert!(audit.passed, "{:?}", failed(&audit));
        // Without the transfer a-0 held both.
        x.released.clear();
        assert_eq!(failed(&run(&[x, y], Some(0)))[0].0, "no agent over its maximum");
    }
}
