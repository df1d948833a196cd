//! Client side: attach credentials to calls.
//! - [`Bearer`]: a fixed token or partner key on every call (a tonic interceptor).
//! - [`MintingLayer`]: signs a token per call for the account and agent the request names,
//!   with one role, or with the role the table first grants for the RPC (`fitting`: the load
//!   harness and functional tests, which act as every kind of caller). It reads the request
//!   message as the server's layer does, so both agree on what a request is about.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use tonic::body::Body;
use tonic::metadata::{Ascii, MetadataValue};
use tower::{Layer, Service};

use crate::jwt::Signer;
use crate::role::Role;
use crate::table;

/// Adds `authorization: Bearer <credential>` to every call.
#[derive(Clone)]
pub struct Bearer {
    value: Option<MetadataValue<Ascii>>,
}

impl Bearer {
    /// None when `credential` cannot be a header value.
    pub fn new(credential: &str) -> Option<Self> {
        format!("Bearer {credential}").parse().ok().map(|value| Self { value: Some(value) })
    }

    /// Sends no credential.
    pub fn none() -> Self {
        Self { value: None }
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.value {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// How long minted tokens are valid; they are reused for half of it.
const TOKEN_TTL: Duration = Duration::from_secs(3600);
const MAX_CACHED: usize = 100_000;

type TokenCache = Mutex<HashMap<(String, String), (http::HeaderValue, Instant)>>;

/// Mints tokens: for an agent or bot the subject is the request's agent, for other roles
/// `subject` (`fitting`: `<role>-client`).
#[derive(Clone)]
pub struct MintingLayer {
    signer: Arc<Signer>,
    /// None: the first role the table grants for the RPC.
    role: Option<Role>,
    subject: Arc<str>,
    cache: Arc<TokenCache>,
}

impl MintingLayer {
    pub fn new(signer: Signer, role: Role, subject: &str) -> Self {
        Self { signer: Arc::new(signer), role: Some(role), subject: Arc::from(subject), cache: Arc::default() }
    }

    /// Each call as the role the table first grants for its RPC.
    pub fn fitting(signer: Signer) -> Self {
        Self { signer: Arc::new(signer), role: None, subject: Arc::from(""), cache: Arc::default() }
    }

    fn token(&self, rpc: &table::Rpc, account: &str, agent: Option<&str>) -> Result<http::HeaderValue, String> {
        let role = match self.role {
            Some(role) => role,
            None => rpc.grants.first().map(|g| g.role).ok_or("the RPC grants no role")?,
        };
        let fitting_subject = format!("{role}-client");
        let subject = match (role, agent) {
            (Role::Agent | Role::Bot, Some(agent)) if !agent.is_empty() => agent,
            _ if self.role.is_none() => &fitting_subject,
            _ => &self.subject,
        };
        let key = (format!("{account}|{role}"), subject.to_owned());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((value, at)) = cache.get(&key) {
            if at.elapsed() < TOKEN_TTL / 2 {
                return Ok(value.clone());
            }
        }
        let token = self.signer.issue(account, subject, &[role], TOKEN_TTL).map_err(|e| e.to_string())?;
        let value: http::HeaderValue = format!("Bearer {token}").parse().map_err(|_| "token is not a header value")?;
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, (value.clone(), Instant::now()));
        Ok(value)
    }
}

impl<S> Layer<S> for MintingLayer {
    type Service = Minting<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Minting { inner, minter: self.clone() }
    }
}

#[derive(Clone)]
pub struct Minting<S> {
    inner: S,
    minter: MintingLayer,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, RB> Service<http::Request<Body>> for Minting<S>
where
    S: Service<http::Request<Body>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<RB>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let minter = self.minter.clone();
        Box::pin(async move {
            let method = request.uri().path().trim_start_matches('/').to_owned();
            let Some(rpc) = table::find(&method) else {
                return inner.call(request).await.map_err(Into::into);
            };
            let (mut parts, body) = request.into_parts();
            let frame = body.collect().await?.to_bytes();
            let scope = if frame.len() >= 5 { rpc.scope(&frame[5..]).ok() } else { None };
            if let Some(scope) = scope {
                let value = minter.token(rpc, &scope.account_id, scope.agent_id.as_deref())?;
                parts.headers.insert(http::header::AUTHORIZATION, value);
            }
            inner.call(http::Request::from_parts(parts, Body::new(Full::new(frame)))).await.map_err(Into::into)
        })
    }
}
