//! `/api/v1/shifts`: shift calendars, as in a scenario file's `shifts`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use geofence::scenario::{ShiftSpec, shift_from_spec};
use serde::Deserialize;
use store::queries::config::{self as q, ShiftRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role, no_org};
use crate::error::{ApiError, map_write_error};
use crate::extract::{J, P, Q};
use crate::page::{self, Page};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub org: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/shifts", tag = "configuration", operation_id = "list_shifts",
    params(ListQuery),
    responses((status = 200, description = "Shifts by org and id", body = crate::openapi::schemas::ShiftPage), (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<ShiftRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(page::decode_pair).transpose()?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let rows = q::shifts(
        &**client,
        orgs.as_deref(),
        after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |s| {
        page::pair(&s.org, &s.id)
    })))
}

#[utoipa::path(get, path = "/api/v1/shifts/{org}/{id}", tag = "configuration", operation_id = "get_shift",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The shift's id")),
    responses((status = 200, description = "The shift", body = crate::openapi::schemas::Shift), (status = 404, description = "No such shift", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P((org, id)): P<(String, String)>,
) -> Result<Json<ShiftRow>, ApiError> {
    caller.require(Role::Viewer)?;
    caller.check_org(&org, format!("shift {org}/{id}"))?;
    let client = state.pool.get().await?;
    q::shift(&**client, &org, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("shift {org}/{id}")))
}

async fn write(
    state: &AppState,
    caller: &Caller,
    org: &str,
    spec: &ShiftSpec,
    replace: Option<&str>,
) -> Result<ShiftRow, ApiError> {
    match replace {
        Some(id) => caller.check_org(org, format!("shift {org}/{id}"))?,
        None if !caller.sees(org) => return Err(no_org(org)),
        None => {}
    }
    if let Some(id) = replace
        && spec.id != id
    {
        return Err(ApiError::invalid(
            "id",
            format!("must be {id:?}, as in the path"),
        ));
    }
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let tz = super::org_tz(&*tx, org, "org").await?;
    shift_from_spec(spec, tz).map_err(|e| {
        let field = match e {
            geofence::GeofenceError::InvalidId { .. } => "id",
            _ => "weekly",
        };
        ApiError::invalid(field, e.to_string())
    })?;
    let name = if spec.name.is_empty() {
        spec.id.clone()
    } else {
        spec.name.clone()
    };
    let definition = serde_json::to_value(spec).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let n = if replace.is_some() {
        tx.execute(
            "UPDATE shifts SET name = $3, definition = $4 WHERE org = $1 AND id = $2",
            &[&org, &spec.id, &name, &definition],
        )
        .await?
    } else {
        tx.execute(
            "INSERT INTO shifts (org, id, name, definition) VALUES ($1, $2, $3, $4)",
            &[&org, &spec.id, &name, &definition],
        )
        .await
        .map_err(|e| map_write_error(e, "id"))?
    };
    if n == 0 {
        return Err(ApiError::not_found(format!("shift {org}/{}", spec.id)));
    }
    super::bump_org(&*tx, org).await?;
    let row = q::shift(&*tx, org, &spec.id)
        .await?
        .ok_or_else(|| ApiError::not_found("shift"))?;
    let action = if replace.is_some() {
        "shift.update"
    } else {
        "shift.create"
    };
    super::audit(
        &*tx,
        caller,
        action,
        &format!("shift/{org}/{}", row.id),
        org,
        &row,
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

#[utoipa::path(post, path = "/api/v1/shifts/{org}", tag = "configuration", operation_id = "create_shift",
    params(("org" = String, Path, description = "The org")),
    request_body = crate::openapi::schemas::ShiftSpec,
    responses((status = 201, description = "The shift as stored", body = crate::openapi::schemas::Shift), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The org already has a shift with that id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A shift that does not validate (as in a scenario file), or an org that does not exist", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(org): P<String>,
    J(spec): J<ShiftSpec>,
) -> Result<(StatusCode, Json<ShiftRow>), ApiError> {
    caller.require(Role::Admin)?;
    let row = write(&state, &caller, &org, &spec, None).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/api/v1/shifts/{org}/{id}", tag = "configuration", operation_id = "update_shift",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The shift's id")),
    request_body = crate::openapi::schemas::ShiftSpec,
    responses((status = 200, description = "The shift as stored", body = crate::openapi::schemas::Shift), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such shift", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A shift that does not validate, or whose id is not the one in the path", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P((org, id)): P<(String, String)>,
    J(spec): J<ShiftSpec>,
) -> Result<Json<ShiftRow>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(write(&state, &caller, &org, &spec, Some(&id)).await?))
}

#[utoipa::path(delete, path = "/api/v1/shifts/{org}/{id}", tag = "configuration", operation_id = "delete_shift",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The shift's id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such shift", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Something still refers to the shift", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P((org, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    caller.check_org(&org, format!("shift {org}/{id}"))?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let before = q::shift(&*tx, &org, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("shift {org}/{id}")))?;
    tx.execute(
        "DELETE FROM shifts WHERE org = $1 AND id = $2",
        &[&org, &id],
    )
    .await?;
    super::bump_org(&*tx, &org).await?;
    super::audit(
        &*tx,
        &caller,
        "shift.delete",
        &format!("shift/{org}/{id}"),
        &org,
        &before,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
