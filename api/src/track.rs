//! `GET /api/v1/devices/{id}/track`: a device's fixes over at most 48 hours,
//! as a GeoJSON LineString Feature (optionally simplified with Douglas–Peucker,
//! the tolerance in metres on locally projected coordinates) or, with
//! `format=points`, a FeatureCollection of the fixes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::extract::{P, Q};
use crate::geo_util::simplify_indices;

/// The longest range one request may ask for.
const MAX_RANGE: chrono::Duration = chrono::Duration::hours(48);
/// Fixes one answer holds at most: 48 h at one fix a second is 172,800, so
/// this only bites on a device that floods.
const MAX_POINTS: i64 = 200_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrackQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Douglas–Peucker tolerance, metres.
    pub simplify: Option<f64>,
    /// `line` (default) or `points`.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/devices/{id}/track", tag = "live", operation_id = "device_track",
    params(("id" = i32, Path, description = "`devices.id`"), TrackQuery),
    responses(
        (status = 200, description = "The device's fixes in the range, as GeoJSON", body = crate::openapi::schemas::Track),
        (status = 404, description = "No such device", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A range, tolerance or format that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn track(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P(id): P<i32>,
    Q(q): Q<TrackQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let points_format = validate(&q)?;
    let client = state.pool.get().await?;
    let device = store::queries::config::device(&**client, id)
        .await?
        .filter(|d| caller.sees(&d.org))
        .ok_or_else(|| ApiError::not_found(format!("device {id}")))?;
    let fixes = store::queries::track::fixes(&**client, id, q.from, q.to, MAX_POINTS).await?;
    let lonlat: Vec<(f64, f64)> = fixes.iter().map(|f| (f.lon, f.lat)).collect();
    let keep: Vec<usize> = match q.simplify {
        Some(tol) if tol > 0.0 => simplify_indices(&lonlat, tol),
        _ => (0..fixes.len()).collect(),
    };
    let props = TrackProps {
        device_id: id,
        org: &device.org,
        device: &device.device,
        from: q.from,
        to: q.to,
        points: keep.len(),
        fixes: fixes.len(),
        simplify_m: q.simplify,
        times: None,
    };
    // Serialized straight from the rows: a device-day is thousands of fixes.
    let body = if points_format {
        let features: Vec<PointFeature> = keep
            .iter()
            .map(|&i| {
                let f = &fixes[i];
                PointFeature {
                    kind: "Feature",
                    geometry: Geometry {
                        kind: "Point",
                        coordinates: [f.lon, f.lat],
                    },
                    properties: f,
                }
            })
            .collect();
        serde_json::to_vec(&PointCollection {
            kind: "FeatureCollection",
            features,
            properties: props,
        })
    } else {
        let coords: Vec<[f64; 2]> = keep.iter().map(|&i| [lonlat[i].0, lonlat[i].1]).collect();
        let times: Vec<DateTime<Utc>> = keep.iter().map(|&i| fixes[i].ts).collect();
        // A LineString needs two positions; fewer fixes give no geometry.
        let geometry = (coords.len() >= 2).then_some(Geometry {
            kind: "LineString",
            coordinates: coords,
        });
        serde_json::to_vec(&LineFeature {
            kind: "Feature",
            geometry,
            properties: TrackProps {
                times: Some(times),
                ..props
            },
        })
    }
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Checks the range, the tolerance and the format; whether points were asked for.
fn validate(q: &TrackQuery) -> Result<bool, ApiError> {
    if q.to <= q.from {
        return Err(ApiError::invalid("to", "must be after from"));
    }
    if q.to - q.from > MAX_RANGE {
        return Err(ApiError::invalid(
            "to",
            "the range may span at most 48 hours",
        ));
    }
    if q.simplify
        .is_some_and(|s| !s.is_finite() || !(0.0..=10_000.0).contains(&s))
    {
        return Err(ApiError::invalid("simplify", "metres, between 0 and 10000"));
    }
    match q.format.as_deref() {
        None | Some("line") => Ok(false),
        Some("points") => Ok(true),
        Some(_) => Err(ApiError::invalid("format", "must be line or points")),
    }
}

#[derive(Serialize)]
struct TrackProps<'a> {
    device_id: i32,
    org: &'a str,
    device: &'a str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    points: usize,
    fixes: usize,
    simplify_m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    times: Option<Vec<DateTime<Utc>>>,
}

#[derive(Serialize)]
struct Geometry<C> {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: C,
}

#[derive(Serialize)]
struct LineFeature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    geometry: Option<Geometry<Vec<[f64; 2]>>>,
    properties: TrackProps<'a>,
}

#[derive(Serialize)]
struct PointFeature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    geometry: Geometry<[f64; 2]>,
    /// ts, lat, lon, speed, heading, work, sos.
    properties: &'a store::queries::track::TrackPoint,
}

#[derive(Serialize)]
struct PointCollection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<PointFeature<'a>>,
    properties: TrackProps<'a>,
}
