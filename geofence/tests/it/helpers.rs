//! Shared fixtures: a small org around Humen (Dongguan) laid out in local metres.

use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
use geo::{LineString, MultiPolygon, Polygon};
use geofence::geodesy::LocalFrame;
use geofence::*;
pub use testkit::script::Script;

pub const LON0: f64 = 113.6721;
pub const LAT0: f64 = 22.8143;

pub fn frame() -> LocalFrame {
    LocalFrame::new(LON0, LAT0)
}

/// (lon, lat) of a point `x` m east and `y` m north of the origin.
pub fn ll(x: f64, y: f64) -> (f64, f64) {
    frame().unproject([x, y])
}

/// Local time on 2026-11-27 in Shanghai (UTC+8) as UTC.
pub fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(2026, 11, 27, h, m, s)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn secs(base: DateTime<Utc>, s: i64) -> DateTime<Utc> {
    base + chrono::Duration::seconds(s)
}

pub fn fix(ts: DateTime<Utc>, x: f64, y: f64) -> Fix {
    let (lon, lat) = ll(x, y);
    Fix::at(ts, lat, lon)
}

/// A fix script (`testkit::script`) in this town's metres: fixes with no
/// speed (the engine derives it), no accuracy, the work flag as given.
pub fn script() -> Script {
    Script::new(ll).without_speed()
}

/// The adapter from the test kit's fixes to the engine's (`testkit` cannot
/// depend on `geofence`: this crate's tests depend on `testkit`).
pub fn engine_fix(f: &testkit::script::Fix) -> Fix {
    let mut fix = Fix::at(f.ts, f.lat, f.lon);
    fix.speed_kmh = f.speed_kmh;
    fix.acc_m = f.acc_m;
    fix.work = f.work;
    fix.sos = f.sos;
    fix
}

/// Feeds a script's fixes, in time order, and collects every transition.
pub fn feed_script(e: &mut Engine, s: &Script) -> Vec<AlertTransition> {
    s.fixes()
        .flat_map(|(dev, f)| e.on_fix(&DeviceKey::new(dev).unwrap(), &engine_fix(f)))
        .collect()
}

pub fn id<T: TryFrom<&'static str>>(s: &'static str) -> T
where
    T::Error: std::fmt::Debug,
{
    T::try_from(s).unwrap()
}

pub fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> MultiPolygon<f64> {
    let pts: Vec<(f64, f64)> = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
        .iter()
        .map(|&(x, y)| ll(x, y))
        .collect();
    MultiPolygon(vec![Polygon::new(LineString::from(pts), vec![])])
}

/// Route `route-1`: (0,0) to (1000,0), half-width 8 m.
pub fn route1(passes: u32) -> Area {
    Area::route(id("route-1"), &[ll(0.0, 0.0), ll(1000.0, 0.0)], 8.0, passes).unwrap()
}

pub fn day_shift() -> Shift {
    Shift::new(id("shift-day"), "day sweep", chrono_tz::Asia::Shanghai)
        .with_weekly(WeeklyWindow {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ],
            start: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(16, 0, 0).unwrap(),
        })
        .unwrap()
}

pub const SWEEPER: &str = "humen/sw-001";
pub const WORKER: &str = "humen/wk-001";
pub const COLLECTOR: &str = "humen/col-001";

/// An engine with route-1, beat-1 (0..200 x 50..250), a rest zone (500..530 x 100..130),
/// the day shift 08:00-16:00, a sweeper and a collector on route-1 and a worker on beat-1.
pub fn engine_with(passes: u32) -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    e.set_areas(vec![
        route1(passes),
        Area::zone(
            id("beat-1"),
            ZonePurpose::Beat,
            square(0.0, 50.0, 200.0, 250.0),
        )
        .unwrap(),
        Area::zone(
            id("rest-1"),
            ZonePurpose::RestZone,
            square(500.0, 100.0, 530.0, 130.0),
        )
        .unwrap(),
    ]);
    e.set_shifts(vec![day_shift()]);
    e.set_devices(vec![
        (id(SWEEPER), DeviceKind::Sweeper),
        (id(WORKER), DeviceKind::Worker),
        (id(COLLECTOR), DeviceKind::Collector),
    ]);
    let asg = |dev: &'static str, area: &'static str| Assignment {
        device: id(dev),
        area: id(area),
        shift: id("shift-day"),
        valid_from: t(0, 0, 0) - chrono::Duration::days(30),
        valid_to: None,
    };
    e.set_assignments(vec![
        asg(SWEEPER, "route-1"),
        asg(COLLECTOR, "route-1"),
        asg(WORKER, "beat-1"),
    ])
    .unwrap();
    e
}

pub fn engine() -> Engine {
    engine_with(1)
}

pub fn day_key() -> ShiftInstanceKey {
    ShiftInstanceKey {
        shift: id("shift-day"),
        local_date: chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    }
}

/// Transitions of one kind.
pub fn of(kind: AlertKind, ts: &[AlertTransition]) -> Vec<&AlertTransition> {
    ts.iter().filter(|t| t.kind == kind).collect()
}

pub fn opened(kind: AlertKind, ts: &[AlertTransition]) -> bool {
    ts.iter()
        .any(|t| t.kind == kind && t.change == Change::Open)
}

pub fn cleared(kind: AlertKind, ts: &[AlertTransition]) -> bool {
    ts.iter()
        .any(|t| t.kind == kind && t.change == Change::Clear)
}

/// Feed fixes for one device and collect every transition.
pub fn feed(e: &mut Engine, dev: &str, fixes: &[Fix]) -> Vec<AlertTransition> {
    let key = DeviceKey::new(dev).unwrap();
    fixes.iter().flat_map(|f| e.on_fix(&key, f)).collect()
}

/// `tick`, keeping only one device's transitions.
pub fn tick_for(e: &mut Engine, dev: &str, now: DateTime<Utc>) -> Vec<AlertTransition> {
    e.tick(now)
        .into_iter()
        .filter(|t| t.device.as_str() == dev)
        .collect()
}
