//! The one authorization table: every RPC of every Switchyard API, the roles that may call
//! it and how far each reaches. The auth layer enforces it, `switchyard auth table` prints it
//! (docs/security.md holds that print, checked by a test), and the tests generate the full
//! RPC x role matrix from it. An RPC missing here cannot be called (UNIMPLEMENTED), so every
//! new RPC is born with its permission.
//!
//! Rules that hold for every row: the credential's account must be the request's
//! `account_id`; `own` means the request's agent must be the caller itself (agents and bots
//! act only as themselves); `account` reaches every agent of the account; a partner key
//! limited to channels may only name those channels.

use std::fmt::Write as _;

use prost::Message;
use switchyard_proto::{admin, agent, auth, automessages, capacity, connectors};

use crate::role::Role;

/// How far a role's grant reaches inside the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Anything in the account.
    Account,
    /// Only the agent the credential is (the request's agent id must be the token's subject).
    Own,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub reach: Reach,
}

const fn any(role: Role) -> Grant {
    Grant { role, reach: Reach::Account }
}

const fn own(role: Role) -> Grant {
    Grant { role, reach: Reach::Own }
}

/// What a request is about, read from its message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    pub account_id: String,
    /// The agent the request acts as or on.
    pub agent_id: Option<String>,
    /// The channel it names (partner requests).
    pub channel: Option<i32>,
    /// The request as text, for the audit trail of admin changes.
    pub detail: Option<String>,
}

type ScopeFn = fn(&[u8]) -> Result<Scope, prost::DecodeError>;

pub struct Rpc {
    /// `package.Service/Method`
    pub method: &'static str,
    pub grants: &'static [Grant],
    /// An admin change: recorded in the audit trail when it succeeds.
    pub audited: bool,
    scope: ScopeFn,
}

impl Rpc {
    pub fn scope(&self, message: &[u8]) -> Result<Scope, prost::DecodeError> {
        (self.scope)(message)
    }

    pub fn grant_of(&self, role: Role) -> Option<Grant> {
        self.grants.iter().copied().find(|g| g.role == role)
    }
}

/// One row: method, request type, how to read its scope, grants, and `audited` for admin
/// changes.
macro_rules! rpc {
    ($method:literal, $req:ty, |$r:ident| $scope:expr, [$($grant:expr),* $(,)?] $(, $audited:ident)?) => {
        Rpc {
            method: $method,
            grants: &[$($grant),*],
            audited: rpc!(@audited $($audited)?),
            scope: {
                fn scope(bytes: &[u8]) -> Result<Scope, prost::DecodeError> {
                    let $r = <$req>::decode(bytes)?;
                    #[allow(unused_mut)]
                    let mut scope: Scope = $scope;
                    if rpc!(@audited $($audited)?) {
                        scope.detail = Some(format!("{:?}", $r));
                    }
                    Ok(scope)
                }
                scope
            },
        }
    };
    (@audited audited) => { true };
    (@audited) => { false };
}

fn account(account_id: &str) -> Scope {
    Scope { account_id: account_id.to_owned(), ..Scope::default() }
}

fn as_agent(account_id: &str, agent_id: &str) -> Scope {
    Scope { agent_id: Some(agent_id.to_owned()), ..account(account_id) }
}

fn on_channel(account_id: &str, channel: i32) -> Scope {
    Scope { channel: Some(channel), ..account(account_id) }
}

use Role::{Admin, Agent, AgentManager, Bot, CampaignManager, Partner};

pub static TABLE: &[Rpc] = &[
    // --- partners (connectors) -------------------------------------------------------------
    rpc!(
        "switchyard.connectors.v1.ConnectorService/OpenConversation",
        connectors::v1::OpenConversationRequest,
        |r| on_channel(&r.account_id, r.channel),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/PublishMessage",
        connectors::v1::PublishMessageRequest,
        |r| account(&r.account_id),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/PublishEvent",
        connectors::v1::PublishEventRequest,
        |r| account(&r.account_id),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/CloseConversation",
        connectors::v1::CloseConversationRequest,
        |r| account(&r.account_id),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/MarkUrgent",
        connectors::v1::MarkUrgentRequest,
        |r| account(&r.account_id),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/WithdrawUrgent",
        connectors::v1::WithdrawUrgentRequest,
        |r| account(&r.account_id),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/StreamOutbound",
        connectors::v1::StreamOutboundRequest,
        |r| on_channel(&r.account_id, r.channel),
        [any(Partner)]
    ),
    rpc!(
        "switchyard.connectors.v1.ConnectorService/AckOutbound",
        connectors::v1::AckOutboundRequest,
        |r| on_channel(&r.account_id, r.channel),
        [any(Partner)]
    ),
    // --- agents and bots (connectors) ------------------------------------------------------
    rpc!(
        "switchyard.agent.v1.AgentService/Login",
        agent::v1::LoginRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/Logout",
        agent::v1::LogoutRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/SetState",
        agent::v1::SetStateRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/Subscribe",
        agent::v1::SubscribeRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/AcceptOffer",
        agent::v1::AcceptOfferRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/RejectOffer",
        agent::v1::RejectOfferRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/SendMessage",
        agent::v1::SendMessageRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/CloseConversation",
        agent::v1::CloseConversationRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/GetTranscript",
        agent::v1::GetTranscriptRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/BackToQueue",
        agent::v1::BackToQueueRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/TransferToSkill",
        agent::v1::TransferToSkillRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/TransferToAgent",
        agent::v1::TransferToAgentRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/SetManualResponseTime",
        agent::v1::SetManualResponseTimeRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/JoinConversation",
        agent::v1::JoinConversationRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(AgentManager)]
    ),
    rpc!(
        "switchyard.agent.v1.AgentService/LeaveConversation",
        agent::v1::LeaveConversationRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(AgentManager)]
    ),
    // --- routing administration (router) ---------------------------------------------------
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/CreateAccount",
        admin::v1::CreateAccountRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/CreateSkill",
        admin::v1::CreateSkillRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/ListSkills",
        admin::v1::ListSkillsRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager), any(CampaignManager), any(Agent), any(Bot)]
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/GetQueue",
        admin::v1::GetQueueRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/GetRoutingConfig",
        admin::v1::GetRoutingConfigRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/SetAccountRouting",
        admin::v1::SetAccountRoutingRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/SetSkillRouting",
        admin::v1::SetSkillRoutingRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/SetProfileRules",
        admin::v1::SetProfileRulesRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/PutEngagement",
        admin::v1::PutEngagementRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/DeleteEngagement",
        admin::v1::DeleteEngagementRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/SetVelocityRules",
        admin::v1::SetVelocityRulesRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/ExplainRouting",
        admin::v1::ExplainRoutingRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.admin.v1.RoutingAdminService/GetResponseTime",
        admin::v1::GetResponseTimeRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager), any(Partner)]
    ),
    // --- working hours (router) ------------------------------------------------------------
    // R11.13: "configure skill workdays and special occasions" is the admin's; "configure the
    // account shift scheduler" the admin's and the agent manager's.
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/GetWorkingHours",
        admin::v1::GetWorkingHoursRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/PutWorkdays",
        admin::v1::PutWorkdaysRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/DeleteWorkdays",
        admin::v1::DeleteWorkdaysRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/PutSpecialOccasions",
        admin::v1::PutSpecialOccasionsRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/DeleteSpecialOccasions",
        admin::v1::DeleteSpecialOccasionsRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/SetShiftStatus",
        admin::v1::SetShiftStatusRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)],
        audited
    ),
    rpc!(
        "switchyard.admin.v1.WorkingHoursAdminService/GetSkillHours",
        admin::v1::GetSkillHoursRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager), any(Agent), any(Bot), any(Partner)]
    ),
    // --- agent administration (capacity) ---------------------------------------------------
    rpc!(
        "switchyard.capacity.v1.CapacityAdminService/CreateAgent",
        capacity::v1::CreateAgentRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.capacity.v1.CapacityAdminService/UpdateAgent",
        capacity::v1::UpdateAgentRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.capacity.v1.CapacityAdminService/GetAgentLoad",
        capacity::v1::GetAgentLoadRequest,
        |r| as_agent(&r.account_id, &r.agent_id),
        [own(Agent), own(Bot), any(AgentManager), any(Admin)]
    ),
    rpc!(
        "switchyard.capacity.v1.CapacityAdminService/GetLoadMetrics",
        capacity::v1::GetLoadMetricsRequest,
        |r| account(&r.account_id),
        [any(AgentManager), any(Admin)]
    ),
    // --- automatic messages (automessages) --------------------------------------------------
    rpc!(
        "switchyard.automessages.v1.AutomaticMessagesAdminService/GetAutomaticMessages",
        automessages::v1::GetAutomaticMessagesRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.automessages.v1.AutomaticMessagesAdminService/SetAutomaticMessagesAccount",
        automessages::v1::SetAutomaticMessagesAccountRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.automessages.v1.AutomaticMessagesAdminService/SetAutomaticMessage",
        automessages::v1::SetAutomaticMessageRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.automessages.v1.AutomaticMessagesAdminService/ListPlaceholders",
        automessages::v1::ListPlaceholdersRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    rpc!(
        "switchyard.automessages.v1.AutomaticMessagesAdminService/Preview",
        automessages::v1::PreviewRequest,
        |r| account(&r.account_id),
        [any(Admin), any(AgentManager)]
    ),
    // --- credentials and audit (connectors) ------------------------------------------------
    rpc!(
        "switchyard.auth.v1.AuthAdminService/CreateApiKey",
        auth::v1::CreateApiKeyRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.auth.v1.AuthAdminService/ListApiKeys",
        auth::v1::ListApiKeysRequest,
        |r| account(&r.account_id),
        [any(Admin)]
    ),
    rpc!(
        "switchyard.auth.v1.AuthAdminService/RevokeApiKey",
        auth::v1::RevokeApiKeyRequest,
        |r| account(&r.account_id),
        [any(Admin)],
        audited
    ),
    rpc!(
        "switchyard.auth.v1.AuthAdminService/ListAuditEvents",
        auth::v1::ListAuditEventsRequest,
        |r| account(&r.account_id),
        [any(Admin)]
    ),
];

/// The row of `method` (`package.Service/Method`, no leading slash).
pub fn find(method: &str) -> Option<&'static Rpc> {
    TABLE.iter().find(|rpc| rpc.method == method)
}

/// Methods served without credentials: gRPC health and reflection.
pub fn is_open(method: &str) -> bool {
    method.starts_with("grpc.health.v1.Health/") || method.starts_with("grpc.reflection.")
}

/// The table as Markdown: one row per RPC, one column per role; `yes` (the whole account),
/// `own` (only as itself), blank (PERMISSION_DENIED); `audited` marks admin changes.
pub fn markdown() -> String {
    let mut out = String::from("| RPC |");
    for role in Role::ALL {
        let _ = write!(out, " {role} |");
    }
    out.push_str(" audited |\n|---|");
    for _ in Role::ALL {
        out.push_str("---|");
    }
    out.push_str("---|\n");
    for rpc in TABLE {
        let short = rpc.method.rsplit_once('.').map_or(rpc.method, |(_, s)| s);
        let _ = write!(out, "| `{short}` |");
        for role in Role::ALL {
            let cell = match rpc.grant_of(role).map(|g| g.reach) {
                Some(Reach::Account) => "yes",
                Some(Reach::Own) => "own",
                None => "",
            };
            let _ = write!(out, " {cell} |");
        }
        let _ = writeln!(out, " {} |", if rpc.audited { "yes" } else { "" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_of_every_switchyard_service_has_a_row_and_every_row_an_rpc() {
        let set = prost_types_free_descriptor_methods();
        let rows: Vec<&str> = TABLE.iter().map(|r| r.method).collect();
        for method in &set {
            assert!(rows.contains(&method.as_str()), "{method} has no row in the authorization table");
        }
        for row in rows {
            assert!(set.iter().any(|m| m == row), "{row} is not an RPC of the protos");
        }
    }

    /// `package.Service/Method` of every RPC in the compiled descriptors, read with the
    /// descriptor types prost generates for the well-known protos of this crate's protos.
    fn prost_types_free_descriptor_methods() -> Vec<String> {
        // The descriptor set is a FileDescriptorSet; decode only what is needed.
        #[derive(Clone, PartialEq, prost::Message)]
        struct Set {
            #[prost(message, repeated, tag = "1")]
            file: Vec<File>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct File {
            #[prost(string, optional, tag = "2")]
            package: Option<String>,
            #[prost(message, repeated, tag = "6")]
            service: Vec<Service>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Service {
            #[prost(string, optional, tag = "1")]
            name: Option<String>,
            #[prost(message, repeated, tag = "2")]
            method: Vec<Method>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Method {
            #[prost(string, optional, tag = "1")]
            name: Option<String>,
            #[prost(bool, optional, tag = "5")]
            client_streaming: Option<bool>,
        }
        let set = Set::decode(switchyard_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
        let mut out = Vec::new();
        for file in set.file {
            for service in file.service {
                for method in service.method {
                    // The layer reads the one request message before the handler runs.
                    assert!(
                        !method.client_streaming.unwrap_or(false),
                        "{:?} streams requests: the auth layer reads one request message per call",
                        method.name
                    );
                    out.push(format!(
                        "{}.{}/{}",
                        file.package.clone().unwrap_or_default(),
                        service.name.clone().unwrap_or_default(),
                        method.name.unwrap_or_default()
                    ));
                }
            }
        }
        assert!(out.len() > 20, "descriptor set read: {out:?}");
        out
    }

    /// docs/security.md prints the table from this source.
    #[test]
    fn the_documented_table_is_this_table() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/security.md")).unwrap();
        let printed = docs
            .split("<!-- authorization-table:begin -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- authorization-table:end -->").next())
            .expect("docs/security.md has the authorization table markers");
        assert_eq!(printed, markdown(), "docs/security.md is stale: paste `switchyard auth table` between its markers");
    }

    #[test]
    fn scopes_are_read_from_the_request() {
        let login = agent::v1::LoginRequest { account_id: "acme".into(), agent_id: "bob".into(), initial_state: 0 };
        let scope = find("switchyard.agent.v1.AgentService/Login").unwrap().scope(&login.encode_to_vec()).unwrap();
        assert_eq!(scope, as_agent("acme", "bob"));
        let create = admin::v1::CreateSkillRequest { account_id: "acme".into(), skill: None };
        let scope = find("switchyard.admin.v1.RoutingAdminService/CreateSkill")
            .unwrap()
            .scope(&create.encode_to_vec())
            .unwrap();
        assert_eq!(scope.account_id, "acme");
        assert!(scope.detail.unwrap_or_default().contains("acme"), "admin changes carry their request for the audit");
        assert!(find("switchyard.agent.v1.AgentService/Login").unwrap().scope(&[0xff, 0xff]).is_err());
    }
}
