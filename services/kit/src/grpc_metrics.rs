//! One tower layer on every gRPC server: requests by method and status code, latency, and
//! in-flight calls (`switchyard_grpc_*`). The code is read from the response headers, where
//! tonic puts it for every error and trailers-only reply; a reply that carries its status in
//! trailers (a successful call, a stream) counts as OK when its headers go out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use std::collections::HashSet;
use std::sync::OnceLock;

use prost::Message as _;
use tower::{Layer, Service};

pub const REQUESTS: &str = "switchyard_grpc_requests_total";
pub const DURATION: &str = "switchyard_grpc_request_duration_seconds";
pub const IN_FLIGHT: &str = "switchyard_grpc_requests_in_flight";

/// The method label of any path that is not a method this server has.
pub const UNKNOWN_METHOD: &str = "unknown";

pub fn describe() {
    metrics::describe_counter!(REQUESTS, "gRPC requests by service, method and status code");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "gRPC time to response headers by method");
    metrics::describe_gauge!(IN_FLIGHT, "gRPC requests being handled, by method");
}

/// Every method the servers have, as `package.Service/Method`: Switchyard's own (from the
/// compiled descriptors), gRPC health and both reflection versions.
fn known_methods() -> &'static HashSet<String> {
    static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known: HashSet<String> = [
            "grpc.health.v1.Health/Check",
            "grpc.health.v1.Health/Watch",
            "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        if let Ok(set) = prost_types::FileDescriptorSet::decode(switchyard_proto::FILE_DESCRIPTOR_SET) {
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let name = service.name.unwrap_or_default();
                    for method in service.method {
                        known.insert(format!("{package}.{name}/{}", method.name.unwrap_or_default()));
                    }
                }
            }
        }
        known
    })
}

#[derive(Debug, Clone, Copy)]
pub struct GrpcMetricsLayer {
    service: &'static str,
}

impl GrpcMetricsLayer {
    /// Metrics of the gRPC server of `service` (the `service` label of every series).
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner, service: self.service }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    service: &'static str,
}

/// The method label: a method the server has, by name; anything else (a caller can send any
/// path) is "unknown", so junk paths cannot blow up label cardinality.
fn method_label(path: &str) -> String {
    let method = path.trim_start_matches('/');
    if known_methods().contains(method) {
        method.to_owned()
    } else {
        UNKNOWN_METHOD.to_owned()
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
        let service = self.service;
        Box::pin(async move {
            let started = Instant::now();
            let in_flight = metrics::gauge!(IN_FLIGHT, "service" => service, "method" => method.clone());
            in_flight.increment(1.0);
            let result = inner.call(request).await;
            in_flight.decrement(1.0);
            let code = match &result {
                Ok(response) => code_label(response.headers()),
                Err(_) => "transport".to_owned(),
            };
            metrics::histogram!(DURATION, "service" => service, "method" => method.clone())
                .record(started.elapsed().as_secs_f64());
            metrics::counter!(REQUESTS, "service" => service, "method" => method, "code" => code).increment(1);
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
        assert_eq!(
            method_label("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
            "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        );
        assert_eq!(method_label("/evil/../../x"), UNKNOWN_METHOD);
        // Our own package prefix with a method that does not exist is unknown too.
        assert_eq!(method_label("/switchyard.agent.v1.AgentService/Junk123"), UNKNOWN_METHOD);
        assert_eq!(method_label("/switchyard.nope.v1.X/Y"), UNKNOWN_METHOD);
        let mut headers = http::HeaderMap::new();
        assert_eq!(code_label(&headers), "0");
        headers.insert("grpc-status", http::HeaderValue::from_static("5"));
        assert_eq!(code_label(&headers), "5");
    }
}
