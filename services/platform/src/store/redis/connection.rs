//! How the store reaches Redis: one server (a reconnecting [`ConnectionManager`]) or a Redis
//! Cluster (the redis crate's cluster client, which sends each command to the node of its
//! key's slot and follows MOVED/ASK), over TCP or TLS (`rediss://`, rustls with the ring
//! provider), with an ACL user and password given apart from the URL.

use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::io::tcp::TcpSettings;
use ::redis::{
    ClientTlsConfig, Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, RedisFuture, TlsCertificates, Value,
};

use super::super::StoreError;

/// Time allowed to establish a connection (each attempt).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for one reply. A timed-out script may still have run: callers see
/// `Unavailable` and retry; every write here is idempotent on its ids except `claim`, whose
/// retry then reports `ConversationGone` (the route shows who holds it).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnection: a few quick attempts (jittered backoff from 100 ms, at most 1 s apart), then
/// the call fails with `Unavailable` and the caller's own retry/readiness logic takes over.
const RECONNECT_RETRIES: usize = 4;
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// Where and how to connect. Secrets are values here (read from their files by the caller);
/// `Debug` prints none of them.
#[derive(Clone, Default)]
pub struct RedisOptions {
    /// `redis://host:port[/db]` or `rediss://...` (TLS); with `cluster`, one node of it.
    pub url: String,
    /// A Redis Cluster: `url` and `cluster_nodes` are the nodes to start from.
    pub cluster: bool,
    /// More cluster nodes besides `url` (implies `cluster`).
    pub cluster_nodes: Vec<String>,
    /// ACL user name (over one in the URL).
    pub username: Option<String>,
    /// Password (over one in the URL).
    pub password: Option<String>,
    /// PEM CA certificates that sign the server's certificate; None: the system's roots.
    pub tls_ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and private key, for servers that require one.
    pub tls_client: Option<(Vec<u8>, Vec<u8>)>,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// The URL with its user information hidden, for messages.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    fn is_cluster(&self) -> bool {
        self.cluster || !self.cluster_nodes.is_empty()
    }

    fn certificates(&self) -> Option<TlsCertificates> {
        if self.tls_ca_pem.is_none() && self.tls_client.is_none() {
            return None;
        }
        Some(TlsCertificates {
            client_tls: self
                .tls_client
                .as_ref()
                .map(|(cert, key)| ClientTlsConfig { client_cert: cert.clone(), client_key: key.clone() }),
            root_cert: self.tls_ca_pem.clone(),
        })
    }
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &self.display_url())
            .field("cluster", &self.is_cluster())
            .field("cluster_nodes", &self.cluster_nodes.iter().map(|n| redact_url(n)).collect::<Vec<_>>())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls_ca_pem", &self.tls_ca_pem.is_some())
            .field("tls_client", &self.tls_client.is_some())
            .finish()
    }
}

/// `scheme://***@host...`: the user information of a URL hidden.
pub(super) fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[start..];
    let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// One server or a cluster; both multiplex every clone over shared connections.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Connection::Cluster(_))
    }

    /// Connects; the first connection (and for a cluster its slot map) is made before this
    /// returns, so a wrong password, an untrusted certificate or an unreachable node is an
    /// error here. Messages name the server, never a secret.
    pub(super) async fn open(options: &RedisOptions) -> Result<Connection, StoreError> {
        // rustls picks the process's crypto provider; install ring unless someone else chose
        // already (the redis crate would otherwise panic when both providers are compiled in).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let target = options.display_url();
        let invalid = |url: &str, e: ::redis::RedisError| {
            StoreError::Unavailable(format!("invalid redis url {}: {}", redact_url(url), scrub(&e.to_string(), url)))
        };
        let failed = |e: ::redis::RedisError| {
            let kind = if options.tls_ca_pem.is_some() || options.url.starts_with("rediss://") { " (TLS)" } else { "" };
            StoreError::Unavailable(format!(
                "cannot connect to redis at {target}{kind}: {}",
                scrub(&e.to_string(), &options.url)
            ))
        };
        let tcp = TcpSettings::default().set_nodelay(true);
        if options.is_cluster() {
            let mut nodes = Vec::new();
            for url in std::iter::once(&options.url).chain(&options.cluster_nodes) {
                nodes.push(node_info(url, options).map_err(|e| invalid(url, e))?);
            }
            // TCP_NODELAY (the redis crate leaves it off), as for one server below.
            let mut builder = ClusterClientBuilder::new(nodes)
                .connection_timeout(CONNECTION_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(RECONNECT_RETRIES as u32)
                .max_retry_wait(RECONNECT_MAX_DELAY.as_millis() as u64)
                .tcp_settings(tcp);
            if let Some(certs) = options.certificates() {
                builder = builder.certs(certs);
            }
            let client = builder.build().map_err(|e| invalid(&options.url, e))?;
            let conn = client.get_async_connection().await.map_err(failed)?;
            return Ok(Connection::Cluster(conn));
        }
        // TCP_NODELAY: the connection multiplexes concurrent requests, and with Nagle on, a
        // request written while another is unacknowledged waits for the peer's delayed ACK
        // (about 40 ms on Linux).
        let info = node_info(&options.url, options).map_err(|e| invalid(&options.url, e))?.set_tcp_settings(tcp);
        let client = match options.certificates() {
            Some(certs) => ::redis::Client::build_with_tls(info, certs),
            None => ::redis::Client::open(info),
        }
        .map_err(|e| invalid(&options.url, e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let conn = ConnectionManager::new_with_config(client, config).await.map_err(failed)?;
        Ok(Connection::Single(conn))
    }
}

/// The URL's connection info with the configured user and password over the URL's.
fn node_info(url: &str, options: &RedisOptions) -> Result<ConnectionInfo, ::redis::RedisError> {
    let info = url.into_connection_info()?;
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &options.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &options.password {
        redis = redis.set_password(password);
    }
    Ok(info.set_redis_settings(redis))
}

/// Removes the URL's password from an error message, should the redis crate quote it.
fn scrub(message: &str, url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else { return message.to_owned() };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@').map(|at| &authority[..at]) {
        Some(userinfo) if !userinfo.is_empty() => message.replace(userinfo, "***"),
        _ => message.to_owned(),
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(conn) => conn.req_packed_command(cmd),
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(conn) => conn.get_db(),
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_messages_lose_their_secrets() {
        assert_eq!(redact_url("rediss://app:pw@h:6380/0"), "rediss://***@h:6380/0");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(scrub("bad url redis://app:pw@h", "redis://app:pw@h"), "bad url redis://***@h");
        let mut options = RedisOptions::new("rediss://app:pw@h:1");
        options.password = Some("hunter2".into());
        let shown = format!("{options:?}");
        assert!(!shown.contains("pw") && !shown.contains("hunter2"), "{shown}");
    }
}
