//! Test credentials: a signing key the clusters of a test trust, and clients that attach tokens
//! signed with it (the auth layer is on in every test cluster unless a test turns it off).

use std::path::PathBuf;

use switchyard_auth::client::{Minting, MintingLayer};
use switchyard_auth::{IssuerConfig, Role, Signer};
use tonic::transport::Channel;

pub const TEST_ISSUER: &str = "switchyard-test";

/// A channel whose calls carry a token of the role the RPC needs (see `MintingLayer::fitting`).
pub type Authed = Minting<Channel>;

pub struct TestAuth {
    pub key_file: PathBuf,
    secret: String,
}

impl TestAuth {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(switchyard_testkit::unique("auth"));
        std::fs::create_dir_all(&dir).unwrap();
        let key_file = dir.join("signing.key");
        let secret = switchyard_auth::apikey::random_secret();
        std::fs::write(&key_file, &secret).unwrap();
        Self { key_file, secret }
    }

    pub fn issuer(&self) -> IssuerConfig {
        IssuerConfig { issuer: TEST_ISSUER.into(), key_file: self.key_file.clone(), ..IssuerConfig::default() }
    }

    /// The same issuer as a config file section.
    pub fn toml(&self) -> String {
        format!("[[auth.issuers]]\nissuer = \"{TEST_ISSUER}\"\nkey_file = \"{}\"\n", self.key_file.display())
    }

    pub fn signer(&self) -> Signer {
        Signer::hs256(TEST_ISSUER, "switchyard", self.secret.as_bytes())
    }

    /// Every call as the role the table first grants for its RPC.
    pub fn fitting(&self, channel: Channel) -> Authed {
        tower::Layer::layer(&MintingLayer::fitting(self.signer()), channel)
    }

    /// Every call as `role` (`subject` for roles other than agent and bot).
    pub fn as_role(&self, channel: Channel, role: Role, subject: &str) -> Authed {
        tower::Layer::layer(&MintingLayer::new(self.signer(), role, subject), channel)
    }
}

impl Drop for TestAuth {
    fn drop(&mut self) {
        if let Some(dir) = self.key_file.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
