//! `AutomaticMessagesAdminService`: read and change an account's automatic-message settings
//! (compare and set on the document's revision, validated whole before every save, nothing
//! written on error), list the placeholders, and preview what an event would send now.

use switchyard_kit::{validate, ServiceError};
use switchyard_proto::automessages::v1::automatic_messages_admin_service_server::AutomaticMessagesAdminService;
use switchyard_proto::automessages::v1::{
    GetAutomaticMessagesRequest, GetAutomaticMessagesResponse, ListPlaceholdersRequest, ListPlaceholdersResponse,
    MessageSetting as ProtoSetting, Placeholder, PreviewRequest, PreviewResponse, SetAutomaticMessageRequest,
    SetAutomaticMessageResponse, SetAutomaticMessagesAccountRequest, SetAutomaticMessagesAccountResponse,
    SkillSettings, Toggle,
};
use tonic::{Request, Response, Status};

use crate::catalogue::{Event, PLACEHOLDERS};
use crate::engine::Engine;
use crate::preview;
use crate::settings::{language_tag, message_text, timer, MessageSetting, Settings};

/// Saves that lose to a concurrent change are tried again this often.
const SAVE_ATTEMPTS: usize = 8;

pub struct Admin {
    pub engine: Engine,
}

fn event_of(field: &str, value: i32) -> Result<Event, ServiceError> {
    Event::from_proto(value)
        .ok_or_else(|| ServiceError::invalid(field, format!("must be a catalogue event, got {value}")))
}

fn toggle_of(value: i32) -> Result<Option<bool>, ServiceError> {
    match Toggle::try_from(value) {
        Ok(Toggle::Inherit) => Ok(None),
        Ok(Toggle::On) => Ok(Some(true)),
        Ok(Toggle::Off) => Ok(Some(false)),
        Err(_) => Err(ServiceError::invalid("enabled", format!("unknown toggle {value}"))),
    }
}

fn toggle_to(value: Option<bool>) -> i32 {
    match value {
        None => Toggle::Inherit as i32,
        Some(true) => Toggle::On as i32,
        Some(false) => Toggle::Off as i32,
    }
}

fn setting_to(event: Event, setting: &MessageSetting) -> ProtoSetting {
    ProtoSetting {
        event: event.to_proto() as i32,
        enabled: toggle_to(setting.enabled),
        texts: setting.texts.clone().into_iter().collect(),
        timer_seconds: setting.timer_seconds.unwrap_or(0),
    }
}

impl Admin {
    async fn require_account(&self, account_id: &str) -> Result<(), ServiceError> {
        validate::id("account_id", account_id)?;
        if self.engine.platform.store.account_exists(account_id).await? {
            Ok(())
        } else {
            Err(ServiceError::not_found(format!("account {account_id}")))
        }
    }

    /// Applies `change` to the stored settings and saves them; returns the saved revision.
    async fn edit(
        &self,
        account_id: &str,
        expected: u64,
        change: impl Fn(&mut Settings) -> Result<(), ServiceError>,
    ) -> Result<u64, ServiceError> {
        self.require_account(account_id).await?;
        let store = &self.engine.settings;
        for _ in 0..SAVE_ATTEMPTS {
            let current = store.read(account_id).await?;
            if expected != 0 && expected != current.revision {
                return Err(ServiceError::precondition(format!(
                    "automatic-message settings are at revision {}, not {expected}; read them again",
                    current.revision
                )));
            }
            let mut settings = current.config;
            change(&mut settings)?;
            settings.validate()?;
            if let Some(revision) = store.save(account_id, current.revision, settings).await? {
                tracing::info!(account_id, revision, "automatic-message settings saved");
                return Ok(revision);
            }
        }
        Err(ServiceError::Unavailable("automatic-message settings changed concurrently; try again".into()))
    }

    async fn get(&self, req: GetAutomaticMessagesRequest) -> Result<GetAutomaticMessagesResponse, ServiceError> {
        self.require_account(&req.account_id).await?;
        let current = self.engine.settings.read(&req.account_id).await?;
        let s = &current.config;
        let account = Event::ALL
            .into_iter()
            .map(|event| {
                let mut setting = s.account.get(&event).cloned().unwrap_or_default();
                setting.texts.entry("en".into()).or_insert_with(|| event.default_text().to_owned());
                setting.enabled.get_or_insert(true);
                if let Some(default) = event.default_timer() {
                    setting.timer_seconds.get_or_insert(u32::try_from(default.as_secs()).unwrap_or(u32::MAX));
                }
                setting_to(event, &setting)
            })
            .collect();
        let skills = s
            .skills
            .iter()
            .map(|(skill_id, settings)| SkillSettings {
                skill_id: skill_id.clone(),
                messages: settings.iter().map(|(event, setting)| setting_to(*event, setting)).collect(),
            })
            .collect();
        Ok(GetAutomaticMessagesResponse {
            revision: current.revision,
            enabled: s.enabled,
            default_language: s.default_language().to_owned(),
            text_channel_prefix: s.text_channel_prefix.clone(),
            account,
            skills,
        })
    }

    async fn set_account(&self, req: SetAutomaticMessagesAccountRequest) -> Result<u64, ServiceError> {
        if !req.default_language.is_empty() {
            language_tag("default_language", &req.default_language)?;
        }
        self.edit(&req.account_id, req.expected_revision, |s| {
            s.enabled = req.enabled;
            s.default_language = req.default_language.clone();
            s.text_channel_prefix = req.text_channel_prefix.clone();
            Ok(())
        })
        .await
    }

    async fn set_message(&self, req: SetAutomaticMessageRequest) -> Result<u64, ServiceError> {
        let event = event_of("event", req.event)?;
        let enabled = toggle_of(req.enabled)?;
        let skill = validate::optional_id("skill_id", &req.skill_id)?.map(str::to_owned);
        if !req.language.is_empty() {
            language_tag("language", &req.language)?;
        }
        if let Some(text) = &req.text {
            message_text("text", event, text)?;
        }
        if req.timer_seconds != 0 {
            timer("timer_seconds", event, req.timer_seconds)?;
        }
        if let Some(skill) = &skill {
            let store = &self.engine.platform.store;
            self.require_account(&req.account_id).await?;
            if skill != validate::UNASSIGNED_SKILL && !store.skill_exists(&req.account_id, skill).await? {
                return Err(ServiceError::not_found(format!("skill {skill}")));
            }
        }
        self.edit(&req.account_id, req.expected_revision, |s| {
            let language = if req.language.is_empty() { s.default_language().to_owned() } else { req.language.clone() };
            let scope = match &skill {
                Some(skill) => s.skills.entry(skill.clone()).or_default(),
                None => &mut s.account,
            };
            let setting = scope.entry(event).or_default();
            setting.enabled = enabled;
            if let Some(text) = &req.text {
                if text.is_empty() {
                    setting.texts.remove(&language);
                } else {
                    setting.texts.insert(language, text.clone());
                }
            }
            setting.timer_seconds = (req.timer_seconds != 0).then_some(req.timer_seconds);
            if *setting == MessageSetting::default() {
                scope.remove(&event);
            }
            if let Some(skill) = &skill {
                if s.skills.get(skill).is_some_and(|m| m.is_empty()) {
                    s.skills.remove(skill);
                }
            }
            Ok(())
        })
        .await
    }
}

#[tonic::async_trait]
impl AutomaticMessagesAdminService for Admin {
    async fn get_automatic_messages(
        &self,
        request: Request<GetAutomaticMessagesRequest>,
    ) -> Result<Response<GetAutomaticMessagesResponse>, Status> {
        Ok(Response::new(self.get(request.into_inner()).await?))
    }

    async fn set_automatic_messages_account(
        &self,
        request: Request<SetAutomaticMessagesAccountRequest>,
    ) -> Result<Response<SetAutomaticMessagesAccountResponse>, Status> {
        let revision = self.set_account(request.into_inner()).await?;
        Ok(Response::new(SetAutomaticMessagesAccountResponse { revision }))
    }

    async fn set_automatic_message(
        &self,
        request: Request<SetAutomaticMessageRequest>,
    ) -> Result<Response<SetAutomaticMessageResponse>, Status> {
        let revision = self.set_message(request.into_inner()).await?;
        Ok(Response::new(SetAutomaticMessageResponse { revision }))
    }

    async fn list_placeholders(
        &self,
        _request: Request<ListPlaceholdersRequest>,
    ) -> Result<Response<ListPlaceholdersResponse>, Status> {
        let placeholders = PLACEHOLDERS
            .iter()
            .map(|(name, description)| Placeholder {
                name: (*name).to_owned(),
                description: (*description).to_owned(),
                events: Event::ALL
                    .into_iter()
                    .filter(|e| e.placeholders().contains(name))
                    .map(|e| e.to_proto() as i32)
                    .collect(),
            })
            .collect();
        Ok(Response::new(ListPlaceholdersResponse { placeholders }))
    }

    async fn preview(&self, request: Request<PreviewRequest>) -> Result<Response<PreviewResponse>, Status> {
        let req = request.into_inner();
        let event = event_of("event", req.event)?;
        self.require_account(&req.account_id).await?;
        validate::id("conversation_id", &req.conversation_id)?;
        Ok(Response::new(preview::preview(&self.engine, &req.account_id, &req.conversation_id, event).await?))
    }
}
