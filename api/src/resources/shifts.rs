//! `/api/v1/shifts`: shift calendars, as in a scenario file's `shifts`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use geofence::scenario::{ShiftSpec, shift_from_spec};
use serde::Deserialize;
use store::ConfigEdit;
use store::edit::shifts::ShiftValues;
use store::queries::config::{self as q, ShiftRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role, no_org};
use crate::error::ApiError;
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
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let tz = super::org_tz(edit.client(), org, "org").await?;
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
    let values = ShiftValues {
        org,
        id: &spec.id,
        name: &name,
        definition: &definition,
    };
    let (row, action) = match replace {
        Some(_) => (edit.update_shift(&values).await?, "shift.update"),
        None => (Some(edit.create_shift(&values).await?), "shift.create"),
    };
    let row = row.ok_or_else(|| ApiError::not_found(format!("shift {org}/{}", spec.id)))?;
    let object = format!("shift/{org}/{}", row.id);
    super::commit(edit, caller, action, object, org, &row).await?;
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
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let before = edit
        .delete_shift(&org, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("shift {org}/{id}")))?;
    let object = format!("shift/{org}/{id}");
    super::commit(edit, &caller, "shift.delete", object, &org, &before).await?;
    Ok(StatusCode::NO_CONTENT)
}
