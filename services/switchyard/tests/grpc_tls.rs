//! TLS on the gRPC port (`[tls]`), with real handshakes on 127.0.0.1: certificates are made
//! here (a CA, a server certificate for 127.0.0.1 and localhost, client certificates from that
//! CA and from another one). A TLS client completes RPCs, health and reflection; a plaintext
//! client does not; under `client_auth = "required"` only a client certificate from the
//! configured CA gets through, under "optional" a client without one does too. Bad `[tls]`
//! settings stop the binary with a configuration error naming the key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use switchyard::Config;
use switchyard_kit::tls::{ClientAuth, TlsConfig};
use switchyard_proto::admin::v1::{CreateAccountRequest, CreateSkillRequest, ListSkillsRequest, Skill};
use switchyard_proto::tls::ClientTls;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A certificate authority made for the test.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn issue(&self, name: &str, sans: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }

    fn server(&self) -> Leaf {
        self.issue("switchyard", &["127.0.0.1", "localhost"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, name: &str) -> Leaf {
        self.issue(name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// The files a deployment mounts: server certificate and key, client CA bundle.
struct Mounted {
    dir: tempfile::TempDir,
}

impl Mounted {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap() }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn tls(&self, server: &Leaf, client_ca: Option<&Ca>, client_auth: ClientAuth) -> TlsConfig {
        let s = |p: PathBuf| p.display().to_string();
        TlsConfig {
            cert_file: s(self.write("tls.crt", &server.cert)),
            key_file: s(self.write("tls.key", &server.key)),
            client_ca_file: client_ca.map(|ca| s(self.write("ca.crt", &ca.pem()))).unwrap_or_default(),
            client_auth,
        }
    }
}

async fn cluster_with(tls: TlsConfig) -> Cluster {
    Cluster::start(Config { tls, ..Default::default() }).await
}

/// A client that trusts `ca` and presents `identity`, if any.
fn client(ca: &Ca, identity: Option<&Leaf>) -> ClientTls {
    let tls = ClientTls::from_ca_pem(ca.pem());
    match identity {
        Some(leaf) => tls.with_identity_pem(&leaf.cert, &leaf.key),
        None => tls,
    }
}

/// gRPC health of the server at `url` over `tls`: Ok(status) or the whole error chain.
async fn health(url: &str, tls: Option<&ClientTls>) -> Result<ServingStatus, String> {
    let call = async {
        let endpoint = match tls {
            Some(tls) => tls.endpoint(url).map_err(|e| switchyard_proto::tls::error_chain(&e))?,
            None => Channel::from_shared(url.to_owned()).map_err(|e| switchyard_proto::tls::error_chain(&e))?,
        };
        let channel = endpoint.connect().await.map_err(|e| switchyard_proto::tls::error_chain(&e))?;
        let response = HealthClient::new(channel)
            .check(HealthCheckRequest { service: String::new() })
            .await
            .map_err(|s| format!("{}: {}", s.code(), switchyard_proto::tls::error_chain(&s)))?;
        Ok(response.into_inner().status())
    };
    tokio::time::timeout(Duration::from_secs(10), call).await.unwrap_or_else(|_| Err("timed out".into()))
}

/// The same URL in plaintext (what a client without TLS calls).
fn plaintext(url: &str) -> String {
    url.replacen("https://", "http://", 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_rpcs_health_and_reflection_and_refuses_plaintext() {
    let ca = Ca::new("switchyard test ca");
    let files = Mounted::new();
    let mut cluster = cluster_with(files.tls(&ca.server(), None, ClientAuth::None)).await;
    let trusted = client(&ca, None);
    for service in switchyard_registry::Service::ALL.map(|s| s.name()) {
        let url = cluster.grpc[service].clone();
        assert!(url.starts_with("https://"), "{url}");
        assert_eq!(health(&url, Some(&trusted)).await, Ok(ServingStatus::Serving), "{service}");
        // By name too: the certificate is for localhost as well as 127.0.0.1.
        let by_name = trusted.clone().with_domain("localhost");
        assert_eq!(health(&url, Some(&by_name)).await, Ok(ServingStatus::Serving), "{service}");
        let err = health(&plaintext(&url), None).await.unwrap_err();
        assert!(!err.is_empty(), "{service}: plaintext call answered");
        // A client that does not trust the server's CA stops at the handshake.
        let err = health(&url, Some(&client(&Ca::new("someone else"), None))).await.unwrap_err();
        assert!(err.contains("UnknownIssuer") || err.contains("certificate"), "{service}: {err}");
        // A name the certificate does not hold.
        let err = health(&url, Some(&trusted.clone().with_domain("switchyard.example"))).await.unwrap_err();
        assert!(err.contains("NotValidForName") || err.contains("certificate"), "{service}: {err}");
    }

    // An RPC of a service, and reflection, on the same TLS port.
    cluster.client_tls = Some(trusted.clone());
    let mut admin = cluster.routing_admin().await;
    admin.create_account(CreateAccountRequest { account_id: "acme".into(), name: "Acme".into() }).await.unwrap();
    admin
        .create_skill(CreateSkillRequest {
            account_id: "acme".into(),
            skill: Some(Skill { skill_id: "sales".into(), ..Default::default() }),
        })
        .await
        .unwrap();
    let skills = admin.list_skills(ListSkillsRequest { account_id: "acme".into() }).await.unwrap().into_inner().skills;
    assert_eq!(skills.iter().map(|s| s.skill_id.as_str()).collect::<Vec<_>>(), ["sales"]);
    let services = reflection_services(cluster.raw("router").await).await;
    assert!(services.iter().any(|s| s == "switchyard.admin.v1.RoutingAdminService"), "{services:?}");

    // The ops port stays plain HTTP (probes).
    let (code, _) = http_get(&format!("{}/health/readyz", cluster.ops["router"])).await.unwrap();
    assert_eq!(code, 200);
    cluster.stop().await;
}

/// The services listed by gRPC reflection v1 on `channel`.
async fn reflection_services(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    match stream.message().await.unwrap().and_then(|r| r.message_response) {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required_accepts_only_client_certificates_of_the_configured_ca() {
    let ca = Ca::new("switchyard test ca");
    let partners_ca = Ca::new("partners ca");
    let other_ca = Ca::new("another ca");
    let files = Mounted::new();
    // The clients' CA is not the server's: partners bring certificates of their own CA.
    let cluster = cluster_with(files.tls(&ca.server(), Some(&partners_ca), ClientAuth::Required)).await;
    let url = cluster.grpc["connectors"].clone();

    // Refusals surface as a TLS alert or a closed connection, depending on timing (TLS 1.3
    // ends the client's handshake before the server checks its certificate): the call fails,
    // and the same server answers the partner below.
    let err = health(&url, Some(&client(&ca, None))).await.unwrap_err();
    assert!(!err.is_empty());
    let stranger = other_ca.client("stranger");
    let err = health(&url, Some(&client(&ca, Some(&stranger)))).await.unwrap_err();
    assert!(!err.is_empty());
    // A certificate of the server's own CA is not one of the partners' either.
    let err = health(&url, Some(&client(&ca, Some(&ca.client("insider"))))).await.unwrap_err();
    assert!(!err.is_empty());
    assert!(health(&plaintext(&url), None).await.is_err());

    let partner = partners_ca.client("partner-1");
    assert_eq!(health(&url, Some(&client(&ca, Some(&partner)))).await, Ok(ServingStatus::Serving));
    // grpcurl as the README shows it: -cacert, -cert and -key (reflection over mTLS too).
    let grpcurl = switchyard_testkit::tool("grpcurl").unwrap();
    let addr = url.trim_start_matches("https://").to_owned();
    let ca_file = files.write("server-ca.crt", &ca.pem());
    let (cert_file, key_file) = (files.write("partner.crt", &partner.cert), files.write("partner.key", &partner.key));
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(&grpcurl).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let method = "grpc.health.v1.Health/Check";
    let (ok, out) = run(&[
        "-cacert".as_ref(),
        ca_file.as_ref(),
        "-cert".as_ref(),
        cert_file.as_ref(),
        "-key".as_ref(),
        key_file.as_ref(),
        addr.as_ref(),
        method.as_ref(),
    ]);
    assert!(ok && out.contains("SERVING"), "{out}");
    let (ok, out) = run(&["-cacert".as_ref(), ca_file.as_ref(), addr.as_ref(), method.as_ref()]);
    assert!(!ok, "grpcurl without a client certificate: {out}");
    let (ok, out) = run(&["-plaintext".as_ref(), addr.as_ref(), method.as_ref()]);
    assert!(!ok, "grpcurl -plaintext: {out}");

    // Every service's port, after the refusals above.
    for service in switchyard_registry::Service::ALL.map(|s| s.name()) {
        let status = health(&cluster.grpc[service], Some(&client(&ca, Some(&partner)))).await;
        assert_eq!(status, Ok(ServingStatus::Serving), "{service}");
    }
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_optional_accepts_clients_without_a_certificate_but_checks_those_with_one() {
    let ca = Ca::new("switchyard test ca");
    let other_ca = Ca::new("another ca");
    let files = Mounted::new();
    let cluster = cluster_with(files.tls(&ca.server(), Some(&ca), ClientAuth::Optional)).await;
    let url = cluster.grpc["router"].clone();
    assert_eq!(health(&url, Some(&client(&ca, None))).await, Ok(ServingStatus::Serving));
    assert_eq!(health(&url, Some(&client(&ca, Some(&ca.client("service-a"))))).await, Ok(ServingStatus::Serving));
    let err = health(&url, Some(&client(&ca, Some(&other_ca.client("stranger"))))).await.unwrap_err();
    assert!(!err.is_empty());
    assert!(health(&plaintext(&url), None).await.is_err());
    cluster.stop().await;
}

// --- configuration errors of the binary ---------------------------------------------------------

/// `switchyard [--dump-config] up` with `env`: exit code, stdout and stderr. Without
/// --dump-config it is only run with settings that stop it before it binds a port.
fn switchyard(dump: bool, env: &[(&str, &Path)], extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(if dump { &["--dump-config", "up"][..] } else { &["up"][..] }).env_remove("SWITCHYARD_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn bad_tls_settings_are_configuration_errors_naming_the_key() {
    let ca = Ca::new("switchyard test ca");
    let files = Mounted::new();
    let server = ca.server();
    let cert = files.write("tls.crt", &server.cert);
    let key = files.write("tls.key", &server.key);
    let missing = files.dir.path().join("absent.key");
    let not_pem = files.write("notes.txt", "not a certificate\n");

    // Settings that contradict each other: refused by the configuration check itself, so
    // `--dump-config` refuses them too.
    let (code, err) = switchyard(true, &[("SWITCHYARD_TLS__CERT_FILE", &cert)], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tls.cert_file is set but tls.key_file is not"), "{err}");
    let both = [("SWITCHYARD_TLS__CERT_FILE", cert.as_path()), ("SWITCHYARD_TLS__KEY_FILE", key.as_path())];
    let (code, err) = switchyard(true, &both, &[("SWITCHYARD_TLS__CLIENT_AUTH", "required")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tls.client_auth") && err.contains("needs tls.client_ca_file"), "{err}");
    let (code, err) = switchyard(true, &both, &[("SWITCHYARD_TLS__CLIENT_AUTH", "sometimes")]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("sometimes"), "{err}");

    // Files that cannot be used: refused at start, before any port is bound.
    let (code, err) =
        switchyard(false, &[("SWITCHYARD_TLS__CERT_FILE", &cert), ("SWITCHYARD_TLS__KEY_FILE", &missing)], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid configuration: tls.key_file: cannot read") && err.contains("absent.key"), "{err}");
    let (code, err) =
        switchyard(false, &[("SWITCHYARD_TLS__CERT_FILE", &not_pem), ("SWITCHYARD_TLS__KEY_FILE", &key)], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tls.cert_file") && err.contains("holds no PEM certificate"), "{err}");
    let (code, err) = switchyard(
        false,
        &both,
        &[("SWITCHYARD_TLS__CLIENT_AUTH", "required"), ("SWITCHYARD_TLS__CLIENT_CA_FILE", "/nonexistent/ca.crt")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("tls.client_ca_file: cannot read /nonexistent/ca.crt"), "{err}");

    // Good settings are shown by --dump-config.
    let (code, out) = switchyard(true, &both, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("[tls]") && out.contains(&format!("cert_file = {:?}", cert.display().to_string())), "{out}");
    assert!(out.contains("client_auth = \"none\""), "{out}");
}
