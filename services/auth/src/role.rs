//! Roles and the authenticated caller.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a credential may do is decided by its roles (the table in `table.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures its account: accounts, skills, agents, partner keys, the audit trail.
    Admin,
    /// Acts on its account's agents: state, logout, transfers, queues, loads, transcripts.
    AgentManager,
    /// Proactive campaigns (their RPCs come with the campaigns service).
    CampaignManager,
    /// A human agent: acts only as itself.
    Agent,
    /// A bot agent: acts only as itself.
    Bot,
    /// A connector partner: opens conversations and delivers its channels' outbound events.
    Partner,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::Admin, Role::AgentManager, Role::CampaignManager, Role::Agent, Role::Bot, Role::Partner];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::AgentManager => "agent_manager",
            Role::CampaignManager => "campaign_manager",
            Role::Agent => "agent",
            Role::Bot => "bot",
            Role::Partner => "partner",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which kind of credential authenticated the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// A bearer JWT of the named issuer.
    Jwt { issuer: String },
    /// A partner API key.
    ApiKey { key_id: String },
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Jwt { issuer } => write!(f, "jwt:{issuer}"),
            Credential::ApiKey { key_id } => write!(f, "api-key:{key_id}"),
        }
    }
}

/// The authenticated caller, put in the request's extensions by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: String,
    /// The user or bot id (`sub`), or the partner key id.
    pub subject: String,
    pub roles: Vec<Role>,
    pub credential: Credential,
    /// Channels (proto values) a partner key is limited to; empty: every channel.
    pub channels: Vec<i32>,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Whether the caller may act on `channel` (partner keys scoped to channels).
    pub fn may_use_channel(&self, channel: i32) -> bool {
        self.channels.is_empty() || self.channels.contains(&channel)
    }

    /// A stable id of the credential, for per-credential limits and the audit trail.
    pub fn credential_key(&self) -> String {
        format!("{}|{}|{}", self.account_id, self.credential, self.subject)
    }
}
