//! Credentials of a local run. `up` writes a new HS256 signing key into `<dir>/auth/`
//! (directory 0700, key 0600) and every service config trusts it (`[[auth.issuers]]`) and signs
//! with it (`[auth.signing]`), so `switchyard --config <dir>/config/<service>.toml auth
//! issue-token ...` mints tokens the services accept; `up --no-auth` writes
//! `auth.mode = "disabled"` instead. After `up` the runner prints an admin token of the
//! account `acme` and how to get a partner key, as `switchyard up` does.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::commands;
use crate::state::State;

/// The issuer of the tokens signed with a local run's key.
pub const ISSUER: &str = "switchyard-local";
/// The audience every service expects (Switchyard's default).
pub const AUDIENCE: &str = "switchyard";
/// The account of the admin token printed by `up`.
pub const ACCOUNT: &str = "acme";

/// How the services of a run authenticate callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Bearer tokens signed with this HS256 secret (and partner keys).
    Required { key_file: PathBuf },
    /// `auth.mode = "disabled"` (`up --no-auth`): anyone reaching a port can do anything.
    Disabled,
}

impl Auth {
    /// The `[auth]` table of a service config.
    pub fn table(&self) -> toml::Table {
        let mut auth = toml::Table::new();
        match self {
            Auth::Required { key_file } => {
                let key = |table: &mut toml::Table| {
                    table.insert("issuer".into(), ISSUER.into());
                    table.insert("audience".into(), AUDIENCE.into());
                    table.insert("algorithm".into(), "HS256".into());
                    table.insert("key_file".into(), key_file.display().to_string().into());
                };
                let mut issuer = toml::Table::new();
                key(&mut issuer);
                let mut signing = toml::Table::new();
                key(&mut signing);
                auth.insert("mode".into(), "required".into());
                auth.insert("issuers".into(), toml::Value::Array(vec![issuer.into()]));
                auth.insert("signing".into(), signing.into());
            }
            Auth::Disabled => {
                auth.insert("mode".into(), "disabled".into());
            }
        }
        auth
    }
}

/// `<dir>/auth/signing.key`.
pub fn key_file(dir: &Path) -> PathBuf {
    dir.join("auth").join("signing.key")
}

/// Writes a new random secret (32 bytes from the kernel, hex) to `<dir>/auth/signing.key`,
/// readable by this user only; tokens signed with an earlier run's key no longer verify.
pub fn create_key(dir: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let auth = dir.join("auth");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&auth)
        .with_context(|| format!("creating {}", auth.display()))?;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", auth.display()))?;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut secret))
        .context("reading 32 random bytes from /dev/urandom for the signing key")?;
    let text: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let path = key_file(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("removing the old {}", path.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The command that mints a token with the run's key.
pub fn issue_token_command(state: &State, account: &str, role: &str, subject: &str) -> String {
    format!(
        "{} --config {} auth issue-token --account {account} --role {role} --subject {subject}",
        state.switchyard_bin.display(),
        commands::config_file(&state.dir, "connectors").display()
    )
}

/// An admin token of [`ACCOUNT`], valid 24 h, minted by `switchyard auth issue-token` with the
/// run's config.
pub fn admin_token(state: &State) -> anyhow::Result<String> {
    let config = commands::config_file(&state.dir, "connectors");
    let output = Command::new(&state.switchyard_bin)
        .arg("--config")
        .arg(&config)
        .args(["auth", "issue-token", "--account", ACCOUNT, "--role", "admin", "--subject", "local-admin"])
        .args(["--ttl", "24h"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .with_context(|| format!("running {} auth issue-token", state.switchyard_bin.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "`switchyard auth issue-token` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    anyhow::ensure!(!token.is_empty() && !token.contains(char::is_whitespace), "issue-token printed {token:?}");
    Ok(token)
}

/// What `up` prints after the summary: shell lines with an admin token, and how to get an
/// agent's token and a partner key.
pub fn credentials_text(state: &State, token: &str, connectors_port: u16, router_port: u16) -> String {
    let mut lines = vec![
        format!(
            "# Credentials (signing key {}, issuer {ISSUER}): an admin token of account {ACCOUNT}, valid 24 h",
            key_file(&state.dir).display()
        ),
        format!("export ADMIN_TOKEN={token}"),
        format!("# An agent's token: {}", issue_token_command(state, ACCOUNT, "agent", "<agent id>")),
        "# A partner key (the account must exist first):".to_owned(),
    ];
    lines.push(format!(
        "#   grpcurl -plaintext -H \"authorization: Bearer $ADMIN_TOKEN\" -d '{{\"account_id\":\"{ACCOUNT}\"}}' 127.0.0.1:{router_port} switchyard.admin.v1.RoutingAdminService/CreateAccount"
    ));
    lines.push(format!(
        "#   grpcurl -plaintext -H \"authorization: Bearer $ADMIN_TOKEN\" -d '{{\"account_id\":\"{ACCOUNT}\",\"name\":\"partner\"}}' 127.0.0.1:{connectors_port} switchyard.auth.v1.AuthAdminService/CreateApiKey   # its \"secret\" is the key"
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_new_key_is_private_and_replaces_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let first = create_key(dir.path()).unwrap();
        let text = std::fs::read_to_string(&first).unwrap();
        assert_eq!(text.len(), 64);
        assert_eq!(std::fs::metadata(&first).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(dir.path().join("auth")).unwrap().permissions().mode() & 0o777, 0o700);
        let second = create_key(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_ne!(std::fs::read_to_string(&second).unwrap(), text);
    }

    #[test]
    fn the_auth_table_trusts_and_signs_with_the_key_or_turns_auth_off() {
        let table = Auth::Required { key_file: PathBuf::from("/run/k") }.table();
        assert_eq!(table["mode"].as_str(), Some("required"));
        for section in [&table["issuers"][0], &table["signing"]] {
            assert_eq!(section["issuer"].as_str(), Some(ISSUER));
            assert_eq!(section["key_file"].as_str(), Some("/run/k"));
            assert_eq!(section["algorithm"].as_str(), Some("HS256"));
        }
        let off = Auth::Disabled.table();
        assert_eq!((off["mode"].as_str(), off.len()), (Some("disabled"), 1));
    }
}
