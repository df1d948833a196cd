//! The arrival schedule: computed up front from the scenario and its seed, so the load is
//! open loop (nothing waits for a response) and two runs of a scenario send the same load.

use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Exp;

use crate::scenario::{Arrival, Scenario};

/// What kind of open a consumer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKind {
    /// One open.
    Single,
    /// The same open twice at once (same partner message id): a partner retry racing itself.
    Duplicate,
    /// `chatty_messages` opens at once, each its own message: one consumer typing fast.
    Chatty,
}

/// One planned conversation. Its index in the schedule is its id in the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    /// Intended send time of the open, microseconds after the start of arrivals.
    pub at_us: u64,
    pub account: u32,
    pub skill: u32,
    /// Index into [`Scenario::channel_names`] (0, web, when the scenario has no channel mix).
    pub channel: u32,
    pub kind: OpenKind,
}

/// The whole schedule, sorted by `at_us`.
pub fn build(scenario: &Scenario) -> Vec<Planned> {
    let mut rng = StdRng::seed_from_u64(scenario.seed);
    let weights: Vec<f64> = scenario.skills.iter().map(|s| s.weight).collect();
    // Validation guarantees a positive sum, so this cannot fail; an empty plan is the fallback.
    let Ok(skill_pick) = WeightedIndex::new(&weights) else { return Vec::new() };
    // Drawn only with a mix, so the schedules of scenarios without one do not change.
    let channel_pick = if scenario.channels.is_empty() {
        None
    } else {
        let weights: Vec<f64> = scenario.channels.iter().map(|c| c.weight).collect();
        let Ok(pick) = WeightedIndex::new(&weights) else { return Vec::new() };
        Some(pick)
    };
    // Whole nanoseconds, so evenly spaced arrivals do not drift over a long schedule.
    let end = scenario.duration.as_nanos() as u64;
    let script = &scenario.script;
    let mut plan = Vec::with_capacity(scenario.arrival.expected_count(scenario.duration).ceil() as usize);
    let mut t: u64 = 0;
    while t < end {
        let rate = scenario.arrival.rate_at(t as f64 / 1e9);
        if rate <= 0.0 {
            // A silent stretch (a step at rate 0): look again a millisecond later.
            t += 1_000_000;
            continue;
        }
        let kind = if rng.random_bool(script.duplicate_open_share) {
            OpenKind::Duplicate
        } else if rng.random_bool(script.chatty_share) {
            OpenKind::Chatty
        } else {
            OpenKind::Single
        };
        let account = rng.random_range(0..scenario.accounts);
        let skill = skill_pick.sample(&mut rng) as u32;
        let channel = channel_pick.as_ref().map_or(0, |pick| pick.sample(&mut rng) as u32);
        plan.push(Planned { at_us: t / 1000, account, skill, channel, kind });
        t = match &scenario.arrival {
            // From the index, not by adding rounded gaps: exactly rate × duration arrivals.
            Arrival::Constant { rate } => (plan.len() as f64 * 1e9 / rate).round() as u64,
            Arrival::Poisson { .. } => {
                let gap_s = Exp::new(rate).map(|exp| exp.sample(&mut rng)).unwrap_or(1.0 / rate);
                t + ((gap_s * 1e9).round() as u64).max(1)
            }
            _ => t + ((1e9 / rate).round() as u64).max(1),
        };
    }
    plan
}

/// Opens the schedule intends in each whole second (index = second).
pub fn per_second(plan: &[Planned]) -> Vec<u64> {
    let mut seconds = Vec::new();
    for p in plan {
        let s = (p.at_us / 1_000_000) as usize;
        if seconds.len() <= s {
            seconds.resize(s + 1, 0);
        }
        seconds[s] += 1;
    }
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(arrival: &str, script: &str) -> Scenario {
        let text = format!(
            r#"
            seed = 11
            duration = "4s"
            skills = [{{ id = "a", weight = 1 }}, {{ id = "b", weight = 3 }}]
            agents = [{{ name = "g", count = 1, skills = ["a", "b"], max_conversations = 1 }}]
            accounts = 2
            arrival = {arrival}
            script = {script}
            "#
        );
        Scenario::parse(&text, "t").unwrap()
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_within_duration() {
        let plan = build(&scenario(r#"{ process = "constant", rate = 100 }"#, r#"{ close_by = "agent" }"#));
        assert_eq!(plan.len(), 400);
        assert_eq!(plan[1].at_us - plan[0].at_us, 10_000);
        assert!(plan.iter().all(|p| p.at_us < 4_000_000 && p.account < 2 && p.skill < 2));
        assert_eq!(per_second(&plan), vec![100, 100, 100, 100]);
        // Skill weights 1:3.
        let b = plan.iter().filter(|p| p.skill == 1).count();
        assert!((250..350).contains(&b), "{b}");
    }

    #[test]
    fn a_constant_rate_that_does_not_divide_a_second_still_gives_rate_times_duration() {
        let plan = build(&scenario(r#"{ process = "constant", rate = 30 }"#, r#"{ close_by = "agent" }"#));
        assert_eq!(plan.len(), 120);
        assert_eq!(per_second(&plan), vec![30, 30, 30, 30]);
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let s = scenario(
            r#"{ process = "poisson", rate = 200 }"#,
            r#"{ close_by = "agent", chatty_share = 0.1, chatty_messages = 3 }"#,
        );
        assert_eq!(build(&s), build(&s));
        let n = build(&s).len();
        assert!((650..950).contains(&n), "{n}");
        assert!(build(&s).iter().any(|p| p.kind == OpenKind::Chatty));
    }

    #[test]
    fn a_channel_mix_splits_arrivals_by_weight() {
        let mut s = scenario(r#"{ process = "constant", rate = 100 }"#, r#"{ close_by = "agent" }"#);
        assert!(build(&s).iter().all(|p| p.channel == 0), "no mix: all on the first (web)");
        s.channels = vec![
            crate::scenario::ChannelSpec { channel: "web".into(), weight: 3.0 },
            crate::scenario::ChannelSpec { channel: "whatsapp".into(), weight: 1.0 },
        ];
        let plan = build(&s);
        let whatsapp = plan.iter().filter(|p| p.channel == 1).count();
        assert!((70..130).contains(&whatsapp), "{whatsapp} of {}", plan.len());
        assert_eq!(build(&s), plan);
    }

    #[test]
    fn steps_and_bursts_shape_the_rate() {
        let steps = r#"{ process = "step", steps = [{ at = "0s", rate = 10 }, { at = "2s", rate = 0 }, { at = "3s", rate = 50 }] }"#;
        assert_eq!(per_second(&build(&scenario(steps, r#"{ close_by = "agent" }"#))), vec![10, 10, 0, 50]);
        let burst = r#"{ process = "burst", rate = 10, burst_rate = 100, every = "2s", length = "500ms" }"#;
        let plan = build(&scenario(burst, r#"{ close_by = "agent" }"#));
        let in_bursts = plan.iter().filter(|p| p.at_us % 2_000_000 < 500_000).count();
        assert!(in_bursts >= 95 && plan.len() - in_bursts <= 35, "{in_bursts} of {}", plan.len());
    }
}
