//! `<dir>/state.json`: what a run started (pid, start time, ports, log). Written after every
//! process `up` starts, so an interrupted `up` can still be stopped; removed by `stop`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::layout::Component;

pub const FILE: &str = "state.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// The run directory (absolute).
    pub dir: PathBuf,
    pub base_port: u16,
    pub switchyard_bin: PathBuf,
    /// False while `up` is still starting things (or was interrupted).
    pub complete: bool,
    /// Where the broker keeps its log (a restart must start it the same way).
    #[serde(default)]
    pub broker_storage: crate::commands::BrokerStorage,
    /// In start order.
    pub processes: Vec<ProcessRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessRecord {
    pub component: Component,
    pub pid: u32,
    /// Clock ticks since boot (from /proc), to recognise a recycled pid; None where unknown.
    pub start_time: Option<u64>,
    /// gRPC port of a service, listener of a backend.
    pub port: u16,
    /// Ops HTTP port (services only).
    pub ops_port: Option<u16>,
    pub log: PathBuf,
}

impl State {
    pub fn new(dir: &Path, base_port: u16, switchyard_bin: &Path) -> Self {
        Self {
            version: VERSION,
            dir: dir.to_path_buf(),
            base_port,
            switchyard_bin: switchyard_bin.to_path_buf(),
            complete: false,
            broker_storage: crate::commands::BrokerStorage::default(),
            processes: Vec::new(),
        }
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The state of the run in `dir`; None if there is none.
pub fn load(dir: &Path) -> anyhow::Result<Option<State>> {
    let file = path(dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a switchyard-local state file", file.display()))?;
    if state.version != VERSION {
        anyhow::bail!("{} has version {}, this runner reads version {VERSION}", file.display(), state.version);
    }
    Ok(Some(state))
}

/// Writes the state atomically (a temporary file renamed over the old one).
pub fn save(state: &State) -> anyhow::Result<()> {
    let file = path(&state.dir);
    let tmp = state.dir.join(format!(".{FILE}.tmp"));
    let text = serde_json::to_string_pretty(state).context("serialising the state")?;
    std::fs::write(&tmp, text + "\n").with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, &file).with_context(|| format!("writing {}", file.display()))
}

pub fn remove(dir: &Path) -> anyhow::Result<()> {
    let file = path(dir);
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_registry::Service;

    #[test]
    fn state_round_trips_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let mut state = State::new(dir.path(), 17100, Path::new("/bin/switchyard"));
        state.processes.push(ProcessRecord {
            component: Component::Service(Service::Router),
            pid: 42,
            start_time: Some(7),
            port: 17102,
            ops_port: Some(17112),
            log: dir.path().join("logs/router.log"),
        });
        save(&state).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(state.clone()));
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains("\"component\": \"router\""), "{text}");

        std::fs::write(path(dir.path()), "{not json").unwrap();
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(err.contains("state.json is not a switchyard-local state file"), "{err}");
        std::fs::write(path(dir.path()), text.replace("\"router\"", "\"billing\"")).unwrap();
        assert!(format!("{:#}", load(dir.path()).unwrap_err()).contains("unknown variant `billing`"));

        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
    }
}
