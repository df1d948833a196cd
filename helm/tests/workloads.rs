//! What the chart renders for each service: its Deployment (subcommand, probes, ports,
//! resources, a hardened security context, the read-only config mount, topology spread) and
//! Service with the registry's ports, pods without service links, disabling a service removing
//! all its objects, and the minimal values running routing only. Needs `helm`.

mod common;

use std::collections::BTreeSet;

use common::{component_name, defaults, render};
use serde_json::Value;
use switchyard_chart_tests::{ci_enabled_services, container, pod_spec, strings, Service, Values, RELEASE, SERVICES};

#[test]
fn each_enabled_service_runs_its_subcommand_hardened_with_probes_and_resources() {
    let rendered = render(&defaults());
    for service in SERVICES {
        let deployment = rendered.get("Deployment", service);
        assert_eq!(deployment["metadata"]["name"], component_name(service).as_str());
        let c = container(deployment);
        assert_eq!(strings(&c["args"]), [service, "--config", "/etc/switchyard/switchyard.toml"], "{service}");
        for (probe, path) in [
            ("startupProbe", "/health/livez"),
            ("livenessProbe", "/health/livez"),
            ("readinessProbe", "/health/readyz"),
        ] {
            assert_eq!(c[probe]["httpGet"]["path"], path, "{service} {probe}");
            assert_eq!(c[probe]["httpGet"]["port"], "ops", "{service} {probe}");
        }
        let ports: Vec<(&str, u64)> = c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["containerPort"].as_u64().unwrap()))
            .collect();
        assert_eq!(ports, [("grpc", 7100), ("ops", 9100)], "{service}");
        for field in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(c["resources"][field][resource].is_string(), "{service}: resources.{field}.{resource}");
            }
        }
        let sc = &c["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{service}");
        assert_eq!(sc["runAsUser"], 65532, "{service}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{service}");
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{service}");
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{service}");
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{service}");
        let pod = pod_spec(deployment);
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{service}");
        assert_eq!(pod["terminationGracePeriodSeconds"], 30, "{service}");
        // Read-only root: the config is mounted read-only and /tmp is an emptyDir.
        let mounts: Vec<(&str, &str, bool)> = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["name"].as_str().unwrap(), m["mountPath"].as_str().unwrap(), m["readOnly"] == true))
            .collect();
        // And the issuer's key (tests/auth.rs), read-only.
        assert_eq!(
            mounts,
            [
                ("config", "/etc/switchyard", true),
                ("tmp", "/tmp", false),
                ("auth-issuer-0", "/etc/switchyard/auth/issuers/0", true)
            ],
            "{service}"
        );
        assert_eq!(pod["volumes"][0]["configMap"]["name"], format!("{RELEASE}-switchyard").as_str());
        assert!(pod["volumes"][1]["emptyDir"].is_object());
        // Zone then host spread, counting this service's pods only.
        let spread = pod["topologySpreadConstraints"].as_array().unwrap();
        let keys: Vec<&str> = spread.iter().map(|c| c["topologyKey"].as_str().unwrap()).collect();
        assert_eq!(keys, ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]);
        for constraint in spread {
            assert_eq!(constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"], service);
        }
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/component"], service);
        assert_eq!(deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"], service);

        let svc = rendered.get("Service", service);
        let ports: Vec<(&str, &str)> = svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap(), p["targetPort"].as_str().unwrap()))
            .collect();
        assert_eq!(ports, [("grpc", "grpc"), ("ops", "ops")], "{service}");
        assert_eq!(svc["spec"]["selector"]["app.kubernetes.io/component"], service);
    }
}

#[test]
fn service_ports_default_to_the_documented_ones() {
    let rendered = render(&defaults());
    // The registry's default ports.
    for service in Service::ALL {
        let ports = &rendered.get("Service", service.name())["spec"]["ports"];
        assert_eq!(ports[0]["port"], service.grpc_port(), "{service}");
        assert_eq!(ports[1]["port"], service.ops_port(), "{service}");
    }
}

#[test]
fn no_pod_gets_service_links_that_switchyard_would_read_as_config() {
    // A Service named <release>-switchyard-router would give SWITCHYARD_ROUTER_SERVICE_HOST etc.,
    // which the binary reads as the unknown key router_service_host and exits 2.
    let rendered = render(&Values::ci("all-features"));
    let pods: Vec<&Value> = rendered
        .objects
        .iter()
        .filter(|o| ["Deployment", "Job", "Pod"].contains(&o["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        pods.len(),
        SERVICES.len() + 2,
        "a Deployment per service, the topic Job, the test Pod: {}",
        rendered.summary()
    );
    for object in pods {
        assert_eq!(pod_spec(object)["enableServiceLinks"], false, "{}", object["metadata"]["name"]);
        assert_eq!(pod_spec(object)["automountServiceAccountToken"], false, "{}", object["metadata"]["name"]);
    }
}

#[test]
fn disabling_a_service_removes_all_its_objects() {
    let all = render(&Values::ci("all-features"));
    for service in SERVICES {
        assert!(all.find("Deployment", service).is_some());
        let rendered = render(&Values::ci("all-features").yaml(&format!("{service}:\n  enabled: false\n")));
        let left: Vec<String> = rendered.component(service).map(|o| o["kind"].as_str().unwrap().to_owned()).collect();
        assert!(left.is_empty(), "{service} disabled but rendered {left:?}");
        assert!(!rendered.text.contains(&format!("{}\n", component_name(service))), "{service} still named");
        assert!(!rendered.text.contains(&format!("{}:", component_name(service))), "{service} still addressed");
        // The other services keep theirs.
        for other in SERVICES.iter().filter(|s| **s != service) {
            assert!(rendered.find("Deployment", other).is_some(), "{other} gone with {service}");
        }
    }
    // The objects that came with the ci values, for the record of what disabling removed.
    let kinds: BTreeSet<&str> = all.component("router").map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "PodDisruptionBudget", "ScaledObject", "Service"].into());
    let kinds: BTreeSet<&str> = all.component("connectors").map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"].into());
}

#[test]
fn minimal_values_run_routing_only() {
    let rendered = render(&Values::ci("minimal"));
    let deployments: Vec<&str> = rendered
        .of_kind("Deployment")
        .map(|d| d["metadata"]["labels"]["app.kubernetes.io/component"].as_str().unwrap())
        .collect();
    // Routing (and any service of the registry the file does not turn off).
    let enabled = ci_enabled_services("minimal").unwrap();
    assert!(enabled.starts_with(&["connectors", "router", "capacity"]), "{enabled:?}");
    assert!(!enabled.contains(&"automessages") && !enabled.contains(&"surveys"), "{enabled:?}");
    assert_eq!(deployments, enabled);
    let services: Vec<&str> = rendered.of_kind("Service").map(|d| d["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(services, enabled.iter().map(|s| component_name(s)).collect::<Vec<_>>());
    assert_eq!(rendered.of_kind("Job").count(), 0);
    assert_eq!(rendered.of_kind("Pod").count(), 0);
}
