//! The one tower layer in front of every gRPC server's routes: authenticate the bearer
//! credential, apply the request limits, read the request's scope from its message, check the
//! authorization table, hand the caller to the handler (request extension [`Principal`]), and
//! record admin changes that succeeded. gRPC health and reflection pass untouched. Every RPC
//! sends one request message (unary or server-streaming; a table test keeps it so), which the
//! layer reads whole, up to `limits.max_message_bytes`, before the handler runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tower::{Layer, Service};

use crate::audit::{AuditSink, Ticket};
use crate::keys::KeyRefusal;
use crate::{apikey, authorize, table, AuthMode, Principal, Security};

#[derive(Clone)]
pub struct AuthLayer {
    security: Arc<Security>,
}

impl AuthLayer {
    pub fn new(security: Arc<Security>) -> Self {
        Self { security }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, security: self.security.clone() }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    security: Arc<Security>,
}

impl<S> Service<http::Request<Body>> for AuthService<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let security = self.security.clone();
        Box::pin(async move {
            let method = request.uri().path().trim_start_matches('/');
            if security.mode() == AuthMode::Disabled || table::is_open(method) {
                return inner.call(request).await;
            }
            match admit(&security, request).await {
                Ok((request, ticket)) => {
                    let response = inner.call(request).await?;
                    Ok(match ticket {
                        Some(ticket) => audit_on_success(response, ticket, security.audit().clone()),
                        None => response,
                    })
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// The credential of `authorization: Bearer <token or partner key>`.
fn bearer(headers: &http::HeaderMap) -> Result<&str, tonic::Status> {
    let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        tonic::Status::unauthenticated(
            "missing credentials: send `authorization: Bearer <token>` (a JWT, or a partner API key)",
        )
    })?;
    let text = value.to_str().map_err(|_| tonic::Status::unauthenticated("malformed authorization header"))?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| tonic::Status::unauthenticated("the authorization header must be `Bearer <token>`"))?;
    Ok(token)
}

async fn authenticate(security: &Security, headers: &http::HeaderMap) -> Result<Principal, tonic::Status> {
    let token = bearer(headers)?;
    if apikey::is_api_key(token) {
        return security.keys.verify(token).await.map_err(|refusal| match refusal {
            KeyRefusal::Unknown => tonic::Status::unauthenticated("unknown partner key"),
            KeyRefusal::Revoked => tonic::Status::unauthenticated("the partner key was revoked"),
            KeyRefusal::Store(err) => tonic::Status::unavailable(format!("cannot verify the partner key now: {err}")),
        });
    }
    security.tokens.verify(&security.verifier, token).map_err(|err| tonic::Status::unauthenticated(err.to_string()))
}

/// The one message of a unary or server-streaming request (the gRPC frame, whole).
async fn read_message(body: Body, limit: usize) -> Result<Bytes, tonic::Status> {
    let collected = Limited::new(body, limit + 5).collect().await.map_err(|err| {
        if err.is::<http_body_util::LengthLimitError>() {
            tonic::Status::resource_exhausted(format!(
                "the request is larger than limits.max_message_bytes ({limit} bytes)"
            ))
        } else {
            tonic::Status::invalid_argument(format!("cannot read the request: {err}"))
        }
    })?;
    let frame = collected.to_bytes();
    if frame.len() < 5 {
        return Err(tonic::Status::invalid_argument("the request holds no message"));
    }
    if frame[0] != 0 {
        return Err(tonic::Status::unimplemented("compressed requests are not supported"));
    }
    let length = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    if frame.len() != 5 + length {
        return Err(tonic::Status::invalid_argument("the request must hold exactly one message"));
    }
    Ok(frame)
}

async fn admit(
    security: &Security,
    request: http::Request<Body>,
) -> Result<(http::Request<Body>, Option<Ticket>), tonic::Status> {
    let method = request.uri().path().trim_start_matches('/');
    let rpc = table::find(method).ok_or_else(|| tonic::Status::unimplemented(format!("unknown method {method}")))?;
    let principal = authenticate(security, request.headers()).await?;
    security.requests.admit(&principal)?;
    let (parts, body) = request.into_parts();
    let frame = read_message(body, security.limits().max_message_bytes).await?;
    let scope = rpc
        .scope(&frame[5..])
        .map_err(|err| tonic::Status::invalid_argument(format!("cannot decode the request message: {err}")))?;
    authorize::authorize(rpc, &principal, &scope).map_err(|denied| {
        let status = denied.status(rpc, &principal);
        tracing::debug!(method = rpc.method, account = %principal.account_id, subject = %principal.subject, reason = %status.message(), "denied");
        status
    })?;
    let ticket = rpc.audited.then(|| Ticket {
        principal: principal.clone(),
        method: rpc.method,
        request: scope.detail.unwrap_or_default(),
    });
    let mut request = http::Request::from_parts(parts, Body::new(Full::new(frame)));
    request.extensions_mut().insert(principal);
    Ok((request, ticket))
}

/// Records the change once the response's trailers say OK (a trailers-only response is an
/// error and records nothing).
fn audit_on_success(response: http::Response<Body>, ticket: Ticket, sink: AuditSink) -> http::Response<Body> {
    if response.headers().contains_key("grpc-status") {
        return response;
    }
    response.map(|inner| Body::new(AuditBody { inner, ticket: Some(ticket), sink }))
}

struct AuditBody {
    inner: Body,
    ticket: Option<Ticket>,
    sink: AuditSink,
}

impl http_body::Body for AuditBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &poll {
            let ok = frame.trailers_ref().and_then(|t| t.get("grpc-status")).is_some_and(|v| v == "0");
            if let Some(ticket) = ok.then(|| this.ticket.take()).flatten() {
                let sink = this.sink.clone();
                tokio::spawn(async move { sink.record(ticket).await });
            }
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
