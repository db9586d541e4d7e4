//! `GET /api/v1/audit`: who changed tokens and org configuration, newest
//! first, paginated like the alerts. Admins only; an admin limited to some
//! orgs reads the entries about those orgs only.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::queries::audit::{self, AuditFilter, AuditRow};

use crate::AppState;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Q;
use crate::page::{self, Page};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this org.
    pub org: Option<String>,
    /// `device.create`, `area.update`, `token.revoke`, `org.import`, …
    pub action: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn cursor_of(a: &AuditRow) -> String {
    page::pair(&a.at.to_rfc3339(), &a.id.to_string())
}

fn parse_cursor(c: &str) -> Result<(DateTime<Utc>, i64), ApiError> {
    let (t, id) = page::decode_pair(c)?;
    let bad = || ApiError::invalid("cursor", "not a cursor returned by this API");
    let t = DateTime::parse_from_rfc3339(&t).map_err(|_| bad())?;
    Ok((t.with_timezone(&Utc), id.parse().map_err(|_| bad())?))
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "tokens", operation_id = "list_audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "Changes to tokens and org configuration, newest first", body = crate::openapi::schemas::AuditPage),
        (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Q(q): Q<AuditQuery>,
) -> Result<Json<Page<AuditRow>>, ApiError> {
    let limit = page::limit(q.limit)?;
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    // 404 for an org outside the token's.
    caller.orgs_for(q.org.as_deref())?;
    let filter = AuditFilter {
        within: caller.orgs.clone(),
        org: q.org,
        action: q.action,
        from: q.from,
        to: q.to,
        after,
        limit: limit + 1,
    };
    let client = state.pool.get().await?;
    let rows = audit::list(&**client, &filter).await?;
    Ok(Json(Page::from_rows(rows, limit, cursor_of)))
}
