//! The routing configuration RPCs of RoutingAdminService: read the account's document, apply
//! the one part a request replaces, validate the whole result against the account's skills and
//! save it over the revision read (compare and set: of two concurrent changes neither is lost,
//! and two changes that are each fine cannot combine into a fallback cycle).

use std::collections::BTreeSet;

use switchyard_kit::{validate, Platform, ServiceError};
use switchyard_proto::admin::v1::*;
use switchyard_routing::{engagement_key, ConfigError, ErrorKind, RoutingConfig};

use crate::config_proto::{self as convert, proto_field};
use crate::error::RouterError;

/// Saves retried when a concurrent change got in first, before giving up.
const SAVE_ATTEMPTS: usize = 8;

pub struct ConfigAdmin {
    pub platform: Platform,
}

fn refusal(err: ConfigError) -> ServiceError {
    let field = proto_field(&err.field);
    match err.kind {
        ErrorKind::Invalid => ServiceError::invalid(field, err.message),
        ErrorKind::UnknownSkill | ErrorKind::UnknownObject => {
            ServiceError::FailedPrecondition(format!("{field}: {}", err.message))
        }
        ErrorKind::Cycle => ServiceError::FailedPrecondition(err.message),
    }
}

impl ConfigAdmin {
    pub(crate) async fn require_account(&self, account_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        if self.platform.store.account_exists(account_id).await? {
            Ok(())
        } else {
            Err(RouterError::AccountNotFound(account_id.to_owned()).into())
        }
    }

    async fn known_skills(&self, account_id: &str) -> Result<BTreeSet<String>, ServiceError> {
        Ok(self.platform.store.list_skills(account_id).await?.into_iter().map(|s| s.skill_id).collect())
    }

    /// Applies `change` to the stored configuration and saves it; returns the saved revision.
    pub(crate) async fn edit(
        &self,
        account_id: &str,
        expected: u64,
        change: impl Fn(&mut RoutingConfig) -> Result<(), ServiceError>,
    ) -> Result<u64, ServiceError> {
        self.require_account(account_id).await?;
        let routing = &self.platform.routing;
        for _ in 0..SAVE_ATTEMPTS {
            let current = routing.read(account_id).await?;
            if expected != 0 && expected != current.revision {
                return Err(RouterError::StaleRevision { expected, current: current.revision }.into());
            }
            let mut config = current.config;
            change(&mut config)?;
            config.validate(&self.known_skills(account_id).await?).map_err(refusal)?;
            if let Some(revision) = routing.save(account_id, current.revision, config).await? {
                tracing::info!(account_id, revision, "routing configuration saved");
                return Ok(revision);
            }
        }
        Err(RouterError::ConfigContended.into())
    }

    pub async fn get(&self, req: GetRoutingConfigRequest) -> Result<GetRoutingConfigResponse, ServiceError> {
        self.require_account(&req.account_id).await?;
        let current = self.platform.routing.read(&req.account_id).await?;
        Ok(GetRoutingConfigResponse { config: Some(convert::config_to(&current.config)), revision: current.revision })
    }

    pub async fn set_account(&self, req: SetAccountRoutingRequest) -> Result<u64, ServiceError> {
        let account = req.account.ok_or_else(|| ServiceError::invalid("account", "is required"))?;
        let account = convert::account_from("account", &account)?;
        self.edit(&req.account_id, req.expected_revision, |config| {
            config.account = account.clone();
            Ok(())
        })
        .await
    }

    pub async fn set_skill(&self, req: SetSkillRoutingRequest) -> Result<u64, ServiceError> {
        validate::skill_id("skill_id", &req.skill_id)?;
        let skill = req.skill.ok_or_else(|| ServiceError::invalid("skill", "is required"))?;
        let skill = convert::skill_from("skill", &skill)?;
        self.require_account(&req.account_id).await?;
        if req.skill_id != switchyard_routing::UNASSIGNED_SKILL
            && !self.platform.store.skill_exists(&req.account_id, &req.skill_id).await?
        {
            return Err(RouterError::SkillNotFound(req.skill_id).into());
        }
        self.edit(&req.account_id, req.expected_revision, |config| {
            config.skills.insert(req.skill_id.clone(), skill.clone());
            Ok(())
        })
        .await
    }

    pub async fn set_profile_rules(&self, req: SetProfileRulesRequest) -> Result<u64, ServiceError> {
        let rules: Vec<_> = req.rules.iter().map(convert::profile_rule_from).collect();
        self.edit(&req.account_id, req.expected_revision, |config| {
            config.profile_rules = rules.clone();
            Ok(())
        })
        .await
    }

    pub async fn put_engagement(&self, req: PutEngagementRequest) -> Result<u64, ServiceError> {
        let engagement = req.engagement.ok_or_else(|| ServiceError::invalid("engagement", "is required"))?;
        validate::id("engagement.campaign_id", &engagement.campaign_id)?;
        validate::id("engagement.engagement_id", &engagement.engagement_id)?;
        let engagement = convert::engagement_from(&engagement);
        let key = engagement_key(&engagement.campaign_id, &engagement.engagement_id);
        self.edit(&req.account_id, req.expected_revision, |config| {
            config.engagements.insert(key.clone(), engagement.clone());
            Ok(())
        })
        .await
    }

    pub async fn delete_engagement(&self, req: DeleteEngagementRequest) -> Result<u64, ServiceError> {
        validate::id("campaign_id", &req.campaign_id)?;
        validate::id("engagement_id", &req.engagement_id)?;
        let key = engagement_key(&req.campaign_id, &req.engagement_id);
        self.edit(&req.account_id, req.expected_revision, |config| match config.engagements.remove(&key) {
            Some(_) => Ok(()),
            None => Err(RouterError::EngagementNotFound(key.clone()).into()),
        })
        .await
    }

    pub async fn set_velocity_rules(&self, req: SetVelocityRulesRequest) -> Result<u64, ServiceError> {
        let rules = req
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| convert::velocity_rule_from(&format!("rules[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?;
        self.edit(&req.account_id, req.expected_revision, |config| {
            config.velocity_rules = rules.clone();
            Ok(())
        })
        .await
    }
}
