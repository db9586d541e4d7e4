//! `/api/v1/assignments`: device ↔ area ↔ shift over a time range.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use geofence::{AreaId, ShiftId};
use serde::Deserialize;
use store::queries::config::{self as q, AssignmentRow};

use crate::AppState;
use crate::auth::{Admin, Caller, Role};
use crate::error::{ApiError, InvalidParam};
use crate::extract::{J, Q};
use crate::page::{self, Page};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub org: Option<String>,
    /// `devices.id`
    pub device: Option<i32>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

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
    let client = state.pool.get().await?;
    let rows = q::assignments(
        &**client,
        query.org.as_deref(),
        query.device,
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |a| a.id.to_string())))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AssignmentRow>, ApiError> {
    caller.require(Role::Viewer)?;
    let client = state.pool.get().await?;
    q::assignment(&**client, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))
}

/// An assignment; the org is the device's.
#[derive(Debug, Deserialize)]
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

/// The checks of the scenario validation: ids valid, references exist, range ordered.
async fn validate(
    client: &impl tokio_postgres::GenericClient,
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
    let org: Option<String> = client
        .query_opt("SELECT org FROM devices WHERE id = $1", &[&b.device_id])
        .await?
        .map(|r| r.get(0));
    match &org {
        None => errs.push(InvalidParam::new("device_id", "no such device")),
        Some(org) => {
            let area = client
                .query_opt(
                    "SELECT 1 FROM areas WHERE org = $1 AND id = $2",
                    &[org, &b.area],
                )
                .await?;
            if area.is_none() {
                errs.push(InvalidParam::new(
                    "area",
                    format!("no area {:?} in org {org}", b.area),
                ));
            }
            let shift = client
                .query_opt(
                    "SELECT 1 FROM shifts WHERE org = $1 AND id = $2",
                    &[org, &b.shift],
                )
                .await?;
            if shift.is_none() {
                errs.push(InvalidParam::new(
                    "shift",
                    format!("no shift {:?} in org {org}", b.shift),
                ));
            }
        }
    }
    match org {
        Some(org) if errs.is_empty() => Ok((org, from)),
        _ => Err(ApiError::Invalid(errs)),
    }
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    J(b): J<AssignmentBody>,
) -> Result<(StatusCode, Json<AssignmentRow>), ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let (org, from) = validate(&*tx, &b).await?;
    let id: i64 = tx
        .query_one(
            "INSERT INTO assignments (org, device_id, area_id, shift_id, valid_from, valid_to)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[&org, &b.device_id, &b.area, &b.shift, &from, &b.valid_to],
        )
        .await
        .map_err(|e| crate::error::map_write_error(e, "area"))?
        .get(0);
    super::bump_org(&*tx, &org).await?;
    let row = q::assignment(&*tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("assignment"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    J(b): J<AssignmentBody>,
) -> Result<Json<AssignmentRow>, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let old_org: String = tx
        .query_opt(
            "SELECT org FROM assignments WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))?
        .get(0);
    let (org, from) = validate(&*tx, &b).await?;
    tx.execute(
        "UPDATE assignments SET org = $2, device_id = $3, area_id = $4, shift_id = $5, valid_from = $6,
             valid_to = $7 WHERE id = $1",
        &[&id, &org, &b.device_id, &b.area, &b.shift, &from, &b.valid_to],
    )
    .await
    .map_err(|e| crate::error::map_write_error(e, "area"))?;
    super::bump_org(&*tx, &org).await?;
    if old_org != org {
        super::bump_org(&*tx, &old_org).await?;
    }
    let row = q::assignment(&*tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("assignment"))?;
    tx.commit().await?;
    Ok(Json(row))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    caller.require(Role::Admin)?;
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    let org: String = tx
        .query_opt(
            "DELETE FROM assignments WHERE id = $1 RETURNING org",
            &[&id],
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("assignment {id}")))?
        .get(0);
    super::bump_org(&*tx, &org).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
