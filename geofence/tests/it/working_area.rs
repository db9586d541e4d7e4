//! Issue 13's rules: a vehicle's working area is its assigned areas and the
//! ways between them; a cleaner's is her beat, the rest zones and her break
//! trips; working off the assigned areas is its own kind; a condition that
//! recurs soon re-opens its case; a route behind schedule raises
//! `coverage_at_risk` while there is time to act.

use crate::helpers::*;
use chrono::{DateTime, Utc};
use geofence::*;

/// route-1 (y = 0, x 0..1000), route-2 (y = 600, x 0..1000), transfer-1
/// (2000..2100 x 0..100), beat-1 (0..200 x 50..250), rest-1 (500..530 x
/// 100..130). The sweeper works route-1 and route-2; the collector route-1
/// and transfer-1; the worker beat-1. Day shift 08:00-16:00.
fn town() -> Engine {
    let mut e = Engine::new(EngineConfig::default());
    e.set_areas(vec![
        route1(1),
        Area::route(id("route-2"), &[ll(0.0, 600.0), ll(1000.0, 600.0)], 8.0, 1).unwrap(),
        Area::zone(
            id("transfer-1"),
            ZonePurpose::TransferStation,
            square(2000.0, 0.0, 2100.0, 100.0),
        )
        .unwrap(),
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
        asg(SWEEPER, "route-2"),
        asg(COLLECTOR, "route-1"),
        asg(COLLECTOR, "transfer-1"),
        asg(WORKER, "beat-1"),
    ])
    .unwrap();
    e
}

fn kinds_opened(out: &[AlertTransition]) -> Vec<AlertKind> {
    out.iter()
        .filter(|t| t.change == Change::Open)
        .map(|t| t.kind)
        .collect()
}

#[test]
fn transit_between_assigned_routes_with_the_broom_up_raises_nothing() {
    let mut e = town();
    let mut s = script();
    s.path(
        SWEEPER,
        t(8, 5, 0),
        &[(100.0, 0.0), (900.0, 0.0)],
        600,
        5,
        None,
    );
    // Broom up, 600 m across to route-2 by a dog-leg street, 12 minutes.
    s.path(
        SWEEPER,
        t(8, 15, 5),
        &[(900.0, 0.0), (1100.0, 300.0), (900.0, 600.0)],
        360,
        5,
        false,
    );
    s.path(
        SWEEPER,
        t(8, 27, 10),
        &[(900.0, 600.0), (100.0, 600.0)],
        600,
        5,
        None,
    );
    let out = feed_script(&mut e, &s);
    assert!(kinds_opened(&out).is_empty(), "{out:?}");
}

#[test]
fn a_collectors_trip_to_its_transfer_station_and_the_wait_there_raise_nothing() {
    let mut e = town();
    let mut s = script();
    s.path(
        COLLECTOR,
        t(9, 0, 0),
        &[(100.0, 0.0), (900.0, 0.0)],
        300,
        5,
        None,
    );
    // 1.1 km to the transfer station, 6 minutes; tipping, 15 minutes; and back.
    s.path(
        COLLECTOR,
        t(9, 5, 5),
        &[(900.0, 0.0), (2050.0, 50.0)],
        360,
        5,
        None,
    );
    s.path(
        COLLECTOR,
        t(9, 11, 10),
        &[(2050.0, 50.0), (2052.0, 51.0)],
        900,
        10,
        true,
    );
    s.path(
        COLLECTOR,
        t(9, 26, 20),
        &[(2052.0, 51.0), (500.0, 0.0)],
        420,
        5,
        None,
    );
    let out = feed_script(&mut e, &s);
    assert!(kinds_opened(&out).is_empty(), "{out:?}");
}

#[test]
fn a_truck_taken_away_is_off_area_once() {
    let mut e = town();
    let mut s = script();
    s.path(
        SWEEPER,
        t(10, 0, 0),
        &[(100.0, 0.0), (500.0, 0.0)],
        120,
        5,
        false,
    );
    // Off to the north-west, 1.5 km from everything it is assigned, parked
    // there 12 minutes: one case (off_area), not also an idle one.
    s.path(
        SWEEPER,
        t(10, 2, 5),
        &[(500.0, 0.0), (-1200.0, 900.0)],
        240,
        5,
        false,
    );
    s.path(
        SWEEPER,
        t(10, 6, 10),
        &[(-1200.0, 900.0), (-1201.0, 901.0)],
        720,
        5,
        false,
    );
    s.path(
        SWEEPER,
        t(10, 18, 15),
        &[(-1201.0, 901.0), (500.0, 0.0)],
        240,
        5,
        false,
    );
    let out = feed_script(&mut e, &s);
    let opens = of(AlertKind::OffArea, &out)
        .into_iter()
        .filter(|t| t.change == Change::Open)
        .count();
    assert_eq!(opens, 1, "{out:?}");
    assert!(
        cleared(AlertKind::OffArea, &out),
        "back on route-1 clears it"
    );
    assert_eq!(kinds_opened(&out), vec![AlertKind::OffArea]);
}

#[test]
fn a_cleaners_break_at_a_service_station_raises_nothing() {
    let mut e = town();
    let mut s = script();
    s.path(
        WORKER,
        t(9, 0, 0),
        &[(100.0, 100.0), (150.0, 200.0)],
        600,
        10,
        None,
    );
    // Walk 300 m to rest-1 (5 min), rest 20 min off duty, walk back.
    s.path(
        WORKER,
        t(9, 10, 10),
        &[(150.0, 200.0), (515.0, 115.0)],
        300,
        10,
        None,
    );
    s.path(
        WORKER,
        t(9, 15, 20),
        &[(515.0, 115.0), (516.0, 116.0)],
        1200,
        10,
        false,
    );
    s.path(
        WORKER,
        t(9, 35, 30),
        &[(516.0, 116.0), (100.0, 100.0)],
        360,
        10,
        None,
    );
    let out = feed_script(&mut e, &s);
    assert!(kinds_opened(&out).is_empty(), "{out:?}");
}

#[test]
fn a_cleaner_leaving_her_beat_elsewhere_is_off_area_once() {
    let mut e = town();
    let mut s = script();
    s.path(
        WORKER,
        t(9, 0, 0),
        &[(100.0, 100.0), (100.0, 200.0)],
        300,
        10,
        None,
    );
    // 120 m north of her beat, away from any rest zone, for 6 minutes.
    s.path(
        WORKER,
        t(9, 5, 10),
        &[(100.0, 200.0), (60.0, 370.0)],
        150,
        10,
        None,
    );
    s.path(
        WORKER,
        t(9, 7, 50),
        &[(60.0, 370.0), (70.0, 372.0)],
        360,
        10,
        None,
    );
    s.path(
        WORKER,
        t(9, 13, 50),
        &[(70.0, 372.0), (100.0, 150.0)],
        150,
        10,
        None,
    );
    let out = feed_script(&mut e, &s);
    assert_eq!(kinds_opened(&out), vec![AlertKind::OffArea], "{out:?}");
}

#[test]
fn a_cleaner_on_her_beats_edge_with_gps_noise_raises_nothing() {
    let mut e = town();
    let mut s = script();
    // Along the east edge (x = 200), wandering 8 m either side for 40 minutes.
    for i in 0..240 {
        let x = 200.0 + [-8.0, 8.0, 3.0, -4.0, 7.5, -1.0][i % 6];
        let y = 60.0 + (i % 40) as f64 * 4.5;
        s.fix(WORKER, secs(t(11, 0, 0), i as i64 * 10), (x, y), None, None);
    }
    let out = feed_script(&mut e, &s);
    assert!(kinds_opened(&out).is_empty(), "{out:?}");
}

#[test]
fn working_off_the_assigned_routes_is_its_own_kind() {
    let mut e = town();
    let mut s = script();
    s.path(
        SWEEPER,
        t(9, 0, 0),
        &[(100.0, 0.0), (300.0, 0.0)],
        120,
        5,
        true,
    );
    // Broom down on a street 150 m north of route-1, not assigned: 5 minutes.
    s.path(
        SWEEPER,
        t(9, 2, 5),
        &[(300.0, 150.0), (700.0, 150.0)],
        300,
        5,
        true,
    );
    s.path(
        SWEEPER,
        t(9, 7, 10),
        &[(700.0, 0.0), (900.0, 0.0)],
        120,
        5,
        true,
    );
    let out = feed_script(&mut e, &s);
    assert_eq!(kinds_opened(&out), vec![AlertKind::WorkOffRoute], "{out:?}");
    let open = of(AlertKind::WorkOffRoute, &out)[0];
    assert_eq!(open.at, secs(t(9, 2, 5), 60), "opens after 60 s");
    assert!(cleared(AlertKind::WorkOffRoute, &out));
}

#[test]
fn a_cleaners_work_flag_never_raises_work_off_route() {
    let mut e = town();
    let mut s = script();
    s.path(
        WORKER,
        t(9, 0, 0),
        &[(100.0, 100.0), (515.0, 115.0)],
        600,
        10,
        true,
    );
    let out = feed_script(&mut e, &s);
    assert!(!opened(AlertKind::WorkOffRoute, &out), "{out:?}");
}

#[test]
fn a_condition_recurring_within_the_window_is_a_recurrence_and_later_a_new_case() {
    // The second open comes 3 minutes after the device left again: at 8, 14
    // and 16 minutes after the clear; the window is 15 minutes.
    for (gap_min, recurs) in [(5, true), (11, true), (13, false)] {
        let mut e = town();
        let far = (-1500.0, 900.0);
        let mut s = script();
        s.fix(SWEEPER, t(10, 0, 0), (100.0, 0.0), None, false);
        s.path(SWEEPER, t(10, 0, 5), &[far, far], 240, 5, false); // off_area opens
        s.fix(SWEEPER, t(10, 5, 0), (100.0, 0.0), None, false); // clears
        let back = t(10, 5, 0) + chrono::Duration::minutes(gap_min);
        s.fix(
            SWEEPER,
            back - chrono::Duration::seconds(5),
            (100.0, 0.0),
            None,
            false,
        );
        s.path(SWEEPER, back, &[far, far], 240, 5, false); // opens again
        let out = feed_script(&mut e, &s);
        let opens: Vec<&AlertTransition> = of(AlertKind::OffArea, &out)
            .into_iter()
            .filter(|t| t.change == Change::Open)
            .collect();
        assert_eq!(opens.len(), 2, "gap {gap_min} min: {out:?}");
        assert!(!opens[0].recurrence);
        assert_eq!(opens[1].recurrence, recurs, "gap {gap_min} min");
        let mut cases = Cases::default();
        out.iter()
            .filter(|t| t.kind == AlertKind::OffArea)
            .for_each(|t| cases.apply(t));
        assert_eq!(
            cases.cases.len(),
            if recurs { 1 } else { 2 },
            "{:?}",
            cases.cases
        );
        if recurs {
            assert_eq!(cases.cases[0].reopened, 1);
        }
    }
}

fn route_alerts(e: &mut Engine, at: DateTime<Utc>) -> Vec<RouteAlert> {
    e.tick(at);
    e.drain_route_alerts()
}

#[test]
fn an_unswept_route_raises_coverage_at_risk_once_an_hour_before_the_end() {
    let mut e = town();
    // route-1 swept in full; route-2 never.
    let mut s = script();
    s.path(
        SWEEPER,
        t(8, 30, 0),
        &[(0.0, 0.0), (1000.0, 0.0)],
        600,
        5,
        true,
    );
    feed_script(&mut e, &s);
    assert!(route_alerts(&mut e, t(14, 59, 59)).is_empty());
    let raised = route_alerts(&mut e, t(15, 0, 0));
    assert_eq!(raised.len(), 1, "{raised:?}");
    let r = &raised[0];
    assert_eq!(
        (r.route.as_str(), r.kind, r.change, r.at),
        (
            "route-2",
            AlertKind::CoverageAtRisk,
            Change::Open,
            t(15, 0, 0)
        )
    );
    assert_eq!(r.shift_instance.key(), day_key());
    assert_eq!(r.fraction, 0.0);
    // Its 0 % is recorded, so the coverage view can show the whole route missed.
    let cov = e
        .coverage(&id("route-2"), &day_key())
        .expect("an empty coverage");
    assert_eq!(cov.covered_m, 0.0);
    assert!(
        e.drain_dirty_coverage()
            .contains(&(id("route-2"), day_key()))
    );
    assert!(route_alerts(&mut e, t(15, 30, 0)).is_empty(), "raised once");
    // The shift ends unswept: cleared at the end, never raised again.
    let end = route_alerts(&mut e, t(16, 0, 1));
    assert_eq!(end.len(), 1);
    assert_eq!((end[0].change, end[0].at), (Change::Clear, t(16, 0, 0)));
    assert!(route_alerts(&mut e, t(16, 5, 0)).is_empty());
}

#[test]
fn a_second_sweeper_in_time_clears_coverage_at_risk() {
    let mut e = town();
    let sweep = |from: DateTime<Utc>, y: f64| -> Script {
        let mut s = script();
        s.path(SWEEPER, from, &[(0.0, y), (1000.0, y)], 600, 5, true);
        s
    };
    feed_script(&mut e, &sweep(t(8, 30, 0), 0.0));
    assert_eq!(route_alerts(&mut e, t(15, 0, 0)).len(), 1);
    // Sent while there is time: route-2 swept between 15:10 and 15:20.
    feed_script(&mut e, &sweep(t(15, 10, 0), 600.0));
    let cleared = route_alerts(&mut e, t(15, 20, 30));
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_eq!(cleared[0].change, Change::Clear);
    assert!(cleared[0].fraction >= 0.9);
    assert!(route_alerts(&mut e, t(16, 0, 1)).is_empty());
}

#[test]
fn routes_only_collectors_work_never_raise_coverage_at_risk() {
    let mut e = town();
    e.set_assignments(vec![Assignment {
        device: id(COLLECTOR),
        area: id("route-1"),
        shift: id("shift-day"),
        valid_from: t(0, 0, 0) - chrono::Duration::days(30),
        valid_to: None,
    }])
    .unwrap();
    assert!(route_alerts(&mut e, t(15, 30, 0)).is_empty());
}

#[test]
fn a_device_dark_from_the_shift_start_is_a_late_start_not_also_offline() {
    let mut e = town();
    let out: Vec<AlertTransition> = (0..=20)
        .flat_map(|m| tick_for(&mut e, SWEEPER, t(8, m, 0)))
        .collect();
    assert_eq!(kinds_opened(&out), vec![AlertKind::LateStart], "{out:?}");
    // Once it has reported in this shift, silence is offline again.
    feed(&mut e, SWEEPER, &[fix(t(8, 21, 0), 100.0, 0.0)]);
    let out = tick_for(&mut e, SWEEPER, t(8, 31, 0));
    assert_eq!(kinds_opened(&out), vec![AlertKind::Offline], "{out:?}");
}
