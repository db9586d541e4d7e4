//! `GET /api/v1/positions`: every device's latest fix and state, as GeoJSON.
//!
//! Positions come from the in-memory live view; kinds, districts and open
//! alerts from one query.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::queries::live;

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::extract::Q;
use crate::{AppState, geo_util};

/// A device is offline when its latest fix is older than this.
const OFFLINE_AFTER: chrono::Duration = chrono::Duration::minutes(10);

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

/// A device's state, from its latest fix and open alerts.
pub fn state_of(now: DateTime<Utc>, p: &::live::Position, open: &[String]) -> &'static str {
    let has = |k: &str| open.iter().any(|o| o == k);
    let speed = f64::from(p.speed.unwrap_or(0.0));
    if now - p.ts > OFFLINE_AFTER {
        "offline"
    } else if has("off_area") {
        "off_area"
    } else if has("idle") {
        "idle"
    } else if p.work == Some(true) {
        "working"
    } else if speed >= 2.0 {
        "moving"
    } else {
        "stopped"
    }
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
    let mut open: HashMap<i32, Vec<String>> = HashMap::new();
    for (device_id, kind) in alert_rows {
        open.entry(device_id).or_default().push(kind);
    }
    let none: Vec<String> = Vec::new();
    let mut positions = state.live.positions();
    positions.retain(|p| orgs.as_ref().is_none_or(|o| o.contains(&p.org)));
    positions.sort_by_key(|p| p.device_id);
    // "Now" is each org's clock, like the engine's: the wall clock while its fixes
    // arrive live, else (a replayed shift) the time of its newest fix.
    let wall = Utc::now();
    let mut newest: HashMap<&str, &::live::Position> = HashMap::new();
    for p in &positions {
        let e = newest.entry(p.org.as_str()).or_insert(p);
        if p.ts > e.ts {
            *e = p;
        }
    }
    let org_now: HashMap<&str, DateTime<Utc>> = newest
        .into_iter()
        .map(|(org, p)| {
            let live = p.received_at - p.ts < chrono::Duration::minutes(2);
            (org, if live { wall } else { p.ts.min(wall) })
        })
        .collect();
    let features: Vec<Feature> = positions
        .iter()
        .filter_map(|p| {
            let s = directory.get(&p.device_id)?;
            let open_alerts = open.get(&p.device_id).unwrap_or(&none);
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
                    state: state_of(now, p, open_alerts),
                    sos: open_alerts.iter().any(|k| k == "sos"),
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
/// its districts), kept between requests and read again only when
/// [`live::directory_version`] changes: it is the expensive part of the
/// positions view (tens of ms for 10,000 devices) and changes only with the
/// configuration.
#[derive(Default)]
pub struct DirectoryCache {
    cached: tokio::sync::RwLock<Option<(live::DirectoryVersion, Arc<Directory>)>>,
}

type Directory = HashMap<i32, live::DeviceInfo>;

impl DirectoryCache {
    async fn get(
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
        let d: Arc<Directory> = Arc::new(
            live::device_directory(client)
                .await?
                .into_iter()
                .map(|i| (i.device_id, i))
                .collect(),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(age_s: i64, speed: f32, work: Option<bool>) -> (DateTime<Utc>, ::live::Position) {
        let now = Utc::now();
        (
            now,
            ::live::Position {
                device_id: 1,
                org: "o".into(),
                device: "d".into(),
                ts: now - chrono::Duration::seconds(age_s),
                lat: 0.0,
                lon: 0.0,
                speed: Some(speed),
                heading: None,
                work,
                sos: false,
                batt: None,
                received_at: now,
            },
        )
    }

    #[test]
    fn states_in_order_of_precedence() {
        let (now, p) = pos(700, 10.0, Some(true));
        assert_eq!(state_of(now, &p, &["off_area".into()]), "offline");
        let (now, p) = pos(5, 10.0, Some(true));
        assert_eq!(
            state_of(now, &p, &["idle".into(), "off_area".into()]),
            "off_area"
        );
        assert_eq!(state_of(now, &p, &["idle".into()]), "idle");
        assert_eq!(state_of(now, &p, &[]), "working");
        let (now, p) = pos(5, 10.0, Some(false));
        assert_eq!(state_of(now, &p, &[]), "moving");
        let (now, p) = pos(5, 0.5, None);
        assert_eq!(state_of(now, &p, &[]), "stopped");
    }
}
