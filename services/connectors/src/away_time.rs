//! R7.3 "reports time per reason": the time agents spent AWAY, per away reason, on the counter
//! `switchyard_connectors_away_milliseconds_total{reason}` (`increase(...[1d]) / 3.6e6` is the
//! hours per reason over a day). A spell is counted when it ends: the agent leaves AWAY, logs
//! out, or changes reason; connectors reads the agent's record before it writes the change.
//! A spell still going on is not counted yet. Reasons are the accounts' own ids, so the series
//! are capped: after [`MAX_REASONS`] distinct ones in a process, further ones count as `other`.

use std::collections::HashSet;
use std::sync::Mutex;

use switchyard_platform::store::{AgentRecord, AgentSession, AgentState};
use switchyard_routing::DEFAULT_AWAY_REASON;

pub const AWAY_MILLISECONDS_TOTAL: &str = "switchyard_connectors_away_milliseconds_total";
/// Distinct reason labels per process.
pub const MAX_REASONS: usize = 100;
const OTHER: &str = "other";

/// The reason and length (ms) of the AWAY spell that `after` ends, if it ends one.
pub(crate) fn spell_ended(before: &AgentRecord, after: &AgentSession, now_ms: i64) -> Option<(String, u64)> {
    if !(before.logged_in && before.state == AgentState::Away) {
        return None;
    }
    if after.logged_in && after.state == AgentState::Away && after.away_reason == before.away_reason {
        return None;
    }
    let reason = if before.away_reason.is_empty() { DEFAULT_AWAY_REASON } else { before.away_reason.as_str() };
    let length = u64::try_from(now_ms.saturating_sub(before.state_since_ms)).unwrap_or(0);
    Some((reason.to_owned(), length))
}

/// The reason labels used so far (bounded).
#[derive(Default)]
pub(crate) struct AwayTime {
    reasons: Mutex<HashSet<String>>,
}

impl AwayTime {
    /// The label `reason` counts under.
    pub(crate) fn label(&self, reason: String) -> String {
        let mut reasons = self.reasons.lock().unwrap_or_else(|e| e.into_inner());
        if reasons.contains(&reason) || reasons.len() < MAX_REASONS {
            reasons.insert(reason.clone());
            reason
        } else {
            OTHER.to_owned()
        }
    }

    pub(crate) fn record(&self, before: &AgentRecord, after: &AgentSession, now_ms: i64) {
        if let Some((reason, length)) = spell_ended(before, after, now_ms) {
            metrics::counter!(AWAY_MILLISECONDS_TOTAL, "service" => "connectors", "reason" => self.label(reason))
                .increment(length);
        }
    }
}

#[cfg(test)]
mod tests {
    use switchyard_platform::store::AgentSpec;

    use super::*;

    fn agent(logged_in: bool, state: AgentState, reason: &str, since_ms: i64) -> AgentRecord {
        let spec = AgentSpec {
            agent_id: "ann".into(),
            skill_ids: Vec::new(),
            max_conversations: 1,
            bot: false,
            group_id: String::new(),
            nickname: String::new(),
        };
        AgentRecord {
            account_id: "acme".into(),
            spec,
            logged_in,
            state,
            away_reason: reason.to_owned(),
            state_since_ms: since_ms,
            last_assigned_ms: 0,
            load: Vec::new(),
            warmup: Default::default(),
        }
    }

    fn away(reason: &str, since_ms: i64) -> AgentRecord {
        agent(true, AgentState::Away, reason, since_ms)
    }

    fn session(logged_in: bool, state: AgentState, reason: &str) -> AgentSession {
        AgentSession { logged_in, state, away_reason: reason.to_owned() }
    }

    #[test]
    fn an_away_spell_counts_when_it_ends_under_its_reason_r7_3() {
        let lunch = away("lunch", 1_000);
        let online = session(true, AgentState::Online, "");
        assert_eq!(spell_ended(&lunch, &online, 1_801_000), Some(("lunch".into(), 1_800_000)));
        // Another reason ends the spell; a logout too; the same reason again does not.
        let meeting = session(true, AgentState::Away, "meeting");
        assert_eq!(spell_ended(&lunch, &meeting, 61_000), Some(("lunch".into(), 60_000)));
        let logged_out = session(false, AgentState::Offline, "");
        assert_eq!(spell_ended(&lunch, &logged_out, 2_000), Some(("lunch".into(), 1_000)));
        assert_eq!(spell_ended(&lunch, &session(true, AgentState::Away, "lunch"), 9_000), None);
        // Not away, or logged out while away: no spell.
        let mut offline = lunch.clone();
        offline.logged_in = false;
        assert_eq!(spell_ended(&offline, &online, 9_000), None);
        assert_eq!(spell_ended(&agent(true, AgentState::BackSoon, "", 0), &online, 9_000), None);
        // AWAY without a reason is the system default.
        assert_eq!(spell_ended(&away("", 0), &online, 5), Some((DEFAULT_AWAY_REASON.into(), 5)));
    }

    #[test]
    fn reason_labels_are_capped() {
        let labels = AwayTime::default();
        for n in 0..MAX_REASONS {
            assert_eq!(labels.label(format!("r{n}")), format!("r{n}"));
        }
        assert_eq!(labels.label("one-too-many".into()), OTHER);
        assert_eq!(labels.label("r0".into()), "r0", "a known reason keeps its label");
    }
}
