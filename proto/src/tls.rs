//! TLS material for the gRPC hop, read from PEM files: the checks both ends share (a file that
//! is missing or holds no PEM item is an error naming the setting), and [`ClientTls`], the
//! client side (CA bundle, optional client certificate for mTLS, server name) used by tests, the
//! load harness and anything else that calls a Switchyard gRPC port over TLS.
//!
//! rustls with ring (tonic's `tls-ring`); no system roots: a client trusts the CA it is given.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// A file of TLS material that cannot be used; `setting` names where it was configured
/// (e.g. `tls.cert_file`, `--tls-ca`).
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{setting}: cannot read {}: {source}", path.display())]
    Read {
        setting: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{setting}: {} holds no PEM {what}", path.display())]
    Missing { setting: String, path: PathBuf, what: &'static str },
    #[error("{setting}: {} is not valid PEM: {reason}", path.display())]
    Invalid { setting: String, path: PathBuf, reason: String },
}

/// Reads a PEM file holding one or more certificates (a chain, or a CA bundle) and returns its
/// bytes, after checking that every item parses and at least one certificate is there.
pub fn read_certificates(setting: &str, path: &Path) -> Result<Vec<u8>, PemError> {
    let bytes = read(setting, path)?;
    let certs =
        CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>().map_err(|e| invalid(setting, path, e))?;
    if certs.is_empty() {
        return Err(PemError::Missing { setting: setting.into(), path: path.into(), what: "certificate" });
    }
    Ok(bytes)
}

/// Reads a PEM file holding a private key (PKCS#8, PKCS#1 or SEC1) and returns its bytes.
pub fn read_private_key(setting: &str, path: &Path) -> Result<Vec<u8>, PemError> {
    let bytes = read(setting, path)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(bytes),
        Err(rustls_pki_types::pem::Error::NoItemsFound) => Err(PemError::Missing {
            setting: setting.into(),
            path: path.into(),
            what: "private key (PKCS#8, PKCS#1 or SEC1)",
        }),
        Err(e) => Err(invalid(setting, path, e)),
    }
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read { setting: setting.into(), path: path.into(), source })
}

fn invalid(setting: &str, path: &Path, e: rustls_pki_types::pem::Error) -> PemError {
    PemError::Invalid { setting: setting.into(), path: path.into(), reason: e.to_string() }
}

/// Client side of TLS on a gRPC channel: the CA bundle that signed the server's certificate,
/// optionally a client certificate and key (mTLS), and the name to check in the server's
/// certificate (default: the host of the URL).
#[derive(Clone, Debug)]
pub struct ClientTls {
    config: ClientTlsConfig,
}

impl ClientTls {
    /// Trusts the CA certificates in `ca_file` (PEM). `setting` names the option in errors.
    pub fn from_ca_file(setting: &str, ca_file: &Path) -> Result<Self, PemError> {
        let ca = read_certificates(setting, ca_file)?;
        Ok(Self::from_ca_pem(ca))
    }

    /// Trusts the CA certificates in `ca_pem`.
    pub fn from_ca_pem(ca_pem: impl AsRef<[u8]>) -> Self {
        Self { config: ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)) }
    }

    /// Presents the certificate (chain) in `cert_file` with the key in `key_file` (mTLS).
    /// `settings` names the two options in errors.
    pub fn with_identity_files(
        self,
        settings: (&str, &str),
        cert_file: &Path,
        key_file: &Path,
    ) -> Result<Self, PemError> {
        let cert = read_certificates(settings.0, cert_file)?;
        let key = read_private_key(settings.1, key_file)?;
        Ok(self.with_identity_pem(cert, key))
    }

    /// Presents `cert_pem` with `key_pem` (mTLS).
    pub fn with_identity_pem(self, cert_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        Self { config: self.config.identity(Identity::from_pem(cert_pem, key_pem)) }
    }

    /// Checks the server's certificate against `domain` instead of the URL's host.
    pub fn with_domain(self, domain: impl Into<String>) -> Self {
        Self { config: self.config.domain_name(domain) }
    }

    /// An endpoint for `url` that speaks TLS. tonic uses TLS only for `https://` URLs, so an
    /// `http://` URL is called as `https://` (never plaintext by mistake).
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, tonic::transport::Error> {
        Endpoint::from_shared(https(url))?.tls_config(self.config.clone())
    }

    /// The underlying tonic configuration.
    pub fn config(&self) -> &ClientTlsConfig {
        &self.config
    }
}

/// `url` with an `http://` scheme replaced by `https://`.
pub fn https(url: &str) -> String {
    match url.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    }
}

/// An error and all its sources, `outer: inner: ...` (TLS and connection errors hide the
/// reason in their sources).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn errors_name_the_setting_and_the_file() {
        let dir = std::env::temp_dir().join(format!("sy-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("nope.pem");
        let err = read_certificates("tls.cert_file", &missing).unwrap_err().to_string();
        assert!(err.starts_with("tls.cert_file: cannot read ") && err.contains("nope.pem"), "{err}");

        let text = file(&dir, "text.pem", "not a certificate\n");
        let err = read_certificates("tls.client_ca_file", &text).unwrap_err().to_string();
        assert!(err.contains("tls.client_ca_file") && err.contains("holds no PEM certificate"), "{err}");
        let err = read_private_key("tls.key_file", &text).unwrap_err().to_string();
        assert!(err.contains("tls.key_file") && err.contains("holds no PEM private key"), "{err}");

        let broken = file(&dir, "broken.pem", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
        let err = read_certificates("--tls-ca", &broken).unwrap_err().to_string();
        assert!(err.contains("--tls-ca") && err.contains("is not valid PEM"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn http_urls_become_https() {
        assert_eq!(https("http://127.0.0.1:7101"), "https://127.0.0.1:7101");
        assert_eq!(https("https://h:1"), "https://h:1");
    }
}
