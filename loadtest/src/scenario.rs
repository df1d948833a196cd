//! Scenario files: `loadtest/scenarios/<name>/scenario.toml`, parsed strictly (unknown keys
//! are errors) and validated before anything runs, with every error naming its field.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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

/// A scenario that cannot run, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("scenario {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {path}: {field}: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

impl Scenario {
    /// Loads `<dir>/scenario.toml`, or the file itself when `path` is a file. A bare name
    /// (no slash) is looked up in `scenarios_dir`.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = if path.is_dir() { path.join("scenario.toml") } else { path.to_path_buf() };
        let text =
            std::fs::read_to_string(&file).map_err(|source| ScenarioError::Read { path: file.clone(), source })?;
        // `<name>/scenario.toml` is named by its directory, any other file by its stem.
        let named_by =
            if file.file_name().is_some_and(|f| f == "scenario.toml") { file.parent() } else { Some(file.as_path()) };
        let default_name =
            named_by.and_then(|p| p.file_stem()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(&text, &default_name).map_err(|err| match err {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse { path: file.clone(), message },
            ScenarioError::Invalid { field, message, .. } => {
                ScenarioError::Invalid { path: file.clone(), field, message }
            }
            other => other,
        })
    }

    /// Parses and validates scenario text; `default_name` names it when the file does not.
    pub fn parse(text: &str, default_name: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse { path: PathBuf::new(), message: e.to_string() })?;
        if scenario.name.is_empty() {
            scenario.name = default_name.to_owned();
        }
        scenario.validate().map_err(|(field, message)| ScenarioError::Invalid {
            path: PathBuf::new(),
            field,
            message,
        })?;
        Ok(scenario)
    }

    /// Validates again after a change (command-line overrides): (field, message) on failure.
    pub fn revalidate(&self) -> Result<(), (String, String)> {
        self.validate()
    }

    fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, message: String| Err((field.to_owned(), message));
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return bad("name", format!("{:?} must be non-empty letters, digits, '-' or '_'", self.name));
        }
        if self.duration.is_zero() {
            return bad("duration", "must be greater than 0".into());
        }
        if self.accounts == 0 || self.accounts > 1000 {
            return bad("accounts", format!("must be 1..=1000 (got {})", self.accounts));
        }
        if self.connections == 0 || self.connections > 256 {
            return bad("connections", format!("must be 1..=256 (got {})", self.connections));
        }
        if self.skills.is_empty() {
            return bad("skills", "at least one skill is needed".into());
        }
        let mut skill_ids = BTreeSet::new();
        for (i, skill) in self.skills.iter().enumerate() {
            if !valid_id(&skill.id) {
                return bad(&format!("skills[{i}].id"), format!("{:?} is not a valid id", skill.id));
            }
            if !skill_ids.insert(skill.id.as_str()) {
                return bad(&format!("skills[{i}].id"), format!("duplicate skill {:?}", skill.id));
            }
            if !(skill.weight.is_finite() && skill.weight >= 0.0) {
                return bad(&format!("skills[{i}].weight"), format!("must be a number >= 0 (got {})", skill.weight));
            }
        }
        if self.skills.iter().map(|s| s.weight).sum::<f64>() <= 0.0 {
            return bad("skills", "the weights sum to 0, so no conversation would arrive".into());
        }
        if self.agents.is_empty() {
            return bad("agents", "at least one agent group is needed".into());
        }
        let mut group_names = BTreeSet::new();
        for (i, group) in self.agents.iter().enumerate() {
            if !valid_id(&group.name) {
                return bad(&format!("agents[{i}].name"), format!("{:?} is not a valid id", group.name));
            }
            if !group_names.insert(group.name.as_str()) {
                return bad(&format!("agents[{i}].name"), format!("duplicate agent group {:?}", group.name));
            }
            if group.count == 0 {
                return bad(&format!("agents[{i}].count"), "must be at least 1".into());
            }
            if group.max_conversations == 0 {
                return bad(&format!("agents[{i}].max_conversations"), "must be at least 1".into());
            }
            if group.skills.is_empty() {
                return bad(&format!("agents[{i}].skills"), "an agent group needs at least one skill".into());
            }
            for (j, skill) in group.skills.iter().enumerate() {
                if !skill_ids.contains(skill.as_str()) {
                    return bad(
                        &format!("agents[{i}].skills[{j}]"),
                        format!("unknown skill {skill:?} (the scenario's skills are {skill_ids:?})"),
                    );
                }
            }
        }
        let total_agents: u64 = self.agents.iter().map(|g| u64::from(g.count)).sum::<u64>() * u64::from(self.accounts);
        if total_agents > 100_000 {
            return bad("agents", format!("{total_agents} agents in all; at most 100000"));
        }
        // An impossible mix: arrivals for a skill that no agent holds would never be assigned.
        for (i, skill) in self.skills.iter().enumerate() {
            if skill.weight > 0.0 && !self.agents.iter().any(|g| g.skills.contains(&skill.id)) {
                return bad(
                    &format!("skills[{i}]"),
                    format!(
                        "skill {:?} gets arrivals but no agent group holds it, so they could never be assigned",
                        skill.id
                    ),
                );
            }
        }
        self.arrival.validate(self.duration)?;
        let expected = self.arrival.expected_count(self.duration);
        if expected > MAX_CONVERSATIONS as f64 {
            return bad("arrival", format!("about {expected:.0} conversations; at most {MAX_CONVERSATIONS} per run"));
        }
        self.script.validate()
    }
}

impl Arrival {
    fn validate(&self, duration: Duration) -> Result<(), (String, String)> {
        let rate_ok = |field: &str, rate: f64, allow_zero: bool| {
            if rate.is_finite() && (rate > 0.0 || (allow_zero && rate == 0.0)) {
                Ok(())
            } else {
                let bound = if allow_zero { ">= 0" } else { "> 0" };
                Err((field.to_owned(), format!("must be a number {bound} conversations per second (got {rate})")))
            }
        };
        match self {
            Arrival::Constant { rate } | Arrival::Poisson { rate } => rate_ok("arrival.rate", *rate, false),
            Arrival::Step { steps, .. } => {
                if steps.is_empty() {
                    return Err(("arrival.steps".into(), "at least one step is needed".into()));
                }
                if !steps[0].at.is_zero() {
                    return Err(("arrival.steps[0].at".into(), "the first step must start at 0s".into()));
                }
                for (i, step) in steps.iter().enumerate() {
                    rate_ok(&format!("arrival.steps[{i}].rate"), step.rate, true)?;
                    if i > 0 && step.at <= steps[i - 1].at {
                        return Err((
                            format!("arrival.steps[{i}].at"),
                            "steps must be in increasing time order".into(),
                        ));
                    }
                    if step.at >= duration {
                        return Err((
                            format!("arrival.steps[{i}].at"),
                            "starts at or after the end of `duration`".into(),
                        ));
                    }
                }
                if steps.iter().all(|s| s.rate == 0.0) {
                    return Err(("arrival.steps".into(), "every step has rate 0".into()));
                }
                Ok(())
            }
            Arrival::Burst { rate, burst_rate, every, length } => {
                rate_ok("arrival.rate", *rate, true)?;
                rate_ok("arrival.burst_rate", *burst_rate, false)?;
                if every.is_zero() {
                    return Err(("arrival.every".into(), "must be greater than 0".into()));
                }
                if length.is_zero() || length >= every {
                    return Err(("arrival.length".into(), "must be greater than 0 and shorter than `every`".into()));
                }
                Ok(())
            }
        }
    }

    /// Target rate at `t` seconds after the start (for Poisson, the mean).
    pub fn rate_at(&self, t: f64) -> f64 {
        match self {
            Arrival::Constant { rate } | Arrival::Poisson { rate } => *rate,
            Arrival::Step { steps, ramp } => {
                let i = steps.iter().rposition(|s| s.at.as_secs_f64() <= t).unwrap_or(0);
                match (ramp, steps.get(i + 1)) {
                    (true, Some(next)) => {
                        let (t0, t1) = (steps[i].at.as_secs_f64(), next.at.as_secs_f64());
                        let f = ((t - t0) / (t1 - t0)).clamp(0.0, 1.0);
                        steps[i].rate + (next.rate - steps[i].rate) * f
                    }
                    _ => steps[i].rate,
                }
            }
            Arrival::Burst { rate, burst_rate, every, length } => {
                let phase = t % every.as_secs_f64();
                if phase < length.as_secs_f64() {
                    *burst_rate
                } else {
                    *rate
                }
            }
        }
    }

    /// Conversations the schedule will hold over `duration`, approximately.
    pub fn expected_count(&self, duration: Duration) -> f64 {
        // Integrate the rate in 10 ms slices: exact enough for a bound and a progress bar.
        let slices = (duration.as_secs_f64() / 0.01).ceil() as u64;
        (0..slices).map(|i| self.rate_at(i as f64 * 0.01) * 0.01).sum()
    }
}

impl Script {
    fn validate(&self) -> Result<(), (String, String)> {
        let share = |field: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err((field.to_owned(), format!("must be between 0 and 1 (got {v})")))
            }
        };
        share("script.duplicate_open_share", self.duplicate_open_share)?;
        share("script.chatty_share", self.chatty_share)?;
        if self.chatty_share > 0.0 && self.chatty_messages < 2 {
            return Err(("script.chatty_messages".into(), "must be at least 2 when chatty_share > 0".into()));
        }
        if self.chatty_messages > 1000 {
            return Err(("script.chatty_messages".into(), format!("at most 1000 (got {})", self.chatty_messages)));
        }
        if self.consumer_messages > 1000 {
            return Err(("script.consumer_messages".into(), format!("at most 1000 (got {})", self.consumer_messages)));
        }
        if self.agent_replies > 1000 {
            return Err(("script.agent_replies".into(), format!("at most 1000 (got {})", self.agent_replies)));
        }
        if self.close_by == Closer::Consumer && self.agent_replies == 0 {
            return Err((
                "script.close_by".into(),
                "\"consumer\" closes after the agent's last reply, so agent_replies must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// Same id rule as the services (1–128 of `A-Za-z0-9-_.:@`), so setup cannot be rejected.
fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        seed = 7
        duration = "2s"
        skills = [{ id = "sales", weight = 3 }, { id = "support" }]
        agents = [{ name = "a", count = 2, skills = ["sales", "support"], max_conversations = 3 }]
        arrival = { process = "constant", rate = 50 }
        script = { close_by = "agent" }
    "#;

    fn error(text: &str) -> String {
        Scenario::parse(text, "t").unwrap_err().to_string()
    }

    #[test]
    fn a_good_scenario_parses_with_defaults() {
        let s = Scenario::parse(GOOD, "smoke").unwrap();
        assert_eq!(s.name, "smoke");
        assert_eq!(s.accounts, 1);
        assert_eq!(s.drain_timeout, Duration::from_secs(30));
        assert!(s.script.first_message);
        assert!((s.arrival.expected_count(s.duration) - 100.0).abs() < 1.0);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = error(&GOOD.replace("seed = 7", "seed = 7\nsed = 8"));
        assert!(e.contains("unknown field `sed`"), "{e}");
        let e = error(&GOOD.replace("rate = 50", "rat = 50"));
        assert!(e.contains("rat"), "{e}");
    }

    #[test]
    fn negative_or_zero_rates_are_rejected_by_field() {
        let e = error(&GOOD.replace("rate = 50", "rate = -5"));
        assert!(e.contains("arrival.rate: must be a number > 0"), "{e}");
        let e = error(&GOOD.replace(r#"{ process = "constant", rate = 50 }"#, r#"{ process = "poisson", rate = 0 }"#));
        assert!(e.contains("arrival.rate"), "{e}");
        let step = r#"{ process = "step", steps = [{ at = "0s", rate = 10 }, { at = "1s", rate = -1 }] }"#;
        let e = error(&GOOD.replace(r#"{ process = "constant", rate = 50 }"#, step));
        assert!(e.contains("arrival.steps[1].rate"), "{e}");
    }

    #[test]
    fn impossible_mixes_are_rejected_by_field() {
        let e = error(&GOOD.replace(r#"skills = ["sales", "support"]"#, r#"skills = ["sales", "billing"]"#));
        assert!(e.contains("agents[0].skills[1]: unknown skill \"billing\""), "{e}");
        let e = error(&GOOD.replace(r#"skills = ["sales", "support"]"#, r#"skills = ["sales"]"#));
        assert!(e.contains("skills[1]: skill \"support\" gets arrivals but no agent group holds it"), "{e}");
        let e = error(
            &GOOD.replace("weight = 3 }, { id = \"support\" }", "weight = 0 }, { id = \"support\", weight = 0 }"),
        );
        assert!(e.contains("skills: the weights sum to 0"), "{e}");
        let e = error(&GOOD.replace("max_conversations = 3", "max_conversations = 0"));
        assert!(e.contains("agents[0].max_conversations"), "{e}");
        let e =
            error(&GOOD.replace(r#"{ close_by = "agent" }"#, r#"{ close_by = "agent", duplicate_open_share = 1.5 }"#));
        assert!(e.contains("script.duplicate_open_share"), "{e}");
        let e = error(&GOOD.replace("rate = 50", "rate = 1e9"));
        assert!(e.contains("arrival: about"), "{e}");
    }

    #[test]
    fn rates_follow_the_process() {
        let step = Arrival::Step {
            steps: vec![Step { at: Duration::ZERO, rate: 10.0 }, Step { at: Duration::from_secs(2), rate: 30.0 }],
            ramp: true,
        };
        assert_eq!(step.rate_at(0.0), 10.0);
        assert_eq!(step.rate_at(1.0), 20.0);
        assert_eq!(step.rate_at(5.0), 30.0);
        let burst = Arrival::Burst {
            rate: 5.0,
            burst_rate: 100.0,
            every: Duration::from_secs(4),
            length: Duration::from_secs(1),
        };
        assert_eq!(burst.rate_at(0.5), 100.0);
        assert_eq!(burst.rate_at(2.0), 5.0);
        assert_eq!(burst.rate_at(4.2), 100.0);
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for name in ["smoke", "steady", "burst", "backlog"] {
            let s = Scenario::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, name);
        }
    }
}
