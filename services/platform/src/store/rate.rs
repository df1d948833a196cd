//! The consumer message rate (GCRA, the generic cell rate algorithm): `per_minute` messages
//! may arrive at once, then one every `60 s / per_minute`. The state is one number per
//! consumer, the theoretical arrival time in microseconds. `lua/append_message.lua` applies
//! the same arithmetic inside Redis; the conformance suite pins the two together.

/// Decides one message at `now_ms` given the stored theoretical arrival time. `Ok(new_tat)`
/// admits it (store `new_tat`, keep it until `new_tat`); `Err(retry_after_ms)` refuses it.
pub fn consumer_rate(stored_tat_us: Option<i64>, now_ms: i64, per_minute: u32) -> Result<i64, i64> {
    let per_minute = i64::from(per_minute.max(1));
    let interval_us = 60_000_000 / per_minute;
    let burst_us = (per_minute - 1) * interval_us;
    let now_us = now_ms.saturating_mul(1000);
    let tat = stored_tat_us.unwrap_or(now_us).max(now_us);
    let ahead = tat - now_us;
    if ahead > burst_us {
        // Round up: retrying after this many ms is admitted.
        return Err((ahead - burst_us + 999) / 1000);
    }
    Ok(tat + interval_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_rate_then_one_per_interval() {
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(consumer_rate(tat, 0, 3).expect("within the burst"));
        }
        // The fourth at once is refused until one interval (20 s) has passed.
        assert_eq!(consumer_rate(tat, 0, 3), Err(20_000));
        assert_eq!(consumer_rate(tat, 19_999, 3), Err(1));
        assert!(consumer_rate(tat, 20_000, 3).is_ok());
    }

    #[test]
    fn an_idle_consumer_gets_its_whole_burst_back() {
        let mut tat = None;
        for _ in 0..60 {
            tat = Some(consumer_rate(tat, 1_000, 60).expect("within the burst"));
        }
        assert!(consumer_rate(tat, 1_000, 60).is_err());
        let mut later = tat;
        for _ in 0..60 {
            later = Some(consumer_rate(later, 61_000, 60).expect("a minute later, a full burst again"));
        }
        assert!(consumer_rate(later, 61_000, 60).is_err());
    }
}
