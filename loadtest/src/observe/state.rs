//! The collector's state: what every observation changes, and the summary at the end.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;

use super::{Anomaly, CodeTable, Collected, ConvObs, FaultObs, Obs};
use crate::result::{self, Counts, Duplicates, Measure, Second};

/// Marks message `n` sent; true if it was not marked before.
fn mark(v: &mut Vec<bool>, n: u32) -> bool {
    let n = n as usize;
    if v.len() <= n {
        v.resize(n + 1, false);
    }
    !std::mem::replace(&mut v[n], true)
}

/// Counts one more delivery of message `n`; returns the deliveries so far.
fn bump(v: &mut Vec<u32>, n: u32) -> u32 {
    let n = n as usize;
    if v.len() <= n {
        v.resize(n + 1, 0);
    }
    v[n] += 1;
    v[n]
}

const LATENCY_MAX_US: u64 = 3_600_000_000;

#[allow(clippy::expect_used)] // constant bounds (1 µs .. 1 h, 2 or 3 digits) that hdrhistogram accepts
pub(super) fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_US, sigfig).expect("valid histogram bounds")
}

const MEASURES: [&str; 4] =
    [result::OPEN_TO_ASSIGNMENT, result::CONSUMER_TO_AGENT, result::AGENT_TO_PARTNER, result::OPEN_RPC];

struct Bucket {
    opens: u64,
    assignments: u64,
    open_to_assignment: Histogram<u64>,
    in_flight: u64,
    oldest_wait_us: u64,
    queue_depth: u64,
}

pub(super) struct State {
    convs: Vec<ConvObs>,
    anomalies: BTreeMap<Anomaly, Vec<String>>,
    pub(super) counts: Counts,
    hist: BTreeMap<&'static str, Histogram<u64>>,
    pub(super) errors: CodeTable,
    pub(super) retries: CodeTable,
    reconnects: CodeTable,
    duplicates: Duplicates,
    target_per_second: Vec<u64>,
    buckets: Vec<Bucket>,
    /// (intended open time, index) of conversations opened and not yet assigned.
    waiting: BTreeSet<(u64, usize)>,
    faults: Vec<FaultObs>,
    logins: BTreeMap<u32, u64>,
    pub(super) finished: u64,
    pub(super) opens_sent: u64,
    pub(super) started: tokio::time::Instant,
}

fn count(table: &mut CodeTable, method: &str, code: &str) {
    *table.entry(method.to_owned()).or_default().entry(code.to_owned()).or_default() += 1;
}

impl State {
    pub(super) fn new(conversations: usize, target_per_second: Vec<u64>, started: tokio::time::Instant) -> Self {
        let scheduled = target_per_second.iter().sum();
        Self {
            convs: vec![ConvObs::default(); conversations],
            anomalies: BTreeMap::new(),
            counts: Counts { scheduled, ..Counts::default() },
            hist: MEASURES.into_iter().map(|m| (m, histogram(3))).collect(),
            errors: BTreeMap::new(),
            retries: BTreeMap::new(),
            reconnects: BTreeMap::new(),
            duplicates: Duplicates::default(),
            target_per_second,
            buckets: Vec::new(),
            waiting: BTreeSet::new(),
            faults: Vec::new(),
            logins: BTreeMap::new(),
            finished: 0,
            opens_sent: 0,
            started,
        }
    }

    /// Takes the state out for the final report (the collector stops right after).
    pub(super) fn take(&mut self) -> Self {
        std::mem::replace(self, Self::new(0, Vec::new(), self.started))
    }

    fn bucket(&mut self, at_us: u64) -> &mut Bucket {
        let s = (at_us / 1_000_000) as usize;
        while self.buckets.len() <= s {
            self.buckets.push(Bucket {
                opens: 0,
                assignments: 0,
                open_to_assignment: histogram(2),
                in_flight: 0,
                oldest_wait_us: 0,
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

    pub(super) fn apply(&mut self, obs: Obs) {
        match obs {
            Obs::OpenSent { at_us, .. } => {
                self.opens_sent += 1;
                self.bucket(at_us).opens += 1;
            }
            Obs::Opened { idx, conversation_id, created, intended_us, latency_us } => {
                self.latency(result::OPEN_RPC, latency_us);
                let Some(c) = self.conv(idx) else { return };
                let first = !c.opened();
                if !c.conversation_ids.contains(&conversation_id) {
                    c.conversation_ids.push(conversation_id);
                }
                c.created += u32::from(created);
                // The agent may have seen the assignment before the open's answer came back.
                let assigned = !c.assignments.is_empty();
                c.intended_us = intended_us;
                if first {
                    self.counts.opened += 1;
                    if !assigned {
                        self.waiting.insert((intended_us, idx));
                    }
                }
            }
            Obs::OpenFailed { idx } => {
                self.counts.open_failed += 1;
                self.finish(idx, |c| c.open_failed = true);
            }
            Obs::Failed { method, code } => count(&mut self.errors, method, code),
            Obs::Retried { method, code } => count(&mut self.retries, method, code),
            Obs::Reconnected { method, how } => count(&mut self.reconnects, method, how),
            Obs::Redelivered => self.duplicates.partner_redeliveries += 1,
            Obs::RepeatedAssignment => self.duplicates.repeated_assignments += 1,
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
                // Invariant 1 is about agents: the same agent told twice is one assignment.
                if c.assignments.iter().any(|(a, _)| *a == agent) {
                    return;
                }
                let first = c.assignments.is_empty();
                c.assignments.push((agent, at_us));
                let waiting_since = c.intended_us;
                if first {
                    self.waiting.remove(&(waiting_since, idx));
                    self.counts.assigned += 1;
                    self.latency(result::OPEN_TO_ASSIGNMENT, latency_us);
                    let b = self.bucket(at_us);
                    b.assignments += 1;
                    b.open_to_assignment.saturating_record(latency_us.max(1));
                }
            }
            Obs::Unassigned { idx, agent } => {
                if let Some(c) = self.conv(idx) {
                    if !c.unassigned.contains(&agent) {
                        c.unassigned.push(agent);
                    }
                }
            }
            Obs::Released { idx, agent, at_us } => {
                if let Some(c) = self.conv(idx) {
                    c.released.push((agent, at_us));
                }
            }
            Obs::ConsumerDelivered { idx, n, latency_us, .. } => {
                let Some(c) = self.conv(idx) else { return };
                if bump(&mut c.consumer_delivered, n) == 1 {
                    self.counts.consumer_messages_delivered += 1;
                    self.latency(result::CONSUMER_TO_AGENT, latency_us);
                }
            }
            Obs::ReplyIssued { idx, agent, at_us } => {
                if let Some(c) = self.conv(idx) {
                    if !c.first_replies.iter().any(|(a, _)| *a == agent) {
                        c.first_replies.push((agent, at_us));
                    }
                }
            }
            Obs::LoginIssued { agent, at_us } => {
                self.logins.entry(agent).or_insert(at_us);
            }
            Obs::ReplySent { idx, n } => {
                if self.conv(idx).is_some_and(|c| mark(&mut c.replies_sent, n)) {
                    self.counts.agent_replies_sent += 1;
                }
            }
            Obs::ReplyDelivered { idx, n, latency_us } => {
                let Some(c) = self.conv(idx) else { return };
                if bump(&mut c.replies_delivered, n) == 1 {
                    self.counts.agent_replies_delivered += 1;
                    self.latency(result::AGENT_TO_PARTNER, latency_us);
                } else {
                    self.duplicates.duplicate_replies += 1;
                }
            }
            Obs::SystemMessage { idx, seen } => {
                if let Some(c) = self.conv(idx) {
                    c.system.push(seen);
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
            Obs::ClosedSeen { idx, auto } => {
                if self.finish(idx, |c| (c.closed_seen, c.auto_closed) = (true, auto)) {
                    self.counts.closed += 1;
                    self.counts.auto_closed += u64::from(auto);
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
            Obs::Fault(fault) => self.faults.push(fault),
        }
    }

    /// Closes the second that just ended: the in-flight count is read at its end.
    pub(super) fn end_second(&mut self) {
        // The tick fires just after the second ends (never early), so half a second back is
        // inside the second that ended.
        self.waiting_at(self.now_us().saturating_sub(500_000));
    }

    /// At the finish: the second in progress gets the in-flight numbers of now.
    pub(super) fn end_partial_second(&mut self) {
        self.waiting_at(self.now_us());
    }

    /// Records what waits now in the second that holds `at_us`.
    fn waiting_at(&mut self, at_us: u64) {
        let ended = at_us;
        let in_flight = self.counts.opened.saturating_sub(self.counts.assigned);
        let oldest = self.waiting.first().map_or(0, |(intended, _)| self.now_us().saturating_sub(*intended));
        let b = self.bucket(ended);
        b.in_flight = in_flight;
        b.oldest_wait_us = oldest;
    }

    pub(super) fn p99_so_far(&self) -> f64 {
        self.hist.get(result::OPEN_TO_ASSIGNMENT).map_or(0.0, |h| h.value_at_quantile(0.99) as f64 / 1000.0)
    }

    pub(super) fn collect(self) -> Collected {
        let measures = MEASURES.iter().filter_map(|name| self.hist.get(name).map(|h| measure(name, h))).collect();
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
                    oldest_wait_ms: ms(b.oldest_wait_us),
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
            retries: self.retries,
            reconnects: self.reconnects,
            duplicates: self.duplicates,
            timeline,
            per_second: self.buckets.into_iter().map(|b| b.open_to_assignment).collect(),
            faults: self.faults,
            opens_sent: self.opens_sent,
            logins: self.logins,
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
