//! The target rate of each arrival process over time, and how many conversations a schedule
//! will hold (the schedule, the run-size bound and the progress bar use them).

use std::time::Duration;

use super::Arrival;

impl Arrival {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::scenario::{Arrival, Step};

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
}
