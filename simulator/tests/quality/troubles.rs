//! Each trouble the simulator plants raises exactly one case of its kind, on time,
//! and nothing else: one behaviour on (plus GPS noise where it matters), a device or
//! two, a short window from the start of the day sweep.

use std::time::Duration;

use geofence::AlertKind;
use simulator::scenario::{Behaviours, Clock};

use crate::common::*;

/// One behaviour with GPS noise.
fn with_noise(name: &str) -> Behaviours {
    let mut b = Behaviours::only(name).expect("a behaviour");
    b.noise.enabled = true;
    b
}

/// The run planted exactly `n` troubles, all of `kind` by `behaviour`, and the engine
/// raised one case for each, on time, and nothing else.
fn assert_cases(c: &Checked, kind: AlertKind, behaviour: &str, n: usize) {
    let t = &c.plan.truth.troubles;
    assert_eq!(t.len(), n, "planted {t:#?}\n{}", c.why());
    assert!(
        t.iter()
            .all(|p| p.kind == Some(kind) && p.behaviour.contains(behaviour)),
        "planted {t:#?}"
    );
    let s = &c.score.total;
    assert_eq!(
        (s.hits, s.false_alerts, s.missed),
        (n, 0, 0),
        "\n{}",
        c.why()
    );
}

#[test]
fn a_driver_taking_a_sweeper_away_raises_one_off_area() {
    let c = check(&run(ids(&["sw-001"]), with_noise("take_away"), 40));
    assert_cases(&c, AlertKind::OffArea, "take_away", 1);
}

#[test]
fn a_driver_taking_a_collector_away_from_its_routes_and_stations_raises_one_off_area() {
    let c = check(&run(ids(&["co-004"]), with_noise("take_away"), 40));
    assert_cases(&c, AlertKind::OffArea, "take_away", 1);
}

#[test]
fn a_sweeper_working_a_street_beside_its_route_raises_one_work_off_route_and_no_off_area() {
    let c = check(&run(ids(&["sw-002"]), with_noise("off_route"), 20));
    assert_cases(&c, AlertKind::WorkOffRoute, "off_route", 1);
}

#[test]
fn a_sweeper_working_too_fast_raises_one_speeding_at_work() {
    let c = check(&run(ids(&["sw-001"]), with_noise("speeding"), 20));
    assert_cases(&c, AlertKind::SpeedingAtWork, "speeding", 1);
}

#[test]
fn a_collector_working_too_fast_raises_one_speeding_at_work() {
    let c = check(&run(ids(&["co-001"]), with_noise("speeding"), 20));
    assert_cases(&c, AlertKind::SpeedingAtWork, "speeding", 1);
}

#[test]
fn a_night_washer_working_in_the_day_raises_one_off_shift_work() {
    let c = check(&run(ids(&["wa-001"]), with_noise("off_shift"), 20));
    assert_cases(&c, AlertKind::OffShiftWork, "off_shift", 1);
}

#[test]
fn a_vehicle_arriving_twenty_minutes_late_raises_one_late_start_and_no_offline_or_off_area() {
    let c = check(&run(ids(&["sw-003"]), with_noise("late_start"), 30));
    assert_cases(&c, AlertKind::LateStart, "late_start", 1);
}

/// A terminal powered with the ignition reports nothing until the truck is driven:
/// arriving late with it is one problem, a late start, not an offline device too.
#[test]
fn a_vehicle_reporting_nothing_until_it_arrives_late_raises_one_late_start_and_no_offline() {
    let mut b = with_noise("late_start");
    b.late_start.dark = true;
    // A second vehicle keeps the replay's clock going.
    let c = check(&run(ids(&["sw-003", "co-001"]), b, 30));
    assert_cases(&c, AlertKind::LateStart, "late_start", 1);
}

#[test]
fn a_silent_collector_raises_one_offline() {
    // A replay runs on event time: some other device's fixes move the clock on.
    let c = check(&run(ids(&["co-002", "co-003"]), with_noise("silent"), 20));
    assert_cases(&c, AlertKind::Offline, "silent", 1);
}

#[test]
fn a_vehicle_standing_still_twelve_minutes_raises_one_idle() {
    let mut b = with_noise("idle");
    b.idle.worker = Duration::ZERO;
    let c = check(&run(ids(&["sw-004"]), b, 20));
    assert_cases(&c, AlertKind::Idle, "idle", 1);
}

#[test]
fn a_cleaner_standing_still_twenty_five_minutes_without_gps_noise_raises_one_idle() {
    let c = check(&run(
        ids(&["wk-010"]),
        Behaviours::only("idle").unwrap(),
        30,
    ));
    assert_cases(&c, AlertKind::Idle, "idle", 1);
}

/// A welfare check must come on time whatever the GPS does: a uniform reports
/// about 8 m accuracy, and a single noisy fix must not restart the dwell.
#[test]
fn a_cleaner_standing_still_raises_one_idle_on_time_whatever_the_gps_noise() {
    let mut failures = Vec::new();
    for seed in 1..=6 {
        let mut o = run(ids(&["wk-200"]), with_noise("idle"), 30);
        o.seed = seed;
        let c = check(&o);
        let s = &c.score.total;
        if (s.hits, s.false_alerts, s.missed) != (1, 0, 0) {
            failures.push(format!("seed {seed}:\n{}", c.score));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_cleaner_walking_a_hundred_metres_out_of_her_beat_raises_one_off_area() {
    let c = check(&run(ids(&["wk-005"]), with_noise("leave_area"), 30));
    assert_cases(&c, AlertKind::OffArea, "leave_area", 1);
}

#[test]
fn a_cleaner_pressing_sos_raises_one_sos() {
    let c = check(&run(ids(&["wk-003"]), with_noise("sos"), 10));
    assert_cases(&c, AlertKind::Sos, "sos", 1);
}

/// The town with a day sweep of two and a half hours: a route left unswept is at
/// risk an hour before the end (07:30).
fn short_day() -> geofence::scenario::ScenarioFile {
    let mut file = humen();
    let day = file
        .shifts
        .iter_mut()
        .find(|s| s.id == "day-sweep")
        .expect("the day sweep");
    day.weekly[0].end = chrono::NaiveTime::from_hms_opt(8, 30, 0).unwrap();
    file
}

#[test]
fn a_route_left_unswept_raises_one_coverage_at_risk_an_hour_before_the_end() {
    let file = short_day();
    let c = check_with(&file, &run(ids(&["sw-001"]), with_noise("skip_route"), 95));
    assert_cases(&c, AlertKind::CoverageAtRisk, "skip_route", 1);
    assert_eq!(
        c.plan.truth.troubles[0].route.as_deref(),
        Some("route-002"),
        "sw-001 skips its last route"
    );
}

#[test]
fn a_sweeper_going_silent_raises_offline_and_its_unswept_routes_are_at_risk() {
    let file = short_day();
    let mut b = with_noise("silent");
    b.silent.at = Duration::from_secs(60);
    // A collector keeps the clock going; the seed picks who goes silent: the sweeper.
    let c = (1..=20)
        .map(|seed| {
            let mut o = run(ids(&["sw-001", "co-001"]), b.clone(), 95);
            o.seed = seed;
            check_with(&file, &o)
        })
        .find(|c| {
            c.plan.truth.troubles.iter().any(|p| {
                p.kind == Some(AlertKind::Offline) && p.device.as_deref() == Some("sw-001")
            })
        })
        .expect("a seed that silences the sweeper");
    let kinds: Vec<Option<AlertKind>> = c.plan.truth.troubles.iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(AlertKind::CoverageAtRisk),
            Some(AlertKind::CoverageAtRisk),
            Some(AlertKind::Offline)
        ],
        "\n{}",
        c.why()
    );
    let s = &c.score.total;
    assert_eq!(
        (s.hits, s.false_alerts, s.missed),
        (3, 0, 0),
        "\n{}",
        c.why()
    );
}

#[test]
fn a_replay_at_another_speed_plants_the_same_truth() {
    let mut a = run(ids(&["sw-001", "wk-003"]), Behaviours::default(), 20);
    let mut b = a.clone();
    a.clock = Clock::Replay {
        start: day_start(),
        speed: 60.0,
    };
    b.clock = Clock::Replay {
        start: day_start(),
        speed: 1200.0,
    };
    let (pa, pb) = (check(&a).plan, check(&b).plan);
    assert_eq!(pa.truth, pb.truth);
    assert!(!pa.truth.troubles.is_empty());
}
