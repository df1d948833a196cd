//! The chart passes `helm lint --strict` with each `helm/switchyard/ci/*-values.yaml` (and fails
//! without `kafka.bootstrapServers`), what each of them renders is valid for Kubernetes
//! (`kubernetes-validate`), and values.schema.json refuses unknown keys and out-of-range
//! values. Needs `helm` and `kubernetes-validate` (scripts/deps.sh installs them); a missing
//! tool fails.

mod common;

use common::{defaults, helm, render_error};
use switchyard_chart_tests::{ci_values_files, kubernetes_validate, Values};

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
    for expected in ["all-features-values.yaml", "default-values.yaml", "minimal-values.yaml", "tls-values.yaml"] {
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
            assert!(
                ["ScaledObject", "ServiceMonitor", "Certificate"].contains(&kind.as_str()),
                "no schema for kind {kind}"
            );
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
