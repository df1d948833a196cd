//! Prerequisites of a local run: `redis-server`, `tansu` and the `switchyard` binary. Every
//! missing one is reported by name with how to get it, before anything starts.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

pub const REDIS_HINT: &str = "install it with `apt-get install redis-server`";
pub const TANSU_HINT: &str = "install it with `cargo install tansu --locked --features dynostore,libsql`";
pub const SWITCHYARD_HINT: &str =
    "build it with `cargo build --release -p switchyard` (or `cargo build -p switchyard`), or pass --switchyard-bin PATH";
const INSTALL_HINT: &str = "or run `switchyard-local up --install`, which runs scripts/deps.sh as `make test` does";

/// The programs a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    pub redis_server: PathBuf,
    pub tansu: PathBuf,
    pub switchyard: PathBuf,
}

/// One missing prerequisite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: &'static str,
    pub problem: String,
    pub hint: String,
}

impl Missing {
    /// True for what `scripts/deps.sh` installs.
    pub fn installable(&self) -> bool {
        self.name != "switchyard"
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; {}", self.name, self.problem, self.hint)
    }
}

/// All missing prerequisites, one line each.
pub fn describe(missing: &[Missing]) -> String {
    let lines: Vec<String> = missing.iter().map(|m| format!("  - {m}")).collect();
    format!("missing prerequisites:\n{}", lines.join("\n"))
}

/// Looks for every prerequisite; `switchyard_bin` is the `--switchyard-bin` given, if any.
pub fn check(switchyard_bin: Option<&Path>) -> Result<Programs, Vec<Missing>> {
    let mut missing = Vec::new();
    let mut found = |name: &'static str, hint: &str| match find_on_path(name) {
        Some(path) => Some(path),
        None => {
            missing.push(Missing {
                name,
                problem: "not found on PATH or in ~/.cargo/bin".into(),
                hint: format!("{hint} ({INSTALL_HINT})"),
            });
            None
        }
    };
    let redis_server = found("redis-server", REDIS_HINT);
    let tansu = found("tansu", TANSU_HINT);
    let switchyard = match switchyard_bin {
        Some(path) => check_switchyard(path),
        None => match default_switchyard() {
            Some(path) => check_switchyard(&path),
            None => Err("not found next to switchyard-local, on PATH or in ~/.cargo/bin".to_owned()),
        },
    };
    let switchyard = switchyard
        .map_err(|problem| missing.push(Missing { name: "switchyard", problem, hint: SWITCHYARD_HINT.into() }))
        .ok();
    match (redis_server, tansu, switchyard) {
        (Some(redis_server), Some(tansu), Some(switchyard)) if missing.is_empty() => {
            Ok(Programs { redis_server, tansu, switchyard })
        }
        _ => Err(missing),
    }
}

/// The binary must exist, be executable and run `--version` as a `switchyard` binary does.
fn check_switchyard(path: &Path) -> Result<PathBuf, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{} does not exist ({e})", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    let output = Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{} cannot be run ({e})", path.display()))?;
    let version = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !version.starts_with("switchyard ") {
        return Err(format!("{} is not a switchyard binary (`--version` gave {:?})", path.display(), version.trim()));
    }
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `switchyard` next to this binary (same cargo profile, or the same install directory),
/// else on PATH.
pub fn default_switchyard() -> Option<PathBuf> {
    let sibling = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        // Test binaries live in target/<profile>/deps; the binaries one level up.
        let dir = if dir.ends_with("deps") { dir.parent()? } else { dir };
        Some(dir.join("switchyard"))
    });
    sibling.filter(|p| p.is_file()).or_else(|| find_on_path("switchyard"))
}

/// A program on PATH or in ~/.cargo/bin (where `cargo install` puts it).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// `scripts/deps.sh` of the checkout: above the working directory, else the one this binary
/// was built from.
pub fn deps_script() -> Option<PathBuf> {
    let from_cwd = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.ancestors().map(|d| d.join("scripts/deps.sh")).find(|p| p.is_file()));
    from_cwd.or_else(|| {
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deps.sh");
        built_from.is_file().then_some(built_from)
    })
}

/// Runs `scripts/deps.sh` (apt-get redis-server, cargo install tansu), its output shown as it goes.
pub fn install() -> anyhow::Result<()> {
    let script = deps_script().context(
        "--install: scripts/deps.sh not found (run switchyard-local from the Switchyard checkout, or install the prerequisites by hand)",
    )?;
    eprintln!("switchyard-local: installing what is missing with {}", script.display());
    let status = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        anyhow::bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_switchyard_binary_is_named_with_the_reason() {
        let err = check_switchyard(Path::new("/nonexistent/switchyard")).unwrap_err();
        assert!(err.starts_with("/nonexistent/switchyard does not exist"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("switchyard");
        std::fs::write(&plain, "#!/bin/sh\necho hello\n").unwrap();
        assert!(check_switchyard(&plain).unwrap_err().ends_with("is not executable"));
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_switchyard(&plain).unwrap_err();
        assert!(err.contains("is not a switchyard binary") && err.contains("hello"), "{err}");
        assert!(check_switchyard(dir.path()).unwrap_err().ends_with("is not a file"));
    }

    #[test]
    fn missing_prerequisites_are_listed_with_their_hints() {
        let missing = vec![
            Missing { name: "tansu", problem: "not found on PATH or in ~/.cargo/bin".into(), hint: TANSU_HINT.into() },
            Missing { name: "switchyard", problem: "/x does not exist".into(), hint: SWITCHYARD_HINT.into() },
        ];
        let text = describe(&missing);
        assert!(text.starts_with("missing prerequisites:\n  - tansu: not found"), "{text}");
        assert!(text.contains("cargo install tansu --locked --features dynostore"), "{text}");
        assert!(text.contains("  - switchyard: /x does not exist; build it with"), "{text}");
        assert!(missing[0].installable() && !missing[1].installable());
    }

    #[test]
    fn the_deps_script_of_this_checkout_is_found() {
        let script = deps_script().unwrap();
        assert!(script.ends_with("scripts/deps.sh"), "{}", script.display());
    }
}
