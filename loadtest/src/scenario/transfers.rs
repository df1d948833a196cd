//! `[transfers]`: after its first reply, the agent holding a conversation transfers a share of
//! them to another skill (`TransferToSkill`) and a share to another agent (`TransferToAgent`),
//! as a hash of the seed and the conversation decides; whoever gets the conversation then
//! sends the remaining replies and closes it. `states` keeps agent groups BACK_SOON or AWAY for
//! a while, so some transfers wait for their agent (BACK_SOON: until it is ONLINE again, or
//! until the skill's maximum wait lets any agent take them) and some are refused (AWAY: agents
//! may not transfer to an AWAY agent, R12.3). `max_wait` is the skills'
//! `transfer_to_agent_max_wait`, set with `SetSkillRouting` at setup.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;

use super::Scenario;

/// `transfers.max_wait` bounds, as the router accepts them (R12.6).
pub const MAX_WAIT: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(7 * 24 * 3600));
/// The router's maximum wait when a scenario does not set one.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfers {
    /// Share of conversations transferred to another skill (0–1).
    #[serde(default)]
    pub to_skill_share: f64,
    /// Share of conversations transferred to another agent (0–1, with `to_skill_share` at most 1).
    #[serde(default)]
    pub to_agent_share: f64,
    /// Where to-skill transfers go: one of these other than the conversation's skill.
    #[serde(default)]
    pub to_skills: Vec<String>,
    /// Agent groups whose agents (of the same account, never the holder) to-agent transfers target.
    #[serde(default)]
    pub to_agents: Vec<String>,
    /// Agent groups that are not ONLINE for a while.
    #[serde(default)]
    pub states: Vec<GroupState>,
    /// The skills' transfer-to-agent maximum wait (1m..7d); unset: the router's (2 h).
    #[serde(with = "humantime_serde", default)]
    pub max_wait: Option<Duration>,
}

/// One agent group's availability: `state` from `at` (from the start of arrivals) until
/// `until` (unset: to the end), ONLINE otherwise.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupState {
    pub group: String,
    pub state: Presence,
    #[serde(with = "humantime_serde", default)]
    pub at: Duration,
    #[serde(with = "humantime_serde", default)]
    pub until: Option<Duration>,
}

/// An agent's availability, as `AgentState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    BackSoon,
    Away,
}

impl Presence {
    /// Whether an agent (not a manager) may transfer a conversation to an agent in this state.
    pub fn reachable(self) -> bool {
        self != Presence::Away
    }

    pub fn name(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::BackSoon => "back_soon",
            Presence::Away => "away",
        }
    }
}

/// What the holder does with a conversation after its first reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Keep,
    ToSkill,
    ToAgent,
}

impl Transfers {
    /// The action for a conversation whose hash is `u` (in [0, 1)).
    pub fn action(&self, u: f64) -> Action {
        if u < self.to_skill_share {
            Action::ToSkill
        } else if u < self.to_skill_share + self.to_agent_share {
            Action::ToAgent
        } else {
            Action::Keep
        }
    }

    /// The state of `group`'s agents at `at` after the start of arrivals.
    pub fn state_of(&self, group: &str, at: Duration) -> Presence {
        self.states
            .iter()
            .find(|s| s.group == group && s.at <= at && s.until.is_none_or(|u| at < u))
            .map_or(Presence::Online, |s| s.state)
    }

    /// When `group`'s agents change state after the start of arrivals, and to what.
    pub fn changes_of(&self, group: &str) -> Vec<(Duration, Presence)> {
        let mut changes = Vec::new();
        for s in self.states.iter().filter(|s| s.group == group) {
            if !s.at.is_zero() {
                changes.push((s.at, s.state));
            }
            if let Some(until) = s.until {
                changes.push((until, Presence::Online));
            }
        }
        changes
    }

    /// The maximum wait the router applies.
    pub fn effective_max_wait(&self) -> Duration {
        self.max_wait.unwrap_or(DEFAULT_MAX_WAIT)
    }

    pub(super) fn validate(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((field.to_owned(), message));
        for (field, v) in
            [("transfers.to_skill_share", self.to_skill_share), ("transfers.to_agent_share", self.to_agent_share)]
        {
            if !(0.0..=1.0).contains(&v) {
                return bad(field, format!("must be between 0 and 1 (got {v})"));
            }
        }
        let sum = self.to_skill_share + self.to_agent_share;
        if sum > 1.0 {
            return bad("transfers", format!("to_skill_share + to_agent_share must be at most 1 (got {sum})"));
        }
        if sum == 0.0 {
            return bad("transfers", "to_skill_share and to_agent_share are both 0, so nothing is transferred".into());
        }
        let held = |skill: &str| scenario.agents.iter().any(|g| g.skills.iter().any(|s| s == skill));
        let mut seen = BTreeSet::new();
        for (i, skill) in self.to_skills.iter().enumerate() {
            let field = format!("transfers.to_skills[{i}]");
            if !scenario.skills.iter().any(|s| &s.id == skill) {
                let ids: Vec<&str> = scenario.skills.iter().map(|s| s.id.as_str()).collect();
                return bad(&field, format!("unknown skill {skill:?} (the scenario's skills are {ids:?})"));
            }
            if !seen.insert(skill.as_str()) {
                return bad(&field, format!("duplicate skill {skill:?}"));
            }
            if !held(skill) {
                return bad(
                    &field,
                    format!("no agent group holds skill {skill:?}, so a transfer to it is never served"),
                );
            }
        }
        if self.to_skill_share > 0.0 {
            if self.to_skills.is_empty() {
                return bad("transfers.to_skills", "needs at least one skill when to_skill_share > 0".into());
            }
            // Every conversation must have another skill to go to.
            if let Some(skill) =
                scenario.skills.iter().find(|s| s.weight > 0.0 && self.to_skills.iter().all(|t| *t == s.id))
            {
                return bad(
                    "transfers.to_skills",
                    format!("conversations of skill {:?} have no other skill to be transferred to", skill.id),
                );
            }
        }
        let group = |name: &str| scenario.agents.iter().find(|g| g.name == name);
        let mut seen = BTreeSet::new();
        for (i, name) in self.to_agents.iter().enumerate() {
            let field = format!("transfers.to_agents[{i}]");
            if group(name).is_none() {
                return bad(&field, format!("unknown agent group {name:?}"));
            }
            if !seen.insert(name.as_str()) {
                return bad(&field, format!("duplicate agent group {name:?}"));
            }
        }
        if self.to_agent_share > 0.0 {
            let targets: u32 = self.to_agents.iter().filter_map(|n| group(n)).map(|g| g.count).sum();
            if targets == 0 {
                return bad("transfers.to_agents", "needs at least one agent group when to_agent_share > 0".into());
            }
            if targets == 1 && scenario.agents.iter().map(|g| g.count).sum::<u32>() == 1 {
                return bad("transfers.to_agents", "the only agent cannot transfer to itself".into());
            }
        }
        let mut seen = BTreeSet::new();
        for (i, s) in self.states.iter().enumerate() {
            if group(&s.group).is_none() {
                return bad(&format!("transfers.states[{i}].group"), format!("unknown agent group {:?}", s.group));
            }
            if !seen.insert(s.group.as_str()) {
                return bad(&format!("transfers.states[{i}].group"), format!("duplicate agent group {:?}", s.group));
            }
            if s.state == Presence::Online {
                return bad(
                    &format!("transfers.states[{i}].state"),
                    "must be \"back_soon\" or \"away\" (a group is ONLINE otherwise)".into(),
                );
            }
            if s.until.is_some_and(|u| u <= s.at) {
                return bad(&format!("transfers.states[{i}].until"), "must be after `at`".into());
            }
        }
        if let Some(wait) = self.max_wait {
            let (min, max) = MAX_WAIT;
            if !(min..=max).contains(&wait) {
                return bad(
                    "transfers.max_wait",
                    format!("must be between 1m and 7d (got {})", humantime::format_duration(wait)),
                );
            }
        }
        // A transfer to a group that stays BACK_SOON waits the whole maximum wait.
        let wait = self.effective_max_wait();
        if self.to_agent_share > 0.0 && scenario.drain_timeout <= wait {
            let stays = self
                .states
                .iter()
                .find(|s| s.state == Presence::BackSoon && s.until.is_none() && self.to_agents.contains(&s.group));
            if let Some(s) = stays {
                return bad(
                    "drain_timeout",
                    format!(
                        "transfers to group {:?} (back_soon to the end) wait transfers.max_wait ({}) before any agent \
                         may take them; drain_timeout ({}) must be longer",
                        s.group,
                        humantime::format_duration(wait),
                        humantime::format_duration(scenario.drain_timeout)
                    ),
                );
            }
        }
        if scenario.script.agent_replies < 2 {
            return bad(
                "script.agent_replies",
                "must be at least 2 with [transfers] (the first reply comes before the transfer, the rest from \
                 whoever gets the conversation)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::fixture::error;

    const GOOD: &str = r#"
        seed = 7
        duration = "2s"
        drain_timeout = "90s"
        skills = [{ id = "sales" }, { id = "support" }, { id = "billing", weight = 0 }]
        agents = [
          { name = "desk", count = 4, skills = ["sales", "support"], max_conversations = 3 },
          { name = "billing", count = 2, skills = ["billing"], max_conversations = 3 },
          { name = "late", count = 2, skills = ["sales"], max_conversations = 3 },
          { name = "gone", count = 1, skills = ["sales"], max_conversations = 3 },
        ]
        arrival = { process = "constant", rate = 5 }
        script = { close_by = "agent", agent_replies = 2 }

        [transfers]
        to_skill_share = 0.25
        to_agent_share = 0.5
        to_skills = ["billing"]
        to_agents = ["late", "gone"]
        max_wait = "1m"
        states = [
          { group = "late", state = "back_soon", until = "10s" },
          { group = "gone", state = "back_soon" },
        ]
    "#;

    #[test]
    fn transfer_settings_parse() {
        let s = Scenario::parse(GOOD, "t").unwrap();
        let t = s.transfers.as_ref().unwrap();
        assert_eq!((t.to_skill_share, t.to_agent_share), (0.25, 0.5));
        assert_eq!(t.effective_max_wait(), Duration::from_secs(60));
        assert_eq!((t.action(0.1), t.action(0.5), t.action(0.9)), (Action::ToSkill, Action::ToAgent, Action::Keep));
        assert_eq!(t.state_of("late", Duration::ZERO), Presence::BackSoon);
        assert_eq!(t.state_of("late", Duration::from_secs(10)), Presence::Online);
        assert_eq!(t.state_of("gone", Duration::from_secs(3600)), Presence::BackSoon);
        assert_eq!(t.state_of("desk", Duration::ZERO), Presence::Online);
        assert_eq!(t.changes_of("late"), [(Duration::from_secs(10), Presence::Online)]);
        assert!(t.changes_of("gone").is_empty());
    }

    #[test]
    fn bad_transfer_settings_are_named() {
        for (from, to, expected) in [
            (
                "to_skill_share = 0.25",
                "to_skill_share = 1.5",
                "transfers.to_skill_share: must be between 0 and 1 (got 1.5)",
            ),
            (
                "to_agent_share = 0.5",
                "to_agent_share = 0.9",
                "transfers: to_skill_share + to_agent_share must be at most 1",
            ),
            (r#"to_skills = ["billing"]"#, r#"to_skills = ["bill"]"#, "transfers.to_skills[0]: unknown skill \"bill\""),
            (r#"to_skills = ["billing"]"#, "to_skills = []", "transfers.to_skills: needs at least one skill"),
            (
                r#"to_skills = ["billing"]"#,
                r#"to_skills = ["sales"]"#,
                "transfers.to_skills: conversations of skill \"sales\" have no other skill",
            ),
            (
                r#"to_agents = ["late", "gone"]"#,
                r#"to_agents = ["late", "x"]"#,
                "transfers.to_agents[1]: unknown agent group \"x\"",
            ),
            (
                r#"to_agents = ["late", "gone"]"#,
                "to_agents = []",
                "transfers.to_agents: needs at least one agent group",
            ),
            (r#"group = "gone""#, r#"group = "late""#, "transfers.states[1].group: duplicate agent group \"late\""),
            (
                r#"state = "back_soon" }"#,
                r#"state = "online" }"#,
                "transfers.states[1].state: must be \"back_soon\" or \"away\"",
            ),
            (r#"state = "back_soon" }"#, r#"state = "gone" }"#, "unknown variant `gone`"),
            (r#"until = "10s""#, r#"at = "10s", until = "5s""#, "transfers.states[0].until: must be after `at`"),
            (r#"max_wait = "1m""#, r#"max_wait = "30s""#, "transfers.max_wait: must be between 1m and 7d (got 30s)"),
            (r#"drain_timeout = "90s""#, r#"drain_timeout = "30s""#, "drain_timeout: transfers to group \"gone\""),
            ("agent_replies = 2", "agent_replies = 1", "script.agent_replies: must be at least 2 with [transfers]"),
            ("max_wait", "max_wai", "unknown field `max_wai`"),
        ] {
            assert!(GOOD.contains(from), "{from}");
            let e = error(&GOOD.replace(from, to));
            assert!(e.contains(expected), "{from} -> {to}: {e}");
        }
        let nothing = GOOD
            .replace("to_skill_share = 0.25", "to_skill_share = 0")
            .replace("to_agent_share = 0.5", "to_agent_share = 0");
        let e = error(&nothing);
        assert!(e.contains("transfers: to_skill_share and to_agent_share are both 0"), "{e}");
        // A skill nobody holds cannot take transfers.
        let orphan = GOOD.replace(r#"skills = ["billing"], max"#, r#"skills = ["sales"], max"#);
        let e = error(&orphan);
        assert!(e.contains("transfers.to_skills[0]: no agent group holds skill \"billing\""), "{e}");
    }
}
