//! Setup before arrivals: the accounts with their skills and agents (created through the admin
//! APIs, retried like any client call), and a partner API key per account.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{CreateAccountRequest, CreateSkillRequest, Skill};
use switchyard_proto::auth::v1::auth_admin_service_client::AuthAdminServiceClient;
use switchyard_proto::auth::v1::CreateApiKeyRequest;
use switchyard_proto::capacity::v1::capacity_admin_service_client::CapacityAdminServiceClient;
use switchyard_proto::capacity::v1::{AgentSpec, CreateAgentRequest};
use tonic::codegen::http::HeaderValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::SETUP_CONCURRENCY;
use crate::audit::AgentInfo;
use crate::auth::{self, Conn, Credentials};
use crate::retry::{self, Idempotence};
use crate::scenario::Scenario;

/// A setup call, retried when the target is briefly unavailable; ALREADY_EXISTS after a
/// retry means an earlier attempt got through.
async fn create<F, Fut>(mut op: F) -> Result<(), Status>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Status>>,
{
    let mut attempts = 0;
    retry::call(
        Idempotence::NotIdempotent,
        |_, _| {},
        || {
            attempts += 1;
            let retried = attempts > 1;
            let answer = op();
            async move {
                match answer.await {
                    Err(status) if retried && status.code() == Code::AlreadyExists => Ok(()),
                    other => other,
                }
            }
        },
    )
    .await
}

pub(super) async fn setup(
    scenario: &Scenario,
    accounts: &[String],
    agents: &[AgentInfo],
    agent_skills: &[(Duration, Vec<String>, bool)],
    router: Conn,
    capacity: Conn,
) -> anyhow::Result<()> {
    let admin = RoutingAdminServiceClient::new(router);
    for account in accounts {
        let request = CreateAccountRequest { account_id: account.clone(), name: format!("loadtest {}", scenario.name) };
        create(|| {
            let (mut admin, request) = (admin.clone(), request.clone());
            async move { admin.create_account(request).await.map(drop) }
        })
        .await
        .with_context(|| format!("creating account {account}"))?;
        for skill in &scenario.skills {
            let request = CreateSkillRequest {
                account_id: account.clone(),
                skill: Some(Skill { skill_id: skill.id.clone(), name: skill.id.clone() }),
            };
            create(|| {
                let (mut admin, request) = (admin.clone(), request.clone());
                async move { admin.create_skill(request).await.map(drop) }
            })
            .await
            .with_context(|| format!("creating skill {} in {account}", skill.id))?;
        }
    }
    let capacity = CapacityAdminServiceClient::new(capacity);
    let results: Vec<anyhow::Result<()>> = stream::iter(agents.iter().zip(agent_skills))
        .map(|(agent, (_, skills, bot))| {
            let capacity = capacity.clone();
            let request = CreateAgentRequest {
                account_id: accounts[agent.account as usize].clone(),
                agent: Some(AgentSpec {
                    agent_id: agent.id.clone(),
                    skill_ids: skills.clone(),
                    max_conversations: agent.max_conversations,
                    bot: *bot,
                    group_id: String::new(),
                    nickname: String::new(),
                }),
            };
            async move {
                create(|| {
                    let (mut client, request) = (capacity.clone(), request.clone());
                    async move { client.create_agent(request).await.map(drop) }
                })
                .await
                .with_context(|| format!("creating agent {}", agent.id))
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .collect()
        .await;
    results.into_iter().collect()
}

/// A partner API key per account, created by the admin as a real deployment would
/// (`AuthAdminService.CreateApiKey`, served by connectors), when partners use keys.
pub(super) async fn partner_keys(
    credentials: &Credentials,
    accounts: &[String],
    connectors: Channel,
) -> anyhow::Result<Vec<Option<HeaderValue>>> {
    if !credentials.partner_keys() {
        return Ok(vec![None; accounts.len()]);
    }
    let admin = AuthAdminServiceClient::new(credentials.minting(connectors));
    let mut keys = Vec::new();
    for account in accounts {
        let request =
            CreateApiKeyRequest { account_id: account.clone(), name: "loadtest partner".into(), channels: vec![] };
        // A retry after a broken connection may leave an unused key behind: harmless.
        let created = retry::call(
            Idempotence::NotIdempotent,
            |_, _| {},
            || {
                let (mut admin, request) = (admin.clone(), request.clone());
                async move { admin.create_api_key(request).await }
            },
        )
        .await
        .map_err(|s| anyhow::anyhow!("{} {}", s.code(), s.message()))
        .with_context(|| format!("creating the partner key of {account}"))?;
        keys.push(Some(auth::bearer(&created.into_inner().secret)?));
    }
    Ok(keys)
}
