//! A throw-away redis-server on a free loopback port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

pub struct RedisServer {
    child: Child,
    port: u16,
    durable: bool,
    dir: std::sync::Arc<tempdir::TempDir>,
}

mod tempdir {
    /// A directory removed on drop, for the server's working files.
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl RedisServer {
    /// Without persistence: a restart starts empty.
    pub async fn start() -> anyhow::Result<Self> {
        Self::on_a_free_port(false).await
    }

    /// With an append-only file synced on every write (as the local runner and the chart's
    /// guidance run it): a restart, even after kill -9, has everything acknowledged.
    pub async fn start_durable() -> anyhow::Result<Self> {
        Self::on_a_free_port(true).await
    }

    /// A port picked free can be taken (by a parallel test) before the server binds it: the
    /// server then exits, and another port is picked.
    async fn on_a_free_port(durable: bool) -> anyhow::Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::launch(free_port(), durable, None).await {
                Err(err) if attempt < 3 => {
                    eprintln!("redis-server, attempt {attempt}: {err:#}; picking another port");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// On a given port, e.g. to bring a server back where clients expect it.
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        Self::launch(port, false, None).await
    }

    async fn launch(port: u16, durable: bool, dir: Option<std::sync::Arc<tempdir::TempDir>>) -> anyhow::Result<Self> {
        let bin = find_binary("redis-server", "install it with `apt-get install redis-server`")?;
        let dir = match dir {
            Some(dir) => dir,
            None => {
                let path = std::env::temp_dir().join(crate::unique("switchyard-redis"));
                std::fs::create_dir_all(&path)?;
                std::sync::Arc::new(tempdir::TempDir(path))
            }
        };
        let persistence: &[&str] =
            if durable { &["--appendonly", "yes", "--appendfsync", "always"] } else { &["--appendonly", "no"] };
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(persistence)
            .arg("--dir")
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = Self { child, port, durable, dir };
        wait_for_port(port, Duration::from_secs(10)).await?;
        // Something answers on the port: make sure it is this server, not one that was there
        // (redis-server exits within milliseconds when it cannot bind).
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(status) = server.child.try_wait()? {
            anyhow::bail!("redis-server on port {port} exited with {status} (port taken?)");
        }
        Ok(server)
    }

    /// kill -9, then the same server again on the same port and directory (a durable one
    /// comes back with its data).
    pub async fn restart(&mut self, down_for: Duration) -> anyhow::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        tokio::time::sleep(down_for).await;
        *self = Self::launch(self.port, self.durable, Some(self.dir.clone())).await?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
