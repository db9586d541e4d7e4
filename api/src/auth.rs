//! Bearer tokens with roles, and a per-token rate limit.
//!
//! [`authenticate`] runs before every `/api/v1` handler: it finds the token
//! (by its SHA-256, compared in constant time), charges its rate limit and
//! puts the [`Caller`] in the request; handlers then ask for the role they
//! need with [`Caller::require`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::config::{ApiConfig, TokenConfig, sha256_hex};
use crate::error::ApiError;

/// What a token may do. Each role includes the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also acknowledges and resolves alerts, justifies missed stretches.
    Operator,
    /// Also edits devices, areas, shifts and assignments.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Forbidden unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; token {:?} has {}",
                role.as_str(),
                self.name,
                self.role.as_str()
            )))
        }
    }
}

/// Who the token is and what it may do: clients (the dashboard) show only the
/// actions the role allows; the API enforces the role anyway.
#[utoipa::path(get, path = "/api/v1/me", tag = "operations", operation_id = "me",
    responses((status = 200, description = "The token's name and role", body = Caller)))]
pub(crate) async fn me(caller: Caller) -> axum::Json<Caller> {
    axum::Json(caller)
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Unauthorized("no bearer token".into()))
    }
}

/// A caller with at least the operator role: refused with 403 before the
/// body is read.
pub struct Operator(pub Caller);

/// A caller with the admin role: refused with 403 before the body is read.
pub struct Admin(pub Caller);

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let c = Caller::from_request_parts(parts, s).await?;
        c.require(Role::Operator)?;
        Ok(Operator(c))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let c = Caller::from_request_parts(parts, s).await?;
        c.require(Role::Admin)?;
        Ok(Admin(c))
    }
}

/// Tokens and their rate-limit buckets.
pub struct Auth {
    tokens: Vec<TokenConfig>,
    rate_per_s: f64,
    burst: f64,
    /// token name → (tokens left, last refill)
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Auth {
    pub fn new(cfg: &ApiConfig) -> Self {
        Self {
            tokens: cfg.tokens.clone(),
            rate_per_s: cfg.rate_per_s,
            burst: f64::from(cfg.rate_burst.max(1)),
            buckets: Mutex::default(),
        }
    }

    fn find(&self, token: &str) -> Option<&TokenConfig> {
        let hash = sha256_hex(token);
        // Constant-time comparison of the hashes: no early exit on the first difference.
        self.tokens.iter().find(|t| {
            let want = t.sha256.to_ascii_lowercase();
            want.len() == hash.len()
                && want
                    .bytes()
                    .zip(hash.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }

    /// Takes one request from the token's bucket; the seconds to wait if empty.
    fn charge(&self, name: &str) -> Result<(), u64> {
        if self.rate_per_s <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (left, at) = buckets.entry(name.to_owned()).or_insert((self.burst, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * self.rate_per_s).min(self.burst);
        *at = now;
        if *left >= 1.0 {
            *left -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *left) / self.rate_per_s).ceil().max(1.0) as u64)
        }
    }
}

/// Middleware: 401 without a valid token, 429 over the rate limit.
pub async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if auth.tokens.is_empty() {
        return Err(ApiError::Unauthorized(
            "no API tokens are configured: add [[api.tokens]] entries (name, role, sha256 = the \
             output of `printf %s \"$TOKEN\" | sha256sum`) to the configuration, or set \
             SWEEPWATCH_API_TOKENS=name:role:token"
                .into(),
        ));
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized("an Authorization: Bearer token is required".into())
        })?;
    let found = auth
        .find(token)
        .ok_or_else(|| ApiError::Unauthorized("unknown bearer token".into()))?;
    auth.charge(&found.name)
        .map_err(|retry_after_s| ApiError::TooManyRequests { retry_after_s })?;
    let caller = Caller {
        name: found.name.clone(),
        role: found.role,
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_refuses_past_the_burst() {
        let cfg = ApiConfig {
            tokens: crate::config::parse_token_list("a:viewer:t").unwrap(),
            rate_per_s: 1.0,
            rate_burst: 3,
            ..ApiConfig::default()
        };
        let auth = Auth::new(&cfg);
        assert!(auth.find("t").is_some());
        assert!(auth.find("u").is_none());
        for _ in 0..3 {
            assert!(auth.charge("a").is_ok());
        }
        assert_eq!(auth.charge("a"), Err(1));
        assert!(auth.charge("b").is_ok());
    }

    #[test]
    fn roles_are_ordered() {
        let c = Caller {
            name: "x".into(),
            role: Role::Operator,
        };
        assert!(c.require(Role::Viewer).is_ok());
        assert!(c.require(Role::Operator).is_ok());
        assert!(c.require(Role::Admin).is_err());
    }
}
