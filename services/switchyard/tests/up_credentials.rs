//! Issue 10: `switchyard up` is still a two-command try-out with authentication on. It creates
//! a development signing key, prints an admin token and a partner key that work, `switchyard
//! auth issue-token` mints an agent's token with the same key, and nothing listens beyond
//! loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchyard::Service;
use switchyard_auth::client::Bearer;
use switchyard_proto::admin::v1 as admin;
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::capacity::v1 as cap;
use switchyard_proto::connectors::v1 as conn;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::Code;

struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn channel(port: u16, credential: &str) -> InterceptedService<Channel, Bearer> {
    let url = format!("http://127.0.0.1:{port}");
    let channel = switchyard_testkit::wait_for("gRPC up", Duration::from_secs(30), || {
        let url = url.clone();
        async move { Channel::from_shared(url).unwrap().connect().await.ok() }
    })
    .await
    .unwrap();
    InterceptedService::new(channel, Bearer::new(credential).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_prints_working_development_credentials_and_issue_token_signs_agents() {
    let state = std::env::temp_dir().join(switchyard_testkit::unique("state"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command
        .arg("up")
        .env("XDG_STATE_HOME", &state)
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut ports = std::collections::HashMap::new();
    for service in Service::ALL {
        let port = switchyard_testkit::free_port();
        ports.insert(service.name(), port);
        let section = service.name().to_uppercase();
        command.env(format!("SWITCHYARD_{section}__GRPC_ADDR"), format!("127.0.0.1:{port}"));
        command.env(format!("SWITCHYARD_{section}__OPS_ADDR"), "127.0.0.1:0");
    }
    let mut up = Up(command.spawn().unwrap());
    let stdout = up.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.starts_with("# An agent's token"))
            .collect::<Vec<_>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(60), lines).await.expect("credentials printed").unwrap();
    let value = |name: &str| {
        let prefix = format!("export {name}=");
        lines.iter().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{name} in {lines:?}")).to_owned()
    };
    let (admin_token, partner_key) = (value("ADMIN_TOKEN"), value("PARTNER_KEY"));
    assert!(partner_key.starts_with("syk_"), "{partner_key}");

    let key_file = state.join("switchyard/dev-signing.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600,
            "only the owner reads the key"
        );
    }

    let mut routing = admin::routing_admin_service_client::RoutingAdminServiceClient::new(
        channel(ports["router"], &admin_token).await,
    );
    routing
        .create_account(admin::CreateAccountRequest { account_id: "acme".into(), name: String::new() })
        .await
        .unwrap();
    routing
        .create_skill(admin::CreateSkillRequest {
            account_id: "acme".into(),
            skill: Some(admin::Skill { skill_id: "sales".into(), name: String::new() }),
        })
        .await
        .unwrap();
    let mut capacity = cap::capacity_admin_service_client::CapacityAdminServiceClient::new(
        channel(ports["capacity"], &admin_token).await,
    );
    let alice = cap::AgentSpec {
        agent_id: "alice".into(),
        skill_ids: vec!["sales".into()],
        max_conversations: 2,
        bot: false,
        group_id: String::new(),
        nickname: String::new(),
    };
    capacity.create_agent(cap::CreateAgentRequest { account_id: "acme".into(), agent: Some(alice) }).await.unwrap();

    let issued = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["auth", "issue-token", "--account", "acme", "--role", "agent", "--subject", "alice"])
        .env("XDG_STATE_HOME", &state)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .unwrap();
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let agent_token = String::from_utf8(issued.stdout).unwrap().trim().to_owned();
    let mut agent =
        agentpb::agent_service_client::AgentServiceClient::new(channel(ports["connectors"], &agent_token).await);
    let login = |agent_id: &str| agentpb::LoginRequest {
        account_id: "acme".into(),
        agent_id: agent_id.into(),
        initial_state: 1,
    };
    agent.login(login("alice")).await.unwrap();
    assert_eq!(
        agent.login(login("bob")).await.unwrap_err().code(),
        Code::PermissionDenied,
        "alice's token is alice's only"
    );

    let mut partner =
        conn::connector_service_client::ConnectorServiceClient::new(channel(ports["connectors"], &partner_key).await);
    let open = conn::OpenConversationRequest {
        account_id: "acme".into(),
        channel: switchyard_proto::common::v1::Channel::Sms as i32,
        consumer_id: "+15550100".into(),
        skill_id: "sales".into(),
        ..Default::default()
    };
    partner.open_conversation(open).await.unwrap();
    let mut wrong = admin::routing_admin_service_client::RoutingAdminServiceClient::new(
        channel(ports["router"], &partner_key).await,
    );
    let denied =
        wrong.create_account(admin::CreateAccountRequest { account_id: "acme".into(), name: String::new() }).await;
    assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied, "a partner key is no admin");
    drop(up);
    let _ = std::fs::remove_dir_all(state);
}

/// Authentication is on unless `auth.mode = "disabled"` is written down, and then every
/// service's start line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_is_required_by_default_and_disabling_it_is_announced_by_every_service() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["--dump-config", "up"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("mode = \"required\""), "required by default:\n{text}");

    let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    command.arg("up").env("SWITCHYARD_AUTH__MODE", "disabled").env("RUST_LOG", "info").env_remove("SWITCHYARD_CONFIG");
    for service in Service::ALL {
        let section = service.name().to_uppercase();
        command.env(format!("SWITCHYARD_{section}__GRPC_ADDR"), "127.0.0.1:0");
        command.env(format!("SWITCHYARD_{section}__OPS_ADDR"), "127.0.0.1:0");
    }
    let mut up = Up(command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    let stderr = up.0.stderr.take().unwrap();
    let services = Service::ALL.len();
    let started = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("started"))
            .take(services)
            .collect::<Vec<_>>()
    });
    let started = tokio::time::timeout(Duration::from_secs(60), started).await.expect("every service started").unwrap();
    assert_eq!(started.len(), services, "{started:?}");
    for line in &started {
        assert!(line.contains("DISABLED"), "a start line that does not say authentication is off: {line}");
    }
    drop(up);
}
