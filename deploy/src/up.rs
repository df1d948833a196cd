//! `switchyard-local up`: checks everything first (prerequisites, free ports), then starts
//! redis-server, tansu, `switchyard topics` and every service, and waits until every
//! service is ready. Any failure stops what this run started, removes the state file and
//! returns an error naming the step.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::auth::Auth;
use crate::commands;
use crate::config;
use crate::layout::{Component, Layout, PORT_SPAN};
use crate::net;
use crate::prereq::{self, Programs};
use crate::process;
use crate::state::{self, ProcessRecord, State};

/// How long redis-server and tansu get to accept connections.
const BACKEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `switchyard topics` may take (it retries the broker for 60 s itself).
const TOPICS_TIMEOUT: Duration = Duration::from_secs(90);
/// SIGTERM grace when a failed `up` stops what it started.
const ABORT_GRACE: Duration = Duration::from_secs(15);
/// Lines of a log shown in an error.
const TAIL: usize = 30;

#[derive(Debug, Clone)]
pub struct UpOptions {
    pub dir: PathBuf,
    pub base_port: u16,
    pub switchyard_bin: Option<PathBuf>,
    /// Run scripts/deps.sh when redis-server or tansu is missing.
    pub install: bool,
    pub ready_timeout: Duration,
    pub broker_storage: commands::BrokerStorage,
    /// Services run with `auth.mode = "disabled"` instead of trusting a new signing key.
    pub no_auth: bool,
    /// TLS on the services' gRPC ports (None: plaintext).
    pub tls: Option<config::LocalTls>,
}

/// Starts the topology; returns its state once every service is ready.
pub fn up(options: &UpOptions) -> anyhow::Result<State> {
    let layout = Layout::new(options.base_port)?;
    let dir = std::path::absolute(&options.dir)
        .with_context(|| format!("--dir {}: cannot make it absolute", options.dir.display()))?;
    // The lock needs the directory; a run refused before it starts leaves none behind.
    let created = !dir.exists();
    let lock = crate::lock::RunLock::acquire(&dir, crate::lock::WAIT)?;
    refuse_if_running(&dir)?;
    // Every problem found before anything starts is reported together.
    let programs = prerequisites(options);
    let unusable = net::unusable_ports(&layout.ports());
    let mut problems = Vec::new();
    if let Err(missing) = &programs {
        problems.push(format!("{missing:#}"));
    }
    if !unusable.is_empty() {
        let lines: Vec<String> = unusable.iter().map(|u| format!("  - {u}")).collect();
        problems.push(format!(
            "{} of the ports this run needs {}:\n{}\nFree {}, or choose another range with --base-port (this run uses {}..={}).",
            unusable.len(),
            if unusable.len() == 1 { "is not free" } else { "are not free" },
            lines.join("\n"),
            if unusable.len() == 1 { "it" } else { "them" },
            layout.base(),
            layout.base() + (PORT_SPAN - 1)
        ));
    }
    let programs = match programs {
        Ok(programs) if problems.is_empty() => programs,
        _ => {
            drop(lock);
            if created {
                let _ = std::fs::remove_dir(&dir);
            }
            anyhow::bail!("cannot start: {}\nNothing was started.", problems.join("\n"))
        }
    };
    prepare_dir(&dir, &layout, options.no_auth, options.tls.as_ref())?;
    let mut state = State::new(&dir, layout.base(), &programs.switchyard);
    state.broker_storage = options.broker_storage;
    let mut run = Run { state, children: Vec::new() };
    match run.start_all(&programs, &layout, options.ready_timeout) {
        Ok(()) => Ok(run.state),
        Err(err) => {
            let started = run.children.len();
            match run.abort() {
                Ok(()) if started == 0 => Err(err),
                Ok(()) => Err(anyhow::anyhow!(
                    "{err:#}\n(stopped the {started} processes this run had started; nothing of it runs any more)"
                )),
                Err(cleanup) => Err(anyhow::anyhow!(
                    "{err:#}\nStopping what this run had started failed too: {cleanup:#}; its pids are in {}",
                    state::path(&dir).display()
                )),
            }
        }
    }
}

/// A run in `dir` whose processes still run must be stopped first; a stale state is dropped.
fn refuse_if_running(dir: &Path) -> anyhow::Result<()> {
    let Some(existing) = state::load(dir).context("checking for a run already in --dir")? else {
        return Ok(());
    };
    let alive: Vec<String> = existing
        .processes
        .iter()
        .filter(|p| process::is_same_process(p.pid, p.start_time))
        .map(|p| format!("{} (pid {})", p.component.name(), p.pid))
        .collect();
    if !alive.is_empty() {
        let d = dir.display();
        anyhow::bail!(
            "a run is already active in {d}: {} still running; see `switchyard-local status --dir {d}`, stop it with `switchyard-local stop --dir {d}`",
            alive.join(", ")
        );
    }
    eprintln!("switchyard-local: dropping the state of an earlier run in {} (nothing of it runs)", dir.display());
    state::remove(dir)
}

fn prerequisites(options: &UpOptions) -> anyhow::Result<Programs> {
    match prereq::check(options.switchyard_bin.as_deref()) {
        Ok(programs) => Ok(programs),
        Err(missing) if options.install && missing.iter().any(|m| m.installable()) => {
            prereq::install()?;
            prereq::check(options.switchyard_bin.as_deref())
                .map_err(|missing| anyhow::anyhow!("{}\n(after running scripts/deps.sh)", prereq::describe(&missing)))
        }
        Err(missing) => anyhow::bail!("{}", prereq::describe(&missing)),
    }
}

fn prepare_dir(dir: &Path, layout: &Layout, no_auth: bool, tls: Option<&config::LocalTls>) -> anyhow::Result<()> {
    // A new run starts empty: data an earlier run left (Redis's append-only file, the broker's
    // log) is removed, never loaded.
    for backend in [Component::Redis, Component::Kafka] {
        if let Some(data) = commands::data_dir(dir, backend) {
            if data.exists() {
                std::fs::remove_dir_all(&data).with_context(|| format!("emptying {}", data.display()))?;
            }
        }
    }
    for sub in ["logs", "config", "redis", "kafka"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    // Keep the run directory out of git when it sits in a checkout (as target/ does).
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "# Written by switchyard-local: a run directory is never committed.\n*\n")
            .with_context(|| format!("writing {}", ignore.display()))?;
    }
    let write = |name: &str, text: String| -> anyhow::Result<()> {
        let path = dir.join("config").join(format!("{name}.toml"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
    };
    // A new key per run, like the data: tokens of an earlier run are not accepted.
    let auth = if no_auth {
        let _ = std::fs::remove_file(crate::auth::key_file(dir));
        Auth::Disabled
    } else {
        Auth::Required { key_file: crate::auth::create_key(dir)? }
    };
    write("topics", config::topics_config(layout)?)?;
    for service in Component::SERVICES {
        write(service.name(), config::service_config(layout, service, &auth, tls)?)?;
    }
    Ok(())
}

struct Run {
    state: State,
    /// Started processes, in start order, parallel to `state.processes`.
    children: Vec<Child>,
}

impl Run {
    fn dir(&self) -> PathBuf {
        self.state.dir.clone()
    }

    fn log(&self, name: &str) -> PathBuf {
        commands::log_file(&self.dir(), name)
    }

    fn config(&self, name: &str) -> PathBuf {
        commands::config_file(&self.dir(), name)
    }

    fn start_all(&mut self, programs: &Programs, layout: &Layout, ready_timeout: Duration) -> anyhow::Result<()> {
        self.start_redis(programs, layout)?;
        self.start_kafka(programs, layout)?;
        self.create_topics(programs)?;
        for service in Component::SERVICES {
            self.start_service(programs, layout, service)?;
        }
        self.wait_ready(ready_timeout)?;
        self.state.complete = true;
        state::save(&self.state)
    }

    /// Starts one process and records it (the state file is rewritten at once).
    fn spawn(
        &mut self,
        component: Component,
        command: Command,
        port: u16,
        ops_port: Option<u16>,
    ) -> anyhow::Result<()> {
        let log = self.log(component.name());
        let child = process::spawn_detached(command, &log)
            .with_context(|| format!("starting {} ({})", component.name(), component.program()))?;
        let pid = child.id();
        self.children.push(child);
        self.state.processes.push(ProcessRecord {
            component,
            pid,
            start_time: process::start_time(pid),
            port,
            ops_port,
            log,
        });
        state::save(&self.state)?;
        eprintln!(
            "switchyard-local: started {} ({}, pid {pid}) on 127.0.0.1:{port}",
            component.name(),
            component.program()
        );
        Ok(())
    }

    /// The last started process must still run; returns an error with its log tail otherwise.
    fn check_last_alive(&mut self, what: &str) -> anyhow::Result<()> {
        let (Some(child), Some(record)) = (self.children.last_mut(), self.state.processes.last()) else {
            return Ok(());
        };
        if let Some(status) = child.try_wait().context("checking a started process")? {
            anyhow::bail!(
                "{what} exited ({status}) right after start; last lines of {}:\n{}",
                record.log.display(),
                process::log_tail(&record.log, TAIL)
            );
        }
        Ok(())
    }

    fn wait_backend(&mut self, what: &str, ready: impl Fn() -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + BACKEND_TIMEOUT;
        loop {
            self.check_last_alive(what)?;
            if ready() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let log = self.state.processes.last().map(|p| p.log.clone()).unwrap_or_default();
                anyhow::bail!(
                    "{what} did not become ready within {}s; last lines of {}:\n{}",
                    BACKEND_TIMEOUT.as_secs(),
                    log.display(),
                    process::log_tail(&log, TAIL)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_redis(&mut self, programs: &Programs, layout: &Layout) -> anyhow::Result<()> {
        let port = layout.redis();
        let command = commands::command(Component::Redis, programs, layout, &self.dir(), self.state.broker_storage);
        self.spawn(Component::Redis, command, port, None)?;
        let probe = Duration::from_millis(500);
        self.wait_backend(&format!("redis-server on 127.0.0.1:{port}"), || net::redis_ping(port, probe))
    }

    fn start_kafka(&mut self, programs: &Programs, layout: &Layout) -> anyhow::Result<()> {
        let port = layout.kafka();
        let command = commands::command(Component::Kafka, programs, layout, &self.dir(), self.state.broker_storage);
        self.spawn(Component::Kafka, command, port, None)?;
        let probe = Duration::from_millis(500);
        self.wait_backend(&format!("tansu (Kafka broker) on 127.0.0.1:{port}"), || net::accepts(port, probe))
    }

    fn create_topics(&mut self, programs: &Programs) -> anyhow::Result<()> {
        let log = self.log("topics");
        let mut command = commands::switchyard(programs, &self.dir());
        command.arg("--config").arg(self.config("topics")).arg("topics");
        let mut child = process::spawn_detached(command, &log).context("running `switchyard topics`")?;
        let deadline = Instant::now() + TOPICS_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for `switchyard topics`")? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "`switchyard topics` did not finish within {}s; last lines of {}:\n{}",
                    TOPICS_TIMEOUT.as_secs(),
                    log.display(),
                    process::log_tail(&log, TAIL)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        if !status.success() {
            anyhow::bail!(
                "`switchyard topics` failed ({status}); last lines of {}:\n{}",
                log.display(),
                process::log_tail(&log, TAIL)
            );
        }
        eprintln!("switchyard-local: created the Kafka topics");
        Ok(())
    }

    fn start_service(&mut self, programs: &Programs, layout: &Layout, service: Component) -> anyhow::Result<()> {
        let (Some(grpc), Some(ops)) = (layout.grpc(service), layout.ops(service)) else {
            anyhow::bail!("{} is not a switchyard service", service.name());
        };
        let command = commands::command(service, programs, layout, &self.dir(), self.state.broker_storage);
        self.spawn(service, command, grpc, Some(ops))
    }

    /// Waits until every service answers 200 on `/health/readyz`; a service that exits, or
    /// is not ready in time, is an error with its readiness answer and log tail.
    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let probe = Duration::from_secs(1);
        let mut ready = vec![false; self.children.len()];
        loop {
            let mut pending = Vec::new();
            for (i, (child, record)) in self.children.iter_mut().zip(&self.state.processes).enumerate() {
                let Some(ops) = record.ops_port else {
                    ready[i] = true;
                    continue;
                };
                if let Some(status) = child.try_wait().context("checking a service")? {
                    anyhow::bail!(
                        "{} exited ({status}) before it was ready; last lines of {}:\n{}",
                        record.component.name(),
                        record.log.display(),
                        process::log_tail(&record.log, TAIL)
                    );
                }
                if ready[i] {
                    continue;
                }
                match net::http_get(ops, "/health/readyz", probe) {
                    Some((200, _)) => {
                        ready[i] = true;
                        eprintln!("switchyard-local: {} is ready", record.component.name());
                    }
                    answer => pending.push((record.clone(), answer)),
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let details: Vec<String> = pending
                    .iter()
                    .map(|(record, answer)| {
                        let answer = match answer {
                            Some((code, body)) => format!("answered {code} {body}"),
                            None => "did not answer".to_owned(),
                        };
                        format!(
                            "{} (http://127.0.0.1:{}/health/readyz {answer}); last lines of {}:\n{}",
                            record.component.name(),
                            record.ops_port.unwrap_or_default(),
                            record.log.display(),
                            process::log_tail(&record.log, TAIL)
                        )
                    })
                    .collect();
                anyhow::bail!("not ready within {}s: {}", timeout.as_secs(), details.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops everything this run started (services, then tansu, then Redis) and removes the
    /// state file.
    fn abort(&mut self) -> anyhow::Result<()> {
        if self.children.is_empty() {
            return state::remove(&self.state.dir);
        }
        eprintln!("switchyard-local: stopping what this run started");
        let mut failures = Vec::new();
        let services: Vec<usize> =
            (0..self.children.len()).filter(|&i| self.state.processes[i].component.is_service()).collect();
        let backends: Vec<usize> =
            (0..self.children.len()).rev().filter(|&i| !self.state.processes[i].component.is_service()).collect();
        for group in [services, backends] {
            for &i in &group {
                let _ = process::signal(self.children[i].id(), "TERM");
            }
            let deadline = Instant::now() + ABORT_GRACE;
            for &i in &group {
                let child = &mut self.children[i];
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) => break,
                        Ok(None) if Instant::now() < deadline => std::thread::sleep(process::POLL),
                        _ => {
                            let _ = child.kill();
                            if let Err(err) = child.wait() {
                                failures.push(format!("{}: {err}", self.state.processes[i].component.name()));
                            }
                            break;
                        }
                    }
                }
            }
        }
        if !failures.is_empty() {
            anyhow::bail!("{}", failures.join("; "));
        }
        state::remove(&self.state.dir)
    }
}
