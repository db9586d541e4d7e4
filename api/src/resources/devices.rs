//! `/api/v1/devices`: list, get, create, update, delete.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use geofence::DeviceKind;
use geofence::scenario::is_device_id;
use serde::Deserialize;
use store::ConfigEdit;
use store::edit::devices::{DeviceChange, NewDevice as NewRow};
use store::queries::config::{self as q, DeviceRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role, no_org};
use crate::error::{ApiError, InvalidParam};
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

#[utoipa::path(get, path = "/api/v1/devices", tag = "configuration", operation_id = "list_devices",
    params(ListQuery),
    responses((status = 200, description = "Devices by id", body = crate::openapi::schemas::DevicePage), (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<DeviceRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            page::decode(c)?
                .parse::<i32>()
                .map_err(|_| ApiError::invalid("cursor", "not a cursor returned by this API"))
        })
        .transpose()?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let rows = q::devices(&**client, orgs.as_deref(), after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |d| d.id.to_string())))
}

#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "configuration", operation_id = "get_device",
    params(("id" = i32, Path, description = "`devices.id`")),
    responses((status = 200, description = "The device", body = crate::openapi::schemas::Device), (status = 404, description = "No such device", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P(id): P<i32>,
) -> Result<Json<DeviceRow>, ApiError> {
    caller.require(Role::Viewer)?;
    let client = state.pool.get().await?;
    q::device(&**client, id)
        .await?
        .filter(|d| caller.sees(&d.org))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))
}

/// A new device. `device` is the `{device}` of its MQTT topics.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    pub org: String,
    pub device: String,
    #[schema(value_type = crate::openapi::schemas::DeviceKind)]
    pub kind: DeviceKind,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub owntracks_id: Option<String>,
}

/// What can change of a device (its org and name are its identity on the wire).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceUpdate {
    #[schema(value_type = crate::openapi::schemas::DeviceKind)]
    pub kind: DeviceKind,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub owntracks_id: Option<String>,
}

fn kind_str(k: DeviceKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// The same check as the scenario validation: `user/device`.
fn check_owntracks(ot: &Option<String>, errs: &mut Vec<InvalidParam>) {
    if let Some(ot) = ot {
        let ok = ot
            .split_once('/')
            .is_some_and(|(u, d)| is_device_id(u) && is_device_id(d));
        if !ok {
            errs.push(InvalidParam::new("owntracks_id", "must be user/device"));
        }
    }
}

#[utoipa::path(post, path = "/api/v1/devices", tag = "configuration", operation_id = "create_device",
    request_body = NewDevice,
    responses((status = 201, description = "The device as stored", body = crate::openapi::schemas::Device), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The org already has a device of that name", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that does not validate, or an org that does not exist", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    J(b): J<NewDevice>,
) -> Result<(StatusCode, Json<DeviceRow>), ApiError> {
    caller.require(Role::Admin)?;
    if !caller.sees(&b.org) {
        return Err(no_org(&b.org));
    }
    let mut errs = Vec::new();
    if !is_device_id(&b.device) {
        errs.push(InvalidParam::new(
            "device",
            "must match [A-Za-z0-9_.-]{1,64}",
        ));
    }
    check_owntracks(&b.owntracks_id, &mut errs);
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    super::org_tz(edit.client(), &b.org, "org").await?;
    let row = edit
        .create_device(&NewRow {
            org: &b.org,
            name: &b.device,
            kind: &kind_str(b.kind),
            label: b.label.as_deref(),
            owntracks_id: b.owntracks_id.as_deref(),
        })
        .await?;
    let object = format!("device/{}", row.id);
    super::commit(edit, &caller, "device.create", object, &b.org, &row).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/api/v1/devices/{id}", tag = "configuration", operation_id = "update_device",
    params(("id" = i32, Path, description = "`devices.id`")),
    request_body = DeviceUpdate,
    responses((status = 200, description = "The device as stored", body = crate::openapi::schemas::Device), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such device", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another device has that OwnTracks id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that does not validate", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(id): P<i32>,
    J(b): J<DeviceUpdate>,
) -> Result<Json<DeviceRow>, ApiError> {
    caller.require(Role::Admin)?;
    let mut errs = Vec::new();
    check_owntracks(&b.owntracks_id, &mut errs);
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let org = locked_org(&mut edit, &caller, id).await?;
    let change = DeviceChange {
        kind: &kind_str(b.kind),
        label: b.label.as_deref(),
        owntracks_id: b.owntracks_id.as_deref(),
    };
    let row = edit
        .update_device(id, &change)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    let object = format!("device/{id}");
    super::commit(edit, &caller, "device.update", object, &org, &row).await?;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/api/v1/devices/{id}", tag = "configuration", operation_id = "delete_device",
    params(("id" = i32, Path, description = "`devices.id`")),
    responses((status = 204, description = "Deleted, with its fixes and alerts"), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such device", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(id): P<i32>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let org = locked_org(&mut edit, &caller, id).await?;
    let before = edit.delete_device(id).await?;
    let object = format!("device/{id}");
    super::commit(edit, &caller, "device.delete", object, &org, &before).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The device's org, the row locked until the transaction ends; 404 when
/// there is no such device or it is of an org the token does not see.
async fn locked_org(
    edit: &mut ConfigEdit<'_>,
    caller: &Caller,
    id: i32,
) -> Result<String, ApiError> {
    edit.lock_device(id)
        .await?
        .filter(|org| caller.sees(org))
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))
}
