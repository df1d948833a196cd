//! Agent records and sessions in Redis (every write re-indexes the agent: `prelude.lua`).

use super::*;

#[async_trait]
impl AgentStore for RedisStore {
    async fn create_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut inv = self.scripts.create_agent.prepare_invoke();
        inv.key(self.key(account_id, "agent", &spec.agent_id))
            .key(self.key(account_id, "agent-skills", &spec.agent_id))
            .key(self.key(account_id, "agent-load", &spec.agent_id));
        self.agent_spec_args(&mut inv, account_id, spec);
        Ok(integer::<i64>(self.run(&inv).await?, "create_agent")? == 1)
    }

    async fn update_agent(&self, account_id: &str, spec: &AgentSpec) -> Result<bool, StoreError> {
        let mut inv = self.scripts.update_agent.prepare_invoke();
        inv.key(self.key(account_id, "agent", &spec.agent_id)).key(self.key(
            account_id,
            "agent-skills",
            &spec.agent_id,
        ));
        self.agent_spec_args(&mut inv, account_id, spec);
        Ok(integer::<i64>(self.run(&inv).await?, "update_agent")? == 1)
    }

    async fn get_agent(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.load_agent(account_id, agent_id).await
    }

    async fn set_load_weight(
        &self,
        account_id: &str,
        agent_id: &str,
        conversation_id: &str,
        weight: Milli,
    ) -> Result<Option<Milli>, StoreError> {
        let mut inv = self.scripts.set_load_weight.prepare_invoke();
        inv.key(self.key(account_id, "route", conversation_id))
            .key(self.key(account_id, "agent-load", agent_id))
            .arg(self.base(account_id))
            .arg(agent_id)
            .arg(conversation_id)
            .arg(weight);
        match self.run(&inv).await? {
            ::redis::Value::Nil => Ok(None),
            other => Ok(Some(integer::<Milli>(other, "set_load_weight")?)),
        }
    }

    async fn agent_presence(&self, account_id: &str, agent_id: &str) -> Result<Option<AgentPresence>, StoreError> {
        let mut pipe = ::redis::pipe();
        pipe.cmd("HMGET").arg(self.key(account_id, "agent", agent_id)).arg("logged_in").arg("state");
        pipe.cmd("LRANGE").arg(self.key(account_id, "agent-skills", agent_id)).arg(0).arg(-1);
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let mut session = array(next(&mut replies, "agent presence")?, "agent presence")?.into_iter();
        let logged_in = optional_bytes(next(&mut session, "agent.logged_in")?, "agent.logged_in")?;
        let state = optional_bytes(next(&mut session, "agent.state")?, "agent.state")?;
        let skills = array(next(&mut replies, "agent skills")?, "agent skills")?;
        // Every agent hash has a state: none, no agent.
        let Some(state) = state else { return Ok(None) };
        let state = String::from_utf8_lossy(&state);
        let state = AgentState::parse(&state).ok_or_else(|| corrupt(format!("agent.state: {state:?}")))?;
        Ok(Some(AgentPresence {
            logged_in: logged_in.as_deref() == Some(b"1"),
            state,
            skill_ids: skills.into_iter().map(|s| string(s, "agent skill id")).collect::<Result<Vec<_>, _>>()?,
        }))
    }

    async fn agents_with_skill(&self, account_id: &str, skill_id: &str) -> Result<Vec<AgentRecord>, StoreError> {
        let reply = self.query(::redis::cmd("SMEMBERS").arg(self.key(account_id, "skill-agents", skill_id))).await?;
        let mut ids = array(reply, "skill agents")?
            .into_iter()
            .map(|id| string(id, "skill agent id"))
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        ids.sort();
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for id in &ids {
            add_agent_reads(&mut pipe, self, account_id, id);
        }
        let mut replies = self.query_pipe(&pipe).await?.into_iter();
        let mut out = Vec::with_capacity(ids.len());
        for id in &ids {
            // The index and the records are read in two steps: skip an agent that lost the
            // skill in between.
            if let Some(agent) = decode_agent(account_id, id, &mut replies)? {
                if agent.spec.skill_ids.iter().any(|s| s == skill_id) {
                    out.push(agent);
                }
            }
        }
        Ok(out)
    }

    async fn set_agent_session(
        &self,
        account_id: &str,
        agent_id: &str,
        session: &AgentSession,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut inv = self.scripts.set_agent_session.prepare_invoke();
        inv.key(self.key(account_id, "agent", agent_id))
            .arg(self.base(account_id))
            .arg(flag_arg(session.logged_in))
            .arg(session.state.as_str())
            .arg(&session.away_reason)
            .arg(now_ms)
            .arg(agent_id);
        Ok(integer::<i64>(self.run(&inv).await?, "set_agent_session")? == 1)
    }
}
