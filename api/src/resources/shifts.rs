//! `/api/v1/shifts`: shift calendars, as in a scenario file's `shifts`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use geofence::scenario::{ShiftSpec, shift_from_spec};
use serde::Deserialize;
use store::queries::config::{self as q, ShiftRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role};
use crate::error::{ApiError, map_write_error};
use crate::extract::{J, Q};
use crate::page::{self, Page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub org: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<ListQuery>,
) -> Result<Json<Page<ShiftRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    let limit = page::limit(query.limit)?;
    let after = query.cursor.as_deref().map(page::decode_pair).transpose()?;
    let client = state.pool.get().await?;
    let rows = q::shifts(
        &**client,
        query.org.as_deref(),
        after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |s| {
        page::pair(&s.org, &s.id)
    })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Json<ShiftRow>, ApiError> {
    caller.require(Role::Viewer)?;
    let client = state.pool.get().await?;
    q::shift(&**client, &org, &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("shift {org}/{id}")))
}

async fn write(
    state: &AppState,
    org: &str,
    spec: &ShiftSpec,
    replace: Option<&str>,
) -> Result<ShiftRow, ApiError> {
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
    tx.commit().await?;
    Ok(row)
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(org): Path<String>,
    J(spec): J<ShiftSpec>,
) -> Result<(StatusCode, Json<ShiftRow>), ApiError> {
    caller.require(Role::Admin)?;
    let row = write(&state, &org, &spec, None).await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path((org, id)): Path<(String, String)>,
    J(spec): J<ShiftSpec>,
) -> Result<Json<ShiftRow>, ApiError> {
    caller.require(Role::Admin)?;
    Ok(Json(write(&state, &org, &spec, Some(&id)).await?))
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
        .execute(
            "DELETE FROM shifts WHERE org = $1 AND id = $2",
            &[&org, &id],
        )
        .await?;
    if n == 0 {
        return Err(ApiError::not_found(format!("shift {org}/{id}")));
    }
    super::bump_org(&*tx, &org).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
