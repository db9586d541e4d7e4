//! A small test town: one sweep route, one wash route, a cleaner's beat with a
//! service station, day and night shifts; and the geometry to walk it (fix
//! scripts in the town's metres, `testkit::script`).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use serde_json::json;
pub use testkit::script::Script;

/// The town's org id (its topics are `sweepwatch/v1/humen/…`).
pub const ORG: &str = "humen";

pub const LON0: f64 = 113.67;
pub const LAT0: f64 = 22.82;

/// A point `x` metres east and `y` metres north of the town's origin.
pub fn pt(x: f64, y: f64) -> (f64, f64) {
    let m_per_deg_lat = 110_574.0;
    let m_per_deg_lon = 111_320.0 * LAT0.to_radians().cos();
    (LON0 + x / m_per_deg_lon, LAT0 + y / m_per_deg_lat)
}

fn line(a: (f64, f64), b: (f64, f64)) -> serde_json::Value {
    let (p, q) = (pt(a.0, a.1), pt(b.0, b.1));
    json!({"type": "LineString", "coordinates": [[p.0, p.1], [q.0, q.1]]})
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> serde_json::Value {
    let c = [pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1), pt(x0, y0)];
    json!({"type": "Polygon", "coordinates": [c.iter().map(|p| [p.0, p.1]).collect::<Vec<_>>()]})
}

/// The scenario file (format `sweepwatch-scenario/1`).
pub fn scenario() -> serde_json::Value {
    let props = |kind: &str, extra: serde_json::Value| {
        let mut p = json!({"kind": kind, "district": "D1", "grid": "G1", "chief": "Chen Wei"});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        p
    };
    json!({
        "format": "sweepwatch-scenario/1",
        "org": {"id": "humen", "name": "Humen (test)", "timezone": "Asia/Shanghai"},
        "areas": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "id": "route-a", "properties": props("route", json!({"width_m": 8, "name": "Route A"})),
             "geometry": line((0.0, 0.0), (1000.0, 0.0))},
            {"type": "Feature", "id": "wash-n", "properties": props("route", json!({"width_m": 8, "name": "Wash N"})),
             "geometry": line((0.0, 300.0), (1000.0, 300.0))},
            {"type": "Feature", "id": "beat-1", "properties": props("beat", json!({"name": "Beat 1"})),
             "geometry": rect(-100.0, 500.0, 600.0, 900.0)},
            {"type": "Feature", "id": "station-1", "properties": props("rest_zone", json!({"name": "Service station 1"})),
             "geometry": rect(500.0, 700.0, 540.0, 740.0)}
        ]},
        "shifts": [
            {"id": "day", "name": "Day sweep", "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "06:00:00", "end": "18:00:00"}]},
            {"id": "night", "name": "Night wash", "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "22:00:00", "end": "05:00:00"}]}
        ],
        "devices": [
            {"id": "sw-1", "kind": "sweeper"}, {"id": "wa-1", "kind": "washer"},
            {"id": "wk-1", "kind": "worker"}, {"id": "wk-2", "kind": "worker"}
        ],
        "assignments": [
            {"device": "sw-1", "area": "route-a", "shift": "day"},
            {"device": "wa-1", "area": "wash-n", "shift": "night"},
            {"device": "wk-1", "area": "beat-1", "shift": "day"},
            {"device": "wk-2", "area": "beat-1", "shift": "day"}
        ]
    })
}

/// A local date a few days back (inside the retention window, in the past).
pub fn test_date() -> NaiveDate {
    (Utc::now() - Duration::days(3))
        .with_timezone(&Shanghai)
        .date_naive()
}

/// `hh:mm:ss` local time on `date`, as UTC.
pub fn local(date: NaiveDate, h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&date.and_hms_opt(h, m, s).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// A fix script in the town's metres, every fix reporting 4 m accuracy (as
/// the town's devices do).
pub fn script() -> Script {
    Script::new(pt).with_accuracy(4.0)
}

/// A fix payload at `x`,`y` metres (a one-fix script).
pub fn fix_at(ts: DateTime<Utc>, x: f64, y: f64, speed: f64, work: bool) -> String {
    let mut s = script();
    s.fix("one", ts, (x, y), Some(speed), work).payload()
}
