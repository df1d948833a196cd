//! Agent and load metrics (R8.11, R17.7): per account and per skill, the load of all agents,
//! of human agents, of ONLINE and of AWAY humans, the free slots of ONLINE agents, and how many
//! logged-in agents are ONLINE, BACK_SOON and AWAY. Pure: the caller reads the agents.
//! Per-skill figures count a multi-skilled agent in each of its skills (R8.11).

use std::collections::BTreeMap;

use switchyard_platform::store::{AgentRecord, AgentState, ONE};
use switchyard_routing::DEFAULT_AWAY_REASON;

/// One account's or one skill's figures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoadSummary {
    /// Σ weighted load / Σ max conversations of logged-in agents, bots included (0 with none).
    pub agent_load: f64,
    /// The same over human agents.
    pub human_agent_load: f64,
    /// Over ONLINE humans.
    pub human_online_load: f64,
    /// Over AWAY and BACK_SOON humans.
    pub human_away_load: f64,
    /// Σ max(0, max − weighted load) over ONLINE agents, in conversations.
    pub available_slots: f64,
    pub online_agents: u32,
    pub back_soon_agents: u32,
    pub away_agents: u32,
}

#[derive(Default)]
struct Ratio {
    used: i64,
    max: i64,
}

impl Ratio {
    fn add(&mut self, agent: &AgentRecord) {
        self.used += agent.capacity_used();
        self.max += i64::from(agent.spec.max_conversations) * ONE;
    }

    fn value(&self) -> f64 {
        if self.max == 0 {
            0.0
        } else {
            self.used as f64 / self.max as f64
        }
    }
}

/// The figures of `agents` (those logged out count for nothing).
pub fn summarize<'a>(agents: impl IntoIterator<Item = &'a AgentRecord>) -> LoadSummary {
    let (mut all, mut human, mut online, mut away) =
        (Ratio::default(), Ratio::default(), Ratio::default(), Ratio::default());
    let mut summary = LoadSummary::default();
    let mut free: i64 = 0;
    for agent in agents.into_iter().filter(|a| a.logged_in) {
        all.add(agent);
        if !agent.spec.bot {
            human.add(agent);
        }
        match agent.state {
            AgentState::Online => {
                summary.online_agents += 1;
                free += (i64::from(agent.spec.max_conversations) * ONE - agent.capacity_used()).max(0);
                if !agent.spec.bot {
                    online.add(agent);
                }
            }
            AgentState::BackSoon | AgentState::Away => {
                if agent.state == AgentState::Away {
                    summary.away_agents += 1;
                } else {
                    summary.back_soon_agents += 1;
                }
                if !agent.spec.bot {
                    away.add(agent);
                }
            }
            AgentState::Offline => {}
        }
    }
    summary.agent_load = all.value();
    summary.human_agent_load = human.value();
    summary.human_online_load = online.value();
    summary.human_away_load = away.value();
    summary.available_slots = free as f64 / ONE as f64;
    summary
}

/// R7.3: logged-in AWAY agents by away reason (an empty one, set before reasons were checked,
/// counts as the system `default`).
pub fn away_by_reason(agents: &[AgentRecord]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for agent in agents.iter().filter(|a| a.logged_in && a.state == AgentState::Away) {
        let reason = if agent.away_reason.is_empty() { DEFAULT_AWAY_REASON } else { agent.away_reason.as_str() };
        *counts.entry(reason.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The account's figures and each skill's (every skill some agent holds, `-1` left out).
pub fn by_skill(agents: &[AgentRecord]) -> (LoadSummary, BTreeMap<String, LoadSummary>) {
    let mut skills: BTreeMap<&str, Vec<&AgentRecord>> = BTreeMap::new();
    for agent in agents {
        for skill in agent.spec.skill_ids.iter().filter(|s| s.as_str() != crate::admin::UNASSIGNED_SKILL) {
            skills.entry(skill).or_default().push(agent);
        }
    }
    let per_skill = skills.into_iter().map(|(skill, agents)| (skill.to_owned(), summarize(agents))).collect();
    (summarize(agents), per_skill)
}

#[cfg(test)]
mod tests {
    use switchyard_platform::store::AgentSpec;

    use super::*;

    fn agent(id: &str, skills: &[&str], max: u32, state: AgentState, load: &[i64], bot: bool) -> AgentRecord {
        AgentRecord {
            account_id: "acme".into(),
            spec: AgentSpec {
                agent_id: id.into(),
                skill_ids: skills.iter().map(|s| s.to_string()).collect(),
                max_conversations: max,
                bot,
                group_id: String::new(),
                nickname: String::new(),
            },
            logged_in: state != AgentState::Offline,
            state,
            away_reason: String::new(),
            state_since_ms: 0,
            last_assigned_ms: 0,
            load: load.iter().enumerate().map(|(i, w)| (format!("c{i}"), *w)).collect(),
            warmup: Default::default(),
        }
    }

    #[test]
    fn loads_counts_and_free_slots_per_account_and_skill_r8_11_r17_7() {
        let agents = vec![
            // ONLINE human, max 4, 1.0 + 1.0 + 0.1 used: 1.9 free.
            agent("ann", &["sales", "support"], 4, AgentState::Online, &[1000, 1000, 100], false),
            // AWAY human, max 2, full.
            agent("bob", &["sales"], 2, AgentState::Away, &[1000, 1000], false),
            // ONLINE bot, max 10, idle.
            agent("bot", &["support"], 10, AgentState::Online, &[], true),
            // BACK_SOON human, max 2, idle.
            agent("cat", &["sales"], 2, AgentState::BackSoon, &[], false),
            // Logged out: counts for nothing.
            agent("dan", &["sales"], 5, AgentState::Offline, &[1000], false),
        ];
        let (account, skills) = by_skill(&agents);
        assert_eq!((account.online_agents, account.away_agents, account.back_soon_agents), (2, 1, 1));
        assert!((account.agent_load - 4.1 / 18.0).abs() < 1e-9, "{account:?}");
        assert!((account.human_agent_load - 4.1 / 8.0).abs() < 1e-9);
        assert!((account.human_online_load - 2.1 / 4.0).abs() < 1e-9);
        assert!((account.human_away_load - 2.0 / 4.0).abs() < 1e-9);
        assert!((account.available_slots - 11.9).abs() < 1e-9, "ann's 1.9 and the bot's 10");
        // Per skill a multi-skilled agent counts in each (R8.11).
        assert!((skills["sales"].available_slots - 1.9).abs() < 1e-9);
        assert!((skills["support"].available_slots - 11.9).abs() < 1e-9);
        assert_eq!(skills["support"].online_agents, 2);
        assert_eq!(summarize(&[]), LoadSummary::default());
        // R7.3: bob is AWAY with no reason recorded: the system default.
        let mut agents = agents;
        agents.push(agent("eve", &["sales"], 2, AgentState::Away, &[], false));
        agents.last_mut().unwrap().away_reason = "lunch".into();
        let reasons = away_by_reason(&agents);
        assert_eq!(reasons, [("default".to_owned(), 1), ("lunch".to_owned(), 1)].into_iter().collect());
    }
}
