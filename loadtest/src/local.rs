//! The local runner (`switchyard-local`, in `deploy/`) as the harness uses it: find its run
//! directory's ports, start a topology for one run (`--local`), and restart one component of
//! it (chaos mode).
//!
//! The contract relied on:
//! - `switchyard-local up --dir DIR --base-port BASE [--switchyard-bin PATH]` exits 0 once
//!   every service is ready; a service's gRPC at BASE + its offset in the registry
//!   (connectors, router, capacity and automessages at BASE+1, +2, +3, +4).
//! - `DIR/state.json` holds `base_port` while the topology runs.
//! - `switchyard-local restart COMPONENT --dir DIR --signal kill|term` (COMPONENT one of
//!   a service of the registry, redis, kafka) exits 0 once the new
//!   process was started, and prints one line.
//! - `switchyard-local stop --dir DIR` stops everything.
//! - `DIR/config/connectors.toml` has `[auth.signing]` (issuer, audience, key_file: an HS256
//!   secret its services trust), or `auth.mode = "disabled"` after `up --no-auth`: the
//!   harness mints its tokens with that key.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;
use switchyard_registry::Service;
use tokio::process::Command;

use crate::target::{self, Target};

/// The local runner's default run directory (its own default).
pub const DEFAULT_DIR: &str = ".switchyard-local";
/// Ports a local topology uses above its base: Kafka at base, a service's gRPC at
/// base+offset, Redis at base+10, its ops HTTP at base+10+offset (deploy/src/layout.rs). Also
/// enough for the two ports per service `switchyard up` of the harness takes (offsets <= 9).
const PORT_SPAN: u16 = 11 + Service::max_offset();
/// A restart command that takes longer than this has failed.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// `up` waits for readiness itself (120 s by default); this is only a backstop.
const UP_TIMEOUT: Duration = Duration::from_secs(300);

/// How chaos mode stops a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signal {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a clean shutdown (drain), as in a rolling restart.
    Term,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Kill => "kill",
            Signal::Term => "term",
        }
    }
}

/// One local runner run directory and the binary that manages it.
#[derive(Debug, Clone)]
pub struct LocalRunner {
    pub bin: PathBuf,
    pub dir: PathBuf,
}

/// `switchyard-local` next to this binary (same cargo profile), else on PATH.
pub fn default_binary() -> PathBuf {
    target::sibling_binary("switchyard-local")
}

/// True if `bin` names an executable file: a path, or a bare name found on PATH.
pub fn binary_exists(bin: &Path) -> bool {
    if bin.components().count() > 1 {
        return bin.is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(bin).is_file()))
}

#[derive(serde::Deserialize)]
struct StateFile {
    base_port: u16,
}

impl LocalRunner {
    pub fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// A service's config file in the run directory (its `[auth]` says how to sign).
    pub fn service_config(&self) -> PathBuf {
        self.dir.join("config").join(format!("{}.toml", Service::Connectors.name()))
    }

    /// The base port of the topology running in the directory.
    pub fn base_port(&self) -> Result<u16, String> {
        let file = self.state_file();
        let text = std::fs::read_to_string(&file).map_err(|e| {
            format!(
                "no switchyard-local run in {} ({}: {e}); start one with `switchyard-local up --dir {}`, or pass --local",
                self.dir.display(),
                file.display(),
                self.dir.display()
            )
        })?;
        let state: StateFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: no base_port in the local runner's state ({e})", file.display()))?;
        Ok(state.base_port)
    }

    /// The gRPC endpoints of a topology on `base`.
    pub fn target_on(base: u16) -> Target {
        let url = |service: Service| format!("http://127.0.0.1:{}", base + service.offset());
        Target {
            connectors: url(Service::Connectors),
            router: url(Service::Router),
            capacity: url(Service::Capacity),
            automessages: url(Service::Automessages),
            tls: None,
        }
    }

    /// `switchyard-local up` on `base` (`--no-auth`: authentication off); its progress goes to
    /// stderr.
    pub async fn up(&self, base: u16, switchyard_bin: Option<&Path>, no_auth: bool) -> anyhow::Result<()> {
        let mut command = Command::new(&self.bin);
        command.arg("up").arg("--dir").arg(&self.dir).arg("--base-port").arg(base.to_string());
        if let Some(bin) = switchyard_bin {
            command.arg("--switchyard-bin").arg(bin);
        }
        if no_auth {
            command.arg("--no-auth");
        }
        command.stdin(Stdio::null()).stdout(stderr()?).stderr(stderr()?).kill_on_drop(true);
        let status = tokio::time::timeout(UP_TIMEOUT, command.status())
            .await
            .map_err(|_| anyhow::anyhow!("`switchyard-local up` did not finish within {UP_TIMEOUT:?}"))?
            .with_context(|| format!("running {}", self.bin.display()))?;
        anyhow::ensure!(status.success(), "`switchyard-local up --dir {}` failed ({status})", self.dir.display());
        Ok(())
    }

    /// `switchyard-local stop`; its output goes to stderr.
    pub async fn stop(&self) -> anyhow::Result<()> {
        let status = Command::new(&self.bin)
            .arg("stop")
            .arg("--dir")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(stderr()?)
            .stderr(stderr()?)
            .status()
            .await
            .with_context(|| format!("running {}", self.bin.display()))?;
        anyhow::ensure!(status.success(), "`switchyard-local stop --dir {}` failed ({status})", self.dir.display());
        Ok(())
    }

    /// `switchyard-local restart <component> --dir <dir> --signal <signal>`: what it printed
    /// and how long it took; an error with its output if it failed.
    pub async fn restart(&self, component: &str, signal: Signal) -> anyhow::Result<(String, Duration)> {
        let started = Instant::now();
        let mut command = Command::new(&self.bin);
        command
            .arg("restart")
            .arg(component)
            .arg("--dir")
            .arg(&self.dir)
            .arg("--signal")
            .arg(signal.name())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let line = format!(
            "{} restart {component} --dir {} --signal {}",
            self.bin.display(),
            self.dir.display(),
            signal.name()
        );
        let output = tokio::time::timeout(RESTART_TIMEOUT, command.output())
            .await
            .map_err(|_| anyhow::anyhow!("`{line}` did not finish within {RESTART_TIMEOUT:?}"))?
            .with_context(|| format!("running `{line}`"))?;
        let took = started.elapsed();
        let text = [&output.stdout, &output.stderr]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        anyhow::ensure!(output.status.success(), "`{line}` failed ({}):\n{text}", output.status);
        Ok((text, took))
    }
}

/// A copy of this process's stderr for a child's output (the table goes to stdout).
fn stderr() -> anyhow::Result<Stdio> {
    use std::os::fd::AsFd;
    Ok(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
}

/// The lowest port the kernel hands out to outgoing connections (Linux default 32768).
fn ephemeral_ports_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A base port whose whole span (base..base+15) is free on 127.0.0.1 at the moment, below the
/// ephemeral range: a port in it can be taken by an outgoing connection (the harness's own
/// reconnecting clients) while a killed process is down, and its restart then cannot bind.
pub fn free_base_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let mut rng = rand::rng();
    let end = ephemeral_ports_start().saturating_sub(PORT_SPAN).max(10_000 + 1);
    for _ in 0..200 {
        let base = rng.random_range(10_000..end);
        let free = (0..PORT_SPAN).all(|o| std::net::TcpListener::bind(("127.0.0.1", base + o)).is_ok());
        if free {
            return Ok(base);
        }
    }
    anyhow::bail!("no free range of {PORT_SPAN} ports found on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A stand-in `switchyard-local` that logs its arguments and exits with `code`.
    fn fake(dir: &Path, code: i32) -> PathBuf {
        let bin = dir.join("switchyard-local");
        let log = dir.join("calls.log");
        std::fs::write(
            &bin,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\necho \"restarted $2 (pid 4242)\"\n[ {code} -eq 0 ] || echo 'no such process' >&2\nexit {code}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        bin
    }

    /// A killed process must get its ports back: none of them may be one the kernel gives
    /// to outgoing connections (seen: a restarted connectors could not bind its gRPC port).
    #[test]
    fn the_local_run_ports_lie_below_the_ephemeral_range() {
        let start = ephemeral_ports_start();
        for _ in 0..20 {
            let base = free_base_port().unwrap();
            assert!(base >= 10_000 && base + PORT_SPAN <= start, "{base}..{} vs {start}", base + PORT_SPAN);
        }
    }

    #[tokio::test]
    async fn restart_runs_the_contracted_command_and_returns_its_line() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = LocalRunner { bin: fake(tmp.path(), 0), dir: tmp.path().join("run") };
        let (line, took) = runner.restart("router", Signal::Kill).await.unwrap();
        assert_eq!(line, "restarted router (pid 4242)");
        assert!(took < RESTART_TIMEOUT);
        let calls = std::fs::read_to_string(tmp.path().join("calls.log")).unwrap();
        assert_eq!(calls.trim(), format!("restart router --dir {} --signal kill", runner.dir.display()));
    }

    #[tokio::test]
    async fn a_failed_restart_is_an_error_with_its_output() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = LocalRunner { bin: fake(tmp.path(), 3), dir: tmp.path().join("run") };
        let err = format!("{:#}", runner.restart("kafka", Signal::Term).await.unwrap_err());
        assert!(err.contains("restart kafka") && err.contains("--signal term"), "{err}");
        assert!(err.contains("no such process") && err.contains("exit status: 3"), "{err}");
    }

    #[test]
    fn ports_come_from_the_state_file() {
        let tmp = tempfile::tempdir().unwrap();
        let runner = LocalRunner { bin: PathBuf::from("switchyard-local"), dir: tmp.path().to_path_buf() };
        let err = runner.base_port().unwrap_err();
        assert!(err.contains("no switchyard-local run in") && err.contains("--local"), "{err}");
        std::fs::write(runner.state_file(), r#"{"version":1,"base_port":17100,"processes":[]}"#).unwrap();
        assert_eq!(runner.base_port().unwrap(), 17100);
        let target = LocalRunner::target_on(17100);
        assert_eq!(
            (target.connectors.as_str(), target.router.as_str(), target.capacity.as_str()),
            ("http://127.0.0.1:17101", "http://127.0.0.1:17102", "http://127.0.0.1:17103")
        );
        assert_eq!(target.automessages, "http://127.0.0.1:17104");
    }

    #[test]
    fn binaries_are_found_by_path_or_on_path() {
        assert!(binary_exists(Path::new("sh")));
        assert!(!binary_exists(Path::new("no-such-binary-anywhere")));
        assert!(!binary_exists(Path::new("/nonexistent/switchyard-local")));
    }
}
