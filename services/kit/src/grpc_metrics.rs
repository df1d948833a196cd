//! One tower layer on every gRPC server: requests by method and status code, latency, and
//! in-flight calls (`switchyard_grpc_*`). The code is read from the response headers, where
//! tonic puts it for every error and trailers-only reply; a reply that carries its status in
//! trailers (a successful call, a stream) counts as OK when its headers go out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use tower::{Layer, Service};

pub const REQUESTS: &str = "switchyard_grpc_requests_total";
pub const DURATION: &str = "switchyard_grpc_request_duration_seconds";
pub const IN_FLIGHT: &str = "switchyard_grpc_requests_in_flight";

pub fn describe() {
    metrics::describe_counter!(REQUESTS, "gRPC requests by method and status code");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "gRPC time to response headers by method");
    metrics::describe_gauge!(IN_FLIGHT, "gRPC requests being handled, by method");
}

#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcMetricsLayer;

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// The method label: our own and the standard gRPC services by name, anything else as
/// "other" so that junk paths cannot blow up label cardinality.
fn method_label(path: &str) -> String {
    if path.starts_with("/switchyard.") || path.starts_with("/grpc.health.") || path.starts_with("/grpc.reflection.") {
        path.trim_start_matches('/').to_owned()
    } else {
        "other".to_owned()
    }
}

fn code_label(headers: &http::HeaderMap) -> String {
    headers.get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0").to_owned()
}

impl<S, B, RB> Service<http::Request<B>> for GrpcMetrics<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let method = method_label(request.uri().path());
        Box::pin(async move {
            let started = Instant::now();
            let in_flight = metrics::gauge!(IN_FLIGHT, "method" => method.clone());
            in_flight.increment(1.0);
            let result = inner.call(request).await;
            in_flight.decrement(1.0);
            let code = match &result {
                Ok(response) => code_label(response.headers()),
                Err(_) => "transport".to_owned(),
            };
            metrics::histogram!(DURATION, "method" => method.clone()).record(started.elapsed().as_secs_f64());
            metrics::counter!(REQUESTS, "method" => method, "code" => code).increment(1);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label("/switchyard.agent.v1.AgentService/Login"), "switchyard.agent.v1.AgentService/Login");
        assert_eq!(method_label("/grpc.health.v1.Health/Check"), "grpc.health.v1.Health/Check");
        assert_eq!(method_label("/evil/../../x"), "other");
        let mut headers = http::HeaderMap::new();
        assert_eq!(code_label(&headers), "0");
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(code_label(&headers), "5");
    }
}
