//! `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-domain`: checked as arguments, and a real TLS
//! (and mTLS) handshake with a gRPC health server on 127.0.0.1 using certificates made here.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use switchyard_proto::tls::ClientTls;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::connect;
use crate::cli::RunArgs;
use crate::launch::{resolve, Mode};
use crate::scenario::Scenario;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, "loadtest ca");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    /// (certificate, key) PEM.
    fn issue(&self, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

/// A gRPC health server (SERVING) on 127.0.0.1 over TLS, requiring a client certificate of
/// `ca`; its URL as http:// (the harness calls it as https://).
async fn mtls_health_server(ca: &Ca) -> String {
    let (cert, key) = ca.issue(&["127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .client_ca_root(Certificate::from_pem(ca.issuer.pem()));
    let (_reporter, health) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = Server::builder().tls_config(tls).unwrap().add_service(health).serve_with_incoming(incoming);
    tokio::spawn(server);
    url
}

#[tokio::test]
async fn the_harness_calls_a_target_over_mtls() {
    let ca = Ca::new();
    let url = mtls_health_server(&ca).await;
    let (cert, key) = ca.issue(&[], ExtendedKeyUsagePurpose::ClientAuth);
    let with_cert = ClientTls::from_ca_pem(ca.issuer.pem()).with_identity_pem(cert, key);
    connect("connectors", &url, Some(&with_cert)).await.unwrap();

    let err = connect("connectors", &url, Some(&ClientTls::from_ca_pem(ca.issuer.pem()))).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("cannot reach connectors at {url}: ")), "{err}");
    assert!(connect("connectors", &url, None).await.is_err());
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn tls_flags_are_checked_and_name_the_flag() {
    let scenario = Scenario::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join("steady")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let (cert, key) = ca.issue(&[], ExtendedKeyUsagePurpose::ClientAuth);
    let ca_file = write(dir.path(), "ca.crt", &ca.issuer.pem());
    let cert_file = write(dir.path(), "client.crt", &cert);
    let key_file = write(dir.path(), "client.key", &key);

    let mut args = RunArgs::new("steady");
    args.tls_ca = Some(dir.path().join("absent.crt"));
    let err = resolve(&args, &scenario).unwrap_err();
    assert!(err.starts_with("--tls-ca: cannot read") && err.contains("absent.crt"), "{err}");

    args.tls_ca = Some(ca_file);
    args.tls_cert = Some(cert_file.clone());
    let err = resolve(&args, &scenario).unwrap_err();
    assert!(err.contains("--tls-cert and --tls-key go together"), "{err}");

    args.tls_key = Some(cert_file);
    let err = resolve(&args, &scenario).unwrap_err();
    assert!(err.starts_with("--tls-key: ") && err.contains("holds no PEM private key"), "{err}");

    args.tls_key = Some(key_file);
    args.tls_domain = Some("router.switchyard.svc".into());
    // Credentials are another matter (checked after TLS): a target running without auth.
    args.no_auth = true;
    let Mode::Given { target, .. } = resolve(&args, &scenario).unwrap() else { panic!("not a given target") };
    assert!(target.tls.is_some());
}
