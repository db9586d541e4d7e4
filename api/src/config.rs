//! The API's configuration: bearer tokens (stored as SHA-256 hashes) and the
//! orgs each may see, CORS, request limits, the per-token rate limit, the
//! per-client limit on failed authentications, the live-stream limit and the
//! header read timeout.
//!
//! A token is configured by its hash only:
//!
//! ```toml
//! [[api.tokens]]
//! name = "dispatch-1"
//! role = "operator"
//! sha256 = "<hex>"   # printf %s "$TOKEN" | sha256sum
//! orgs = ["humen"]   # optional: the orgs it may see; omitted, every org
//! ```
//!
//! For tests and demos, `SWEEPWATCH_API_TOKENS` adds tokens given in clear as
//! comma-separated `name:role:token`, or `name:role@org1+org2:token` for a
//! token limited to some orgs ([`parse_token_list`]; the binary's configuration
//! loader reads the variable); they are hashed when read and never printed.
//! (The orgs ride on the role because a token may itself contain `:`.)
//! Tokens created through the API live in the database (see `crate::tokens`).

use std::ops::Not;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer tokens. Empty: every `/api/v1` call is refused with 401.
    pub tokens: Vec<TokenConfig>,
    /// Origins allowed by CORS (`*` for any). Empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Longest a request (other than the live stream) may take, seconds.
    pub request_timeout_s: u64,
    /// Requests per second each token may make on average (0: unlimited).
    pub rate_per_s: f64,
    /// Requests a token may make in a burst above the average.
    pub rate_burst: u32,
    /// Failed authentications (an unknown token) a client (IP address, IPv6
    /// /64) may make in a burst before every request it makes is answered 429,
    /// valid token or not, until its allowance refills. 0: no limit.
    pub auth_failures_burst: u32,
    /// How fast that allowance refills, failures per minute.
    pub auth_failures_per_min: f64,
    /// Addresses (or CIDR ranges) of reverse proxies whose `X-Forwarded-For`
    /// names the client. Empty: the peer address is the client.
    pub trusted_proxies: Vec<String>,
    /// Live streams (`/api/v1/stream`) one token may hold open at once.
    pub stream_max_per_token: usize,
    /// A client must send a request's whole header within this many seconds
    /// (an idle keep-alive connection is closed after as long).
    pub header_read_timeout_s: u64,
    /// How often the "last used" times of database tokens are written, seconds.
    pub token_last_used_flush_s: u64,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            tokens: vec![],
            cors_origins: vec![],
            // Areas are the largest bodies: a long route's GeoJSON stays far below this.
            max_body_bytes: 1024 * 1024,
            request_timeout_s: 30,
            rate_per_s: 20.0,
            rate_burst: 100,
            // A person mistyping a token a few times is never held up; a guesser
            // gets one try every 10 s (8,640 a day) once the burst is spent.
            auth_failures_burst: 10,
            auth_failures_per_min: 6.0,
            trusted_proxies: vec![],
            // A dashboard tab holds one; a token shared by a wall of screens a few.
            stream_max_per_token: 10,
            // Long enough for a slow mobile link, short enough that a client
            // trickling its header cannot hold a connection for long.
            header_read_timeout_s: 10,
            token_last_used_flush_s: 60,
        }
    }
}

/// One bearer token, by the hex SHA-256 of its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who it is: recorded as the actor of alert acknowledgements and resolutions.
    pub name: String,
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    /// The orgs it may see (`[a-z0-9-]{1,32}` each). Empty: every org (a
    /// city-wide supervisor).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orgs: Vec<String>,
}

/// A setting of the API's configuration that is wrong: which (its key) and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ApiConfigError {
    /// The key, e.g. `api.tokens`.
    pub key: &'static str,
    pub message: String,
}

impl ApiConfigError {
    fn new(key: &'static str, message: String) -> Self {
        Self { key, message }
    }
}

impl ApiConfig {
    /// What the types cannot say: each token's orgs are orgs, no two tokens
    /// share a name (it is the actor of what they do), trusted proxies parse.
    pub fn check(&self) -> Result<(), ApiConfigError> {
        let tokens = |message| Err(ApiConfigError::new("api.tokens", message));
        let mut names = std::collections::HashSet::new();
        for t in &self.tokens {
            if !names.insert(t.name.as_str()) {
                return tokens(format!(
                    "two tokens are called {:?}; each needs its own name",
                    t.name
                ));
            }
            if crate::auth::tokens::is_sha256_hex(&t.sha256).not() {
                return tokens(format!(
                    "{:?}: sha256 must be 64 hex digits (printf %s \"$TOKEN\" | sha256sum)",
                    t.name
                ));
            }
            if let Some(bad) = t.orgs.iter().find(|o| !is_org(o)) {
                return tokens(format!(
                    "{:?}: {bad:?} is not an org ([a-z0-9-]{{1,32}})",
                    t.name
                ));
            }
        }
        for p in &self.trusted_proxies {
            crate::auth::client::IpRange::parse(p).ok_or_else(|| {
                ApiConfigError::new(
                    "api.trusted_proxies",
                    format!("{p:?} is not an IP address or a CIDR range"),
                )
            })?;
        }
        Ok(())
    }
}

/// An org id: `[a-z0-9-]{1,32}`, as in MQTT topics.
pub fn is_org(s: &str) -> bool {
    geofence::OrgId::parse(s).is_some()
}

/// Parses `name:role:token,...` (a role may be `role@org1+org2`), hashing
/// each token.
pub fn parse_token_list(text: &str) -> Result<Vec<TokenConfig>, ApiConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(ApiConfigError::new(
                    "api.tokens",
                    "each entry must be name:role:token or name:role@org1+org2:token".to_owned(),
                ));
            };
            let (role, orgs) = match role.split_once('@') {
                Some((role, orgs)) => (role, orgs.split('+').map(str::to_owned).collect()),
                None => (role, vec![]),
            };
            let role = Role::parse(role).ok_or_else(|| {
                ApiConfigError::new(
                    "api.tokens",
                    format!("{name}: role must be viewer, operator or admin"),
                )
            })?;
            if let Some(bad) = orgs.iter().find(|o: &&String| !is_org(o)) {
                return Err(ApiConfigError::new(
                    "api.tokens",
                    format!(
                        "{name}: {bad:?} is not an org ([a-z0-9-]{{1,32}}; orgs are joined with +)"
                    ),
                ));
            }
            if token.is_empty() {
                return Err(ApiConfigError::new(
                    "api.tokens",
                    format!("{name}: empty token"),
                ));
            }
            Ok(TokenConfig {
                name: name.to_owned(),
                role,
                sha256: sha256_hex(token),
                orgs,
            })
        })
        .collect()
}

/// Lower-case hex SHA-256 of `token`, as `sha256sum` prints it.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_tokens_are_hashed() {
        let toks = parse_token_list("a:viewer:s3cret, b:admin:x:y").unwrap();
        assert_eq!(toks.len(), 2);
        assert_eq!(toks[0].role, Role::Viewer);
        assert_eq!(toks[0].sha256, sha256_hex("s3cret"));
        assert_eq!(toks[1].sha256, sha256_hex("x:y"));
        assert!(!format!("{toks:?}").contains("s3cret"));
        assert!(parse_token_list("a:root:x").is_err());
        assert!(parse_token_list("a:viewer").is_err());
    }

    #[test]
    fn env_tokens_may_be_limited_to_orgs() {
        let toks = parse_token_list("desk:operator@humen+changan:t:x,all:viewer:y").unwrap();
        assert_eq!(toks[0].role, Role::Operator);
        assert_eq!(toks[0].orgs, vec!["humen", "changan"]);
        assert_eq!(toks[0].sha256, sha256_hex("t:x"));
        assert!(toks[1].orgs.is_empty());
        assert!(parse_token_list("a:viewer@Humen:x").is_err());
        assert!(parse_token_list("a:viewer@:x").is_err());
        assert!(parse_token_list("a:viewer@a++b:x").is_err());
    }

    #[test]
    fn config_tokens_are_checked() {
        let cfg = ApiConfig {
            tokens: parse_token_list("a:viewer:x,a:admin:y").unwrap(),
            ..ApiConfig::default()
        };
        assert!(cfg.check().is_err(), "two tokens of one name");
        let toml_tokens: ApiConfig = toml_like(&format!(
            r#"{{"tokens": [{{"name": "d", "role": "viewer", "sha256": "{H}", "orgs": ["Bad"]}}]}}"#
        ));
        assert!(toml_tokens.check().is_err());
        let ok: ApiConfig = toml_like(&format!(
            r#"{{"tokens": [{{"name": "d", "role": "viewer", "sha256": "{H}", "orgs": ["humen"]}}],
                "trusted_proxies": ["10.0.0.0/8", "::1"]}}"#
        ));
        assert!(ok.check().is_ok());
        let bad_proxy: ApiConfig = toml_like(r#"{"trusted_proxies": ["10.0.0.0/33"]}"#);
        assert!(bad_proxy.check().is_err());
        let bad_hash: ApiConfig = toml_like(
            r#"{"tokens": [{"name": "d", "role": "viewer", "sha256": "<64 hex digits>"}]}"#,
        );
        assert!(bad_hash.check().is_err());
    }

    /// sha256 of "abc".
    const H: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn toml_like(json: &str) -> ApiConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn sha256_matches_sha256sum() {
        // printf %s abc | sha256sum
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
