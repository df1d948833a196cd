//! The Helm chart `helm/switchyard`: lint, Kubernetes schema validation of what it renders,
//! assertions on the rendered objects, and the values it must refuse with a clear message.
//! Needs `helm` and `kubernetes-validate` (scripts/deps.sh installs them); a missing tool fails.

use std::collections::BTreeSet;

use serde_json::Value;
use switchyard_chart_tests::{
    chart_dir, chart_values, ci_enabled_services, ci_values_files, container, kubernetes_validate, pod_spec, strings,
    undocumented_values, value_docs, values_table, Helm, Rendered, Service, Values, RELEASE, SERVICES,
};

fn helm() -> Helm {
    Helm::new().unwrap_or_else(|e| panic!("{e:#}"))
}

fn render(values: &Values) -> Rendered {
    helm().render(values).unwrap_or_else(|e| panic!("{e:#}"))
}

fn render_error(values: &Values) -> String {
    helm().render_error(values).unwrap_or_else(|e| panic!("{e:#}"))
}

fn defaults() -> Values {
    Values::ci("default")
}

fn component_name(service: &str) -> String {
    format!("{RELEASE}-switchyard-{service}")
}

// ---------------------------------------------------------------------------------------------
// lint and schema validation

#[test]
fn lint_without_values_fails_naming_kafka_bootstrap_servers() {
    let out = helm().lint(&[]).unwrap();
    assert!(!out.success, "lint passed without kafka.bootstrapServers:\n{}", out.output());
    assert!(out.output().contains("kafka.bootstrapServers"), "{}", out.output());
}

#[test]
fn lint_passes_with_every_ci_values_file() {
    let files = ci_values_files().unwrap();
    let names: Vec<String> =
        files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect::<Vec<_>>();
    for expected in ["all-features-values.yaml", "default-values.yaml", "minimal-values.yaml"] {
        assert!(names.iter().any(|n| n == expected), "ci/{expected} missing: {names:?}");
    }
    let helm = helm();
    for file in &files {
        let out = helm.lint(&[file]).unwrap();
        assert!(out.success, "helm lint --strict -f {}:\n{}", file.display(), out.output());
        assert!(!out.output().contains("[WARNING]"), "{}", out.output());
    }
}

#[test]
fn every_ci_values_file_renders_objects_valid_for_kubernetes() {
    let helm = helm();
    let dir = tempfile::tempdir().unwrap();
    for file in ci_values_files().unwrap() {
        let out = helm.template(&Values::default().file(&file)).unwrap();
        assert!(out.success, "helm template -f {}:\n{}", file.display(), out.stderr);
        let rendered = dir.path().join(file.file_name().unwrap());
        std::fs::write(&rendered, &out.stdout).unwrap();
        let validation = kubernetes_validate(&rendered).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            validation.run.success && !validation.run.stdout.contains("ERROR"),
            "kubernetes-validate {}:\n{}",
            file.display(),
            validation.run.output()
        );
        // Only the custom resources lack a bundled schema; they are checked by the assertions below.
        for kind in &validation.unknown_kinds {
            assert!(["ScaledObject", "ServiceMonitor"].contains(&kind.as_str()), "no schema for kind {kind}");
        }
    }
}

#[test]
fn the_schema_refuses_unknown_keys_and_out_of_range_values() {
    let err = render_error(&defaults().yaml("router:\n  replicas: 3\n"));
    assert!(err.contains("router: Additional property replicas is not allowed"), "{err}");
    let err = render_error(&defaults().yaml("kafka:\n  partitions: 0\n"));
    assert!(err.contains("kafka.partitions"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// the services

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
        assert_eq!(mounts, [("config", "/etc/switchyard", true), ("tmp", "/tmp", false)], "{service}");
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

// ---------------------------------------------------------------------------------------------
// configuration

#[test]
fn the_config_map_holds_switchyard_toml_from_the_values() {
    // tests/binary_config.rs loads it with switchyard's own loader; here: what it holds.
    for file in ["default", "minimal", "all-features"] {
        let rendered = render(&Values::ci(file));
        let config = rendered.config_toml(rendered.main_config_map()).unwrap();
        for service in SERVICES {
            assert_eq!(config[service]["grpc_addr"].as_str(), Some("0.0.0.0:7100"), "{file} {service}");
            assert_eq!(config[service]["ops_addr"].as_str(), Some("0.0.0.0:9100"), "{file} {service}");
        }
        assert_eq!(config["telemetry"]["log_format"].as_str(), Some("json"));
    }

    let rendered = render(&defaults());
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["kafka"]["bootstrap_servers"].as_str(), Some("kafka.kafka.svc:9092"));
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(12));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(1));
    assert_eq!(config["kafka"]["topic_prefix"].as_str(), Some("switchyard."));
    assert_eq!(config["redis"]["url"].as_str(), Some("redis://redis.redis.svc:6379"));

    // Extra config is merged in; numbers the binary wants as integers stay integers.
    let rendered = render(&Values::ci("all-features"));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(24));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(3));
    assert_eq!(config["kafka"]["settings"]["security.protocol"].as_str(), Some("SASL_SSL"));
    assert_eq!(config["kafka"]["settings"]["fetch.wait.max.ms"].as_str(), Some("50"));
    assert_eq!(config["router"]["assign_interval"].as_str(), Some("1s"));
    assert_eq!(config["router"]["actor_threads"].as_integer(), Some(2));
    assert_eq!(config["router"]["headroom"].as_float(), Some(0.25));
    assert_eq!(config["redis"]["key_prefix"].as_str(), Some("prod"));
    assert_eq!(config["telemetry"]["service_name"].as_str(), Some("switchyard-prod"));
    // The Redis URL comes from the Secret, not the file.
    assert!(config["redis"].get("url").is_none());
}

#[test]
fn the_config_checksum_rolls_the_pods_when_the_config_changes() {
    let checksum = |r: &Rendered, service: &str| {
        r.get("Deployment", service)["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let base = render(&defaults());
    let sum = checksum(&base, "router");
    assert_eq!(sum.len(), 64, "sha256 hex: {sum}");
    for service in SERVICES {
        assert_eq!(checksum(&base, service), sum, "one ConfigMap, one checksum");
    }
    assert_eq!(checksum(&render(&defaults()), "router"), sum, "same values, same checksum");
    assert_eq!(
        checksum(&render(&defaults().yaml("router:\n  replicaCount: 4\n")), "router"),
        sum,
        "a change outside the config keeps it"
    );
    for change in [
        "config:\n  router:\n    assign_interval: 1s\n",
        "kafka:\n  partitions: 24\n",
        "kafka:\n  settings:\n    fetch.wait.max.ms: \"50\"\n",
        "redis:\n  url: redis://other:6379\n",
    ] {
        let changed = render(&defaults().yaml(change));
        assert_ne!(checksum(&changed, "router"), sum, "{change}");
        assert_ne!(checksum(&changed, "connectors"), sum, "{change}");
    }
}

#[test]
fn the_topic_job_is_a_pre_install_and_pre_upgrade_hook_running_switchyard_topics() {
    let rendered = render(&defaults().yaml("kafka:\n  partitions: 48\n  replicationFactor: 3\n  topicPrefix: t.\n"));
    let job = rendered.get("Job", "topics");
    let annotations = &job["metadata"]["annotations"];
    assert_eq!(annotations["helm.sh/hook"], "pre-install,pre-upgrade");
    assert_eq!(annotations["helm.sh/hook-delete-policy"], "before-hook-creation,hook-succeeded");
    assert_eq!(job["spec"]["backoffLimit"], 3);
    let c = container(job);
    assert_eq!(strings(&c["args"]), ["topics", "--config", "/etc/switchyard/switchyard.toml"]);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod_spec(job)["restartPolicy"], "Never");
    // Hooks run before the release's objects exist: the job mounts a hook ConfigMap created first.
    let volume = &pod_spec(job)["volumes"][0]["configMap"]["name"];
    let config_map = rendered
        .of_kind("ConfigMap")
        .find(|o| o["metadata"]["name"] == *volume)
        .unwrap_or_else(|| panic!("no ConfigMap {volume}"));
    assert_eq!(config_map["metadata"]["annotations"]["helm.sh/hook"], "pre-install,pre-upgrade");
    let hook_weight =
        |o: &Value| o["metadata"]["annotations"]["helm.sh/hook-weight"].as_str().unwrap().parse::<i32>().unwrap();
    assert!(hook_weight(config_map) < hook_weight(job));
    let config = rendered.config_toml(config_map).unwrap();
    assert_eq!(config["kafka"]["partitions"].as_integer(), Some(48));
    assert_eq!(config["kafka"]["replication_factor"].as_integer(), Some(3));
    assert_eq!(config["kafka"]["topic_prefix"].as_str(), Some("t."));
    assert_eq!(config["kafka"]["bootstrap_servers"].as_str(), Some("kafka.kafka.svc:9092"));

    let rendered = render(&defaults().yaml("topics:\n  job:\n    backoffLimit: 7\n"));
    assert_eq!(rendered.get("Job", "topics")["spec"]["backoffLimit"], 7);

    let rendered = render(&defaults().yaml("topics:\n  job:\n    enabled: false\n"));
    assert!(rendered.component("topics").next().is_none(), "{}", rendered.summary());
}

// ---------------------------------------------------------------------------------------------
// credentials

#[test]
fn default_values_render_no_secret_and_no_credentials() {
    let rendered = render(&defaults());
    assert_eq!(rendered.of_kind("Secret").count(), 0);
    for service in SERVICES {
        let env = container(rendered.get("Deployment", service))["env"].as_array().unwrap().clone();
        let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["SWITCHYARD_INSTANCE_ID"], "{service}");
        assert_eq!(env[0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    }
    let toml = rendered.main_config_map()["data"]["switchyard.toml"].as_str().unwrap();
    assert!(!toml.contains('@') && !toml.contains("sasl"), "{toml}");
}

#[test]
fn credentials_come_from_existing_secrets_through_the_environment() {
    let rendered = render(&Values::ci("all-features"));
    assert_eq!(rendered.of_kind("Secret").count(), 0);
    let deployment = rendered.get("Deployment", "router");
    let env = container(deployment)["env"].as_array().unwrap();
    let var =
        |name: &str| env.iter().find(|e| e["name"] == name).unwrap_or_else(|| panic!("no {name} in {env:?}")).clone();
    let secret = |name: &str| {
        let v = var(name);
        (
            v["valueFrom"]["secretKeyRef"]["name"].as_str().unwrap().to_owned(),
            v["valueFrom"]["secretKeyRef"]["key"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(secret("KAFKA_SASL_USERNAME"), ("kafka-credentials".into(), "user".into()));
    assert_eq!(secret("KAFKA_SASL_PASSWORD"), ("kafka-credentials".into(), "pass".into()));
    assert_eq!(
        var("SWITCHYARD_KAFKA__SETTINGS")["value"],
        r#"{"sasl.username"="$(KAFKA_SASL_USERNAME)","sasl.password"="$(KAFKA_SASL_PASSWORD)"}"#
    );
    assert_eq!(secret("REDIS_PASSWORD"), ("redis-credentials".into(), "password".into()));
    assert_eq!(var("SWITCHYARD_REDIS__URL")["value"], "rediss://:$(REDIS_PASSWORD)@redis.example.com:6380/0");
    // Kubernetes expands $(VAR) only from variables defined before.
    let position = |name: &str| env.iter().position(|e| e["name"] == name).unwrap();
    assert!(position("KAFKA_SASL_PASSWORD") < position("SWITCHYARD_KAFKA__SETTINGS"));
    assert!(position("REDIS_PASSWORD") < position("SWITCHYARD_REDIS__URL"));
    // Helper variables must not look like configuration to the binary.
    let switchyard_vars: BTreeSet<&str> =
        env.iter().filter_map(|e| e["name"].as_str()).filter(|n| n.starts_with("SWITCHYARD_")).collect();
    assert_eq!(
        switchyard_vars,
        ["SWITCHYARD_INSTANCE_ID", "SWITCHYARD_KAFKA__SETTINGS", "SWITCHYARD_REDIS__URL"].into()
    );
    // The topic job gets the Kafka credentials too.
    let job_env = container(rendered.get("Job", "topics"))["env"].as_array().unwrap();
    assert!(job_env.iter().any(|e| e["name"] == "SWITCHYARD_KAFKA__SETTINGS"));

    // The full URL from a Secret.
    let rendered = render(
        &Values::default().yaml("kafka:\n  bootstrapServers: k:9092\nredis:\n  existingSecret: redis-url-secret\n"),
    );
    let env = container(rendered.get("Deployment", "capacity"))["env"].as_array().unwrap().clone();
    let url = env.iter().find(|e| e["name"] == "SWITCHYARD_REDIS__URL").unwrap();
    assert_eq!(url["valueFrom"]["secretKeyRef"]["name"], "redis-url-secret");
    assert_eq!(url["valueFrom"]["secretKeyRef"]["key"], "redis-url");
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config.get("redis").is_none(), "{config:?}");
}

// ---------------------------------------------------------------------------------------------
// helm test, ServiceMonitor

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

// ---------------------------------------------------------------------------------------------
// values that must be refused

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
        ("config:\n  router:\n    weights: [{a: 1}]\n", "config: weights = map[a:1] cannot be written as TOML"),
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

// ---------------------------------------------------------------------------------------------
// documentation

/// The values table of helm/switchyard/README.md is generated from the `# --` comments of
/// values.yaml. `SWITCHYARD_BLESS=1 cargo nextest run -p switchyard-chart-tests readme` rewrites it.
#[test]
fn readme_documents_every_value() {
    let (text, values) = chart_values().unwrap();
    let docs = value_docs(&text);
    let undocumented = undocumented_values(&values, &docs);
    assert!(undocumented.is_empty(), "values without a `# --` comment: {undocumented:?}");
    let table = values_table(&values, &docs);
    let readme_path = chart_dir().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (start, end) = ("<!-- values-table:start -->\n", "<!-- values-table:end -->");
    let (before, rest) = readme.split_once(start).expect("README.md lacks the values-table:start marker");
    let (current, after) = rest.split_once(end).expect("README.md lacks the values-table:end marker");
    if current != table {
        if std::env::var_os("SWITCHYARD_BLESS").is_some() {
            std::fs::write(&readme_path, format!("{before}{start}{table}{end}{after}")).unwrap();
        } else {
            panic!(
                "helm/switchyard/README.md's values table is out of date with values.yaml; regenerate it with \
                 SWITCHYARD_BLESS=1 cargo nextest run -p switchyard-chart-tests readme"
            );
        }
    }
}
