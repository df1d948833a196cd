//! A throw-away Kafka-protocol broker (`tansu`, in-memory storage) on a free loopback port,
//! killed on drop. It starts in a few tens of milliseconds, so every test can have its own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

const INSTALL_HINT: &str = "install it with `cargo install tansu --locked --features dynostore`";

pub struct KafkaBroker {
    child: Child,
    port: u16,
    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub bootstrap: String,
}

impl KafkaBroker {
    /// Starts `tansu broker` with `memory://` storage and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<Self> {
        let bin = find_binary("tansu", INSTALL_HINT)?;
        // A port can be taken between `free_port` and the broker's bind: try a few.
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port();
            let url = format!("tcp://127.0.0.1:{port}");
            let child = Command::new(&bin)
                .arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"])
                .args(["--cluster-id", &crate::unique("switchyard-test")])
                .arg("--silent")
                .env_remove("CLUSTER_ID")
                .env_remove("LISTENER_URL")
                .env_remove("ADVERTISED_LISTENER_URL")
                .env_remove("STORAGE_ENGINE")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
            let mut broker = Self { child, port, bootstrap: format!("127.0.0.1:{port}") };
            match wait_for_port(port, Duration::from_secs(10)).await {
                Ok(()) if broker.child.try_wait()?.is_none() => return Ok(broker),
                Ok(()) => last_error = Some(anyhow::anyhow!("tansu exited at start (port {port} taken?)")),
                Err(e) => last_error = Some(e),
            }
            drop(broker);
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("tansu did not start")))
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
