//! Test support: run Switchyard in-process on port-0 listeners, and gRPC clients for it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod auth;
pub mod raw;
pub mod readme;
pub mod topology;

pub use auth::{Authed, TestAuth};

use std::collections::HashMap;
use std::time::Duration;

use switchyard::{Config, Service};
use switchyard_kit::{Listeners, Shutdown};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::working_hours_admin_service_client::WorkingHoursAdminServiceClient;
use switchyard_proto::admin::v1::*;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::agent::v1::agent_service_client::AgentServiceClient;
use switchyard_proto::agent::v1::{agent_event, AgentEvent};
use switchyard_proto::auth::v1::auth_admin_service_client::AuthAdminServiceClient;
use switchyard_proto::capacity::v1::capacity_admin_service_client::CapacityAdminServiceClient;
use switchyard_proto::capacity::v1::*;
use switchyard_proto::common::v1::{AgentState, Channel as ProtoChannel};
use switchyard_proto::connectors::v1 as conn;
use switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient;
use tonic::transport::Channel;

pub struct Cluster {
    pub grpc: HashMap<&'static str, String>,
    pub ops: HashMap<&'static str, String>,
    /// The in-memory store, in embedded mode (for growth checks).
    pub memory: Option<std::sync::Arc<switchyard_platform::store::MemoryStore>>,
    /// The servers of a cluster on real backends, stopped with it.
    pub redis: Option<switchyard_testkit::RedisServer>,
    pub redis_prefix: Option<String>,
    pub kafka: Option<switchyard_testkit::KafkaBroker>,
    /// The signing key the cluster trusts.
    pub auth: TestAuth,
    /// How the clients below call a cluster whose gRPC ports serve TLS (`config.tls`): set it
    /// after `start` (the trusted CA, a client certificate under mTLS).
    pub client_tls: Option<switchyard_proto::tls::ClientTls>,
    shutdown: Shutdown,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Where a cluster keeps its events and state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In-memory bus and store.
    Embedded,
    /// A real redis-server and Kafka-protocol broker (tansu), started for the test; all
    /// services still in this process (`switchyard up` with `--kafka` and `--redis`).
    Real,
}

impl Cluster {
    /// All services in this process on the in-memory bus and store.
    pub async fn embedded() -> Self {
        Self::start(Config::default()).await
    }

    /// On `backend`, with `tune` applied to the default configuration first.
    pub async fn on(backend: Backend, tune: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        tune(&mut config);
        match backend {
            Backend::Embedded => Self::start(config).await,
            Backend::Real => {
                let redis = switchyard_testkit::RedisServer::start().await.expect("redis-server");
                let kafka = switchyard_testkit::KafkaBroker::start().await.expect("kafka broker");
                config.redis.url = redis.url();
                let prefix = switchyard_testkit::unique("sy")[..12].to_owned();
                config.redis.key_prefix = prefix.clone();
                config.kafka.bootstrap_servers = kafka.bootstrap();
                config.kafka.partitions = 4;
                let mut cluster = Self::start(config).await;
                cluster.redis = Some(redis);
                cluster.redis_prefix = Some(prefix);
                cluster.kafka = Some(kafka);
                cluster
            }
        }
    }

    pub async fn start(mut config: Config) -> Self {
        config.instance_id = switchyard_testkit::unique("t")[..14].to_owned();
        // Short sweep so tests that rely on it stay fast.
        config.router.assign_interval = Duration::from_millis(200);
        let auth = TestAuth::new();
        if config.auth.mode == switchyard_auth::AuthMode::Required {
            config.auth.issuers.push(auth.issuer());
        }
        let mut listeners = Vec::new();
        let (mut grpc, mut ops) = (HashMap::new(), HashMap::new());
        let tls = config.tls.load().expect("tls config");
        let scheme = if tls.is_some() { "https" } else { "http" };
        for service in Service::ALL {
            let l = Listeners::bind("127.0.0.1:0", "127.0.0.1:0").await.unwrap().with_grpc_tls(tls.clone());
            grpc.insert(service.name(), format!("{scheme}://{}", l.grpc.local_addr().unwrap()));
            ops.insert(service.name(), format!("http://{}", l.ops.local_addr().unwrap()));
            listeners.push((service, l));
        }
        let mut platform = switchyard::platform(&config).await.unwrap();
        let memory = if config.redis.url.is_empty() {
            let store =
                std::sync::Arc::new(switchyard_platform::store::MemoryStore::with_retention(config.retention.store()));
            platform.store = store.clone();
            platform.security = switchyard::security(&config, store.clone(), platform.bus.clone()).unwrap();
            Some(store)
        } else {
            None
        };
        let shutdown = Shutdown::new();
        let s = shutdown.clone();
        let task = tokio::spawn(async move { switchyard::up(platform, &config, listeners, s).await });
        let cluster = Self {
            grpc,
            ops,
            memory,
            redis: None,
            redis_prefix: None,
            kafka: None,
            auth,
            client_tls: None,
            shutdown,
            task: Some(task),
        };
        cluster.wait_ready().await;
        cluster
    }

    pub async fn wait_ready(&self) {
        for service in Service::ALL {
            let url = format!("{}/health/readyz", self.ops[service.name()]);
            switchyard_testkit::wait_for(&format!("{} ready", service.name()), Duration::from_secs(30), || {
                let url = url.clone();
                async move { http_get(&url).await.filter(|(code, _)| *code == 200).map(|_| ()) }
            })
            .await
            .unwrap();
        }
    }

    /// A connection without credentials.
    pub async fn raw(&self, service: &str) -> Channel {
        match &self.client_tls {
            Some(tls) => tls.endpoint(&self.grpc[service]).unwrap().connect().await.unwrap(),
            None => Channel::from_shared(self.grpc[service].clone()).unwrap().connect().await.unwrap(),
        }
    }

    /// Calls as whichever role each RPC needs (tests not about authorization).
    pub async fn channel(&self, service: &str) -> Authed {
        self.auth.fitting(self.raw(service).await)
    }

    /// Calls as `role` (`subject` unless an agent or bot, which act as the request's agent).
    pub async fn as_role(&self, service: &str, role: switchyard_auth::Role, subject: &str) -> Authed {
        self.auth.as_role(self.raw(service).await, role, subject)
    }

    pub async fn connector(&self) -> ConnectorServiceClient<Authed> {
        ConnectorServiceClient::new(self.channel("connectors").await)
    }
    pub async fn agent(&self) -> AgentServiceClient<Authed> {
        AgentServiceClient::new(self.channel("connectors").await)
    }
    pub async fn routing_admin(&self) -> RoutingAdminServiceClient<Authed> {
        RoutingAdminServiceClient::new(self.channel("router").await)
    }
    pub async fn hours_admin(&self) -> WorkingHoursAdminServiceClient<Authed> {
        WorkingHoursAdminServiceClient::new(self.channel("router").await)
    }
    pub async fn capacity_admin(&self) -> CapacityAdminServiceClient<Authed> {
        CapacityAdminServiceClient::new(self.channel("capacity").await)
    }
    pub async fn automessages_admin(
        &self,
    ) -> switchyard_proto::automessages::v1::automatic_messages_admin_service_client::AutomaticMessagesAdminServiceClient<Authed>
    {
        switchyard_proto::automessages::v1::automatic_messages_admin_service_client::AutomaticMessagesAdminServiceClient::new(
            self.channel("automessages").await,
        )
    }
    pub async fn auth_admin(&self) -> AuthAdminServiceClient<Authed> {
        AuthAdminServiceClient::new(self.channel("connectors").await)
    }

    /// Triggers graceful shutdown and waits for every service to stop.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task).await.expect("stopped in time").unwrap().unwrap();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.trigger();
        // A test that failed did not `stop()`: give the services (still running on the test's
        // runtime) a moment to leave their groups before the backends go, or their consumers'
        // close would wait for a broker that is gone.
        if std::thread::panicking() && self.kafka.is_some() {
            std::thread::sleep(Duration::from_secs(3));
        }
    }
}

/// Minimal HTTP/1.1 GET over a TCP socket (status, body); None if unreachable.
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}

/// Next event on an agent stream, within `timeout`.
pub async fn next_event(stream: &mut tonic::Streaming<AgentEvent>, timeout: Duration) -> Option<agent_event::Event> {
    match tokio::time::timeout(timeout, stream.message()).await {
        Ok(Ok(Some(e))) => e.event,
        _ => None,
    }
}

/// Polls `check` every 20 ms for up to 10 s.
pub async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    switchyard_testkit::wait_for("condition", Duration::from_secs(10), || {
        let fut = check();
        async move { fut.await.then_some(()) }
    })
    .await
    .unwrap();
}

// --- fixtures through the public APIs ----------------------------------------------------------

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn setup_account(cluster: &Cluster, account: &str, skills: &[&str], agents: &[(&str, &[&str], u32)]) {
    let mut admin = cluster.routing_admin().await;
    admin.create_account(CreateAccountRequest { account_id: account.into(), name: String::new() }).await.unwrap();
    for skill in skills {
        admin
            .create_skill(CreateSkillRequest {
                account_id: account.into(),
                skill: Some(Skill { skill_id: (*skill).into(), name: String::new() }),
            })
            .await
            .unwrap();
    }
    let mut capacity = cluster.capacity_admin().await;
    for (agent, skills, max) in agents {
        capacity
            .create_agent(CreateAgentRequest {
                account_id: account.into(),
                agent: Some(AgentSpec {
                    agent_id: (*agent).into(),
                    skill_ids: skills.iter().map(|s| s.to_string()).collect(),
                    max_conversations: *max,
                    bot: false,
                    group_id: String::new(),
                    nickname: String::new(),
                }),
            })
            .await
            .unwrap();
    }
}

pub async fn online(cluster: &Cluster, account: &str, agent: &str) -> tonic::Streaming<agentpb::AgentEvent> {
    let mut client = cluster.agent().await;
    client
        .login(agentpb::LoginRequest {
            account_id: account.into(),
            agent_id: agent.into(),
            initial_state: AgentState::Online as i32,
        })
        .await
        .unwrap();
    client
        .subscribe(agentpb::SubscribeRequest { account_id: account.into(), agent_id: agent.into() })
        .await
        .unwrap()
        .into_inner()
}

pub fn open(account: &str, consumer: &str, skill: &str, pmid: &str) -> conn::OpenConversationRequest {
    conn::OpenConversationRequest {
        account_id: account.into(),
        channel: ProtoChannel::Web as i32,
        consumer_id: consumer.into(),
        skill_id: skill.into(),
        partner_message_id: pmid.into(),
        ..Default::default()
    }
}

/// The partner's outbound stream for acme's web channel, resuming after the last ack.
pub async fn outbound_stream(
    partner: &mut switchyard_proto::connectors::v1::connector_service_client::ConnectorServiceClient<Authed>,
) -> tonic::Streaming<conn::OutboundEvent> {
    partner
        .stream_outbound(conn::StreamOutboundRequest {
            account_id: "acme".into(),
            channel: ProtoChannel::Web as i32,
            from_sequence: None,
        })
        .await
        .unwrap()
        .into_inner()
}

pub async fn expect_assigned(stream: &mut tonic::Streaming<agentpb::AgentEvent>) -> agentpb::Assignment {
    loop {
        match next_event(stream, WAIT).await {
            Some(agent_event::Event::Assigned(a)) => return a,
            Some(_) => continue,
            None => panic!("no assignment within {WAIT:?}"),
        }
    }
}

pub async fn queue_depth(cluster: &Cluster, account: &str, skill: &str) -> u64 {
    let mut admin = cluster.routing_admin().await;
    admin
        .get_queue(GetQueueRequest { account_id: account.into(), skill_id: skill.into(), limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .depth
}
