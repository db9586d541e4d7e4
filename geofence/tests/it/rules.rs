//! Table-driven rule tests, at and around each threshold, in event time.

use crate::helpers::*;
use geofence::*;

/// Fixes every `step` seconds from `from` to `to` (inclusive) at one place.
fn hold(
    start: chrono::DateTime<chrono::Utc>,
    from: i64,
    to: i64,
    step: i64,
    x: f64,
    y: f64,
) -> Vec<Fix> {
    let mut v: Vec<Fix> = (0..)
        .map(|i| from + i * step)
        .take_while(|s| *s < to)
        .map(|s| fix(secs(start, s), x, y))
        .collect();
    v.push(fix(secs(start, to), x, y));
    v
}

/// A vehicle's working area reaches `off_area_distance_m` (200 m) beyond its
/// assigned areas; further away, `off_area` opens after `off_area_after_s` (3 min).
/// route-1 runs along y = 0 with an 8 m corridor: y = 400 is 392 m beyond it.
#[test]
fn off_area_opens_after_three_minutes_beyond_the_working_area() {
    // (seconds outside, expect open)
    for (dur, expect) in [
        (0, false),
        (120, false),
        (179, false),
        (180, true),
        (181, true),
        (600, true),
    ] {
        let mut e = engine();
        let mut fixes = vec![fix(t(8, 5, 0), 100.0, 0.0).working(false)];
        fixes.extend(hold(t(8, 10, 0), 0, dur, 30, 100.0, 400.0));
        let out = feed(&mut e, SWEEPER, &fixes);
        assert_eq!(opened(AlertKind::OffArea, &out), expect, "outside {dur} s");
        if expect {
            let open = of(AlertKind::OffArea, &out)[0];
            assert_eq!(open.area.as_ref().unwrap().as_str(), "route-1");
            assert_eq!(open.shift_instance.as_ref().unwrap().key(), day_key());
            // back inside clears
            let back = feed(
                &mut e,
                SWEEPER,
                &[fix(secs(t(8, 10, 0), dur + 5), 100.0, 3.0)],
            );
            assert!(cleared(AlertKind::OffArea, &back));
        }
    }
}

/// Closer than `off_area_distance_m` (a detour round a blocked street, a
/// vehicle parked beside its route), `off_area` waits for the transit limit:
/// 30 minutes outside every assigned area.
#[test]
fn off_area_near_the_area_waits_for_the_transit_limit() {
    for (dur, expect) in [(600, false), (1799, false), (1800, true)] {
        let mut e = engine();
        let mut fixes = vec![fix(t(8, 5, 0), 100.0, 0.0)];
        fixes.extend(hold(t(8, 10, 0), 0, dur, 30, 100.0, 150.0));
        let out = feed(&mut e, SWEEPER, &fixes);
        assert_eq!(opened(AlertKind::OffArea, &out), expect, "outside {dur} s");
    }
}

/// Before a vehicle first reached its area in the instance, being away is a
/// `late_start`, not also an `off_area`.
#[test]
fn off_area_waits_until_the_vehicle_has_arrived() {
    let mut e = engine();
    let fixes = hold(t(8, 0, 0), 0, 3600, 30, 100.0, 2000.0);
    let out = feed(&mut e, SWEEPER, &fixes);
    assert!(!opened(AlertKind::OffArea, &out), "{out:?}");
    assert!(opened(AlertKind::LateStart, &out));
}

/// The area margin (GPS tolerance) at a corridor's edge, with no distance
/// allowance (`off_area_distance_m = 0`, as for street cleaners).
#[test]
fn off_area_margin_and_corridor_edge() {
    // corridor half-width 8 m + sweeper area margin 15 m = 23 m
    for (y, expect_open) in [
        (8.0, false),
        (22.9, false),
        (23.0, false),
        (23.5, true),
        (40.0, true),
    ] {
        let mut e = engine();
        e.set_rules(RuleConfig {
            devices: [(
                id(SWEEPER),
                RuleOverride {
                    off_area_distance_m: Some(0.0),
                    ..Default::default()
                },
            )]
            .into(),
            ..Default::default()
        });
        let mut fixes = vec![fix(t(8, 9, 0), 300.0, 0.0)];
        fixes.extend(hold(t(8, 10, 0), 0, 240, 30, 300.0, y));
        let out = feed(&mut e, SWEEPER, &fixes);
        assert_eq!(opened(AlertKind::OffArea, &out), expect_open, "y = {y}");
    }
}

#[test]
fn gps_jitter_at_a_boundary_raises_nothing() {
    let mut e = engine();
    // Sweeping north along the beat's east edge (x = 200) for 30 min, the fixes
    // alternating 2 m inside / 2 m outside it.
    let fixes: Vec<Fix> = (0..90)
        .map(|i| {
            let x = if i % 2 == 0 { 198.0 } else { 202.0 } + (i % 3) as f64;
            fix(secs(t(9, 0, 0), i * 20), x, 60.0 + i as f64 * 2.0).working(true)
        })
        .collect();
    let out = feed(&mut e, WORKER, &fixes);
    assert!(!opened(AlertKind::OffArea, &out), "{out:?}");
    assert!(!opened(AlertKind::Idle, &out));
}

#[test]
fn idle_thresholds_per_kind() {
    // (device, dwell seconds, expect)
    for (dev, dwell, expect) in [
        (SWEEPER, 590, false),
        (SWEEPER, 599, false),
        (SWEEPER, 600, true),
        (WORKER, 1199, false),
        (WORKER, 1200, true),
    ] {
        let mut e = engine();
        let (x, y) = if dev == WORKER {
            (100.0, 100.0)
        } else {
            (300.0, 2.0)
        };
        let fixes: Vec<Fix> = hold(t(9, 0, 0), 0, dwell, 60, x, y)
            .into_iter()
            .map(|f| f.working(false))
            .collect();
        let out = feed(&mut e, dev, &fixes);
        assert_eq!(opened(AlertKind::Idle, &out), expect, "{dev} {dwell}");
        if expect && dev == WORKER {
            assert!(
                of(AlertKind::Idle, &out)[0]
                    .message
                    .contains("Welfare check")
            );
        }
    }
}

#[test]
fn idle_jitter_within_radius_still_counts_and_moving_clears() {
    let mut e = engine();
    let fixes: Vec<Fix> = (0..=10)
        .map(|i| fix(secs(t(9, 0, 0), i * 60), 300.0 + (i % 2) as f64 * 15.0, 1.0).working(false))
        .collect();
    let out = feed(&mut e, SWEEPER, &fixes);
    assert!(opened(AlertKind::Idle, &out));
    // One fix beyond the 20 m radius may be GPS noise: still idle.
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(9, 10, 30), 330.0, 1.0).working(false)],
    );
    assert!(!cleared(AlertKind::Idle, &out), "{out:?}");
    // A second one in a row: it moved on, from the first.
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(9, 10, 40), 345.0, 1.0).working(false)],
    );
    let clear = of(AlertKind::Idle, &out);
    assert_eq!(clear.len(), 1, "{out:?}");
    assert_eq!(
        (clear[0].change, clear[0].at),
        (Change::Clear, t(9, 10, 30))
    );
}

#[test]
fn one_noisy_fix_does_not_restart_a_dwell() {
    let mut e = engine();
    // A cleaner standing still for 20 minutes; at minute 12 one fix lands 25 m off.
    let fixes: Vec<Fix> = (0..=120)
        .map(|i| {
            let x = if i == 72 { 125.0 } else { 100.0 };
            fix(secs(t(9, 0, 0), i * 10), x, 100.0).working(true)
        })
        .collect();
    let out = feed(&mut e, WORKER, &fixes);
    let idle = of(AlertKind::Idle, &out);
    assert_eq!(idle.len(), 1, "{out:?}");
    assert_eq!(
        idle[0].at,
        secs(t(9, 0, 0), 1200),
        "on time despite the stray fix"
    );
}

#[test]
fn idle_not_raised_when_working_or_in_rest_zone_or_within_break_allowance() {
    // a collector running its PTO is not idle
    let mut e = engine();
    let fixes: Vec<Fix> = hold(t(9, 0, 0), 0, 1800, 60, 300.0, 2.0)
        .into_iter()
        .map(|f| f.working(true))
        .collect();
    assert!(!opened(AlertKind::Idle, &feed(&mut e, COLLECTOR, &fixes)));
    // a worker resting in a rest zone (it lies outside the beat, so off_area may open)
    let mut e = engine();
    let fixes: Vec<Fix> = hold(t(9, 0, 0), 0, 3600, 60, 515.0, 115.0)
        .into_iter()
        .map(|f| f.working(false))
        .collect();
    assert!(!opened(AlertKind::Idle, &feed(&mut e, WORKER, &fixes)));
    // a 30 min break allowance: a 45 min dwell opens at 20 + 30 = 50 min, not before
    for (dwell, expect) in [(2999, false), (3000, true)] {
        let mut e = engine();
        let mut rules = RuleConfig::default();
        rules.devices.insert(
            id(WORKER),
            RuleOverride {
                break_allowance_s: Some(1800),
                ..Default::default()
            },
        );
        e.set_rules(rules);
        let fixes: Vec<Fix> = hold(t(9, 0, 0), 0, dwell, 60, 100.0, 100.0)
            .into_iter()
            .map(|f| f.working(false))
            .collect();
        assert_eq!(
            opened(AlertKind::Idle, &feed(&mut e, WORKER, &fixes)),
            expect,
            "{dwell}"
        );
    }
}

#[test]
fn offline_is_timer_driven() {
    for (silence, expect) in [(599, false), (600, true), (601, true)] {
        let mut e = engine();
        feed(&mut e, SWEEPER, &[fix(t(9, 0, 0), 100.0, 0.0)]);
        let out = tick_for(&mut e, SWEEPER, secs(t(9, 0, 0), silence));
        let off = of(AlertKind::Offline, &out);
        assert_eq!(!off.is_empty(), expect, "{silence}");
        if expect {
            assert_eq!(off[0].at, secs(t(9, 0, 0), 600));
            assert!(
                tick_for(&mut e, SWEEPER, secs(t(9, 0, 0), silence + 60)).is_empty(),
                "opens once"
            );
            let back = feed(&mut e, SWEEPER, &[fix(t(9, 20, 0), 100.0, 0.0)]);
            assert!(cleared(AlertKind::Offline, &back));
        }
    }
    // outside the shift, silence is fine
    let mut e = engine();
    feed(&mut e, SWEEPER, &[fix(t(17, 0, 0), 100.0, 0.0)]);
    assert!(of(AlertKind::Offline, &tick_for(&mut e, SWEEPER, t(18, 0, 0))).is_empty());
}

#[test]
fn late_start_fifteen_minutes_after_shift_start() {
    for (tick_s, expect) in [(899, false), (900, true)] {
        let mut e = engine();
        feed(&mut e, SWEEPER, &[fix(t(7, 55, 0), 100.0, 500.0)]);
        let out = tick_for(&mut e, SWEEPER, secs(t(8, 0, 0), tick_s));
        assert_eq!(opened(AlertKind::LateStart, &out), expect, "{tick_s}");
    }
    // arriving clears it
    let mut e = engine();
    feed(&mut e, SWEEPER, &[fix(t(7, 55, 0), 100.0, 500.0)]);
    tick_for(&mut e, SWEEPER, t(8, 16, 0));
    let out = feed(&mut e, SWEEPER, &[fix(t(8, 17, 0), 100.0, 2.0)]);
    assert!(cleared(AlertKind::LateStart, &out));
    // arriving in time means no late start
    let mut e = engine();
    feed(&mut e, SWEEPER, &[fix(t(8, 5, 0), 100.0, 2.0)]);
    feed(&mut e, SWEEPER, &[fix(t(8, 9, 0), 100.0, 300.0)]);
    assert!(!opened(
        AlertKind::LateStart,
        &tick_for(&mut e, SWEEPER, t(8, 15, 0))
    ));
}

#[test]
fn shift_bound_alerts_clear_when_the_shift_ends() {
    let mut e = engine();
    feed(&mut e, SWEEPER, &[fix(t(15, 40, 0), 100.0, 2.0)]);
    assert!(opened(
        AlertKind::Offline,
        &tick_for(&mut e, SWEEPER, t(15, 55, 0))
    ));
    let out = tick_for(&mut e, SWEEPER, t(16, 1, 0));
    let c = of(AlertKind::Offline, &out);
    assert_eq!(c[0].change, Change::Clear);
    assert_eq!(c[0].at, t(16, 0, 0));
}

#[test]
fn speeding_at_work_after_one_minute_above_band() {
    // (speed, seconds, expect)
    for (speed, dur, expect) in [
        (15.0, 120, false),
        (16.0, 59, false),
        (16.0, 60, true),
        (30.0, 90, true),
    ] {
        let mut e = engine();
        let fixes: Vec<Fix> = (0..=dur)
            .step_by(1)
            .filter(|s| s % 10 == 0 || *s == dur)
            .map(|s| {
                fix(secs(t(9, 0, 0), s), s as f64 * speed / 3.6, 0.0)
                    .working(true)
                    .speed(speed)
            })
            .collect();
        let out = feed(&mut e, SWEEPER, &fixes);
        assert_eq!(
            opened(AlertKind::SpeedingAtWork, &out),
            expect,
            "{speed} km/h for {dur} s"
        );
        if expect {
            let out = feed(
                &mut e,
                SWEEPER,
                &[fix(secs(t(9, 0, 0), dur + 10), 500.0, 0.0)
                    .working(true)
                    .speed(10.0)],
            );
            assert!(cleared(AlertKind::SpeedingAtWork, &out));
        }
    }
    // not working: no speeding
    let mut e = engine();
    let fixes: Vec<Fix> = (0..10)
        .map(|i| {
            fix(secs(t(9, 0, 0), i * 10), i as f64 * 80.0, 0.0)
                .working(false)
                .speed(30.0)
        })
        .collect();
    assert!(!opened(
        AlertKind::SpeedingAtWork,
        &feed(&mut e, SWEEPER, &fixes)
    ));
}

#[test]
fn off_shift_work_opens_outside_shifts_only() {
    let mut e = engine();
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(7, 59, 59), 100.0, 0.0).working(true)],
    );
    assert!(opened(AlertKind::OffShiftWork, &out));
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(8, 0, 0), 100.0, 0.0).working(true)],
    );
    assert!(cleared(AlertKind::OffShiftWork, &out));
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(16, 0, 0), 100.0, 0.0).working(true)],
    );
    assert!(opened(AlertKind::OffShiftWork, &out));
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(16, 0, 5), 100.0, 0.0).working(false)],
    );
    assert!(cleared(AlertKind::OffShiftWork, &out));
    // an auto-registered device never raises work alerts
    let mut e = engine();
    let out = feed(
        &mut e,
        "humen/new-1",
        &[fix(t(20, 0, 0), 100.0, 0.0).working(true).speed(40.0)],
    );
    assert!(out.is_empty());
}

#[test]
fn sos_opens_once_per_press_and_never_clears() {
    let mut e = engine();
    let mut f = fix(t(9, 0, 0), 100.0, 100.0);
    f.sos = true;
    let mut g = f.clone();
    g.ts = t(9, 0, 10);
    let mut h = fix(t(9, 0, 20), 100.0, 100.0);
    h.sos = false;
    let mut i = f.clone();
    i.ts = t(9, 0, 30);
    let out = feed(&mut e, WORKER, &[f, g, h, i]);
    let sos = of(AlertKind::Sos, &out);
    assert_eq!(sos.len(), 2);
    assert!(sos.iter().all(|s| s.change == Change::Open));
}

#[test]
fn late_fixes_do_not_rewind_rule_state() {
    let mut e = engine();
    let fixes: Vec<Fix> = hold(t(9, 0, 0), 0, 600, 60, 300.0, 2.0)
        .into_iter()
        .map(|f| f.working(false))
        .collect();
    assert!(opened(AlertKind::Idle, &feed(&mut e, SWEEPER, &fixes)));
    // a late fix far away (older than the newest) changes nothing
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(9, 5, 30), 900.0, 300.0).working(false)],
    );
    assert!(out.is_empty(), "{out:?}");
    let out = feed(
        &mut e,
        SWEEPER,
        &[fix(t(9, 11, 0), 300.0, 2.0).working(false)],
    );
    assert!(!cleared(AlertKind::Idle, &out));
}

/// A Berlin night wash (22:00-05:00) on the spring-forward night: rules follow
/// the instance of the day it started, and its end is 03:00 UTC, not 04:00.
#[test]
fn night_shift_across_midnight_and_dst_in_berlin() {
    use chrono::{NaiveTime, TimeZone, Weekday};
    let berlin = chrono_tz::Europe::Berlin;
    let mut e = Engine::new(EngineConfig {
        tz: berlin,
        rules: RuleConfig::default(),
    });
    e.set_areas(vec![route1(1)]);
    let night = Shift::new(id("shift-night"), "night wash", berlin)
        .with_weekly(WeeklyWindow {
            days: vec![Weekday::Sat],
            start: NaiveTime::from_hms_opt(22, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(5, 0, 0).unwrap(),
        })
        .unwrap();
    e.set_shifts(vec![night]);
    e.set_devices(vec![(id("berlin/wash-1"), DeviceKind::Washer)]);
    e.set_assignments(vec![Assignment {
        device: id("berlin/wash-1"),
        area: id("route-1"),
        shift: id("shift-night"),
        valid_from: chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        valid_to: None,
    }])
    .unwrap();
    let utc = |d, h, m| chrono::Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).unwrap();
    let dev = "berlin/wash-1";
    // 01:30 UTC on Sunday = 03:30 CEST: working, in Saturday's instance, no off-shift work
    let out = feed(
        &mut e,
        dev,
        &[fix(utc(29, 1, 30), 100.0, 0.0).working(true).speed(8.0)],
    );
    assert!(!opened(AlertKind::OffShiftWork, &out), "{out:?}");
    // silent from 01:30 UTC: offline at 01:40 UTC, cleared when the instance ends at 03:00 UTC
    let out = e.tick(utc(29, 1, 45));
    let off = of(AlertKind::Offline, &out);
    assert_eq!(off[0].at, utc(29, 1, 40));
    assert_eq!(
        off[0].shift_instance.as_ref().unwrap().local_date,
        chrono::NaiveDate::from_ymd_opt(2026, 3, 28).unwrap()
    );
    assert!(e.tick(utc(29, 2, 59)).is_empty());
    let out = e.tick(utc(29, 3, 1));
    assert_eq!(of(AlertKind::Offline, &out)[0].change, Change::Clear);
    assert_eq!(of(AlertKind::Offline, &out)[0].at, utc(29, 3, 0));
    // 03:30 UTC = 05:30 CEST: after the shift, working is off-shift work
    let out = feed(
        &mut e,
        dev,
        &[fix(utc(29, 3, 30), 100.0, 0.0).working(true).speed(8.0)],
    );
    assert!(opened(AlertKind::OffShiftWork, &out));
}
