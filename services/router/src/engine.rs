//! The routing engine: queue a conversation, then give queued conversations to the best
//! eligible agents through the store's atomic claim (architecture §4). Skill actors call
//! [`Engine::route`] and [`Engine::assign_skill`]; the agents consumer calls
//! [`Engine::assign_agent`] when capacity reports an agent with room.

use std::sync::Arc;

use std::collections::BTreeMap;
use switchyard_kit::{config::keys, envelope, Platform, ServiceError};

use switchyard_platform::store::{
    rules, BestClaim, BestOutcome, Claim, ClaimOutcome, EnqueueOutcome, Milli, Placement, QueueEntry, QueueReason,
    Requeue, RequeueOutcome, RouteStatus, SkillPresence, ONE,
};
use switchyard_proto::events::v1::{envelope::Body, ConversationUnassigned, RouteConversation};

use crate::placement::{self, Facts};
use crate::ranking;
use crate::sweep::SweepTimers;
use crate::RoutingRules;

/// What one assignment pass over a skill reads once.
struct Pass<'a> {
    account_id: &'a str,
    skill_id: &'a str,
    config: Arc<switchyard_routing::RoutingConfig>,
}

pub struct Engine {
    platform: Platform,
    rules: RoutingRules,
    sweep: SweepTimers,
}

/// Bound on claims per pass, so one pass never holds a skill actor for long.
const MAX_CLAIMS_PER_PASS: usize = 256;

impl Engine {
    /// `sweep_interval`: how soon a skill whose queue got an entry is swept at the latest.
    pub fn new(platform: Platform, rules: RoutingRules, sweep_interval: std::time::Duration) -> Arc<Self> {
        let sweep = SweepTimers::new(platform.clone(), sweep_interval);
        Arc::new(Self { platform, rules, sweep })
    }

    pub fn sweep_timers(&self) -> &SweepTimers {
        &self.sweep
    }

    fn headroom(&self) -> Milli {
        (self.rules.headroom * ONE as f64).round() as Milli
    }

    /// Applies a routing command: queue (new conversation) or requeue from an agent (back
    /// to queue, transfer), then runs an assignment pass on the skill. Idempotent.
    pub async fn route(&self, account_id: &str, cmd: &RouteConversation, event_id: &str) -> Result<(), ServiceError> {
        self.accept(account_id, cmd, event_id).await?;
        self.assign_skill(account_id, &cmd.skill_id).await.map(|_| ())
    }

    /// The durable half of `route`: the conversation is queued (or requeued and announced),
    /// and the skill's sweep timer set. Once this returns the command may be committed; the
    /// assignment pass can follow separately (the skill actor coalesces passes, and the sweep
    /// covers a crash between).
    pub async fn accept(&self, account_id: &str, cmd: &RouteConversation, _event_id: &str) -> Result<(), ServiceError> {
        let store = &self.platform.store;
        if cmd.avoid_agent_id.is_empty() {
            let config = self.platform.routing.get(account_id).await?;
            let profile: BTreeMap<String, String> = cmd.profile.clone().into_iter().collect();
            let facts = Facts {
                skill_id: &cmd.skill_id,
                channel: cmd.channel,
                profile: &profile,
                first_conversation: cmd.first_conversation,
                transfers: 0,
                reason: QueueReason::New,
                agent_group: placement::allocate(&config, &cmd.skill_id, &cmd.conversation_id),
                prior_sla: "",
            };
            let placement = placement::restarted(&config, &facts, cmd.queued_at_ms);
            match store.enqueue(account_id, &cmd.conversation_id, &cmd.skill_id, cmd.queued_at_ms, &placement).await? {
                EnqueueOutcome::Queued => {
                    self.sweep.schedule(account_id, &cmd.skill_id).await?;
                    metrics::counter!(crate::metrics::QUEUED, crate::metrics::SERVICE.0 => crate::metrics::SERVICE.1)
                        .increment(1)
                }
                // A redelivery: the timer write may be what was lost.
                EnqueueOutcome::Unchanged(RouteStatus::Queued) => {
                    self.sweep.schedule(account_id, &cmd.skill_id).await?
                }
                EnqueueOutcome::Unchanged(RouteStatus::Assigned) => {
                    // Redelivered after the claim: make sure the assignment was announced.
                    if let Some(route) = store.route(account_id, &cmd.conversation_id).await? {
                        self.announce(
                            account_id,
                            &route.conversation_id,
                            &route.agent_id,
                            &route.skill_id,
                            route.version,
                        )
                        .await?;
                    }
                }
                // Queued or closed already (a redelivery), or closed before it was routed.
                EnqueueOutcome::Unchanged(_) | EnqueueOutcome::NotOpen => {}
            }
            return Ok(());
        }
        let now = self.platform.clock.now_ms();
        let (conversation, agent, version) = (&cmd.conversation_id, &cmd.avoid_agent_id, cmd.assignment_version);
        let reason = match QueueReason::parse(&cmd.reason) {
            QueueReason::Transfer if !cmd.suggested_agent_id.is_empty() => QueueReason::TransferToAgent,
            // Producers older than the reason field sent none: a return to the queue.
            QueueReason::New => QueueReason::BackToQueue,
            reason => reason,
        };
        let requeue = Requeue {
            account_id: account_id.to_owned(),
            conversation_id: conversation.clone(),
            from_agent: agent.clone(),
            version,
            to_skill: cmd.skill_id.clone(),
            reason,
            now_ms: now,
            placement: self.requeue_placement(account_id, cmd, reason, now).await?,
            suggested_agent: cmd.suggested_agent_id.clone(),
        };
        // R12.6: the suggested agent's time runs out on a durable timer, written before the
        // requeue (a timer finding no suggested agent does nothing).
        if !cmd.suggested_agent_id.is_empty() {
            let config = self.platform.routing.get(account_id).await?;
            let wait = switchyard_routing::transfer_to_agent_max_wait_ms(&config, &cmd.skill_id) as i64;
            self.sweep.schedule_suggested_timeout(account_id, &cmd.skill_id, conversation, now + wait).await?;
        }
        // R8.17: under a far manual response time it waits non-actionable until the threshold
        // before its due time; the timer is written before the requeue (a timer finding it
        // assigned or placed otherwise does nothing).
        if requeue.placement.as_ref().is_some_and(|p| p.sla == placement::MANUAL && !p.actionable) {
            let config = self.platform.routing.get(account_id).await?;
            let due = requeue.placement.as_ref().map_or(0, |p| p.due_ms);
            if let Some(at) = placement::manual_actionable_at(&config, placement::MANUAL, due, now) {
                self.sweep.schedule_actionable(account_id, &cmd.skill_id, conversation, at).await?;
            }
        }
        let outcome = store.requeue(&requeue).await?;
        if matches!(outcome, RequeueOutcome::Requeued | RequeueOutcome::AlreadyRequeued) {
            self.sweep.schedule(account_id, &cmd.skill_id).await?;
        }
        match outcome {
            RequeueOutcome::Requeued => {
                let reason = if cmd.reason.is_empty() { "requeued" } else { cmd.reason.as_str() };
                metrics::counter!(crate::metrics::REQUEUED, crate::metrics::SERVICE.0 => crate::metrics::SERVICE.1, "reason" => reason.to_owned())
                    .increment(1);
            }
            // A redelivered command: the requeue happened, its announcement may not have (the
            // router may have died in between). Same event id, so it is applied once.
            RequeueOutcome::AlreadyRequeued => {}
            // Stale (another assignment since) or closed: nothing changed, nothing to tell.
            RequeueOutcome::NotAssigned | RequeueOutcome::Closed => return Ok(()),
        }
        let body = Body::ConversationUnassigned(ConversationUnassigned {
            conversation_id: conversation.clone(),
            agent_id: agent.clone(),
            reason: if cmd.reason.is_empty() { "requeued".into() } else { cmd.reason.clone() },
            skill_id: cmd.skill_id.clone(),
        });
        let id = format!("unassigned:{conversation}:{}", if version == 0 { cmd.queued_at_ms as u64 } else { version });
        let env = envelope::with_id(id, account_id, now, body);
        envelope::publish(
            &*self.platform.bus,
            &self.platform.topics.assignments,
            keys::conversation(account_id, conversation),
            &env,
        )
        .await?;
        Ok(())
    }

    /// Where a returned or transferred conversation goes in its new queue (R9.2, R10.6); None
    /// when it has no route or record any more (the requeue then changes nothing).
    async fn requeue_placement(
        &self,
        account_id: &str,
        cmd: &RouteConversation,
        reason: QueueReason,
        now: i64,
    ) -> Result<Option<Placement>, ServiceError> {
        let store = &self.platform.store;
        let (route, record) = futures::try_join!(
            store.route(account_id, &cmd.conversation_id),
            store.get_conversation(account_id, &cmd.conversation_id)
        )?;
        let (Some(route), Some(record)) = (route, record) else { return Ok(None) };
        let config = self.platform.routing.get(account_id).await?;
        let facts = Facts {
            skill_id: &cmd.skill_id,
            channel: record.channel,
            profile: &record.profile,
            first_conversation: record.first_conversation,
            transfers: route.transfers + u32::from(reason == QueueReason::Transfer),
            reason,
            agent_group: placement::regroup(&config, &cmd.skill_id, &route.agent_group, &cmd.conversation_id),
            prior_sla: &route.sla,
        };
        // R10.7: a transfer to an agent restarts the due time only when the skill changes.
        let restarts = match reason {
            QueueReason::TransferToAgent => cmd.skill_id != route.skill_id,
            other => rules::restarts_response_due(other),
        };
        Ok(Some(if restarts {
            placement::restarted(&config, &facts, now)
        } else {
            placement::returned(&config, &facts, route.response_due_ms, record.pending, now)
        }))
    }

    /// Gives the skill's queued conversations, best first, to the best agents that can take
    /// them until the queue or the agents run out. Each conversation is one atomic decision in
    /// the store ([`RoutingStore::claim_best`] over the skill's agent index), so a pass costs a
    /// round trip per conversation whatever the number of agents. Returns how many were
    /// assigned.
    pub async fn assign_skill(&self, account_id: &str, skill_id: &str) -> Result<usize, ServiceError> {
        let store = &self.platform.store;
        let mut assigned = 0;
        let pass = Pass { account_id, skill_id, config: self.platform.routing.get(account_id).await? };
        // Read once per pass, when a conversation first finds no agent (R5.3).
        let mut presence: Option<SkillPresence> = None;
        'pass: while assigned < MAX_CLAIMS_PER_PASS {
            let heads = store.queue_head(account_id, skill_id, self.rules.batch).await?;
            if heads.is_empty() {
                break;
            }
            let mut claimed = Vec::new();
            let mut offered = 0;
            let mut exhausted = false;
            for entry in &heads {
                let now = self.platform.clock.now_ms();
                match self.decide(&pass, entry, "", QueueReason::New).await? {
                    BestOutcome::Claimed { agent_id, version } => {
                        self.claimed(account_id, skill_id, entry, &agent_id, version, now);
                        claimed.push((entry.conversation_id.clone(), agent_id, version, skill_id.to_owned()));
                    }
                    // Published by `decide`; it rings while the pass goes on.
                    BestOutcome::Offered { .. } => offered += 1,
                    BestOutcome::ConversationGone => {}
                    BestOutcome::NoAgent { passed } => {
                        let refused = passed.len() as u64;
                        let service = crate::metrics::SERVICE;
                        metrics::counter!(crate::metrics::CLAIM_REFUSED, service.0 => service.1).increment(refused);
                        // Waits for its suggested agent (R12.2); the ones after it may not.
                        if !entry.suggested_agent_id.is_empty() {
                            continue;
                        }
                        let present = match presence {
                            Some(p) => p,
                            None => *presence.insert(store.skill_presence(account_id, skill_id).await?),
                        };
                        let targets = crate::fallback::targets(&pass.config, skill_id, present, entry.reason);
                        if targets.is_empty() {
                            // Nobody can take this one, so nobody can take the ones after it.
                            exhausted = true;
                            break;
                        }
                        if let Some(claim) = self.fall_back(&pass, entry, &targets).await? {
                            claimed.push(claim);
                        }
                    }
                }
            }
            assigned += claimed.len() + offered;
            let progress = !claimed.is_empty() || offered > 0;
            self.announce_all(account_id, claimed).await?;
            if exhausted || !progress || heads.len() < self.rules.batch {
                break 'pass;
            }
        }
        Ok(assigned)
    }

    /// Makes the decision; in a ring mode (R6.5) the offer's expiry timer is written first and
    /// an offer made is published.
    async fn decide(
        &self,
        pass: &Pass<'_>,
        entry: &QueueEntry,
        via: &str,
        why: QueueReason,
    ) -> Result<BestOutcome, ServiceError> {
        let decision = self.decision(pass, entry, via, why);
        if let Some(terms) = decision.offer {
            self.sweep
                .schedule_offer_expiry(pass.account_id, pass.skill_id, &entry.conversation_id, terms.expires_at_ms)
                .await?;
        }
        let outcome = self.platform.store.claim_best(&decision).await?;
        if let (BestOutcome::Offered { offer_id, agents }, Some(terms)) = (&outcome, decision.offer) {
            let skill = if via.is_empty() { pass.skill_id } else { via };
            self.publish_offer(pass.account_id, &entry.conversation_id, skill, offer_id, agents, terms.expires_at_ms)
                .await?;
        }
        Ok(outcome)
    }

    fn decision(&self, pass: &Pass<'_>, entry: &QueueEntry, via: &str, why: QueueReason) -> BestClaim {
        // A fallback goes to any agent of the fallback skill; groups split one skill's agents.
        let groups = if via.is_empty() {
            placement::eligible_groups(&pass.config, pass.skill_id, &entry.agent_group)
        } else {
            Vec::new()
        };
        let (account_id, skill_id) = (pass.account_id, pass.skill_id);
        BestClaim {
            account_id: account_id.to_owned(),
            conversation_id: entry.conversation_id.clone(),
            skill_id: skill_id.to_owned(),
            // R8.2, R8.10: a conversation is assigned at its skill's active weight.
            weight: pass.config.weights(skill_id).active,
            headroom: self.headroom(),
            max_open: pass.config.account.capacity.max_open_conversations,
            warmup: ranking::warmup_terms(&pass.config, skill_id),
            now_ms: self.platform.clock.now_ms(),
            scan: self.rules.candidate_scan,
            via_skill: via.to_owned(),
            via_reason: why,
            groups,
            history_window_ms: pass.config.account.history_window_ms as i64,
            offer: offer_terms(&pass.config, self.platform.clock.now_ms()),
        }
    }

    /// Tries the fallback targets in order (R5.1); the first with an agent that can take the
    /// conversation gets it, moving it there (R5.4, R5.7). Returns the claim as
    /// (conversation, agent, version, skill).
    async fn fall_back(
        &self,
        pass: &Pass<'_>,
        entry: &QueueEntry,
        targets: &[(String, QueueReason)],
    ) -> Result<Option<(String, String, u64, String)>, ServiceError> {
        let (account_id, skill_id) = (pass.account_id, pass.skill_id);
        for (to, why) in targets {
            let now = self.platform.clock.now_ms();
            match self.decide(pass, entry, to, *why).await? {
                // Offered on the fallback skill (published by `decide`).
                BestOutcome::Offered { .. } => return Ok(None),
                BestOutcome::Claimed { agent_id, version } => {
                    self.claimed(account_id, to, entry, &agent_id, version, now);
                    let service = crate::metrics::SERVICE;
                    metrics::counter!(crate::metrics::FALLBACK, service.0 => service.1, "reason" => why.as_str())
                        .increment(1);
                    tracing::info!(account_id, conversation_id = %entry.conversation_id, from = skill_id, to = %to, reason = why.as_str(), "routed to another skill");
                    return Ok(Some((entry.conversation_id.clone(), agent_id, version, to.clone())));
                }
                BestOutcome::ConversationGone => return Ok(None),
                BestOutcome::NoAgent { .. } => {}
            }
        }
        Ok(None)
    }

    /// Capacity says the agent has room: give it the most overdue conversations of its skills
    /// (chatwoot#10583: a freed slot drains the backlog, earliest due first). `hinted_skills`:
    /// the agent's skills as the hint named them (empty: unknown); when none of them nor the
    /// unassigned skill has a queued conversation, one read settles it (a skill it gained
    /// since waits for the sweep).
    pub async fn assign_agent(
        &self,
        account_id: &str,
        agent_id: &str,
        hinted_skills: &[String],
    ) -> Result<usize, ServiceError> {
        let store = &self.platform.store;
        if !hinted_skills.is_empty() {
            let mut skills = hinted_skills.to_vec();
            skills.push(ranking::UNASSIGNED_SKILL.to_owned());
            if !store.any_queued(account_id, &skills).await? {
                return Ok(0);
            }
        }
        // R6.5: in a ring mode nothing is assigned without an offer: the agent's skills get a
        // pass, which offers to the best agents (this one among them when it ranks).
        let config = self.platform.routing.get(account_id).await?;
        if config.account.acd_mode != switchyard_routing::AcdMode::AutoAccept {
            let Some(agent) = store.get_agent(account_id, agent_id).await? else { return Ok(0) };
            let mut offered = 0;
            for skill in agent.spec.skill_ids.iter().filter(|s| s.as_str() != ranking::UNASSIGNED_SKILL) {
                if store.queue_depth(account_id, skill).await? > 0 {
                    offered += self.assign_skill(account_id, skill).await?;
                }
            }
            if store.queue_depth(account_id, ranking::UNASSIGNED_SKILL).await? > 0 {
                offered += self.assign_skill(account_id, ranking::UNASSIGNED_SKILL).await?;
            }
            return Ok(offered);
        }
        let config = self.platform.routing.get(account_id).await?;
        let headroom = self.headroom();
        let mut assigned = 0;
        while assigned < MAX_CLAIMS_PER_PASS {
            let Some(agent) = store.get_agent(account_id, agent_id).await? else { break };
            let mut skills = agent.spec.skill_ids.clone();
            skills.retain(|s| s != ranking::UNASSIGNED_SKILL);
            skills.push(ranking::UNASSIGNED_SKILL.to_owned());
            let mut heads: Vec<(QueueEntry, String)> = Vec::new();
            for skill in &skills {
                if !ranking::eligible(&agent, skill, config.weights(skill).active, headroom) {
                    continue;
                }
                for entry in store.queue_head(account_id, skill, self.rules.batch).await? {
                    // R6.4: a conversation this agent returned waits for someone else; the
                    // skill pass still gives it back if nobody else can take it. R12.2: one
                    // transferred to another agent waits for that agent.
                    let for_another = !entry.suggested_agent_id.is_empty() && entry.suggested_agent_id != agent_id;
                    if entry.avoid_agent_id != agent_id && !for_another {
                        heads.push((entry, skill.clone()));
                    }
                }
            }
            if heads.is_empty() {
                break;
            }
            // The queues' own order across the agent's skills: lowest score (R9.2, R9.3).
            heads.sort_by(|(a, _), (b, _)| (a.score, &a.conversation_id).cmp(&(b.score, &b.conversation_id)));
            let mut progress = false;
            for (entry, skill) in heads {
                let now = self.platform.clock.now_ms();
                match self.claim(account_id, &skill, &entry, agent_id, now).await? {
                    ClaimOutcome::Claimed { version } => {
                        self.announce(account_id, &entry.conversation_id, agent_id, &skill, version).await?;
                        assigned += 1;
                        progress = true;
                        break;
                    }
                    ClaimOutcome::ConversationGone => continue,
                    ClaimOutcome::AgentUnavailable | ClaimOutcome::AgentFull => return Ok(assigned),
                }
            }
            if !progress {
                break;
            }
        }
        Ok(assigned)
    }

    async fn claim(
        &self,
        account_id: &str,
        skill_id: &str,
        entry: &QueueEntry,
        agent_id: &str,
        now: i64,
    ) -> Result<ClaimOutcome, ServiceError> {
        let config = self.platform.routing.get(account_id).await?;
        let claim = Claim {
            account_id: account_id.to_owned(),
            conversation_id: entry.conversation_id.clone(),
            skill_id: skill_id.to_owned(),
            agent_id: agent_id.to_owned(),
            weight: config.weights(skill_id).active,
            headroom: self.headroom(),
            max_open: config.account.capacity.max_open_conversations,
            warmup: ranking::warmup_terms(&config, skill_id),
            now_ms: now,
            history_window_ms: config.account.history_window_ms as i64,
        };
        let outcome = self.platform.store.claim(&claim).await?;
        if let ClaimOutcome::Claimed { version } = outcome {
            self.claimed(account_id, skill_id, entry, agent_id, version, now);
        }
        Ok(outcome)
    }

    /// Counts and logs a fresh assignment.
    fn claimed(&self, account_id: &str, skill_id: &str, entry: &QueueEntry, agent_id: &str, version: u64, now: i64) {
        let service = crate::metrics::SERVICE;
        metrics::counter!(crate::metrics::ASSIGNED, service.0 => service.1).increment(1);
        metrics::histogram!(crate::metrics::QUEUE_WAIT, service.0 => service.1)
            .record((now - entry.queued_at_ms).max(0) as f64 / 1000.0);
        tracing::debug!(account_id, conversation_id = %entry.conversation_id, agent_id, skill_id, version, "assigned");
    }
}

#[path = "engine_announce.rs"]
mod announce;
#[path = "engine_offers.rs"]
mod offers;
#[path = "engine_response.rs"]
mod response;
use offers::offer_terms;

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
