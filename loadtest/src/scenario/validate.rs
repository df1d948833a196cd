//! The rules a scenario must follow before anything runs: sane counts and bounds, unique
//! valid ids, agent groups holding only known skills, every skill with arrivals held by some
//! agent group, arrival processes with rates and steps that make sense, at most
//! [`MAX_CONVERSATIONS`] per run, and a script that can be played. A broken rule is
//! `(field, message)`.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{channel_value, AcdMode, Arrival, Closer, Offers, Routing, Scenario, Script, CHANNELS, MAX_CONVERSATIONS};

/// Velocity multiplier bounds, as the router accepts them (R9.5).
pub const MULTIPLIER: (f64, f64) = (0.1, 100.0);
/// `ring_timeout` bounds, as the router accepts them (R6.5).
pub const RING_TIMEOUT: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(600));
/// The longest `reject_cooldown` the router accepts.
pub const REJECT_COOLDOWN_MAX: Duration = Duration::from_secs(24 * 3600);

impl Scenario {
    /// Validates again after a change (command-line overrides): (field, message) on failure.
    pub fn revalidate(&self) -> Result<(), (String, String)> {
        self.validate()
    }

    pub(super) fn validate(&self) -> Result<(), (String, String)> {
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
            if group.agent_think.is_some_and(|t| t > Duration::from_secs(3600)) {
                return bad(&format!("agents[{i}].agent_think"), "at most 1h".into());
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
        self.validate_channels()?;
        if let Some(routing) = &self.routing {
            routing.validate()?;
            if routing.urgent_share > 0.0 && !self.channel_names().contains(&"web") {
                return Err((
                    "routing.urgent_share".into(),
                    "urgent marks are for web conversations (R10.3): the channel mix has no web".into(),
                ));
            }
        }
        if let Some(offers) = &self.offers {
            offers.validate(self.acd_mode())?;
        }
        if let Some(transfers) = &self.transfers {
            transfers.validate(self)?;
        }
        if let Some(capacity) = &self.capacity {
            capacity.validate(self)?;
        }
        if let Some(automessages) = &self.automessages {
            automessages.validate(self)?;
        }
        self.script.validate()
    }

    fn validate_channels(&self) -> Result<(), (String, String)> {
        let mut seen = BTreeSet::new();
        for (i, c) in self.channels.iter().enumerate() {
            if channel_value(&c.channel).is_none() {
                return Err((format!("channels[{i}].channel"), unknown_channel(&c.channel)));
            }
            if !seen.insert(c.channel.as_str()) {
                return Err((format!("channels[{i}].channel"), format!("duplicate channel {:?}", c.channel)));
            }
            if !(c.weight.is_finite() && c.weight >= 0.0) {
                return Err((format!("channels[{i}].weight"), format!("must be a number >= 0 (got {})", c.weight)));
            }
        }
        if !self.channels.is_empty() && self.channels.iter().map(|c| c.weight).sum::<f64>() <= 0.0 {
            return Err(("channels".into(), "the weights sum to 0, so no conversation would arrive".into()));
        }
        Ok(())
    }
}

impl Routing {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.velocity.len() > 50 {
            return Err(("routing.velocity".into(), format!("at most 50 rules (got {})", self.velocity.len())));
        }
        for (i, rule) in self.velocity.iter().enumerate() {
            if channel_value(&rule.channel).is_none() {
                return Err((format!("routing.velocity[{i}].channel"), unknown_channel(&rule.channel)));
            }
            let (min, max) = MULTIPLIER;
            if !(rule.multiplier.is_finite() && (min..=max).contains(&rule.multiplier)) {
                return Err((
                    format!("routing.velocity[{i}].multiplier"),
                    format!("must be a number between {min} and {max} (got {})", rule.multiplier),
                ));
            }
        }
        if self.explain_sample == 0 || self.explain_sample > 100_000 {
            return Err(("routing.explain_sample".into(), format!("must be 1..=100000 (got {})", self.explain_sample)));
        }
        if !(0.0..=1.0).contains(&self.urgent_share) {
            return Err((
                "routing.urgent_share".into(),
                format!("must be between 0 and 1 (got {})", self.urgent_share),
            ));
        }
        if self.urgent_after > Duration::from_secs(600) {
            return Err(("routing.urgent_after".into(), "at most 10m".into()));
        }
        if self.order_tolerance > Duration::from_secs(600) {
            return Err(("routing.order_tolerance".into(), "at most 10m".into()));
        }
        if let Some(timeout) = self.ring_timeout {
            let (min, max) = RING_TIMEOUT;
            if !(min..=max).contains(&timeout) {
                return Err((
                    "routing.ring_timeout".into(),
                    format!("must be between 5s and 10m (got {})", humantime::format_duration(timeout)),
                ));
            }
        }
        if let Some(cooldown) = self.reject_cooldown {
            if cooldown > REJECT_COOLDOWN_MAX {
                return Err((
                    "routing.reject_cooldown".into(),
                    format!("at most 24h (got {})", humantime::format_duration(cooldown)),
                ));
            }
        }
        if !self.acd_mode.rings() && (self.ring_timeout.is_some() || self.reject_cooldown.is_some()) {
            let field = if self.ring_timeout.is_some() { "routing.ring_timeout" } else { "routing.reject_cooldown" };
            return Err((field.into(), "only applies when routing.acd_mode is \"ring_one\" or \"ring_all\"".into()));
        }
        Ok(())
    }
}

impl Offers {
    fn validate(&self, mode: AcdMode) -> Result<(), (String, String)> {
        for (field, v) in [("offers.reject_share", self.reject_share), ("offers.ignore_share", self.ignore_share)] {
            if !(0.0..=1.0).contains(&v) {
                return Err((field.to_owned(), format!("must be between 0 and 1 (got {v})")));
            }
        }
        if self.reject_share + self.ignore_share > 1.0 {
            return Err((
                "offers".into(),
                format!(
                    "reject_share + ignore_share must be at most 1 (got {})",
                    self.reject_share + self.ignore_share
                ),
            ));
        }
        if !mode.rings() {
            return Err((
                "offers".into(),
                "needs routing.acd_mode \"ring_one\" or \"ring_all\" (conversations are assigned outright otherwise)"
                    .into(),
            ));
        }
        Ok(())
    }
}

fn unknown_channel(name: &str) -> String {
    let names: Vec<&str> = CHANNELS.iter().map(|(n, _)| *n).collect();
    format!("unknown channel {name:?} (expected one of {})", names.join(", "))
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
    use crate::scenario::fixture::{error, GOOD};

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

    /// `GOOD` with a channel mix and a routing section.
    fn with_routing(channels: &str, routing: &str) -> String {
        format!("channels = {channels}\n{GOOD}\n[routing]\n{routing}\n")
    }

    #[test]
    fn channel_mixes_and_routing_parse_and_bad_ones_are_named() {
        let mix = r#"[{ channel = "web", weight = 3 }, { channel = "whatsapp", weight = 1 }]"#;
        let good = with_routing(mix, r#"velocity = [{ channel = "whatsapp", multiplier = 4.0 }]"#);
        let s = crate::scenario::Scenario::parse(&good, "t").unwrap();
        assert_eq!(s.channel_names(), ["web", "whatsapp"]);
        let routing = s.routing.as_ref().unwrap();
        assert_eq!((routing.velocity_of("whatsapp"), routing.velocity_of("web")), (4.0, 1.0));
        assert_eq!(routing.order_tolerance, std::time::Duration::from_secs(2));
        assert_eq!(routing.explain_sample, 2000);

        let e = error(&with_routing(r#"[{ channel = "telegram" }]"#, ""));
        assert!(e.contains("channels[0].channel: unknown channel \"telegram\" (expected one of web, sms"), "{e}");
        let e = error(&with_routing(r#"[{ channel = "web" }, { channel = "web" }]"#, ""));
        assert!(e.contains("channels[1].channel: duplicate channel"), "{e}");
        let e = error(&with_routing(r#"[{ channel = "web", weight = -1 }]"#, ""));
        assert!(e.contains("channels[0].weight"), "{e}");
        let e = error(&with_routing(mix, r#"velocity = [{ channel = "whatsapp", multiplier = 0 }]"#));
        assert!(e.contains("routing.velocity[0].multiplier: must be a number between 0.1 and 100 (got 0)"), "{e}");
        let e = error(&with_routing(
            mix,
            r#"velocity = [{ channel = "web", multiplier = 2 }, { channel = "fax", multiplier = 2 }]"#,
        ));
        assert!(e.contains("routing.velocity[1].channel: unknown channel \"fax\""), "{e}");
        let e = error(&with_routing(mix, "explain_sample = 0"));
        assert!(e.contains("routing.explain_sample"), "{e}");
        let e = error(&with_routing(mix, "urgent_share = 1.5"));
        assert!(e.contains("routing.urgent_share: must be between 0 and 1 (got 1.5)"), "{e}");
        let e = error(&with_routing(r#"[{ channel = "sms" }]"#, "urgent_share = 0.5"));
        assert!(e.contains("routing.urgent_share: urgent marks are for web conversations"), "{e}");
        let urgent = with_routing(mix, "urgent_share = 0.25\nurgent_after = \"500ms\"");
        let urgent = crate::scenario::Scenario::parse(&urgent, "t").unwrap();
        let routing = urgent.routing.unwrap();
        assert_eq!((routing.urgent_share, routing.urgent_after), (0.25, std::time::Duration::from_millis(500)));
        let e = error(&with_routing(mix, "velocty = []"));
        assert!(e.contains("unknown field `velocty`"), "{e}");
    }

    #[test]
    fn offer_settings_parse_and_bad_ones_are_named() {
        let ring = "acd_mode = \"ring_one\"\nring_timeout = \"5s\"\nreject_cooldown = \"2s\"";
        let offers = "[offers]\nreject_share = 0.2\nignore_share = 0.1";
        let good = format!("{}\n{offers}\n", with_routing("[]", ring));
        let s = crate::scenario::Scenario::parse(&good, "t").unwrap();
        let routing = s.routing.as_ref().unwrap();
        assert_eq!(routing.acd_mode, crate::scenario::AcdMode::RingOne);
        assert_eq!(routing.ring_timeout, Some(std::time::Duration::from_secs(5)));
        assert_eq!(routing.reject_cooldown, Some(std::time::Duration::from_secs(2)));
        let o = s.offers.as_ref().unwrap();
        assert_eq!((o.reject_share, o.ignore_share), (0.2, 0.1));
        // Without [routing] or an acd_mode, conversations are assigned outright.
        assert_eq!(
            crate::scenario::Scenario::parse(GOOD, "t").unwrap().acd_mode(),
            crate::scenario::AcdMode::AutoAccept
        );

        let e = error(&good.replace("ring_one", "ring_some"));
        assert!(e.contains("unknown variant `ring_some`"), "{e}");
        let e = error(&good.replace("ring_timeout = \"5s\"", "ring_timeout = \"4s\""));
        assert!(e.contains("routing.ring_timeout: must be between 5s and 10m (got 4s)"), "{e}");
        let e = error(&good.replace("ring_timeout = \"5s\"", "ring_timeout = \"11m\""));
        assert!(e.contains("routing.ring_timeout: must be between 5s and 10m (got 11m)"), "{e}");
        let e = error(&good.replace("reject_cooldown = \"2s\"", "reject_cooldown = \"25h\""));
        assert!(e.contains("routing.reject_cooldown: at most 24h"), "{e}");
        let e = error(&good.replace("reject_share = 0.2", "reject_share = 1.5"));
        assert!(e.contains("offers.reject_share: must be between 0 and 1 (got 1.5)"), "{e}");
        let e = error(&good.replace("ignore_share = 0.1", "ignore_share = -0.1"));
        assert!(e.contains("offers.ignore_share: must be between 0 and 1"), "{e}");
        let e = error(&good.replace("ignore_share = 0.1", "ignore_share = 0.9"));
        assert!(e.contains("offers: reject_share + ignore_share must be at most 1"), "{e}");
        let e = error(&good.replace("ignore_share = 0.1", "ignor_share = 0.1"));
        assert!(e.contains("unknown field `ignor_share`"), "{e}");
        // Offer behaviour or ring settings without a ringing mode.
        let e = error(&good.replace("acd_mode = \"ring_one\"\n", ""));
        assert!(e.contains("routing.ring_timeout: only applies when routing.acd_mode"), "{e}");
        let auto = format!("{}\n{offers}\n", with_routing("[]", ""));
        let e = error(&auto);
        assert!(e.contains("offers: needs routing.acd_mode"), "{e}");
        let e = error(&format!("{GOOD}\n{offers}\n"));
        assert!(e.contains("offers: needs routing.acd_mode"), "{e}");
    }
}
