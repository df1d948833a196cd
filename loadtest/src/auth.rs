//! How the harness authenticates, as a real client does (docs/security.md).
//!
//! - Admin setup calls and the queue-depth reads carry a token minted per call with the role
//!   the authorization table grants for the RPC (admin); agents and bots carry tokens minted
//!   as themselves (`switchyard_auth::client::MintingLayer::fitting`).
//! - Partners, by default, use a real partner API key per account, created through
//!   `AuthAdminService.CreateApiKey` right after the account, so the server's key verification
//!   is part of what is measured; `--partner-auth token` mints partner JWTs instead.
//! - With `--no-auth` calls carry no credential (the target runs with `auth.mode = "disabled"`).
//!
//! The signing key comes from the run: a secret generated for `switchyard up` (`--start`),
//! the local runner's own key (`--local`, `--local-dir`), or `--signing-key-file` for any other
//! deployment that trusts it as an HS256 issuer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Context as _;
use clap::ValueEnum;
use switchyard_auth::client::{Minting, MintingLayer};
use switchyard_auth::{Algorithm, Signer, SigningConfig};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::transport::Channel;

/// The issuer name of the secret the harness generates for `--start`.
pub const HARNESS_ISSUER: &str = "switchyard-loadtest";
/// The audience Switchyard expects by default.
pub const AUDIENCE: &str = "switchyard";

/// What partners authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PartnerAuth {
    /// A partner API key per account, created with `AuthAdminService.CreateApiKey`.
    #[default]
    ApiKey,
    /// A minted partner JWT per account.
    Token,
}

/// The credentials of a run: a signer (None: calls carry no credential) and the partners' kind.
#[derive(Clone)]
pub struct Credentials {
    /// One minter for the whole run: its tokens are cached and reused.
    minter: Option<MintingLayer>,
    partner: PartnerAuth,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("signing", &self.minter.is_some()).field("partner", &self.partner).finish()
    }
}

impl Credentials {
    /// Calls carry no credential (a target with `auth.mode = "disabled"`).
    pub fn none() -> Self {
        Self { minter: None, partner: PartnerAuth::ApiKey }
    }

    pub fn signed(signer: Signer, partner: PartnerAuth) -> Self {
        Self { minter: Some(MintingLayer::fitting(signer)), partner }
    }

    /// HS256 with the secret in `key_file` (trailing whitespace ignored, at least 32 bytes).
    pub fn from_key_file(key_file: &Path, issuer: &str, audience: &str, partner: PartnerAuth) -> anyhow::Result<Self> {
        let config = SigningConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithm: Algorithm::HS256,
            key_file: key_file.to_path_buf(),
        };
        let signer = Signer::from_config(&config).map_err(|e| anyhow::anyhow!("--signing-key-file: {e}"))?;
        Ok(Self::signed(signer, partner))
    }

    pub fn enabled(&self) -> bool {
        self.minter.is_some()
    }

    /// Whether partners need an API key created for each account.
    pub fn partner_keys(&self) -> bool {
        self.minter.is_some() && self.partner == PartnerAuth::ApiKey
    }

    /// How the result names the credentials.
    pub fn label(&self) -> &'static str {
        match (&self.minter, self.partner) {
            (None, _) => "none",
            (Some(_), PartnerAuth::ApiKey) => "jwt + partner api keys",
            (Some(_), PartnerAuth::Token) => "jwt",
        }
    }

    /// The clients' connection for calls signed per call (admin, agents, and partners minting
    /// tokens), or without credentials.
    pub fn minting(&self, channel: Channel) -> Conn {
        match &self.minter {
            Some(minter) => Conn::Minting(tower::Layer::layer(minter, channel)),
            None => Conn::Plain(channel),
        }
    }

    /// The connection of a partner of one account: its API key when it has one.
    pub fn partner(&self, channel: Channel, key: Option<&http::HeaderValue>) -> Conn {
        match key {
            Some(value) if self.partner_keys() => Conn::Bearer(channel, value.clone()),
            _ => self.minting(channel),
        }
    }
}

/// A partner API key as the `authorization` header value.
pub fn bearer(secret: &str) -> anyhow::Result<http::HeaderValue> {
    format!("Bearer {secret}").parse().context("the partner key is not a header value")
}

/// Writes a new random HS256 secret (0600) into `dir` and returns its path.
pub fn write_secret(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("signing.key");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, switchyard_auth::apikey::random_secret().as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The `[auth]` section trusting `key_file` (issuer [`HARNESS_ISSUER`]), or turning
/// authentication off, merged over a target config's TOML text.
pub fn target_config(base: &str, key_file: Option<&Path>) -> anyhow::Result<String> {
    let mut table: toml::Table = base.parse().context("the scenario's switchyard.toml is not TOML")?;
    let auth = table.entry("auth").or_insert_with(|| toml::Table::new().into());
    let toml::Value::Table(auth) = auth else { anyhow::bail!("switchyard.toml: auth is not a table") };
    match key_file {
        Some(key_file) => {
            let mut issuer = toml::Table::new();
            issuer.insert("issuer".into(), HARNESS_ISSUER.into());
            issuer.insert("audience".into(), AUDIENCE.into());
            issuer.insert("algorithm".into(), "HS256".into());
            issuer.insert("key_file".into(), key_file.display().to_string().into());
            let issuers = auth.entry("issuers").or_insert_with(|| toml::Value::Array(Vec::new()));
            let toml::Value::Array(issuers) = issuers else {
                anyhow::bail!("switchyard.toml: auth.issuers is not an array of tables")
            };
            issuers.push(issuer.into());
        }
        None => {
            auth.insert("mode".into(), "disabled".into());
        }
    }
    toml::to_string(&table).context("writing the target's config")
}

/// The signing section of a local runner's service config (`[auth.signing]`), if its
/// services require authentication; None when they run with `auth.mode = "disabled"`.
pub fn from_local_config(config: &Path, partner: PartnerAuth) -> anyhow::Result<Option<Credentials>> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not TOML", config.display()))?;
    let auth = table.get("auth").and_then(|a| a.as_table());
    if auth.and_then(|a| a.get("mode")).and_then(|m| m.as_str()) == Some("disabled") {
        return Ok(None);
    }
    let signing = auth.and_then(|a| a.get("signing")).and_then(|s| s.as_table());
    let get = |key: &str| signing.and_then(|s| s.get(key)).and_then(|v| v.as_str());
    let Some(key_file) = get("key_file") else {
        anyhow::bail!("{}: no auth.signing.key_file (a local runner older than authentication?)", config.display())
    };
    let config = SigningConfig {
        issuer: get("issuer").unwrap_or("switchyard").to_owned(),
        audience: get("audience").unwrap_or(AUDIENCE).to_owned(),
        algorithm: Algorithm::HS256,
        key_file: PathBuf::from(key_file),
    };
    let signer = Signer::from_config(&config).map_err(|e| anyhow::anyhow!("the local runner's signing key: {e}"))?;
    Ok(Some(Credentials::signed(signer, partner)))
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send>>;

/// A client connection with its credentials: one type for every generated client.
#[derive(Clone)]
pub enum Conn {
    /// No credential.
    Plain(Channel),
    /// A fixed credential (a partner API key), as `authorization: Bearer ...`.
    Bearer(Channel, http::HeaderValue),
    /// A token minted per call for the account (and agent) the request names.
    Minting(Minting<Channel>),
}

impl tower::Service<http::Request<Body>> for Conn {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Conn::Plain(channel) | Conn::Bearer(channel, _) => channel.poll_ready(cx).map_err(Into::into),
            Conn::Minting(minting) => minting.poll_ready(cx),
        }
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        match self {
            Conn::Plain(channel) => {
                let future = channel.call(request);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
            Conn::Bearer(channel, value) => {
                request.headers_mut().insert(http::header::AUTHORIZATION, value.clone());
                let future = channel.call(request);
                Box::pin(async move { future.await.map_err(Into::into) })
            }
            Conn::Minting(minting) => minting.call(request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_config_gets_the_issuer_or_auth_off_and_keeps_the_rest() {
        let text = target_config("[router]\nheadroom = 2.5\n", Some(Path::new("/tmp/k"))).unwrap();
        let table: toml::Table = text.parse().unwrap();
        assert_eq!(table["router"]["headroom"].as_float(), Some(2.5));
        let issuer = &table["auth"]["issuers"][0];
        assert_eq!(issuer["issuer"].as_str(), Some(HARNESS_ISSUER));
        assert_eq!(issuer["key_file"].as_str(), Some("/tmp/k"));
        let off: toml::Table = target_config("", None).unwrap().parse().unwrap();
        assert_eq!(off["auth"]["mode"].as_str(), Some("disabled"));
        assert!(target_config("auth = 3", None).is_err());
    }

    #[test]
    fn credentials_come_from_a_local_runner_config() {
        let dir = tempfile::tempdir().unwrap();
        let key = write_secret(dir.path()).unwrap();
        let mode = std::fs::metadata(&key).unwrap().permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
        let config = dir.path().join("connectors.toml");
        std::fs::write(
            &config,
            format!("[auth.signing]\nissuer = \"switchyard-local\"\nkey_file = \"{}\"\n", key.display()),
        )
        .unwrap();
        let credentials = from_local_config(&config, PartnerAuth::ApiKey).unwrap().unwrap();
        assert!(credentials.enabled() && credentials.partner_keys());
        std::fs::write(&config, "[auth]\nmode = \"disabled\"\n").unwrap();
        assert!(from_local_config(&config, PartnerAuth::ApiKey).unwrap().is_none());
        std::fs::write(&config, "[kafka]\n").unwrap();
        let err = from_local_config(&config, PartnerAuth::ApiKey).unwrap_err().to_string();
        assert!(err.contains("no auth.signing.key_file"), "{err}");
        let short = dir.path().join("short.key");
        std::fs::write(&short, "too short").unwrap();
        let err = Credentials::from_key_file(&short, "x", AUDIENCE, PartnerAuth::Token).unwrap_err().to_string();
        assert!(err.starts_with("--signing-key-file: ") && err.contains("at least 32 bytes"), "{err}");
    }
}
