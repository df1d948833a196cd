//! Agents, accounts and skills, queues and routes, and the arbiter operations, in memory.

use super::*;

#[async_trait]
impl RoutingStore for MemoryStore {
    async fn create_account(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let mut s = self.lock();
        if s.accounts.contains_key(account_id) {
            return Ok(false);
        }
        s.accounts.insert(account_id.to_owned(), name.to_owned());
        Ok(true)
    }

    async fn account_exists(&self, account_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().accounts.contains_key(account_id))
    }

    async fn create_skill(&self, account_id: &str, skill: &SkillRecord) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let skills = s.skills.entry(account_id.to_owned()).or_default();
        if skills.contains_key(&skill.skill_id) {
            return Ok(false);
        }
        skills.insert(skill.skill_id.clone(), skill.clone());
        Ok(true)
    }

    async fn list_skills(&self, account_id: &str) -> Result<Vec<SkillRecord>, StoreError> {
        Ok(self.lock().skills.get(account_id).map(|m| m.values().cloned().collect()).unwrap_or_default())
    }

    async fn skill_exists(&self, account_id: &str, skill_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().skills.get(account_id).is_some_and(|m| m.contains_key(skill_id)))
    }

    async fn routing_config(&self, account_id: &str) -> Result<(u64, Option<Bytes>), StoreError> {
        Ok(match self.lock().routing_configs.get(account_id) {
            Some((revision, doc)) => (*revision, Some(doc.clone())),
            None => (0, None),
        })
    }

    async fn routing_config_revision(&self, account_id: &str) -> Result<u64, StoreError> {
        Ok(self.lock().routing_configs.get(account_id).map_or(0, |(revision, _)| *revision))
    }

    async fn save_routing_config(&self, account_id: &str, expected: u64, doc: Bytes) -> Result<ConfigSave, StoreError> {
        let mut s = self.lock();
        let current = s.routing_configs.get(account_id).map_or(0, |(revision, _)| *revision);
        if current != expected {
            return Ok(ConfigSave::Conflict { current });
        }
        s.routing_configs.insert(account_id.to_owned(), (current + 1, doc));
        Ok(ConfigSave::Saved { revision: current + 1 })
    }

    async fn enqueue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        queued_at_ms: i64,
        placement: &Placement,
    ) -> Result<EnqueueOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        if let Some(route) = s.routes.get(&key) {
            return Ok(EnqueueOutcome::Unchanged(route.status));
        }
        if !s.conversations.get(&key).is_some_and(|c| c.status == ConversationStatus::Open) {
            return Ok(EnqueueOutcome::NotOpen);
        }
        let mut route = Route::new(conversation_id, skill_id, RouteStatus::Queued, queued_at_ms);
        route.skill_history.push(SkillStep {
            skill_id: skill_id.to_owned(),
            reason: QueueReason::New,
            at_ms: queued_at_ms,
        });
        place(&mut route, placement);
        route.agent_group = placement.agent_group.clone();
        s.routes.insert(key, route);
        s.push_queue(account_id, skill_id, placement.score, conversation_id);
        let group = placement.agent_group.as_str();
        s.log(account_id, conversation_id, placed("queued", skill_id, placement, "new", "", group, queued_at_ms));
        Ok(EnqueueOutcome::Queued)
    }

    async fn replace_in_queue(
        &self,
        account_id: &str,
        conversation_id: &str,
        skill_id: &str,
        placement: &Placement,
        why: Replacement,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(route) = s.routes.get_mut(&k(account_id, conversation_id)) else { return Ok(false) };
        let queued = route.status == RouteStatus::Queued;
        let held = matches!(route.status, RouteStatus::Offered | RouteStatus::Assigned);
        if route.skill_id != skill_id || !(queued || (held && !why.queued_only())) {
            return Ok(false);
        }
        let old = route.queue_score;
        place(route, placement);
        if queued {
            s.remove_from_queue(account_id, skill_id, old, conversation_id);
            s.push_queue(account_id, skill_id, placement.score, conversation_id);
        }
        let event = placed("moved", skill_id, placement, why.as_str(), "", "", now_ms);
        s.log(account_id, conversation_id, event);
        Ok(true)
    }

    async fn routing_log(
        &self,
        account_id: &str,
        conversation_id: &str,
    ) -> Result<(Vec<RoutingEvent>, Option<RoutingEvent>), StoreError> {
        let s = self.lock();
        let key = k(account_id, conversation_id);
        let log = s.routing_logs.get(&key).map(|l| l.iter().cloned().collect()).unwrap_or_default();
        Ok((log, s.last_pass.get(&key).cloned()))
    }

    async fn queue_head(&self, account_id: &str, skill_id: &str, limit: usize) -> Result<Vec<QueueEntry>, StoreError> {
        let s = self.lock();
        let Some(q) = s.queues.get(&k(account_id, skill_id)) else {
            return Ok(Vec::new());
        };
        Ok(q.iter()
            .take(limit)
            .map(|(score, conv)| {
                let route = s.routes.get(&k(account_id, conv));
                QueueEntry {
                    conversation_id: conv.clone(),
                    response_due_ms: route.map_or(*score, |r| r.response_due_ms),
                    score: *score,
                    actionable: route.is_none_or(|r| r.actionable),
                    sla: route.map(|r| r.sla.clone()).unwrap_or_default(),
                    velocity_milli: route.map_or(ONE, |r| r.velocity_milli),
                    queued_at_ms: route.map_or(0, |r| r.queued_at_ms),
                    avoid_agent_id: route.map(|r| r.avoid_agent_id.clone()).unwrap_or_default(),
                    reason: route.map_or(QueueReason::New, |r| r.queue_reason),
                    agent_group: route.map(|r| r.agent_group.clone()).unwrap_or_default(),
                    suggested_agent_id: route.map(|r| r.suggested_agent_id.clone()).unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn queue_depth(&self, account_id: &str, skill_id: &str) -> Result<u64, StoreError> {
        Ok(self.lock().queues.get(&k(account_id, skill_id)).map(|q| q.len() as u64).unwrap_or(0))
    }

    async fn any_queued(&self, account_id: &str, skill_ids: &[String]) -> Result<bool, StoreError> {
        let s = self.lock();
        Ok(skill_ids.iter().any(|skill| s.queues.get(&k(account_id, skill)).is_some_and(|q| !q.is_empty())))
    }

    async fn route(&self, account_id: &str, conversation_id: &str) -> Result<Option<Route>, StoreError> {
        Ok(self.lock().routes.get(&k(account_id, conversation_id)).cloned())
    }

    async fn active_skills(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out: Vec<_> = self.lock().queues.keys().cloned().collect();
        out.sort();
        Ok(out)
    }

    async fn unannounced(&self, claimed_before_ms: i64, limit: usize) -> Result<Vec<(String, Route)>, StoreError> {
        let pending = self.lock().pending_claims(|_, at| at <= claimed_before_ms, limit);
        Ok(pending.into_iter().map(|(_, account, route)| (account, route)).collect())
    }

    async fn unannounced_of(&self, account_id: &str, limit: usize) -> Result<Vec<(i64, Route)>, StoreError> {
        let pending = self.lock().pending_claims(|account, _| account == account_id, limit);
        Ok(pending.into_iter().map(|(at, _, route)| (at, route)).collect())
    }

    async fn announced(&self, account_id: &str, conversation_id: &str, version: u64) -> Result<(), StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        if s.routes.get(&key).map_or(0, |r| r.version) == version {
            s.unannounced.remove(&key);
        }
        Ok(())
    }

    async fn claim(&self, c: &Claim) -> Result<ClaimOutcome, StoreError> {
        let c = &Claim { history_window_ms: c.history_window_ms.min(self.retention.consumer_ms), ..c.clone() };
        let mut s = self.lock();
        let Some(score) = s.queued_open(&c.account_id, &c.conversation_id, &c.skill_id) else {
            return Ok(ClaimOutcome::ConversationGone);
        };
        let Some(agent) = s.agents.get(&k(&c.account_id, &c.agent_id)) else {
            return Ok(ClaimOutcome::AgentUnavailable);
        };
        let holds = c.skill_id == UNASSIGNED_SKILL || agent.spec.skill_ids.contains(&c.skill_id);
        // R12.2: transferred to another agent, who alone may take it.
        let suggested = s
            .routes
            .get(&k(&c.account_id, &c.conversation_id))
            .map(|r| r.suggested_agent_id.clone())
            .unwrap_or_default();
        let elsewhere = !suggested.is_empty() && suggested != c.agent_id;
        if !agent.logged_in || agent.state != AgentState::Online || !holds || elsewhere {
            return Ok(ClaimOutcome::AgentUnavailable);
        }
        let ask = rules::Ask {
            weight: c.weight,
            headroom: c.headroom,
            max_open: c.max_open,
            warmup: c.warmup,
            now_ms: c.now_ms,
        };
        let Ok(warm) = rules::admit(agent, &ask) else { return Ok(ClaimOutcome::AgentFull) };
        if let (Some(warm), Some(agent)) = (warm, s.agents.get_mut(&k(&c.account_id, &c.agent_id))) {
            agent.warmup = warm;
        }
        let version =
            s.assign(&c.account_id, &c.conversation_id, &c.skill_id, score, &c.agent_id, c.weight, c.now_ms)?;
        s.remember_agent(&c.account_id, &c.conversation_id, &c.agent_id, c.now_ms, c.history_window_ms);
        let event = assigned(&c.skill_id, &c.agent_id, version, "agent_available", Vec::new(), c.now_ms);
        s.log(&c.account_id, &c.conversation_id, event);
        Ok(ClaimOutcome::Claimed { version })
    }

    async fn claim_best(&self, c: &BestClaim) -> Result<BestOutcome, StoreError> {
        self.decide(c)
    }

    async fn accept_offer(&self, answer: &OfferAnswer) -> Result<AcceptOutcome, StoreError> {
        self.accept(answer)
    }

    async fn reject_offer(&self, answer: &OfferAnswer, cooldown_ms: i64) -> Result<RejectOutcome, StoreError> {
        self.reject(answer, cooldown_ms)
    }

    async fn expire_offer(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        now_ms: i64,
        cooldown_ms: i64,
    ) -> Result<ExpireOutcome, StoreError> {
        self.expire_ringing(account_id, conversation_id, offer_id, now_ms, cooldown_ms)
    }

    async fn drop_suggested_agent(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut s = self.lock();
        let Some(route) = s.routes.get_mut(&k(account_id, conversation_id)) else { return Ok(None) };
        if route.status != RouteStatus::Queued || route.suggested_agent_id.is_empty() {
            return Ok(None);
        }
        let suggested = std::mem::take(&mut route.suggested_agent_id);
        route.queue_reason = QueueReason::SuggestedAgentTimeout;
        let skill = route.skill_id.clone();
        push_skill_step(route, &skill, QueueReason::SuggestedAgentTimeout, now_ms);
        let event = RoutingEvent {
            at_ms: now_ms,
            kind: "moved".into(),
            skill_id: skill.clone(),
            agent_id: suggested,
            reason: "suggested_agent_timeout".into(),
            velocity_milli: ONE,
            ..Default::default()
        };
        s.log(account_id, conversation_id, event);
        Ok(Some(skill))
    }

    async fn skill_presence(&self, account_id: &str, skill_id: &str) -> Result<SkillPresence, StoreError> {
        let s = self.lock();
        let mut presence = SkillPresence::default();
        let holders = s.agents.values().filter(|a| {
            a.account_id == account_id
                && (skill_id == UNASSIGNED_SKILL || a.spec.skill_ids.iter().any(|x| x == skill_id))
        });
        for agent in holders {
            // The unassigned skill's holders are the logged-in agents (as on Redis).
            if skill_id == UNASSIGNED_SKILL && !agent.logged_in {
                continue;
            }
            presence.holders += 1;
            presence.connected += u64::from(agent.logged_in);
            presence.online += u64::from(agent.logged_in && agent.state == AgentState::Online);
        }
        Ok(presence)
    }

    async fn release(
        &self,
        account_id: &str,
        conversation_id: &str,
        now_ms: i64,
    ) -> Result<ReleaseOutcome, StoreError> {
        let mut s = self.lock();
        s.expire(now_ms);
        let key = k(account_id, conversation_id);
        let expiry = Expiry::Route(key.0.clone(), key.1.clone());
        let Some(route) = s.routes.get(&key).cloned() else {
            s.routes.insert(key, Route::new(conversation_id, "", RouteStatus::Closed, 0));
            s.expire_at(expiry, now_ms + self.retention.closed_ms);
            return Ok(ReleaseOutcome::Unchanged);
        };
        let outcome = match route.status {
            // Newer: a newer version's state, left to it (never written by this version).
            RouteStatus::Closed | RouteStatus::Newer => return Ok(ReleaseOutcome::Unchanged),
            RouteStatus::Queued => {
                s.remove_from_queue(account_id, &route.skill_id, route.queue_score, conversation_id);
                ReleaseOutcome::LeftQueue { skill_id: route.skill_id.clone() }
            }
            // Closed while ringing: every reservation is freed.
            RouteStatus::Offered => {
                for agent in &route.offer_agents {
                    if let Some(a) = s.agents.get_mut(&k(account_id, agent)) {
                        a.load.retain(|(c, _)| c != conversation_id);
                    }
                }
                ReleaseOutcome::LeftQueue { skill_id: route.skill_id.clone() }
            }
            RouteStatus::Assigned => {
                if let Some(agent) = s.agents.get_mut(&k(account_id, &route.agent_id)) {
                    agent.load.retain(|(c, _)| c != conversation_id);
                }
                ReleaseOutcome::FreedAgent { agent_id: route.agent_id.clone(), skill_id: route.skill_id.clone() }
            }
        };
        if let Some(r) = s.routes.get_mut(&key) {
            r.status = RouteStatus::Closed;
        }
        s.expire_at(expiry, now_ms + self.retention.closed_ms);
        Ok(outcome)
    }

    async fn requeue(&self, r: &Requeue) -> Result<RequeueOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(&r.account_id, &r.conversation_id);
        let Some(route) = s.routes.get_mut(&key) else { return Ok(RequeueOutcome::NotAssigned) };
        match route.status {
            RouteStatus::Closed => return Ok(RequeueOutcome::Closed),
            RouteStatus::Assigned
                if route.agent_id == r.from_agent && (r.version == 0 || route.version == r.version) => {}
            _ if r.version != 0 && route.requeued_version == r.version => return Ok(RequeueOutcome::AlreadyRequeued),
            _ => return Ok(RequeueOutcome::NotAssigned),
        }
        if route.skill_id != r.to_skill {
            push_skill_step(route, &r.to_skill, r.reason, r.now_ms);
        }
        route.status = RouteStatus::Queued;
        route.skill_id = r.to_skill.clone();
        route.agent_id.clear();
        route.avoid_agent_id = r.from_agent.clone();
        route.queued_at_ms = r.now_ms;
        route.queue_reason = r.reason;
        if rules::restarts_response_due(r.reason) {
            route.response_due_ms = r.now_ms;
        }
        let placement = match &r.placement {
            Some(placement) => {
                route.agent_group = placement.agent_group.clone();
                placement.clone()
            }
            None => Placement::by_due(route.response_due_ms),
        };
        place(route, &placement);
        if r.reason == QueueReason::Transfer {
            route.transfers += 1;
        }
        route.requeued_version = route.version;
        route.suggested_agent_id = r.suggested_agent.clone();
        let event =
            placed("queued", &r.to_skill, &placement, r.reason.as_str(), &r.from_agent, &route.agent_group, r.now_ms);
        if let Some(agent) = s.agents.get_mut(&k(&r.account_id, &r.from_agent)) {
            agent.load.retain(|(c, _)| *c != r.conversation_id);
        }
        s.push_queue(&r.account_id, &r.to_skill, placement.score, &r.conversation_id);
        s.log(&r.account_id, &r.conversation_id, event);
        Ok(RequeueOutcome::Requeued)
    }
}

/// A `queued` or `moved` routing event for a placement.
fn placed(kind: &str, skill: &str, p: &Placement, reason: &str, agent: &str, group: &str, at_ms: i64) -> RoutingEvent {
    RoutingEvent {
        at_ms,
        kind: kind.into(),
        skill_id: skill.into(),
        agent_id: agent.into(),
        reason: reason.into(),
        due_ms: p.due_ms,
        score: p.score,
        actionable: p.actionable,
        sla: p.sla.clone(),
        velocity_milli: p.velocity_milli,
        agent_group: group.into(),
        ..Default::default()
    }
}

pub(super) fn assigned(
    skill: &str,
    agent: &str,
    version: u64,
    reason: &str,
    passed: Vec<(String, String)>,
    at_ms: i64,
) -> RoutingEvent {
    RoutingEvent {
        at_ms,
        kind: "assigned".into(),
        skill_id: skill.into(),
        agent_id: agent.into(),
        version,
        reason: reason.into(),
        velocity_milli: ONE,
        passed,
        ..Default::default()
    }
}

fn place(route: &mut Route, placement: &Placement) {
    route.response_due_ms = placement.due_ms;
    route.queue_score = placement.score;
    route.actionable = placement.actionable;
    route.sla = placement.sla.clone();
    route.velocity_milli = placement.velocity_milli;
}

/// R5.7: the skill change is recorded with its reason; the oldest steps beyond the limit go.
pub(super) fn push_skill_step(route: &mut Route, skill_id: &str, reason: QueueReason, at_ms: i64) {
    route.skill_history.push(SkillStep { skill_id: skill_id.to_owned(), reason, at_ms });
    let excess = route.skill_history.len().saturating_sub(SKILL_HISTORY_LIMIT);
    route.skill_history.drain(..excess);
}
