//! What the simulated partners and agents saw. Every task sends its observations to one
//! collector task, which owns all of them (no locks on the hot path), keeps the HDR
//! histograms and the timeline, and hands the lot to the audit at the end.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{mpsc, oneshot, watch};

use crate::result::{self, Counts, Measure, Second};

/// One observation. Times are microseconds since the start of arrivals; `idx` is the
/// conversation's index in the schedule.
#[derive(Debug)]
pub enum Obs {
    /// The open (or the first of its duplicates) left at `at_us`; intended at `intended_us`.
    OpenSent { intended_us: u64, at_us: u64 },
    /// One open answered.
    Opened { idx: usize, conversation_id: String, created: bool, latency_us: u64 },
    /// Every open of this conversation failed; it is finished.
    OpenFailed { idx: usize },
    /// A gRPC call failed.
    RpcError { method: &'static str, code: tonic::Code },
    /// The consumer's message `n` was accepted by the connector.
    ConsumerSent { idx: usize, n: u32 },
    /// An agent received an assignment.
    Assigned { idx: usize, agent: u32, conversation_id: String, at_us: u64, latency_us: u64 },
    /// An agent received consumer message `n` (live or in the assignment's history).
    ConsumerDelivered { idx: usize, n: u32, agent: u32, latency_us: u64 },
    /// The agent's reply `n` was accepted.
    ReplySent { idx: usize, n: u32 },
    /// The partner received agent reply `n`.
    ReplyDelivered { idx: usize, n: u32, latency_us: u64 },
    /// Someone is about to close the conversation: from here on it no longer counts against
    /// its agent's maximum in the audit (the service frees capacity only after this).
    CloseIssued { idx: usize, at_us: u64 },
    /// The close call failed; the conversation is finished (and reported as not closed).
    CloseFailed { idx: usize },
    /// The partner's outbound stream reported the conversation closed: it is finished.
    ClosedSeen { idx: usize },
    /// Something arrived that the run did not expect (another account's conversation, an
    /// unparseable id, an out-of-order sequence): an audit failure with this detail.
    Anomaly { check: Anomaly, id: String },
    /// Sum of the queue depths over every skill.
    QueueDepth { depth: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anomaly {
    /// Invariant 7: an event for a conversation of another account.
    ForeignAccount,
    /// Invariant 4: a partner stream sequence that did not increase.
    OutOfOrder,
    /// An event naming a conversation or message this run did not create.
    Unknown,
}

/// Everything observed about one conversation.
#[derive(Debug, Default, Clone)]
pub struct ConvObs {
    /// Distinct conversation ids the opens returned (more than one is a duplicate).
    pub conversation_ids: Vec<String>,
    /// Opens that answered `created = true`.
    pub created: u32,
    pub open_failed: bool,
    /// (agent index, time seen) per assignment event.
    pub assignments: Vec<(u32, u64)>,
    pub close_issued_us: Option<u64>,
    pub close_failed: bool,
    pub closed_seen: bool,
    /// Deliveries per consumer message number; sent messages are those with `sent[n]`.
    pub consumer_sent: Vec<bool>,
    pub consumer_delivered: Vec<u32>,
    pub replies_sent: Vec<bool>,
    pub replies_delivered: Vec<u32>,
}

impl ConvObs {
    pub fn opened(&self) -> bool {
        !self.conversation_ids.is_empty()
    }
    pub fn finished(&self) -> bool {
        self.open_failed || self.close_failed || self.closed_seen
    }
}

/// Marks message `n` sent; true if it was not marked before.
fn mark(v: &mut Vec<bool>, n: u32) -> bool {
    let n = n as usize;
    if v.len() <= n {
        v.resize(n + 1, false);
    }
    !std::mem::replace(&mut v[n], true)
}

fn bump(v: &mut Vec<u32>, n: u32) {
    let n = n as usize;
    if v.len() <= n {
        v.resize(n + 1, 0);
    }
    v[n] += 1;
}

/// Live numbers the driver waits on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub finished: u64,
}

/// What the collector hands back at the end.
pub struct Collected {
    pub convs: Vec<ConvObs>,
    pub anomalies: BTreeMap<Anomaly, Vec<String>>,
    pub counts: Counts,
    pub measures: Vec<Measure>,
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
    pub timeline: Vec<Second>,
    pub opens_sent: u64,
}

/// Where tasks send observations.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Msg>,
}

enum Msg {
    Obs(Obs),
    Finish(oneshot::Sender<Collected>),
}

impl Recorder {
    pub fn record(&self, obs: Obs) {
        // The collector lives until `finish`; after that, late observations do not count.
        let _ = self.tx.send(Msg::Obs(obs));
    }

    pub fn rpc_error(&self, method: &'static str, status: &tonic::Status) {
        self.record(Obs::RpcError { method, code: status.code() });
    }

    /// Stops the collector after everything recorded so far and returns what it holds.
    pub async fn finish(&self) -> anyhow::Result<Collected> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Finish(tx)).map_err(|_| anyhow::anyhow!("the collector stopped early"))?;
        Ok(rx.await?)
    }
}

const LATENCY_MAX_US: u64 = 3_600_000_000;

#[allow(clippy::expect_used)] // constant bounds (1 µs .. 1 h, 2 or 3 digits) that hdrhistogram accepts
fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, sigfig).expect("valid histogram bounds")
}

struct Bucket {
    opens: u64,
    assignments: u64,
    open_to_assignment: Histogram<u64>,
    in_flight: u64,
    queue_depth: u64,
}

struct State {
    convs: Vec<ConvObs>,
    anomalies: BTreeMap<Anomaly, Vec<String>>,
    counts: Counts,
    hist: BTreeMap<&'static str, Histogram<u64>>,
    errors: BTreeMap<String, BTreeMap<String, u64>>,
    target_per_second: Vec<u64>,
    buckets: Vec<Bucket>,
    finished: u64,
    opens_sent: u64,
    started: tokio::time::Instant,
}

impl State {
    fn bucket(&mut self, at_us: u64) -> &mut Bucket {
        let s = (at_us / 1_000_000) as usize;
        while self.buckets.len() <= s {
            self.buckets.push(Bucket {
                opens: 0,
                assignments: 0,
                open_to_assignment: histogram(2),
                in_flight: 0,
                queue_depth: 0,
            });
        }
        &mut self.buckets[s]
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    fn latency(&mut self, measure: &'static str, us: u64) {
        if let Some(h) = self.hist.get_mut(measure) {
            h.saturating_record(us.max(1));
        }
    }

    fn conv(&mut self, idx: usize) -> Option<&mut ConvObs> {
        self.convs.get_mut(idx)
    }

    /// Applies `set` to the conversation; true if that finished it (it was not before).
    fn finish(&mut self, idx: usize, set: impl FnOnce(&mut ConvObs)) -> bool {
        let Some(c) = self.convs.get_mut(idx) else { return false };
        let was = c.finished();
        set(c);
        let now = !was && c.finished();
        self.finished += u64::from(now);
        now
    }

    fn apply(&mut self, obs: Obs) {
        match obs {
            Obs::OpenSent { at_us, .. } => {
                self.opens_sent += 1;
                self.bucket(at_us).opens += 1;
            }
            Obs::Opened { idx, conversation_id, created, latency_us } => {
                self.latency(result::OPEN_RPC, latency_us);
                let Some(c) = self.conv(idx) else { return };
                let first = !c.opened();
                if !c.conversation_ids.contains(&conversation_id) {
                    c.conversation_ids.push(conversation_id);
                }
                c.created += u32::from(created);
                if first {
                    self.counts.opened += 1;
                }
            }
            Obs::OpenFailed { idx } => {
                self.counts.open_failed += 1;
                self.finish(idx, |c| c.open_failed = true);
            }
            Obs::RpcError { method, code } => {
                *self.errors.entry(method.to_owned()).or_default().entry(format!("{code:?}")).or_default() += 1;
            }
            Obs::ConsumerSent { idx, n } => {
                // A duplicate open repeats message 0: count each message once.
                if self.conv(idx).is_some_and(|c| mark(&mut c.consumer_sent, n)) {
                    self.counts.consumer_messages_sent += 1;
                }
            }
            Obs::Assigned { idx, agent, conversation_id, at_us, latency_us } => {
                let Some(c) = self.conv(idx) else { return };
                if !c.conversation_ids.is_empty() && !c.conversation_ids.contains(&conversation_id) {
                    // The agent got a conversation id the opens never returned.
                    c.conversation_ids.push(conversation_id);
                }
                let first = c.assignments.is_empty();
                c.assignments.push((agent, at_us));
                if first {
                    self.counts.assigned += 1;
                    self.latency(result::OPEN_TO_ASSIGNMENT, latency_us);
                    let b = self.bucket(at_us);
                    b.assignments += 1;
                    b.open_to_assignment.saturating_record(latency_us.max(1));
                }
            }
            Obs::ConsumerDelivered { idx, n, latency_us, .. } => {
                let Some(c) = self.conv(idx) else { return };
                bump(&mut c.consumer_delivered, n);
                if c.consumer_delivered[n as usize] == 1 {
                    self.counts.consumer_messages_delivered += 1;
                    self.latency(result::CONSUMER_TO_AGENT, latency_us);
                }
            }
            Obs::ReplySent { idx, n } => {
                if self.conv(idx).is_some_and(|c| mark(&mut c.replies_sent, n)) {
                    self.counts.agent_replies_sent += 1;
                }
            }
            Obs::ReplyDelivered { idx, n, latency_us } => {
                let Some(c) = self.conv(idx) else { return };
                bump(&mut c.replies_delivered, n);
                if c.replies_delivered[n as usize] == 1 {
                    self.counts.agent_replies_delivered += 1;
                    self.latency(result::AGENT_TO_PARTNER, latency_us);
                }
            }
            Obs::CloseIssued { idx, at_us } => {
                if let Some(c) = self.conv(idx) {
                    c.close_issued_us.get_or_insert(at_us);
                }
            }
            Obs::CloseFailed { idx } => {
                self.finish(idx, |c| c.close_failed = true);
            }
            Obs::ClosedSeen { idx } => {
                if self.finish(idx, |c| c.closed_seen = true) {
                    self.counts.closed += 1;
                }
            }
            Obs::Anomaly { check, id } => {
                let ids = self.anomalies.entry(check).or_default();
                if ids.len() < 50 {
                    ids.push(id);
                }
            }
            Obs::QueueDepth { depth } => {
                let now = self.now_us();
                let b = self.bucket(now);
                b.queue_depth = b.queue_depth.max(depth);
            }
        }
    }

    /// Closes the second that just ended: the in-flight count is read at its end.
    fn end_second(&mut self) {
        // The tick fires just after the second ends (never early), so half a second back is
        // inside the second that ended.
        let ended = self.now_us().saturating_sub(500_000);
        let in_flight = self.counts.opened.saturating_sub(self.counts.assigned);
        self.bucket(ended).in_flight = in_flight;
    }

    fn p99_so_far(&self) -> f64 {
        self.hist.get(result::OPEN_TO_ASSIGNMENT).map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0)
    }

    fn collect(self) -> Collected {
        let measures =
            [result::OPEN_TO_ASSIGNMENT, result::CONSUMER_TO_AGENT, result::AGENT_TO_PARTNER, result::OPEN_RPC]
                .iter()
                .filter_map(|name| self.hist.get(name).map(|h| measure(name, h)))
                .collect();
        let timeline = self
            .buckets
            .iter()
            .enumerate()
            .map(|(s, b)| {
                let q = |p: f64| {
                    if b.open_to_assignment.is_empty() {
                        0.0
                    } else {
                        ms(b.open_to_assignment.value_at_quantile(p))
                    }
                };
                Second {
                    t: (s + 1) as f64,
                    target_opens: self.target_per_second.get(s).copied().unwrap_or(0),
                    opens: b.opens,
                    assignments: b.assignments,
                    open_to_assignment_p50_ms: q(0.5),
                    open_to_assignment_p99_ms: q(0.99),
                    in_flight: b.in_flight,
                    queue_depth: b.queue_depth,
                }
            })
            .collect();
        Collected {
            convs: self.convs,
            anomalies: self.anomalies,
            counts: self.counts,
            measures,
            errors: self.errors,
            timeline,
            opens_sent: self.opens_sent,
        }
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn measure(name: &str, h: &Histogram<u64>) -> Measure {
    let q = |p: f64| if h.is_empty() { 0.0 } else { ms(h.value_at_quantile(p)) };
    Measure {
        name: name.to_owned(),
        count: h.len(),
        mean_ms: if h.is_empty() { 0.0 } else { h.mean() / 1000.0 },
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: if h.is_empty() { 0.0 } else { ms(h.max()) },
    }
}

/// How the collector shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live bar on a terminal, plain interval lines otherwise.
    Auto,
    Quiet,
}

/// Starts the collector. `started` is the start of arrivals; `target_per_second` the plan.
pub fn spawn(
    conversations: usize,
    target_per_second: Vec<u64>,
    started: tokio::time::Instant,
    display: Display,
) -> (Recorder, watch::Receiver<Progress>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (progress_tx, progress_rx) = watch::channel(Progress::default());
    let scheduled: u64 = target_per_second.iter().sum();
    let mut state = State {
        convs: vec![ConvObs::default(); conversations],
        anomalies: BTreeMap::new(),
        counts: Counts { scheduled, ..Counts::default() },
        hist: [result::OPEN_TO_ASSIGNMENT, result::CONSUMER_TO_AGENT, result::AGENT_TO_PARTNER, result::OPEN_RPC]
            .into_iter()
            .map(|m| (m, histogram(3)))
            .collect(),
        errors: BTreeMap::new(),
        target_per_second,
        buckets: Vec::new(),
        finished: 0,
        opens_sent: 0,
        started,
    };
    let bar = progress_bar(scheduled, display);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
        let mut last_opens = 0;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Obs(obs)) => {
                        let finished = state.finished;
                        state.apply(obs);
                        if state.finished != finished {
                            progress_tx.send_replace(Progress { finished: state.finished });
                        }
                    }
                    Some(Msg::Finish(reply)) => {
                        let _ = reply.send(collect_now(&mut state));
                        bar.finish_and_clear();
                        return;
                    }
                    None => return,
                },
                _ = tick.tick() => {
                    state.end_second();
                    let rate = state.opens_sent - last_opens;
                    last_opens = state.opens_sent;
                    let line = format!(
                        "{:>4}s  opens {rate}/s  waiting {}  finished {}/{}  errors {}  p99 open->assignment {:.1} ms",
                        state.started.elapsed().as_secs(),
                        state.counts.opened.saturating_sub(state.counts.assigned),
                        state.finished,
                        scheduled,
                        state.errors.values().flat_map(|c| c.values()).sum::<u64>(),
                        state.p99_so_far(),
                    );
                    if bar.is_hidden() {
                        if display == Display::Auto && state.started.elapsed().as_secs().is_multiple_of(5) {
                            eprintln!("{line}");
                        }
                    } else {
                        bar.set_position(state.opens_sent);
                        bar.set_message(line);
                    }
                }
            }
        }
    });
    (Recorder { tx }, progress_rx)
}

/// Takes the state out for the final report (the collector stops right after).
fn collect_now(state: &mut State) -> Collected {
    let taken = std::mem::replace(
        state,
        State {
            convs: Vec::new(),
            anomalies: BTreeMap::new(),
            counts: Counts::default(),
            hist: BTreeMap::new(),
            errors: BTreeMap::new(),
            target_per_second: Vec::new(),
            buckets: Vec::new(),
            finished: 0,
            opens_sent: 0,
            started: state.started,
        },
    );
    taken.collect()
}

fn progress_bar(len: u64, display: Display) -> ProgressBar {
    if display == Display::Quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} opens  {msg}") {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_collector_counts_each_thing_once_and_tracks_finished() {
        let started = tokio::time::Instant::now();
        let (rec, mut progress) = spawn(2, vec![2], started, Display::Quiet);
        rec.record(Obs::OpenSent { intended_us: 0, at_us: 10 });
        rec.record(Obs::Opened { idx: 0, conversation_id: "x".into(), created: true, latency_us: 1_500 });
        // A racing duplicate open: same conversation, message 0 reported twice.
        rec.record(Obs::Opened { idx: 0, conversation_id: "x".into(), created: false, latency_us: 1_700 });
        rec.record(Obs::ConsumerSent { idx: 0, n: 0 });
        rec.record(Obs::ConsumerSent { idx: 0, n: 0 });
        rec.record(Obs::Assigned { idx: 0, agent: 3, conversation_id: "x".into(), at_us: 2_000, latency_us: 2_000 });
        rec.record(Obs::ConsumerDelivered { idx: 0, n: 0, agent: 3, latency_us: 900 });
        rec.record(Obs::ConsumerDelivered { idx: 0, n: 0, agent: 3, latency_us: 950 });
        rec.record(Obs::ClosedSeen { idx: 0 });
        rec.record(Obs::ClosedSeen { idx: 0 });
        rec.record(Obs::OpenFailed { idx: 1 });
        rec.record(Obs::RpcError { method: "OpenConversation", code: tonic::Code::Unavailable });
        rec.record(Obs::Anomaly { check: Anomaly::OutOfOrder, id: "seq 3 after 5".into() });
        tokio::time::timeout(Duration::from_secs(5), progress.wait_for(|p| p.finished == 2)).await.unwrap().unwrap();
        let got = rec.finish().await.unwrap();

        let c = &got.counts;
        assert_eq!((c.scheduled, c.opened, c.open_failed, c.assigned, c.closed), (2, 1, 1, 1, 1));
        assert_eq!((c.consumer_messages_sent, c.consumer_messages_delivered), (1, 1));
        assert_eq!(got.convs[0].conversation_ids, ["x"]);
        assert_eq!(got.convs[0].created, 1);
        assert_eq!(got.convs[0].consumer_delivered, [2], "both deliveries seen, counted once");
        assert_eq!(got.errors["OpenConversation"]["Unavailable"], 1);
        assert_eq!(got.anomalies[&Anomaly::OutOfOrder], ["seq 3 after 5"]);
        let open_to_assignment = got.measures.iter().find(|m| m.name == result::OPEN_TO_ASSIGNMENT).unwrap();
        assert_eq!(open_to_assignment.count, 1);
        assert!((open_to_assignment.max_ms - 2.0).abs() < 0.01, "{open_to_assignment:?}");
        assert_eq!(got.timeline[0].target_opens, 2);
        assert_eq!((got.timeline[0].opens, got.timeline[0].assignments), (1, 1));
    }
}
