//! Test certificates: a throw-away CA and certificates it signs, written as PEM files into a
//! directory removed on drop (rcgen, ring). Server certificates name `localhost` and
//! `127.0.0.1`, the only address tests use.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A CA with a server and a client certificate, as files.
pub struct TestPki {
    dir: PathBuf,
    /// PEM of the CA certificate (what clients trust).
    pub ca_pem: String,
}

/// A certificate and its key, as files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestPki {
    /// A new CA named `name`, its files in a fresh temporary directory.
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(crate::unique(&format!("switchyard-pki-{name}")));
        std::fs::create_dir_all(&dir)?;
        let ca = Self::ca(name)?;
        let ca_pem = ca.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem)?;
        let pki = Self { dir, ca_pem };
        // The CA's key stays in memory, and only while it signs.
        pki.sign_all(ca)?;
        Ok(pki)
    }

    fn ca(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("switchyard test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
    }

    fn sign_all(&self, ca: CertifiedIssuer<'static, KeyPair>) -> anyhow::Result<()> {
        let mut server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        server.distinguished_name.push(DnType::CommonName, "localhost");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = server.signed_by(&key, &ca)?;
        std::fs::write(self.dir.join("server.pem"), cert.pem())?;
        std::fs::write(self.dir.join("server.key"), key.serialize_pem())?;

        let mut client = CertificateParams::new(Vec::<String>::new())?;
        client.distinguished_name.push(DnType::CommonName, "switchyard test client");
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate()?;
        let cert = client.signed_by(&key, &ca)?;
        std::fs::write(self.dir.join("client.pem"), cert.pem())?;
        std::fs::write(self.dir.join("client.key"), key.serialize_pem())?;
        Ok(())
    }

    /// The CA certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server certificate (`localhost`, `127.0.0.1`) and key.
    pub fn server(&self) -> CertFiles {
        CertFiles { cert: self.dir.join("server.pem"), key: self.dir.join("server.key") }
    }

    /// A client certificate and key signed by the same CA.
    pub fn client(&self) -> CertFiles {
        CertFiles { cert: self.dir.join("client.pem"), key: self.dir.join("client.key") }
    }

    /// The directory holding the files (for more files next to them).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
