//! What the simulated clients retry, and how: the one place for the harness's retry and
//! reconnect policy, on `backon`'s jittered exponential backoff.
//!
//! - Unary calls are retried the way a real client would: UNAVAILABLE and transport failures
//!   (the connection broke or could not be made) always; DEADLINE_EXCEEDED and UNKNOWN only
//!   when the call is idempotent. At most [`ATTEMPTS`] attempts within [`CALL_BUDGET`], each
//!   attempt with its own deadline of [`ATTEMPT_TIMEOUT`].
//! - Streams (the partner's outbound stream, the agents' streams) are reopened whenever they
//!   end, with the same backoff and no end: [`Reconnect`].
//!
//! Delays start at [`MIN_DELAY`] and double up to [`MAX_DELAY`], each plus a random 0–100 %
//! (backon's jitter), so no delay exceeds twice [`MAX_DELAY`].

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use tokio::time::Instant;
use tonic::{Code, Status};

/// First delay before a retry or reconnect.
pub const MIN_DELAY: Duration = Duration::from_millis(50);
/// Delays stop doubling here (jitter may add as much again).
pub const MAX_DELAY: Duration = Duration::from_secs(1);
/// Attempts of one unary call, the first included.
pub const ATTEMPTS: usize = 8;
/// Time one unary call may take over all its attempts.
pub const CALL_BUDGET: Duration = Duration::from_secs(30);
/// Deadline of one attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream that stayed open this long (or delivered something) starts its backoff over.
pub const STREAM_HEALTHY_AFTER: Duration = Duration::from_secs(1);

/// Whether sending a call twice can change the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// Repeating it is harmless (it carries an id the service dedupes on, or sets a state).
    Idempotent,
    /// Repeating it may store something twice (an agent's `SendMessage`).
    NotIdempotent,
}

fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default().with_min_delay(MIN_DELAY).with_max_delay(MAX_DELAY).with_factor(2.0).with_jitter()
}

/// The delays between the attempts of one unary call (at most `ATTEMPTS - 1` of them).
pub fn call_delays() -> impl Iterator<Item = Duration> {
    backoff().with_max_times(ATTEMPTS - 1).build()
}

/// The delays between reconnects of a stream: without end.
pub fn reconnect_delays() -> impl Iterator<Item = Duration> {
    backoff().without_max_times().build()
}

/// The connection broke, or could not be made: the status was made by the client's transport
/// (it carries the transport error as its source, or says so), not sent by the service.
pub fn is_transport(status: &Status) -> bool {
    if std::error::Error::source(status).is_some() {
        return true;
    }
    let message = status.message();
    [
        "transport error",
        "h2 protocol error",
        "error trying to connect",
        "connection closed",
        "connection reset",
        "broken pipe",
        "operation was canceled",
    ]
    .iter()
    .any(|m| message.to_ascii_lowercase().contains(m))
}

/// True if a real client would send the call again after `status`.
pub fn retryable(status: &Status, idempotence: Idempotence) -> bool {
    match status.code() {
        Code::Unavailable => true,
        Code::DeadlineExceeded | Code::Unknown if idempotence == Idempotence::Idempotent => true,
        _ => is_transport(status),
    }
}

/// True if a stream that ended with `status` ended the way a server shutdown or a broken
/// connection ends it: the client reconnects, and nothing failed.
pub fn is_disconnect(status: &Status) -> bool {
    status.code() == Code::Unavailable || is_transport(status)
}

/// A setup call the run cannot go on without (idempotent: setting, opening, acknowledging),
/// retried while the target is briefly unavailable; a failure is an error saying what was
/// being done.
pub async fn setup<T, F, Fut>(what: impl FnOnce() -> String, op: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<tonic::Response<T>, Status>>,
{
    call(Idempotence::Idempotent, |_, _| {}, op)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| anyhow::anyhow!("{} {}", s.code(), s.message()).context(what()))
}

/// One unary call with retries: `op` makes one attempt; `on_retry` hears each failure that is
/// retried (with the delay before the next attempt). Returns the answer, or the last failure.
pub async fn call<T, F, Fut>(
    idempotence: Idempotence,
    mut on_retry: impl FnMut(&Status, Duration),
    mut op: F,
) -> Result<T, Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Status>>,
{
    let deadline = Instant::now() + CALL_BUDGET;
    let attempt = || {
        let answer = op();
        async move {
            let left = deadline.saturating_duration_since(Instant::now()).min(ATTEMPT_TIMEOUT);
            tokio::time::timeout(left, answer).await.unwrap_or_else(|_| {
                Err(Status::deadline_exceeded(format!("no answer within {left:?} (client deadline)")))
            })
        }
    };
    attempt
        .retry(backoff().with_max_times(ATTEMPTS - 1))
        .sleep(tokio::time::sleep)
        .when(|status| retryable(status, idempotence))
        // Never sleep past the call's budget: give up with the last failure instead.
        .adjust(move |_, delay| delay.filter(|d| Instant::now() + *d < deadline))
        .notify(|status, delay| on_retry(status, delay))
        .await
}

/// Reconnect pacing for one stream: call [`Reconnect::wait`] before every reopen after the
/// first, and [`Reconnect::opened`] when a stream opened.
pub struct Reconnect {
    delays: Box<dyn Iterator<Item = Duration> + Send>,
    opened_at: Option<Instant>,
    delivered: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self::new()
    }
}

impl Reconnect {
    pub fn new() -> Self {
        Self { delays: Box::new(reconnect_delays()), opened_at: None, delivered: false }
    }

    /// A stream opened.
    pub fn opened(&mut self) {
        self.opened_at = Some(Instant::now());
        self.delivered = false;
    }

    /// The open stream delivered something.
    pub fn delivered(&mut self) {
        self.delivered = true;
    }

    /// Sleeps before the next open. The delay starts over after a stream that delivered
    /// something or stayed open a while; otherwise it grows.
    pub async fn wait(&mut self) -> Duration {
        let healthy = self.delivered || self.opened_at.is_some_and(|at| at.elapsed() >= STREAM_HEALTHY_AFTER);
        if healthy {
            self.delays = Box::new(reconnect_delays());
        }
        self.opened_at = None;
        self.delivered = false;
        let delay = self.delays.next().unwrap_or(MAX_DELAY);
        tokio::time::sleep(delay).await;
        delay
    }
}

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconnect").field("opened_at", &self.opened_at).field("delivered", &self.delivered).finish()
    }
}

/// The canonical gRPC name of a status code (`NOT_FOUND`), as reports show it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// How a failure is filed in the reports: the code, or `TRANSPORT` for a broken connection
/// the client's transport reported under a code that would say otherwise.
pub fn failure_name(status: &Status) -> &'static str {
    if status.code() != Code::Unavailable && is_transport(status) {
        "TRANSPORT"
    } else {
        code_name(status.code())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;

    #[test]
    fn what_is_retried() {
        use Idempotence::*;
        let unavailable = Status::unavailable("shutting down");
        assert!(retryable(&unavailable, Idempotent) && retryable(&unavailable, NotIdempotent));
        for status in [Status::deadline_exceeded("slow"), Status::unknown("?")] {
            assert!(retryable(&status, Idempotent), "{status:?}");
            assert!(!retryable(&status, NotIdempotent), "{status:?}");
        }
        let transport = Status::unknown("h2 protocol error: error reading a body from connection");
        assert!(retryable(&transport, NotIdempotent));
        assert_eq!(failure_name(&transport), "TRANSPORT");
        for status in [
            Status::not_found("no such account"),
            Status::failed_precondition("closed"),
            Status::resource_exhausted("rate"),
            Status::invalid_argument("bad"),
            Status::internal("bug"),
        ] {
            assert!(!retryable(&status, Idempotent), "{status:?}");
            assert!(!is_disconnect(&status), "{status:?}");
        }
        assert!(is_disconnect(&unavailable));
        assert_eq!(failure_name(&Status::not_found("x")), "NOT_FOUND");
    }

    #[test]
    fn the_reconnect_schedule_doubles_from_50_ms_and_stops_growing() {
        let delays: Vec<Duration> = reconnect_delays().take(12).collect();
        for (k, d) in delays.iter().enumerate() {
            let base = (MIN_DELAY * 2u32.pow(k as u32)).min(MAX_DELAY);
            assert!(*d >= base && *d <= base * 2, "delay {k}: {d:?} outside [{base:?}, {:?}]", base * 2);
        }
        assert!(delays[11] >= MAX_DELAY && delays[11] <= MAX_DELAY * 2);
        assert_eq!(call_delays().count(), ATTEMPTS - 1);
    }

    /// An operation that fails with `status` `failures` times, then answers.
    fn flaky(
        failures: u32,
        status: fn() -> Status,
    ) -> (Arc<AtomicU32>, impl FnMut() -> futures::future::Ready<Result<u32, Status>>) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let op = move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            futures::future::ready(if n < failures { Err(status()) } else { Ok(n) })
        };
        (calls, op)
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_retried_through_unavailable_with_backoff() {
        let started = Instant::now();
        let (calls, op) = flaky(3, || Status::unavailable("restarting"));
        let mut retries = Vec::new();
        let answer = call(Idempotence::NotIdempotent, |s, d| retries.push((s.code(), d)), op).await;
        assert_eq!(answer.unwrap(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        assert_eq!(retries.len(), 3);
        // 50, 100, 200 ms, each plus up to as much again.
        let slept = started.elapsed();
        assert!(slept >= Duration::from_millis(350) && slept <= Duration::from_millis(700), "{slept:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_gives_up_after_its_attempts_with_the_last_failure() {
        let started = Instant::now();
        let (calls, op) = flaky(u32::MAX, || Status::unavailable("down"));
        let err = call(Idempotence::Idempotent, |_, _| {}, op).await.unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS as u32);
        assert!(started.elapsed() < CALL_BUDGET);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_setup_call_says_what_was_being_done() {
        let op = || async { Err::<tonic::Response<()>, _>(Status::permission_denied("not yours")) };
        let err = setup(|| "setting the velocity rules of acme".to_owned(), op).await.unwrap_err();
        assert_eq!(format!("{err:#}"), "setting the velocity rules of acme: The caller does not have permission to execute the specified operation not yours");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_hangs_gets_deadlines_and_stays_within_its_budget() {
        let started = Instant::now();
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let err = call(
            Idempotence::Idempotent,
            |_, _| {},
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                futures::future::pending::<Result<(), Status>>()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), Code::DeadlineExceeded);
        assert!(calls.load(Ordering::SeqCst) >= 3, "retried after each deadline");
        assert!(started.elapsed() <= CALL_BUDGET, "{:?}", started.elapsed());
        // Not idempotent: one deadline is the end.
        calls.store(0, Ordering::SeqCst);
        let counter = calls.clone();
        let err = call(
            Idempotence::NotIdempotent,
            |_, _| {},
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                futures::future::pending::<Result<(), Status>>()
            },
        )
        .await
        .unwrap_err();
        assert_eq!((err.code(), calls.load(Ordering::SeqCst)), (Code::DeadlineExceeded, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_not_retried() {
        let (calls, op) = flaky(u32::MAX, || Status::not_found("no such conversation"));
        let err = call(Idempotence::Idempotent, |_, _| {}, op).await.unwrap_err();
        assert_eq!((err.code(), calls.load(Ordering::SeqCst)), (Code::NotFound, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn reconnects_back_off_and_start_over_after_a_healthy_stream() {
        let mut reconnect = Reconnect::new();
        let mut waited = Vec::new();
        for _ in 0..5 {
            reconnect.opened();
            waited.push(reconnect.wait().await);
        }
        // Streams that ended at once: the delay grows.
        assert!(waited[4] >= MIN_DELAY * 16, "{waited:?}");
        // A stream that delivered: back to the first delay.
        reconnect.opened();
        reconnect.delivered();
        let after_healthy = reconnect.wait().await;
        assert!(after_healthy <= MIN_DELAY * 2, "{after_healthy:?}");
        // A stream that stayed open a while: the same.
        for _ in 0..4 {
            reconnect.opened();
            reconnect.wait().await;
        }
        reconnect.opened();
        tokio::time::sleep(STREAM_HEALTHY_AFTER).await;
        assert!(reconnect.wait().await <= MIN_DELAY * 2);
    }
}
