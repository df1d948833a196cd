//! The assignment decision and offers in memory: what `claim_best.lua`, `accept_offer.lua`,
//! `reject_offer.lua` and `expire_offer.lua` do on Redis, under the one lock (the conformance
//! suites pin the two to the same outcomes).

use super::routing::{assigned, push_skill_step};
use super::*;

/// What one decision chose.
enum Choice {
    Assign(String),
    Offer(Vec<String>),
}

impl Choice {
    /// One agent: assigned, or offered in a ring mode.
    fn one(agent: String, c: &BestClaim) -> Self {
        if c.offer.is_some() {
            Choice::Offer(vec![agent])
        } else {
            Choice::Assign(agent)
        }
    }
}

fn ask_of(c: &BestClaim) -> rules::Ask {
    rules::Ask { weight: c.weight, headroom: c.headroom, max_open: c.max_open, warmup: c.warmup, now_ms: c.now_ms }
}

/// R8.12: the warm-up state an agent that gets the conversation stores (before its load and
/// last assignment move).
fn warm_up(s: &mut State, c: &BestClaim, agent_id: &str) {
    let Some(agent) = s.agents.get_mut(&k(&c.account_id, agent_id)) else { return };
    if let Ok(Some(warm)) = rules::admit(agent, &ask_of(c)) {
        agent.warmup = warm;
    }
}

/// Writes the decision: the assignment (as `claim_best.lua`'s `give`) or the offer (`offer`).
fn give(
    s: &mut State,
    c: &BestClaim,
    score: i64,
    choice: Choice,
    reason: &str,
    passed_text: Vec<(String, String)>,
) -> Result<BestOutcome, StoreError> {
    let key = k(&c.account_id, &c.conversation_id);
    let target = if c.via_skill.is_empty() { c.skill_id.clone() } else { c.via_skill.clone() };
    let moved = |s: &mut State| {
        if let Some(route) = s.routes.get_mut(&key) {
            if !c.via_skill.is_empty() {
                push_skill_step(route, &c.via_skill, c.via_reason, c.now_ms);
                route.skill_id = c.via_skill.clone();
                route.queue_reason = c.via_reason;
            }
        }
    };
    match choice {
        Choice::Assign(agent_id) => {
            warm_up(s, c, &agent_id);
            let event = assigned(&target, &agent_id, 0, reason, passed_text, c.now_ms);
            let version =
                s.assign(&c.account_id, &c.conversation_id, &c.skill_id, score, &agent_id, c.weight, c.now_ms)?;
            s.remember_agent(&c.account_id, &c.conversation_id, &agent_id, c.now_ms, c.history_window_ms);
            moved(s);
            s.log(&c.account_id, &c.conversation_id, RoutingEvent { version, ..event });
            Ok(BestOutcome::Claimed { agent_id, version })
        }
        Choice::Offer(agents) => {
            for agent in &agents {
                warm_up(s, c, agent);
            }
            let offers = s.offers.entry(key.clone()).or_default();
            offers.0 += 1;
            let offer_id = format!("{}:{}", c.conversation_id, offers.0);
            for agent in &agents {
                if let Some(a) = s.agents.get_mut(&k(&c.account_id, agent)) {
                    a.load.push((c.conversation_id.clone(), c.weight));
                }
            }
            s.remove_from_queue(&c.account_id, &c.skill_id, score, &c.conversation_id);
            moved(s);
            if let Some(route) = s.routes.get_mut(&key) {
                route.status = RouteStatus::Offered;
                route.offer_id = offer_id.clone();
                route.offer_agents = agents.clone();
                route.offer_expires_ms = c.offer.map_or(0, |o| o.expires_at_ms);
            }
            let event = RoutingEvent {
                kind: "offered".into(),
                agent_id: agents.join(","),
                ..assigned(&target, "", 0, reason, passed_text, c.now_ms)
            };
            s.log(&c.account_id, &c.conversation_id, event);
            Ok(BestOutcome::Offered { offer_id, agents })
        }
    }
}

impl MemoryStore {
    pub(super) fn decide(&self, c: &BestClaim) -> Result<BestOutcome, StoreError> {
        // R6.2 (3): who served a consumer is kept no longer than the consumer is remembered.
        let c = &BestClaim { history_window_ms: c.history_window_ms.min(self.retention.consumer_ms), ..c.clone() };
        let mut s = self.lock();
        let Some(score) = s.queued_open(&c.account_id, &c.conversation_id, &c.skill_id) else {
            return Ok(BestOutcome::ConversationGone);
        };
        let key = k(&c.account_id, &c.conversation_id);
        let avoid = s.routes.get(&key).map(|r| r.avoid_agent_id.clone());
        let suggested = s.routes.get(&key).map(|r| r.suggested_agent_id.clone()).unwrap_or_default();
        let ring_all = c.offer.is_some_and(|o| o.ring_all);
        let rejected =
            |agent: &str| s.rejected.get(&key).and_then(|r| r.get(agent)).is_some_and(|until| *until > c.now_ms);
        // The index Redis keeps, built on the spot: logged-in ONLINE holders of the skill in
        // rank_member order.
        let agents_of = if c.via_skill.is_empty() { c.skill_id.as_str() } else { c.via_skill.as_str() };
        // The order of `rules::rank_member`, by its key.
        let account_agents = s
            .agents
            .range((c.account_id.clone(), String::new())..)
            .take_while(|((account, _), _)| *account == c.account_id)
            .map(|(_, a)| a);
        let mut index: Vec<((i64, i64, &str), &AgentRecord)> = account_agents
            .filter(|a| a.logged_in && a.state == AgentState::Online)
            .filter(|a| agents_of == UNASSIGNED_SKILL || a.spec.skill_ids.iter().any(|x| x == agents_of))
            .map(|a| {
                (rules::rank_key(a.capacity_used(), a.spec.max_conversations, a.last_assigned_ms, &a.spec.agent_id), a)
            })
            .collect();
        index.sort_by(|x, y| x.0.cmp(&y.0));
        let ask = ask_of(c);
        let refusal = |a: &AgentRecord| match rules::admit(a, &ask) {
            Ok(_) => None,
            Err(rules::Refusal::Full) => Some(PassReason::Full),
            Err(rules::Refusal::WarmingUp) => Some(PassReason::WarmingUp),
        };
        let room = |a: &AgentRecord| refusal(a).is_none();
        // R12.2: transferred to an agent: only that agent, while ONLINE with room.
        if !suggested.is_empty() && c.via_skill.is_empty() {
            let why = match index.iter().find(|(_, a)| a.spec.agent_id == suggested) {
                None => Some(PassReason::Unavailable),
                Some((_, a)) => refusal(a),
            };
            drop(index);
            if let Some(why) = why {
                let waiting = RoutingEvent {
                    at_ms: c.now_ms,
                    kind: "waiting".into(),
                    skill_id: c.skill_id.clone(),
                    reason: "suggested_agent".into(),
                    passed: vec![(suggested.clone(), why.as_str().to_owned())],
                    velocity_milli: ONE,
                    ..Default::default()
                };
                s.last_pass.insert(key, waiting);
                return Ok(BestOutcome::NoAgent { passed: vec![(suggested, why)] });
            }
            return give(&mut s, c, score, Choice::one(suggested, c), "suggested_agent", Vec::new());
        }
        // R6.2 (3): the consumer's last agent first when it could take it now.
        let preferred = s.last_agent(&c.account_id, &c.conversation_id, c.now_ms, c.history_window_ms).filter(|p| {
            !ring_all
                && avoid.as_deref() != Some(p.as_str())
                && !rejected(p)
                && index.iter().any(|(_, a)| {
                    a.spec.agent_id == *p && (c.groups.is_empty() || c.groups.contains(&a.spec.group_id)) && room(a)
                })
        });
        let mut passed = Vec::new();
        let mut chosen = None;
        let mut ringing = Vec::new();
        // R6.8: a cascade group's agent only when none of an earlier group can take it.
        let mut cascade: Option<(usize, String)> = None;
        let scanned = if preferred.is_some() { 0 } else { c.scan.max(1) };
        for (_, agent) in index.iter().take(scanned) {
            let id = &agent.spec.agent_id;
            let rank =
                if c.groups.is_empty() { Some(0) } else { c.groups.iter().position(|g| *g == agent.spec.group_id) };
            let Some(rank) = rank else {
                passed.push((id.clone(), PassReason::OtherGroup));
                continue;
            };
            if let Some(why) = refusal(agent) {
                passed.push((id.clone(), why));
            } else if rejected(id) {
                passed.push((id.clone(), PassReason::Rejected));
            } else if avoid.as_deref() == Some(id.as_str()) {
                passed.push((id.clone(), PassReason::Avoided));
            } else if ring_all {
                ringing.push(id.clone());
            } else if rank == 0 {
                chosen = Some(id.clone());
                break;
            } else if cascade.as_ref().is_none_or(|(best, _)| rank < *best) {
                cascade = Some((rank, id.clone()));
            }
        }
        drop(index);
        // R6.4: the returning agent only when no other can take it.
        let avoided = || passed.iter().find(|(_, why)| *why == PassReason::Avoided).map(|(id, _)| id.clone());
        let choice = if !ringing.is_empty() {
            Some(Choice::Offer(ringing))
        } else {
            let one = preferred.clone().or(chosen).or(cascade.map(|(_, id)| id)).or_else(avoided);
            one.map(|agent| if c.offer.is_some() { Choice::Offer(vec![agent]) } else { Choice::Assign(agent) })
        };
        let passed_text: Vec<(String, String)> =
            passed.iter().map(|(a, why)| (a.clone(), why.as_str().to_owned())).collect();
        let target = if c.via_skill.is_empty() { c.skill_id.clone() } else { c.via_skill.clone() };
        let reason = match (c.via_skill.is_empty(), preferred.is_some()) {
            (false, _) => c.via_reason.as_str(),
            (true, true) => "consumer_history",
            (true, false) => "best_agent",
        };
        let Some(choice) = choice else {
            let waiting = RoutingEvent {
                at_ms: c.now_ms,
                kind: "waiting".into(),
                skill_id: target,
                passed: passed_text,
                velocity_milli: ONE,
                ..Default::default()
            };
            s.last_pass.insert(key, waiting);
            return Ok(BestOutcome::NoAgent { passed });
        };
        give(&mut s, c, score, choice, reason, passed_text)
    }

    pub(super) fn accept(&self, a: &OfferAnswer) -> Result<AcceptOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(&a.account_id, &a.conversation_id);
        let Some(route) = s.routes.get(&key) else { return Ok(AcceptOutcome::Gone) };
        let last_offer = s.offers.get(&key).map(|o| o.1.clone()).unwrap_or_default();
        if route.status == RouteStatus::Assigned && route.agent_id == a.agent_id && last_offer == a.offer_id {
            return Ok(AcceptOutcome::AlreadyAccepted { version: route.version, skill_id: route.skill_id.clone() });
        }
        if route.status != RouteStatus::Offered
            || route.offer_id != a.offer_id
            || !route.offer_agents.contains(&a.agent_id)
        {
            return Ok(AcceptOutcome::Gone);
        }
        let rescinded: Vec<String> = route.offer_agents.iter().filter(|x| **x != a.agent_id).cloned().collect();
        for other in &rescinded {
            s.unreserve(&a.account_id, other, &a.conversation_id);
        }
        if let Some(agent) = s.agents.get_mut(&k(&a.account_id, &a.agent_id)) {
            agent.last_assigned_ms = a.now_ms;
        }
        let route = s.routes.get_mut(&key).ok_or_else(|| StoreError::Corrupt("route vanished".into()))?;
        route.status = RouteStatus::Assigned;
        route.agent_id = a.agent_id.clone();
        route.avoid_agent_id.clear();
        route.version += 1;
        route.assigned_at_ms = a.now_ms;
        route.offer_id.clear();
        route.offer_agents.clear();
        let (version, skill_id) = (route.version, route.skill_id.clone());
        s.offers.entry(key.clone()).or_default().1 = a.offer_id.clone();
        s.unannounced.insert(key, a.now_ms);
        let event = assigned(&skill_id, &a.agent_id, version, "offer_accepted", Vec::new(), a.now_ms);
        s.log(&a.account_id, &a.conversation_id, event);
        Ok(AcceptOutcome::Accepted { version, skill_id, rescinded })
    }

    pub(super) fn reject(&self, a: &OfferAnswer, cooldown_ms: i64) -> Result<RejectOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(&a.account_id, &a.conversation_id);
        let ringing = match s.routes.get(&key) {
            Some(r)
                if r.status == RouteStatus::Offered
                    && r.offer_id == a.offer_id
                    && r.offer_agents.contains(&a.agent_id) =>
            {
                r.offer_agents.clone()
            }
            _ => return Ok(RejectOutcome::Gone),
        };
        s.unreserve(&a.account_id, &a.agent_id, &a.conversation_id);
        s.cool_down(&key, &a.agent_id, a.now_ms, cooldown_ms);
        let event = RoutingEvent {
            at_ms: a.now_ms,
            kind: "rejected".into(),
            agent_id: a.agent_id.clone(),
            reason: "offer_rejected".into(),
            velocity_milli: ONE,
            ..Default::default()
        };
        s.log(&a.account_id, &a.conversation_id, event);
        let rest: Vec<String> = ringing.into_iter().filter(|x| *x != a.agent_id).collect();
        if !rest.is_empty() {
            if let Some(route) = s.routes.get_mut(&key) {
                route.offer_agents = rest;
            }
            return Ok(RejectOutcome::StillRinging);
        }
        Ok(RejectOutcome::Requeued { skill_id: s.back_to_queue(&a.account_id, &a.conversation_id) })
    }

    pub(super) fn expire_ringing(
        &self,
        account_id: &str,
        conversation_id: &str,
        offer_id: &str,
        now_ms: i64,
        cooldown_ms: i64,
    ) -> Result<ExpireOutcome, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, conversation_id);
        let agents = match s.routes.get(&key) {
            Some(r) if r.status == RouteStatus::Offered && r.offer_id == offer_id => r.offer_agents.clone(),
            _ => return Ok(ExpireOutcome::Gone),
        };
        for agent in &agents {
            s.unreserve(account_id, agent, conversation_id);
            s.cool_down(&key, agent, now_ms, cooldown_ms);
        }
        let event = RoutingEvent {
            at_ms: now_ms,
            kind: "expired".into(),
            agent_id: agents.join(","),
            reason: "offer_expired".into(),
            velocity_milli: ONE,
            ..Default::default()
        };
        s.log(account_id, conversation_id, event);
        Ok(ExpireOutcome::Requeued { skill_id: s.back_to_queue(account_id, conversation_id), agents })
    }
}

impl State {
    fn unreserve(&mut self, account: &str, agent: &str, conversation: &str) {
        if let Some(a) = self.agents.get_mut(&k(account, agent)) {
            a.load.retain(|(c, _)| c != conversation);
        }
    }

    fn cool_down(&mut self, key: &(String, String), agent: &str, now_ms: i64, cooldown_ms: i64) {
        if cooldown_ms > 0 {
            self.rejected.entry(key.clone()).or_default().insert(agent.to_owned(), now_ms + cooldown_ms);
        }
    }

    /// An offered conversation back in its queue at the place it had; returns its skill.
    fn back_to_queue(&mut self, account: &str, conversation: &str) -> String {
        let Some(route) = self.routes.get_mut(&k(account, conversation)) else { return String::new() };
        route.status = RouteStatus::Queued;
        route.offer_id.clear();
        route.offer_agents.clear();
        let (skill, score) = (route.skill_id.clone(), route.queue_score);
        self.push_queue(account, &skill, score, conversation);
        skill
    }
}
