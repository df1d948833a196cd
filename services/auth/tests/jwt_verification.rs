//! Bearer JWT verification for each supported algorithm and key source (HS256 secret file,
//! RS256 and ES256 PEM public keys, a JWKS chosen by `kid`), and each way a token is wrong.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::EncodingKey;
use switchyard_auth::{Algorithm, IssuerConfig, Role, Signer, TokenError, Verifier};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn issuer(name: &str, algorithm: Algorithm, key_file: PathBuf) -> IssuerConfig {
    IssuerConfig { issuer: name.into(), algorithm, key_file, leeway: Duration::ZERO, ..IssuerConfig::default() }
}

fn rsa_signer(issuer: &str) -> Signer {
    let key = EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    Signer::new(issuer, "switchyard", Algorithm::RS256, key)
}

fn ec_signer(issuer: &str) -> Signer {
    let key = EncodingKey::from_ec_pem(&std::fs::read(fixture("ec-private.pem")).unwrap()).unwrap();
    Signer::new(issuer, "switchyard", Algorithm::ES256, key)
}

#[test]
fn rs256_and_es256_tokens_verify_against_their_public_keys_and_give_the_caller() {
    let verifier = Verifier::new(&[
        issuer("idp-rsa", Algorithm::RS256, fixture("rsa-public.pem")),
        issuer("idp-ec", Algorithm::ES256, fixture("ec-public.pem")),
    ])
    .unwrap();
    for signer in [rsa_signer("idp-rsa"), ec_signer("idp-ec")] {
        let token = signer.issue("acme", "mia", &[Role::AgentManager, Role::Agent], Duration::from_secs(60)).unwrap();
        let who = verifier.verify(&token).unwrap();
        assert_eq!((who.account_id.as_str(), who.subject.as_str()), ("acme", "mia"));
        assert_eq!(who.roles, [Role::AgentManager, Role::Agent]);
    }
    // An RSA token claiming the EC issuer does not verify with the EC key.
    let forged = rsa_signer("idp-ec").issue("acme", "mia", &[Role::Admin], Duration::from_secs(60)).unwrap();
    assert!(verifier.verify(&forged).is_err());
}

#[test]
fn a_jwks_picks_the_key_by_kid_and_refuses_an_unknown_one() {
    let rsa = EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&rsa, jsonwebtoken::Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("2026-11".into());
    let dir = std::env::temp_dir().join(format!("jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, serde_json::to_vec(&jsonwebtoken::jwk::JwkSet { keys: vec![jwk] }).unwrap()).unwrap();
    let config =
        IssuerConfig { issuer: "idp".into(), algorithm: Algorithm::RS256, jwks_file: file, ..IssuerConfig::default() };
    let verifier = Verifier::new(&[config]).unwrap();
    let claims = serde_json::json!({"sub": "mia", "account": "acme", "roles": ["admin"], "iss": "idp", "aud": "switchyard", "exp": now() + 60, "iat": now()});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("2026-11".into());
    let token = jsonwebtoken::encode(&header, &claims, &rsa).unwrap();
    assert_eq!(verifier.verify(&token).unwrap().roles, [Role::Admin]);
    header.kid = Some("2025-01".into());
    let token = jsonwebtoken::encode(&header, &claims, &rsa).unwrap();
    assert_eq!(verifier.verify(&token).unwrap_err(), TokenError::BadSignature);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn wrong_tokens_are_refused_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("hs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    let verifier = Verifier::new(&[issuer("sy", Algorithm::HS256, secret.clone())]).unwrap();
    let signer = Signer::hs256("sy", "switchyard", b"0123456789abcdef0123456789abcdef");
    let t = now();
    let ok = signer.issue("acme", "a", &[Role::Agent], Duration::from_secs(60)).unwrap();
    assert!(verifier.verify(&ok).is_ok(), "the trailing newline of the secret file is not part of the secret");
    let cases = [
        (signer.issue_at("acme", "a", &[Role::Agent], t - 100, t - 10).unwrap(), TokenError::Expired),
        (signer.issue_at("acme", "a", &[Role::Agent], t + 100, t + 200).unwrap(), TokenError::NotYetValid),
        (
            Signer::hs256("sy", "elsewhere", b"0123456789abcdef0123456789abcdef")
                .issue("acme", "a", &[], Duration::from_secs(60))
                .unwrap(),
            TokenError::WrongAudienceOrIssuer,
        ),
        (
            Signer::hs256("sy", "switchyard", b"another secret another secret 32")
                .issue("acme", "a", &[], Duration::from_secs(60))
                .unwrap(),
            TokenError::BadSignature,
        ),
        (signer.issue("", "a", &[Role::Agent], Duration::from_secs(60)).unwrap(), TokenError::MissingClaim),
        ("not.a.jwt".to_owned(), TokenError::Malformed),
        (rsa_signer("sy").issue("acme", "a", &[], Duration::from_secs(60)).unwrap(), TokenError::BadSignature),
    ];
    for (token, reason) in cases {
        assert_eq!(verifier.verify(&token).unwrap_err(), reason, "{token}");
    }
    // A short secret is a configuration error naming the key.
    std::fs::write(&secret, "short").unwrap();
    let err = Verifier::new(&[issuer("sy", Algorithm::HS256, secret)]).err().unwrap().to_string();
    assert!(err.contains("auth.issuers[0].key_file") && err.contains("32 bytes"), "{err}");
    let err = Verifier::new(&[issuer("x", Algorithm::RS256, fixture("ec-public.pem"))]).err().unwrap().to_string();
    assert!(err.contains("auth.issuers[0].key_file"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
