//! What the simulated partners and agents saw. Every task sends its observations to one
//! collector task, which owns all of them (no locks on the hot path), keeps the HDR
//! histograms and the timeline, and hands the lot to the audit at the end.

mod state;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{mpsc, oneshot, watch};

use crate::result::{Counts, Duplicates, Measure, Second};
use crate::retry;
use state::State;

/// One observation. Times are microseconds since the start of arrivals; `idx` is the
/// conversation's index in the schedule.
#[derive(Debug)]
pub enum Obs {
    /// The open (or the first of its duplicates) left at `at_us`; intended at `intended_us`.
    OpenSent { intended_us: u64, at_us: u64 },
    /// One open answered; the open was meant to leave at `intended_us`.
    Opened { idx: usize, conversation_id: String, created: bool, intended_us: u64, latency_us: u64 },
    /// Every open of this conversation failed; it is finished.
    OpenFailed { idx: usize },
    /// A call failed for good (refused, or still failing after its retries), or a stream
    /// ended in a way a client does not expect. `code` is a gRPC code name or `TRANSPORT`.
    Failed { method: &'static str, code: &'static str },
    /// An attempt failed and the call was retried.
    Retried { method: &'static str, code: &'static str },
    /// A stream was reopened after it ended (or failed to open) this way.
    Reconnected { method: &'static str, how: &'static str },
    /// The partner stream delivered a sequence it had delivered before (after a reconnect).
    Redelivered,
    /// An agent's snapshot after a re-subscribe carried a conversation it already held.
    RepeatedAssignment,
    /// The consumer's message `n` was accepted by the connector.
    ConsumerSent { idx: usize, n: u32 },
    /// An agent received an assignment.
    Assigned { idx: usize, agent: u32, conversation_id: String, at_us: u64, latency_us: u64 },
    /// The agent's stream said the conversation is no longer the agent's.
    Unassigned { idx: usize, agent: u32 },
    /// The agent transferred the conversation away with a call issued at `at_us`: from then on
    /// it no longer counts against that agent's maximum (the service frees it after this).
    Released { idx: usize, agent: u32, at_us: u64 },
    /// An agent received consumer message `n` (live or in the assignment's history).
    ConsumerDelivered { idx: usize, n: u32, agent: u32, latency_us: u64 },
    /// The agent is about to send a reply (`at_us`): from then on the conversation may be
    /// pending consumer and its weight may drop after the time to inactive (R8.3).
    ReplyIssued { idx: usize, agent: u32, at_us: u64 },
    /// The agent's reply `n` was accepted.
    ReplySent { idx: usize, n: u32 },
    /// The agent is about to log in after the start of arrivals: its warm-up (R8.12) starts
    /// no earlier.
    LoginIssued { agent: u32, at_us: u64 },
    /// The partner received agent reply `n`.
    ReplyDelivered { idx: usize, n: u32, latency_us: u64 },
    /// The partner read a system message (an automatic message, R14.6) of the conversation.
    SystemMessage { idx: usize, seen: SystemSeen },
    /// Someone is about to close the conversation: from here on it no longer counts against
    /// its agent's maximum in the audit (the service frees capacity only after this).
    CloseIssued { idx: usize, at_us: u64 },
    /// The close call failed; the conversation is finished (and reported as not closed).
    CloseFailed { idx: usize },
    /// The partner's outbound stream reported the conversation closed (`auto`: by itself after
    /// a silence, R13.5): it is finished.
    ClosedSeen { idx: usize, auto: bool },
    /// Something arrived that the run did not expect (another account's conversation, an
    /// unparseable id, an out-of-order sequence): an audit failure with this detail.
    Anomaly { check: Anomaly, id: String },
    /// Sum of the queue depths over every skill.
    QueueDepth { depth: u64 },
    /// Chaos mode restarted a component.
    Fault(FaultObs),
}

/// One fault injected by chaos mode, as it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultObs {
    pub component: String,
    pub signal: String,
    /// When the restart command started.
    pub at_us: u64,
    /// How long it ran.
    pub command_us: u64,
    pub output: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Anomaly {
    /// Invariant 7: an event for a conversation of another account.
    ForeignAccount,
    /// Invariant 4: a partner stream sequence that did not increase within one stream.
    OutOfOrder,
    /// Invariant 4: an agent message or "agent joined" on the partner stream after the
    /// conversation's close event.
    AfterClose,
    /// An event naming a conversation or message this run did not create.
    Unknown,
}

/// A system message as the partner read it, new on its stream (redeliveries are not handled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSeen {
    /// The conversation it came in: the audit leaves out those of a setup conversation of the
    /// same consumer.
    pub conversation_id: String,
    pub text: String,
    /// Its sequence in the conversation's transcript.
    pub sequence: u64,
    /// When the service appended it (its clock, ms since the epoch).
    pub sent_at_ms: i64,
    /// When the partner read it (µs since the start of arrivals).
    pub seen_us: u64,
}

/// Everything observed about one conversation.
#[derive(Debug, Default, Clone)]
pub struct ConvObs {
    /// Distinct conversation ids the opens returned (more than one is a duplicate).
    pub conversation_ids: Vec<String>,
    /// When the open was meant to leave (µs since the start of arrivals).
    pub intended_us: u64,
    /// Opens that answered `created = true`.
    pub created: u32,
    pub open_failed: bool,
    /// (agent index, time first seen) per agent that got the assignment.
    pub assignments: Vec<(u32, u64)>,
    /// Agents whose stream later said the conversation was taken away from them.
    pub unassigned: Vec<u32>,
    /// (agent index, when its transfer call was issued) per agent that transferred it away.
    pub released: Vec<(u32, u64)>,
    pub close_issued_us: Option<u64>,
    pub close_failed: bool,
    pub closed_seen: bool,
    /// The close the partner saw was an auto close (R13.5): closed, not lost.
    pub auto_closed: bool,
    /// (agent index, when it first issued a reply) per agent that replied.
    pub first_replies: Vec<(u32, u64)>,
    /// Deliveries per consumer message number; sent messages are those with `sent[n]`.
    pub consumer_sent: Vec<bool>,
    pub consumer_delivered: Vec<u32>,
    pub replies_sent: Vec<bool>,
    pub replies_delivered: Vec<u32>,
    /// System messages, in the order the partner read them.
    pub system: Vec<SystemSeen>,
}

impl ConvObs {
    pub fn opened(&self) -> bool {
        !self.conversation_ids.is_empty()
    }
    pub fn finished(&self) -> bool {
        self.open_failed || self.close_failed || self.closed_seen
    }
}

/// Live numbers the driver waits on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub finished: u64,
}

/// A method -> code -> count table.
pub type CodeTable = BTreeMap<String, BTreeMap<String, u64>>;

/// What the collector hands back at the end.
pub struct Collected {
    pub convs: Vec<ConvObs>,
    pub anomalies: BTreeMap<Anomaly, Vec<String>>,
    pub counts: Counts,
    pub measures: Vec<Measure>,
    pub errors: CodeTable,
    pub retries: CodeTable,
    pub reconnects: CodeTable,
    pub duplicates: Duplicates,
    pub timeline: Vec<Second>,
    /// Open-to-assignment per second (µs), the timeline's seconds, for the recovery baseline.
    pub per_second: Vec<Histogram<u64>>,
    pub faults: Vec<FaultObs>,
    pub opens_sent: u64,
    /// Agent index -> when it first logged in after the start of arrivals.
    pub logins: BTreeMap<u32, u64>,
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

    /// A call failed for good.
    pub fn failed(&self, method: &'static str, status: &tonic::Status) {
        self.record(Obs::Failed { method, code: retry::failure_name(status) });
    }

    /// An attempt failed and will be retried.
    pub fn retried(&self, method: &'static str, status: &tonic::Status) {
        self.record(Obs::Retried { method, code: retry::failure_name(status) });
    }

    /// A stream is being reopened after ending (or failing to open) this way.
    pub fn reconnected(&self, method: &'static str, how: &'static str) {
        self.record(Obs::Reconnected { method, how });
    }

    /// Stops the collector after everything recorded so far and returns what it holds.
    pub async fn finish(&self) -> anyhow::Result<Collected> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Finish(tx)).map_err(|_| anyhow::anyhow!("the collector stopped early"))?;
        Ok(rx.await?)
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
    let mut state = State::new(conversations, target_per_second, started);
    let scheduled = state.counts.scheduled;
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
                        state.end_partial_second();
                        let _ = reply.send(state.take().collect());
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
                        "{:>4}s  opens {rate}/s  waiting {}  finished {}/{}  errors {}  retries {}  p99 open->assignment {:.1} ms",
                        state.started.elapsed().as_secs(),
                        state.counts.opened.saturating_sub(state.counts.assigned),
                        state.finished,
                        scheduled,
                        crate::result::total(&state.errors),
                        crate::result::total(&state.retries),
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
    use crate::result;

    #[tokio::test]
    async fn the_collector_counts_each_thing_once_and_tracks_finished() {
        let started = tokio::time::Instant::now();
        let (rec, mut progress) = spawn(2, vec![2], started, Display::Quiet);
        rec.record(Obs::OpenSent { intended_us: 0, at_us: 10 });
        rec.record(Obs::Opened {
            idx: 0,
            conversation_id: "x".into(),
            created: true,
            intended_us: 0,
            latency_us: 1_500,
        });
        // A racing duplicate open: same conversation, message 0 reported twice.
        rec.record(Obs::Opened {
            idx: 0,
            conversation_id: "x".into(),
            created: false,
            intended_us: 0,
            latency_us: 1_700,
        });
        rec.record(Obs::ConsumerSent { idx: 0, n: 0 });
        rec.record(Obs::ConsumerSent { idx: 0, n: 0 });
        rec.record(Obs::Assigned { idx: 0, agent: 3, conversation_id: "x".into(), at_us: 2_000, latency_us: 2_000 });
        rec.record(Obs::ConsumerDelivered { idx: 0, n: 0, agent: 3, latency_us: 900 });
        rec.record(Obs::ConsumerDelivered { idx: 0, n: 0, agent: 3, latency_us: 950 });
        rec.record(Obs::ClosedSeen { idx: 0, auto: false });
        rec.record(Obs::ClosedSeen { idx: 0, auto: false });
        rec.record(Obs::OpenFailed { idx: 1 });
        rec.failed("OpenConversation", &tonic::Status::not_found("no such account"));
        rec.retried("OpenConversation", &tonic::Status::unavailable("restarting"));
        rec.reconnected("StreamOutbound", "UNAVAILABLE");
        rec.record(Obs::Anomaly { check: Anomaly::OutOfOrder, id: "seq 3 after 5".into() });
        tokio::time::timeout(Duration::from_secs(5), progress.wait_for(|p| p.finished == 2)).await.unwrap().unwrap();
        let got = rec.finish().await.unwrap();

        let c = &got.counts;
        assert_eq!((c.scheduled, c.opened, c.open_failed, c.assigned, c.closed), (2, 1, 1, 1, 1));
        assert_eq!((c.consumer_messages_sent, c.consumer_messages_delivered), (1, 1));
        assert_eq!(got.convs[0].conversation_ids, ["x"]);
        assert_eq!(got.convs[0].created, 1);
        assert_eq!(got.convs[0].consumer_delivered, [2], "both deliveries seen, counted once");
        assert_eq!(got.errors["OpenConversation"]["NOT_FOUND"], 1);
        assert_eq!(got.retries["OpenConversation"]["UNAVAILABLE"], 1);
        assert_eq!(got.reconnects["StreamOutbound"]["UNAVAILABLE"], 1);
        assert_eq!(got.anomalies[&Anomaly::OutOfOrder], ["seq 3 after 5"]);
        let open_to_assignment = got.measures.iter().find(|m| m.name == result::OPEN_TO_ASSIGNMENT).unwrap();
        assert_eq!(open_to_assignment.count, 1);
        assert!((open_to_assignment.max_ms - 2.0).abs() < 0.01, "{open_to_assignment:?}");
        assert_eq!(got.timeline[0].target_opens, 2);
        assert_eq!((got.timeline[0].opens, got.timeline[0].assignments), (1, 1));
        assert_eq!(got.per_second.len(), got.timeline.len());
    }

    #[tokio::test]
    async fn redeliveries_and_repeats_are_counted_apart_and_not_twice() {
        let started = tokio::time::Instant::now();
        let (rec, _progress) = spawn(1, vec![1], started, Display::Quiet);
        rec.record(Obs::Opened { idx: 0, conversation_id: "x".into(), created: true, intended_us: 0, latency_us: 1 });
        rec.record(Obs::Assigned { idx: 0, agent: 1, conversation_id: "x".into(), at_us: 5, latency_us: 5 });
        // The same agent again (a snapshot it did not recognise): still one agent.
        rec.record(Obs::Assigned { idx: 0, agent: 1, conversation_id: "x".into(), at_us: 9, latency_us: 9 });
        rec.record(Obs::RepeatedAssignment);
        rec.record(Obs::Redelivered);
        rec.record(Obs::Redelivered);
        rec.record(Obs::ReplySent { idx: 0, n: 0 });
        rec.record(Obs::ReplyDelivered { idx: 0, n: 0, latency_us: 10 });
        // Stored twice by a retried SendMessage: a second sequence with the same reply.
        rec.record(Obs::ReplyDelivered { idx: 0, n: 0, latency_us: 20 });
        let got = rec.finish().await.unwrap();
        assert_eq!(got.convs[0].assignments, [(1, 5)]);
        assert_eq!(got.counts.assigned, 1);
        assert_eq!(got.counts.agent_replies_delivered, 1);
        let d = &got.duplicates;
        assert_eq!((d.partner_redeliveries, d.repeated_assignments, d.duplicate_replies), (2, 1, 1));
    }

    #[tokio::test]
    async fn an_auto_close_is_a_close_counted_apart_and_reply_and_login_times_are_kept() {
        let started = tokio::time::Instant::now();
        let (rec, _progress) = spawn(2, vec![2], started, Display::Quiet);
        for idx in 0..2 {
            let conversation_id = format!("x{idx}");
            rec.record(Obs::Opened { idx, conversation_id, created: true, intended_us: 0, latency_us: 1 });
        }
        rec.record(Obs::LoginIssued { agent: 1, at_us: 40 });
        rec.record(Obs::LoginIssued { agent: 1, at_us: 90 });
        rec.record(Obs::ReplyIssued { idx: 0, agent: 1, at_us: 70 });
        rec.record(Obs::ReplyIssued { idx: 0, agent: 1, at_us: 80 });
        rec.record(Obs::ClosedSeen { idx: 0, auto: true });
        rec.record(Obs::ClosedSeen { idx: 1, auto: false });
        let got = rec.finish().await.unwrap();
        assert_eq!((got.counts.closed, got.counts.auto_closed), (2, 1));
        assert!(got.convs[0].closed_seen && got.convs[0].auto_closed, "closed, not lost (R13.5)");
        assert_eq!(got.convs[0].first_replies, [(1, 70)], "the first reply of the agent");
        assert_eq!(got.logins[&1], 40, "the first login");
    }

    #[tokio::test]
    async fn system_messages_are_kept_per_conversation_in_the_order_read() {
        let started = tokio::time::Instant::now();
        let (rec, _progress) = spawn(1, vec![1], started, Display::Quiet);
        let seen = |text: &str, sequence: u64| SystemSeen {
            conversation_id: "x".into(),
            text: text.into(),
            sequence,
            sent_at_ms: 1_000 + sequence as i64,
            seen_us: 10 * sequence,
        };
        rec.record(Obs::SystemMessage { idx: 0, seen: seen("[welcome]", 2) });
        rec.record(Obs::SystemMessage { idx: 0, seen: seen("[waiting_in_queue]", 3) });
        rec.record(Obs::SystemMessage { idx: 7, seen: seen("[welcome]", 2) });
        let got = rec.finish().await.unwrap();
        assert_eq!(got.convs[0].system, [seen("[welcome]", 2), seen("[waiting_in_queue]", 3)]);
    }
}
