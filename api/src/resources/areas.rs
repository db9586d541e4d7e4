//! `/api/v1/areas`: GeoJSON Features, as in a scenario file's `areas`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geofence::{Area, GeofenceError};
use serde::Deserialize;
use store::queries::config::{self as q, AreaRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role};
use crate::error::{ApiError, map_write_error};
use crate::extract::{J, Q};
use crate::page::{self, Page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub org: Option<String>,
    pub district: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<AreaRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(page::decode_pair).transpose()?;
    let client = state.pool.get().await?;
    let rows = q::areas(
        &**client,
        query.org.as_deref(),
        query.district.as_deref(),
        after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |a| {
        page::pair(&a.org, &a.id)
    })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Json<AreaRow>, ApiError> {
    caller.require(Role::Viewer)?;
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
    org: &str,
    feature: &geojson::Feature,
    replace: Option<&str>,
) -> Result<AreaRow, ApiError> {
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
    let tx = client.transaction().await?;
    super::org_tz(&*tx, org, "org").await?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
        &org,
        &area.id().as_str(),
        &area.name,
        &kind,
        &area.district,
        &area.grid,
        &area.chief,
        &stored,
    ];
    let n = if replace.is_some() {
        tx.execute(
            "UPDATE areas SET name = $3, kind = $4, district = $5, grid = $6, chief = $7, feature = $8
             WHERE org = $1 AND id = $2",
            &params,
        )
        .await?
    } else {
        tx.execute(
            "INSERT INTO areas (org, id, name, kind, district, grid, chief, feature)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &params,
        )
        .await
        .map_err(|e| map_write_error(e, "id"))?
    };
    if n == 0 {
        return Err(ApiError::not_found(format!("area {org}/{}", area.id())));
    }
    super::bump_org(&*tx, org).await?;
    let row = q::area(&*tx, org, area.id().as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("area"))?;
    tx.commit().await?;
    Ok(row)
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(org): Path<String>,
    J(feature): J<geojson::Feature>,
) -> Result<(StatusCode, Json<AreaRow>), ApiError> {
    caller.require(Role::Admin)?;
    let row = write(&state, &org, &feature, None).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path((org, id)): Path<(String, String)>,
    J(feature): J<geojson::Feature>,
) -> Result<Json<AreaRow>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(write(&state, &org, &feature, Some(&id)).await?))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path((org, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let n = tx
        .execute("DELETE FROM areas WHERE org = $1 AND id = $2", &[&org, &id])
        .await?;
    if n == 0 {
        return Err(ApiError::not_found(format!("area {org}/{id}")));
    }
    super::bump_org(&*tx, &org).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
