//! A throw-away redis-server on a free loopback port, killed on drop: plain, durable, with TLS
//! and ACL users ([`RedisServer::start_with`]), or three of them as a Redis Cluster
//! ([`RedisCluster`]).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{find_binary, free_port, wait_for_port};

pub struct RedisServer {
    child: Child,
    port: u16,
    durable: bool,
    options: RedisServerOptions,
    dir: std::sync::Arc<tempdir::TempDir>,
}

/// What a server is started with beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct RedisServerOptions {
    /// TLS only (`--port 0 --tls-port`): certificate, key and the CA that signed the clients'
    /// certificates; clients must present one when `tls_auth_clients`.
    pub tls: Option<RedisTlsFiles>,
    /// ACL users (name, password) with every permission; the default user is then disabled.
    pub users: Vec<(String, String)>,
    /// `--cluster-enabled yes` (nodes.conf in the server's directory).
    pub cluster: bool,
}

#[derive(Debug, Clone)]
pub struct RedisTlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub auth_clients: bool,
}

impl RedisServerOptions {
    fn args(&self, port: u16) -> Vec<String> {
        let mut args = Vec::new();
        match &self.tls {
            Some(tls) => {
                args.extend(["--port".into(), "0".into(), "--tls-port".into(), port.to_string()]);
                for (flag, path) in
                    [("--tls-cert-file", &tls.cert), ("--tls-key-file", &tls.key), ("--tls-ca-cert-file", &tls.ca)]
                {
                    args.extend([flag.to_owned(), path.display().to_string()]);
                }
                let auth = if tls.auth_clients { "yes" } else { "no" };
                args.extend(["--tls-auth-clients".into(), auth.into()]);
                if self.cluster {
                    args.extend(["--tls-cluster".into(), "yes".into()]);
                }
            }
            None => args.extend(["--port".into(), port.to_string()]),
        }
        if !self.users.is_empty() {
            args.extend(["--user".into(), "default".into(), "off".into()]);
            for (user, password) in &self.users {
                args.extend(["--user".into(), user.clone(), "on".into(), format!(">{password}")]);
                args.extend(["~*".into(), "&*".into(), "+@all".into()]);
            }
        }
        if self.cluster {
            // The bus port would be port + 10000 by default, past 65535 for many free ports.
            args.extend([
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                "nodes.conf".into(),
            ]);
            args.extend(["--cluster-port".into(), free_port().to_string()]);
        }
        args
    }
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
        Self::start_with(durable, RedisServerOptions::default()).await
    }

    /// With TLS, ACL users or cluster mode (see [`RedisServerOptions`]).
    pub async fn start_with(durable: bool, options: RedisServerOptions) -> anyhow::Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::launch(free_port(), durable, options.clone(), None).await {
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
        Self::launch(port, false, RedisServerOptions::default(), None).await
    }

    async fn launch(
        port: u16,
        durable: bool,
        options: RedisServerOptions,
        dir: Option<std::sync::Arc<tempdir::TempDir>>,
    ) -> anyhow::Result<Self> {
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
            .args(options.args(port))
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(persistence)
            .arg("--dir")
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut server = Self { child, port, durable, options, dir };
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
        *self = Self::launch(self.port, self.durable, self.options.clone(), Some(self.dir.clone())).await?;
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` with TLS.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
