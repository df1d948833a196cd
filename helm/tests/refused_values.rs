//! Values the chart must refuse to render, each with a message naming the key and the fix:
//! missing Kafka or Redis, HPA and KEDA together, credentials in values, keys the chart sets
//! itself, inconsistent budgets and replica bounds, every service disabled. Needs `helm`.

mod common;

use common::{defaults, render_error};
use switchyard_chart_tests::{Values, SERVICES};

#[test]
fn missing_kafka_bootstrap_servers_is_refused_naming_the_key() {
    let err = render_error(&Values::default().yaml("redis:\n  url: redis://r:6379\n"));
    assert!(err.contains("kafka.bootstrapServers"), "{err}");
    let err = render_error(&defaults().yaml("kafka:\n  bootstrapServers: kafka\n"));
    assert!(err.contains(r#"kafka.bootstrapServers must be host:port[,host:port...], got "kafka""#), "{err}");
}

#[test]
fn missing_redis_is_refused_with_both_ways_to_set_it() {
    let err = render_error(&Values::default().yaml("kafka:\n  bootstrapServers: k:9092\n"));
    assert!(
        err.contains(
            "Redis is required: set redis.url (redis://host:6379, without a password) or redis.existingSecret"
        ),
        "{err}"
    );
}

#[test]
fn hpa_and_keda_together_are_refused_naming_the_service() {
    let err = render_error(
        &defaults().yaml("connectors:\n  autoscaling:\n    enabled: true\n    keda:\n      enabled: true\n"),
    );
    assert!(err.contains("connectors: autoscaling.enabled and autoscaling.keda.enabled cannot both be true"), "{err}");
}

#[test]
fn credentials_in_values_are_refused() {
    let err = render_error(&defaults().yaml("redis:\n  url: redis://:hunter2@redis:6379\n"));
    assert!(err.contains("redis.url must not carry credentials"), "{err}");
    assert!(!err.contains("hunter2"), "the password is echoed: {err}");
    let err = render_error(&defaults().yaml("kafka:\n  settings:\n    sasl.password: hunter2\n"));
    assert!(err.contains(r#"kafka.settings."sasl.password" must not be in values"#), "{err}");
    let err = render_error(&defaults().yaml("kafka:\n  existingSecret: kafka-credentials\n"));
    assert!(err.contains("security.protocol"), "{err}");
}

#[test]
fn other_inconsistent_values_are_refused_with_the_fix() {
    for (values, message) in [
        (
            "config:\n  kafka:\n    partitions: 3\n",
            "config.kafka.partitions is set by the chart: use kafka.partitions instead",
        ),
        (
            "config:\n  router:\n    grpc_addr: 0.0.0.0:1\n",
            "config.router.grpc_addr is set by the chart: use containerPorts.grpc",
        ),
        ("config:\n  redis:\n    url: redis://x:1\n", "config.redis.url is set by the chart"),
        ("redis:\n  url: http://redis:6379\n", "redis.url must start with redis:// or rediss://"),
        (
            "router:\n  podDisruptionBudget:\n    minAvailable: 1\n    maxUnavailable: 1\n",
            "router: podDisruptionBudget takes minAvailable or maxUnavailable, not both",
        ),
        (
            "capacity:\n  autoscaling:\n    enabled: true\n    minReplicas: 5\n    maxReplicas: 2\n",
            "capacity: autoscaling.minReplicas (5) is above autoscaling.maxReplicas (2)",
        ),
        ("config:\n  router:\n    weights: [null]\n", "config: weights = <nil> cannot be written as TOML"),
    ] {
        let err = render_error(&defaults().yaml(values));
        assert!(err.contains(message), "{values}: {err}");
    }
    let mut all_off = defaults();
    for service in SERVICES {
        all_off = all_off.yaml(&format!("{service}:\n  enabled: false\n"));
    }
    let err = render_error(&all_off);
    assert!(err.contains("every service is disabled"), "{err}");
}
