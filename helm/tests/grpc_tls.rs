//! TLS on the gRPC port in the chart: off by default; from an existing Secret or a cert-manager
//! Certificate, mounted read-only in every service pod and named in `[tls]` of the config; the
//! `helm test` pod calls the services over TLS (with a client certificate under mTLS); probes
//! stay on the plain HTTP ops port; contradicting values are refused naming the key. Needs `helm`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{component_name, defaults, render, render_error};
use serde_json::Value;
use switchyard_chart_tests::{container, pod_spec, strings, Rendered, Values, RELEASE, SERVICES};

const MOUNT: &str = "/etc/switchyard-tls";

/// The `tls` volume of a Deployment or Pod (secret name, keys) and where its container mounts it.
fn tls_volume(object: &Value) -> Option<(String, Vec<String>, String)> {
    let pod = if object["kind"] == "Pod" { &object["spec"] } else { pod_spec(object) };
    let volume = pod["volumes"].as_array()?.iter().find(|v| v["name"] == "tls")?;
    let keys = volume["secret"]["items"]
        .as_array()
        .map(|items| items.iter().map(|i| i["key"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    let mount = container(object)["volumeMounts"].as_array()?.iter().find(|m| m["name"] == "tls")?;
    assert_eq!(mount["readOnly"], true);
    Some((volume["secret"]["secretName"].as_str()?.to_owned(), keys, mount["mountPath"].as_str()?.to_owned()))
}

fn test_script(rendered: &Rendered) -> String {
    strings(&container(rendered.get("Pod", "test"))["command"]).last().unwrap().to_string()
}

#[test]
fn tls_is_off_by_default() {
    let rendered = render(&defaults());
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config.get("tls").is_none(), "{config:?}");
    for service in SERVICES {
        assert!(tls_volume(rendered.get("Deployment", service)).is_none(), "{service}");
    }
    assert_eq!(rendered.of_kind("Certificate").count(), 0);
    assert!(test_script(&rendered).contains("tls=\"-plaintext\""));
}

#[test]
fn an_existing_secret_is_mounted_and_named_in_the_config() {
    let rendered = render(&Values::ci("tls"));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    let tls = config["tls"].as_table().unwrap();
    assert_eq!(tls["cert_file"].as_str(), Some("/etc/switchyard-tls/tls.crt"));
    assert_eq!(tls["key_file"].as_str(), Some("/etc/switchyard-tls/tls.key"));
    assert_eq!(tls["client_ca_file"].as_str(), Some("/etc/switchyard-tls/ca.crt"));
    assert_eq!(tls["client_auth"].as_str(), Some("optional"));
    for service in SERVICES {
        let deployment = rendered.get("Deployment", service);
        let (secret, keys, mount) = tls_volume(deployment).unwrap_or_else(|| panic!("{service}: no tls volume"));
        assert_eq!((secret.as_str(), mount.as_str()), ("switchyard-grpc-tls", MOUNT), "{service}");
        assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"], "{service}");
        // Every file the config names is one of the mounted keys.
        for key in ["cert_file", "key_file", "client_ca_file"] {
            let path = tls[key].as_str().unwrap();
            assert!(keys.iter().any(|k| path == format!("{mount}/{k}")), "{service}: {path}");
        }
        // Probes stay on the plain HTTP ops port.
        let c = container(deployment);
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            assert_eq!(c[probe]["httpGet"]["port"], "ops", "{service} {probe}");
        }
    }
    // Without client certificates, ca.crt is not needed.
    let rendered = render(&Values::ci("tls").yaml("tls:\n  clientAuth: none\n"));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config["tls"].get("client_ca_file").is_none());
    assert_eq!(config["tls"]["client_auth"].as_str(), Some("none"));
    let (_, keys, _) = tls_volume(rendered.get("Deployment", "router")).unwrap();
    assert_eq!(keys, ["tls.crt", "tls.key"]);
}

#[test]
fn the_helm_test_pod_calls_over_tls_with_a_client_certificate_under_mtls() {
    let rendered = render(&Values::ci("tls").yaml("tls:\n  clientAuth: required\n"));
    let pod = rendered.get("Pod", "test");
    let (secret, keys, mount) = tls_volume(pod).unwrap();
    assert_eq!((secret.as_str(), mount.as_str()), ("switchyard-grpc-tls", "/tls"));
    assert!(keys.is_empty(), "every key of the Secret, ca.crt when there is one: {keys:?}");
    let script = test_script(&rendered);
    assert!(script.contains("tls=\"-cacert /tls/ca.crt\""), "{script}");
    assert!(script.contains("tls=\"$tls -cert /tls/tls.crt -key /tls/tls.key\""), "{script}");
    assert!(script.contains("grpcurl $tls "), "{script}");
    assert!(!script.contains("-plaintext"), "{script}");
    let optional = test_script(&render(&Values::ci("tls")));
    assert!(!optional.contains("-cert /tls/tls.crt"), "{optional}");
}

#[test]
fn cert_manager_issues_a_certificate_for_every_service_name() {
    let rendered = render(&Values::ci("all-features"));
    let certificates: Vec<&Value> = rendered.of_kind("Certificate").collect();
    assert_eq!(certificates.len(), 1);
    let certificate = certificates[0];
    let secret = format!("{RELEASE}-switchyard-grpc-tls");
    assert_eq!(certificate["apiVersion"], "cert-manager.io/v1");
    assert_eq!(certificate["spec"]["secretName"], secret.as_str());
    assert_eq!(certificate["spec"]["issuerRef"]["name"], "switchyard-ca");
    assert_eq!(certificate["spec"]["issuerRef"]["kind"], "ClusterIssuer");
    assert_eq!(certificate["spec"]["duration"], "720h");
    assert_eq!(
        strings(&certificate["spec"]["usages"]),
        ["digital signature", "key encipherment", "server auth", "client auth"]
    );
    let names = strings(&certificate["spec"]["dnsNames"]);
    for service in SERVICES {
        let host = component_name(service);
        for name in [host.clone(), format!("{host}.routing.svc"), format!("{host}.routing.svc.cluster.local")] {
            assert!(names.contains(&name.as_str()), "{name} not in {names:?}");
        }
    }
    assert!(names.contains(&"partners.switchyard.example.com"));
    for service in SERVICES {
        let (name, keys, _) = tls_volume(rendered.get("Deployment", service)).unwrap();
        assert_eq!(name, secret, "{service}");
        assert_eq!(keys, ["tls.crt", "tls.key", "ca.crt"], "{service}");
    }
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["tls"]["client_auth"].as_str(), Some("required"));
}

#[test]
fn contradicting_tls_values_are_refused_naming_the_key() {
    let both = "tls:\n  existingSecret: mine\n  certManager:\n    enabled: true\n    issuerRef:\n      name: ca\n";
    let err = render_error(&defaults().yaml(both));
    assert!(err.contains("tls.existingSecret and tls.certManager.enabled exclude each other"), "{err}");
    let err = render_error(&defaults().yaml("tls:\n  certManager:\n    enabled: true\n"));
    assert!(err.contains("tls.certManager.issuerRef.name is required"), "{err}");
    let err = render_error(&defaults().yaml("tls:\n  clientAuth: required\n"));
    assert!(err.contains("tls.clientAuth required needs TLS"), "{err}");
    let err = render_error(&defaults().yaml("tls:\n  clientAuth: always\n"));
    assert!(err.contains("tls.clientAuth"), "{err}");
    let err = render_error(&defaults().yaml("config:\n  tls:\n    cert_file: /x.crt\n"));
    assert!(err.contains("config.tls is set by the chart"), "{err}");
}
