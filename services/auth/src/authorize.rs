//! The decision for one request: does the table grant this caller this RPC on this scope?

use tonic_types::{ErrorDetails, StatusExt};

use crate::role::Principal;
use crate::table::{Reach, Rpc, Scope};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// A required id is empty (INVALID_ARGUMENT naming it).
    Missing(&'static str),
    /// The credential is of another account (same message whether or not that one exists).
    Account(String),
    /// None of the caller's roles may call the RPC.
    Role,
    /// An agent or bot named another agent.
    OtherAgent { caller: String, named: String },
    /// A partner key used on a channel it is not scoped to.
    Channel(i32),
}

/// Checks `who` against the row `rpc` for a request about `scope`.
pub fn authorize(rpc: &Rpc, who: &Principal, scope: &Scope) -> Result<(), Denied> {
    if scope.account_id.is_empty() {
        return Err(Denied::Missing("account_id"));
    }
    if scope.account_id != who.account_id {
        return Err(Denied::Account(scope.account_id.clone()));
    }
    let mut other_agent = None;
    let mut allowed = false;
    for grant in rpc.grants.iter().filter(|g| who.has(g.role)) {
        match grant.reach {
            Reach::Account => allowed = true,
            Reach::Own => match scope.agent_id.as_deref() {
                Some("") => return Err(Denied::Missing("agent_id")),
                Some(agent) if agent == who.subject => allowed = true,
                Some(agent) => {
                    other_agent = Some(Denied::OtherAgent { caller: who.subject.clone(), named: agent.to_owned() })
                }
                None => other_agent = Some(Denied::Role),
            },
        }
        if allowed {
            break;
        }
    }
    if !allowed {
        return Err(other_agent.unwrap_or(Denied::Role));
    }
    if let Some(channel) = scope.channel {
        if !who.may_use_channel(channel) {
            return Err(Denied::Channel(channel));
        }
    }
    Ok(())
}

impl Denied {
    pub fn status(&self, rpc: &Rpc, who: &Principal) -> tonic::Status {
        match self {
            Denied::Missing(field) => tonic::Status::with_error_details(
                tonic::Code::InvalidArgument,
                format!("invalid {field}: must not be empty"),
                ErrorDetails::with_bad_request_violation(*field, "must not be empty"),
            ),
            Denied::Account(account) => {
                tonic::Status::permission_denied(format!("the credential does not grant access to account {account:?}"))
            }
            Denied::Role => {
                let roles: Vec<&str> = who.roles.iter().map(|r| r.name()).collect();
                tonic::Status::permission_denied(format!("roles {roles:?} may not call {}", rpc.method))
            }
            Denied::OtherAgent { caller, named } => tonic::Status::permission_denied(format!(
                "agents act only as themselves: the credential is agent {caller:?}, the request names {named:?}"
            )),
            Denied::Channel(channel) => {
                let name = switchyard_proto::common::v1::Channel::try_from(*channel)
                    .map(|c| c.as_str_name().to_owned())
                    .unwrap_or_else(|_| channel.to_string());
                tonic::Status::permission_denied(format!("this partner key is not allowed on channel {name}"))
            }
        }
    }
}
