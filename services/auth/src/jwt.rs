//! Bearer JWTs of people and bots: verification against the configured issuers, and signing
//! (`switchyard auth issue-token`, `switchyard up`'s development key, test and load clients).
//! jsonwebtoken does the cryptography and the `exp`/`nbf`/`iss`/`aud` checks.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Algorithm, IssuerConfig, SigningConfig};
use crate::role::{Credential, Principal, Role};

/// The claims Switchyard reads. `account` and `roles` are Switchyard's own; unknown role names
/// are ignored (a newer issuer may know more roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub account: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub iat: u64,
}

/// Why a token was refused (the message of the UNAUTHENTICATED status).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token signature does not verify against any configured issuer")]
    BadSignature,
    #[error("token is not for this audience or issuer")]
    WrongAudienceOrIssuer,
    #[error("token lacks a required claim (sub, account, exp, iss, aud)")]
    MissingClaim,
}

/// A configuration problem with an issuer or signing key, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(pub String);

struct Issuer {
    name: String,
    validation: Validation,
    /// (kid, key); a single-key issuer has one entry with no kid.
    keys: Vec<(Option<String>, DecodingKey)>,
}

/// Verifies bearer JWTs against every configured issuer.
#[derive(Default)]
pub struct Verifier {
    issuers: Vec<Issuer>,
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError(format!("{key}: cannot read {}: {e}", path.display())))
}

/// An HS256 secret file's content, without the trailing newline an editor or `echo` adds.
fn secret(path: &Path, key: &str) -> Result<Vec<u8>, KeyError> {
    let mut bytes = read(path, key)?;
    while bytes.last().is_some_and(|b| b.is_ascii_whitespace()) {
        bytes.pop();
    }
    if bytes.len() < 32 {
        return Err(KeyError(format!(
            "{key}: an HS256 secret must be at least 32 bytes, {} has {}",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl Verifier {
    /// Reads every issuer's keys; `at` names the config key in errors (`auth.issuers`).
    pub fn new(issuers: &[IssuerConfig]) -> Result<Self, KeyError> {
        let mut out = Vec::new();
        for (i, config) in issuers.iter().enumerate() {
            let at = format!("auth.issuers[{i}]");
            let keys = if config.jwks_file.as_os_str().is_empty() {
                let key_at = format!("{at}.key_file");
                let bytes = read(&config.key_file, &key_at)?;
                let key = match config.algorithm {
                    Algorithm::HS256 => DecodingKey::from_secret(&secret(&config.key_file, &key_at)?),
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(&bytes)
                        .map_err(|e| KeyError(format!("{key_at}: not an RSA public key (PEM): {e}")))?,
                    Algorithm::ES256 => DecodingKey::from_ec_pem(&bytes)
                        .map_err(|e| KeyError(format!("{key_at}: not an EC public key (PEM): {e}")))?,
                };
                vec![(None, key)]
            } else {
                let jwks_at = format!("{at}.jwks_file");
                let set: JwkSet = serde_json::from_slice(&read(&config.jwks_file, &jwks_at)?)
                    .map_err(|e| KeyError(format!("{jwks_at}: not a JWKS: {e}")))?;
                let mut keys = Vec::new();
                for jwk in &set.keys {
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError(format!("{jwks_at}: {e}")))?;
                    keys.push((jwk.common.key_id.clone(), key));
                }
                if keys.is_empty() {
                    return Err(KeyError(format!("{jwks_at}: the set holds no key")));
                }
                keys
            };
            let mut validation = Validation::new(config.algorithm.jwt());
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&[&config.audience]);
            validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
            validation.validate_nbf = true;
            validation.leeway = config.leeway.as_secs();
            out.push(Issuer { name: config.issuer.clone(), validation, keys });
        }
        Ok(Self { issuers: out })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// The caller a valid token names.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// The caller a valid token names, and the time (Unix seconds) after which the token is
    /// expired even with the issuer's leeway.
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // The most telling failure wins: a token whose signature verified but is expired says
        // "expired", not "bad signature".
        let mut failure = TokenError::BadSignature;
        for issuer in self.issuers.iter().filter(|i| i.validation.algorithms.contains(&header.alg)) {
            for (kid, key) in &issuer.keys {
                if kid.is_some() && header.kid.is_some() && kid != &header.kid {
                    continue;
                }
                match jsonwebtoken::decode::<Claims>(token, key, &issuer.validation) {
                    Ok(data) => {
                        let until = data.claims.exp.saturating_add(issuer.validation.leeway);
                        return principal(data.claims, &issuer.name).map(|p| (p, until));
                    }
                    Err(err) => {
                        use jsonwebtoken::errors::ErrorKind as K;
                        let this = match err.kind() {
                            K::InvalidSignature | K::InvalidAlgorithm | K::InvalidKeyFormat => continue,
                            K::ExpiredSignature => TokenError::Expired,
                            K::ImmatureSignature => TokenError::NotYetValid,
                            K::InvalidAudience | K::InvalidIssuer => TokenError::WrongAudienceOrIssuer,
                            K::MissingRequiredClaim(_) => TokenError::MissingClaim,
                            K::Json(_) | K::Base64(_) | K::Utf8(_) | K::InvalidToken => TokenError::Malformed,
                            _ => continue,
                        };
                        if failure == TokenError::BadSignature || this == TokenError::Expired {
                            failure = this;
                        }
                    }
                }
            }
        }
        Err(failure)
    }
}

fn principal(claims: Claims, issuer: &str) -> Result<Principal, TokenError> {
    if claims.sub.is_empty() || claims.account.is_empty() {
        return Err(TokenError::MissingClaim);
    }
    let mut roles: Vec<Role> = claims.roles.iter().filter_map(|r| Role::parse(r)).collect();
    roles.sort();
    roles.dedup();
    Ok(Principal {
        account_id: claims.account,
        subject: claims.sub,
        roles,
        credential: Credential::Jwt { issuer: issuer.to_owned() },
        channels: Vec::new(),
    })
}

/// Signs tokens with one key.
#[derive(Clone)]
pub struct Signer {
    issuer: String,
    audience: String,
    header: Header,
    key: EncodingKey,
}

impl Signer {
    /// From `[auth.signing]`.
    pub fn from_config(config: &SigningConfig) -> Result<Self, KeyError> {
        if config.key_file.as_os_str().is_empty() {
            return Err(KeyError("auth.signing.key_file is not set: give the file of the signing key (an HS256 secret, or an RS256/ES256 PKCS#8 private key)".into()));
        }
        let at = "auth.signing.key_file";
        let key = match config.algorithm {
            Algorithm::HS256 => EncodingKey::from_secret(&secret(&config.key_file, at)?),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&read(&config.key_file, at)?)
                .map_err(|e| KeyError(format!("{at}: not an RSA private key (PEM): {e}")))?,
            Algorithm::ES256 => EncodingKey::from_ec_pem(&read(&config.key_file, at)?)
                .map_err(|e| KeyError(format!("{at}: not an EC private key (PKCS#8 PEM): {e}")))?,
        };
        Ok(Self::new(&config.issuer, &config.audience, config.algorithm, key))
    }

    /// An HS256 signer over `secret` (tests, the load harness, `up`'s development key).
    pub fn hs256(issuer: &str, audience: &str, secret: &[u8]) -> Self {
        Self::new(issuer, audience, Algorithm::HS256, EncodingKey::from_secret(secret))
    }

    pub fn new(issuer: &str, audience: &str, algorithm: Algorithm, key: EncodingKey) -> Self {
        Self { issuer: issuer.into(), audience: audience.into(), header: Header::new(algorithm.jwt()), key }
    }

    /// A token for `subject` of `account` with `roles`, valid from now for `ttl`.
    pub fn issue(&self, account: &str, subject: &str, roles: &[Role], ttl: Duration) -> Result<String, KeyError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        self.issue_at(account, subject, roles, now, now + ttl.as_secs())
    }

    /// A token with explicit times (tests: expired and not-yet-valid tokens).
    pub fn issue_at(
        &self,
        account: &str,
        subject: &str,
        roles: &[Role],
        nbf: u64,
        exp: u64,
    ) -> Result<String, KeyError> {
        let claims = Claims {
            sub: subject.into(),
            account: account.into(),
            roles: roles.iter().map(|r| r.name().to_owned()).collect(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp,
            nbf: Some(nbf),
            iat: nbf,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key).map_err(|e| KeyError(format!("cannot sign: {e}")))
    }
}
