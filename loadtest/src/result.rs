//! The result of one run: what the JSON file holds, what the table, the HTML report and
//! `compare` read. Plain data, so a result written by one version can be read by the next.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Measure names, in the order the table shows them.
pub const OPEN_TO_ASSIGNMENT: &str = "open_to_assignment";
pub const CONSUMER_TO_AGENT: &str = "consumer_message_to_agent";
pub const AGENT_TO_PARTNER: &str = "agent_reply_to_partner";
pub const OPEN_RPC: &str = "open_rpc";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    /// Scenario name (its directory under `loadtest/scenarios/`).
    pub scenario: String,
    /// `git rev-parse --short HEAD` of the harness tree, or "unknown".
    pub git_sha: String,
    /// RFC 3339, UTC, when arrivals started.
    pub started_at: String,
    pub seed: u64,
    /// "embedded" (started by the harness), or the connectors URL of the target.
    pub target: String,
    /// Length of the arrival schedule, seconds.
    pub duration_s: f64,
    /// From the first arrival to the end of the drain, seconds.
    pub wall_s: f64,
    /// Conversations the schedule asked for, per second of schedule.
    pub target_rate: f64,
    /// Opens actually sent per second of schedule (late sends still count; see `measures`).
    pub achieved_rate: f64,
    pub counts: Counts,
    /// Latency measures in milliseconds, each from the intended send time.
    pub measures: Vec<Measure>,
    /// gRPC failures: method name -> status code name -> count. A unary call counts once, after
    /// its retries (or at once when a real client would not retry it); a stream once per end
    /// a client does not expect. Codes are gRPC names (`NOT_FOUND`), or `TRANSPORT`.
    pub errors: BTreeMap<String, BTreeMap<String, u64>>,
    /// Attempts that failed and were retried (they are not failures): method -> code -> count.
    #[serde(default)]
    pub retries: BTreeMap<String, BTreeMap<String, u64>>,
    /// Streams reopened: method -> how the stream ended or failed to open -> count.
    #[serde(default)]
    pub reconnects: BTreeMap<String, BTreeMap<String, u64>>,
    /// Things that arrived more than once and were counted once.
    #[serde(default)]
    pub duplicates: Duplicates,
    /// One entry per second since the start of arrivals.
    pub timeline: Vec<Second>,
    /// The faults injected with `--chaos` and how long the target took to recover from each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<Chaos>,
    /// The queue-order audit of a scenario with `[routing]`: pairs checked, violations, mean
    /// backlog waits per channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<crate::priority::Priority>,
    /// The offer audit of a scenario whose `routing.acd_mode` rings: what the agents were
    /// offered and answered, and the router's offer decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<crate::offers::OfferSummary>,
    /// The transfer audit of a scenario with `[transfers]`: transfers asked for, refused, and
    /// how the router served them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfers: Option<crate::transfers::TransferSummary>,
    /// The automatic-message audit of a scenario with `[automessages]`: the system messages
    /// read per event, and the conversations that had to get each timed one or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automessages: Option<crate::automessages_audit::AutomessagesSummary>,
    pub audit: Audit,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Duplicates {
    /// Partner stream events delivered again after a reconnect (a sequence already seen).
    pub partner_redeliveries: u64,
    /// Assignments an agent already held, sent again in the snapshot after a re-subscribe.
    pub repeated_assignments: u64,
    /// Agent replies the partner received more than once under different sequences: a
    /// `SendMessage` retried after a broken connection stored the reply twice.
    pub duplicate_replies: u64,
}

/// Chaos mode: what was injected, the baseline, and each fault.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Chaos {
    /// The components cycled through, as given.
    pub components: Vec<String>,
    /// `kill` or `term`.
    pub signal: String,
    /// First fault, seconds after the start of arrivals.
    pub start_s: f64,
    /// One fault per this many seconds.
    pub every_s: f64,
    /// p99 open-to-assignment over the whole seconds before the first fault, ms; None when
    /// that window is too short or saw no assignment (`baseline_note` says which).
    pub baseline_p99_ms: Option<f64>,
    /// Whole seconds in the baseline window.
    pub baseline_s: u64,
    pub baseline_note: String,
    pub faults: Vec<Fault>,
}

/// One injected fault.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub component: String,
    /// When the restart command started, seconds after the start of arrivals.
    pub at_s: f64,
    pub signal: String,
    /// How long `switchyard-local restart` took, seconds.
    pub command_s: f64,
    /// What the restart command printed.
    pub output: String,
    /// Seconds from the fault until the per-second p99 open-to-assignment was back under
    /// twice the baseline for 3 seconds in a row; None: not recovered (`note` says why).
    pub recovery_s: Option<f64>,
    pub note: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counts {
    pub scheduled: u64,
    pub opened: u64,
    pub open_failed: u64,
    pub assigned: u64,
    pub closed: u64,
    pub consumer_messages_sent: u64,
    pub consumer_messages_delivered: u64,
    pub agent_replies_sent: u64,
    pub agent_replies_delivered: u64,
    /// Of `closed`, the conversations that closed by themselves after a silence (R13.5).
    #[serde(default)]
    pub auto_closed: u64,
}

/// Percentiles of one latency measure, milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measure {
    pub name: String,
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// One second of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Second {
    /// Seconds since the start of arrivals (end of this second).
    pub t: f64,
    /// Opens the schedule intended in this second.
    pub target_opens: u64,
    /// Opens actually sent in this second.
    pub opens: u64,
    /// Assignments seen by agents in this second.
    pub assignments: u64,
    /// Open-to-assignment of the assignments seen in this second, ms (0 when none).
    pub open_to_assignment_p50_ms: f64,
    pub open_to_assignment_p99_ms: f64,
    /// Conversations opened and not yet assigned at the end of this second.
    pub in_flight: u64,
    /// How long the oldest of them had waited (from its intended open time), ms; 0 when none.
    #[serde(default)]
    pub oldest_wait_ms: f64,
    /// Sum of queue depths over all skills (admin API), sampled in this second.
    pub queue_depth: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Audit {
    pub passed: bool,
    /// Every check that ran, passed or not.
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Check {
    /// Short name, e.g. "at most one assignment per conversation".
    pub name: String,
    /// The architecture §6 invariant it checks (1..8), or 0 for a harness-level check.
    pub invariant: u8,
    pub passed: bool,
    /// What was found, e.g. "2 conversations assigned twice".
    pub detail: String,
    /// Offending ids (conversation, agent or consumer ids), at most 50.
    pub ids: Vec<String>,
}

impl RunResult {
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }

    /// Total gRPC failures over all methods.
    pub fn error_total(&self) -> u64 {
        total(&self.errors)
    }

    /// Total retried attempts over all methods.
    pub fn retry_total(&self) -> u64 {
        total(&self.retries)
    }

    /// Total stream reconnects.
    pub fn reconnect_total(&self) -> u64 {
        total(&self.reconnects)
    }
}

/// Sum of a method -> code -> count table.
pub fn total(table: &BTreeMap<String, BTreeMap<String, u64>>) -> u64 {
    table.values().flat_map(|codes| codes.values()).sum()
}

impl Chaos {
    /// Faults that never recovered.
    pub fn unrecovered(&self) -> usize {
        self.faults.iter().filter(|f| f.recovery_s.is_none()).count()
    }
}
