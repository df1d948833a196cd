//! Secrets out of printed configuration: one walk over a serialized config tree that every
//! section goes through (`--dump-config`, logs), so a new section needs no change here as long
//! as its secret keys are named like secrets.
//!
//! A value is replaced with [`REDACTED`] when its key, lowercased with `.` and `-` read as `_`,
//!
//! - contains one of [`SECRET_KEY_PARTS`] (`password`, `secret`, `token`, `private_key`,
//!   `credential`, ...): this covers `redis.password`, `auth.hs256_secret`, and librdkafka's
//!   `sasl.password`, `ssl.key.password`, `ssl.keystore.password`,
//!   `sasl.oauthbearer.client.secret`, `ssl.key.pem` and `ssl_key` wherever they appear (the
//!   entries of `kafka.settings` included);
//! - or is one of [`SECRET_KEYS`] (`sasl.oauthbearer.config`, which may carry a client secret);
//!
//! unless the key names a file (it ends with `_file`, `_path`, `_location` or `_dir`, or its
//! parent ends with `_files` or `_paths`): those values are paths to mounted Secrets, printed so
//! a wrong mount can be seen. Empty strings stay empty (nothing is set). Every other string
//! loses the user information of a URL in it (`rediss://user:pass@host` → `rediss://***@host`).

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// A key containing one of these (after normalisation) holds a secret.
pub const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "private_key",
    "credential",
    "api_key",
    "apikey",
    "signing_key",
    "ssl_key",
    "key_pem",
];

/// Keys that hold secrets without saying so in their name (normalised).
pub const SECRET_KEYS: &[&str] = &["sasl_oauthbearer_config"];

/// Suffixes of keys whose value is a path (normalised); a parent with a `s` after them holds paths.
const PATH_SUFFIXES: &[&str] = &["_file", "_path", "_location", "_dir"];

fn normalise(key: &str) -> String {
    key.to_ascii_lowercase().replace(['.', '-'], "_")
}

fn names_paths(key: &str) -> bool {
    PATH_SUFFIXES.iter().any(|s| key.ends_with(s))
}

fn holds_paths(key: &str) -> bool {
    PATH_SUFFIXES.iter().any(|s| key.ends_with(&format!("{s}s")))
}

/// Whether the value of `key` is a secret (see the module docs).
pub fn is_secret_key(key: &str) -> bool {
    let key = normalise(key);
    if names_paths(&key) || holds_paths(&key) {
        return false;
    }
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part)) || SECRET_KEYS.contains(&key.as_str())
}

/// Hides the user information (user and password) of a URL: `redis://u:p@h:1/0` →
/// `redis://***@h:1/0`. Only the authority counts, so an `@` in a path or query stays.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..authority_start], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Redacts a TOML tree in place (see the module docs).
pub fn redact_toml(value: &mut toml::Value) {
    walk_toml(value, Context::Plain);
}

/// Redacts a JSON tree in place (see the module docs).
pub fn redact_json(value: &mut serde_json::Value) {
    walk_json(value, Context::Plain);
}

/// Serializes `config` into a TOML tree with every secret redacted, for printing.
pub fn redacted<T: serde::Serialize>(config: &T) -> Result<toml::Value, toml::ser::Error> {
    let mut tree = toml::Value::try_from(config)?;
    redact_toml(&mut tree);
    Ok(tree)
}

/// What the key above a value says about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Plain,
    /// Under a secret key: everything below is replaced.
    Secret,
    /// A path, or an element of a map or list of paths: printed as is.
    Path,
}

fn context_of(key: &str, parent: Context) -> Context {
    let normalised = normalise(key);
    if parent == Context::Path || names_paths(&normalised) {
        Context::Path
    } else if holds_paths(&normalised) {
        // The map's entries are paths whatever their names (`settings_from_files."sasl.password"`).
        Context::Path
    } else if is_secret_key(key) {
        Context::Secret
    } else {
        Context::Plain
    }
}

fn walk_toml(value: &mut toml::Value, context: Context) {
    match value {
        toml::Value::Table(table) => {
            if context == Context::Secret && !table.is_empty() {
                *value = toml::Value::String(REDACTED.into());
                return;
            }
            for (key, child) in table.iter_mut() {
                walk_toml(child, context_of(key, context));
            }
        }
        toml::Value::Array(items) => items.iter_mut().for_each(|item| walk_toml(item, context)),
        toml::Value::String(text) => *text = redact_string(text, context),
        other if context == Context::Secret => *other = toml::Value::String(REDACTED.into()),
        _ => {}
    }
}

fn walk_json(value: &mut serde_json::Value, context: Context) {
    match value {
        serde_json::Value::Object(map) => {
            if context == Context::Secret && !map.is_empty() {
                *value = serde_json::Value::String(REDACTED.into());
                return;
            }
            for (key, child) in map.iter_mut() {
                walk_json(child, context_of(key, context));
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|item| walk_json(item, context)),
        serde_json::Value::String(text) => *text = redact_string(text, context),
        serde_json::Value::Null => {}
        other if context == Context::Secret => *other = serde_json::Value::String(REDACTED.into()),
        _ => {}
    }
}

fn redact_string(text: &str, context: Context) -> String {
    match context {
        Context::Secret if !text.is_empty() => REDACTED.into(),
        Context::Secret => String::new(),
        Context::Path | Context::Plain => redact(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised_and_paths_are_not() {
        for key in [
            "password",
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "ssl.key.pem",
            "ssl_key",
            "hs256_secret",
            "API-Token",
            "aws_credentials",
            "signing_key",
            "private_key",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["password_file", "hs256_secret_file", "signing_key_file", "ssl.key.location", "key_prefix", "url"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn urls_lose_their_user_information_only() {
        assert_eq!(redact("redis://u:secret@h:1"), "redis://***@h:1");
        assert_eq!(redact("rediss://:p%40ss@h:6380/2"), "rediss://***@h:6380/2");
        assert_eq!(redact("redis://h:1/0?x=a@b"), "redis://h:1/0?x=a@b");
        assert_eq!(redact("plain text"), "plain text");
    }

    #[test]
    fn a_tree_is_redacted_generically() {
        let mut tree: toml::Value = toml::from_str(
            r#"
            [kafka.settings]
            "sasl.password" = "k1"
            "ssl.key.password" = "k2"
            "sasl.username" = "user"
            "security.protocol" = "SASL_SSL"
            [kafka.settings_from_files]
            "sasl.password" = "/run/secrets/kafka/password"
            [redis]
            url = "rediss://u:r1@h:6380"
            cluster_nodes = ["rediss://u:r2@h2:6380"]
            password = "r3"
            password_file = "/run/secrets/redis/password"
            username = "app"
            [auth]
            hs256_secret_file = "/s/hs256"
            hs256_secret = "a1"
            api_keys = ["a2", "a3"]
            [auth.tokens]
            first = "a4"
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        redact_toml(&mut tree);
        let text = toml::to_string(&tree).unwrap_or_else(|e| panic!("{e}"));
        for secret in ["k1", "k2", "r1", "r2", "r3", "a1", "a2", "a3", "a4"] {
            assert!(!text.contains(&format!("\"{secret}\"")) && !text.contains(&format!(":{secret}@")), "{text}");
        }
        for shown in
            ["user", "SASL_SSL", "/run/secrets/kafka/password", "/run/secrets/redis/password", "/s/hs256", "app"]
        {
            assert!(text.contains(shown), "{shown} in {text}");
        }

        let mut json = serde_json::json!({"redis": {"url": "redis://:j1@h:1", "password": "j2"}, "n": null});
        redact_json(&mut json);
        let text = json.to_string();
        assert!(!text.contains("j1") && !text.contains("j2"), "{text}");
    }
}
