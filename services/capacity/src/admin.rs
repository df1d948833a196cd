//! CapacityAdminService: create and update agents, read an agent's load.

use crate::error::CapacityError;
use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_platform::store::{AgentRecord, AgentSpec as StoredSpec, ONE};
use switchyard_proto::capacity::v1::capacity_admin_service_server::CapacityAdminService;
use switchyard_proto::capacity::v1::*;
use tonic::{Request, Response, Status};

/// Every agent may take unassigned-skill conversations (R4.4); the index records it so the
/// router finds them with the same lookup as for a real skill.
pub use switchyard_kit::validate::UNASSIGNED_SKILL;
pub const MAX_CONVERSATIONS_LIMIT: u32 = 1000;
/// Longest agent nickname, in characters.
pub const MAX_NICKNAME_CHARS: usize = 64;
pub const MAX_SKILLS_PER_AGENT: usize = 100;

pub struct Admin {
    pub platform: Platform,
}

impl Admin {
    /// Validates the request and returns the spec to store. Nothing is written on error.
    async fn spec(&self, account_id: &str, agent: Option<AgentSpec>) -> Result<StoredSpec, ServiceError> {
        validate::id("account_id", account_id)?;
        let agent = agent.ok_or_else(|| ServiceError::invalid("agent", "is required"))?;
        validate::id("agent.agent_id", &agent.agent_id)?;
        if !(1..=MAX_CONVERSATIONS_LIMIT).contains(&agent.max_conversations) {
            return Err(ServiceError::invalid(
                "agent.max_conversations",
                format!("must be within 1..={MAX_CONVERSATIONS_LIMIT}"),
            ));
        }
        validate::optional_id("agent.group_id", &agent.group_id)?;
        validate::system_text("agent.nickname", &agent.nickname, MAX_NICKNAME_CHARS)?;
        if agent.skill_ids.len() > MAX_SKILLS_PER_AGENT {
            return Err(ServiceError::invalid("agent.skill_ids", format!("at most {MAX_SKILLS_PER_AGENT} skills")));
        }
        let store = &self.platform.store;
        if !store.account_exists(account_id).await? {
            return Err(CapacityError::AccountNotFound(account_id.to_owned()).into());
        }
        let mut skills: Vec<String> = Vec::new();
        for (i, skill) in agent.skill_ids.iter().enumerate() {
            validate::id(&format!("agent.skill_ids[{i}]"), skill)?;
            if skill == UNASSIGNED_SKILL || skills.contains(skill) {
                continue;
            }
            if !store.skill_exists(account_id, skill).await? {
                return Err(CapacityError::SkillNotFound(skill.clone()).into());
            }
            skills.push(skill.clone());
        }
        skills.push(UNASSIGNED_SKILL.to_owned());
        Ok(StoredSpec {
            agent_id: agent.agent_id,
            skill_ids: skills,
            max_conversations: agent.max_conversations,
            bot: agent.bot,
            group_id: agent.group_id,
            nickname: agent.nickname,
        })
    }
}

#[tonic::async_trait]
impl CapacityAdminService for Admin {
    async fn create_agent(
        &self,
        request: Request<CreateAgentRequest>,
    ) -> Result<Response<CreateAgentResponse>, Status> {
        let req = request.into_inner();
        let spec = self.spec(&req.account_id, req.agent).await?;
        if !self.platform.store.create_agent(&req.account_id, &spec).await.map_err(ServiceError::from)? {
            return Err(CapacityError::AgentExists(spec.agent_id).into());
        }
        Ok(Response::new(CreateAgentResponse {}))
    }

    async fn update_agent(
        &self,
        request: Request<UpdateAgentRequest>,
    ) -> Result<Response<UpdateAgentResponse>, Status> {
        let req = request.into_inner();
        let spec = self.spec(&req.account_id, req.agent).await?;
        if !self.platform.store.update_agent(&req.account_id, &spec).await.map_err(ServiceError::from)? {
            return Err(CapacityError::AgentNotFound(spec.agent_id).into());
        }
        Ok(Response::new(UpdateAgentResponse {}))
    }

    async fn get_load_metrics(
        &self,
        request: Request<GetLoadMetricsRequest>,
    ) -> Result<Response<GetLoadMetricsResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        let store = &self.platform.store;
        if !store.account_exists(&req.account_id).await.map_err(ServiceError::from)? {
            return Err(ServiceError::not_found(format!("account {}", req.account_id)).into());
        }
        let agents = store.agents_with_skill(&req.account_id, UNASSIGNED_SKILL).await.map_err(ServiceError::from)?;
        let (account, skills) = crate::load_metrics::by_skill(&agents);
        Ok(Response::new(GetLoadMetricsResponse {
            away_agents_by_reason: crate::load_metrics::away_by_reason(&agents).into_iter().collect(),
            account: Some(load_metrics_to(&account)),
            skills: skills.iter().map(|(skill, s)| (skill.clone(), load_metrics_to(s))).collect(),
        }))
    }

    async fn get_agent_load(
        &self,
        request: Request<GetAgentLoadRequest>,
    ) -> Result<Response<GetAgentLoadResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        validate::id("agent_id", &req.agent_id)?;
        let agent = self
            .platform
            .store
            .get_agent(&req.account_id, &req.agent_id)
            .await
            .map_err(ServiceError::from)?
            .ok_or_else(|| CapacityError::AgentNotFound(req.agent_id.clone()))?;
        let used = agent.capacity_used();
        let max = agent.spec.max_conversations.max(1);
        let config = self.platform.routing.get(&req.account_id).await?;
        let warmup = warmup_status(&config, &agent, self.platform.clock.now_ms());
        Ok(Response::new(GetAgentLoadResponse {
            agent: Some(AgentSpec {
                agent_id: agent.spec.agent_id.clone(),
                skill_ids: agent.spec.skill_ids.iter().filter(|s| s.as_str() != UNASSIGNED_SKILL).cloned().collect(),
                max_conversations: agent.spec.max_conversations,
                bot: agent.spec.bot,
                group_id: agent.spec.group_id.clone(),
                nickname: agent.spec.nickname.clone(),
            }),
            state: crate::state_to_proto(agent.state) as i32,
            logged_in: agent.logged_in,
            capacity_used: used as f64 / ONE as f64,
            load: used as f64 / (max as f64 * ONE as f64),
            conversation_ids: agent.load.iter().map(|(c, _)| c.clone()).collect(),
            active_conversations: agent.load.iter().filter(|(_, w)| *w >= ONE).count() as u32,
            conversations: agent
                .load
                .into_iter()
                .map(|(conversation_id, w)| HeldConversation { conversation_id, weight: w as f64 / ONE as f64 })
                .collect(),
            away_reason: agent.away_reason,
            state_since_ms: agent.state_since_ms,
            warmup,
        }))
    }
}

/// R8.12-R8.14: the agent's running warm-up under the terms of its skills (the shortest
/// interval, the longest period, as the step announcements use); None when none runs.
fn warmup_status(config: &switchyard_routing::RoutingConfig, agent: &AgentRecord, now: i64) -> Option<WarmupStatus> {
    let mut terms = agent.spec.skill_ids.iter().filter_map(|s| config.warmup(s));
    let first = terms.next()?;
    let (interval, period) = terms.fold(first, |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let (interval, period) = (interval.max(1) as i64, period as i64);
    let from = agent.warmup.from_ms;
    let ends = from + period;
    if from <= 0 || now >= ends || agent.load.len() >= agent.spec.max_conversations as usize {
        return None;
    }
    let allowed = 1 + (now - from) / interval;
    let next = from + allowed * interval;
    Some(WarmupStatus {
        warming_up: true,
        started_at_ms: from,
        taken: agent.warmup.taken,
        allowed_now: allowed as u32,
        next_step_at_ms: if next < ends { next } else { 0 },
        ends_at_ms: ends,
    })
}

fn load_metrics_to(s: &crate::load_metrics::LoadSummary) -> LoadMetrics {
    LoadMetrics {
        agent_load: s.agent_load,
        human_agent_load: s.human_agent_load,
        human_online_load: s.human_online_load,
        human_away_load: s.human_away_load,
        available_slots: s.available_slots,
        online_agents: s.online_agents,
        back_soon_agents: s.back_soon_agents,
        away_agents: s.away_agents,
    }
}
