//! The offer audit of scenarios whose `routing.acd_mode` rings (ring-one, ring-all).
//!
//! Two views are judged. The harness's own (a [`Tally`] the simulated agents fill in): what
//! they were offered and how each answer went, which conversations each agent accepted, and
//! when each agent first logged in. The router's (`ExplainRouting` of a bounded sample of the
//! conversations after the drain, see `sim/routing.rs`): from each conversation's decisions,
//! oldest first, [`ConvOffers::from_decisions`] replays the offers — an `offered` rings for
//! the agents it names; a `rejected` stops it ringing for its agent (the offer is over when
//! nobody is left); an `expired` or an `assigned` (reason `offer_accepted`) ends it.
//!
//! Checks:
//! - **one live offer per conversation**: no `offered` while the previous offer still rang,
//!   and no outcome naming no ringing offer (after the first `offered`: the log keeps the
//!   latest 32 decisions, so older ones may be cut);
//! - **one accept per assignment**: every `assigned` of a ringing conversation ends a ringing
//!   offer (two accepts of one offer fail), every conversation an agent was assigned has
//!   exactly one accept in its decisions, and no two agents' `AcceptOffer` both succeeded for
//!   one conversation;
//! - **every offer resolved**: the last offer of each explained conversation ended;
//! - **offers only to logged-in agents**: no agent got an offer on its stream while the
//!   harness had it logged out, and no `offered` decision names an agent before the harness
//!   first logged it in (`LOGIN_SKEW_MS` allowed between the two clocks).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};
use switchyard_proto::admin::v1::RoutingDecision;

use crate::result::Check;

pub const OVERLAP_CHECK: &str = "one live offer per conversation";
pub const ACCEPT_CHECK: &str = "one accept per assignment";
pub const RESOLVED_CHECK: &str = "every offer resolved";
pub const ONLINE_CHECK: &str = "offers only to logged-in agents";
/// Every check the offer audit adds.
pub const CHECKS: [&str; 4] = [OVERLAP_CHECK, ACCEPT_CHECK, RESOLVED_CHECK, ONLINE_CHECK];

/// Ids named in a failed check.
const MAX_EXAMPLES: usize = 10;
/// How much earlier than the harness's login call the router's clock may put an offer to
/// that agent (the two clocks are not the same one when the target is remote).
pub const LOGIN_SKEW_MS: i64 = 1_000;

/// What the offer audit found: the result's `offers` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OfferSummary {
    /// `ring_one` or `ring_all`.
    pub mode: String,
    /// Offers the agents received on their streams (a repeat in a snapshot counts once).
    pub received: u64,
    /// `AcceptOffer` calls that succeeded.
    pub accepted: u64,
    /// `RejectOffer` calls that succeeded.
    pub rejected: u64,
    /// Offers the agents chose to leave ringing.
    pub ignored: u64,
    /// `OfferEnded` events by reason, as the agents received them.
    pub ended_expired: u64,
    pub ended_rescinded: u64,
    pub ended_rejected: u64,
    /// Accepts answered FAILED_PRECONDITION: another agent accepted first, or it rang out.
    pub lost_accept_races: u64,
    /// Rejects answered FAILED_PRECONDITION: the offer had ended meanwhile.
    pub late_rejects: u64,
    /// The router's view over the explained conversations.
    pub explained: u64,
    pub unexplained: u64,
    pub decisions_offered: u64,
    pub decisions_accepted: u64,
    pub decisions_rejected: u64,
    pub decisions_expired: u64,
}

impl OfferSummary {
    /// The `offers:` line of the terminal table.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} received, {} accepted, {} rejected, {} ignored; ended {} expired, {} rescinded, {} rejected; {} lost accept races, {} late rejects; router ({} explained): {} offered, {} accepted, {} rejected, {} expired",
            self.mode,
            self.received,
            self.accepted,
            self.rejected,
            self.ignored,
            self.ended_expired,
            self.ended_rescinded,
            self.ended_rejected,
            self.lost_accept_races,
            self.late_rejects,
            self.explained,
            self.decisions_offered,
            self.decisions_accepted,
            self.decisions_rejected,
            self.decisions_expired,
        )
    }
}

/// The harness's view of the offers, filled in by the simulated agents as they go.
#[derive(Debug, Default)]
pub struct Tally {
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub ignored: u64,
    pub ended_expired: u64,
    pub ended_rescinded: u64,
    pub ended_rejected: u64,
    pub lost_accept_races: u64,
    pub late_rejects: u64,
    /// Offers received while the harness had the agent logged out: "agent (offer)".
    pub while_logged_out: Vec<String>,
    /// Conversation id -> the agents whose `AcceptOffer` of it succeeded.
    pub accepts: BTreeMap<String, BTreeSet<String>>,
    /// "<account index>/<agent id>" -> when the harness first called `Login` (epoch ms).
    pub first_login_ms: BTreeMap<String, i64>,
}

impl Tally {
    pub fn login_key(account: u32, agent: &str) -> String {
        format!("{account}/{agent}")
    }
}

/// One explained conversation, replayed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvOffers {
    pub conversation_id: String,
    pub account: u32,
    pub offered: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub expired: u64,
    /// What broke the one-live-offer rule, in words.
    pub overlaps: Vec<String>,
    /// Accepts that ended no ringing offer (a second accept), or assignments while ringing
    /// other than by an accept.
    pub bad_accepts: Vec<String>,
    /// The last offer still rang at the end of the log.
    pub unresolved: bool,
    /// (router ms, agent) of every agent an offer rang for.
    pub rang: Vec<(i64, String)>,
    /// The decisions in short ("queued, offered a-1, expired, assigned a-2 best_agent"), to
    /// name what happened when a check fails.
    pub trail: String,
}

impl ConvOffers {
    /// Replays a conversation's decisions, oldest first.
    pub fn from_decisions(conversation_id: &str, account: u32, decisions: &[RoutingDecision]) -> Self {
        let mut c = ConvOffers { conversation_id: conversation_id.to_owned(), account, ..Self::default() };
        // The agents the live offer still rings for; None: no offer rings.
        let mut ringing: Option<HashSet<String>> = None;
        let mut seen_offer = false;
        for d in decisions {
            let at = d.at_ms;
            match d.kind.as_str() {
                "offered" => {
                    c.offered += 1;
                    if ringing.is_some() {
                        c.overlaps.push(format!("{conversation_id}: offered at {at} while an earlier offer rang"));
                    }
                    let agents: HashSet<String> =
                        d.agent_id.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect();
                    c.rang.extend(agents.iter().map(|a| (at, a.clone())));
                    ringing = Some(agents);
                    seen_offer = true;
                }
                "rejected" => {
                    c.rejected += 1;
                    let stopped = ringing.as_mut().is_some_and(|agents| agents.remove(&d.agent_id));
                    if ringing.as_ref().is_some_and(HashSet::is_empty) {
                        ringing = None;
                    }
                    if !stopped && seen_offer {
                        c.overlaps.push(format!(
                            "{conversation_id}: rejected at {at} by {} with no offer ringing for it",
                            d.agent_id
                        ));
                    }
                }
                "expired" => {
                    c.expired += 1;
                    if ringing.take().is_none() && seen_offer {
                        c.overlaps.push(format!("{conversation_id}: expired at {at} with no offer ringing"));
                    }
                }
                "assigned" => {
                    let accept = d.reason == "offer_accepted";
                    if accept {
                        c.accepted += 1;
                    }
                    match ringing.take() {
                        Some(agents) if accept && agents.contains(&d.agent_id) => {}
                        Some(_) if accept => c.bad_accepts.push(format!(
                            "{conversation_id}: accepted at {at} by {}, whom the offer did not ring for",
                            d.agent_id
                        )),
                        Some(_) => c
                            .bad_accepts
                            .push(format!("{conversation_id}: assigned at {at} ({}) while an offer rang", d.reason)),
                        None if accept && seen_offer => c.bad_accepts.push(format!(
                            "{conversation_id}: accepted at {at} by {} with no offer ringing (a second accept)",
                            d.agent_id
                        )),
                        None => {}
                    }
                }
                _ => {}
            }
        }
        c.unresolved = ringing.is_some();
        c.trail = trail(decisions);
        c
    }
}

fn trail(decisions: &[RoutingDecision]) -> String {
    trail_of(decisions, |d| [d.agent_id.as_str(), d.reason.as_str()].into_iter())
}

/// A conversation's decisions in a line for a failed check: each decision's kind followed by
/// the non-empty `fields` of it, e.g. "queued new, offered ann best_agent".
pub(crate) fn trail_of<'d, I>(decisions: &'d [RoutingDecision], fields: impl Fn(&'d RoutingDecision) -> I) -> String
where
    I: Iterator<Item = &'d str>,
{
    let parts: Vec<String> = decisions
        .iter()
        .map(|d| {
            let mut part = d.kind.clone();
            for extra in fields(d).filter(|f| !f.is_empty()) {
                part.push(' ');
                part.push_str(extra);
            }
            part
        })
        .collect();
    parts.join(", ")
}

/// What the checks need besides the explained conversations.
pub struct Input<'a> {
    pub mode: &'a str,
    pub tally: &'a Tally,
    pub explained: &'a [ConvOffers],
    /// Sampled conversations that could not be explained, with why.
    pub unexplained: &'a [String],
    /// Explained conversations an agent was assigned (harness view), by conversation id.
    pub assigned: &'a HashSet<String>,
    /// Account index -> agent ids of the run (every agent an offer may name).
    pub agents: &'a BTreeSet<(u32, String)>,
}

/// The four checks and the numbers.
pub fn judge(input: &Input<'_>) -> (Vec<Check>, OfferSummary) {
    let t = input.tally;
    let mut summary = OfferSummary {
        mode: input.mode.to_owned(),
        received: t.received,
        accepted: t.accepted,
        rejected: t.rejected,
        ignored: t.ignored,
        ended_expired: t.ended_expired,
        ended_rescinded: t.ended_rescinded,
        ended_rejected: t.ended_rejected,
        lost_accept_races: t.lost_accept_races,
        late_rejects: t.late_rejects,
        explained: input.explained.len() as u64,
        unexplained: input.unexplained.len() as u64,
        ..OfferSummary::default()
    };
    let (mut overlaps, mut bad_accepts, mut unresolved, mut early) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for c in input.explained {
        summary.decisions_offered += c.offered;
        summary.decisions_accepted += c.accepted;
        summary.decisions_rejected += c.rejected;
        summary.decisions_expired += c.expired;
        overlaps.extend(c.overlaps.iter().cloned());
        bad_accepts.extend(c.bad_accepts.iter().cloned());
        if input.assigned.contains(&c.conversation_id) && c.accepted != 1 {
            bad_accepts.push(format!(
                "{}: assigned, with {} accepts in its decisions (expected 1): {}",
                c.conversation_id, c.accepted, c.trail
            ));
        }
        if c.unresolved {
            unresolved.push(format!("{}: its last offer never ended: {}", c.conversation_id, c.trail));
        }
        for (at, agent) in &c.rang {
            if !input.agents.contains(&(c.account, agent.clone())) {
                early.push(format!("{}: offered at {at} to {agent}, not an agent of this run", c.conversation_id));
                continue;
            }
            match t.first_login_ms.get(&Tally::login_key(c.account, agent)) {
                Some(login) if *at + LOGIN_SKEW_MS >= *login => {}
                Some(login) => early.push(format!(
                    "{}: offered to {agent} at {at}, {} ms before the harness logged it in",
                    c.conversation_id,
                    login - at
                )),
                None => early
                    .push(format!("{}: offered to {agent} at {at}; the harness never logged it in", c.conversation_id)),
            }
        }
    }
    for (conversation, agents) in &t.accepts {
        if agents.len() > 1 {
            let names: Vec<&str> = agents.iter().map(String::as_str).collect();
            bad_accepts
                .push(format!("{conversation}: accepted by {} (AcceptOffer succeeded for each)", names.join(", ")));
        }
    }
    early.extend(t.while_logged_out.iter().map(|x| format!("{x}: received while logged out")));
    let not_explained: Vec<String> = input.unexplained.iter().map(|id| format!("{id}: not explained")).collect();

    let n = input.explained.len();
    let check = |name: &str, problems: Vec<String>, what: &str, ok: String| {
        let mut ids = problems.clone();
        let mut detail = if problems.is_empty() { ok } else { format!("{} {what}", problems.len()) };
        if !not_explained.is_empty() {
            detail.push_str(&format!("; {} conversations could not be explained", not_explained.len()));
            ids.extend(not_explained.iter().cloned());
        }
        ids.truncate(MAX_EXAMPLES);
        Check {
            name: name.to_owned(),
            invariant: 0,
            passed: problems.is_empty() && not_explained.is_empty(),
            detail,
            ids,
        }
    };
    let checks = vec![
        check(
            OVERLAP_CHECK,
            overlaps,
            "offers overlapped or ended twice",
            format!("{} offers over {n} conversations, never two ringing at once", summary.decisions_offered),
        ),
        check(
            ACCEPT_CHECK,
            bad_accepts,
            "assignments without exactly one accept",
            format!(
                "{} accepts over {n} conversations, one per assignment ({} lost accept races)",
                summary.decisions_accepted, t.lost_accept_races
            ),
        ),
        check(
            RESOLVED_CHECK,
            unresolved,
            "offers never resolved",
            format!(
                "every offer ended: {} accepted, {} rejected, {} expired",
                summary.decisions_accepted, summary.decisions_rejected, summary.decisions_expired
            ),
        ),
        check(
            ONLINE_CHECK,
            early,
            "offers to agents the harness had logged out",
            format!("{} offers received, none while logged out", t.received),
        ),
    ];
    (checks, summary)
}

/// An agent's answer to an offer, from a hash of the seed, the agent and the offer id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    Reject,
    Ignore,
}

pub fn answer(seed: u64, agent: &str, offer_id: &str, reject_share: f64, ignore_share: f64) -> Answer {
    let u = unit(seed, agent, offer_id);
    if u < reject_share {
        Answer::Reject
    } else if u < reject_share + ignore_share {
        Answer::Ignore
    } else {
        Answer::Accept
    }
}

/// A number in [0, 1) from FNV-1a over the parts, finished with splitmix64 (stable across
/// runs and platforms, unlike `std`'s hasher).
pub(crate) fn unit(seed: u64, agent: &str, offer_id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in agent.bytes().chain([0xff]).chain(offer_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
#[path = "offers_tests.rs"]
mod tests;
