//! A planned fix (the contract's JSON) as the location report a terminal
//! sends: 1e-6 degrees with the south/west bits, 1/10 km/h, whole degrees,
//! the time in BCD (GMT+8, whole seconds), ACC (status bit 0) for `work`
//! and the emergency alarm (bit 0) for `sos`.

use chrono::{DateTime, SubsecRound as _, Utc};
use jt808::{
    ALARM_EMERGENCY, BcdTime, LocationReport, STATUS_ACC, STATUS_POSITIONED, STATUS_SOUTH,
    STATUS_WEST,
};
use serde_json::Value;

/// The report of one fix object; `None` for what is not a contract fix.
pub fn fix_report(json: &[u8]) -> Option<LocationReport> {
    let v: Value = serde_json::from_slice(json).ok()?;
    report_of(&v)
}

/// The reports of a backlog array (what is not a fix is left out).
pub fn location_reports(json: &[u8]) -> Vec<LocationReport> {
    match serde_json::from_slice::<Value>(json) {
        Ok(Value::Array(items)) => items.iter().filter_map(report_of).collect(),
        _ => Vec::new(),
    }
}

fn report_of(v: &Value) -> Option<LocationReport> {
    let ts: DateTime<Utc> = v.get("ts")?.as_str()?.parse().ok()?;
    let lat = v.get("lat")?.as_f64()?;
    let lon = v.get("lon")?.as_f64()?;
    let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
    let num = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let micro = |deg: f64| (deg.abs() * 1e6).round() as u32;
    let mut status = STATUS_POSITIONED;
    if flag("work") {
        status |= STATUS_ACC;
    }
    if lat < 0.0 {
        status |= STATUS_SOUTH;
    }
    if lon < 0.0 {
        status |= STATUS_WEST;
    }
    Some(LocationReport {
        alarm: if flag("sos") { ALARM_EMERGENCY } else { 0 },
        status,
        lat: micro(lat),
        lon: micro(lon),
        altitude: 0,
        speed: (num("speed") * 10.0)
            .round()
            .clamp(0.0, f64::from(u16::MAX)) as u16,
        direction: (num("heading").round() as u16) % 360,
        time: BcdTime::from_utc(ts.trunc_subsecs(0))?,
        extras: vec![],
    })
}
