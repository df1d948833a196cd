//! AuthAdminService: partner API keys (create, list, revoke) and the audit trail. Who may
//! call it is the authorization table's business (admins of the account).

use switchyard_auth::{apikey, Principal};
use switchyard_kit::{validate, ServiceError};
use switchyard_platform::store::ApiKeyRecord;
use switchyard_proto::auth::v1::auth_admin_service_server::AuthAdminService;
use switchyard_proto::auth::v1::*;
use tonic::{Request, Response, Status};

use crate::edge::{channel, Edge};

const MAX_NAME: usize = 128;
const DEFAULT_AUDIT_PAGE: u32 = 100;
const MAX_AUDIT_PAGE: u32 = 1000;

pub struct AuthAdmin {
    pub edge: Edge,
}

fn to_proto(key: ApiKeyRecord) -> ApiKey {
    ApiKey {
        key_id: key.key_id,
        name: key.name,
        channels: key.channels,
        created_at_ms: key.created_at_ms,
        created_by: key.created_by,
        revoked_at_ms: key.revoked_at_ms.unwrap_or(0),
        last_used_ms: key.last_used_ms.unwrap_or(0),
    }
}

fn validate_create(req: &CreateApiKeyRequest) -> Result<Vec<i32>, ServiceError> {
    validate::id("account_id", &req.account_id)?;
    if req.name.trim().is_empty() || req.name.chars().count() > MAX_NAME || req.name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            format!("must be 1..={MAX_NAME} characters without control characters"),
        ));
    }
    let mut channels = Vec::with_capacity(req.channels.len());
    for (i, value) in req.channels.iter().enumerate() {
        channels.push(channel(&format!("channels[{i}]"), *value)? as i32);
    }
    channels.sort_unstable();
    channels.dedup();
    Ok(channels)
}

#[tonic::async_trait]
impl AuthAdminService for AuthAdmin {
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let creator = request.extensions().get::<Principal>().map(|p| p.subject.clone()).unwrap_or_default();
        let req = request.into_inner();
        let channels = validate_create(&req)?;
        self.edge.require_account(&req.account_id).await?;
        let key = apikey::generate(&req.account_id);
        let record = ApiKeyRecord {
            account_id: req.account_id.clone(),
            key_id: key.key_id.clone(),
            name: req.name.trim().to_owned(),
            secret_sha256: key.secret_sha256,
            channels,
            created_at_ms: self.edge.platform.clock.now_ms(),
            created_by: creator,
            revoked_at_ms: None,
            last_used_ms: None,
        };
        if !self.edge.platform.store.create_api_key(&record).await.map_err(ServiceError::from)? {
            // 64 random bits collided: astronomically unlikely, and the caller can simply retry.
            return Err(ServiceError::Unavailable("key id collision; retry".into()).into());
        }
        Ok(Response::new(CreateApiKeyResponse { key: Some(to_proto(record)), secret: key.secret }))
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        let keys = self.edge.platform.store.list_api_keys(&req.account_id).await.map_err(ServiceError::from)?;
        Ok(Response::new(ListApiKeysResponse { keys: keys.into_iter().map(to_proto).collect() }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        validate::id("key_id", &req.key_id)?;
        let now = self.edge.platform.clock.now_ms();
        if !self
            .edge
            .platform
            .store
            .revoke_api_key(&req.account_id, &req.key_id, now)
            .await
            .map_err(ServiceError::from)?
        {
            return Err(ServiceError::not_found(format!("api key {}", req.key_id)).into());
        }
        self.edge.platform.security.forget_key(&req.account_id, &req.key_id);
        Ok(Response::new(RevokeApiKeyResponse {}))
    }

    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let req = request.into_inner();
        validate::id("account_id", &req.account_id)?;
        let limit = match req.limit {
            0 => DEFAULT_AUDIT_PAGE,
            n if n <= MAX_AUDIT_PAGE => n,
            n => return Err(ServiceError::invalid("limit", format!("must be 0..={MAX_AUDIT_PAGE}, got {n}")).into()),
        };
        let trail =
            self.edge.platform.store.audit_trail(&req.account_id, limit as usize).await.map_err(ServiceError::from)?;
        let events = trail.iter().map(switchyard_auth::audit::to_proto).collect();
        Ok(Response::new(ListAuditEventsResponse { events }))
    }
}
