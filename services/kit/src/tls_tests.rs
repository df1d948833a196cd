use super::*;

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// A self-signed certificate for localhost and its key, as files.
    fn pair(&self, name: &str) -> (String, String) {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (
            self.write(&format!("{name}.crt"), &certified.cert.pem()),
            self.write(&format!("{name}.key"), &certified.signing_key.serialize_pem()),
        )
    }
}

fn err(config: &TlsConfig) -> String {
    config.load().err().unwrap_or_default()
}

#[test]
fn off_by_default_is_plaintext() {
    let config = TlsConfig::default();
    assert_eq!(config.mode(), Mode::Plaintext);
    assert!(config.load().unwrap().is_none());
}

#[test]
fn settings_are_checked_against_each_other() {
    let only_cert = TlsConfig { cert_file: "/x.crt".into(), ..Default::default() };
    let e = err(&only_cert);
    assert!(e.contains("tls.cert_file is set but tls.key_file is not"), "{e}");
    let only_key = TlsConfig { key_file: "/x.key".into(), ..Default::default() };
    assert!(err(&only_key).contains("tls.key_file is set but tls.cert_file is not"));

    let files = Files::new();
    let (cert, key) = files.pair("server");
    for auth in [ClientAuth::Optional, ClientAuth::Required] {
        let no_ca =
            TlsConfig { cert_file: cert.clone(), key_file: key.clone(), client_auth: auth, ..Default::default() };
        let e = err(&no_ca);
        assert!(e.contains("tls.client_auth") && e.contains("needs tls.client_ca_file"), "{e}");
    }
    let ca_without_tls = TlsConfig { client_ca_file: cert.clone(), ..Default::default() };
    assert!(err(&ca_without_tls).contains("tls.client_ca_file is set but tls.cert_file"));
    let ca_without_auth =
        TlsConfig { cert_file: cert.clone(), key_file: key.clone(), client_ca_file: cert, ..Default::default() };
    assert!(err(&ca_without_auth).contains("tls.client_auth is \"none\""));
}

#[test]
fn files_that_cannot_be_used_name_the_setting() {
    let files = Files::new();
    let (cert, key) = files.pair("server");
    let missing = files.dir.path().join("missing.key").display().to_string();
    let e = err(&TlsConfig { cert_file: cert.clone(), key_file: missing, ..Default::default() });
    assert!(e.starts_with("tls.key_file: cannot read ") && e.contains("missing.key"), "{e}");

    let text = files.write("text.pem", "hello\n");
    let e = err(&TlsConfig { cert_file: text.clone(), key_file: key.clone(), ..Default::default() });
    assert!(e.starts_with("tls.cert_file: ") && e.contains("holds no PEM certificate"), "{e}");
    // A certificate where the key should be.
    let e = err(&TlsConfig { cert_file: cert.clone(), key_file: cert.clone(), ..Default::default() });
    assert!(e.starts_with("tls.key_file: ") && e.contains("holds no PEM private key"), "{e}");
    let e = err(&TlsConfig {
        cert_file: cert.clone(),
        key_file: key.clone(),
        client_ca_file: text,
        client_auth: ClientAuth::Required,
    });
    assert!(e.starts_with("tls.client_ca_file: ") && e.contains("holds no PEM certificate"), "{e}");

    // A key of another certificate.
    let (_, other_key) = files.pair("other");
    let e = err(&TlsConfig { cert_file: cert, key_file: other_key, ..Default::default() });
    assert!(e.starts_with("tls: cannot use tls.cert_file"), "{e}");
}

#[test]
fn modes_follow_client_auth() {
    let files = Files::new();
    let (cert, key) = files.pair("server");
    let (ca, _) = files.pair("ca");
    let base = TlsConfig { cert_file: cert, key_file: key, ..Default::default() };
    assert_eq!(base.load().unwrap().unwrap().mode, Mode::Tls);
    for (auth, mode) in [(ClientAuth::Optional, Mode::MtlsOptional), (ClientAuth::Required, Mode::MtlsRequired)] {
        let config = TlsConfig { client_ca_file: ca.clone(), client_auth: auth, ..base.clone() };
        assert_eq!(config.load().unwrap().unwrap().mode, mode);
    }
}

#[test]
fn client_auth_parses_lowercase() {
    let config: TlsConfig = serde_json::from_str(r#"{"client_auth": "required"}"#).unwrap();
    assert_eq!(config.client_auth, ClientAuth::Required);
    let e = serde_json::from_str::<TlsConfig>(r#"{"client_auth": "always"}"#).unwrap_err().to_string();
    assert!(e.contains("always"), "{e}");
}
