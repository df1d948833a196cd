//! TLS on the gRPC port (`[tls]`): the server certificate and key, and optionally the CA whose
//! client certificates are accepted (mTLS, required or optional). Off by default: plaintext.
//! Every service's gRPC server (with its health and reflection) uses the same section; the ops
//! HTTP port stays plain HTTP for probes and scrapes.
//!
//! The files are read once at start: a renewed certificate is served after a restart.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_proto::tls::{read_certificates, read_private_key};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// Whether clients must present a certificate signed by `tls.client_ca_file`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Clients are not asked for a certificate.
    #[default]
    None,
    /// A client may present a certificate; one that does must be signed by the CA.
    Optional,
    /// Every client must present a certificate signed by the CA (mTLS).
    Required,
}

/// `[tls]`: TLS on every service's gRPC port. Paths to PEM files (mounted Secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM), leaf first. Empty (with `key_file`): plaintext gRPC.
    pub cert_file: String,
    /// The private key of `cert_file` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// CA certificates (PEM bundle) that sign accepted client certificates; needed by
    /// `client_auth` "optional" and "required".
    pub client_ca_file: String,
    /// "none", "optional" or "required": whether clients present a certificate (mTLS).
    pub client_auth: ClientAuth,
}

/// How the gRPC port is served, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plaintext,
    Tls,
    MtlsOptional,
    MtlsRequired,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plaintext => "plaintext",
            Mode::Tls => "tls",
            Mode::MtlsOptional => "mtls-optional",
            Mode::MtlsRequired => "mtls-required",
        }
    }
}

/// A server TLS configuration ready for tonic, built from [`TlsConfig`].
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub config: ServerTlsConfig,
    pub mode: Mode,
}

/// Longest TLS handshake a connection gets before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty() || !self.key_file.is_empty()
    }

    pub fn mode(&self) -> Mode {
        match (self.enabled(), self.client_auth) {
            (false, _) => Mode::Plaintext,
            (true, ClientAuth::None) => Mode::Tls,
            (true, ClientAuth::Optional) => Mode::MtlsOptional,
            (true, ClientAuth::Required) => Mode::MtlsRequired,
        }
    }

    /// Checks the settings against each other (no file is read).
    pub fn validate(&self) -> Result<(), String> {
        if self.cert_file.is_empty() != self.key_file.is_empty() {
            let (set, unset) =
                if self.cert_file.is_empty() { ("key_file", "cert_file") } else { ("cert_file", "key_file") };
            return Err(format!("tls.{set} is set but tls.{unset} is not: set both (TLS) or neither (plaintext)"));
        }
        if self.client_auth != ClientAuth::None && self.client_ca_file.is_empty() {
            return Err(format!(
                "tls.client_auth = {:?} needs tls.client_ca_file (the CA that signs client certificates)",
                self.client_auth.as_str()
            ));
        }
        if !self.client_ca_file.is_empty() && !self.enabled() {
            return Err("tls.client_ca_file is set but tls.cert_file and tls.key_file are not: client certificates \
                        need TLS on"
                .into());
        }
        if !self.client_ca_file.is_empty() && self.client_auth == ClientAuth::None {
            return Err("tls.client_ca_file is set but tls.client_auth is \"none\": set client_auth to \"optional\" \
                        or \"required\", or remove client_ca_file"
                .into());
        }
        Ok(())
    }

    /// Reads and checks the files: None when TLS is off. Errors name the setting and the file
    /// (missing, unreadable, not PEM, key not matching the certificate).
    pub fn load(&self) -> Result<Option<ServerTls>, String> {
        self.validate()?;
        if !self.enabled() {
            return Ok(None);
        }
        let cert = read_certificates("tls.cert_file", Path::new(&self.cert_file)).map_err(|e| e.to_string())?;
        let key = read_private_key("tls.key_file", Path::new(&self.key_file)).map_err(|e| e.to_string())?;
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key)).timeout(HANDSHAKE_TIMEOUT);
        if self.client_auth != ClientAuth::None {
            let ca =
                read_certificates("tls.client_ca_file", Path::new(&self.client_ca_file)).map_err(|e| e.to_string())?;
            config = config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(self.client_auth == ClientAuth::Optional);
        }
        // tonic builds the rustls configuration here: a key that does not match the
        // certificate, or a CA bundle without a usable certificate, fails now and not at the
        // first connection.
        tonic::transport::Server::builder().tls_config(config.clone()).map_err(|e| {
            format!(
                "tls: cannot use tls.cert_file {} with tls.key_file {}{}: {}",
                self.cert_file,
                self.key_file,
                if self.client_auth == ClientAuth::None {
                    String::new()
                } else {
                    format!(" and tls.client_ca_file {}", self.client_ca_file)
                },
                switchyard_proto::tls::error_chain(&e)
            )
        })?;
        Ok(Some(ServerTls { config, mode: self.mode() }))
    }
}

impl ClientAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
