//! Three redis-server processes in cluster mode on free loopback ports, joined with
//! `redis-cli --cluster create` (no replicas): a Redis Cluster for tests, killed on drop.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::redis::{RedisServer, RedisServerOptions};
use crate::{find_binary, wait_for};

pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Three primaries sharing the 16384 slots, plain TCP.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(RedisServerOptions::default()).await
    }

    /// Three primaries started with `options` (TLS, ACL users); `cluster` is set here.
    pub async fn start_with(options: RedisServerOptions) -> anyhow::Result<Self> {
        let options = RedisServerOptions { cluster: true, ..options };
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::start_with(false, options.clone()).await?);
        }
        let cli = find_binary("redis-cli", "install it with `apt-get install redis-tools`")?;
        let mut create = Command::new(&cli);
        create.arg("--cluster").arg("create");
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        add_client_args(&mut create, &options);
        let output = create.stdin(Stdio::null()).output()?;
        anyhow::ensure!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Every node must see the whole cluster before clients ask it for the slot map.
        for node in &nodes {
            let port = node.port();
            let (cli, options) = (cli.clone(), options.clone());
            wait_for(&format!("cluster_state:ok on 127.0.0.1:{port}"), Duration::from_secs(30), || {
                let mut info = Command::new(&cli);
                info.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
                add_client_args(&mut info, &options);
                info.args(["cluster", "info"]);
                let ok = info
                    .stdin(Stdio::null())
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"));
                async move { ok.then_some(()) }
            })
            .await?;
        }
        Ok(Self { nodes })
    }

    /// The URL of the first node (`redis://127.0.0.1:<port>`, `rediss://` with TLS).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

/// TLS and credentials for redis-cli, as the servers were started.
fn add_client_args(cmd: &mut Command, options: &RedisServerOptions) {
    if let Some(tls) = &options.tls {
        cmd.arg("--tls").arg("--cacert").arg(&tls.ca);
        if tls.auth_clients {
            cmd.arg("--cert").arg(&tls.cert).arg("--key").arg(&tls.key);
        }
    }
    if let Some((user, password)) = options.users.first() {
        cmd.args(["--user", user, "--pass", password, "--no-auth-warning"]);
    }
}
