//! `/api/v1/assignments`: device ↔ area ↔ shift over a time range.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use geofence::{AreaId, ShiftId};
use serde::Deserialize;
use store::ConfigEdit;
use store::edit::assignments::AssignmentValues;
use store::queries::config::{self as q, AssignmentRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role};
use crate::error::{ApiError, InvalidParam};
use crate::extract::{J, P, Q};
use crate::page::{self, Page};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub org: Option<String>,
    /// `devices.id`
    pub device: Option<i32>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/assignments", tag = "configuration", operation_id = "list_assignments",
    params(ListQuery),
    responses((status = 200, description = "Assignments by id", body = crate::openapi::schemas::AssignmentPage), (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<AssignmentRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            page::decode(c)?
                .parse::<i64>()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor returned by this API"))
        })
        .transpose()?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let rows = q::assignments(&**client, orgs.as_deref(), query.device, after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |a| a.id.to_string())))
}

#[utoipa::path(get, path = "/api/v1/assignments/{id}", tag = "configuration", operation_id = "get_assignment",
    params(("id" = i64, Path, description = "The assignment's id")),
    responses((status = 200, description = "The assignment", body = crate::openapi::schemas::Assignment), (status = 404, description = "No such assignment", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P(id): P<i64>,
) -> Result<Json<AssignmentRow>, ApiError> {
    caller.require(Role::Viewer)?;
    let client = state.pool.get().await?;
    q::assignment(&**client, id)
        .await?
        .filter(|a| caller.sees(&a.org))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))
}

/// An assignment; the org is the device's.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    /// `devices.id`
    pub device_id: i32,
    pub area: String,
    pub shift: String,
    /// Default: the start of time.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Exclusive; default open-ended.
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
}

/// The checks of the scenario validation: ids valid, references exist, range
/// ordered. A device that does not exist, or is of an org the token does not
/// see, is 404 (the same answer for both).
async fn validate(
    edit: &ConfigEdit<'_>,
    caller: &Caller,
    b: &AssignmentBody,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let mut errs = Vec::new();
    if let Err(e) = AreaId::new(b.area.clone()) {
        errs.push(InvalidParam::new("area", e.to_string()));
    }
    if let Err(e) = ShiftId::new(b.shift.clone()) {
        errs.push(InvalidParam::new("shift", e.to_string()));
    }
    let from = b.valid_from.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    if b.valid_to.is_some_and(|to| to <= from) {
        errs.push(InvalidParam::new("valid_to", "must be after valid_from"));
    }
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let org: String = edit
        .device_org(b.device_id)
        .await?
        .filter(|org| caller.sees(org))
        .ok_or_else(|| ApiError::not_found(format!("device {}", b.device_id)))?;
    if !edit.has_area(&org, &b.area).await? {
        errs.push(InvalidParam::new(
            "area",
            format!("no area {:?} in org {org}", b.area),
        ));
    }
    if !edit.has_shift(&org, &b.shift).await? {
        errs.push(InvalidParam::new(
            "shift",
            format!("no shift {:?} in org {org}", b.shift),
        ));
    }
    if errs.is_empty() {
        Ok((org, from))
    } else {
        Err(ApiError::Invalid(errs))
    }
}

#[utoipa::path(post, path = "/api/v1/assignments", tag = "configuration", operation_id = "create_assignment",
    request_body = AssignmentBody,
    responses((status = 201, description = "The assignment as stored", body = crate::openapi::schemas::Assignment), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such device (or one of an org outside the token's)", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same assignment exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that does not validate, or an area or shift the device's org does not have", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    J(b): J<AssignmentBody>,
) -> Result<(StatusCode, Json<AssignmentRow>), ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let (org, from) = validate(&edit, &caller, &b).await?;
    let row = edit.create_assignment(&values(&org, from, &b)).await?;
    let object = format!("assignment/{}", row.id);
    super::commit(edit, &caller, "assignment.create", object, &org, &row).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/api/v1/assignments/{id}", tag = "configuration", operation_id = "update_assignment",
    params(("id" = i64, Path, description = "The assignment's id")),
    request_body = AssignmentBody,
    responses((status = 200, description = "The assignment as stored", body = crate::openapi::schemas::Assignment), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such assignment, or no such device", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same assignment exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that does not validate, or an area or shift the device's org does not have", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(id): P<i64>,
    J(b): J<AssignmentBody>,
) -> Result<Json<AssignmentRow>, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    // The old org is touched too: an assignment may move with its device.
    edit.lock_assignment(id)
        .await?
        .filter(|org| caller.sees(org))
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))?;
    let (org, from) = validate(&edit, &caller, &b).await?;
    let row = edit
        .update_assignment(id, &values(&org, from, &b))
        .await?
        .ok_or_else(|| ApiError::not_found("assignment"))?;
    let object = format!("assignment/{id}");
    super::commit(edit, &caller, "assignment.update", object, &org, &row).await?;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/api/v1/assignments/{id}", tag = "configuration", operation_id = "delete_assignment",
    params(("id" = i64, Path, description = "The assignment's id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such assignment", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(id): P<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    // Not committed (so not deleted) when the token does not see its org.
    let before = edit
        .delete_assignment(id)
        .await?
        .filter(|a| caller.sees(&a.org))
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))?;
    let object = format!("assignment/{id}");
    super::commit(
        edit,
        &caller,
        "assignment.delete",
        object,
        &before.org,
        &before,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The assignment as stored: `b` in the device's `org`, from `from`.
fn values<'a>(org: &'a str, from: DateTime<Utc>, b: &'a AssignmentBody) -> AssignmentValues<'a> {
    AssignmentValues {
        org,
        device_id: b.device_id,
        area_id: &b.area,
        shift_id: &b.shift,
        valid_from: from,
        valid_to: b.valid_to,
    }
}
