//! Scenario files: `loadtest/scenarios/<name>/scenario.toml`, parsed strictly (unknown keys
//! are errors) and validated before anything runs, with every error naming its field.
//!
//! This module holds what a scenario says (the types a file deserializes into, with their
//! defaults); reading and parsing a file is in `parse.rs`, the rules a scenario must follow in
//! `validate.rs`, and the target rate of each arrival process over time in `rates.rs`.

pub mod automessages;
mod capacity;
mod parse;
mod rates;
mod transfers;
mod validate;

use std::time::Duration;

use serde::Deserialize;

pub use automessages::Automessages;
pub use capacity::{Capacity, Warmup};
pub use parse::ScenarioError;
pub use transfers::{Action, GroupState, Presence, Transfers};

/// The most conversations one run may schedule, so a typo in a rate cannot eat the machine.
pub const MAX_CONVERSATIONS: u64 = 20_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the scenario's directory name.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds the arrival schedule and every random choice, so two runs send the same load.
    pub seed: u64,
    /// How long arrivals go on.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// After the last arrival, how long to wait for every conversation to finish.
    #[serde(with = "humantime_serde", default = "default_drain_timeout")]
    pub drain_timeout: Duration,
    /// Accounts, each with every skill and agent group below.
    #[serde(default = "one")]
    pub accounts: u32,
    pub skills: Vec<SkillSpec>,
    pub agents: Vec<AgentGroup>,
    pub arrival: Arrival,
    #[serde(default)]
    pub script: Script,
    /// gRPC connections the simulated partners and agents share (HTTP/2 multiplexes on each).
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// The channels conversations arrive on, split by weight; empty: every one on web.
    #[serde(default)]
    pub channels: Vec<ChannelSpec>,
    /// Routing configuration applied to every account at setup; its presence (even empty)
    /// turns on the queue-order audit (`crate::priority`).
    #[serde(default)]
    pub routing: Option<Routing>,
    /// How the simulated agents answer offers (`routing.acd_mode` ring-one or ring-all).
    #[serde(default)]
    pub offers: Option<Offers>,
    /// What the simulated agents transfer, and which agents are not ONLINE for a while.
    #[serde(default)]
    pub transfers: Option<Transfers>,
    /// The accounts' capacity weights and warm-up; the invariant-2 audit then weighs load.
    #[serde(default)]
    pub capacity: Option<Capacity>,
    /// Automatic messages on for the accounts; the automatic-message audit judges them.
    #[serde(default)]
    pub automessages: Option<Automessages>,
}

/// Channel names a scenario may use, as the proto's `Channel` enum names them (lowercase,
/// without the `CHANNEL_` prefix), with their proto values.
pub const CHANNELS: [(&str, i32); 8] =
    [("web", 1), ("sms", 2), ("whatsapp", 3), ("facebook", 4), ("apple", 5), ("google", 6), ("line", 7), ("social", 8)];

/// The proto value of a channel name, if it is one of [`CHANNELS`].
pub fn channel_value(name: &str) -> Option<i32> {
    CHANNELS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    /// One of [`CHANNELS`].
    pub channel: String,
    /// Share of arrivals on this channel, relative to the other channels' weights.
    #[serde(default = "one_f")]
    pub weight: f64,
}

/// `[routing]`: the account routing the harness sets through `RoutingAdminService` before
/// arrivals, and how the queue-order audit judges the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Velocity rules (`SetVelocityRules`), each on one channel.
    #[serde(default)]
    pub velocity: Vec<VelocityRule>,
    /// How much later than a worse-scored conversation a better-scored one may be assigned
    /// before the audit calls it out of order: one assignment pass (`router.assign_interval`,
    /// 2 s by default), since a pass serves the queue in order but one that started just
    /// before a conversation arrived does not see it.
    #[serde(with = "humantime_serde", default = "default_order_tolerance")]
    pub order_tolerance: Duration,
    /// At most this many conversations are explained (`ExplainRouting`) after the run, spread
    /// evenly over the schedule; all of them when there are fewer.
    #[serde(default = "default_explain_sample")]
    pub explain_sample: u32,
    /// How conversations reach agents (`SetAccountRouting`): assigned outright, or offered.
    #[serde(default)]
    pub acd_mode: AcdMode,
    /// How long an offer rings (5s..10m); unset: the router's default (72 s).
    #[serde(with = "humantime_serde", default)]
    pub ring_timeout: Option<Duration>,
    /// How long an agent that rejected an offer (or let it ring out) is not offered that
    /// conversation again (0..24h); unset: the router's default (5 min).
    #[serde(with = "humantime_serde", default)]
    pub reject_cooldown: Option<Duration>,
    /// Share (0..=1) of the web conversations whose consumer marks them urgent (`MarkUrgent`,
    /// R10.3) `urgent_after` after the open. Urgent is refused on a consumer's first
    /// conversation, so setup makes those consumers returning ones (a prior conversation
    /// opened and closed before any agent logs in).
    #[serde(default)]
    pub urgent_share: f64,
    #[serde(with = "humantime_serde", default = "default_urgent_after")]
    pub urgent_after: Duration,
}

/// `routing.acd_mode`, as the admin API's `AcdMode` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcdMode {
    /// Conversations are assigned without asking the agent (the router's default).
    #[default]
    AutoAccept,
    /// The best agent gets an offer; a reject or a ring-out offers it to the next best.
    RingOne,
    /// Every eligible agent gets the offer; the first accept wins.
    RingAll,
}

impl AcdMode {
    /// Whether conversations are offered (and the offer audit runs).
    pub fn rings(self) -> bool {
        self != AcdMode::AutoAccept
    }

    pub fn name(self) -> &'static str {
        match self {
            AcdMode::AutoAccept => "auto_accept",
            AcdMode::RingOne => "ring_one",
            AcdMode::RingAll => "ring_all",
        }
    }
}

/// `[offers]`: how the simulated agents answer the offers they get. Each agent decides each
/// offer from a hash of the seed, its id and the offer id (so a repeat of an offer, in the
/// snapshot of a new stream, gets the same answer): rejected with probability
/// `reject_share`, ignored (left to ring out) with `ignore_share`, otherwise accepted after
/// `script.agent_think`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offers {
    #[serde(default)]
    pub reject_share: f64,
    #[serde(default)]
    pub ignore_share: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VelocityRule {
    /// The channel whose queued conversations the rule speeds up (one of [`CHANNELS`]).
    pub channel: String,
    /// Due-time compression: 4 lets a conversation wait a quarter as long (0.1–100).
    pub multiplier: f64,
}

impl Routing {
    /// The velocity of conversations on `channel`: the product of the rules that match it.
    pub fn velocity_of(&self, channel: &str) -> f64 {
        self.velocity.iter().filter(|r| r.channel == channel).map(|r| r.multiplier).product()
    }
}

impl Scenario {
    /// The account's ACD mode: auto-accept unless `[routing]` says otherwise.
    pub fn acd_mode(&self) -> AcdMode {
        self.routing.as_ref().map_or(AcdMode::AutoAccept, |r| r.acd_mode)
    }

    /// The group of agent `i` (agents are numbered per account, then group, then `n`).
    pub fn group_of(&self, i: usize) -> Option<&AgentGroup> {
        let per_account: usize = self.agents.iter().map(|g| g.count as usize).sum();
        let mut k = i.checked_rem(per_account)?;
        self.agents.iter().find(|g| {
            let here = k < g.count as usize;
            k = k.saturating_sub(g.count as usize);
            here
        })
    }

    /// From an assignment to agent `i`'s first reply.
    pub fn agent_think(&self, i: usize) -> Duration {
        self.group_of(i).and_then(|g| g.agent_think).unwrap_or(self.script.agent_think)
    }

    /// The channel names arrivals use, in schedule index order (`Planned::channel`).
    pub fn channel_names(&self) -> Vec<&str> {
        if self.channels.is_empty() {
            vec!["web"]
        } else {
            self.channels.iter().map(|c| c.channel.as_str()).collect()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillSpec {
    pub id: String,
    /// Share of arrivals for this skill, relative to the other skills' weights.
    #[serde(default = "one_f")]
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroup {
    /// Prefix of the agent ids of this group ("<name>-<n>").
    pub name: String,
    /// Agents in this group, per account.
    pub count: u32,
    pub skills: Vec<String>,
    pub max_conversations: u32,
    #[serde(default)]
    pub bot: bool,
    /// When the group logs in ONLINE, from the start of arrivals (backlog scenarios).
    #[serde(with = "humantime_serde", default)]
    pub online_at: Duration,
    /// From the assignment to this group's first reply, instead of `script.agent_think`
    /// (slow agents; at most 1h).
    #[serde(with = "humantime_serde", default)]
    pub agent_think: Option<Duration>,
}

/// When conversations arrive. Every process is open loop: the schedule is computed up front
/// from the seed and never waits for a response.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "process", rename_all = "snake_case", deny_unknown_fields)]
pub enum Arrival {
    /// Evenly spaced at `rate` per second.
    Constant { rate: f64 },
    /// Exponential gaps with mean 1/`rate`.
    Poisson { rate: f64 },
    /// Piecewise: each step's rate holds from its `at` until the next step; with `ramp`, the
    /// rate moves linearly from one step to the next instead.
    Step {
        steps: Vec<Step>,
        #[serde(default)]
        ramp: bool,
    },
    /// `rate`, except for `length` out of every `every`, when it is `burst_rate`.
    Burst {
        rate: f64,
        burst_rate: f64,
        #[serde(with = "humantime_serde")]
        every: Duration,
        #[serde(with = "humantime_serde")]
        length: Duration,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Closer {
    Agent,
    Consumer,
}

/// What happens inside one conversation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// The open carries the consumer's first message.
    #[serde(default = "yes")]
    pub first_message: bool,
    /// Further consumer messages after the open, `consumer_gap` apart.
    #[serde(default)]
    pub consumer_messages: u32,
    #[serde(with = "humantime_serde", default)]
    pub consumer_gap: Duration,
    /// From the assignment to the agent's first reply.
    #[serde(with = "humantime_serde", default)]
    pub agent_think: Duration,
    #[serde(default = "one")]
    pub agent_replies: u32,
    #[serde(with = "humantime_serde", default)]
    pub reply_gap: Duration,
    /// After the agent's last reply, how long before the conversation is closed.
    #[serde(with = "humantime_serde", default)]
    pub hold: Duration,
    pub close_by: Closer,
    /// Share of arrivals whose open is sent twice at once with the same partner message id
    /// (a partner retry racing the original).
    #[serde(default)]
    pub duplicate_open_share: f64,
    /// Share of arrivals whose consumer sends `chatty_messages` opens at once, each with its
    /// own partner message id (one consumer typing fast before any conversation exists).
    #[serde(default)]
    pub chatty_share: f64,
    #[serde(default)]
    pub chatty_messages: u32,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            first_message: true,
            consumer_messages: 0,
            consumer_gap: Duration::ZERO,
            agent_think: Duration::ZERO,
            agent_replies: 1,
            reply_gap: Duration::ZERO,
            hold: Duration::ZERO,
            close_by: Closer::Agent,
            duplicate_open_share: 0.0,
            chatty_share: 0.0,
            chatty_messages: 0,
        }
    }
}

fn default_drain_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_order_tolerance() -> Duration {
    Duration::from_secs(2)
}
fn default_urgent_after() -> Duration {
    Duration::from_secs(1)
}
fn default_explain_sample() -> u32 {
    2000
}
fn default_connections() -> u32 {
    4
}
fn one() -> u32 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// A valid scenario and the message a variant of it fails with: the tests of parsing and of
/// validation change one field of it at a time.
#[cfg(test)]
mod fixture {
    use super::Scenario;

    pub(super) const GOOD: &str = r#"
        seed = 7
        duration = "2s"
        skills = [{ id = "sales", weight = 3 }, { id = "support" }]
        agents = [{ name = "a", count = 2, skills = ["sales", "support"], max_conversations = 3 }]
        arrival = { process = "constant", rate = 50 }
        script = { close_by = "agent" }
    "#;

    pub(super) fn error(text: &str) -> String {
        Scenario::parse(text, "t").unwrap_err().to_string()
    }
}
