use chrono::{TimeZone, Utc};

use super::*;

#[test]
fn a_planned_fix_becomes_the_report_a_terminal_sends() {
    let json = br#"{"ts":"2026-11-27T05:00:00.700Z","lat":-22.814301,"lon":113.6721,"speed":12.46,"heading":359.6,"acc":5.0,"work":true,"sos":true,"batt":80,"seq":3}"#;
    let r = fix_report(json).unwrap();
    assert_eq!(r.lat, 22_814_301);
    assert_eq!(r.lon, 113_672_100);
    assert_eq!(r.speed, 125);
    assert_eq!(r.direction, 0, "359.6 rounds to 360, which is 0");
    assert_eq!(r.status, STATUS_POSITIONED | STATUS_ACC | STATUS_SOUTH);
    assert_eq!(r.alarm, ALARM_EMERGENCY);
    // Whole seconds: the fraction is dropped.
    let fix = r.to_fix(Some(jt808::WorkBit::ACC)).unwrap();
    assert_eq!(fix.ts, Utc.with_ymd_and_hms(2026, 11, 27, 5, 0, 0).unwrap());
    assert_eq!((fix.lat, fix.work, fix.sos), (-22.814301, Some(true), true));
    assert!(fix_report(b"{\"ts\":\"x\"}").is_none());
    let backlog = format!(
        "[{},{{}},{}]",
        std::str::from_utf8(json).unwrap(),
        std::str::from_utf8(json).unwrap()
    );
    assert_eq!(location_reports(backlog.as_bytes()).len(), 2);
}

use jt808::{ALARM_EMERGENCY, STATUS_ACC, STATUS_POSITIONED, STATUS_SOUTH};

#[test]
fn a_share_of_the_vehicles_are_terminals_never_the_uniforms() {
    let file = geofence::scenario::ScenarioFile::from_json(&crate::humen::generate()).unwrap();
    let ids: Vec<String> = file.devices.iter().map(|d| d.id.clone()).collect();
    let vehicles = file
        .devices
        .iter()
        .filter(|d| d.kind != DeviceKind::Worker)
        .count();
    let phones = terminal_phones(&file, &ids, 0.3);
    assert_eq!(phones.len(), (vehicles as f64 * 0.3).round() as usize);
    for id in phones.keys() {
        let d = file.devices.iter().find(|d| &d.id == id).unwrap();
        assert_ne!(d.kind, DeviceKind::Worker, "{id}");
    }
    let distinct: std::collections::BTreeSet<&str> = phones.values().map(|p| p.as_str()).collect();
    assert_eq!(distinct.len(), phones.len());
    assert!(terminal_phones(&file, &ids, 0.0).is_empty());
    assert_eq!(terminal_phones(&file, &ids, 1.0).len(), vehicles);
}
