//! The plan: deterministic, and each behaviour shows exactly when switched on.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use simulator::BrokerOptions;
use simulator::scenario::{
    Behaviours, Clock, Counts, DeviceSelection, MessageKind, PlannedMessage, ScenarioRun, plan,
};

use crate::bundled::humen;

/// 09:00 in Humen on a Tuesday: the day sweep is on.
pub fn morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap()
}

pub fn run(url: &str, minutes: u64, per_kind: u32, behaviours: Behaviours) -> ScenarioRun {
    let mut o = ScenarioRun::new(BrokerOptions {
        url: url.to_owned(),
        username: None,
        password: None,
        client_id_prefix: "t-scenario".to_owned(),
    });
    o.seed = 7;
    o.clock = Clock::Replay {
        start: morning(),
        speed: 600.0,
    };
    o.duration = Duration::from_secs(minutes * 60);
    o.devices = DeviceSelection::PerKind(per_kind);
    o.behaviours = behaviours;
    o
}

fn fixes_of(msgs: &[PlannedMessage], device: &str) -> Vec<Value> {
    msgs.iter()
        .filter(|m| m.device == device && matches!(m.kind, MessageKind::Fix | MessageKind::Sos))
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let file = humen();
    let o = run("mqtt://127.0.0.1:1", 15, 4, Behaviours::default());
    let a = plan(&file, &o).unwrap().messages;
    let b = plan(&file, &o).unwrap().messages;
    assert!(a.len() > 500, "{}", a.len());
    assert!(a == b, "same seed, different plan");
    let mut other = o.clone();
    other.seed = 8;
    assert!(plan(&file, &other).unwrap().messages != a);
    // publish order is time order, and every fix time is the simulated one
    assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
    assert!(
        a.iter()
            .all(|m| m.at >= morning() && m.at <= morning() + chrono::TimeDelta::minutes(15))
    );
}

#[test]
fn with_every_behaviour_off_there_are_only_status_and_clean_fixes() {
    let file = humen();
    let msgs = plan(&file, &run("mqtt://127.0.0.1:1", 10, 3, Behaviours::none()))
        .unwrap()
        .messages;
    let c = Counts::of(&msgs);
    assert_eq!(
        (c.backlogs, c.duplicates, c.malformed, c.sos, c.owntracks),
        (0, 0, 0, 0, 0),
        "{c:?}"
    );
    // every device comes online and goes offline at the end, on shift or not
    assert_eq!(c.status, 12 * 2, "{c:?}");
    // every on-shift device (not the washers) every interval: 120 vehicle fixes and 60 worker fixes in 10 min
    assert_eq!(c.fixes, 6 * 120 + 3 * 60, "{c:?}");
    for m in &msgs {
        if m.kind == MessageKind::Fix {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            let ts = DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap()).unwrap();
            assert_eq!(ts, m.at);
            assert!((22.79..22.85).contains(&v["lat"].as_f64().unwrap()));
            assert!((113.63..113.71).contains(&v["lon"].as_f64().unwrap()));
        }
    }
}

#[test]
fn vehicles_work_on_their_routes_and_workers_walk() {
    let file = humen();
    let msgs = plan(&file, &run("mqtt://127.0.0.1:1", 30, 2, Behaviours::none()))
        .unwrap()
        .messages;
    let sw = fixes_of(&msgs, "sw-001");
    let working: Vec<&Value> = sw.iter().filter(|v| v["work"] == true).collect();
    assert!(
        working.len() > sw.len() / 2,
        "{} of {}",
        working.len(),
        sw.len()
    );
    assert!(
        working
            .iter()
            .all(|v| (5.0 * 0.9..=10.0 * 1.1).contains(&v["speed"].as_f64().unwrap()))
    );
    let wk = fixes_of(&msgs, "wk-001");
    assert!(wk.iter().all(|v| v["speed"].as_f64().unwrap() <= 4.5));
    let seqs: Vec<u64> = wk.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
#[expect(
    clippy::too_many_lines,
    reason = "one case per behaviour, each switched on alone then off: a table of short checks"
)]
fn each_behaviour_shows_when_switched_on_and_only_then() {
    let file = humen();
    let mut b = Behaviours::default();
    b.late_start.delay = Duration::from_secs(8 * 60);
    b.duplicates.probability = 0.05;
    let on = plan(&file, &run("mqtt://127.0.0.1:1", 15, 4, b.clone()))
        .unwrap()
        .messages;
    let c = Counts::of(&on);
    assert!(c.backlogs >= 1 && c.backlog_fixes >= 50, "{c:?}");
    assert!(c.duplicates >= 1 && c.sos == 1 && c.malformed == 3, "{c:?}");
    for m in on.iter().filter(|m| m.kind == MessageKind::Backlog) {
        assert!(m.topic.ends_with("/fixes") && m.payload.len() <= 64 * 1024);
        let arr: Vec<Value> = serde_json::from_slice(&m.payload).unwrap();
        let ts: Vec<&str> = arr.iter().map(|v| v["ts"].as_str().unwrap()).collect();
        assert!(
            ts.windows(2).all(|w| w[0] > w[1]),
            "backlog is newest first"
        );
        assert!(
            ts.iter().all(|t| *t < rfc(m.at).as_str()),
            "backlog fixes are older"
        );
    }
    for m in on.iter().filter(|m| m.kind == MessageKind::Malformed) {
        assert!(m.topic.ends_with("/fix"));
    }
    let status: Vec<&PlannedMessage> = on
        .iter()
        .filter(|m| m.kind == MessageKind::Status)
        .collect();
    assert!(
        status
            .iter()
            .all(|m| m.retain && m.topic.ends_with("/status"))
    );

    // Gaps: a tunnel (4 min), a silent device (from minute 5), a late start (8 min).
    let gaps = largest_gaps(&on);
    let mut big: Vec<i64> = gaps.values().copied().filter(|g| *g >= 180).collect();
    big.sort();
    assert!(big.len() >= 2, "tunnel and backlog gaps: {gaps:?}");
    // A late starter reports from its yard and arrives in its area 8 minutes late.
    let truth = plan(&file, &run("mqtt://127.0.0.1:1", 15, 4, b.clone()))
        .unwrap()
        .truth;
    assert!(
        truth
            .troubles
            .iter()
            .chain(&truth.non_troubles)
            .any(|p| p.behaviour == "late_start" && p.to - p.from >= chrono::TimeDelta::minutes(7)),
        "a late starter"
    );
    let last: HashMap<&str, DateTime<Utc>> = on
        .iter()
        .filter(|m| matches!(m.kind, MessageKind::Fix | MessageKind::Sos))
        .map(|m| (m.device.as_str(), m.at))
        .collect();
    assert!(
        last.values()
            .any(|t| *t - morning() <= chrono::TimeDelta::minutes(5)),
        "a silent device"
    );
    // idling: some device reports speed 0 for 10 min or more
    assert!(stopped_minutes(&on) >= 9, "an idle device");

    // Each one off: its trace goes.
    let mut off = b.clone();
    off.backlog.enabled = false;
    off.duplicates.enabled = false;
    off.sos.enabled = false;
    off.malformed.enabled = false;
    let c = Counts::of(
        &plan(&file, &run("mqtt://127.0.0.1:1", 15, 4, off.clone()))
            .unwrap()
            .messages,
    );
    assert_eq!(
        (c.backlogs, c.duplicates, c.sos, c.malformed),
        (0, 0, 0, 0),
        "{c:?}"
    );
    off.idle.enabled = false;
    off.breaks.enabled = false;
    off.leave_area.enabled = false;
    off.late_start.enabled = false;
    off.silent.enabled = false;
    off.dropout.enabled = false;
    off.traffic_jam.enabled = false;
    off.transfer_trips.enabled = false;
    let quiet = plan(&file, &run("mqtt://127.0.0.1:1", 15, 4, off))
        .unwrap()
        .messages;
    assert!(
        largest_gaps(&quiet).values().all(|g| *g <= 10),
        "{:?}",
        largest_gaps(&quiet)
    );
    assert!(stopped_minutes(&quiet) < 1);
}

#[test]
fn workers_publish_as_owntracks_when_asked() {
    let file = humen();
    let mut o = run("mqtt://127.0.0.1:1", 5, 2, Behaviours::none());
    o.owntracks = true;
    let msgs = plan(&file, &o).unwrap().messages;
    let ot: Vec<&PlannedMessage> = msgs
        .iter()
        .filter(|m| m.kind == MessageKind::OwnTracks)
        .collect();
    assert_eq!(ot.len(), 2 * 30);
    for m in ot {
        assert!(
            m.topic.starts_with("owntracks/wk-00") && m.topic.ends_with("/uniform"),
            "{}",
            m.topic
        );
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(v["_type"], "location");
        assert_eq!(v["tst"].as_i64(), Some(m.at.timestamp()));
    }
    assert!(
        msgs.iter()
            .filter(|m| m.kind == MessageKind::Fix)
            .all(|m| !m.device.starts_with("wk-"))
    );
}

#[test]
fn a_night_replay_has_the_washers_washing_twice() {
    let file = humen();
    let mut o = run("mqtt://127.0.0.1:1", 20, 2, Behaviours::none());
    // 23:00 local
    o.clock = Clock::Replay {
        start: Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).unwrap(),
        speed: 60.0,
    };
    let msgs = plan(&file, &o).unwrap().messages;
    let devices: std::collections::HashSet<&str> = msgs
        .iter()
        .filter(|m| m.kind == MessageKind::Fix)
        .map(|m| m.device.as_str())
        .collect();
    assert_eq!(devices, ["wa-001", "wa-002"].into_iter().collect());
    let wa = fixes_of(&msgs, "wa-001");
    assert!(wa.iter().filter(|v| v["work"] == true).count() > wa.len() / 2);
}

#[test]
fn latest_shift_start_finds_last_night() {
    let file = humen();
    let t = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
    let s = simulator::scenario::latest_shift_start(&file, "night-wash", t).unwrap();
    assert_eq!(s, Utc.with_ymd_and_hms(2026, 11, 24, 14, 0, 0).unwrap());
}

pub fn rfc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Per device, the longest stretch without a fix while it published at all (seconds).
fn largest_gaps(msgs: &[PlannedMessage]) -> HashMap<String, i64> {
    let mut last: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut gaps = HashMap::new();
    for m in msgs.iter().filter(|m| {
        matches!(
            m.kind,
            MessageKind::Fix | MessageKind::Sos | MessageKind::OwnTracks
        )
    }) {
        if let Some(prev) = last.insert(m.device.as_str(), m.at) {
            let g = gaps.entry(m.device.clone()).or_insert(0);
            *g = (*g).max((m.at - prev).num_seconds());
        }
    }
    gaps
}

/// The longest run of consecutive speed-0 fixes of any device, minutes.
fn stopped_minutes(msgs: &[PlannedMessage]) -> i64 {
    let mut since: HashMap<&str, Option<DateTime<Utc>>> = HashMap::new();
    let mut best = 0;
    for m in msgs.iter().filter(|m| m.kind == MessageKind::Fix) {
        let v: Value = serde_json::from_slice(&m.payload).unwrap();
        let s = since.entry(m.device.as_str()).or_default();
        if v["speed"].as_f64() == Some(0.0) {
            let from = *s.get_or_insert(m.at);
            best = best.max((m.at - from).num_minutes());
        } else {
            *s = None;
        }
    }
    best
}
