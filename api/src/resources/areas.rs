//! `/api/v1/areas`: GeoJSON Features, as in a scenario file's `areas`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use geofence::{Area, GeofenceError};
use serde::Deserialize;
use store::ConfigEdit;
use store::edit::areas::AreaValues;
use store::queries::config::{self as q, AreaRow};

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
    pub district: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/areas", tag = "configuration", operation_id = "list_areas",
    params(ListQuery),
    responses((status = 200, description = "Areas by org and id", body = crate::openapi::schemas::AreaPage), (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<AreaRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(page::decode_pair).transpose()?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let rows = q::areas(
        &**client,
        orgs.as_deref(),
        query.district.as_deref(),
        after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |a| {
        page::pair(&a.org, &a.id)
    })))
}

#[utoipa::path(get, path = "/api/v1/areas/{org}/{id}", tag = "configuration", operation_id = "get_area",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The area's id")),
    responses((status = 200, description = "The area", body = crate::openapi::schemas::Area), (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P((org, id)): P<(String, String)>,
) -> Result<Json<AreaRow>, ApiError> {
    caller.require(Role::Viewer)?;
    caller.check_org(&org, format!("area {org}/{id}"))?;
    let client = state.pool.get().await?;
    q::area(&**client, &org, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("area {org}/{id}")))
}

/// Validates a Feature exactly as the import does.
fn validate(feature: &geojson::Feature) -> Result<(Area, String), ApiError> {
    let area = Area::from_geojson_feature(feature)
        .map_err(|e| ApiError::invalid(field_of(&e), e.to_string()))?;
    let kind = feature
        .property("kind")
        .and_then(|v| v.as_str())
        .unwrap_or("zone")
        .to_owned();
    Ok((area, kind))
}

/// Which part of the Feature an area error is about.
fn field_of(e: &GeofenceError) -> &'static str {
    match e {
        GeofenceError::InvalidId { .. } => "id",
        GeofenceError::InvalidWidth { .. } => "properties.width_m",
        GeofenceError::InvalidPasses(_) => "properties.passes",
        GeofenceError::GeoJson(m) if m.contains("no id") => "id",
        GeofenceError::GeoJson(m) if m.contains("geometry") => "geometry",
        GeofenceError::GeoJson(m) if m.contains("kind") => "properties.kind",
        GeofenceError::GeoJson(m) if m.contains("width_m") => "properties.width_m",
        GeofenceError::GeoJson(m) if m.contains("passes") => "properties.passes",
        GeofenceError::GeoJson(_) => "properties",
        _ => "geometry",
    }
}

async fn write(
    state: &AppState,
    caller: &Caller,
    org: &str,
    feature: &geojson::Feature,
    replace: Option<&str>,
) -> Result<AreaRow, ApiError> {
    match replace {
        Some(id) => caller.check_org(org, format!("area {org}/{id}"))?,
        None if !caller.sees(org) => return Err(no_org(org)),
        None => {}
    }
    let (area, kind) = validate(feature)?;
    if let Some(id) = replace
        && area.id().as_str() != id
    {
        return Err(ApiError::invalid(
            "id",
            format!("must be {id:?}, as in the path"),
        ));
    }
    let stored = serde_json::to_value(area.to_geojson_feature())
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    super::org_tz(edit.client(), org, "org").await?;
    let values = AreaValues {
        org,
        id: area.id().as_str(),
        name: &area.name,
        kind: &kind,
        district: area.district.as_deref(),
        grid: area.grid.as_deref(),
        chief: area.chief.as_deref(),
        feature: &stored,
    };
    let (row, action) = match replace {
        Some(_) => (edit.update_area(&values).await?, "area.update"),
        None => (Some(edit.create_area(&values).await?), "area.create"),
    };
    let row = row.ok_or_else(|| ApiError::not_found(format!("area {org}/{}", area.id())))?;
    let object = format!("area/{org}/{}", row.id);
    super::commit(edit, caller, action, object, org, &row).await?;
    Ok(row)
}

#[utoipa::path(post, path = "/api/v1/areas/{org}", tag = "configuration", operation_id = "create_area",
    params(("org" = String, Path, description = "The org")),
    request_body = crate::openapi::schemas::AreaFeature,
    responses((status = 201, description = "The area as stored", body = crate::openapi::schemas::Area), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The org already has a area with that id", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A area that does not validate (as in a scenario file), or an org that does not exist", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P(org): P<String>,
    J(feature): J<geojson::Feature>,
) -> Result<(StatusCode, Json<AreaRow>), ApiError> {
    caller.require(Role::Admin)?;
    let row = write(&state, &caller, &org, &feature, None).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(put, path = "/api/v1/areas/{org}/{id}", tag = "configuration", operation_id = "update_area",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The area's id")),
    request_body = crate::openapi::schemas::AreaFeature,
    responses((status = 200, description = "The area as stored", body = crate::openapi::schemas::Area), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A area that does not validate, or whose id is not the one in the path", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P((org, id)): P<(String, String)>,
    J(feature): J<geojson::Feature>,
) -> Result<Json<AreaRow>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(
        write(&state, &caller, &org, &feature, Some(&id)).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/areas/{org}/{id}", tag = "configuration", operation_id = "delete_area",
    params(("org" = String, Path, description = "The org"), ("id" = String, Path, description = "The area's id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "The token lacks the admin role", body = crate::error::Problem, content_type = "application/problem+json"), (status = 404, description = "No such area", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Something still refers to the area", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    P((org, id)): P<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    caller.check_org(&org, format!("area {org}/{id}"))?;
    let mut client = state.pool.get().await?;
    let mut edit = ConfigEdit::begin(&mut client).await?;
    let before = edit
        .delete_area(&org, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("area {org}/{id}")))?;
    // What the audit log has always kept of a deleted area.
    let before = serde_json::json!({
        "name": before.name, "kind": before.kind, "district": before.district,
        "feature": before.feature,
    });
    let object = format!("area/{org}/{id}");
    super::commit(edit, &caller, "area.delete", object, &org, &before).await?;
    Ok(StatusCode::NO_CONTENT)
}
