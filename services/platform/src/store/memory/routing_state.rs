//! The in-memory routing state's own steps, shared by the queue and decision operations:
//! consumer history (R6.2), the routing log, claims and their announcements.

use super::*;

impl State {
    /// R6.2 (3): `agent` served the conversation's consumer at `now_ms`; kept for `window_ms`.
    pub(super) fn remember_agent(
        &mut self,
        account: &str,
        conversation: &str,
        agent: &str,
        now_ms: i64,
        window_ms: i64,
    ) {
        if window_ms <= 0 {
            return;
        }
        let Some(consumer) = self.conversations.get(&k(account, conversation)).map(|c| c.consumer_id.clone()) else {
            return;
        };
        self.consumer_agents.insert(k(account, &consumer), (agent.to_owned(), now_ms));
        self.expire_at(Expiry::ConsumerAgent(account.to_owned(), consumer), now_ms + window_ms);
    }

    /// The agent who served the conversation's consumer last, within `window_ms` of `now_ms`.
    pub(super) fn last_agent(&self, account: &str, conversation: &str, now_ms: i64, window_ms: i64) -> Option<String> {
        if window_ms <= 0 {
            return None;
        }
        let consumer = &self.conversations.get(&k(account, conversation))?.consumer_id;
        let (agent, at) = self.consumer_agents.get(&k(account, consumer))?;
        (now_ms - at <= window_ms).then(|| agent.clone())
    }

    pub(super) fn log(&mut self, account: &str, conversation: &str, event: RoutingEvent) {
        let log = self.routing_logs.entry(k(account, conversation)).or_default();
        log.push_back(event);
        while log.len() > ROUTING_LOG_LIMIT {
            log.pop_front();
        }
    }

    /// The queue score of a conversation queued on `skill` and open; None when it is
    /// not queued there. A queued one that is no longer open leaves the queue (its release is
    /// on the way, or it expired).
    pub(super) fn queued_open(&mut self, account: &str, conversation: &str, skill: &str) -> Option<i64> {
        let key = k(account, conversation);
        let score = match self.routes.get(&key) {
            Some(r) if r.status == RouteStatus::Queued && r.skill_id == skill => r.queue_score,
            _ => return None,
        };
        if !self.conversations.get(&key).is_some_and(|conv| conv.status == ConversationStatus::Open) {
            self.remove_from_queue(account, skill, score, conversation);
            return None;
        }
        Some(score)
    }

    /// The arbiter's write half: the agent's load counts the conversation, the route says
    /// assigned, it leaves the queue and is pending announcement. Returns the new version.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn assign(
        &mut self,
        account: &str,
        conversation: &str,
        skill: &str,
        score: i64,
        agent_id: &str,
        weight: Milli,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let agent =
            self.agents.get_mut(&k(account, agent_id)).ok_or_else(|| StoreError::Corrupt("agent vanished".into()))?;
        agent.load.push((conversation.to_owned(), weight));
        agent.last_assigned_ms = now_ms;
        let route_key = k(account, conversation);
        let route = self.routes.get_mut(&route_key).ok_or_else(|| StoreError::Corrupt("route vanished".into()))?;
        route.status = RouteStatus::Assigned;
        route.agent_id = agent_id.to_owned();
        route.avoid_agent_id.clear();
        route.version += 1;
        route.assigned_at_ms = now_ms;
        let version = route.version;
        self.remove_from_queue(account, skill, score, conversation);
        self.unannounced.insert(route_key, now_ms);
        Ok(version)
    }

    /// Up to `limit` assignments pending announcement that `select` (account, claimed at)
    /// picks, oldest first, as (claimed at, account, route); those no longer assigned leave the
    /// pending set.
    pub(super) fn pending_claims(
        &mut self,
        select: impl Fn(&str, i64) -> bool,
        limit: usize,
    ) -> Vec<(i64, String, Route)> {
        let mut pending: Vec<(i64, (String, String))> =
            self.unannounced.iter().filter(|((a, _), at)| select(a, **at)).map(|(k, at)| (*at, k.clone())).collect();
        pending.sort();
        let mut out = Vec::new();
        for (at, key) in pending {
            match self.routes.get(&key) {
                Some(route) if route.status == RouteStatus::Assigned => {
                    if out.len() < limit {
                        out.push((at, key.0.clone(), route.clone()));
                    }
                }
                _ => {
                    self.unannounced.remove(&key);
                }
            }
        }
        out
    }
}
