//! The API's configuration: bearer tokens (stored as SHA-256 hashes), CORS,
//! request limits and the per-token rate limit.
//!
//! A token is configured by its hash only:
//!
//! ```toml
//! [[api.tokens]]
//! name = "dispatch-1"
//! role = "operator"
//! sha256 = "<hex>"   # printf %s "$TOKEN" | sha256sum
//! ```
//!
//! For tests and demos, `SWEEPWATCH_API_TOKENS` adds tokens given in clear as
//! comma-separated `name:role:token`; they are hashed when read and never printed.

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
}

/// Error in an `SWEEPWATCH_API_*` variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenEnvError(String);

impl ApiConfig {
    /// Applies `SWEEPWATCH_API_TOKENS` (added to the configured tokens),
    /// `SWEEPWATCH_API_RATE_PER_S`, `SWEEPWATCH_API_RATE_BURST` and
    /// `SWEEPWATCH_API_CORS_ORIGINS` (comma-separated), as read through `get`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), TokenEnvError> {
        if let Some(v) = get("SWEEPWATCH_API_TOKENS") {
            self.tokens.extend(parse_token_list(&v)?);
        }
        if let Some(v) = get("SWEEPWATCH_API_RATE_PER_S") {
            self.rate_per_s = v.parse().map_err(|_| {
                TokenEnvError(format!("SWEEPWATCH_API_RATE_PER_S: {v:?} is not a number"))
            })?;
        }
        if let Some(v) = get("SWEEPWATCH_API_RATE_BURST") {
            self.rate_burst = v.parse().map_err(|_| {
                TokenEnvError(format!("SWEEPWATCH_API_RATE_BURST: {v:?} is not a count"))
            })?;
        }
        if let Some(v) = get("SWEEPWATCH_API_CORS_ORIGINS") {
            self.cors_origins = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        Ok(())
    }

    /// The defaults plus the environment: what [`crate::router`] uses.
    pub fn from_env() -> Result<Self, TokenEnvError> {
        let mut cfg = Self::default();
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }
}

/// Parses `name:role:token,...`, hashing each token.
pub fn parse_token_list(text: &str) -> Result<Vec<TokenConfig>, TokenEnvError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(role), Some(token)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(TokenEnvError(
                    "SWEEPWATCH_API_TOKENS: each entry must be name:role:token".to_owned(),
                ));
            };
            let role = Role::parse(role).ok_or_else(|| {
                TokenEnvError(format!("{name}: role must be viewer, operator or admin"))
            })?;
            if token.is_empty() {
                return Err(TokenEnvError(format!("{name}: empty token")));
            }
            Ok(TokenConfig {
                name: name.to_owned(),
                role,
                sha256: sha256_hex(token),
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
    fn sha256_matches_sha256sum() {
        // printf %s abc | sha256sum
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
