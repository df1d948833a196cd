//! Reading a scenario: the file (or `<dir>/scenario.toml`) is read, parsed strictly into a
//! [`Scenario`] (unknown keys are errors), named after its directory or file when it does not
//! name itself, and validated; each failure is a [`ScenarioError`] naming the file and, for a
//! rule broken, the field.

use std::path::{Path, PathBuf};

use super::Scenario;

/// A scenario that cannot run, with the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("scenario {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {path}: {field}: {message}")]
    Invalid { path: PathBuf, field: String, message: String },
}

impl Scenario {
    /// Loads `<dir>/scenario.toml`, or the file itself when `path` is a file. A bare name
    /// (no slash) is looked up in `scenarios_dir`.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let file = if path.is_dir() { path.join("scenario.toml") } else { path.to_path_buf() };
        let text =
            std::fs::read_to_string(&file).map_err(|source| ScenarioError::Read { path: file.clone(), source })?;
        // `<name>/scenario.toml` is named by its directory, any other file by its stem.
        let named_by =
            if file.file_name().is_some_and(|f| f == "scenario.toml") { file.parent() } else { Some(file.as_path()) };
        let default_name =
            named_by.and_then(|p| p.file_stem()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self::parse(&text, &default_name).map_err(|err| match err {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse { path: file.clone(), message },
            ScenarioError::Invalid { field, message, .. } => {
                ScenarioError::Invalid { path: file.clone(), field, message }
            }
            other => other,
        })
    }

    /// Parses and validates scenario text; `default_name` names it when the file does not.
    pub fn parse(text: &str, default_name: &str) -> Result<Self, ScenarioError> {
        let mut scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::Parse { path: PathBuf::new(), message: e.to_string() })?;
        if scenario.name.is_empty() {
            scenario.name = default_name.to_owned();
        }
        scenario.validate().map_err(|(field, message)| ScenarioError::Invalid {
            path: PathBuf::new(),
            field,
            message,
        })?;
        Ok(scenario)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::scenario::fixture::{error, GOOD};

    #[test]
    fn a_good_scenario_parses_with_defaults() {
        let s = Scenario::parse(GOOD, "smoke").unwrap();
        assert_eq!(s.name, "smoke");
        assert_eq!(s.accounts, 1);
        assert_eq!(s.drain_timeout, Duration::from_secs(30));
        assert!(s.script.first_message);
        assert!((s.arrival.expected_count(s.duration) - 100.0).abs() < 1.0);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = error(&GOOD.replace("seed = 7", "seed = 7\nsed = 8"));
        assert!(e.contains("unknown field `sed`"), "{e}");
        let e = error(&GOOD.replace("rate = 50", "rat = 50"));
        assert!(e.contains("rat"), "{e}");
    }

    #[test]
    fn shipped_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let names = ["smoke", "steady", "steady-ring", "burst", "backlog", "priority", "ring", "ring-all", "transfers"];
        let more = ["inactive", "warmup", "automessages", "steady-automessages"];
        for name in names.into_iter().chain(more) {
            let s = Scenario::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, name);
        }
    }
}
