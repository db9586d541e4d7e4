//! Bearer tokens with roles and orgs, and the limits around them.
//!
//! [`authenticate`] runs before every `/api/v1` handler: it refuses a client
//! with too many failed authentications ([`client`]), finds the token (by its
//! SHA-256, compared in constant time, among the configured and the
//! database's: [`tokens`]), charges the token's rate limit and puts the
//! [`Caller`] in the request. Handlers then ask for the role they need with
//! [`Caller::require`] (403) and keep to the token's orgs with
//! [`Caller::orgs_for`], [`Caller::sees`] and [`Caller::check_org`]: anything
//! of another org is answered 404, exactly as what does not exist.

pub mod client;
pub mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::config::ApiConfig;
use crate::error::ApiError;
use client::{FailureLimiter, IpRange};
use tokens::TokenSet;

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

/// The authenticated caller of a request: the token's name, role and orgs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Caller {
    pub name: String,
    pub role: Role,
    /// The orgs the token may see; `null`: every org.
    pub orgs: Option<Vec<String>>,
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

    /// Whether the token may see `org`.
    pub fn sees(&self, org: &str) -> bool {
        self.orgs
            .as_ref()
            .is_none_or(|orgs| orgs.iter().any(|o| o == org))
    }

    /// The orgs a read may return: the one `asked` for (404, as if it did not
    /// exist, when it is outside the token's orgs), else the token's
    /// (`None`: every org).
    pub fn orgs_for(&self, asked: Option<&str>) -> Result<Option<Vec<String>>, ApiError> {
        match asked {
            Some(org) if self.sees(org) => Ok(Some(vec![org.to_owned()])),
            Some(org) => Err(no_org(org)),
            None => Ok(self.orgs.clone()),
        }
    }

    /// 404 `{what} not found` unless the token may see `org`: an object of
    /// another org is answered exactly as one that does not exist.
    pub fn check_org(&self, org: &str, what: impl std::fmt::Display) -> Result<(), ApiError> {
        if self.sees(org) {
            Ok(())
        } else {
            Err(ApiError::not_found(what))
        }
    }
}

/// The answer to an org outside the token's orgs.
pub fn no_org(org: &str) -> ApiError {
    ApiError::NotFound(format!("no org {org:?}"))
}

/// Who the token is and what it may do: clients (the dashboard) show only the
/// actions the role allows; the API enforces the role anyway.
#[utoipa::path(get, path = "/api/v1/me", tag = "operations", operation_id = "me",
    responses((status = 200, description = "The token's name, role and orgs (`null`: every org)", body = Caller)))]
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

/// Tokens, their rate-limit buckets, and the per-client limit on failed
/// authentications.
pub struct Auth {
    pub tokens: TokenSet,
    rate_per_s: f64,
    burst: f64,
    /// token name → (tokens left, last refill)
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
    failures: FailureLimiter,
    trusted_proxies: Vec<IpRange>,
}

impl Auth {
    /// The configured tokens, and the database's when `pool` is given.
    pub fn new(cfg: &ApiConfig, pool: Option<store::Pool>) -> Self {
        Self {
            tokens: TokenSet::new(
                &cfg.tokens,
                pool,
                Duration::from_secs(cfg.token_last_used_flush_s.max(1)),
            ),
            rate_per_s: cfg.rate_per_s,
            burst: f64::from(cfg.rate_burst.max(1)),
            buckets: Mutex::default(),
            failures: FailureLimiter::new(cfg.auth_failures_burst, cfg.auth_failures_per_min),
            trusted_proxies: cfg
                .trusted_proxies
                .iter()
                .filter_map(|p| IpRange::parse(p))
                .collect(),
        }
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

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

/// Middleware: 429 while the client has too many failed authentications,
/// 401 without a valid token, 429 over the token's rate limit.
pub async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let ip = client::client_ip(
        req.extensions().get::<ConnectInfo<SocketAddr>>(),
        req.headers(),
        &auth.trusted_proxies,
    );
    if let Some(retry_after_s) = auth.failures.blocked(ip) {
        return Err(ApiError::TooManyRequests {
            retry_after_s,
            why: "too many failed authentications from this address; retry after Retry-After seconds",
        });
    }
    auth.tokens.refresh_if_stale().await;
    if auth.tokens.is_empty() {
        return Err(ApiError::Unauthorized(
            "no API tokens are configured: add [[api.tokens]] entries (name, role, sha256 = the \
             output of `printf %s \"$TOKEN\" | sha256sum`, optionally orgs) to the configuration, \
             or set SWEEPWATCH_API_TOKENS=name:role:token"
                .into(),
        ));
    }
    let token = bearer(req.headers()).ok_or_else(|| {
        ApiError::Unauthorized("an Authorization: Bearer token is required".into())
    })?;
    let Some(found) = auth.tokens.find(token) else {
        auth.failures.failed(ip);
        return Err(ApiError::Unauthorized("unknown bearer token".into()));
    };
    auth.charge(&found.name)
        .map_err(|retry_after_s| ApiError::TooManyRequests {
            retry_after_s,
            why: "this token's rate limit is spent; retry after Retry-After seconds",
        })?;
    auth.tokens.used(found.source);
    req.extensions_mut().insert(found.source);
    req.extensions_mut().insert(Caller {
        name: found.name,
        role: found.role,
        orgs: found.orgs,
    });
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
        let auth = Auth::new(&cfg, None);
        assert!(auth.tokens.find("t").is_some());
        assert!(auth.tokens.find("u").is_none());
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
            orgs: None,
        };
        assert!(c.require(Role::Viewer).is_ok());
        assert!(c.require(Role::Operator).is_ok());
        assert!(c.require(Role::Admin).is_err());
    }

    #[test]
    fn a_token_limited_to_orgs_sees_only_them() {
        let all = Caller {
            name: "x".into(),
            role: Role::Viewer,
            orgs: None,
        };
        assert!(all.sees("anything"));
        assert_eq!(all.orgs_for(None).unwrap(), None);
        assert_eq!(all.orgs_for(Some("b")).unwrap(), Some(vec!["b".to_owned()]));
        let one = Caller {
            orgs: Some(vec!["a".into()]),
            ..all
        };
        assert!(one.sees("a") && !one.sees("b"));
        assert_eq!(one.orgs_for(None).unwrap(), Some(vec!["a".to_owned()]));
        assert_eq!(
            one.orgs_for(Some("b")).unwrap_err().status_code(),
            axum::http::StatusCode::NOT_FOUND
        );
        assert!(one.check_org("a", "device 1").is_ok());
        assert_eq!(
            one.check_org("b", "device 1").unwrap_err().to_string(),
            "device 1 not found"
        );
    }
}
