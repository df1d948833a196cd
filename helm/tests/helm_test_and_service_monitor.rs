//! The optional objects around the services: the `helm test` Pod that checks the gRPC health of
//! each enabled service, and the ServiceMonitor that selects every service's Service when
//! enabled. Needs `helm`.

mod common;

use common::{component_name, defaults, render};
use serde_json::Value;
use switchyard_chart_tests::{ci_enabled_services, container, strings, Rendered, Service, Values, SERVICES};

#[test]
fn the_helm_test_pod_checks_grpc_health_of_each_enabled_service() {
    let checks = |rendered: &Rendered| -> Vec<String> {
        let pod = rendered.get("Pod", "test");
        assert_eq!(pod["metadata"]["annotations"]["helm.sh/hook"], "test");
        let c = container(pod);
        assert!(c["image"].as_str().unwrap().starts_with("fullstorydev/grpcurl:"));
        assert_eq!(c["securityContext"]["runAsNonRoot"], true);
        let script = strings(&c["command"]).last().unwrap().to_string();
        assert!(script.contains("grpc.health.v1.Health/Check"), "{script}");
        assert!(script.contains(r#"grep -q '"SERVING"'"#), "{script}");
        script.lines().filter_map(|l| l.trim().strip_prefix("check ")).map(str::to_owned).collect()
    };
    let rendered = render(&defaults());
    let expected: Vec<String> =
        Service::ALL.iter().map(|s| format!("{}:{}", component_name(s.name()), s.grpc_port())).collect();
    assert_eq!(checks(&rendered), expected);

    let rendered = render(&Values::ci("minimal").yaml("tests:\n  enabled: true\n"));
    let expected: Vec<String> = ci_enabled_services("minimal")
        .unwrap()
        .iter()
        .map(|s| format!("{}:{}", component_name(s), Service::from_name(s).unwrap().grpc_port()))
        .collect();
    assert_eq!(checks(&rendered), expected);
    assert_eq!(
        checks(&rendered)[..3],
        [
            format!("{}:7101", component_name("connectors")),
            format!("{}:7102", component_name("router")),
            format!("{}:7103", component_name("capacity"))
        ]
    );
    let rendered = render(&Values::ci("minimal"));
    assert!(rendered.find("Pod", "test").is_none());
}

#[test]
fn the_service_monitor_renders_only_when_enabled() {
    assert_eq!(render(&defaults()).of_kind("ServiceMonitor").count(), 0);
    let rendered = render(&Values::ci("all-features"));
    let monitors: Vec<&Value> = rendered.of_kind("ServiceMonitor").collect();
    assert_eq!(monitors.len(), 1);
    let monitor = monitors[0];
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["namespace"], "monitoring");
    assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
    assert_eq!(strings(&monitor["spec"]["namespaceSelector"]["matchNames"]), ["routing"]);
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "ops");
    assert_eq!(endpoint["path"], "/metrics");
    assert_eq!(endpoint["interval"], "15s");
    // It selects every service's Service.
    let selector = monitor["spec"]["selector"]["matchLabels"].as_object().unwrap();
    for service in SERVICES {
        let labels = rendered.get("Service", service)["metadata"]["labels"].as_object().unwrap();
        for (key, value) in selector {
            assert_eq!(labels.get(key), Some(value), "{service} {key}");
        }
    }
}
