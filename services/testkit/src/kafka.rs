//! A throw-away Kafka-protocol broker (`tansu`) on a free loopback port, killed on drop. It
//! starts in a few tens of milliseconds, so every test can have its own. In-memory storage by
//! default; `start_durable` keeps the log in SQLite in a temporary directory, so `restart`
//! brings the broker back with its topics, records and committed offsets.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

const INSTALL_HINT: &str = "install it with `cargo install tansu --locked --features dynostore,libsql`";

pub struct KafkaBroker {
    child: Child,
    port: u16,
    cluster_id: String,
    /// SQLite storage directory of a durable broker (removed on drop).
    data: Option<Arc<DataDir>>,
    /// `--authentication`: clients must authenticate with SASL (SCRAM checked against the users
    /// stored with [`KafkaBroker::start_with_scram_users`]; tansu 0.6 takes any PLAIN password).
    authentication: bool,
    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub bootstrap: String,
}

struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl KafkaBroker {
    /// Starts `tansu broker` with `memory://` storage and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(None).await
    }

    /// With its log in SQLite: `restart` keeps topics (and their ids), records and offsets.
    pub async fn start_durable() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique("switchyard-tansu"));
        std::fs::create_dir_all(&dir)?;
        Self::start_with(Some(Arc::new(DataDir(dir)))).await
    }

    /// A durable broker that requires SASL (`--authentication`), with SCRAM users stored first:
    /// `(user, password, mechanism)` with mechanism `scram256` or `scram512`. tansu stores
    /// users through AlterUserScramCredentials, which an authenticating broker only answers
    /// to authenticated clients, so the users are created before authentication is turned on.
    pub async fn start_with_scram_users(users: &[(&str, &str, &str)]) -> anyhow::Result<Self> {
        let mut broker = Self::start_durable().await?;
        let bin = find_binary("tansu", INSTALL_HINT)?;
        for (user, password, mechanism) in users {
            let output = Command::new(&bin)
                .args(["user", "create", "--broker", &format!("tcp://127.0.0.1:{}", broker.port)])
                .args(["--mechanism", mechanism, user, password])
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .output()?;
            anyhow::ensure!(
                output.status.success(),
                "tansu user create {user}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        broker.authentication = true;
        broker.restart_gracefully(Duration::ZERO).await?;
        Ok(broker)
    }

    async fn start_with(data: Option<Arc<DataDir>>) -> anyhow::Result<Self> {
        let cluster_id = crate::unique("switchyard-test");
        // A port can be taken between `free_port` and the broker's bind: try a few.
        let mut last_error = None;
        for _ in 0..5 {
            match Self::launch(free_port(), &cluster_id, data.clone(), false).await {
                Ok(broker) => return Ok(broker),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("tansu did not start")))
    }

    async fn launch(
        port: u16,
        cluster_id: &str,
        data: Option<Arc<DataDir>>,
        authentication: bool,
    ) -> anyhow::Result<Self> {
        let bin = find_binary("tansu", INSTALL_HINT)?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&bin);
        command
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--cluster-id", cluster_id])
            .arg("--silent")
            .env_remove("CLUSTER_ID")
            .env_remove("LISTENER_URL")
            .env_remove("ADVERTISED_LISTENER_URL")
            .env_remove("STORAGE_ENGINE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if authentication {
            command.arg("--authentication");
        }
        match &data {
            // tansu resolves the SQLite path against its working directory.
            Some(dir) => command.args(["--storage-engine", "sqlite://tansu.db"]).current_dir(&dir.0),
            None => command.args(["--storage-engine", "memory://tansu/"]),
        };
        let child = command.spawn().map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
        let mut broker = Self {
            child,
            port,
            cluster_id: cluster_id.to_owned(),
            data,
            authentication,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        wait_for_port(port, Duration::from_secs(10)).await?;
        if broker.child.try_wait()?.is_some() {
            anyhow::bail!("tansu exited at start (port {port} taken?)");
        }
        Ok(broker)
    }

    /// kill -9, then the same broker again on the same port (a durable one with its log).
    pub async fn restart(&mut self, down_for: Duration) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.start_again(down_for).await
    }

    /// SIGTERM (an orderly stop), then the same broker again on the same port.
    pub async fn restart_gracefully(&mut self, down_for: Duration) -> anyhow::Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..200 {
            if self.child.try_wait()?.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.start_again(down_for).await
    }

    async fn start_again(&mut self, down_for: Duration) -> anyhow::Result<()> {
        tokio::time::sleep(down_for).await;
        *self = Self::launch(self.port, &self.cluster_id.clone(), self.data.clone(), self.authentication).await?;
        Ok(())
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
