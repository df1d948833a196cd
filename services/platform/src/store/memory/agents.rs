//! Agent records and sessions in memory (the agent index order is `rules::rank_key`).

use super::*;

#[async_trait]
impl AgentStore for MemoryStore {
    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let key = k(account_id, &spec.agent_id);
        if s.agents.contains_key(&key) {
            return Ok(false);
        }
        s.agents.insert(
            key,
            AgentRecord {
                account_id: account_id.to_owned(),
                spec: spec.clone(),
                logged_in: false,
                state: AgentState::Offline,
                away_reason: String::new(),
                state_since_ms: 0,
                last_assigned_ms: 0,
                load: Vec::new(),
                warmup: Default::default(),
            },
        );
        Ok(true)
    }

    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut s = self.lock();
        match s.agents.get_mut(&k(account_id, &spec.agent_id)) {
            Some(agent) => {
                agent.spec = spec.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        Ok(self.lock().agents.get(&k(account_id, agent_id)).cloned())
    }

    async fn agent_presence(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentPresence>, StoreError> {
        Ok(self.lock().agents.get(&k(account_id, agent_id)).map(|a| AgentPresence {
            logged_in: a.logged_in,
            state: a.state,
            skill_ids: a.spec.skill_ids.clone(),
        }))
    }

    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError> {
        let s = self.lock();
        let mut out: Vec<AgentRecord> = s
            .agents
            .values()
            .filter(|a| a.account_id == account_id && a.spec.skill_ids.iter().any(|x| x == skill_id))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.spec.agent_id.cmp(&b.spec.agent_id));
        Ok(out)
    }

    async fn set_load_weight(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        weight: Milli,
    ) -> Result<Option<Milli>, StoreError> {
        let mut s = self.lock();
        let held = s
            .routes
            .get(&k(account_id, conversation_id))
            .is_some_and(|r| r.status == RouteStatus::Assigned && r.agent_id == agent_id);
        if !held {
            return Ok(None);
        }
        let Some(agent) = s.agents.get_mut(&k(account_id, agent_id)) else { return Ok(None) };
        let Some(entry) = agent.load.iter_mut().find(|(c, _)| c == conversation_id) else { return Ok(None) };
        Ok(Some(std::mem::replace(&mut entry.1, weight)))
    }

    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut s = self.lock();
        let Some(agent) = s.agents.get_mut(&k(account_id, agent_id)) else {
            return Ok(false);
        };
        if agent.state != session.state || agent.away_reason != session.away_reason {
            agent.state_since_ms = now_ms;
        }
        // R8.12: a login arms the warm-up; the next claim starts it.
        if session.logged_in && !agent.logged_in {
            agent.warmup.armed = true;
        }
        agent.logged_in = session.logged_in;
        agent.state = session.state;
        agent.away_reason = session.away_reason.clone();
        Ok(true)
    }
}
