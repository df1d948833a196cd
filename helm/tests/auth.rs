//! Authentication in the chart: issuers' key material (HS256 secrets, PEM public keys, JWKS) and
//! the signing key come from existing Secrets mounted read-only, only the named key of each,
//! and the ConfigMap's `[auth]` names those files; limits come from values; a release without
//! an issuer, auth off without allowDisabled, an issuer with both or neither key, and a
//! signing issuer nobody trusts are refused. Needs `helm`.

#![allow(clippy::unwrap_used)]

mod common;

use common::{defaults, render, render_error};
use serde_json::Value;
use switchyard_chart_tests::{container, pod_spec, Values, SERVICES};

fn volume<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    pod_spec(deployment)["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name}"))
}

fn mount<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    container(deployment)["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no mount {name}"))
}

#[test]
fn issuers_and_the_signing_key_are_mounted_from_their_secrets_and_named_by_the_config() {
    let rendered = render(&Values::ci("all-features"));
    for service in SERVICES {
        let deployment = rendered.get("Deployment", service);
        for (i, secret, key, path) in [
            (0, "switchyard-signing-2026-11", "signing.key", "key"),
            (1, "switchyard-signing-2026-05", "signing.key", "key"),
            (2, "bot-signer-public", "public.pem", "key"),
            (3, "idp-jwks", "jwks.json", "jwks.json"),
        ] {
            let name = format!("auth-issuer-{i}");
            let v = volume(deployment, &name);
            assert_eq!(v["secret"]["secretName"], secret, "{service} {name}");
            assert_eq!(v["secret"]["items"], serde_json::json!([{ "key": key, "path": path }]), "{service} {name}");
            assert_eq!(v["secret"]["defaultMode"], 0o440, "{service} {name}");
            let m = mount(deployment, &name);
            assert_eq!(m["mountPath"], format!("/etc/switchyard/auth/issuers/{i}"));
            assert_eq!(m["readOnly"], true);
        }
        let signing = volume(deployment, "auth-signing");
        assert_eq!(signing["secret"]["secretName"], "switchyard-signing-2026-11");
        assert_eq!(mount(deployment, "auth-signing")["readOnly"], true);
    }

    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    let auth = &config["auth"];
    assert_eq!(auth["mode"].as_str(), Some("required"));
    let issuers = auth["issuers"].as_array().unwrap();
    assert_eq!(issuers.len(), 4);
    assert_eq!(issuers[0]["key_file"].as_str(), Some("/etc/switchyard/auth/issuers/0/key"));
    assert_eq!(
        (issuers[0]["algorithm"].as_str(), issuers[0]["audience"].as_str()),
        (Some("HS256"), Some("switchyard"))
    );
    assert_eq!(issuers[1]["leeway"].as_str(), Some("10s"));
    assert_eq!(
        (issuers[2]["algorithm"].as_str(), issuers[2]["audience"].as_str()),
        (Some("ES256"), Some("switchyard-bots"))
    );
    assert_eq!(issuers[3]["jwks_file"].as_str(), Some("/etc/switchyard/auth/issuers/3/jwks.json"));
    assert!(issuers[3].get("key_file").is_none());
    assert_eq!(auth["signing"]["key_file"].as_str(), Some("/etc/switchyard/auth/signing/key"));
    assert_eq!(auth["signing"]["issuer"].as_str(), Some("switchyard"));
    let limits = &config["limits"];
    assert_eq!(limits["requests_per_second_per_credential"].as_integer(), Some(500));
    assert_eq!(limits["max_message_bytes"].as_integer(), Some(65536));
    assert_eq!(limits["opens_per_consumer_per_minute"].as_integer(), Some(30));

    // The defaults: one issuer, no signing key in the pods, the binary's default limits.
    let rendered = render(&defaults());
    let deployment = rendered.get("Deployment", "router");
    assert_eq!(volume(deployment, "auth-issuer-0")["secret"]["secretName"], "switchyard-signing");
    let names: Vec<&str> =
        pod_spec(deployment)["volumes"].as_array().unwrap().iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(!names.contains(&"auth-signing"), "{names:?}");
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert!(config["auth"].get("signing").is_none());
    assert_eq!(config["limits"]["requests_per_second_per_account"].as_integer(), Some(5000));
    // The topic job needs no key.
    let job = rendered.get("Job", "topics");
    let volumes = pod_spec(job)["volumes"].as_array().unwrap();
    assert!(volumes.iter().all(|v| !v["name"].as_str().unwrap().starts_with("auth-")), "{volumes:?}");
}

#[test]
fn authentication_off_must_be_asked_for_twice_and_mounts_nothing() {
    let off = "auth:\n  mode: disabled\n";
    let err = render_error(&defaults().yaml(off));
    assert!(err.contains("auth.allowDisabled=true"), "{err}");
    let rendered = render(&defaults().yaml(&format!("{off}  allowDisabled: true\n")));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["auth"]["mode"].as_str(), Some("disabled"));
    assert!(config["auth"].get("issuers").is_none());
    let volumes = pod_spec(rendered.get("Deployment", "connectors"))["volumes"].as_array().unwrap().clone();
    assert!(volumes.iter().all(|v| !v["name"].as_str().unwrap().starts_with("auth-")), "{volumes:?}");
}

#[test]
fn bad_auth_values_are_refused_naming_them() {
    let base = "kafka:\n  bootstrapServers: k:9092\nredis:\n  url: redis://r:6379\n";
    let err = render_error(&Values::default().yaml(base));
    assert!(err.contains("auth.issuers is required"), "{err}");

    for (issuer, named) in [
        // Both kinds of key, or neither (the schema says so first, or the chart).
        ("{issuer: a, existingSecret: s, key: k, jwksKey: j}", "auth.issuers"),
        ("{issuer: a, existingSecret: s}", "auth.issuers"),
        ("{issuer: a, key: k}", "existingSecret"),
        ("{issuer: a, existingSecret: s, key: k, algorithm: HS512}", "algorithm"),
    ] {
        let err = render_error(&Values::default().yaml(&format!("{base}auth:\n  issuers:\n    - {issuer}\n")));
        assert!(err.contains(named), "{issuer}: {err}");
    }
    let err = render_error(&defaults().yaml("auth:\n  signing:\n    existingSecret: s\n    issuer: nobody\n"));
    assert!(err.contains("auth.signing.issuer \"nobody\" is not one of auth.issuers (switchyard)"), "{err}");
    // What the values set is not overridden through config.
    let err = render_error(&defaults().yaml("config:\n  auth:\n    mode: disabled\n"));
    assert!(err.contains("config.auth.mode is set by the chart: use auth.mode instead"), "{err}");
    let err = render_error(&defaults().yaml("config:\n  limits:\n    streams_per_agent: 9\n"));
    assert!(err.contains("use limits.streamsPerAgent instead"), "{err}");
    let err = render_error(&defaults().yaml("limits:\n  maxMessageBytes: 10\n"));
    assert!(err.contains("maxMessageBytes"), "{err}");
    // Other [auth] keys pass through config.
    let rendered = render(&defaults().yaml("config:\n  auth:\n    key_cache_ttl: 2s\n"));
    let config = rendered.config_toml(rendered.main_config_map()).unwrap();
    assert_eq!(config["auth"]["key_cache_ttl"].as_str(), Some("2s"));
    assert_eq!(config["auth"]["issuers"].as_array().map(Vec::len), Some(1));
}
