//! Helpers shared by the chart's test files: render the chart with some values (or get the
//! message it refuses them with), the ci default values, and the names the chart gives each
//! service's objects. A missing `helm` fails with the hint to run scripts/deps.sh.

#![allow(dead_code)]

use switchyard_chart_tests::{Helm, Rendered, Values, RELEASE};

pub fn helm() -> Helm {
    Helm::new().unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn render(values: &Values) -> Rendered {
    helm().render(values).unwrap_or_else(|e| panic!("{e:#}"))
}

pub fn render_error(values: &Values) -> String {
    helm().render_error(values).unwrap_or_else(|e| panic!("{e:#}"))
}

/// `helm/switchyard/ci/default-values.yaml`.
pub fn defaults() -> Values {
    Values::ci("default")
}

/// The name of a service's Deployment, Service and other objects.
pub fn component_name(service: &str) -> String {
    format!("{RELEASE}-switchyard-{service}")
}
