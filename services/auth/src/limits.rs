//! Request rate limits per account and per credential (governor's keyed GCRA limiters, one
//! second of burst), refused with RESOURCE_EXHAUSTED and a `google.rpc.RetryInfo` delay.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tonic_types::{ErrorDetails, StatusExt};

use crate::config::LimitsConfig;
use crate::role::Principal;

/// Every this many checks, keys idle long enough to be full again are dropped, so the
/// limiters' maps hold only recently active accounts and credentials.
const PRUNE_EVERY: u64 = 8192;

pub struct RequestLimits {
    account: Option<DefaultKeyedRateLimiter<String>>,
    credential: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

fn limiter(per_second: u32) -> Option<DefaultKeyedRateLimiter<String>> {
    NonZeroU32::new(per_second).map(|n| RateLimiter::keyed(Quota::per_second(n)))
}

/// RESOURCE_EXHAUSTED with the delay after which a retry is admitted.
pub fn rate_limited(what: &str, retry_after: Duration) -> tonic::Status {
    let millis = retry_after.as_millis().max(1);
    tonic::Status::with_error_details(
        tonic::Code::ResourceExhausted,
        format!("{what}; retry after {millis} ms"),
        ErrorDetails::with_retry_info(Some(retry_after.max(Duration::from_millis(1)))),
    )
}

impl RequestLimits {
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            account: limiter(config.requests_per_second_per_account),
            credential: limiter(config.requests_per_second_per_credential),
            checks: AtomicU64::new(0),
        }
    }

    /// Admits one request of `who`, or says when to retry.
    pub fn admit(&self, who: &Principal) -> Result<(), tonic::Status> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            for limiter in [&self.account, &self.credential].into_iter().flatten() {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
        // The limiter's own clock: building a clock calibrates it (CPUID), far too costly per call.
        if let Some(limiter) = &self.account {
            if let Err(until) = limiter.check_key(&who.account_id) {
                return Err(rate_limited(
                    "request rate of the account exceeds limits.requests_per_second_per_account",
                    until.wait_time_from(limiter.clock().now()),
                ));
            }
        }
        if let Some(limiter) = &self.credential {
            if let Err(until) = limiter.check_key(&who.credential_key()) {
                return Err(rate_limited(
                    "request rate of this credential exceeds limits.requests_per_second_per_credential",
                    until.wait_time_from(limiter.clock().now()),
                ));
            }
        }
        Ok(())
    }
}

/// A per-key limit of `n` per minute (burst `n`), for limits a service applies itself, like
/// `limits.opens_per_consumer_per_minute`. Per replica.
pub struct PerMinute {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl PerMinute {
    /// 0: no limit.
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        Self { limiter, checks: AtomicU64::new(0) }
    }

    /// Admits one for `key`, or returns the delay after which one is admitted.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&key.to_owned()).map_err(|until| until.wait_time_from(limiter.clock().now()))
    }
}
