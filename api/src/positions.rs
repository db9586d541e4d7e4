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

pub mod answers;

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
        (status = 200, description = "Every device's latest position and state. Without filters, a large fleet's answer (one that takes 20 ms or more to build) is shared by the requests of up to 2 s: it may be that old; the stream has every position as it is committed", body = crate::openapi::schemas::Positions),
        (status = 422, description = "A filter or bbox that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn positions(
    State(state): State<Arc<AppState>>,
    Extension(dir): Extension<Arc<DirectoryCache>>,
    Extension(answers): Extension<Arc<ReadyAnswers>>,
    caller: Caller,
    Q(q): Q<PositionsQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(q.org.as_deref())?;
    let bbox = q.bbox.as_deref().map(geo_util::parse_bbox).transpose()?;
    let body: bytes::Bytes = if q.kind.is_none() && q.district.is_none() && bbox.is_none() {
        // Every device of the caller's orgs: the ready answer (see `answers`).
        answers
            .get(orgs.clone(), || build(&state, &dir, orgs, None, None, None))
            .await?
    } else {
        build(&state, &dir, orgs, q.kind, q.district, bbox)
            .await?
            .into()
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Ready answers by the caller's org set (`None`: every org).
pub type ReadyAnswers = answers::Answers<Option<Vec<String>>>;

/// Builds an answer now: the directory (read again only when it changed)
/// and the unresolved alerts from the database, the positions from the live
/// view.
async fn build(
    state: &AppState,
    dir: &DirectoryCache,
    orgs: Option<Vec<String>>,
    kind: Option<String>,
    district: Option<String>,
    bbox: Option<geo_util::BBox>,
) -> Result<Vec<u8>, ApiError> {
    let client = state.pool.get().await?;
    // Two statements in one round trip: the directory's version and the
    // unresolved alerts; the directory itself only when it changed.
    let (version, alert_rows) = tokio::try_join!(
        live::directory_version(&**client),
        live::unresolved_alert_kinds(&**client)
    )?;
    let directory = dir.get(&client, version).await?;
    drop(client);
    let open = display::open_alerts(alert_rows);
    let snapshot = state.live.snapshot();
    // Tens of milliseconds of CPU for 100,000 devices: on a thread of its own,
    // so that the streams and the other requests on the runtime's workers
    // are not held up behind it.
    tokio::task::spawn_blocking(move || {
        let view = View {
            orgs: orgs.as_deref(),
            kind: kind.as_deref(),
            district: district.as_deref(),
            bbox,
        };
        view.body(&snapshot.positions, &directory, &open, Utc::now())
    })
    .await
    .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// Keeps the ready answers that were asked for recently fresh (see
/// [`answers`]), for as long as `answers` lives.
pub fn spawn_refresher(
    answers: &Arc<ReadyAnswers>,
    state: &Arc<AppState>,
    dir: &Arc<DirectoryCache>,
) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let (weak, state, dir) = (Arc::downgrade(answers), state.clone(), dir.clone());
    rt.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(answers) = weak.upgrade() else {
                return;
            };
            for orgs in answers.due() {
                let built = answers
                    .refresh(&orgs, || {
                        build(&state, &dir, orgs.clone(), None, None, None)
                    })
                    .await;
                if let Err(e) = built {
                    tracing::debug!(error = %e, "refreshing a ready /positions answer failed");
                }
            }
        }
    });
}

/// What one request asked for.
struct View<'a> {
    /// `None`: every org.
    orgs: Option<&'a [String]>,
    kind: Option<&'a str>,
    district: Option<&'a str>,
    bbox: Option<geo_util::BBox>,
}

impl View<'_> {
    /// The GeoJSON answer for `positions` (in device id order, as the live
    /// view's snapshot is), written straight into one buffer: each device's
    /// directory part comes ready from [`display::Device::json`], the rest
    /// is its fields. The same bytes as serde writes from the borrowed structs of
    /// the tests (which hold the two equal), at a fraction of the cost for
    /// 100,000 devices.
    fn body(
        &self,
        positions: &[Arc<::live::Position>],
        directory: &Directory,
        open: &display::OpenAlerts,
        wall: DateTime<Utc>,
    ) -> Vec<u8> {
        let selected: Vec<&::live::Position> = positions
            .iter()
            .map(|p| &**p)
            .filter(|p| self.orgs.is_none_or(|o| o.contains(&p.org)))
            .collect();
        // "Now" is each org's clock, like the engine's.
        let org_now = display::org_clocks(selected.iter().copied(), wall);
        // About 380 bytes a feature: a little more, so that 100,000 of them
        // are not copied to a buffer twice the size near the end.
        let mut out = Vec::with_capacity(64 + selected.len() * 400);
        out.extend_from_slice(br#"{"type":"FeatureCollection","features":["#);
        let mut first = true;
        // Positions come in device order, orgs mixed: the last org's clock
        // is kept at hand rather than looked up for every device.
        let mut clock: Option<(&str, DateTime<Utc>)> = None;
        for p in selected {
            let Some(device) = directory.get(&p.device_id) else {
                continue;
            };
            let s = &device.info;
            let keep = self.kind.is_none_or(|k| k == s.kind)
                && self
                    .district
                    .is_none_or(|d| s.districts.iter().any(|x| x == d))
                && self.bbox.is_none_or(|b| geo_util::in_bbox(b, p.lon, p.lat));
            if !keep {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let now = match clock {
                Some((org, now)) if org == p.org => now,
                _ => {
                    let now = org_now.get(p.org.as_str()).copied().unwrap_or(wall);
                    clock = Some((p.org.as_str(), now));
                    now
                }
            };
            let open_alerts = open.get(&p.device_id).map_or(&[][..], Vec::as_slice);
            let state = display::state_at(Some(device), open_alerts, p, now);
            write_feature(&mut out, p, device, state.as_str(), open_alerts);
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// One device's `Feature`, as serde writes it: the parts that depend only
/// on its fix come rendered with the position (once per fix, see
/// [`fix_parts`]), the directory's part with the device.
fn write_feature(
    out: &mut Vec<u8>,
    p: &::live::Position,
    device: &display::Device,
    state: &str,
    open_alerts: &[geofence::AlertKind],
) {
    let (parts, split) = p.rendered.get_or_init(|| fix_parts(p));
    out.extend_from_slice(&parts[..*split]);
    out.extend_from_slice(&device.json);
    out.extend_from_slice(&parts[*split..]);
    out.extend_from_slice(br#","state":"#);
    json(out, state);
    out.extend_from_slice(br#","sos":"#);
    json(out, &open_alerts.contains(&geofence::AlertKind::Sos));
    out.extend_from_slice(br#","open_alerts":"#);
    json(out, &open_alerts.len());
    out.extend_from_slice(b"}}");
}

/// A feature's fix parts: from its start to the `"device"` property and its
/// comma (before the directory's part), and from `"ts"` to `"batt"` (after
/// it); returned as one buffer and where the second part starts.
fn fix_parts(p: &::live::Position) -> (Box<[u8]>, usize) {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"type":"Feature","id":"#);
    json(&mut out, &p.device_id);
    out.extend_from_slice(br#","geometry":{"type":"Point","coordinates":["#);
    json(&mut out, &p.lon);
    out.push(b',');
    json(&mut out, &p.lat);
    out.extend_from_slice(br#"]},"properties":{"device_id":"#);
    json(&mut out, &p.device_id);
    out.extend_from_slice(br#","org":"#);
    json(&mut out, &p.org);
    out.extend_from_slice(br#","device":"#);
    json(&mut out, &p.device);
    out.push(b',');
    let split = out.len();
    out.extend_from_slice(br#","ts":"#);
    display::write_ts(&mut out, p.ts);
    out.extend_from_slice(br#","speed":"#);
    json(&mut out, &p.speed);
    out.extend_from_slice(br#","heading":"#);
    json(&mut out, &p.heading);
    out.extend_from_slice(br#","work":"#);
    json(&mut out, &p.work);
    out.extend_from_slice(br#","batt":"#);
    json(&mut out, &p.batt);
    (out.into_boxed_slice(), split)
}

/// `v` as serde_json writes it (into a `Vec`, which cannot fail).
fn json<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec never fails and these values always serialize.
    let _ = serde_json::to_writer(out, v);
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

/// The answer's shape, as serde writes it from borrowed rows: what
/// `View::body` writes by hand (the tests compare the two).
#[cfg(test)]
mod shape {
    use super::*;

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

    /// The answer as the handler built it before [`View::body`]: features
    /// from borrowed rows, serialized by serde.
    fn serde_body(
        view: &View<'_>,
        positions: &[::live::Position],
        directory: &Directory,
        open: &display::OpenAlerts,
        wall: DateTime<Utc>,
    ) -> Vec<u8> {
        let mut positions: Vec<&::live::Position> = positions
            .iter()
            .filter(|p| view.orgs.is_none_or(|o| o.contains(&p.org)))
            .collect();
        positions.sort_by_key(|p| p.device_id);
        let org_now = display::org_clocks(positions.iter().copied(), wall);
        let features = positions
            .iter()
            .filter_map(|p| {
                let s = &directory.get(&p.device_id)?.info;
                let open_alerts = open.get(&p.device_id).map_or(&[][..], Vec::as_slice);
                let keep = view.kind.is_none_or(|k| k == s.kind)
                    && view
                        .district
                        .is_none_or(|d| s.districts.iter().any(|x| x == d))
                    && view.bbox.is_none_or(|b| geo_util::in_bbox(b, p.lon, p.lat));
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
                        state: display::state_of(directory, open, p, now).as_str(),
                        sos: open_alerts.contains(&geofence::AlertKind::Sos),
                        open_alerts: open_alerts.len(),
                    },
                })
            })
            .collect();
        serde_json::to_vec(&Collection {
            kind: "FeatureCollection",
            features,
        })
        .unwrap()
    }

    fn info(
        id: i32,
        org: &str,
        kind: &str,
        label: Option<&str>,
        districts: &[&str],
    ) -> live::DeviceInfo {
        live::DeviceInfo {
            device_id: id,
            org: org.into(),
            name: format!("dev-{id}"),
            kind: kind.into(),
            label: label.map(Into::into),
            districts: districts.iter().map(|d| (*d).into()).collect(),
        }
    }

    #[test]
    fn the_written_answer_is_the_one_serde_writes() {
        use chrono::TimeZone;
        let base = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
        let devices = vec![
            info(
                3,
                "a",
                "sweeper",
                Some("Sweeper \"3\" \\ 东区"),
                &["North", "East"],
            ),
            info(1, "a", "worker", None, &[]),
            info(2, "b", "washer", Some("W2"), &["North"]),
            info(5, "a", "sweeper", None, &["South"]),
        ];
        let directory = display::directory(devices, &[]);
        let nanos = [0, 120_000_000, 123_456_000, 123_456_789, 1_500_000_000];
        let positions: Vec<::live::Position> = (1..=6)
            .map(|id| ::live::Position {
                device_id: id,
                org: if id == 2 { "b" } else { "a" }.into(),
                device: format!("dev-{id}\t\u{1}"),
                ts: base - chrono::Duration::minutes(i64::from(id) * 3)
                    + chrono::Duration::nanoseconds(i64::from(
                        nanos[id as usize % 5] % 1_000_000_000,
                    )),
                lat: 31.2 + f64::from(id) * 0.001,
                lon: 121.4 - f64::from(id) * 1e-7,
                speed: [None, Some(0.0), Some(12.5), Some(f32::NAN), Some(3.3e-5)][id as usize % 5],
                heading: (id % 2 == 0).then_some(359.9),
                work: [None, Some(true), Some(false)][id as usize % 3],
                sos: id == 3,
                batt: Some(0.1 * id as f32),
                received_at: base,
                rendered: Default::default(),
            })
            .collect();
        let mut open = display::OpenAlerts::new();
        open.insert(3, vec![geofence::AlertKind::Sos, geofence::AlertKind::Idle]);
        open.insert(1, vec![geofence::AlertKind::Idle]);
        let arcs: Vec<Arc<::live::Position>> = {
            let mut v: Vec<_> = positions.iter().cloned().map(Arc::new).collect();
            v.sort_by_key(|p| p.device_id);
            v
        };
        let a = ["a".to_owned()];
        let views = [
            View {
                orgs: None,
                kind: None,
                district: None,
                bbox: None,
            },
            View {
                orgs: Some(&a),
                kind: None,
                district: None,
                bbox: None,
            },
            View {
                orgs: None,
                kind: Some("sweeper"),
                district: None,
                bbox: None,
            },
            View {
                orgs: None,
                kind: None,
                district: Some("North"),
                bbox: None,
            },
            View {
                orgs: None,
                kind: None,
                district: None,
                bbox: Some((121.0, 31.0, 122.0, 31.2025)),
            },
            View {
                orgs: Some(&a),
                kind: Some("washer"),
                district: None,
                bbox: None,
            },
        ];
        for (i, view) in views.iter().enumerate() {
            for wall in [base, base + chrono::Duration::hours(2)] {
                let written = view.body(&arcs, &directory, &open, wall);
                let serde = serde_body(view, &positions, &directory, &open, wall);
                assert_eq!(
                    String::from_utf8(written).unwrap(),
                    String::from_utf8(serde).unwrap(),
                    "view {i}"
                );
            }
        }
    }

    #[test]
    fn timestamps_are_written_as_serde_writes_them() {
        use chrono::{NaiveDate, TimeZone};
        let mut cases: Vec<DateTime<Utc>> = [
            0,
            1,
            10,
            1_000,
            1_000_000,
            999_999_999,
            100_000_000,
            7_000,
            7,
        ]
        .iter()
        .map(|&n| {
            Utc.with_ymd_and_hms(2026, 1, 9, 23, 5, 7).unwrap() + chrono::Duration::nanoseconds(n)
        })
        .collect();
        for (y, ns) in [
            (1, 0),
            (999, 5_000_000),
            (9999, 0),
            (0, 1),
            (10_000, 0),
            (-1, 3_000),
        ] {
            let d = NaiveDate::from_ymd_opt(y, 12, 31).unwrap();
            cases.push(d.and_hms_nano_opt(0, 0, 0, ns).unwrap().and_utc());
        }
        // A leap second.
        let d = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap();
        for ns in [1_000_000_000, 1_500_000_000, 1_000_000_007] {
            cases.push(d.and_hms_nano_opt(23, 59, 59, ns).unwrap().and_utc());
        }
        for ts in cases {
            let mut out = Vec::new();
            display::write_ts(&mut out, ts);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(&ts).unwrap()
            );
        }
    }
}
