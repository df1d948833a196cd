//! The simulation's side of `[transfers]`: the skills' maximum wait set at setup
//! (`SetSkillRouting`), agent groups kept BACK_SOON or AWAY (`Login` in the state the scenario
//! gives the group at that moment, `SetState` at each change), the transfer a conversation's
//! first holder makes after its first reply (`TransferToSkill` or `TransferToAgent`, chosen
//! from a hash of the seed and the conversation), and after the drain every accepted transfer
//! explained (`ExplainRouting`) for the audit in [`crate::transfers`].
//!
//! A refused transfer (FAILED_PRECONDITION or PERMISSION_DENIED) is an outcome the audit
//! counts and judges against the target's state, not a failed call: the agent then keeps the
//! conversation. The harness tracks what it knows of each agent's state (set by its own Login
//! and SetState calls) so that a transfer made while the target's state was changing is not
//! judged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, MutexGuard, PoisonError};

use futures::{stream, StreamExt};
use switchyard_proto::admin::v1::routing_admin_service_client::RoutingAdminServiceClient;
use switchyard_proto::admin::v1::{ExplainRoutingRequest, RoutingDecision, SetSkillRoutingRequest, SkillRouting};
use switchyard_proto::agent::v1 as agentpb;
use switchyard_proto::common::v1::AgentState;
use tonic::{Code, Status};

use super::routing::{proto_duration, spread};
use super::Ctx;
use crate::auth::Conn;
use crate::observe::{ConvObs, Obs};
use crate::result::Check;
use crate::retry::{self, Idempotence};
use crate::scenario::{Action, Presence, Transfers};
use crate::transfers::{self, Explanation, Issued, Kind, Story, Tally, TransferSummary};

/// Explanations read at once.
const EXPLAIN_CONCURRENCY: usize = 16;
/// At most this many accepted transfers are explained, spread evenly over them.
const EXPLAIN_MAX: usize = 5_000;

/// What the simulated agents share about transfers.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) tally: Tally,
    /// Agent index -> what the harness knows of its state (absent: never logged in).
    known: HashMap<usize, Known>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Known {
    /// None: logged out.
    state: Option<Presence>,
    /// Bumped at every change, so a change during a call is seen.
    generation: u64,
    /// A Login or SetState is in flight: the state is not known.
    changing: bool,
}

impl Ctx {
    /// The transfer state; a panic elsewhere while it was held does not hide what it holds.
    pub(super) fn transfers(&self) -> MutexGuard<'_, Shared> {
        self.transfers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The agent group of an agent id (`<group>-<n>`).
fn group_of(id: &str) -> &str {
    id.rsplit_once('-').map_or(id, |(group, _)| group)
}

fn proto_state(p: Presence) -> AgentState {
    match p {
        Presence::Online => AgentState::Online,
        Presence::BackSoon => AgentState::BackSoon,
        Presence::Away => AgentState::Away,
    }
}

/// Sets the skills' maximum wait in every account, when the scenario sets one.
pub(super) async fn apply(t: &Transfers, skills: &[String], accounts: &[String], router: Conn) -> anyhow::Result<()> {
    let Some(wait) = t.max_wait else { return Ok(()) };
    let admin = RoutingAdminServiceClient::new(router);
    for account in accounts {
        for skill in skills {
            let request = SetSkillRoutingRequest {
                account_id: account.clone(),
                skill_id: skill.clone(),
                skill: Some(SkillRouting {
                    transfer_to_agent_max_wait: Some(proto_duration(wait)),
                    ..SkillRouting::default()
                }),
                expected_revision: 0,
            };
            // Setting the same routing again is idempotent.
            retry::setup(
                || format!("setting the transfer maximum wait of {skill} in {account}"),
                || {
                    let (mut admin, request) = (admin.clone(), request.clone());
                    async move { admin.set_skill_routing(request).await }
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The state the agent logs in with: its group's at this moment of the run.
pub(super) fn login_state(ctx: &Ctx, me: usize) -> AgentState {
    let Some(t) = &ctx.scenario.transfers else { return AgentState::Online };
    let now = tokio::time::Instant::now().saturating_duration_since(ctx.start);
    proto_state(t.state_of(group_of(&ctx.agents[me].id), now))
}

/// A Login or SetState of the agent is about to be called.
pub(super) fn changing(ctx: &Ctx, me: usize) {
    if ctx.scenario.transfers.is_some() {
        let mut shared = ctx.transfers();
        let known = shared.known.entry(me).or_default();
        known.changing = true;
        known.generation += 1;
    }
}

/// The agent's Login or SetState to `state` succeeded.
pub(super) fn changed(ctx: &Ctx, me: usize, state: AgentState) {
    if ctx.scenario.transfers.is_some() {
        let presence = match state {
            AgentState::BackSoon => Presence::BackSoon,
            AgentState::Away => Presence::Away,
            _ => Presence::Online,
        };
        let mut shared = ctx.transfers();
        let known = shared.known.entry(me).or_default();
        *known = Known { state: Some(presence), generation: known.generation + 1, changing: false };
    }
}

/// Changes the agent's state when its group's changes (after its first login).
pub(super) async fn states(ctx: Arc<Ctx>, me: usize) {
    let Some(t) = &ctx.scenario.transfers else { return };
    let info = &ctx.agents[me];
    let mut changes = t.changes_of(group_of(&info.id));
    changes.sort_by_key(|(at, _)| *at);
    for (at, presence) in changes {
        let due = ctx.start + at;
        if due <= tokio::time::Instant::now() {
            continue;
        }
        tokio::time::sleep_until(due).await;
        let state = proto_state(presence);
        let request = agentpb::SetStateRequest {
            account_id: ctx.accounts[info.account as usize].clone(),
            agent_id: info.id.clone(),
            state: state as i32,
            away_reason: String::new(),
        };
        changing(&ctx, me);
        let set = ctx
            .call("SetState", Idempotence::Idempotent, || {
                let (mut client, request) = (ctx.agent_client(me), request.clone());
                async move { client.set_state(request).await }
            })
            .await;
        match set {
            Ok(_) => changed(&ctx, me, state),
            // The state stays unknown: transfers to the agent are not judged.
            Err(status) => ctx.recorder.failed("SetState", &status),
        }
    }
}

/// The first reply this holder sends: 0 for the conversation's first holder, 1 for whoever
/// gets it after a transfer (the first reply was sent before it).
pub(super) fn first_reply(ctx: &Ctx, me: usize, idx: usize) -> u32 {
    if ctx.scenario.transfers.is_none() {
        return 0;
    }
    let mut shared = ctx.transfers();
    if shared.tally.first_holder.contains_key(&idx) {
        return 1;
    }
    shared.tally.first_holder.insert(idx, me);
    0
}

/// After the first holder's first reply: transfers the conversation if the scenario says so.
/// True when it is no longer this agent's (the transfer was accepted).
pub(super) async fn after_first_reply(ctx: &Arc<Ctx>, me: usize, idx: usize, conversation_id: &str) -> bool {
    let Some(t) = &ctx.scenario.transfers else { return false };
    let seed = ctx.scenario.seed;
    let key = idx.to_string();
    let pick = |n: usize| ((crate::offers::unit(seed, "target", &key) * n as f64) as usize).min(n.saturating_sub(1));
    let info = &ctx.agents[me];
    let account_id = ctx.accounts[info.account as usize].clone();
    let (kind, to, target) = match t.action(crate::offers::unit(seed, "transfer", &key)) {
        Action::Keep => return false,
        Action::ToSkill => {
            let current = &ctx.skills[ctx.plan[idx].skill as usize];
            let skills: Vec<&String> = t.to_skills.iter().filter(|s| *s != current).collect();
            if skills.is_empty() {
                return false;
            }
            (Kind::ToSkill, skills[pick(skills.len())].clone(), None)
        }
        Action::ToAgent => {
            let targets: Vec<usize> = (0..ctx.agents.len())
                .filter(|&a| a != me && ctx.agents[a].account == info.account)
                .filter(|&a| t.to_agents.iter().any(|g| g == group_of(&ctx.agents[a].id)))
                .collect();
            if targets.is_empty() {
                ctx.transfers().tally.no_target += 1;
                return false;
            }
            let target = targets[pick(targets.len())];
            (Kind::ToAgent, ctx.agents[target].id.clone(), Some(target))
        }
    };
    let known = |ctx: &Ctx| target.map(|a| ctx.transfers().known.get(&a).copied().unwrap_or_default());
    let before = known(ctx);
    let at_us = ctx.now_us();
    let (method, answer) = match kind {
        Kind::ToSkill => {
            let request = agentpb::TransferToSkillRequest {
                account_id,
                agent_id: info.id.clone(),
                conversation_id: conversation_id.to_owned(),
                skill_id: to.clone(),
            };
            let answer = ctx
                .call("TransferToSkill", Idempotence::NotIdempotent, || {
                    let (mut client, request) = (ctx.agent_client(me), request.clone());
                    async move { client.transfer_to_skill(request).await }
                })
                .await;
            ("TransferToSkill", answer.map(drop))
        }
        Kind::ToAgent => {
            let request = agentpb::TransferToAgentRequest {
                account_id,
                agent_id: info.id.clone(),
                conversation_id: conversation_id.to_owned(),
                target_agent_id: to.clone(),
                skill_id: String::new(),
            };
            let answer = ctx
                .call("TransferToAgent", Idempotence::NotIdempotent, || {
                    let (mut client, request) = (ctx.agent_client(me), request.clone());
                    async move { client.transfer_to_agent(request).await }
                })
                .await;
            ("TransferToAgent", answer.map(drop))
        }
    };
    let after = known(ctx);
    let target_state = match (before, after) {
        (Some(b), Some(a)) if b == a && !b.changing => Some(b.state),
        _ => None,
    };
    let refused = match &answer {
        Ok(()) => None,
        Err(status) if refusal(status) => Some(retry::failure_name(status).to_owned()),
        Err(status) => {
            // Not an answer about the transfer: a failed call; the agent keeps the conversation.
            ctx.recorder.failed(method, status);
            return false;
        }
    };
    let accepted = refused.is_none();
    let issued = Issued {
        conversation_id: conversation_id.to_owned(),
        account: info.account,
        from_agent: info.id.clone(),
        kind,
        to,
        target_state,
        refused,
    };
    ctx.transfers().tally.issued.insert(idx, issued);
    if accepted {
        ctx.recorder.record(Obs::Released { idx, agent: me as u32, at_us });
    }
    accepted
}

/// A refusal of the transfer itself (R12.3, R12.7, R4.8), as opposed to a failed call.
fn refusal(status: &Status) -> bool {
    matches!(status.code(), Code::FailedPrecondition | Code::PermissionDenied)
}

/// One explained transfer: its schedule index, the transfer, and the status and decisions (or
/// why they could not be read).
type Answer<'a> = (usize, &'a Issued, Result<(String, Vec<RoutingDecision>), String>);

/// Explains the accepted transfers after the drain and judges them.
pub(super) async fn explain(ctx: &Ctx, convs: &[ConvObs], router: Conn) -> (Vec<Check>, TransferSummary) {
    let tally = std::mem::take(&mut ctx.transfers().tally);
    let max_wait_ms = ctx.scenario.transfers.as_ref().map_or(0, |t| t.effective_max_wait().as_millis() as u64);
    let accepted: Vec<(usize, &Issued)> =
        tally.issued.iter().filter(|(_, t)| t.refused.is_none()).map(|(idx, t)| (*idx, t)).collect();
    let picked = spread(accepted.len(), EXPLAIN_MAX);
    let client = RoutingAdminServiceClient::new(router);
    let answers: Vec<Answer<'_>> = stream::iter(picked.into_iter().map(|k| accepted[k]))
        .map(|(idx, t)| {
            let client = client.clone();
            let request = ExplainRoutingRequest {
                account_id: ctx.accounts[t.account as usize].clone(),
                conversation_id: t.conversation_id.clone(),
            };
            async move {
                let answer = retry::call(
                    Idempotence::Idempotent,
                    |_, _| {},
                    || {
                        let (mut client, request) = (client.clone(), request.clone());
                        async move { client.explain_routing(request).await }
                    },
                )
                .await
                .map(|r| {
                    let r = r.into_inner();
                    (r.status, r.decisions)
                })
                .map_err(|status| {
                    format!("{} ({} {})", t.conversation_id, retry::failure_name(&status), status.message())
                });
                (idx, t, answer)
            }
        })
        .buffer_unordered(EXPLAIN_CONCURRENCY)
        .collect()
        .await;
    // Which skills each group holds, for "an agent of the skill".
    let skills: BTreeMap<&str, &[String]> =
        ctx.scenario.agents.iter().map(|g| (g.name.as_str(), g.skills.as_slice())).collect();
    let holds = |agent: &str, skill: &str| skills.get(group_of(agent)).is_some_and(|s| s.iter().any(|x| x == skill));
    let (mut stories, mut unexplained) = (Vec::new(), Vec::new());
    for (idx, t, answer) in answers {
        match answer {
            Ok((status, decisions)) => {
                let mut seen = convs.get(idx).map(|c| c.assignments.clone()).unwrap_or_default();
                seen.sort_by_key(|(_, at)| *at);
                let holders: Vec<String> =
                    seen.iter().filter_map(|(a, _)| ctx.agents.get(*a as usize)).map(|a| a.id.clone()).collect();
                let e = Explanation { status: &status, decisions: &decisions, holders: &holders };
                stories.push((t, Story::replay(t, &e, max_wait_ms as i64, &holds)));
            }
            Err(e) => unexplained.push(e),
        }
    }
    stories.sort_by(|a, b| a.0.conversation_id.cmp(&b.0.conversation_id));
    unexplained.sort();
    transfers::judge(&transfers::Input { tally: &tally, stories: &stories, unexplained: &unexplained, max_wait_ms })
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn agent_ids_name_their_group() {
        assert_eq!(group_of("late-3"), "late");
        assert_eq!(group_of("back-soon-12"), "back-soon");
        assert_eq!(group_of("solo"), "solo");
    }
}
