//! Support for the chart tests (`tests/*.rs`): finds `helm` and `kubernetes-validate`,
//! renders `helm/switchyard` with values files and inline values, reads the rendered objects,
//! and derives the values table of the chart's README from the `# --` comments of values.yaml.
//!
//! Nothing here opens a network connection: `helm lint` and `helm template` work on the local
//! chart (no dependencies, no cluster: `--kube-version` stands in for one), and
//! `kubernetes-validate` carries its schemas. Helm's config, cache and data directories point
//! into a temporary directory, so the user's repositories and plugins are never read.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;
pub use switchyard_registry::Service;

/// Kubernetes version the chart is rendered and validated for.
pub const KUBE_VERSION: &str = "1.30.0";
/// Release name and namespace of every render.
pub const RELEASE: &str = "sy";
pub const NAMESPACE: &str = "routing";
/// The services of the registry (`switchyard_registry`), in its order: the chart must render
/// exactly these, in this order (tests/registry.rs).
pub const SERVICES: [&str; Service::ALL.len()] = {
    let mut names = [""; Service::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = Service::ALL[i].name();
        i += 1;
    }
    names
};

/// The services of the registry that `ci/<name>-values.yaml` leaves enabled (it disables one
/// with `<service>: {enabled: false}`), in the registry's order.
pub fn ci_enabled_services(name: &str) -> anyhow::Result<Vec<&'static str>> {
    let path = chart_dir().join("ci").join(format!("{name}-values.yaml"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let values: Value = serde_norway::from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(SERVICES.iter().copied().filter(|s| values[*s]["enabled"] != false).collect())
}

/// `helm/switchyard`.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("switchyard")
}

/// `helm/switchyard/ci/*-values.yaml`, sorted.
pub fn ci_values_files() -> anyhow::Result<Vec<PathBuf>> {
    let dir = chart_dir().join("ci");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("-values.yaml")) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Finds a test tool (see `switchyard_testkit::tool`); a missing tool is an error with the
/// install hint: the chart tests never skip.
pub fn tool(name: &str) -> anyhow::Result<PathBuf> {
    switchyard_testkit::tool(name)
}

/// Exit status and output of a tool run.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for messages.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

fn run(mut command: Command) -> anyhow::Result<Run> {
    let out = command.output().with_context(|| format!("running {command:?}"))?;
    Ok(Run {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `helm` with its state kept in a temporary directory.
pub struct Helm {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Helm {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self { bin: tool("helm")?, home: tempfile::tempdir()? })
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.bin);
        for (var, dir) in [("HELM_CONFIG_HOME", "config"), ("HELM_CACHE_HOME", "cache"), ("HELM_DATA_HOME", "data")] {
            command.env(var, self.home.path().join(dir));
        }
        command
    }

    /// `helm lint --strict` of the chart with these values files.
    pub fn lint(&self, values: &[&Path]) -> anyhow::Result<Run> {
        let mut command = self.command();
        command.arg("lint").arg(chart_dir()).arg("--strict");
        for file in values {
            command.arg("--values").arg(file);
        }
        run(command)
    }

    /// `helm template` of the chart as release `sy` in namespace `routing`.
    pub fn template(&self, values: &Values) -> anyhow::Result<Run> {
        let dir = tempfile::tempdir()?;
        let mut command = self.command();
        command.args(["template", RELEASE]).arg(chart_dir());
        command.args(["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]);
        for file in &values.files {
            command.arg("--values").arg(file);
        }
        for (i, yaml) in values.inline.iter().enumerate() {
            let path = dir.path().join(format!("inline-{i}.yaml"));
            std::fs::write(&path, yaml)?;
            command.arg("--values").arg(path);
        }
        run(command)
    }

    /// Renders and parses; an error carries helm's stderr.
    pub fn render(&self, values: &Values) -> anyhow::Result<Rendered> {
        let out = self.template(values)?;
        if !out.success {
            bail!("helm template failed:\n{}", out.stderr);
        }
        Rendered::parse(&out.stdout)
    }

    /// Renders values that must be refused; returns helm's stderr.
    pub fn render_error(&self, values: &Values) -> anyhow::Result<String> {
        let out = self.template(values)?;
        if out.success {
            bail!("helm template succeeded but should have failed; rendered:\n{}", out.stdout);
        }
        Ok(out.stderr)
    }
}

/// Values of one render: files (in order), then inline YAML documents (in order).
#[derive(Debug, Clone, Default)]
pub struct Values {
    files: Vec<PathBuf>,
    inline: Vec<String>,
}

impl Values {
    /// `ci/<name>-values.yaml`.
    pub fn ci(name: &str) -> Self {
        Self::default().ci_file(name)
    }

    pub fn ci_file(mut self, name: &str) -> Self {
        self.files.push(chart_dir().join("ci").join(format!("{name}-values.yaml")));
        self
    }

    pub fn file(mut self, path: &Path) -> Self {
        self.files.push(path.to_owned());
        self
    }

    /// Inline values, e.g. `"router:\n  replicaCount: 3"`.
    pub fn yaml(mut self, yaml: &str) -> Self {
        self.inline.push(yaml.to_owned());
        self
    }
}

/// The objects of a render, as JSON values (missing fields index to `Null`).
#[derive(Debug, Clone)]
pub struct Rendered {
    pub text: String,
    pub objects: Vec<Value>,
}

impl Rendered {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut objects = Vec::new();
        for document in serde_norway::Deserializer::from_str(text) {
            let value = Value::deserialize(document).context("rendered YAML")?;
            if !value.is_null() {
                objects.push(value);
            }
        }
        Ok(Self { text: text.to_owned(), objects })
    }

    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    /// Objects labelled `app.kubernetes.io/component: <component>`.
    pub fn component<'a>(&'a self, component: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["metadata"]["labels"]["app.kubernetes.io/component"] == component)
    }

    /// The object of this kind for a component, if rendered.
    pub fn find(&self, kind: &str, component: &str) -> Option<&Value> {
        let mut found = self
            .objects
            .iter()
            .filter(|o| o["kind"] == kind && o["metadata"]["labels"]["app.kubernetes.io/component"] == component);
        let first = found.next();
        assert!(found.next().is_none(), "more than one {kind} for {component}");
        first
    }

    /// The object of this kind for a component; panics with the list of objects when missing.
    pub fn get(&self, kind: &str, component: &str) -> &Value {
        self.find(kind, component)
            .unwrap_or_else(|| panic!("no {kind} for component {component}; rendered: {}", self.summary()))
    }

    /// `Kind/name` of every object.
    pub fn summary(&self) -> String {
        let names: Vec<String> = self
            .objects
            .iter()
            .map(|o| format!("{}/{}", o["kind"].as_str().unwrap_or("?"), o["metadata"]["name"].as_str().unwrap_or("?")))
            .collect();
        names.join(", ")
    }

    /// A ConfigMap's switchyard.toml, parsed.
    pub fn config_toml(&self, config_map: &Value) -> anyhow::Result<toml::Table> {
        let text = config_map["data"]["switchyard.toml"].as_str().context("ConfigMap without switchyard.toml")?;
        text.parse::<toml::Table>().with_context(|| format!("switchyard.toml is not valid TOML:\n{text}"))
    }

    /// The release's ConfigMap (the one the services mount).
    pub fn main_config_map(&self) -> &Value {
        let name = format!("{RELEASE}-switchyard");
        self.of_kind("ConfigMap")
            .find(|o| o["metadata"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no ConfigMap {name}; rendered: {}", self.summary()))
    }
}

/// The first container of a Deployment, Job or Pod.
pub fn container(object: &Value) -> &Value {
    let spec = if object["kind"] == "Pod" { &object["spec"] } else { &object["spec"]["template"]["spec"] };
    &spec["containers"][0]
}

/// The pod spec of a Deployment, Job or Pod.
pub fn pod_spec(object: &Value) -> &Value {
    if object["kind"] == "Pod" {
        &object["spec"]
    } else {
        &object["spec"]["template"]["spec"]
    }
}

/// Strings of a JSON array (empty when it is not one).
pub fn strings(value: &Value) -> Vec<&str> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// Outcome of `kubernetes-validate` on one file.
#[derive(Debug)]
pub struct Validation {
    pub run: Run,
    /// Kinds it had no schema for (custom resources), from its WARN lines.
    pub unknown_kinds: Vec<String>,
}

/// Validates every object of `file` against the Kubernetes JSON schemas of `KUBE_VERSION`,
/// rejecting unknown fields (`--strict`).
pub fn kubernetes_validate(file: &Path) -> anyhow::Result<Validation> {
    let mut command = Command::new(tool("kubernetes-validate")?);
    command.args(["--strict", "--quiet", "--kubernetes-version", KUBE_VERSION]).arg(file);
    let run = run(command)?;
    let unknown_kinds = run
        .stdout
        .lines()
        .filter_map(|line| line.split("Couldn't find schema for kind ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    Ok(Validation { run, unknown_kinds })
}

/// One documented value of values.yaml.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueDoc {
    pub path: Vec<String>,
    pub description: String,
}

impl ValueDoc {
    pub fn key(&self) -> String {
        self.path.join(".")
    }
}

/// The `# -- description` comments of a values.yaml (helm-docs style) and the keys they
/// precede. Continuation lines (`# more text`) extend the description; list items are not
/// descended into.
pub fn value_docs(values_yaml: &str) -> Vec<ValueDoc> {
    let mut docs = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<String> = None;
    let mut list_indent: Option<usize> = None;
    for line in values_yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            pending = None;
            continue;
        }
        if let Some(li) = list_indent {
            if indent > li || (indent == li && trimmed.starts_with('-')) {
                continue;
            }
            list_indent = None;
        }
        if let Some(text) = trimmed.strip_prefix("# --") {
            pending = Some(text.trim().to_owned());
            continue;
        }
        if let Some(text) = trimmed.strip_prefix('#') {
            if let Some(p) = pending.as_mut() {
                p.push(' ');
                p.push_str(text.trim());
            }
            continue;
        }
        if trimmed.starts_with('-') {
            list_indent = Some(indent);
            pending = None;
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else { continue };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let key = key.trim().trim_matches('"').to_owned();
        let mut path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        path.push(key.clone());
        if let Some(description) = pending.take() {
            docs.push(ValueDoc { path, description });
        }
        stack.push((indent, key));
    }
    docs
}

/// Keys of values.yaml that are neither documented nor hold documented keys.
pub fn undocumented_values(values: &Value, docs: &[ValueDoc]) -> Vec<String> {
    fn walk(value: &Value, path: &mut Vec<String>, docs: &[ValueDoc], out: &mut Vec<String>) {
        let Some(map) = value.as_object() else { return };
        for (key, child) in map {
            path.push(key.clone());
            if !docs.iter().any(|d| d.path == *path) {
                match child.as_object() {
                    Some(m) if !m.is_empty() => walk(child, path, docs, out),
                    _ => out.push(path.join(".")),
                }
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(values, &mut Vec::new(), docs, &mut out);
    out
}

/// The markdown table of the values: key, type, default (JSON) and description.
pub fn values_table(values: &Value, docs: &[ValueDoc]) -> String {
    let mut table = String::from("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n");
    for doc in docs {
        let default = doc.path.iter().fold(values, |v, k| &v[k.as_str()]);
        let kind = match default {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "int",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            Value::Object(_) => "object",
        };
        let default = match default {
            Value::String(s) if s.is_empty() => "`\"\"`".to_owned(),
            other => format!("`{other}`"),
        };
        let cell = |s: &str| s.replace('|', "\\|");
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            cell(&doc.key()),
            kind,
            cell(&default),
            cell(&doc.description)
        ));
    }
    table
}

/// values.yaml of the chart as a JSON value.
pub fn chart_values() -> anyhow::Result<(String, Value)> {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml"))?;
    let value: Value = serde_norway::from_str(&text).context("values.yaml")?;
    Ok((text, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_docs_follow_indentation_and_skip_lists() {
        let yaml = "\
# -- top
a: 1
b:
  # -- nested
  # and continued
  c: x
  list:
    - name: n
      # -- not a key of b
      inner: 1
  # -- after the list
  d: {}
# not a doc
e: 2
";
        let docs = value_docs(yaml);
        let keys: Vec<String> = docs.iter().map(ValueDoc::key).collect();
        assert_eq!(keys, ["a", "b.c", "b.d"]);
        assert_eq!(docs[1].description, "nested and continued");
        let values: Value = serde_norway::from_str(yaml).unwrap();
        assert_eq!(undocumented_values(&values, &docs), ["b.list", "e"]);
    }
}
