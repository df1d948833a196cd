//! WorkingHoursAdminService: the account's workdays and special-occasions objects, its
//! defaults and shift status (R11.1-R11.7), saved in the routing configuration document
//! through [`ConfigAdmin::edit`] (one revision, compare and set, the whole document
//! validated), and the question "is skill S open at T" (R11.12).

use switchyard_hours::{ManualStatus, Mode, Timestamp, HORIZON_DAYS};
use switchyard_kit::{validate, ServiceError};
use switchyard_proto::admin::v1::working_hours_admin_service_server::WorkingHoursAdminService;
use switchyard_proto::admin::v1::*;
use switchyard_routing::{RoutingConfig, UNASSIGNED_SKILL};
use tonic::{Request, Response, Status};

use crate::config_admin::ConfigAdmin;
use crate::error::RouterError;
use crate::hours_proto as convert;

pub struct HoursAdmin {
    pub config: ConfigAdmin,
}

type Reply<T> = Result<Response<T>, Status>;

/// The object id of a request: the configuration's id rule, checked before anything is read.
fn object_id(field: &str, id: &str) -> Result<(), ServiceError> {
    switchyard_routing::validate::short_id(field, id).map_err(|err| ServiceError::invalid(field, err.message))
}

fn instant(field: &str, ms: i64) -> Result<Timestamp, ServiceError> {
    Timestamp::from_millisecond(ms).map_err(|_| ServiceError::invalid(field, "is out of range"))
}

/// The skills that use the object `id` of one kind, for a refused deletion.
fn users(
    config: &RoutingConfig,
    id: &str,
    of: fn(&switchyard_routing::SkillRouting) -> Option<&String>,
) -> Vec<String> {
    config.skills.iter().filter(|(_, s)| of(s).is_some_and(|own| own == id)).map(|(k, _)| k.clone()).collect()
}

impl HoursAdmin {
    fn now(&self) -> Timestamp {
        instant("now", self.config.platform.clock.now_ms()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    async fn delete(
        &self,
        account_id: &str,
        expected: u64,
        field: &str,
        id: &str,
        workdays: bool,
    ) -> Result<u64, ServiceError> {
        object_id(field, id)?;
        self.config
            .edit(account_id, expected, |config| {
                let hours = &mut config.hours;
                let (existed, default) = if workdays {
                    (hours.workdays.remove(id).is_some(), &mut hours.default_workdays_id)
                } else {
                    (hours.occasions.remove(id).is_some(), &mut hours.default_occasions_id)
                };
                if !existed {
                    let kind = if workdays { "workdays" } else { "special occasions" };
                    return Err(ServiceError::not_found(format!("{kind} {id}")));
                }
                if default.as_deref() == Some(id) {
                    *default = None;
                }
                let using = if workdays {
                    users(config, id, |s| s.workdays_id.as_ref())
                } else {
                    users(config, id, |s| s.occasions_id.as_ref())
                };
                if !using.is_empty() {
                    let skills = using.join(", ");
                    return Err(ServiceError::FailedPrecondition(format!("{field}: {id} is used by skills {skills}")));
                }
                Ok(())
            })
            .await
    }

    /// R11.11, the legacy mode: the skill is open while an agent holding it is logged in (the
    /// unassigned skill -1: any agent of the account). Only now can be asked: whether an agent
    /// will be logged in at another time is unknown, and so is the next shift start.
    async fn logged_in_agents_hours(
        &self,
        account_id: &str,
        skill_id: &str,
        at_ms: i64,
    ) -> Result<GetSkillHoursResponse, Status> {
        if at_ms != 0 {
            let message = "at_ms: only now (0) can be asked in the logged-in-agents hours mode (R11.11)";
            return Err(ServiceError::FailedPrecondition(message.into()).into());
        }
        let store = &self.config.platform.store;
        let skills = if skill_id == UNASSIGNED_SKILL {
            store.list_skills(account_id).await.map_err(ServiceError::from)?.into_iter().map(|s| s.skill_id).collect()
        } else {
            vec![skill_id.to_owned()]
        };
        let mut open = false;
        for skill in &skills {
            let agents = store.agents_with_skill(account_id, skill).await.map_err(ServiceError::from)?;
            if agents.iter().any(|a| a.logged_in) {
                open = true;
                break;
            }
        }
        Ok(GetSkillHoursResponse {
            at_ms: self.now().as_millisecond(),
            open,
            mode: HoursMode::LoggedInAgents as i32,
            ..Default::default()
        })
    }
}

#[tonic::async_trait]
impl WorkingHoursAdminService for HoursAdmin {
    async fn get_working_hours(&self, request: Request<GetWorkingHoursRequest>) -> Reply<GetWorkingHoursResponse> {
        let req = request.into_inner();
        self.config.require_account(&req.account_id).await?;
        let current = self.config.platform.routing.read(&req.account_id).await?;
        let mut hours = current.config.hours;
        // R11.2: an off-hours status whose next shift start has passed reads as online.
        if let Mode::Manual(status) = hours.mode {
            hours.mode = Mode::Manual(status.at(self.now()));
        }
        Ok(Response::new(GetWorkingHoursResponse {
            hours: Some(convert::working_hours_to(&hours)),
            revision: current.revision,
        }))
    }

    async fn put_workdays(&self, request: Request<PutWorkdaysRequest>) -> Reply<PutWorkdaysResponse> {
        let req = request.into_inner();
        object_id("workdays_id", &req.workdays_id)?;
        let workdays = req.workdays.ok_or_else(|| ServiceError::invalid("workdays", "is required"))?;
        let workdays = convert::workdays_from("workdays", &workdays)?;
        let revision = self
            .config
            .edit(&req.account_id, req.expected_revision, |config| {
                config.hours.workdays.insert(req.workdays_id.clone(), workdays.clone());
                if req.make_default {
                    config.hours.default_workdays_id = Some(req.workdays_id.clone());
                }
                Ok(())
            })
            .await?;
        Ok(Response::new(PutWorkdaysResponse { revision }))
    }

    async fn delete_workdays(&self, request: Request<DeleteWorkdaysRequest>) -> Reply<DeleteWorkdaysResponse> {
        let req = request.into_inner();
        let revision =
            self.delete(&req.account_id, req.expected_revision, "workdays_id", &req.workdays_id, true).await?;
        Ok(Response::new(DeleteWorkdaysResponse { revision }))
    }

    async fn put_special_occasions(
        &self,
        request: Request<PutSpecialOccasionsRequest>,
    ) -> Reply<PutSpecialOccasionsResponse> {
        let req = request.into_inner();
        object_id("occasions_id", &req.occasions_id)?;
        let occasions = req.occasions.ok_or_else(|| ServiceError::invalid("occasions", "is required"))?;
        let occasions = convert::occasions_from("occasions", &occasions)?;
        let revision = self
            .config
            .edit(&req.account_id, req.expected_revision, |config| {
                config.hours.occasions.insert(req.occasions_id.clone(), occasions.clone());
                if req.make_default {
                    config.hours.default_occasions_id = Some(req.occasions_id.clone());
                }
                Ok(())
            })
            .await?;
        Ok(Response::new(PutSpecialOccasionsResponse { revision }))
    }

    async fn delete_special_occasions(
        &self,
        request: Request<DeleteSpecialOccasionsRequest>,
    ) -> Reply<DeleteSpecialOccasionsResponse> {
        let req = request.into_inner();
        let revision =
            self.delete(&req.account_id, req.expected_revision, "occasions_id", &req.occasions_id, false).await?;
        Ok(Response::new(DeleteSpecialOccasionsResponse { revision }))
    }

    async fn set_shift_status(&self, request: Request<SetShiftStatusRequest>) -> Reply<SetShiftStatusResponse> {
        let req = request.into_inner();
        let mode = HoursMode::try_from(req.mode).map_err(|_| ServiceError::invalid("mode", "unknown mode"))?;
        let now = self.now();
        let mode = match (mode, req.off_hours_until_ms) {
            (HoursMode::Automatic, 0) => Mode::Automatic,
            (HoursMode::LoggedInAgents, 0) => Mode::LoggedInAgents,
            (HoursMode::Automatic | HoursMode::LoggedInAgents, _) => {
                return Err(ServiceError::invalid("off_hours_until_ms", "only in manual mode").into());
            }
            (HoursMode::Unspecified | HoursMode::Manual, 0) => Mode::Manual(ManualStatus::Online),
            (HoursMode::Unspecified | HoursMode::Manual, until) => {
                let next_shift_start = instant("off_hours_until_ms", until)?;
                let status = ManualStatus::OffHours { next_shift_start };
                status.validate(now).map_err(|err| ServiceError::invalid("off_hours_until_ms", err.message))?;
                let horizon = now.as_millisecond().saturating_add(HORIZON_DAYS * 86_400_000);
                if until > horizon {
                    let message = format!("must be within {HORIZON_DAYS} days");
                    return Err(ServiceError::invalid("off_hours_until_ms", message).into());
                }
                Mode::Manual(status)
            }
        };
        let revision = self
            .config
            .edit(&req.account_id, req.expected_revision, |config| {
                config.hours.mode = mode;
                Ok(())
            })
            .await?;
        Ok(Response::new(SetShiftStatusResponse { revision }))
    }

    async fn get_skill_hours(&self, request: Request<GetSkillHoursRequest>) -> Reply<GetSkillHoursResponse> {
        let req = request.into_inner();
        validate::skill_id("skill_id", &req.skill_id)?;
        let at = match req.at_ms {
            0 => self.now(),
            ms if ms < 0 => return Err(ServiceError::invalid("at_ms", "must not be negative").into()),
            ms => instant("at_ms", ms)?,
        };
        let platform = &self.config.platform;
        self.config.require_account(&req.account_id).await?;
        if req.skill_id != UNASSIGNED_SKILL
            && !platform.store.skill_exists(&req.account_id, &req.skill_id).await.map_err(ServiceError::from)?
        {
            return Err(ServiceError::from(RouterError::SkillNotFound(req.skill_id)).into());
        }
        let config = platform.routing.get(&req.account_id).await?;
        if config.hours.mode == Mode::LoggedInAgents {
            return self.logged_in_agents_hours(&req.account_id, &req.skill_id, req.at_ms).await.map(Response::new);
        }
        let schedule = config.schedule(&req.skill_id);
        let next = schedule.next_open(at);
        let (mode, _) = convert::mode_to(config.hours.mode);
        let (workdays_id, occasions_id) = applied_objects(&config, &req.skill_id);
        Ok(Response::new(GetSkillHoursResponse {
            at_ms: at.as_millisecond(),
            open: schedule.is_open(at),
            next_shift_start_ms: next.map_or(0, |t| t.as_millisecond()),
            next_shift_start: next.map(convert::rfc3339).unwrap_or_default(),
            delay: schedule.closed_period(at).map(convert::delay_to),
            mode: mode as i32,
            workdays_id,
            occasions_id,
        }))
    }
}

/// R11.7: the ids of the objects that apply to `skill_id` in automatic mode (its own, else
/// the account default); empty in manual mode, where none applies.
fn applied_objects(config: &RoutingConfig, skill_id: &str) -> (String, String) {
    if config.hours.mode != Mode::Automatic {
        return (String::new(), String::new());
    }
    let hours = &config.hours;
    let own = (skill_id != UNASSIGNED_SKILL).then(|| config.skill(skill_id));
    let workdays = own.and_then(|s| s.workdays_id.clone()).or_else(|| hours.default_workdays_id.clone());
    let occasions = own.and_then(|s| s.occasions_id.clone()).or_else(|| hours.default_occasions_id.clone());
    (workdays.unwrap_or_default(), occasions.unwrap_or_default())
}
