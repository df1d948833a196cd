//! The contracts stay wire-compatible, binary and JSON (buf's WIRE_JSON rules, `buf.yaml`):
//! with the last landed main's (`compat/baseline.binpb`), and with every version of `proto/`
//! committed since its commit (`compat/BASELINE`) when the history is at hand. A rolling
//! upgrade then never meets a field whose number, type or JSON name changed meaning.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `buf breaking` of the current tree against `against`; the failures, if any.
fn breaking(buf: &Path, against: &str) -> Option<String> {
    let out = Command::new(buf)
        .current_dir(proto_dir().parent().unwrap())
        .args(["breaking", "proto", "--against", against])
        .output()
        .expect("run buf");
    (!out.status.success()).then(|| {
        format!("against {against}:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").current_dir(proto_dir()).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn the_protos_stay_wire_compatible_with_the_baseline_and_every_version_since() {
    let buf = switchyard_testkit::tool("buf").unwrap();
    let mut failures: Vec<String> = breaking(&buf, "proto/compat/baseline.binpb").into_iter().collect();

    let baseline = std::fs::read_to_string(proto_dir().join("compat/BASELINE")).unwrap();
    let commit = baseline.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap().to_owned();
    match git(&["cat-file", "-e", &format!("{commit}^{{commit}}")]) {
        // A shallow clone or a source tarball: the image above is the check.
        None => eprintln!("baseline commit {commit} not in this checkout: checked against the image only"),
        Some(_) => {
            let since = git(&["rev-list", &format!("{commit}..HEAD"), "--", "."]).unwrap_or_default();
            for rev in since.lines().chain(std::iter::once(commit.as_str())) {
                failures.extend(breaking(&buf, &format!(".git#ref={rev},subdir=proto")));
            }
        }
    }
    assert!(failures.is_empty(), "wire-incompatible changes:\n{}", failures.join("\n"));
}
