//! `switchyard-local status` and `stop`, from the state file of a run.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::layout::Component;
use crate::net;
use crate::process::{self, Stopped};
use crate::state::{self, ProcessRecord, State};

/// One process as `status` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    pub record: ProcessRecord,
    pub running: bool,
    /// For services: the `/health/readyz` answer (None: no answer). None for backends.
    pub readiness: Option<Option<u16>>,
}

impl ProcessStatus {
    pub fn up(&self) -> bool {
        self.running && self.readiness.is_none_or(|r| r == Some(200))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub complete: bool,
    pub processes: Vec<ProcessStatus>,
}

impl Status {
    /// Every process of a completed `up` runs, and every service is ready.
    pub fn all_up(&self) -> bool {
        self.complete && !self.processes.is_empty() && self.processes.iter().all(ProcessStatus::up)
    }

    /// A table, one line per process.
    pub fn table(&self) -> String {
        let mut lines = vec![format!("{:<13} {:>8}  {:<8} {:<24} {}", "NAME", "PID", "PROCESS", "PORTS", "READY")];
        for p in &self.processes {
            let r = &p.record;
            let ports = match r.ops_port {
                Some(ops) => format!("grpc {} ops {ops}", r.port),
                None => r.port.to_string(),
            };
            let ready = match p.readiness {
                None => "-".to_owned(),
                Some(Some(200)) => "ready".to_owned(),
                Some(Some(code)) => format!("not ready ({code})"),
                Some(None) => "no answer".to_owned(),
            };
            let running = if p.running { "running" } else { "gone" };
            lines.push(format!("{:<13} {:>8}  {:<8} {:<24} {ready}", r.component.name(), r.pid, running, ports));
        }
        if !self.complete {
            lines.push("(`up` did not finish: this run is incomplete; stop it with `switchyard-local stop`)".into());
        }
        lines.join("\n")
    }
}

/// The status of the run in `dir`; None if there is no state file.
pub fn status(dir: &Path) -> anyhow::Result<Option<Status>> {
    let Some(state) = state::load(dir)? else {
        return Ok(None);
    };
    let processes = state
        .processes
        .iter()
        .map(|record| {
            let running = process::is_same_process(record.pid, record.start_time);
            let readiness = record.ops_port.map(|ops| {
                if running {
                    net::http_get(ops, "/health/readyz", Duration::from_secs(2)).map(|(code, _)| code)
                } else {
                    None
                }
            });
            ProcessStatus { record: record.clone(), running, readiness }
        })
        .collect();
    Ok(Some(Status { complete: state.complete, processes }))
}

/// What `stop` did to one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopLine {
    pub component: Component,
    pub pid: u32,
    pub outcome: Stopped,
}

impl std::fmt::Display for StopLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.outcome {
            Stopped::AlreadyGone => "was not running",
            Stopped::Terminated => "stopped (SIGTERM)",
            Stopped::Killed => "did not stop in time after SIGTERM: killed (SIGKILL)",
        };
        write!(f, "{} (pid {}) {what}", self.component.name(), self.pid)
    }
}

/// Stops the run in `dir`: the services together (SIGTERM, `grace` to drain, then SIGKILL),
/// then tansu, then Redis; removes the state file. None if there was no state file.
pub fn stop(dir: &Path, grace: Duration) -> anyhow::Result<Option<Vec<StopLine>>> {
    if state::load(dir)?.is_none() {
        return Ok(None);
    }
    // A restart in progress finishes first (its new pid must be in the state stop reads).
    let _lock = crate::lock::RunLock::acquire(dir, crate::lock::WAIT)?;
    let Some(state) = state::load(dir)? else {
        return Ok(None);
    };
    let groups: [Vec<&ProcessRecord>; 3] = [
        state.processes.iter().filter(|p| p.component.is_service()).collect(),
        state.processes.iter().filter(|p| p.component == Component::Kafka).collect(),
        state.processes.iter().filter(|p| p.component == Component::Redis).collect(),
    ];
    let mut lines = Vec::new();
    for group in groups {
        let procs: Vec<(u32, Option<u64>)> = group.iter().map(|p| (p.pid, p.start_time)).collect();
        let outcomes = process::stop_group(&procs, grace).with_context(|| stop_failed(&state))?;
        for (record, outcome) in group.iter().zip(outcomes) {
            lines.push(StopLine { component: record.component, pid: record.pid, outcome });
        }
    }
    state::remove(dir)?;
    Ok(Some(lines))
}

fn stop_failed(state: &State) -> String {
    format!("stopping the run in {} (its state file is kept)", state.dir.display())
}
