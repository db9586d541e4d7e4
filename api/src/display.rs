//! Display states for `/positions` and the live stream: each device's
//! `geofence::display_state`, judged by its own rule parameters at its org's
//! clock. The page shows what is sent; it derives nothing.
//!
//! [`Directory`] knows each device's parameters (its kind's defaults, the
//! org's kind and device overrides); [`StateTracker`] follows one stream's
//! devices, so that a state that changes without a fix (an alert opened or
//! resolved, the clock passing `offline_after_s`) is sent as a `state` event.

use std::collections::HashMap;
use std::sync::Arc;

use ::live::Position;
use chrono::{DateTime, Utc};
use geofence::{
    AlertKind, DeviceKey, DeviceKind, DisplayState, LatestFix, RuleConfig, RuleParams,
    display_state, org_clock,
};
use store::queries::live::DeviceInfo;

/// A device as the positions view shows it: who it is and its parameters.
pub struct Device {
    pub info: DeviceInfo,
    pub params: RuleParams,
    /// `"kind":…,"label":…,"districts":[…]`: its part of a `/positions`
    /// feature, written once per directory rather than once per request.
    pub json: Box<[u8]>,
}

/// Every device by its database id.
pub type Directory = HashMap<i32, Device>;

/// The directory of `devices`, each with the parameters of its org's `rules`.
/// Area overrides are not applied: a device's display does not change with
/// the area it happens to be in (its alerts do, and show).
pub fn directory(devices: Vec<DeviceInfo>, rules: &[(String, RuleConfig)]) -> Directory {
    let rules: HashMap<&str, &RuleConfig> = rules.iter().map(|(o, r)| (o.as_str(), r)).collect();
    devices
        .into_iter()
        .map(|info| {
            let kind: DeviceKind =
                serde_json::from_value(serde_json::Value::String(info.kind.clone()))
                    .unwrap_or(DeviceKind::Unknown);
            let params = match (rules.get(info.org.as_str()), DeviceKey::new(&info.name)) {
                (Some(r), Ok(key)) => r.resolve(kind, None, &key),
                _ => RuleParams::defaults(kind),
            };
            let json = directory_json(&info);
            (info.device_id, Device { info, params, json })
        })
        .collect()
}

fn directory_json(info: &DeviceInfo) -> Box<[u8]> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(br#""kind":"#);
    // Writing into a Vec cannot fail, and strings always serialize.
    let _ = serde_json::to_writer(&mut out, &info.kind);
    out.extend_from_slice(br#","label":"#);
    let _ = serde_json::to_writer(&mut out, &info.label);
    out.extend_from_slice(br#","districts":"#);
    let _ = serde_json::to_writer(&mut out, &info.districts);
    out.into_boxed_slice()
}

/// `ts` as a JSON string, as serde writes a `DateTime<Utc>` (RFC 3339, `Z`,
/// the fraction in 0, 3, 6 or 9 digits as needed), without going through
/// `fmt`: a tenth of the cost, which counts for 100,000 positions.
pub fn write_ts(out: &mut Vec<u8>, ts: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    let year = ts.year();
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        // A signed year: serde's own way.
        let _ = serde_json::to_writer(out, &ts);
        return;
    };
    let (mut sec, mut nano) = (ts.second(), ts.nanosecond());
    if nano >= 1_000_000_000 {
        // A leap second, written as :60.
        sec += 1;
        nano -= 1_000_000_000;
    }
    out.push(b'"');
    digits(out, year, 4);
    out.push(b'-');
    digits(out, ts.month(), 2);
    out.push(b'-');
    digits(out, ts.day(), 2);
    out.push(b'T');
    digits(out, ts.hour(), 2);
    out.push(b':');
    digits(out, ts.minute(), 2);
    out.push(b':');
    digits(out, sec, 2);
    if nano != 0 {
        out.push(b'.');
        if nano % 1_000_000 == 0 {
            digits(out, nano / 1_000_000, 3);
        } else if nano % 1_000 == 0 {
            digits(out, nano / 1_000, 6);
        } else {
            digits(out, nano, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
}

/// The last `n` decimal digits of `v`, zero-padded.
fn digits(out: &mut Vec<u8>, v: u32, n: u32) {
    for i in (0..n).rev() {
        out.push(b'0' + ((v / 10u32.pow(i)) % 10) as u8);
    }
}

/// Each device's unresolved alert kinds.
pub type OpenAlerts = HashMap<i32, Vec<AlertKind>>;

/// [`OpenAlerts`] from `(device id, kind)` rows; unknown kinds are left out.
pub fn open_alerts(rows: Vec<(i32, String)>) -> OpenAlerts {
    let mut open = OpenAlerts::new();
    for (id, kind) in rows {
        if let Some(k) = AlertKind::parse(&kind) {
            open.entry(id).or_default().push(k);
        }
    }
    open
}

/// Each org's clock, from its newest fix among `positions`.
pub fn org_clocks<'a>(
    positions: impl IntoIterator<Item = &'a Position>,
    wall: DateTime<Utc>,
) -> HashMap<&'a str, DateTime<Utc>> {
    // A few orgs at most: a list, not a hash of every position's org.
    let mut newest: Vec<(&str, &Position)> = Vec::new();
    for p in positions {
        match newest.iter_mut().find(|(o, _)| *o == p.org) {
            Some((_, e)) if p.ts > e.ts => *e = p,
            Some(_) => {}
            None => newest.push((p.org.as_str(), p)),
        }
    }
    newest
        .into_iter()
        .map(|(org, p)| (org, org_clock(p.ts, p.received_at, wall)))
        .collect()
}

/// The display state of the device at `p` at `now`.
pub fn state_of(
    dir: &Directory,
    open: &OpenAlerts,
    p: &Position,
    now: DateTime<Utc>,
) -> DisplayState {
    state_at(
        dir.get(&p.device_id),
        open.get(&p.device_id).map_or(&[], Vec::as_slice),
        p,
        now,
    )
}

/// [`state_of`] with the device's directory entry and open alerts at hand
/// (its parameters are borrowed: `/positions` asks for 100,000 of them).
pub fn state_at(
    device: Option<&Device>,
    open: &[AlertKind],
    p: &Position,
    now: DateTime<Utc>,
) -> DisplayState {
    let unknown;
    let params = match device {
        Some(d) => &d.params,
        None => {
            unknown = RuleParams::defaults(DeviceKind::Unknown);
            &unknown
        }
    };
    let fix = LatestFix {
        ts: p.ts,
        speed_kmh: p.speed.map(f64::from),
        work: p.work,
    };
    display_state(now, &fix, open, params)
}

/// One stream's view of its devices' display states: what it last sent of
/// each, the alerts it has heard of, and each org's newest fix.
pub struct StateTracker {
    dir: Arc<Directory>,
    open: OpenAlerts,
    newest: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    sent: HashMap<i32, DisplayState>,
}

impl StateTracker {
    /// Starts from the directory, the unresolved alerts and the positions the
    /// client is taken to know (what `/positions` answers now). Only the
    /// devices for which `follows` holds are followed (a stream's filter):
    /// the others are never sent a state, so keeping theirs would only cost
    /// memory (100,000 devices per stream) and a look at each every recheck.
    /// Every known position still sets its org's clock.
    pub fn new<'a>(
        dir: Arc<Directory>,
        open: OpenAlerts,
        known: impl IntoIterator<Item = &'a Position> + Clone,
        follows: impl Fn(&Position) -> bool,
        wall: DateTime<Utc>,
    ) -> Self {
        let mut t = StateTracker {
            dir,
            open,
            newest: HashMap::new(),
            sent: HashMap::new(),
        };
        for p in known.clone() {
            t.note_fix(p);
        }
        let clocks = org_clocks(known.clone(), wall);
        for p in known {
            if !follows(p) {
                continue;
            }
            let now = clocks.get(p.org.as_str()).copied().unwrap_or(wall);
            let s = state_of(&t.dir, &t.open, p, now);
            t.sent.insert(p.device_id, s);
        }
        t
    }

    fn note_fix(&mut self, p: &Position) {
        let e = self
            .newest
            .entry(p.org.clone())
            .or_insert((p.ts, p.received_at));
        if p.ts > e.0 {
            *e = (p.ts, p.received_at);
        }
    }

    fn clock(&self, org: &str, wall: DateTime<Utc>) -> DateTime<Utc> {
        self.newest
            .get(org)
            .map_or(wall, |&(ts, rx)| org_clock(ts, rx, wall))
    }

    /// The state to send with position `p`, now taken as sent.
    pub fn position(&mut self, p: &Position, wall: DateTime<Utc>) -> DisplayState {
        self.note_fix(p);
        let s = state_of(&self.dir, &self.open, p, self.clock(&p.org, wall));
        self.sent.insert(p.device_id, s);
        s
    }

    /// An alert of `kind` on a device became unresolved (`open`) or resolved.
    pub fn alert(&mut self, device_id: i32, kind: &str, open: bool) {
        let Some(kind) = AlertKind::parse(kind) else {
            return;
        };
        let kinds = self.open.entry(device_id).or_default();
        kinds.retain(|k| *k != kind);
        if open {
            kinds.push(kind);
        }
    }

    /// The followed devices among `positions` whose state is no longer what
    /// was sent (taken as sent now), with their org.
    pub fn changed<'a>(
        &mut self,
        positions: impl IntoIterator<Item = &'a Position>,
        wall: DateTime<Utc>,
    ) -> Vec<(&'a Position, DisplayState)> {
        let mut out = Vec::new();
        for p in positions {
            let Some(&sent) = self.sent.get(&p.device_id) else {
                continue;
            };
            let s = state_of(&self.dir, &self.open, p, self.clock(&p.org, wall));
            if s != sent {
                self.sent.insert(p.device_id, s);
                out.push((p, s));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(id: i32, kind_ts: DateTime<Utc>, speed: f32) -> Position {
        Position {
            device_id: id,
            org: "o".into(),
            device: format!("d{id}"),
            ts: kind_ts,
            lat: 0.0,
            lon: 0.0,
            speed: Some(speed),
            heading: None,
            work: None,
            sos: false,
            batt: None,
            received_at: kind_ts,
            rendered: Default::default(),
        }
    }

    fn info(id: i32, kind: &str) -> DeviceInfo {
        DeviceInfo {
            device_id: id,
            org: "o".into(),
            name: format!("d{id}"),
            kind: kind.into(),
            label: None,
            districts: vec![],
        }
    }

    #[test]
    fn each_device_is_judged_by_its_own_rules() {
        let rules: RuleConfig = serde_json::from_value(serde_json::json!({
            "devices": {"d1": {"offline_after_s": 1800}}
        }))
        .unwrap();
        let dir = directory(
            vec![info(1, "sweeper"), info(2, "sweeper"), info(3, "worker")],
            &[("o".into(), rules)],
        );
        let wall = Utc::now();
        let old = wall - chrono::Duration::minutes(15);
        let open = OpenAlerts::new();
        assert_eq!(
            state_of(&dir, &open, &pos(1, old, 5.0), wall),
            DisplayState::Moving
        );
        assert_eq!(
            state_of(&dir, &open, &pos(2, old, 5.0), wall),
            DisplayState::Offline
        );
        assert_eq!(
            state_of(&dir, &open, &pos(3, wall, 1.5), wall),
            DisplayState::Moving
        );
    }

    #[test]
    fn a_stream_hears_of_states_that_change_without_a_fix() {
        let wall = Utc::now();
        let dir = Arc::new(directory(vec![info(1, "sweeper")], &[]));
        let p = pos(1, wall, 0.0);
        let mut t = StateTracker::new(dir, OpenAlerts::new(), [&p], |_| true, wall);
        assert!(t.changed([&p], wall).is_empty());
        t.alert(1, "idle", true);
        let c = t.changed([&p], wall);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].1, DisplayState::Idle);
        t.alert(1, "idle", false);
        assert_eq!(t.changed([&p], wall)[0].1, DisplayState::Stopped);
        // Ten minutes of silence on the wall clock: offline, with no event from ingest.
        let later = wall + chrono::Duration::minutes(11);
        assert_eq!(t.changed([&p], later)[0].1, DisplayState::Offline);
    }
}
