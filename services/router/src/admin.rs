//! RoutingAdminService: accounts, skills and queue inspection. Decode, validate, call the
//! store, encode; no routing logic here.

use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_platform::store::{SkillRecord, ONE};
use switchyard_proto::admin::v1::routing_admin_service_server::RoutingAdminService;
use switchyard_proto::admin::v1::*;
use tonic::{Request, Response, Status};

use crate::config_admin::ConfigAdmin;
use crate::error::RouterError;
use crate::ranking::UNASSIGNED_SKILL;

pub struct Admin {
    pub platform: Platform,
    pub config: ConfigAdmin,
}

impl Admin {
    pub fn new(platform: Platform) -> Self {
        Self { config: ConfigAdmin { platform: platform.clone() }, platform }
    }
}

const MAX_NAME_LEN: usize = 200;
const MAX_QUEUE_LIMIT: u32 = 1000;

impl Admin {
    async fn require_account(&self, account_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        if self.platform.store.account_exists(account_id).await? {
            Ok(())
        } else {
            Err(RouterError::AccountNotFound(account_id.to_owned()).into())
        }
    }
}

fn name(field: &str, value: &str) -> Result<(), ServiceError> {
    if value.trim().is_empty() {
        return Err(ServiceError::invalid(field, "must not be blank"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(ServiceError::invalid(field, format!("must be at most {MAX_NAME_LEN} bytes")));
    }
    Ok(())
}

#[tonic::async_trait]
impl RoutingAdminService for Admin {
    async fn create_account(
        &self,
        request: Request<CreateAccountRequest>,
    ) -> Result<Response<CreateAccountResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        let display = if req.name.is_empty() { req.account_id.clone() } else { req.name.clone() };
        name("name", &display)?;
        if !self.platform.store.create_account(&req.account_id, &display).await.map_err(ServiceError::from)? {
            return Err(RouterError::AccountExists(req.account_id).into());
        }
        Ok(Response::new(CreateAccountResponse {}))
    }

    async fn create_skill(
        &self,
        request: Request<CreateSkillRequest>,
    ) -> Result<Response<CreateSkillResponse>, Status> {
        let req = request.into_inner();
        let skill = req.skill.ok_or_else(|| ServiceError::invalid("skill", "is required"))?;
        validate::id("skill.skill_id", &skill.skill_id)?;
        if skill.skill_id == UNASSIGNED_SKILL {
            return Err(ServiceError::invalid("skill.skill_id", "-1 is the reserved unassigned skill").into());
        }
        let display = if skill.name.is_empty() { skill.skill_id.clone() } else { skill.name.clone() };
        name("skill.name", &display)?;
        self.require_account(&req.account_id).await?;
        let record = SkillRecord { skill_id: skill.skill_id.clone(), name: display };
        if !self.platform.store.create_skill(&req.account_id, &record).await.map_err(ServiceError::from)? {
            return Err(RouterError::SkillExists(skill.skill_id).into());
        }
        Ok(Response::new(CreateSkillResponse {}))
    }

    async fn list_skills(&self, request: Request<ListSkillsRequest>) -> Result<Response<ListSkillsResponse>, Status> {
        let req = request.into_inner();
        self.require_account(&req.account_id).await?;
        let skills = self.platform.store.list_skills(&req.account_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(ListSkillsResponse {
            skills: skills.into_iter().map(|s| Skill { skill_id: s.skill_id, name: s.name }).collect(),
        }))
    }

    async fn get_queue(&self, request: Request<GetQueueRequest>) -> Result<Response<GetQueueResponse>, Status> {
        let req = request.into_inner();
        self.require_account(&req.account_id).await?;
        validate::id("skill_id", &req.skill_id)?;
        if req.limit > MAX_QUEUE_LIMIT {
            return Err(ServiceError::invalid("limit", format!("must be at most {MAX_QUEUE_LIMIT}")).into());
        }
        let store = &self.platform.store;
        if req.skill_id != UNASSIGNED_SKILL
            && !store.skill_exists(&req.account_id, &req.skill_id).await.map_err(ServiceError::from)?
        {
            return Err(RouterError::SkillNotFound(req.skill_id).into());
        }
        let limit = if req.limit == 0 { 100 } else { req.limit as usize };
        let depth = store.queue_depth(&req.account_id, &req.skill_id).await.map_err(ServiceError::from)?;
        let entries = store.queue_head(&req.account_id, &req.skill_id, limit).await.map_err(ServiceError::from)?;
        Ok(Response::new(GetQueueResponse {
            depth,
            entries: entries
                .into_iter()
                .enumerate()
                .map(|(i, e)| QueuedConversation {
                    conversation_id: e.conversation_id,
                    queued_at_ms: e.queued_at_ms,
                    position: i as u32 + 1,
                    due_ms: e.response_due_ms,
                    actionable: e.actionable,
                    score: e.score,
                    sla: e.sla,
                    velocity: e.velocity_milli as f64 / ONE as f64,
                    avoid_agent_id: e.avoid_agent_id,
                    suggested_agent_id: e.suggested_agent_id,
                    agent_group: e.agent_group,
                    reason: e.reason.as_str().to_owned(),
                })
                .collect(),
        }))
    }

    async fn get_routing_config(
        &self,
        request: Request<GetRoutingConfigRequest>,
    ) -> Result<Response<GetRoutingConfigResponse>, Status> {
        Ok(Response::new(self.config.get(request.into_inner()).await?))
    }

    async fn set_account_routing(
        &self,
        request: Request<SetAccountRoutingRequest>,
    ) -> Result<Response<SetAccountRoutingResponse>, Status> {
        let revision = self.config.set_account(request.into_inner()).await?;
        Ok(Response::new(SetAccountRoutingResponse { revision }))
    }

    async fn set_skill_routing(
        &self,
        request: Request<SetSkillRoutingRequest>,
    ) -> Result<Response<SetSkillRoutingResponse>, Status> {
        let revision = self.config.set_skill(request.into_inner()).await?;
        Ok(Response::new(SetSkillRoutingResponse { revision }))
    }

    async fn set_profile_rules(
        &self,
        request: Request<SetProfileRulesRequest>,
    ) -> Result<Response<SetProfileRulesResponse>, Status> {
        let revision = self.config.set_profile_rules(request.into_inner()).await?;
        Ok(Response::new(SetProfileRulesResponse { revision }))
    }

    async fn put_engagement(
        &self,
        request: Request<PutEngagementRequest>,
    ) -> Result<Response<PutEngagementResponse>, Status> {
        let revision = self.config.put_engagement(request.into_inner()).await?;
        Ok(Response::new(PutEngagementResponse { revision }))
    }

    async fn delete_engagement(
        &self,
        request: Request<DeleteEngagementRequest>,
    ) -> Result<Response<DeleteEngagementResponse>, Status> {
        let revision = self.config.delete_engagement(request.into_inner()).await?;
        Ok(Response::new(DeleteEngagementResponse { revision }))
    }

    async fn set_velocity_rules(
        &self,
        request: Request<SetVelocityRulesRequest>,
    ) -> Result<Response<SetVelocityRulesResponse>, Status> {
        let revision = self.config.set_velocity_rules(request.into_inner()).await?;
        Ok(Response::new(SetVelocityRulesResponse { revision }))
    }

    async fn explain_routing(
        &self,
        request: Request<ExplainRoutingRequest>,
    ) -> Result<Response<ExplainRoutingResponse>, Status> {
        Ok(Response::new(crate::explain::explain(&self.platform, request.into_inner()).await?))
    }

    async fn get_response_time(
        &self,
        request: Request<GetResponseTimeRequest>,
    ) -> Result<Response<GetResponseTimeResponse>, Status> {
        Ok(Response::new(crate::response_time::get(&self.platform, request.into_inner()).await?))
    }
}
