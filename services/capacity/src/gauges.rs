//! The agent and load metrics (R8.11, R17.7) on `/metrics`: every 15 s, for each account this
//! member heard of in the last hour (at most 1000), the figures of `load_metrics` as gauges
//! labelled by account and skill (no skill label: the whole account).

use std::collections::HashMap;

use switchyard_kit::Platform;

use crate::load_metrics::{away_by_reason, by_skill, LoadSummary};

const REFRESH_MS: i64 = 15_000;
const FORGET_AFTER_MS: i64 = 3_600_000;
const MAX_ACCOUNTS: usize = 1000;

pub const AGENT_LOAD: &str = "switchyard_capacity_agent_load";
pub const HUMAN_AGENT_LOAD: &str = "switchyard_capacity_human_agent_load";
pub const HUMAN_ONLINE_LOAD: &str = "switchyard_capacity_human_online_load";
pub const HUMAN_AWAY_LOAD: &str = "switchyard_capacity_human_away_load";
pub const AVAILABLE_SLOTS: &str = "switchyard_capacity_available_slots";
pub const AGENTS: &str = "switchyard_capacity_agents";
pub const AWAY_AGENTS: &str = "switchyard_capacity_away_agents";

pub(crate) fn describe() {
    metrics::describe_gauge!(
        AGENT_LOAD,
        "Weighted load over max conversations of logged-in agents, bots included (R8.11)"
    );
    metrics::describe_gauge!(HUMAN_AGENT_LOAD, "The same over human agents");
    metrics::describe_gauge!(HUMAN_ONLINE_LOAD, "The same over ONLINE human agents");
    metrics::describe_gauge!(HUMAN_AWAY_LOAD, "The same over AWAY and BACK_SOON human agents");
    metrics::describe_gauge!(AVAILABLE_SLOTS, "Free room of ONLINE agents, in conversations (R8.11)");
    metrics::describe_gauge!(AGENTS, "Logged-in agents by state: online, back_soon, away (R17.7)");
    metrics::describe_gauge!(AWAY_AGENTS, "Logged-in AWAY agents of the account by away reason (R7.3)");
}

pub(crate) struct LoadGauges {
    platform: Platform,
    /// Account -> when this member last handled one of its events.
    seen: HashMap<String, i64>,
    next_ms: i64,
}

impl LoadGauges {
    pub(crate) fn new(platform: Platform) -> Self {
        Self { platform, seen: HashMap::new(), next_ms: 0 }
    }

    pub(crate) fn saw(&mut self, account_id: &str) {
        let now = self.platform.clock.now_ms();
        if let Some(at) = self.seen.get_mut(account_id) {
            *at = now;
            return;
        }
        if self.seen.len() >= MAX_ACCOUNTS {
            let oldest = self.seen.iter().min_by_key(|(_, at)| **at).map(|(a, _)| a.clone());
            if let Some(oldest) = oldest {
                self.seen.remove(&oldest);
            }
        }
        self.seen.insert(account_id.to_owned(), now);
    }

    /// Sets the gauges when 15 s passed since the last time. A store that cannot be read now
    /// leaves the figures as they were until the next refresh.
    pub(crate) async fn refresh_if_due(&mut self) {
        let now = self.platform.clock.now_ms();
        if now < self.next_ms {
            return;
        }
        self.next_ms = now + REFRESH_MS;
        self.seen.retain(|_, at| now - *at < FORGET_AFTER_MS);
        for account in self.seen.keys() {
            let agents = match self.platform.store.agents_with_skill(account, crate::admin::UNASSIGNED_SKILL).await {
                Ok(agents) => agents,
                Err(err) => {
                    tracing::warn!(error = %err, account, "load metrics not refreshed");
                    continue;
                }
            };
            let (whole, skills) = by_skill(&agents);
            set(&[("account", account.clone())], &whole);
            self.set_away_reasons(account, &agents).await;
            for (skill, summary) in skills {
                set(&[("account", account.clone()), ("skill", skill)], &summary);
            }
        }
    }
}

impl LoadGauges {
    /// Every reason the account defines is set (0 when nobody is away for it), and any other
    /// an agent still carries (a reason deleted after the agent set it).
    async fn set_away_reasons(&self, account: &str, agents: &[switchyard_platform::store::AgentRecord]) {
        let mut counts = away_by_reason(agents);
        if let Ok(config) = self.platform.routing.get(account).await {
            for reason in config.away_reasons() {
                counts.entry(reason.id).or_insert(0);
            }
        }
        for (reason, count) in counts {
            let labels = [("account", account.to_owned()), ("reason", reason)];
            metrics::gauge!(AWAY_AGENTS, &labels).set(f64::from(count));
        }
    }
}

fn set(labels: &[(&'static str, String)], s: &LoadSummary) {
    let labels: Vec<metrics::Label> = labels.iter().map(|(k, v)| metrics::Label::new(*k, v.clone())).collect();
    metrics::gauge!(AGENT_LOAD, labels.clone()).set(s.agent_load);
    metrics::gauge!(HUMAN_AGENT_LOAD, labels.clone()).set(s.human_agent_load);
    metrics::gauge!(HUMAN_ONLINE_LOAD, labels.clone()).set(s.human_online_load);
    metrics::gauge!(HUMAN_AWAY_LOAD, labels.clone()).set(s.human_away_load);
    metrics::gauge!(AVAILABLE_SLOTS, labels.clone()).set(s.available_slots);
    for (state, count) in [("online", s.online_agents), ("back_soon", s.back_soon_agents), ("away", s.away_agents)] {
        let mut with_state = labels.clone();
        with_state.push(metrics::Label::new("state", state));
        metrics::gauge!(AGENTS, with_state).set(f64::from(count));
    }
}
