//! Shared by the deploy tests: paths in the checkout and the compiled `switchyard` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// deploy/ in the checkout.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    deploy_dir().parent().unwrap().to_path_buf()
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The services of the registry, in port order (gRPC 7101.., ops 9101..).
pub fn services() -> Vec<&'static str> {
    switchyard_registry::Service::ALL.iter().map(|s| s.name()).collect()
}

/// The `switchyard` binary of this build, built on demand.
pub fn switchyard_binary() -> PathBuf {
    switchyard_testkit::workspace_binary("switchyard", "switchyard").unwrap()
}
