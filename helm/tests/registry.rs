//! The chart and the registry (`switchyard_registry`) name the same services: the chart's
//! service list comes from its values blocks (every top-level block with `service.grpcPort`),
//! the registry is the binary's. A service in one and not the other fails here (and the
//! binary refuses a ConfigMap section it does not know: tests/binary_config.rs). A sixth
//! service needs one values block and nothing else in the chart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_json::{json, Value};
use switchyard_chart_tests::{chart_values, container, strings, Helm, Rendered, Service, Values, RELEASE, SERVICES};

fn helm() -> Helm {
    Helm::new().unwrap_or_else(|e| panic!("{e:#}"))
}

fn render(values: &Values) -> Rendered {
    helm().render(values).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Components of the rendered objects of `kind`, in render order.
fn components<'a>(rendered: &'a Rendered, kind: &'a str) -> Vec<&'a str> {
    rendered.of_kind(kind).map(|o| o["metadata"]["labels"]["app.kubernetes.io/component"].as_str().unwrap()).collect()
}

/// The sections of the rendered switchyard.toml that are services (not the shared ones).
fn service_sections(rendered: &Rendered) -> BTreeSet<String> {
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    let shared = ["kafka", "redis", "telemetry", "auth", "limits"];
    config.keys().filter(|k| !shared.contains(&k.as_str())).cloned().collect()
}

#[test]
fn values_yaml_has_one_block_per_service_of_the_registry_with_its_ports() {
    let (_, values) = chart_values().unwrap();
    let mut blocks: Vec<(u64, &str)> = values
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, block)| block["service"]["grpcPort"].as_u64().map(|port| (port, name.as_str())))
        .collect();
    blocks.sort();
    let names: Vec<&str> = blocks.iter().map(|(_, name)| *name).collect();
    assert_eq!(names, SERVICES, "values.yaml's service blocks against the registry");
    for service in Service::ALL {
        let block = &values[service.name()];
        assert_eq!(block["enabled"], true, "{service}");
        assert_eq!(block["service"]["grpcPort"], service.grpc_port(), "{service}");
        assert_eq!(block["service"]["opsPort"], service.ops_port(), "{service}");
        // Every service's consumer group is named after it (switchyard_kit::runner).
        assert_eq!(block["autoscaling"]["keda"]["consumerGroup"], service.name(), "{service}");
    }
}

#[test]
fn the_chart_renders_exactly_the_services_of_the_registry() {
    let rendered = render(&Values::ci("default"));
    assert_eq!(components(&rendered, "Deployment"), SERVICES, "{}", rendered.summary());
    assert_eq!(components(&rendered, "Service"), SERVICES, "{}", rendered.summary());
    let expected: BTreeSet<String> = SERVICES.iter().map(|s| s.to_string()).collect();
    assert_eq!(service_sections(&rendered), expected);
    for service in Service::ALL {
        let args = strings(&container(rendered.get("Deployment", service.name()))["args"]).join(" ");
        assert_eq!(args, format!("{service} --config /etc/switchyard/switchyard.toml"));
    }
    // Disabled services keep their config section (one ConfigMap for every pod).
    let rendered = render(&Values::ci("minimal"));
    assert_eq!(service_sections(&rendered), expected);
}

/// A service the registry does not have, on the next offset's ports.
const EXTRA: &str = "extra";

fn extra_ports() -> (u16, u16) {
    let offset = Service::max_offset() + 1;
    (7100 + offset, 9100 + offset)
}

/// The `surveys` block of values.yaml as the block of service `EXTRA`.
fn extra_block() -> String {
    let (_, values) = chart_values().unwrap();
    let (grpc, ops) = extra_ports();
    let mut block = values["surveys"].clone();
    block["service"]["grpcPort"] = json!(grpc);
    block["service"]["opsPort"] = json!(ops);
    block["autoscaling"]["keda"]["consumerGroup"] = json!(EXTRA);
    serde_norway::to_string(&json!({ EXTRA: block })).unwrap()
}

#[test]
fn one_more_service_is_one_values_block() {
    assert!(Service::from_name(EXTRA).is_none(), "pick another name: the registry has {EXTRA}");
    let (grpc, ops) = extra_ports();
    let rendered = render(&Values::ci("default").yaml(&extra_block()));
    let all: Vec<&str> = SERVICES.iter().copied().chain([EXTRA]).collect();
    assert_eq!(components(&rendered, "Deployment"), all, "{}", rendered.summary());
    assert_eq!(components(&rendered, "Service"), all);
    let deployment = rendered.get("Deployment", EXTRA);
    assert_eq!(deployment["metadata"]["name"], format!("{RELEASE}-switchyard-{EXTRA}").as_str());
    assert_eq!(strings(&container(deployment)["args"]), [EXTRA, "--config", "/etc/switchyard/switchyard.toml"]);
    let ports: Vec<&Value> = rendered.get("Service", EXTRA)["spec"]["ports"].as_array().unwrap().iter().collect();
    assert_eq!((ports[0]["port"].as_u64(), ports[1]["port"].as_u64()), (Some(grpc.into()), Some(ops.into())));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config[EXTRA]["grpc_addr"].as_str(), Some("0.0.0.0:7100"));
    assert_eq!(config[EXTRA]["ops_addr"].as_str(), Some("0.0.0.0:9100"));
    let script = strings(&container(rendered.get("Pod", "test"))["command"]).last().unwrap().to_string();
    assert!(script.contains(&format!("check {RELEASE}-switchyard-{EXTRA}:{grpc}")), "{script}");

    // The chart's checks cover it too.
    let reserved = format!("config:\n  {EXTRA}:\n    grpc_addr: 0.0.0.0:1\n");
    let err = helm().render_error(&Values::ci("default").yaml(&extra_block()).yaml(&reserved)).unwrap();
    assert!(err.contains(&format!("config.{EXTRA}.grpc_addr is set by the chart")), "{err}");
    let mut all_off = Values::ci("default").yaml(&extra_block());
    for service in &all {
        all_off = all_off.yaml(&format!("{service}:\n  enabled: false\n"));
    }
    let err = helm().render_error(&all_off).unwrap();
    assert!(err.contains(&format!("enable at least one of {}", all.join(", "))), "{err}");
}

#[test]
fn a_block_that_is_not_a_whole_service_is_refused() {
    // A misspelt service name is a new block, which the schema holds to a service's shape.
    let err = helm().render_error(&Values::ci("default").yaml("routr:\n  replicaCount: 3\n")).unwrap();
    assert!(err.contains("routr: enabled is required") && err.contains("routr: service is required"), "{err}");
    let err = helm().render_error(&Values::ci("default").yaml("routr:\n  replicas: 3\n")).unwrap();
    assert!(err.contains("routr: Additional property replicas is not allowed"), "{err}");
}
