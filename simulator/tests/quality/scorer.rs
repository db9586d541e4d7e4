//! The scorer on hand-made truths and alerts: the matching rule, one case per
//! trouble, scope, and the truth file's round trip.

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use geofence::{AlertKind, DeviceKind, RuleConfig, RuleOverride};
use simulator::quality::{
    FORMAT, FixIntervalSecs, InstanceRef, ObservedAlert, Planted, RunDevice, RunInfo, Truth, score,
};

fn t(min: i64, sec: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap()
        + TimeDelta::minutes(min)
        + TimeDelta::seconds(sec)
}

fn truth(troubles: Vec<Planted>, non_troubles: Vec<Planted>) -> Truth {
    Truth {
        run: RunInfo {
            format: FORMAT.into(),
            org: "humen".into(),
            start: t(0, 0),
            end: t(60, 0),
            seed: 1,
            fix_interval_s: FixIntervalSecs {
                vehicle: 5.0,
                worker: 10.0,
            },
            devices: vec![
                RunDevice {
                    id: "sw-001".into(),
                    kind: DeviceKind::Sweeper,
                },
                RunDevice {
                    id: "wk-001".into(),
                    kind: DeviceKind::Worker,
                },
            ],
            routes: vec!["route-001".into()],
            rules: RuleConfig::default(),
        },
        troubles,
        non_troubles,
    }
}

fn planted(kind: Option<AlertKind>, device: &str, from: DateTime<Utc>, behaviour: &str) -> Planted {
    Planted {
        kind,
        device: Some(device.into()),
        route: None,
        shift: None,
        from,
        to: from + TimeDelta::minutes(8),
        behaviour: behaviour.into(),
        note: String::new(),
    }
}

fn alert(kind: AlertKind, device: Option<&str>, opened: DateTime<Utc>) -> ObservedAlert {
    ObservedAlert {
        device: device.map(str::to_owned),
        kind,
        opened_at: opened,
        cleared_at: None,
        area_id: None,
        shift_id: None,
        shift_date: None,
        reopen_count: 0,
    }
}

#[test]
fn an_alert_within_the_debounce_and_one_fix_is_a_hit_with_its_open_time_error() {
    let tr = truth(
        vec![planted(
            Some(AlertKind::OffArea),
            "sw-001",
            t(6, 0),
            "take_away",
        )],
        vec![],
    );
    // off_area debounce 180 s, a vehicle's fix every 5 s: [06:00, 09:05]
    for (sec, hit) in [
        (-1, false),
        (0, true),
        (180, true),
        (185, true),
        (186, false),
    ] {
        let s = score(&tr, &[alert(AlertKind::OffArea, Some("sw-001"), t(6, sec))]);
        assert_eq!(s.total.hits == 1, hit, "{sec} s after the start\n{s}");
        if hit {
            assert_eq!(s.hits[0].error_s, (sec - 180) as f64);
        } else {
            assert_eq!((s.total.false_alerts, s.total.missed), (1, 1), "{s}");
        }
    }
}

#[test]
fn a_second_alert_for_the_same_trouble_is_a_false_duplicate() {
    let mut idle = planted(Some(AlertKind::Idle), "sw-001", t(1, 0), "idle");
    idle.to = t(13, 0);
    let tr = truth(vec![idle], vec![]);
    let s = score(
        &tr,
        &[
            alert(AlertKind::Idle, Some("sw-001"), t(11, 0)),
            alert(AlertKind::Idle, Some("sw-001"), t(11, 4)),
        ],
    );
    assert_eq!((s.total.hits, s.total.false_alerts), (1, 1), "{s}");
    assert!(
        s.false_alerts[0].explanation[0].starts_with("duplicate of the idle case opened 22:11:00"),
        "{:?}",
        s.false_alerts[0].explanation
    );
    assert_eq!(s.total.precision, Some(0.5));
    assert!(s.check(Some(0.95), Some(1.0)).is_err());
    assert!(s.check(Some(0.5), Some(1.0)).is_ok());
}

#[test]
fn a_false_alert_is_explained_by_the_non_trouble_it_overlaps() {
    let tr = truth(
        vec![],
        vec![planted(None, "sw-001", t(20, 0), "transfer_trip")],
    );
    let s = score(&tr, &[alert(AlertKind::Idle, Some("sw-001"), t(25, 0))]);
    assert_eq!(s.total.false_alerts, 1);
    assert_eq!(
        s.false_alerts[0].explanation,
        ["overlaps non-trouble transfer_trip of sw-001 (22:20:00-22:28:00)"]
    );
    assert_eq!(s.total.precision, Some(0.0));
    assert_eq!(s.total.recall, None);
}

#[test]
fn the_debounce_comes_from_the_orgs_rules_for_the_devices_kind() {
    let mut tr = truth(
        vec![planted(Some(AlertKind::Idle), "wk-001", t(1, 0), "idle")],
        vec![],
    );
    // a cleaner: 20 min; with an override of 15 min for workers
    let s = score(&tr, &[alert(AlertKind::Idle, Some("wk-001"), t(21, 5))]);
    assert_eq!(s.total.hits, 1, "{s}");
    tr.run.rules.kinds.insert(
        DeviceKind::Worker,
        RuleOverride {
            idle_after_s: Some(900),
            ..RuleOverride::default()
        },
    );
    let s = score(&tr, &[alert(AlertKind::Idle, Some("wk-001"), t(21, 5))]);
    assert_eq!((s.total.hits, s.total.missed), (0, 1), "{s}");
    let s = score(&tr, &[alert(AlertKind::Idle, Some("wk-001"), t(16, 0))]);
    assert_eq!(s.total.hits, 1, "{s}");
}

#[test]
fn late_start_counts_from_the_shift_start_and_coverage_from_an_hour_before_its_end() {
    let inst = InstanceRef {
        id: "day-sweep".into(),
        date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        start: t(0, 0),
        end: t(90, 0),
    };
    let mut late = planted(Some(AlertKind::LateStart), "sw-001", t(0, 0), "late_start");
    late.shift = Some(inst.clone());
    let mut risk = planted(
        Some(AlertKind::CoverageAtRisk),
        "sw-001",
        t(0, 0),
        "skip_route",
    );
    risk.route = Some("route-001".into());
    risk.shift = Some(inst.clone());
    let tr = truth(vec![late, risk], vec![]);
    let mut route_alert = alert(AlertKind::CoverageAtRisk, None, t(30, 0));
    route_alert.area_id = Some("route-001".into());
    route_alert.shift_id = Some("day-sweep".into());
    route_alert.shift_date = Some(inst.date);
    let mut other_day = route_alert.clone();
    other_day.shift_date = inst.date.succ_opt();
    let s = score(
        &tr,
        &[
            alert(AlertKind::LateStart, Some("sw-001"), t(15, 0)),
            route_alert,
            other_day,
        ],
    );
    assert_eq!(
        (s.total.hits, s.total.false_alerts, s.total.missed),
        (2, 1, 0),
        "{s}"
    );
}

#[test]
fn alerts_of_devices_and_routes_not_in_the_run_are_ignored_and_late_troubles_not_scored() {
    let tr = truth(
        vec![planted(
            Some(AlertKind::Offline),
            "sw-001",
            t(55, 0),
            "silent",
        )],
        vec![],
    );
    let mut route = alert(AlertKind::CoverageAtRisk, None, t(30, 0));
    route.area_id = Some("route-099".into());
    let s = score(
        &tr,
        &[
            alert(AlertKind::Offline, Some("sw-002"), t(10, 0)),
            route,
            alert(AlertKind::Idle, Some("sw-001"), t(70, 0)),
        ],
    );
    assert_eq!((s.ignored_other, s.ignored_outside), (2, 1), "{s}");
    assert_eq!(s.not_due.len(), 1, "due at 23:05, after the run");
    assert_eq!((s.total.planted, s.total.alerts), (0, 0));
    assert!(s.check(Some(1.0), Some(1.0)).is_ok());
}

#[test]
fn a_truth_file_reads_back_as_written() {
    let mut p = planted(Some(AlertKind::Sos), "wk-001", t(4, 0), "sos");
    p.note = "pressed once".into();
    let tr = truth(vec![p], vec![planted(None, "sw-001", t(2, 0), "transit")]);
    let text = tr.to_jsonl();
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with(r#"{"record":"run","format":"sweepwatch-truth/1""#));
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with(r#"{"record":"non_trouble""#),
        "in time order: {text}"
    );
    assert_eq!(Truth::from_jsonl(&text).unwrap(), tr);
    assert!(Truth::from_jsonl("").is_err());
    assert!(Truth::from_jsonl(r#"{"record":"trouble"}"#).is_err());
}
