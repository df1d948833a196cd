//! A throw-away redis-server on a free loopback port, killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempdir::TempDir,
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
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(free_port()).await
    }

    /// On a given port, e.g. to bring a server back where clients expect it.
    pub async fn start_on(port: u16) -> anyhow::Result<Self> {
        let bin = find_binary("redis-server", "install it with `apt-get install redis-server`")?;
        let dir = std::env::temp_dir().join(crate::unique("switchyard-redis"));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Self { child, port, _dir: tempdir::TempDir(dir) };
        wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(server)
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
