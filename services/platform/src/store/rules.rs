//! Domain rules the stores apply, each implemented once in Rust. Where a Lua script applies
//! the same rule on Redis (it has to: the check and the write are one atomic step there), a
//! table of shared cases is run against the Rust rule and against both stores
//! (`tests/store_conformance.rs`), which pins the script to identical outcomes.

use super::routes::QueueReason;
use super::types::{AgentRecord, Milli, PendingSide, ONE};

/// R8.6: an agent may take a conversation of `weight` while its weighted load plus that weight
/// stays within its max conversations plus the allowed excess (`headroom`, 500 = 0.5). The
/// router ranks agents with it, the in-memory claim applies it, and `claim.lua` on Redis.
pub fn has_room(load: Milli, weight: Milli, max_conversations: u32, headroom: Milli) -> bool {
    load + weight <= Milli::from(max_conversations) * ONE + headroom
}

/// R8.8: beside the weighted limit, an optional cap on how many conversations an agent holds
/// (offers' reservations included), whatever their weights; `cap` 0 is no cap. `claim.lua`
/// and `claim_best.lua` apply it with HLEN on the agent's load.
pub fn under_open_cap(held: usize, cap: u32) -> bool {
    cap == 0 || held < cap as usize
}

/// R8.12-R8.14: warm-up terms of a claim (the claim's skill's policy): the first
/// conversation at once, then one more every `step_ms`, weights ignored, for at most
/// `period_ms`; it starts after a login and again when `idle_ms` passed since the agent last
/// received a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmupTerms {
    pub step_ms: i64,
    pub period_ms: i64,
    pub idle_ms: i64,
}

/// R8.13: warm-up re-applies after an hour without a conversation.
pub const WARMUP_IDLE_MS: i64 = 3_600_000;

/// An agent's warm-up as stored (Redis: `warm_armed`, `warm_from`, `warm_taken` on the agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WarmState {
    /// Logged in since its last warm-up started: the next claim starts one (R8.12).
    pub armed: bool,
    /// When the current or last warm-up started; 0: never.
    pub from_ms: i64,
    /// Conversations handed to it (assigned or offered) since then.
    pub taken: u32,
}

/// What warm-up says about one more conversation for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmCheck {
    /// Not warming up: the weighted rule (R8.6) decides.
    Normal,
    /// Warming up and within its allowance: it may take this one (weights ignored), and the
    /// claim stores this state with it.
    Take(WarmState),
    /// Warming up and its allowance is used: not before the next step.
    Wait,
}

/// R8.12-R8.14, the one rule (`prelude.lua`'s `warm_check` applies it on Redis; the shared
/// cases in [`WARM_CASES`] pin the two together). Warming up means: started less than
/// `period_ms` ago (R8.14). A claim for an agent that is not warming up starts a warm-up when
/// it logged in since the last one (`armed`) or had no conversation for `idle_ms` (R8.13).
/// While warming up it may hold one conversation per step begun, counted not weighed, until it
/// holds `max` (then the weighted rule takes over, R8.12).
pub fn warm_check(
    terms: Option<WarmupTerms>,
    state: WarmState,
    last_assigned_ms: i64,
    held: usize,
    max_conversations: u32,
    now_ms: i64,
) -> WarmCheck {
    let Some(terms) = terms else { return WarmCheck::Normal };
    let mut state = state;
    let warming = state.from_ms > 0 && now_ms < state.from_ms.saturating_add(terms.period_ms);
    if !warming {
        let idle = last_assigned_ms <= 0 || now_ms - last_assigned_ms >= terms.idle_ms;
        if !(state.armed || idle) {
            return WarmCheck::Normal;
        }
        state = WarmState { armed: false, from_ms: now_ms, taken: 0 };
    }
    if held >= max_conversations as usize {
        return WarmCheck::Normal;
    }
    let allowance = 1 + (now_ms - state.from_ms) / terms.step_ms.max(1);
    if i64::from(state.taken) >= allowance {
        return WarmCheck::Wait;
    }
    WarmCheck::Take(WarmState { armed: false, from_ms: state.from_ms, taken: state.taken + 1 })
}

/// What a claim asks of an agent: room for `weight` within max + `headroom` (R8.6), the
/// open-conversation cap (R8.8), warm-up (R8.12), at `now_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub weight: Milli,
    pub headroom: Milli,
    pub max_open: u32,
    pub warmup: Option<WarmupTerms>,
    pub now_ms: i64,
}

/// Why an agent cannot take one more conversation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the weighted limit (R8.6) or the open cap (R8.8).
    Full,
    /// Warming up, its allowance used until the next step (R8.12).
    WarmingUp,
}

/// Whether `agent` may take one more conversation: the open cap first, then warm-up (which
/// counts conversations: quiet ones make no room), and always the weighted limit, so no
/// assignment takes an agent over max + headroom (invariant 2). Ok carries the warm-up state to
/// store when it takes it. The in-memory store applies it; `prelude.lua`'s `admit`
/// is the same steps on Redis.
pub fn admit(agent: &AgentRecord, ask: &Ask) -> Result<Option<WarmState>, Refusal> {
    let held = agent.load.len();
    if !under_open_cap(held, ask.max_open) {
        return Err(Refusal::Full);
    }
    let max = agent.spec.max_conversations;
    match warm_check(ask.warmup, agent.warmup, agent.last_assigned_ms, held, max, ask.now_ms) {
        WarmCheck::Wait => Err(Refusal::WarmingUp),
        _ if !has_room(agent.capacity_used(), ask.weight, max, ask.headroom) => Err(Refusal::Full),
        WarmCheck::Take(state) => Ok(Some(state)),
        WarmCheck::Normal => Ok(None),
    }
}

/// One shared case of [`warm_check`]: (state, last assigned, held, max, now) and the outcome.
pub struct WarmCase {
    pub state: WarmState,
    pub last_assigned_ms: i64,
    pub held: usize,
    pub max: u32,
    pub now_ms: i64,
    pub outcome: WarmCheck,
}

/// The warm-up terms of [`WARM_CASES`]: 90 s steps, 20 minutes, an hour idle (R8.12-R8.14).
pub const WARM_TERMS: WarmupTerms = WarmupTerms { step_ms: 90_000, period_ms: 1_200_000, idle_ms: WARMUP_IDLE_MS };

const MIN_MS: i64 = 60_000;
const T0: i64 = 1_000 * MIN_MS;

const fn warm(armed: bool, from_ms: i64, taken: u32) -> WarmState {
    WarmState { armed, from_ms, taken }
}

/// The shared cases of R8.12-R8.14.
pub const WARM_CASES: &[WarmCase] = &[
    // R8.12: logged in (armed): the first at once, the warm-up starts now.
    WarmCase {
        state: warm(true, 0, 0),
        last_assigned_ms: T0 - MIN_MS,
        held: 0,
        max: 4,
        now_ms: T0,
        outcome: WarmCheck::Take(warm(false, T0, 1)),
    },
    // 89 s later the second waits; at 90 s it may come.
    WarmCase {
        state: warm(false, T0, 1),
        last_assigned_ms: T0,
        held: 1,
        max: 4,
        now_ms: T0 + 89_000,
        outcome: WarmCheck::Wait,
    },
    WarmCase {
        state: warm(false, T0, 1),
        last_assigned_ms: T0,
        held: 1,
        max: 4,
        now_ms: T0 + 90_000,
        outcome: WarmCheck::Take(warm(false, T0, 2)),
    },
    // Steps count whether or not the earlier ones were taken (closed meanwhile: held 0).
    WarmCase {
        state: warm(false, T0, 1),
        last_assigned_ms: T0,
        held: 0,
        max: 4,
        now_ms: T0 + 3 * 90_000,
        outcome: WarmCheck::Take(warm(false, T0, 2)),
    },
    // Holding max ends it: the weighted rule decides.
    WarmCase {
        state: warm(false, T0, 4),
        last_assigned_ms: T0,
        held: 4,
        max: 4,
        now_ms: T0 + 10 * 90_000,
        outcome: WarmCheck::Normal,
    },
    // R8.14: over after 20 minutes even if not done.
    WarmCase {
        state: warm(false, T0, 2),
        last_assigned_ms: T0 + 19 * MIN_MS,
        held: 2,
        max: 10,
        now_ms: T0 + 20 * MIN_MS,
        outcome: WarmCheck::Normal,
    },
    // R8.13: 55 minutes without a conversation: no warm-up; 65 minutes: warm-up again.
    WarmCase {
        state: warm(false, T0, 3),
        last_assigned_ms: T0 + 60 * MIN_MS,
        held: 1,
        max: 4,
        now_ms: T0 + 115 * MIN_MS,
        outcome: WarmCheck::Normal,
    },
    WarmCase {
        state: warm(false, T0, 3),
        last_assigned_ms: T0 + 60 * MIN_MS,
        held: 1,
        max: 4,
        now_ms: T0 + 125 * MIN_MS,
        outcome: WarmCheck::Take(warm(false, T0 + 125 * MIN_MS, 1)),
    },
    // Never assigned: warm-up at the first claim.
    WarmCase {
        state: warm(false, 0, 0),
        last_assigned_ms: 0,
        held: 0,
        max: 2,
        now_ms: T0,
        outcome: WarmCheck::Take(warm(false, T0, 1)),
    },
];

/// The agent index's order (domain R6.2, R6.3): lowest load ratio first, then longest since
/// the last assignment, then agent id. Encoded as one string whose byte order is that order
/// (fixed-width decimal fields), because Redis keeps the index as a sorted set of such members
/// at one score and `ZRANGE` returns them in byte order: the best candidates are its first
/// members, read in one command whatever the number of agents. `prelude.lua` builds the same
/// string in `rank_member`; the shared cases in `RANK_CASES` pin the two together.
pub fn rank_member(used: Milli, max_conversations: u32, last_assigned_ms: i64, agent_id: &str) -> String {
    let (ratio, last, id) = rank_key(used, max_conversations, last_assigned_ms, agent_id);
    format!("{ratio:012}:{last:014}:{id}")
}

/// The fields of [`rank_member`], which sort as the member does (its fields are fixed-width):
/// what the embedded store sorts by without formatting a string per agent and decision.
pub fn rank_key(used: Milli, max_conversations: u32, last_assigned_ms: i64, agent_id: &str) -> (i64, i64, &str) {
    (load_ratio_ppm(used, max_conversations), last_assigned_ms.clamp(0, MAX_MS), agent_id)
}

/// The agent id at the end of a [`rank_member`].
pub fn rank_member_agent(member: &str) -> Option<&str> {
    member.get(28..).filter(|id| !id.is_empty() && member.as_bytes().get(12) == Some(&b':'))
}

/// R8.5: weighted load over max conversations, in millionths, floored (capped at 12 digits).
pub fn load_ratio_ppm(used: Milli, max_conversations: u32) -> i64 {
    let max = (i128::from(max_conversations) * i128::from(ONE)).max(1);
    let ratio = i128::from(used.max(0)) * 1_000_000 / max;
    ratio.min(MAX_RATIO_PPM) as i64
}

const MAX_RATIO_PPM: i128 = 999_999_999_999;
const MAX_MS: i64 = 99_999_999_999_999;

/// Shared cases of the index order: (used, max, last assigned, agent) and its member.
pub const RANK_CASES: &[(Milli, u32, i64, &str, &str)] = &[
    (0, 3, 0, "a", "000000000000:00000000000000:a"),
    (1000, 4, 1_700_000_000_123, "b-1", "000000250000:01700000000123:b-1"),
    (2100, 3, 5, "c", "000000700000:00000000000005:c"),
    // One third, floored.
    (1000, 3, 0, "d", "000000333333:00000000000000:d"),
    // Over max (max lowered under the load) still orders by ratio.
    (9000, 1, 0, "e", "000009000000:00000000000000:e"),
];

/// R10.6: a transfer (or a fallback) puts the conversation under its new skill's response
/// time, so its due time starts again; a return to the queue (back to queue, logout) keeps
/// it, since the consumer has been waiting all along. Both stores take this as an argument.
pub fn restarts_response_due(reason: QueueReason) -> bool {
    matches!(reason, QueueReason::Transfer | QueueReason::Fallback)
}

/// R9.2: whose turn it is after a message from `party` (`switchyard.common.v1.Party`): the
/// consumer wrote, so an agent should answer, and the other way round. None for system
/// messages, which change nothing. Both stores take this as an argument.
pub fn pending_after_message(party: i32) -> Option<PendingSide> {
    match party {
        1 => Some(PendingSide::Agent),
        2 => Some(PendingSide::Consumer),
        _ => None,
    }
}

/// One shared case of R8.6: an agent of `max` conversations already holding conversations of
/// `held` weights is asked to take one of `weight` with `headroom`.
pub struct RoomCase {
    pub max: u32,
    pub held: &'static [Milli],
    pub weight: Milli,
    pub headroom: Milli,
    pub may_take: bool,
}

/// The shared cases of R8.6 (domain reference §2.8, with fractional weights).
pub const R8_6_CASES: &[RoomCase] = &[
    RoomCase { max: 1, held: &[], weight: ONE, headroom: 0, may_take: true },
    RoomCase { max: 1, held: &[ONE], weight: ONE, headroom: 0, may_take: false },
    RoomCase { max: 2, held: &[ONE], weight: 1_001, headroom: 0, may_take: false },
    // Full weight 1.0 with headroom 0.5 never exceeds max: 2.0 + 1.0 > 2.5.
    RoomCase { max: 2, held: &[ONE, ONE], weight: ONE, headroom: 500, may_take: false },
    // 2.1 + 1.0 = 3.1 <= 3.5.
    RoomCase { max: 3, held: &[ONE, 1_100], weight: ONE, headroom: 500, may_take: true },
    // 3.1 + 1.0 = 4.1 > 3.5.
    RoomCase { max: 3, held: &[ONE, 1_100, ONE], weight: ONE, headroom: 500, may_take: false },
    // Exactly at the limit is allowed: 3.1 + 0.4 = 3.5.
    RoomCase { max: 3, held: &[ONE, 1_100, ONE], weight: 400, headroom: 500, may_take: true },
    RoomCase { max: 3, held: &[ONE, 1_100, ONE, 400], weight: 1, headroom: 500, may_take: false },
    // Inactive conversations weigh less (R8.1): 0.3 each leaves room for more than max.
    RoomCase { max: 2, held: &[300, 300, 300], weight: ONE, headroom: 0, may_take: true },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_restarts_the_response_due_time_and_a_return_keeps_it_r10_6() {
        assert!(restarts_response_due(QueueReason::Transfer));
        assert!(restarts_response_due(QueueReason::Fallback));
        assert!(!restarts_response_due(QueueReason::BackToQueue));
        assert!(!restarts_response_due(QueueReason::AgentLoggedOut));
    }

    #[test]
    fn a_consumer_message_leaves_the_conversation_pending_agent_r9_2() {
        // PARTY_CONSUMER = 1, PARTY_AGENT = 2, PARTY_SYSTEM = 3.
        assert_eq!(pending_after_message(1), Some(PendingSide::Agent));
        assert_eq!(pending_after_message(2), Some(PendingSide::Consumer));
        assert_eq!(pending_after_message(3), None);
    }

    #[test]
    fn the_index_member_orders_like_the_rank_r6_3() {
        for (used, max, last, agent, member) in RANK_CASES {
            assert_eq!(rank_member(*used, *max, *last, agent), *member);
            assert_eq!(rank_member_agent(member), Some(*agent));
        }
        // Lower ratio first, then longest idle (earliest last assignment), then id.
        let mut members = [
            rank_member(500, 2, 10, "z"),
            rank_member(0, 2, 900, "y"),
            rank_member(0, 2, 100, "x"),
            rank_member(0, 2, 100, "w"),
        ];
        members.sort();
        let agents: Vec<_> = members.iter().filter_map(|m| rank_member_agent(m)).collect();
        assert_eq!(agents, ["w", "x", "y", "z"]);
    }

    #[test]
    fn the_shared_cases_of_warm_up_hold_for_the_rule_r8_12_r8_13_r8_14() {
        for (i, c) in WARM_CASES.iter().enumerate() {
            let got = warm_check(Some(WARM_TERMS), c.state, c.last_assigned_ms, c.held, c.max, c.now_ms);
            assert_eq!(got, c.outcome, "case {i}");
        }
        let off = warm_check(None, warm(true, 0, 0), 0, 0, 1, T0);
        assert_eq!(off, WarmCheck::Normal, "no warm-up configured");
    }

    #[test]
    fn an_open_cap_limits_the_count_whatever_the_weights_r8_8() {
        assert!(under_open_cap(1_000, 0), "0: no cap");
        assert!(under_open_cap(4, 5));
        assert!(!under_open_cap(5, 5));
    }

    #[test]
    fn the_shared_cases_of_r8_6_hold_for_the_rule() {
        for (i, c) in R8_6_CASES.iter().enumerate() {
            let load: Milli = c.held.iter().sum();
            assert_eq!(has_room(load, c.weight, c.max, c.headroom), c.may_take, "case {i}");
        }
    }
}
