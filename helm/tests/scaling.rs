//! How the chart scales the services: replica counts from the values (left to the autoscaler
//! when there is one), HorizontalPodAutoscalers and PodDisruptionBudgets only when asked, and
//! KEDA ScaledObjects on each service's consumer-group lag. Needs `helm`.

mod common;

use common::{component_name, defaults, render};
use serde_json::Value;
use switchyard_chart_tests::{Values, SERVICES};

#[test]
fn replicas_follow_values_and_the_router_runs_two_by_default() {
    let rendered = render(&defaults());
    for (service, replicas) in [("connectors", 2), ("router", 2), ("capacity", 1), ("automessages", 1), ("surveys", 1)]
    {
        assert_eq!(rendered.get("Deployment", service)["spec"]["replicas"], replicas, "{service}");
    }
    let rendered = render(&defaults().yaml("router:\n  replicaCount: 5\nsurveys:\n  replicaCount: 0\n"));
    assert_eq!(rendered.get("Deployment", "router")["spec"]["replicas"], 5);
    assert_eq!(rendered.get("Deployment", "surveys")["spec"]["replicas"], 0);
    // An autoscaled Deployment leaves its replica count to the autoscaler.
    let rendered = render(&Values::ci("all-features"));
    for service in ["connectors", "router", "capacity"] {
        assert!(rendered.get("Deployment", service)["spec"].get("replicas").is_none(), "{service}");
    }
    assert_eq!(rendered.get("Deployment", "surveys")["spec"]["replicas"], 2);
}

#[test]
fn hpa_and_pdb_render_only_when_asked_and_follow_values() {
    let rendered = render(&defaults());
    assert_eq!(rendered.of_kind("HorizontalPodAutoscaler").count(), 0);
    assert_eq!(rendered.of_kind("PodDisruptionBudget").count(), 0);
    assert_eq!(rendered.of_kind("ScaledObject").count(), 0);

    let rendered = render(&defaults().yaml(
        "router:\n  podDisruptionBudget:\n    maxUnavailable: 1\n  autoscaling:\n    enabled: true\n    minReplicas: 3\n    maxReplicas: 9\n    targetCPUUtilizationPercentage: 65\n    targetMemoryUtilizationPercentage: 75\n    behavior:\n      scaleDown:\n        stabilizationWindowSeconds: 120\n",
    ));
    let hpas: Vec<&Value> = rendered.of_kind("HorizontalPodAutoscaler").collect();
    assert_eq!(hpas.len(), 1);
    let hpa = rendered.get("HorizontalPodAutoscaler", "router");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], component_name("router").as_str());
    assert_eq!(hpa["spec"]["minReplicas"], 3);
    assert_eq!(hpa["spec"]["maxReplicas"], 9);
    let targets: Vec<(&str, u64)> = hpa["spec"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["resource"]["name"].as_str().unwrap(), m["resource"]["target"]["averageUtilization"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(targets, [("cpu", 65), ("memory", 75)]);
    assert_eq!(hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 120);

    let pdbs: Vec<&Value> = rendered.of_kind("PodDisruptionBudget").collect();
    assert_eq!(pdbs.len(), 1);
    let pdb = rendered.get("PodDisruptionBudget", "router");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert_eq!(pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"], "router");

    // Custom metrics are appended; a null CPU target drops it.
    let rendered = render(&Values::ci("all-features"));
    let hpa = rendered.get("HorizontalPodAutoscaler", "capacity");
    let types: Vec<&str> =
        hpa["spec"]["metrics"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["Resource", "Pods"]);
    let rendered = render(&defaults().yaml(
        "capacity:\n  autoscaling:\n    enabled: true\n    targetCPUUtilizationPercentage: null\n    metrics:\n      - type: Pods\n        pods:\n          metric:\n            name: m\n          target:\n            type: AverageValue\n            averageValue: \"1\"\n",
    ));
    let metrics = &rendered.get("HorizontalPodAutoscaler", "capacity")["spec"]["metrics"];
    assert_eq!(metrics.as_array().unwrap().len(), 1);
    assert_eq!(metrics[0]["type"], "Pods");
}

#[test]
fn keda_scaled_object_scales_on_the_consumer_group_lag() {
    let rendered = render(&Values::ci("all-features"));
    let scaled = rendered.get("ScaledObject", "router");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], component_name("router").as_str());
    assert_eq!(scaled["spec"]["minReplicaCount"], 2);
    assert_eq!(scaled["spec"]["maxReplicaCount"], 24);
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "kafka");
    let metadata = &trigger["metadata"];
    assert_eq!(metadata["bootstrapServers"], "kafka-bootstrap.kafka.svc.cluster.local:9096");
    assert_eq!(metadata["consumerGroup"], "router");
    assert_eq!(metadata["topic"], "prod.switchyard.routing");
    assert_eq!(metadata["lagThreshold"], "50");
    assert_eq!(metadata["sasl"], "scram_sha512");
    assert_eq!(trigger["authenticationRef"]["name"], "kafka-trigger-auth");
    assert!(rendered.find("HorizontalPodAutoscaler", "router").is_none(), "KEDA owns the router's HPA");

    // Each service scales on its own group; a service without a default topic counts all of the group's.
    let mut values = defaults();
    for service in SERVICES {
        values = values.yaml(&format!("{service}:\n  autoscaling:\n    keda:\n      enabled: true\n"));
    }
    let rendered = render(&values);
    for (service, topic) in [
        ("connectors", Some("switchyard.assignments")),
        ("router", Some("switchyard.routing")),
        ("capacity", None),
        ("automessages", None),
        ("surveys", Some("switchyard.conversations")),
    ] {
        let metadata = &rendered.get("ScaledObject", service)["spec"]["triggers"][0]["metadata"];
        assert_eq!(metadata["consumerGroup"], service);
        assert_eq!(metadata["topic"].as_str(), topic, "{service}");
        assert_eq!(metadata["lagThreshold"], "100");
        assert_eq!(metadata["bootstrapServers"], "kafka.kafka.svc:9092");
    }
}
