//! The Switchyard under test: its gRPC endpoints, a reachability check that fails fast with
//! the reason, and `switchyard up` started by the harness for a quick local run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_proto::tls::ClientTls;
use switchyard_registry::Service;

use crate::auth::{self, Credentials, PartnerAuth};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// gRPC endpoints of the services the harness calls.
#[derive(Debug, Clone)]
pub struct Target {
    /// `ConnectorService` and `AgentService`.
    pub connectors: String,
    /// `RoutingAdminService` (setup and queue depth).
    pub router: String,
    /// `CapacityAdminService` (agents).
    pub capacity: String,
    /// `AutomaticMessagesAdminService` (scenarios with `[automessages]`).
    pub automessages: String,
    /// TLS to call them with (`--tls-ca`, ...); None: plaintext.
    pub tls: Option<Arc<ClientTls>>,
}

impl Default for Target {
    /// The ports `switchyard up` listens on by default.
    fn default() -> Self {
        let url = |service: Service| format!("http://127.0.0.1:{}", service.grpc_port());
        Self {
            connectors: url(Service::Connectors),
            router: url(Service::Router),
            capacity: url(Service::Capacity),
            automessages: url(Service::Automessages),
            tls: None,
        }
    }
}

/// The target cannot be used; says which service, where, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {service} at {url}: {reason}")]
pub struct Unreachable {
    pub service: &'static str,
    pub url: String,
    pub reason: String,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// An endpoint for `url`, over `tls` when given (an http:// URL is then called as https://).
fn endpoint(url: &str, tls: Option<&ClientTls>) -> Result<Endpoint, tonic::transport::Error> {
    let endpoint = match tls {
        Some(tls) => tls.endpoint(url)?,
        None => Endpoint::from_shared(url.to_owned())?,
    };
    Ok(endpoint.connect_timeout(CONNECT_TIMEOUT).tcp_nodelay(true))
}

/// Connects to `url` (over `tls` when given) and checks gRPC health, within a few seconds, so
/// an unreachable or unhealthy target is one clear error instead of a wall of timeouts.
pub async fn connect(service: &'static str, url: &str, tls: Option<&ClientTls>) -> Result<Channel, Unreachable> {
    let unreachable = |reason: String| Unreachable { service, url: url.to_owned(), reason };
    let endpoint = endpoint(url, tls)
        .map_err(|e| unreachable(format!("not a valid URL ({})", switchyard_proto::tls::error_chain(&e))))?;
    let channel = tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect())
        .await
        .map_err(|_| unreachable("no answer within 3 s".into()))?
        .map_err(|e| unreachable(switchyard_proto::tls::error_chain(&e)))?;
    let mut health = HealthClient::new(channel.clone());
    let status = tokio::time::timeout(CONNECT_TIMEOUT, health.check(HealthCheckRequest { service: String::new() }))
        .await
        .map_err(|_| unreachable("gRPC health check timed out".into()))?
        .map_err(|s| unreachable(format!("gRPC health check failed: {} {}", s.code(), s.message())))?
        .into_inner()
        .status();
    if status != ServingStatus::Serving {
        return Err(unreachable(format!("gRPC health is {status:?}, not SERVING")));
    }
    Ok(channel)
}

/// More connections to the same endpoint (the first one already checked by `connect`).
pub async fn pool(url: &str, size: u32, tls: Option<&ClientTls>) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::new();
    for _ in 0..size {
        let endpoint = endpoint(url, tls)?;
        channels.push(endpoint.connect().await.with_context(|| format!("connecting to {url}"))?);
    }
    Ok(channels)
}

/// `switchyard up` run by the harness on free loopback ports; stopped with SIGTERM on drop.
pub struct Embedded {
    child: Child,
    pub target: Target,
    pub log: PathBuf,
    /// The HS256 secret its only issuer is (issuer [`auth::HARNESS_ISSUER`]); None when it
    /// runs with `auth.mode = "disabled"`.
    pub signing_key_file: Option<PathBuf>,
    /// Holds the secret and the config written for this run; removed on drop.
    _files: tempfile::TempDir,
}

/// Why one start of `switchyard up` failed.
enum Start {
    /// A picked port was taken before the service bound it: pick again.
    PortTaken(String),
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for Start {
    fn from(err: anyhow::Error) -> Self {
        Self::Failed(err)
    }
}

impl From<std::io::Error> for Start {
    fn from(err: std::io::Error) -> Self {
        Self::Failed(err.into())
    }
}

impl Embedded {
    /// Starts `binary up` and waits until every service is ready. Its config is `config` (if
    /// any) with `[auth]` set: `authenticate` trusts a secret generated for this run (and no
    /// other issuer is added, so `up` prints no development credentials), otherwise
    /// `auth.mode = "disabled"`.
    /// Ports are picked free, below the kernel's ephemeral range; one taken between the pick
    /// and the bind (by another process) means a new pick, up to three times.
    pub async fn start(
        binary: &Path,
        config: Option<&Path>,
        log_dir: &Path,
        authenticate: bool,
    ) -> anyhow::Result<Self> {
        if !binary.is_file() {
            anyhow::bail!(
                "switchyard binary not found at {} (build it with `cargo build --release -p switchyard`, or pass --switchyard-bin)",
                binary.display()
            );
        }
        std::fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
        let log = log_dir.join("switchyard-up.log");
        let files =
            tempfile::Builder::new().prefix("switchyard-up.").tempdir().context("a directory for its config")?;
        let key = if authenticate { Some(auth::write_secret(files.path())?) } else { None };
        let base = match config {
            Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
            None => String::new(),
        };
        let config = files.path().join("switchyard.toml");
        std::fs::write(&config, auth::target_config(&base, key.as_deref())?)
            .with_context(|| format!("writing {}", config.display()))?;
        let mut attempt = 1;
        loop {
            match Self::start_once(binary, &config, &log).await {
                Err(Start::PortTaken(_)) if attempt < 3 => {
                    eprintln!(
                        "switchyard up, attempt {attempt}: a port picked for it was taken meanwhile; picking again"
                    );
                    attempt += 1;
                }
                Err(Start::PortTaken(text)) => anyhow::bail!("{text}"),
                Err(Start::Failed(err)) => return Err(err),
                Ok((child, target)) => {
                    return Ok(Self { child, target, log, signing_key_file: key, _files: files });
                }
            }
        }
    }

    async fn start_once(binary: &Path, config: &Path, log: &Path) -> Result<(Child, Target), Start> {
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(binary);
        command.arg("--config").arg(config);
        // The harness's config says how callers authenticate; nothing in the environment may
        // change that.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SWITCHYARD_AUTH__") {
                command.env_remove(key);
            }
        }
        command.arg("up").stdin(Stdio::null()).stdout(log_file.try_clone()?).stderr(log_file).kill_on_drop(true);
        let base = crate::local::free_base_port()?;
        // Every service of the registry (`up` runs them all), two ports each.
        let (mut ops, mut grpc) = (Vec::new(), std::collections::HashMap::new());
        for (i, service) in (0u16..).zip(Service::ALL) {
            let (g, o) = (base + 2 * i, base + 2 * i + 1);
            grpc.insert(service, g);
            let upper = service.name().to_uppercase();
            command.env(format!("SWITCHYARD_{upper}__GRPC_ADDR"), format!("127.0.0.1:{g}"));
            command.env(format!("SWITCHYARD_{upper}__OPS_ADDR"), format!("127.0.0.1:{o}"));
            ops.push(o);
        }
        let mut child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        for port in &ops {
            loop {
                if let Some(status) = child.try_wait().context("waiting for switchyard up")? {
                    let tail = std::fs::read_to_string(log).unwrap_or_default();
                    let text = format!("switchyard up exited with {status} before it was ready; its log:\n{tail}");
                    return Err(if tail.contains("Address already in use") {
                        Start::PortTaken(text)
                    } else {
                        Start::Failed(anyhow::anyhow!(text))
                    });
                }
                if http_status(&format!("127.0.0.1:{port}"), "/health/readyz").await == Some(200) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    let err = anyhow::anyhow!("switchyard up was not ready within 60 s; see {}", log.display());
                    return Err(Start::Failed(err));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let url = |port: u16| format!("http://127.0.0.1:{port}");
        let grpc_of = |service: Service| url(grpc[&service]);
        let target = Target {
            connectors: grpc_of(Service::Connectors),
            router: grpc_of(Service::Router),
            capacity: grpc_of(Service::Capacity),
            automessages: grpc_of(Service::Automessages),
            tls: None,
        };
        Ok((child, target))
    }

    /// How the harness's clients authenticate to it.
    pub fn credentials(&self, partner: PartnerAuth) -> anyhow::Result<Credentials> {
        match &self.signing_key_file {
            Some(key) => Credentials::from_key_file(key, auth::HARNESS_ISSUER, auth::AUDIENCE, partner),
            None => Ok(Credentials::none()),
        }
    }

    /// SIGTERM, then wait for a clean exit (SIGKILL after 30 s).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
        }
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) if status.as_ref().is_ok_and(|s| s.success()) => Ok(()),
            Ok(status) => anyhow::bail!("switchyard up exited with {status:?}; see {}", self.log.display()),
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("switchyard up did not stop within 30 s of SIGTERM")
            }
        }
    }
}

/// The `switchyard` binary next to this one (same cargo profile), else on PATH.
pub fn default_binary() -> PathBuf {
    sibling_binary("switchyard")
}

/// The binary `name` next to this one (same cargo profile), else `name` (found on PATH).
pub fn sibling_binary(name: &str) -> PathBuf {
    let sibling = std::env::current_exe().ok().and_then(|exe| {
        // Test binaries live in target/<profile>/deps; the binaries one level up.
        let dir = exe.parent()?;
        let dir = if dir.ends_with("deps") { dir.parent()? } else { dir };
        Some(dir.join(name))
    });
    match sibling {
        Some(path) if path.is_file() => path,
        _ => PathBuf::from(name),
    }
}

/// Status code of a plain HTTP/1.1 GET, None if unreachable.
pub async fn http_status(host: &str, path: &str) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    String::from_utf8_lossy(&buf).split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
#[path = "target_tls_tests.rs"]
mod tls_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_target_is_one_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = connect("connectors", &format!("http://127.0.0.1:{port}"), None).await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&format!("cannot reach connectors at http://127.0.0.1:{port}: ")), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        let err = connect("router", "not a url", None).await.unwrap_err();
        assert!(err.to_string().contains("not a valid URL"), "{err}");
    }

    /// A port taken between the pick and the bind is picked again (three attempts); any other
    /// failure is reported at once.
    #[tokio::test]
    async fn a_port_taken_meanwhile_is_picked_again_and_other_failures_are_not_retried() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let calls = dir.path().join("calls");
        let fake = |name: &str, message: &str| {
            let bin = dir.path().join(name);
            let script = format!(
                "#!/bin/sh\necho $SWITCHYARD_ROUTER__GRPC_ADDR >> '{}'\necho '{message}' >&2\nexit 1\n",
                calls.display()
            );
            std::fs::write(&bin, script).unwrap();
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
            bin
        };
        let taken = fake("taken", "router listeners: cannot bind 127.0.0.1:1: Address already in use (os error 98)");
        let err = Embedded::start(&taken, None, dir.path(), true).await.err().unwrap().to_string();
        assert!(err.contains("Address already in use"), "{err}");
        let addresses = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(addresses.lines().count(), 3, "{addresses}");
        std::fs::remove_file(&calls).unwrap();
        let broken = fake("broken", "config: redis.url is not a URL");
        let err = Embedded::start(&broken, None, dir.path(), true).await.err().unwrap().to_string();
        assert!(err.contains("redis.url is not a URL"), "{err}");
        assert_eq!(std::fs::read_to_string(&calls).unwrap().lines().count(), 1);
    }

    #[tokio::test]
    async fn a_missing_binary_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = Embedded::start(&missing, None, dir.path(), true).await.err().unwrap().to_string();
        assert!(err.contains("switchyard binary not found at") && err.contains("nope"), "{err}");
    }
}
