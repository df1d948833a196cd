//! `switchyard auth ...` and the development credentials of `switchyard up`.
//!
//! `up` with `auth.mode = "required"` and no issuer configured is the try-out: it creates (or
//! reuses) a development signing key file, accepts tokens it signs (issuer `switchyard-dev`),
//! and prints an admin token and a partner key for `auth.dev_account`. `switchyard auth
//! issue-token` signs with `[auth.signing]`, or with that development key when no signing key
//! is configured, so the quick start can mint an agent's token.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use switchyard_auth::{apikey, Algorithm, AuthMode, IssuerConfig, Role, Signer, SigningConfig};
use switchyard_kit::Platform;

use crate::Config;

pub const DEV_ISSUER: &str = "switchyard-dev";
const DEV_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `$XDG_STATE_HOME/switchyard/dev-signing.key`, else `~/.local/state/switchyard/...`.
pub fn dev_key_path(config: &Config) -> PathBuf {
    if !config.auth.dev_key_file.as_os_str().is_empty() {
        return config.auth.dev_key_file.clone();
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("."));
    state.join("switchyard/dev-signing.key")
}

/// Reads the development key, creating it (32 random bytes, base64url, mode 0600) when missing.
fn ensure_dev_key(path: &Path) -> anyhow::Result<()> {
    if path.is_file() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = apikey::random_secret();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// For `up` without issuers: trusts the development key (and signs with it).
/// Returns true when the development credentials are in use.
pub fn prepare_dev(config: &mut Config) -> anyhow::Result<bool> {
    if config.auth.mode != AuthMode::Required || !config.auth.issuers.is_empty() {
        return Ok(false);
    }
    let path = dev_key_path(config);
    ensure_dev_key(&path)?;
    config.auth.issuers.push(IssuerConfig {
        issuer: DEV_ISSUER.into(),
        audience: "switchyard".into(),
        algorithm: Algorithm::HS256,
        key_file: path.clone(),
        ..IssuerConfig::default()
    });
    if config.auth.signing.key_file.as_os_str().is_empty() {
        config.auth.signing = dev_signing(path);
    }
    Ok(true)
}

fn dev_signing(key_file: PathBuf) -> SigningConfig {
    SigningConfig { issuer: DEV_ISSUER.into(), audience: "switchyard".into(), algorithm: Algorithm::HS256, key_file }
}

/// Prints a ready admin token and a new partner key of `auth.dev_account` (stdout, as shell
/// lines to paste).
pub async fn announce_dev(platform: &Platform, config: &Config) -> anyhow::Result<()> {
    let account = &config.auth.dev_account;
    let signer = Signer::from_config(&config.auth.signing)?;
    let token = signer.issue(account, "dev-admin", &[Role::Admin], DEV_TOKEN_TTL)?;
    let partner_key = create_partner_key(&*platform.store, account, "switchyard up", platform.clock.now_ms())
        .await
        .context("creating the development partner key")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "# Development credentials of account {account} (admin token valid 24 h; signing key {}):",
        config.auth.signing.key_file.display()
    )?;
    writeln!(out, "export ADMIN_TOKEN={token}")?;
    writeln!(out, "export PARTNER_KEY={partner_key}")?;
    writeln!(
        out,
        "# An agent's token: switchyard auth issue-token --account {account} --role agent --subject <agent id>"
    )?;
    out.flush()?;
    Ok(())
}

/// Creates a partner key of `account` for every channel straight in the store (no account
/// check): `up`'s development key and test fixtures. Returns the whole key.
pub async fn create_partner_key(
    store: &dyn switchyard_platform::StateStore,
    account: &str,
    created_by: &str,
    now_ms: i64,
) -> anyhow::Result<String> {
    let key = apikey::generate(account);
    let record = switchyard_platform::store::ApiKeyRecord {
        account_id: account.to_owned(),
        key_id: key.key_id.clone(),
        name: created_by.to_owned(),
        secret_sha256: key.secret_sha256.clone(),
        channels: Vec::new(),
        created_at_ms: now_ms,
        created_by: created_by.to_owned(),
        revoked_at_ms: None,
        last_used_ms: None,
    };
    if !store.create_api_key(&record).await? {
        anyhow::bail!("key id collision; retry");
    }
    Ok(key.secret)
}

/// `switchyard auth issue-token`: a token signed with `[auth.signing]` (or the development key).
pub fn issue_token(
    config: &Config,
    account: &str,
    subject: &str,
    roles: &[String],
    ttl: Duration,
) -> anyhow::Result<String> {
    switchyard_kit::validate::id("--account", account).map_err(|e| anyhow::anyhow!("{e}"))?;
    switchyard_kit::validate::id("--subject", subject).map_err(|e| anyhow::anyhow!("{e}"))?;
    let roles = roles
        .iter()
        .map(|name| {
            Role::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
                anyhow::anyhow!("--role {name:?} is not a role; roles are {known:?}")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if roles.is_empty() {
        anyhow::bail!("give at least one --role");
    }
    let signing = if config.auth.signing.key_file.as_os_str().is_empty() {
        let path = dev_key_path(config);
        if !path.is_file() {
            anyhow::bail!(
                "auth.signing.key_file is not set and there is no development key at {} (`switchyard up` creates it)",
                path.display()
            );
        }
        dev_signing(path)
    } else {
        config.auth.signing.clone()
    };
    Ok(Signer::from_config(&signing)?.issue(account, subject, &roles, ttl)?)
}
