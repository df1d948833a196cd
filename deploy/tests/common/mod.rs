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

/// The five services, in port order (gRPC 7101.., ops 9101..).
pub const SERVICES: [&str; 5] = ["connectors", "router", "capacity", "automessages", "surveys"];

/// The `switchyard` binary of this build (target/<profile>/switchyard, next to the test
/// binary's directory); built with cargo when missing, as loadtest/tests/harness.rs does.
pub fn switchyard_binary() -> PathBuf {
    let binary = switchyard_loadtest::target::default_binary();
    if !binary.is_file() {
        // The profile of this test binary: target/<profile>/deps/<test>.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).and_then(Path::file_name).unwrap();
        let profile = match profile_dir.to_string_lossy().as_ref() {
            "debug" => "dev".to_owned(),
            other => other.to_owned(),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "switchyard", "--bin", "switchyard", "--profile", &profile])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "building the switchyard binary failed");
    }
    let binary = switchyard_loadtest::target::default_binary();
    assert!(binary.is_file(), "switchyard binary not found at {}", binary.display());
    binary
}
