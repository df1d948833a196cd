//! `switchyard-local restart <component>`: stops one process of a run (SIGKILL, as a crash, or
//! SIGTERM, as an orderly stop) and starts it again with the same command, config and ports,
//! appending to its log. The fault-injection half of the load harness's chaos mode.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::commands;
use crate::layout::{Component, Layout};
use crate::prereq;
use crate::process;
use crate::state;

/// How the process is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// kill -9: no shutdown, nothing flushed (a crash).
    Kill,
    /// SIGTERM: the process stops in order (up to `TERM_GRACE`, then SIGKILL).
    Term,
}

/// How long a SIGTERMed process may take before it is killed.
pub const TERM_GRACE: Duration = Duration::from_secs(30);

/// What `restart` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarted {
    pub component: Component,
    pub old_pid: Option<u32>,
    pub new_pid: u32,
    pub signal: Signal,
}

impl std::fmt::Display for Restarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.signal {
            Signal::Kill => "SIGKILL",
            Signal::Term => "SIGTERM",
        };
        match self.old_pid {
            Some(old) => write!(
                f,
                "restarted {} (pid {old} stopped with {how}, now pid {})",
                self.component.name(),
                self.new_pid
            ),
            None => write!(f, "started {} again (it was not running), now pid {}", self.component.name(), self.new_pid),
        }
    }
}

/// A component by name: a service, `redis`, or `kafka` (also `broker`).
pub fn parse_component(name: &str) -> Result<Component, String> {
    let all = [Component::Redis, Component::Kafka].into_iter().chain(Component::SERVICES);
    if name == "broker" {
        return Ok(Component::Kafka);
    }
    all.clone().find(|c| c.name() == name).ok_or_else(|| {
        let names: Vec<&str> = all.map(Component::name).collect();
        format!("unknown component {name:?}; one of {}, broker", names.join(", "))
    })
}

/// Stops `component` of the run in `dir` with `signal`, waits `down_for`, starts it again.
pub fn restart(dir: &Path, component: Component, signal: Signal, down_for: Duration) -> anyhow::Result<Restarted> {
    let dir = std::path::absolute(dir).with_context(|| format!("--dir {}", dir.display()))?;
    let _lock = crate::lock::RunLock::acquire(&dir, crate::lock::WAIT)?;
    let mut state = state::load(&dir)?.ok_or_else(|| {
        anyhow::anyhow!("no run in {} (start one with `switchyard-local up --dir {0}`)", dir.display())
    })?;
    anyhow::ensure!(state.complete, "the run in {} is incomplete: stop it and start it again", dir.display());
    let index = state
        .processes
        .iter()
        .rposition(|p| p.component == component)
        .ok_or_else(|| anyhow::anyhow!("the run in {} has no {}", dir.display(), component.name()))?;
    let programs =
        prereq::check(Some(&state.switchyard_bin)).map_err(|m| anyhow::anyhow!("{}", prereq::describe(&m)))?;
    let layout = Layout::new(state.base_port)?;

    let record = state.processes[index].clone();
    let running = process::is_same_process(record.pid, record.start_time);
    if running {
        stop(record.pid, record.start_time, signal)?;
    }
    std::thread::sleep(down_for);
    wait_ports_free(&layout, component, PORTS_FREE_TIMEOUT)?;
    let command = commands::command(component, &programs, &layout, &dir, state.broker_storage);
    let child = process::spawn_detached_appending(command, &record.log)
        .with_context(|| format!("starting {} again", component.name()))?;
    let new_pid = child.id();
    state.processes[index].pid = new_pid;
    state.processes[index].start_time = process::start_time(new_pid);
    state::save(&state)?;
    Ok(Restarted { component, old_pid: running.then_some(record.pid), new_pid, signal })
}

/// How long the ports of a stopped process may stay taken before the restart gives up.
const PORTS_FREE_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until the component's ports can be bound again: a restart that cannot bind exits at
/// once (seen under chaos: a restarted connectors found its gRPC port still held).
fn wait_ports_free(layout: &Layout, component: Component, timeout: Duration) -> anyhow::Result<()> {
    let ports: Vec<_> = layout
        .ports()
        .into_iter()
        .filter(|p| p.port == layout.port(component) || Some(p.port) == layout.ops(component))
        .collect();
    let deadline = Instant::now() + timeout;
    loop {
        let taken = crate::net::unusable_ports(&ports);
        if taken.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let list: Vec<String> = taken.iter().map(ToString::to_string).collect();
            anyhow::bail!("cannot restart {}: {}", component.name(), list.join("; "));
        }
        std::thread::sleep(process::POLL);
    }
}

fn stop(pid: u32, start: Option<u64>, signal: Signal) -> anyhow::Result<()> {
    match signal {
        Signal::Kill => process::signal(pid, "KILL")?,
        Signal::Term => process::signal(pid, "TERM")?,
    }
    let deadline = Instant::now() + if signal == Signal::Term { TERM_GRACE } else { Duration::from_secs(10) };
    while process::is_same_process(pid, start) {
        if Instant::now() >= deadline {
            process::signal(pid, "KILL")?;
            anyhow::ensure!(
                process::wait_all_gone(&[(pid, start)], Duration::from_secs(10)).is_empty(),
                "pid {pid} survives SIGKILL"
            );
            break;
        }
        std::thread::sleep(process::POLL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_registry::Service;

    /// A restart waits for the stopped process's ports, and names them when they stay taken.
    #[test]
    fn a_restart_waits_until_the_ports_are_free() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let grpc = held.local_addr().unwrap().port();
        let layout = Layout::new(grpc - 1).unwrap();
        assert_eq!(layout.grpc(Component::Service(Service::Connectors)), Some(grpc));
        let err =
            wait_ports_free(&layout, Component::Service(Service::Connectors), Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains(&format!("port {grpc} (for connectors gRPC) is already in use")), "{err}");
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        wait_ports_free(&layout, Component::Service(Service::Connectors), Duration::from_secs(10)).unwrap();
        release.join().unwrap();
        // Other components' ports do not matter.
        let _router =
            std::net::TcpListener::bind(("127.0.0.1", layout.grpc(Component::Service(Service::Router)).unwrap()));
        wait_ports_free(&layout, Component::Service(Service::Connectors), Duration::from_millis(100)).unwrap();
    }

    #[test]
    fn components_are_named_as_the_chaos_mode_names_them() {
        assert_eq!(parse_component("router"), Ok(Component::Service(Service::Router)));
        assert_eq!(parse_component("broker"), Ok(Component::Kafka));
        assert_eq!(parse_component("kafka"), Ok(Component::Kafka));
        assert_eq!(parse_component("redis"), Ok(Component::Redis));
        let err = parse_component("zookeeper").unwrap_err();
        let last = Service::ALL[Service::ALL.len() - 1].name();
        assert!(err.contains("\"zookeeper\"") && err.contains(&format!("{last}, broker")), "{err}");
        for service in Service::ALL {
            assert_eq!(parse_component(service.name()), Ok(Component::Service(service)));
        }
    }
}
