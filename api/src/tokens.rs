//! `/api/v1/tokens`: admins create, list and revoke API tokens without a
//! restart.
//!
//! A created token's secret is answered once and stored as its SHA-256 only.
//! The configuration file's tokens are listed beside the database's but
//! cannot be revoked here (they are removed from the file). An admin limited
//! to some orgs sees and manages only tokens limited to orgs among its own,
//! and creates only such tokens. Every creation and revocation is audited in
//! its transaction, and the token cache is reloaded after it commits.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::auth::tokens::Source;
use crate::auth::{Admin, Auth, Caller, Role, no_org};
use crate::config::{is_org, sha256_hex};
use crate::error::{ApiError, InvalidParam};
use crate::extract::{J, P, Q};
use crate::page::{self, Page};

/// A token as listed: never its secret or its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub name: String,
    pub role: Role,
    /// The orgs it may see; `null`: every org.
    pub orgs: Option<Vec<String>>,
    /// `api` (created through the API; revocable) or `config` (the
    /// configuration file or `SWEEPWATCH_API_TOKENS`).
    #[schema(value_type = String)]
    pub source: &'static str,
    /// `null` for a configured token.
    pub created_at: Option<DateTime<Utc>>,
    /// The admin token that created it; `null` for a configured token.
    pub created_by: Option<String>,
    /// `null`: never used (a configured token's use is known since this
    /// process started).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token just created, with its secret: shown this once, never again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub name: String,
    pub role: Role,
    pub orgs: Option<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// The bearer token. Store it now: only its hash is kept.
    pub token: String,
}

/// An org id, as in MQTT topics.
#[derive(utoipa::ToSchema)]
#[schema(pattern = "^[a-z0-9-]{1,32}$")]
#[allow(dead_code)] // only its schema is used
struct OrgName(String);

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// `[A-Za-z0-9_.@-]{1,64}`, unique among tokens not revoked; recorded as
    /// the actor of what the token does.
    #[schema(pattern = "^[A-Za-z0-9_.@-]{1,64}$")]
    pub name: String,
    pub role: Role,
    /// The orgs it may see; omitted or `null`: every org (only an admin
    /// of every org may create such a token). An empty list is refused.
    #[serde(default)]
    #[schema(min_items = 1, inline, value_type = Option<Vec<OrgName>>)]
    pub orgs: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TokenQuery {
    /// Only tokens that may see this org.
    pub org: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Whether an admin limited to `scope` may see a token limited to `orgs`.
fn within(scope: Option<&[String]>, orgs: Option<&[String]>) -> bool {
    match (scope, orgs) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(scope), Some(orgs)) => orgs.iter().all(|o| scope.contains(o)),
    }
}

fn orgs_or_all(orgs: &[String]) -> Option<Vec<String>> {
    (!orgs.is_empty()).then(|| orgs.to_vec())
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", operation_id = "list_tokens",
    params(TokenQuery),
    responses(
        (status = 200, description = "Tokens by name, the database's and the configuration's", body = crate::openapi::schemas::TokenPage),
        (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(auth): Extension<Arc<Auth>>,
    Admin(caller): Admin,
    Q(q): Q<TokenQuery>,
) -> Result<Json<Page<TokenInfo>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = q.cursor.as_deref().map(page::decode).transpose()?;
    let asked = caller
        .orgs_for(q.org.as_deref())?
        .filter(|_| q.org.is_some());
    let client = state.pool.get().await?;
    let stored = store::queries::tokens::live(&**client).await?;
    let mut items: Vec<TokenInfo> = stored
        .into_iter()
        .filter_map(|r| {
            let memory = auth.tokens.last_used(Source::Db(r.id));
            Some(TokenInfo {
                role: Role::parse(&r.role)?,
                orgs: orgs_or_all(&r.orgs),
                source: "api",
                created_at: Some(r.created_at),
                created_by: Some(r.created_by),
                last_used_at: r.last_used_at.max(memory),
                name: r.name,
            })
        })
        .chain(auth.tokens.configured().iter().map(|k| TokenInfo {
            name: k.name.clone(),
            role: k.role,
            orgs: k.orgs.clone(),
            source: "config",
            created_at: None,
            created_by: None,
            last_used_at: auth.tokens.last_used(k.source),
        }))
        .filter(|t| within(caller.orgs.as_deref(), t.orgs.as_deref()))
        .filter(|t| {
            asked.as_ref().is_none_or(|a| {
                t.orgs
                    .as_ref()
                    .is_none_or(|o| a.iter().all(|x| o.contains(x)))
            })
        })
        .filter(|t| after.as_ref().is_none_or(|a| t.name > *a))
        .collect();
    items.sort_by(|a, b| a.name.cmp(&b.name).then(a.source.cmp(b.source)));
    items.truncate(limit as usize + 1);
    Ok(Json(Page::from_rows(items, limit, |t| t.name.clone())))
}

/// `[A-Za-z0-9_.@-]{1,64}`
fn is_token_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-'))
}

/// The new token's orgs, checked against the creating admin's.
fn new_orgs(caller: &Caller, asked: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let Some(mut orgs) = asked else {
        return match &caller.orgs {
            None => Ok(vec![]),
            Some(mine) => Err(ApiError::Forbidden(format!(
                "token {:?} is limited to the orgs {}: it may create only tokens limited to \
                 some of them (give orgs)",
                caller.name,
                mine.join(", ")
            ))),
        };
    };
    if orgs.is_empty() {
        return Err(ApiError::invalid(
            "orgs",
            "an empty list would see nothing; omit orgs for a token of every org",
        ));
    }
    if let Some(bad) = orgs.iter().find(|o| !is_org(o)) {
        return Err(ApiError::invalid(
            "orgs",
            format!("{bad:?} is not an org ([a-z0-9-]{{1,32}})"),
        ));
    }
    if let Some(outside) = orgs.iter().find(|o| !caller.sees(o)) {
        return Err(no_org(outside));
    }
    orgs.sort();
    orgs.dedup();
    Ok(orgs)
}

/// A new bearer token: 256 random bits from a cryptographically secure
/// generator (rand's thread generator, seeded by the operating system).
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("swt_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Creates a token (admins). Its secret is in the answer, and nowhere else.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", operation_id = "create_token",
    request_body = NewToken,
    responses(
        (status = 201, description = "The token, with its secret (shown only now)", body = CreatedToken),
        (status = 403, description = "The token lacks the admin role, or is limited to orgs and the new token is not", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "An org outside the caller's orgs", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A token of that name exists (in the database or the configuration)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A name, role or org that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Extension(auth): Extension<Arc<Auth>>,
    Admin(caller): Admin,
    J(b): J<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    if !is_token_name(&b.name) {
        return Err(ApiError::Invalid(vec![InvalidParam::new(
            "name",
            "must match [A-Za-z0-9_.@-]{1,64}",
        )]));
    }
    let orgs = new_orgs(&caller, b.orgs)?;
    if auth.tokens.configured().iter().any(|k| k.name == b.name) {
        return Err(ApiError::Conflict(format!(
            "name: the configuration already has a token called {:?}",
            b.name
        )));
    }
    let secret = new_secret();
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let row = store::queries::tokens::insert(
        &*tx,
        &b.name,
        b.role.as_str(),
        &orgs,
        &sha256_hex(&secret),
        &caller.name,
    )
    .await?;
    let detail = json!({"name": row.name, "role": row.role, "orgs": orgs_or_all(&orgs)});
    store::queries::audit::record(
        &*tx,
        &caller.name,
        "token.create",
        &format!("token/{}", row.name),
        &orgs,
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    auth.tokens.reload().await;
    tracing::info!(token = row.name, actor = caller.name, "API token created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            name: row.name,
            role: b.role,
            orgs: orgs_or_all(&orgs),
            created_at: row.created_at,
            created_by: row.created_by,
            token: secret,
        }),
    ))
}

/// Revokes a token created through the API (admins): it is refused (401)
/// within a second, by every instance.
#[utoipa::path(delete, path = "/api/v1/tokens/{name}", tag = "tokens", operation_id = "revoke_token",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such token (or one outside the caller's orgs)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "A token of the configuration file: remove it there and restart", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Extension(auth): Extension<Arc<Auth>>,
    Admin(caller): Admin,
    P(name): P<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found(format!("token {name:?}"));
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let Some(row) = store::queries::tokens::live_for_update(&*tx, &name).await? else {
        let configured = auth.tokens.configured().iter().find(|k| k.name == name);
        return match configured {
            Some(k) if within(caller.orgs.as_deref(), k.orgs.as_deref()) => {
                Err(ApiError::Conflict(format!(
                    "token {name:?} is configured in the configuration file ([[api.tokens]]) or \
                     SWEEPWATCH_API_TOKENS and cannot be revoked through the API: remove it there \
                     and restart sweepwatch"
                )))
            }
            _ => Err(not_found()),
        };
    };
    if !within(
        caller.orgs.as_deref(),
        Some(&row.orgs)
            .filter(|o| !o.is_empty())
            .map(|o| o.as_slice()),
    ) {
        return Err(not_found());
    }
    store::queries::tokens::revoke(&*tx, row.id, &caller.name).await?;
    let detail = json!({"name": row.name, "role": row.role, "orgs": orgs_or_all(&row.orgs)});
    store::queries::audit::record(
        &*tx,
        &caller.name,
        "token.revoke",
        &format!("token/{}", row.name),
        &row.orgs,
        Some(&detail),
    )
    .await?;
    tx.commit().await?;
    auth.tokens.reload().await;
    tracing::info!(token = row.name, actor = caller.name, "API token revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(orgs: Option<&[&str]>) -> Caller {
        Caller {
            name: "boss".into(),
            role: Role::Admin,
            orgs: orgs.map(|o| o.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn an_admin_of_some_orgs_creates_tokens_only_within_them() {
        let all = admin(None);
        assert_eq!(new_orgs(&all, None).unwrap(), Vec::<String>::new());
        assert_eq!(
            new_orgs(&all, Some(vec!["b".into(), "a".into(), "a".into()])).unwrap(),
            vec!["a", "b"]
        );
        let a = admin(Some(&["a"]));
        assert_eq!(
            new_orgs(&a, None).unwrap_err().status_code(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            new_orgs(&a, Some(vec!["b".into()]))
                .unwrap_err()
                .status_code(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            new_orgs(&a, Some(vec![])).unwrap_err().status_code(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            new_orgs(&a, Some(vec!["A".into()]))
                .unwrap_err()
                .status_code(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert!(new_orgs(&a, Some(vec!["a".into()])).is_ok());
    }

    #[test]
    fn scoped_admins_see_tokens_within_their_orgs() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(within(None, None));
        assert!(!within(Some(&s(&["a"])), None));
        assert!(within(Some(&s(&["a", "b"])), Some(&s(&["a"]))));
        assert!(!within(Some(&s(&["a"])), Some(&s(&["a", "b"]))));
        assert!(new_secret().starts_with("swt_") && new_secret().len() > 40);
        assert_ne!(new_secret(), new_secret());
        assert!(is_token_name("desk-2@humen") && !is_token_name("a b") && !is_token_name(""));
    }
}
