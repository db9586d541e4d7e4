//! Engine plumbing: registry, assignments, late fixes, summaries, snapshots.

use crate::helpers::*;
use geofence::*;

#[test]
fn unknown_devices_are_auto_registered_without_work_alerts() {
    let mut e = engine();
    let out = feed(
        &mut e,
        "humen/ghost",
        &[fix(t(9, 0, 0), 5000.0, 5000.0).working(true)],
    );
    assert!(out.is_empty());
    assert!(e.snapshot_device(&id("humen/ghost")).is_some());
    assert!(
        e.tick(t(12, 0, 0))
            .iter()
            .all(|t| t.device.as_str() != "humen/ghost")
    );
}

#[test]
fn assignments_are_validated() {
    let mut e = engine();
    let bad = |area: &'static str,
               shift: &'static str,
               to: Option<chrono::DateTime<chrono::Utc>>| Assignment {
        device: id(SWEEPER),
        area: id(area),
        shift: id(shift),
        valid_from: t(8, 0, 0),
        valid_to: to,
    };
    assert!(
        e.set_assignments(vec![bad("nope", "shift-day", None)])
            .is_err()
    );
    assert!(
        e.set_assignments(vec![bad("route-1", "nope", None)])
            .is_err()
    );
    assert!(
        e.set_assignments(vec![bad("route-1", "shift-day", Some(t(7, 0, 0)))])
            .is_err()
    );
    // an assignment that has expired no longer makes the device "on shift"
    e.set_assignments(vec![bad("route-1", "shift-day", Some(t(9, 0, 0)))])
        .unwrap();
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(9, 30, 0), 100.0, 0.0).working(true)],
    );
    assert!(opened(AlertKind::OffShiftWork, &out));
}

#[test]
fn late_fixes_feed_coverage_within_the_reorder_window() {
    let mut e = engine();
    let f = |s: i64, x: f64| fix(secs(t(9, 0, 0), s), x, 0.0).working(true).speed(10.0);
    // newest first, then the older ones: coverage still joins them up
    feed(&mut e, SWEEPER, &[f(20, 200.0), f(0, 100.0), f(10, 150.0)]);
    let r = e.coverage(&id("route-1"), &day_key()).unwrap();
    assert!((r.covered_m - 116.0).abs() < 0.01, "{}", r.covered_m);
    // a fix older than the whole window changes nothing (inside the window it
    // would split the 200 -> 300 segment through a point 50 m off the route)
    let fixes: Vec<Fix> = (0..REORDER_WINDOW as i64)
        .map(|i| f(100 + i * 5, 300.0 + i as f64 * 14.0))
        .collect();
    feed(&mut e, SWEEPER, &fixes);
    let mut old = f(30, 220.0);
    old.lat = ll(220.0, 50.0).1;
    feed(&mut e, SWEEPER, &[old]);
    let r2 = e.coverage(&id("route-1"), &day_key()).unwrap();
    let expected = 300.0 + (REORDER_WINDOW as f64 - 1.0) * 14.0 + 8.0 - 92.0;
    assert!(
        (r2.covered_m - expected).abs() < 0.01,
        "{} vs {expected}",
        r2.covered_m
    );
}

#[test]
fn daily_summary_splits_working_transit_and_idle() {
    let mut e = engine();
    let f = |s: i64, x: f64, w: bool| fix(secs(t(9, 0, 0), s), x, 0.0).working(w);
    feed(
        &mut e,
        SWEEPER,
        &[
            f(0, 0.0, true),
            f(36, 100.0, true),
            f(72, 200.0, false),
            f(132, 200.0, false),
        ],
    );
    let s = e.daily_summary(&id(SWEEPER), day_key().local_date).unwrap();
    assert!((s.distance_m - 200.0).abs() < 0.01);
    assert!((s.working_s - 36.0).abs() < 1e-9);
    assert!((s.transit_s - 36.0).abs() < 1e-9);
    assert!((s.idle_s - 60.0).abs() < 1e-9);
    assert!((s.deadhead_ratio - 0.5).abs() < 1e-6);
    assert_eq!(
        e.drop_summaries_before(day_key().local_date.succ_opt().unwrap()),
        1
    );
}

/// Each changed (device, date) summary is reported once per drain, with its
/// value at the drain; a restored one is not reported until it changes; a
/// dropped one is not reported, and reported again once it is built anew.
#[test]
fn changed_summaries_are_reported_once_per_drain() {
    let mut e = engine();
    let date = day_key().local_date;
    let f = |s: i64, x: f64| fix(secs(t(9, 0, 0), s), x, 0.0).working(true);
    feed(&mut e, SWEEPER, &[f(0, 0.0), f(36, 100.0), f(72, 200.0)]);
    let once = e.drain_dirty_summaries();
    assert_eq!(once.len(), 1);
    assert_eq!((once[0].0.as_str(), once[0].1), (SWEEPER, date));
    assert!((once[0].2.distance_m - 200.0).abs() < 0.01);
    assert!(e.drain_dirty_summaries().is_empty());

    let restored = DailySummary {
        distance_m: 5_000.0,
        ..once[0].2
    };
    e.restore_summary(&id(SWEEPER), date, restored);
    assert!(e.drain_dirty_summaries().is_empty());
    assert_eq!(e.daily_summary(&id(SWEEPER), date), Some(restored));
    feed(&mut e, SWEEPER, &[f(108, 300.0)]);
    let next = e.drain_dirty_summaries();
    assert_eq!(next.len(), 1);
    assert!((next[0].2.distance_m - 5_100.0).abs() < 0.01);

    // changed, dropped, built anew, restored over: one report, the newest value
    feed(&mut e, SWEEPER, &[f(144, 400.0)]);
    assert_eq!(e.drop_summaries_before(date.succ_opt().unwrap()), 1);
    assert!(e.daily_summary(&id(SWEEPER), date).is_none());
    feed(&mut e, SWEEPER, &[f(180, 500.0)]);
    e.restore_summary(&id(SWEEPER), date, restored);
    let last = e.drain_dirty_summaries();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].2, restored);
    assert!(e.drain_dirty_summaries().is_empty());
}

#[test]
fn device_snapshot_round_trip_keeps_rule_state() {
    let mut e = engine();
    let mut fixes: Vec<Fix> = (0..=5)
        .map(|i| fix(secs(t(9, 0, 0), i * 60), 300.0, 2.0).working(false))
        .collect();
    feed(&mut e, SWEEPER, &fixes);
    let snap = e.snapshot_device(&id(SWEEPER)).unwrap();
    let json = serde_json::to_string(&snap).unwrap();
    let mut restarted = engine();
    restarted.restore_device(&id(SWEEPER), serde_json::from_str(&json).unwrap());
    fixes = (6..=10)
        .map(|i| fix(secs(t(9, 0, 0), i * 60), 300.0, 2.0).working(false))
        .collect();
    let a = feed(&mut e, SWEEPER, &fixes);
    let b = feed(&mut restarted, SWEEPER, &fixes);
    assert!(opened(AlertKind::Idle, &a));
    assert_eq!(a, b);
}

#[test]
fn areas_load_from_geojson_and_serde_values_round_trip() {
    let fc: geojson::FeatureCollection = serde_json::from_str(
        r#"{"type":"FeatureCollection","features":[
        {"type":"Feature","id":"route-hm-012","geometry":{"type":"LineString","coordinates":[[113.67,22.81],[113.68,22.81]]},
         "properties":{"kind":"route","width_m":8,"passes":2,"district":"humen","grid":"g3","chief":"Li","name":"Humen Rd"}},
        {"type":"Feature","id":"park-1","geometry":{"type":"MultiPolygon","coordinates":[[[[113.67,22.80],[113.671,22.80],[113.671,22.801],[113.67,22.80]]]]},
         "properties":{"kind":"park"}}]}"#,
    )
    .unwrap();
    let areas: Vec<Area> = fc
        .features
        .iter()
        .map(|f| Area::from_geojson_feature(f).unwrap())
        .collect();
    let mut e = Engine::new(EngineConfig::default());
    e.set_areas(areas.clone());
    assert_eq!(e.areas().count(), 2);
    for a in &areas {
        assert_eq!(
            &Area::from_geojson_feature(&a.to_geojson_feature()).unwrap(),
            a
        );
    }
    let f = fix(t(9, 0, 0), 1.0, 2.0);
    let back: Fix = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!((back.ts, back.work), (f.ts, f.work));
    assert!((back.lat - f.lat).abs() < 1e-12 && (back.lon - f.lon).abs() < 1e-12);
    let cfg = EngineConfig::default();
    let back: EngineConfig = serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn memory_report_counts_devices() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &[
            fix(t(9, 0, 0), 0.0, 0.0).working(true).speed(10.0),
            fix(t(9, 0, 5), 14.0, 0.0).working(true).speed(10.0),
        ],
    );
    let m = e.memory_report();
    assert_eq!(m.devices, 3);
    assert_eq!(m.coverage_cells, 1);
    assert!(m.device_state_bytes / m.devices < 2048);
}

#[test]
fn invalid_coordinates_are_ignored_not_trusted() {
    let mut e = engine();
    let mut f = fix(t(9, 0, 0), 0.0, 0.0);
    f.lat = f64::NAN;
    assert!(feed(&mut e, SWEEPER, &[f.clone()]).is_empty());
    f.lat = 91.0;
    assert!(feed(&mut e, SWEEPER, &[f]).is_empty());
    let snap = e.snapshot_device(&id(SWEEPER)).unwrap();
    let json = serde_json::to_value(&snap).unwrap();
    assert!(json["buf"].as_array().unwrap().is_empty());
}
