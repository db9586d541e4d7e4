//! The service's evaluation, in process: no broker, no database.
//!
//! Each planned message is decoded with the service's codec (`ingest::codec::decode`,
//! received at its simulated publish time), the fixes become stored rows (a fix of
//! the same device and time is stored once) and engine fixes the way the writer
//! makes them (`ingest::engine_fix`), and they go in publish order (a backlog's sorted
//! by time) into a `geofence::Engine` configured from the scenario file as
//! `ingest::host::EngineHost::configure` configures it from the database (areas and
//! shifts in id order, devices with their kinds, assignments, the org's rules). The
//! engine ticks on the org's watermark like the host: the newest fix time (capped at
//! its arrival), timers at the watermark minus 10 s, at most once a second of event
//! time, before the fix that moved it. Transitions and route alerts are folded into
//! cases with `geofence::Cases`, as the store keeps them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use geofence::scenario::ScenarioFile;
use geofence::{
    AlertTransition, AreaId, Cases, DeviceKey, Engine, EngineConfig, RouteAlert, ShiftInstance,
};
use ingest::codec::{Limits, Message, decode};
use simulator::quality::ObservedAlert;
use simulator::scenario::Plan;

/// `ingest::host::LATENESS`.
const LATENESS: TimeDelta = TimeDelta::seconds(10);
/// The host's `TICK_EVERY`.
const TICK_EVERY: TimeDelta = TimeDelta::seconds(1);

/// Everything the engine said about a run.
pub struct Outcome {
    /// The cases, as the store would hold them.
    pub alerts: Vec<ObservedAlert>,
    /// Every transition, in order (for failure messages).
    pub transitions: Vec<AlertTransition>,
    pub route_alerts: Vec<RouteAlert>,
    /// Fixes evaluated.
    pub fixes: usize,
}

struct Run {
    engine: Engine,
    watermark: Option<DateTime<Utc>>,
    last_tick: Option<DateTime<Utc>>,
    cases: Cases,
    /// Per case index: the area and shift instance of the transition that opened it.
    labels: Vec<(Option<AreaId>, Option<ShiftInstance>)>,
    transitions: Vec<AlertTransition>,
    route_alerts: Vec<RouteAlert>,
}

impl Run {
    fn fold(&mut self, ts: Vec<AlertTransition>) {
        for t in ts {
            let n = self.cases.cases.len();
            self.cases.apply(&t);
            if self.cases.cases.len() > n {
                self.labels.push((t.area.clone(), t.shift_instance.clone()));
            }
            self.transitions.push(t);
        }
        for r in self.engine.drain_route_alerts() {
            let n = self.cases.cases.len();
            self.cases.apply_route(&r);
            if self.cases.cases.len() > n {
                self.labels
                    .push((Some(r.route.clone()), Some(r.shift_instance.clone())));
            }
            self.route_alerts.push(r);
        }
    }

    /// `EngineHost::on_fix`.
    fn on_fix(&mut self, key: &DeviceKey, fix: &geofence::Fix, received_at: DateTime<Utc>) {
        let candidate = fix.ts.min(received_at);
        if self.watermark.is_none_or(|w| candidate > w) {
            self.watermark = Some(candidate);
        }
        if let Some(wm) = self.watermark {
            let target = wm - LATENESS;
            if self.last_tick.is_none_or(|t| target >= t + TICK_EVERY) {
                self.last_tick = Some(target);
                let ts = self.engine.tick(target);
                self.fold(ts);
            }
        }
        let ts = self.engine.on_fix(key, fix);
        self.fold(ts);
    }
}

/// The engine, configured from the scenario as the service configures it.
pub fn engine_for(file: &ScenarioFile) -> Engine {
    let s = file.validate().expect("a valid scenario");
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_rules(s.rules.clone());
    let mut areas = s.areas.clone();
    areas.sort_by(|a, b| a.id().cmp(b.id()));
    engine.set_areas(areas);
    let mut shifts = s.shifts.clone();
    shifts.sort_by(|a, b| a.id().cmp(b.id()));
    engine.set_shifts(shifts);
    engine.set_devices(
        s.devices
            .iter()
            .filter_map(|d| Some((DeviceKey::new(d.id.clone()).ok()?, d.kind)))
            .collect(),
    );
    engine
        .set_assignments(s.assignments.clone())
        .expect("the scenario's assignments");
    engine
}

/// Runs a plan through the service's evaluation.
#[expect(
    clippy::too_many_lines,
    reason = "the service's evaluation replayed step by step (devices, engine, fixes in order, alerts out) as the writer does it; the steps share their state"
)]
pub fn evaluate(file: &ScenarioFile, plan: &Plan) -> Outcome {
    let owntracks: HashMap<(String, String), String> = file
        .devices
        .iter()
        .filter_map(|d| {
            let (u, dev) = d.owntracks_id.as_deref()?.split_once('/')?;
            Some(((u.to_owned(), dev.to_owned()), d.id.clone()))
        })
        .collect();
    let mut run = Run {
        engine: engine_for(file),
        watermark: None,
        last_tick: None,
        cases: Cases::default(),
        labels: Vec::new(),
        transitions: Vec::new(),
        route_alerts: Vec::new(),
    };
    let limits = Limits::default();
    let mut stored: HashSet<(String, DateTime<Utc>)> = HashSet::new();
    let mut fixes = 0;
    for m in &plan.messages {
        let (device, mut batch) = match decode(&m.topic, &m.payload, &limits, m.at) {
            Ok(Message::Fix { addr, fix }) => (addr.device.as_str().to_owned(), vec![fix]),
            Ok(Message::Backlog { addr, fixes, .. }) => (addr.device.as_str().to_owned(), fixes),
            Ok(Message::OwnTracks { user, device, fix }) => {
                let key = (user.as_str().to_owned(), device.as_str().to_owned());
                match owntracks.get(&key) {
                    Some(d) => (d.clone(), vec![fix]),
                    None => continue,
                }
            }
            _ => continue,
        };
        batch.sort_by_key(|f| f.ts);
        let Ok(key) = DeviceKey::new(device.clone()) else {
            continue;
        };
        for f in batch {
            if !stored.insert((device.clone(), f.ts)) {
                continue;
            }
            let row = store::writer::FixRow {
                device_id: 0,
                ts: f.ts,
                lat: f.lat,
                lon: f.lon,
                speed: f.speed.map(|x| x as f32),
                heading: f.heading.map(|x| x as f32),
                acc: f.acc.map(|x| x as f32),
                work: f.work,
                sos: f.sos,
                batt: f.batt.map(|x| x as f32),
                seq: f.seq,
                dist_m: None,
                dt_s: None,
                received_at: m.at,
            };
            run.on_fix(&key, &ingest::engine_fix(&row), m.at);
            fixes += 1;
        }
    }
    let alerts = run
        .cases
        .cases
        .iter()
        .zip(&run.labels)
        .map(|(c, (area, inst))| ObservedAlert {
            device: c.device.as_ref().map(|d| d.as_str().to_owned()),
            kind: c.kind,
            opened_at: c.opened_at,
            cleared_at: c.cleared_at,
            area_id: c
                .route
                .as_ref()
                .or(area.as_ref())
                .map(|a| a.as_str().to_owned()),
            shift_id: inst.as_ref().map(|i| i.shift_id.as_str().to_owned()),
            shift_date: inst.as_ref().map(|i| i.local_date as NaiveDate),
            reopen_count: c.reopened,
        })
        .collect();
    Outcome {
        alerts,
        transitions: run.transitions,
        route_alerts: run.route_alerts,
        fixes,
    }
}
