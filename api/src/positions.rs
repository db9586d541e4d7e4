//! `GET /api/v1/positions`: every device's latest fix and state, as GeoJSON.
//!
//! Positions come from the in-memory live view; kinds, districts and open
//! alerts from one query.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::queries::live;

use crate::auth::{Caller, Role};
use crate::display::{self, Directory};
use crate::error::ApiError;
use crate::extract::Q;
use crate::{AppState, geo_util};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PositionsQuery {
    pub org: Option<String>,
    pub district: Option<String>,
    pub kind: Option<String>,
    /// `min_lon,min_lat,max_lon,max_lat`
    pub bbox: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/positions", tag = "live", operation_id = "positions",
    params(PositionsQuery),
    responses(
        (status = 200, description = "Every device's latest position and state", body = crate::openapi::schemas::Positions),
        (status = 422, description = "A filter or bbox that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn positions(
    State(state): State<Arc<AppState>>,
    Extension(dir): Extension<Arc<DirectoryCache>>,
    caller: Caller,
    Q(q): Q<PositionsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(q.org.as_deref())?;
    let bbox = q.bbox.as_deref().map(geo_util::parse_bbox).transpose()?;
    let client = state.pool.get().await?;
    // Two statements in one round trip: the directory's version and the
    // unresolved alerts; the directory itself only when it changed.
    let (version, alert_rows) = tokio::try_join!(
        live::directory_version(&**client),
        live::unresolved_alert_kinds(&**client)
    )?;
    let directory = dir.get(&client, version).await?;
    let open = display::open_alerts(alert_rows);
    let mut positions = state.live.positions();
    positions.retain(|p| orgs.as_ref().is_none_or(|o| o.contains(&p.org)));
    positions.sort_by_key(|p| p.device_id);
    // "Now" is each org's clock, like the engine's.
    let wall = Utc::now();
    let org_now = display::org_clocks(&positions, wall);
    let features: Vec<Feature> = positions
        .iter()
        .filter_map(|p| {
            let s = &directory.get(&p.device_id)?.info;
            let open_alerts = open.get(&p.device_id).map_or(&[][..], Vec::as_slice);
            let keep = q.kind.as_ref().is_none_or(|k| *k == s.kind)
                && q.district.as_ref().is_none_or(|d| s.districts.contains(d))
                && bbox.is_none_or(|b| geo_util::in_bbox(b, p.lon, p.lat));
            let now = org_now.get(p.org.as_str()).copied().unwrap_or(wall);
            keep.then(|| Feature {
                kind: "Feature",
                id: p.device_id,
                geometry: Point {
                    kind: "Point",
                    coordinates: [p.lon, p.lat],
                },
                properties: Properties {
                    device_id: p.device_id,
                    org: &p.org,
                    device: &p.device,
                    kind: &s.kind,
                    label: s.label.as_deref(),
                    districts: &s.districts,
                    ts: p.ts,
                    speed: p.speed,
                    heading: p.heading,
                    work: p.work,
                    batt: p.batt,
                    state: display::state_of(&directory, &open, p, now).as_str(),
                    sos: open_alerts.contains(&geofence::AlertKind::Sos),
                    open_alerts: open_alerts.len(),
                },
            })
        })
        .collect();
    // Serialized straight from borrowed structs: 10,000 devices without
    // building a `serde_json::Value` tree first.
    let body = serde_json::to_vec(&Collection {
        kind: "FeatureCollection",
        features,
    })
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The device directory ([`live::device_directory`]: who each device is and
/// its districts; with [`live::org_rules`], its display thresholds), kept
/// between requests and read again only when [`live::directory_version`]
/// changes: it is the expensive part of the positions view (tens of ms for
/// 10,000 devices) and changes only with the configuration.
#[derive(Default)]
pub struct DirectoryCache {
    cached: tokio::sync::RwLock<Option<(live::DirectoryVersion, Arc<Directory>)>>,
}

impl DirectoryCache {
    pub async fn get(
        &self,
        client: &tokio_postgres::Client,
        version: live::DirectoryVersion,
    ) -> Result<Arc<Directory>, ApiError> {
        if let Some((v, d)) = &*self.cached.read().await
            && *v == version
        {
            return Ok(d.clone());
        }
        let mut cached = self.cached.write().await;
        if let Some((v, d)) = &*cached
            && *v == version
        {
            return Ok(d.clone());
        }
        let (devices, rules) =
            tokio::try_join!(live::device_directory(client), live::org_rules(client))?;
        let d: Arc<Directory> = Arc::new(display::directory(devices, &rules));
        *cached = Some((version, d.clone()));
        Ok(d)
    }
}

#[derive(Serialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    features: Vec<Feature<'a>>,
}

#[derive(Serialize)]
struct Feature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: i32,
    geometry: Point,
    properties: Properties<'a>,
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

#[derive(Serialize)]
struct Properties<'a> {
    device_id: i32,
    org: &'a str,
    device: &'a str,
    kind: &'a str,
    label: Option<&'a str>,
    districts: &'a [String],
    ts: DateTime<Utc>,
    speed: Option<f32>,
    heading: Option<f32>,
    work: Option<bool>,
    batt: Option<f32>,
    state: &'static str,
    sos: bool,
    open_alerts: usize,
}
