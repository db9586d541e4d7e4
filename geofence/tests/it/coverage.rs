//! Coverage through the engine: corridor edges, speed band, gaps, passes,
//! justified stretches, last served, dirty sets and snapshots.

use crate::helpers::*;
use geofence::*;

/// A working drive along y from x0 to x1 at `kmh`, a fix every `step_s` seconds.
fn drive(
    start: chrono::DateTime<chrono::Utc>,
    x0: f64,
    x1: f64,
    y: f64,
    kmh: f64,
    step_s: i64,
) -> Vec<Fix> {
    let v = kmh / 3.6 * (x1 - x0).signum();
    let n = ((x1 - x0).abs() / (kmh / 3.6) / step_s as f64).ceil() as i64;
    (0..=n)
        .map(|i| {
            let x = if i == n {
                x1
            } else {
                x0 + v * (i * step_s) as f64
            };
            fix(secs(start, i * step_s), x, y).working(true).speed(kmh)
        })
        .collect()
}

fn report(e: &Engine) -> Option<CoverageReport> {
    e.coverage(&id("route-1"), &day_key())
}

#[test]
fn a_full_drive_covers_the_route() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), -20.0, 1020.0, 2.0, 10.0, 5),
    );
    let r = report(&e).unwrap();
    assert!((r.total_m - 1000.0).abs() < 0.01, "{}", r.total_m);
    assert!(r.covered_fraction > 0.999, "{}", r.covered_fraction);
    assert!(r.missed.is_empty());
    assert_eq!(r.passes.len(), 1, "{:?}", r.passes);
    assert_eq!(r.passes[0].passes, 1);
}

#[test]
fn half_a_drive_leaves_a_missed_stretch_with_geometry() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5),
    );
    let r = report(&e).unwrap();
    // the round cap at the last fix reaches 8 m further
    assert!((r.covered_m - 508.0).abs() < 0.01, "{}", r.covered_m);
    assert_eq!(r.missed.len(), 1);
    assert!((r.missed[0].from_m - 508.0).abs() < 0.01 && (r.missed[0].to_m - 1000.0).abs() < 0.01);
    match &r.missed[0].geometry.value {
        geojson::GeometryValue::LineString { coordinates } => assert_eq!(coordinates.len(), 2),
        other => panic!("{other:?}"),
    }
    assert!(!r.last_served.is_empty());
    assert!(r.last_served.iter().all(|s| s.to_m <= 508.01));
}

#[test]
fn a_pass_exactly_on_the_corridor_edge_counts_and_just_outside_does_not() {
    for (y, expect) in [(8.0, 200.0), (-8.0, 200.0), (8.5, 0.0)] {
        let mut e = engine();
        feed(
            &mut e,
            SWEEPER,
            &drive(t(9, 0, 0), 100.0, 300.0, y, 10.0, 5),
        );
        let covered = report(&e).map_or(0.0, |r| r.covered_m);
        assert!((covered - expect).abs() < 0.01, "y {y}: {covered}");
    }
}

#[test]
fn only_working_passes_in_the_speed_band_within_gap_limits_count() {
    let covered = |dev: &str, fixes: Vec<Fix>| {
        let mut e = engine();
        feed(&mut e, dev, &fixes);
        report(&e).map_or(0.0, |r| r.covered_m)
    };
    // a sweeper at 30 km/h sweeps nothing
    assert_eq!(
        covered(SWEEPER, drive(t(9, 0, 0), 0.0, 500.0, 0.0, 30.0, 5)),
        0.0
    );
    // broom up sweeps nothing
    let up: Vec<Fix> = drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5)
        .into_iter()
        .map(|f| f.working(false))
        .collect();
    assert_eq!(covered(SWEEPER, up), 0.0);
    // a device without a work sensor counts while moving in the band
    let mut nosensor = drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5);
    nosensor.iter_mut().for_each(|f| f.work = None);
    assert!(covered("humen/unknown-7", nosensor) > 500.0);
    // fixes 200 s apart are not interpolated (gap limit 120 s)
    assert_eq!(
        covered(SWEEPER, drive(t(9, 0, 0), 0.0, 1000.0, 0.0, 2.0, 200)),
        0.0
    );
    // outside the shift nothing is counted
    assert_eq!(
        covered(SWEEPER, drive(t(17, 0, 0), 0.0, 500.0, 0.0, 10.0, 5)),
        0.0
    );
}

#[test]
fn pass_counts_for_routes_needing_two_passes() {
    let mut e = engine_with(2);
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), -20.0, 1020.0, 2.0, 10.0, 5),
    );
    let r = report(&e).unwrap();
    assert_eq!(r.missed.len(), 1, "one pass of two is not complete");
    assert!(r.complete_m < 1.0);
    feed(
        &mut e,
        SWEEPER,
        &drive(t(10, 0, 0), 1020.0, -20.0, -2.0, 10.0, 5),
    );
    let r = report(&e).unwrap();
    assert!(r.missed.is_empty(), "{:?}", r.missed);
    assert!((r.complete_m - 1000.0).abs() < 0.01);
    assert!(r.passes.iter().all(|p| p.passes == 2), "{:?}", r.passes);
}

#[test]
fn justified_stretches_are_reported_apart() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5),
    );
    e.justify(&id("route-1"), &day_key(), 600.0, 800.0, "parked cars")
        .unwrap();
    let r = report(&e).unwrap();
    let missed: Vec<(f64, f64)> = r
        .missed
        .iter()
        .map(|m| (m.from_m.round(), m.to_m.round()))
        .collect();
    assert_eq!(missed, vec![(508.0, 600.0), (800.0, 1000.0)]);
    assert_eq!(r.justified.len(), 1);
    assert_eq!(r.justified[0].note, "parked cars");
    assert!(
        e.justify(&id("route-1"), &day_key(), 800.0, 700.0, "x")
            .is_err()
    );
    assert!(
        e.justify(&id("beat-1"), &day_key(), 0.0, 10.0, "x")
            .is_err()
    );
}

#[test]
fn dirty_sets_snapshots_and_dropping_closed_instances() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5),
    );
    assert_eq!(e.drain_dirty_coverage(), vec![(id("route-1"), day_key())]);
    assert!(e.drain_dirty_coverage().is_empty());
    let summaries = e.drain_dirty_summaries();
    assert_eq!(summaries.len(), 1);
    let s = summaries[0].2;
    assert!(
        (s.distance_m - 500.0).abs() < 1.0 && s.working_s > 170.0 && s.deadhead_ratio < 1e-9,
        "{s:?}"
    );

    let snap = e.coverage_snapshot(&id("route-1"), &day_key()).unwrap();
    let json = serde_json::to_string(&snap).unwrap();
    let mut fresh = engine();
    fresh
        .restore_coverage(serde_json::from_str(&json).unwrap())
        .unwrap();
    assert!((report(&fresh).unwrap().covered_m - report(&e).unwrap().covered_m).abs() < 1e-9);

    assert_eq!(e.drop_coverage_ended_before(t(15, 0, 0)), 0);
    assert_eq!(e.drop_coverage_ended_before(t(17, 0, 0)), 1);
    assert!(report(&e).is_none());
    // Final: a late pass of that instance starts no new (empty) cell that
    // would overwrite the stored coverage, and an old snapshot is not restored.
    feed(
        &mut e,
        SWEEPER,
        &drive(t(10, 0, 0), 500.0, 900.0, 0.0, 10.0, 5),
    );
    assert!(report(&e).is_none());
    assert!(e.drain_dirty_coverage().is_empty());
    e.restore_coverage(serde_json::from_str(&json).unwrap())
        .unwrap();
    assert!(report(&e).is_none());
}

#[test]
fn a_cell_not_yet_reported_is_not_dropped() {
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), 0.0, 500.0, 0.0, 10.0, 5),
    );
    assert_eq!(e.drop_coverage_ended_before(t(23, 0, 0)), 0);
    assert!(report(&e).is_some());
    assert_eq!(e.drain_dirty_coverage().len(), 1);
    assert_eq!(e.drop_coverage_ended_before(t(23, 0, 0)), 1);
}

/// A street cleaner walking up the route, across it, and a collector driving it
/// with its lift running: none of them sweeps the street.
#[test]
fn only_kinds_that_sweep_routes_cover_them() {
    let walk = |x0: f64, x1: f64, y0: f64, y1: f64| -> Vec<Fix> {
        (0..=20)
            .map(|i| {
                let f = f64::from(i) / 20.0;
                fix(
                    secs(t(9, 0, 0), i64::from(i) * 10),
                    x0 + f * (x1 - x0),
                    y0 + f * (y1 - y0),
                )
                .working(true)
                .speed(3.6)
            })
            .collect()
    };
    let mut e = engine();
    feed(&mut e, WORKER, &walk(100.0, 300.0, 1.0, 1.0));
    feed(&mut e, WORKER, &walk(400.0, 400.0, -100.0, 100.0));
    feed(
        &mut e,
        COLLECTOR,
        &drive(t(10, 0, 0), 500.0, 900.0, 0.0, 10.0, 5),
    );
    assert_eq!(report(&e).map_or(0.0, |r| r.covered_m), 0.0);

    // A pedestrian street swept by hand: the route says so.
    let mut rules = RuleConfig::default();
    rules.areas.insert(
        id("route-1"),
        RuleOverride {
            sweeps_routes: Some(true),
            ..Default::default()
        },
    );
    let mut e = engine();
    e.set_rules(rules);
    feed(&mut e, WORKER, &walk(100.0, 300.0, 1.0, 1.0));
    let r = report(&e).unwrap();
    // 200 m walked 1 m off the centre line, plus the round caps (8 m half-width).
    let expect = 200.0 + 2.0 * 63f64.sqrt();
    assert!((r.covered_m - expect).abs() < 0.01, "{}", r.covered_m);

    // And a sweeper still does, with the kind defaults.
    let mut e = engine();
    feed(
        &mut e,
        SWEEPER,
        &drive(t(9, 0, 0), 100.0, 300.0, 0.0, 10.0, 5),
    );
    assert!((report(&e).unwrap().covered_m - 216.0).abs() < 0.01);
}
