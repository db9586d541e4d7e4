//! The engines of all orgs, as the writer drives them: fixes in arrival order,
//! the org's event-time clock, and what to store.
//!
//! **Event time.** Each org has a watermark: the newest fix time seen in the
//! org, capped at the time the fix was received (a device whose clock runs
//! ahead cannot drag the org's clock forward). Timers (offline, late start,
//! end of shift) run at `watermark - lateness`, once per second of event time,
//! *before* the fix that advanced it is evaluated. Processing is therefore a
//! pure function of the sequence of (fix, received_at): a shift replayed at 60x
//! with past timestamps gives exactly the alerts and coverage it gives at real
//! speed, and a restart can rebuild the state by replaying stored fixes.
//!
//! **Silence.** When every device of an org goes quiet, no fix advances its
//! watermark. For an org whose fixes are live (received within two minutes of
//! their timestamps), [`EngineHost::tick_wall`] also advances its timers with
//! the wall clock, so an org-wide outage still raises `offline`. Replays (fixes
//! far in the past) run on event time alone.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use geofence::windows::{COVERAGE_FINAL_AFTER, LIVE_WITHIN};
use geofence::{
    AlertTransition, AreaId, Change, DeviceKey, Engine, EngineConfig, RouteAlert, Shift, ShiftId,
    ShiftInstanceKey,
};
use serde::{Deserialize, Serialize};
use store::effects::{AlertChange, Checkpoint, CoverageRow, DailyRow, Effects};
use store::orgconfig::OrgConfig;
use tracing::warn;

/// How far behind the watermark timers run, so a fix a few seconds late
/// (network, broker) does not flap an alert open and shut.
pub const LATENESS: TimeDelta = TimeDelta::seconds(10);
/// Timers run at most once per this much event time.
const TICK_EVERY: TimeDelta = TimeDelta::seconds(1);
/// How often (org clock) finished coverage is looked for.
const FINALIZE_EVERY: TimeDelta = TimeDelta::minutes(1);

struct AreaMeta {
    district: Option<String>,
    grid: Option<String>,
    chief: Option<String>,
}

struct OrgEngine {
    engine: Engine,
    tz: chrono_tz::Tz,
    shifts: HashMap<ShiftId, Shift>,
    areas: HashMap<AreaId, AreaMeta>,
    watermark: Option<DateTime<Utc>>,
    last_tick: Option<DateTime<Utc>>,
    last_finalize: Option<DateTime<Utc>>,
    live: bool,
}

impl OrgEngine {
    fn new() -> Self {
        Self {
            engine: Engine::new(EngineConfig::default()),
            tz: geofence::DEFAULT_TIME_ZONE,
            shifts: HashMap::new(),
            areas: HashMap::new(),
            watermark: None,
            last_tick: None,
            last_finalize: None,
            live: false,
        }
    }
}

/// A device's checkpoint: its rule state and its recent daily summaries.
#[derive(Serialize, Deserialize)]
pub(crate) struct DeviceCheckpoint {
    pub state: geofence::DeviceSnapshot,
    pub daily: Vec<(NaiveDate, geofence::DailySummary)>,
}

/// First byte of every encoded snapshot; bump when the encoding changes (an
/// unknown version is skipped on restore, and the replay rebuilds the state).
const SNAPSHOT_VERSION: u8 = 1;

/// Encodes a snapshot: a version byte, then postcard (compact, not self-describing).
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![SNAPSHOT_VERSION];
    match postcard::to_stdvec(value) {
        Ok(body) => out.extend(body),
        Err(e) => warn!(error = %e, "could not encode a snapshot"),
    }
    out
}

/// Decodes what [`encode`] wrote.
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&SNAPSHOT_VERSION, body)) => postcard::from_bytes(body).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!(
            "snapshot encoding version {v} is not {SNAPSHOT_VERSION}"
        )),
        None => Err("empty snapshot".into()),
    }
}

#[derive(Default)]
pub struct EngineHost {
    /// The orgs this instance serves; empty means all (see DESIGN.md, Scaling out).
    serves: HashSet<String>,
    orgs: HashMap<String, OrgEngine>,
    keys: HashMap<i32, (String, DeviceKey)>,
    ids: HashMap<(String, DeviceKey), i32>,
    dirty_devices: HashSet<i32>,
    dirty_coverage: HashSet<(String, AreaId, ShiftInstanceKey)>,
    received_upto: Option<DateTime<Utc>>,
}

impl EngineHost {
    /// A host for these orgs (empty: all).
    pub fn serving(orgs: &[String]) -> Self {
        Self {
            serves: orgs.iter().cloned().collect(),
            ..Self::default()
        }
    }

    /// Whether this instance evaluates the org's devices.
    pub fn serves(&self, org: &str) -> bool {
        self.serves.is_empty() || self.serves.contains(org)
    }

    /// Installs (or replaces) an org's configuration, keeping device state.
    /// Orgs another instance serves are ignored.
    pub fn configure(&mut self, cfg: OrgConfig) {
        if !self.serves(&cfg.org) {
            return;
        }
        let org = self
            .orgs
            .entry(cfg.org.clone())
            .or_insert_with(OrgEngine::new);
        org.tz = cfg.tz;
        org.engine.set_time_zone(cfg.tz);
        org.engine.set_rules(cfg.rules);
        org.areas = cfg
            .areas
            .iter()
            .map(|a| {
                let meta = AreaMeta {
                    district: a.district.clone(),
                    grid: a.grid.clone(),
                    chief: a.chief.clone(),
                };
                (a.id().clone(), meta)
            })
            .collect();
        org.engine.set_areas(cfg.areas);
        org.shifts = cfg
            .shifts
            .iter()
            .map(|s| (s.id().clone(), s.clone()))
            .collect();
        org.engine.set_shifts(cfg.shifts);
        let mut devices = Vec::new();
        for (name, (id, kind)) in &cfg.devices {
            let Ok(key) = DeviceKey::new(name.clone()) else {
                continue;
            };
            self.keys.insert(*id, (cfg.org.clone(), key.clone()));
            self.ids.insert((cfg.org.clone(), key.clone()), *id);
            devices.push((key, *kind));
        }
        org.engine.set_devices(devices);
        if let Err(e) = org.engine.set_assignments(cfg.assignments) {
            warn!(org = cfg.org, error = %e, "assignments refused by the engine; the org runs without them");
        }
    }

    /// Makes a device known (auto-registered devices, first seen by the writer).
    pub fn register(&mut self, id: i32, org: &str, name: &str) {
        if self.keys.contains_key(&id) {
            return;
        }
        if let Ok(key) = DeviceKey::new(name) {
            self.keys.insert(id, (org.to_owned(), key.clone()));
            self.ids.insert((org.to_owned(), key), id);
        }
    }

    /// Evaluates one stored fix. `received_at` is the clock of its arrival.
    pub fn on_fix(
        &mut self,
        device_id: i32,
        fix: &geofence::Fix,
        received_at: DateTime<Utc>,
        out: &mut Effects,
    ) {
        // Borrowed, not cloned: this runs for every stored fix.
        let Some((org_id, key)) = self.keys.get(&device_id) else {
            return;
        };
        if !self.orgs.contains_key(org_id) {
            self.orgs.insert(org_id.clone(), OrgEngine::new());
        }
        let org = self.orgs.get_mut(org_id).expect("inserted above");
        let candidate = fix.ts.min(received_at);
        if org.watermark.is_none_or(|w| candidate > w) {
            org.watermark = Some(candidate);
            org.live = received_at - fix.ts < LIVE_WITHIN;
        }
        if let Some(wm) = org.watermark {
            let target = wm - LATENESS;
            if org.last_tick.is_none_or(|t| target >= t + TICK_EVERY) {
                org.last_tick = Some(target);
                let ts = org.engine.tick(target);
                let routes = org.engine.drain_route_alerts();
                self.emit(org_id, ts, out);
                self.emit_routes(org_id, routes, out);
            }
        }
        let org = self.orgs.get_mut(org_id).expect("inserted above");
        let ts = org.engine.on_fix(key, fix);
        self.emit(org_id, ts, out);
        self.dirty_devices.insert(device_id);
        self.received_upto = self.received_upto.max(Some(received_at));
    }

    /// Advances the timers of live orgs with the wall clock (see the module docs).
    pub fn tick_wall(&mut self, now: DateTime<Utc>, out: &mut Effects) {
        let target = now - LATENESS;
        let due: Vec<String> = self
            .orgs
            .iter()
            .filter(|(_, o)| o.live && o.last_tick.is_none_or(|t| target >= t + TICK_EVERY))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let org = self.orgs.get_mut(&id).expect("listed above");
            org.last_tick = Some(target);
            let ts = org.engine.tick(target);
            let routes = org.engine.drain_route_alerts();
            self.emit(&id, ts, out);
            self.emit_routes(&id, routes, out);
        }
    }

    /// Route alerts (`coverage_at_risk`), routed to the route's grid chief.
    fn emit_routes(&self, org_id: &str, alerts: Vec<RouteAlert>, out: &mut Effects) {
        let Some(org) = self.orgs.get(org_id) else {
            return;
        };
        for r in alerts {
            let meta = org.areas.get(&r.route);
            out.alerts.push(AlertChange {
                org: org_id.to_owned(),
                device_id: None,
                kind: r.kind.as_str(),
                open: r.change == Change::Open,
                recurrence: false,
                at: r.at,
                lat: r.lat,
                lon: r.lon,
                area_id: Some(r.route.as_str().to_owned()),
                district: meta.and_then(|m| m.district.clone()),
                grid: meta.and_then(|m| m.grid.clone()),
                chief: meta.and_then(|m| m.chief.clone()),
                shift_id: Some(r.shift_instance.shift_id.as_str().to_owned()),
                shift_date: Some(r.shift_instance.local_date),
                message: r.message,
                covered_fraction: Some(r.fraction),
            });
        }
    }

    fn emit(&self, org_id: &str, transitions: Vec<AlertTransition>, out: &mut Effects) {
        let Some(org) = self.orgs.get(org_id) else {
            return;
        };
        for t in transitions {
            let Some(&device_id) = self.ids.get(&(org_id.to_owned(), t.device.clone())) else {
                continue;
            };
            let meta = t.area.as_ref().and_then(|a| org.areas.get(a));
            out.alerts.push(AlertChange {
                org: org_id.to_owned(),
                device_id: Some(device_id),
                kind: t.kind.as_str(),
                open: t.change == Change::Open,
                recurrence: t.recurrence,
                at: t.at,
                lat: t.lat,
                lon: t.lon,
                area_id: t.area.as_ref().map(|a| a.as_str().to_owned()),
                district: meta.and_then(|m| m.district.clone()),
                grid: meta.and_then(|m| m.grid.clone()),
                chief: meta.and_then(|m| m.chief.clone()),
                shift_id: t
                    .shift_instance
                    .as_ref()
                    .map(|s| s.shift_id.as_str().to_owned()),
                shift_date: t.shift_instance.as_ref().map(|s| s.local_date),
                message: t.message,
                covered_fraction: None,
            });
        }
    }

    /// Moves what changed in coverage and daily summaries into `out`.
    pub fn collect(&mut self, out: &mut Effects) {
        for (org_id, org) in &mut self.orgs {
            for (route, instance) in org.engine.drain_dirty_coverage() {
                if let Some(r) = org.engine.coverage(&route, &instance) {
                    out.coverage.push(CoverageRow {
                        org: org_id.clone(),
                        route_id: route.as_str().to_owned(),
                        shift_id: instance.shift.as_str().to_owned(),
                        shift_date: instance.local_date,
                        total_m: r.total_m,
                        covered_m: r.covered_m,
                        complete_m: r.complete_m,
                        fraction: r.covered_fraction,
                        report: r,
                    });
                }
                self.dirty_coverage
                    .insert((org_id.clone(), route, instance));
            }
            // Everything changed is in `out` now: finished instances can go.
            if let Some(wm) = org.watermark
                && org.last_finalize.is_none_or(|t| wm - t >= FINALIZE_EVERY)
            {
                org.last_finalize = Some(wm);
                org.engine
                    .drop_coverage_ended_before(wm - COVERAGE_FINAL_AFTER);
            }
            for (key, date, s) in org.engine.drain_dirty_summaries() {
                let Some(&device_id) = self.ids.get(&(org_id.clone(), key)) else {
                    continue;
                };
                out.daily.push(DailyRow {
                    device_id,
                    date,
                    distance_m: s.distance_m,
                    working_s: s.working_s,
                    transit_s: s.transit_s,
                    idle_s: s.idle_s,
                    deadhead_ratio: s.deadhead_ratio,
                });
            }
        }
    }

    /// The state changed since the last checkpoint.
    pub fn checkpoint(&mut self) -> Checkpoint {
        let mut cp = Checkpoint {
            received_upto: self.received_upto,
            ..Checkpoint::default()
        };
        cp.orgs = self
            .orgs
            .iter()
            .map(|(id, o)| (id.clone(), o.watermark))
            .collect();
        for id in self.dirty_devices.drain() {
            let Some((org_id, key)) = self.keys.get(&id) else {
                continue;
            };
            let Some(org) = self.orgs.get(org_id) else {
                continue;
            };
            let Some(state) = org.engine.snapshot_device(key) else {
                continue;
            };
            let today = org.watermark.map(|w| w.with_timezone(&org.tz).date_naive());
            let daily = today
                .into_iter()
                .flat_map(|d| [d.pred_opt(), Some(d)])
                .flatten()
                .filter_map(|d| org.engine.daily_summary(key, d).map(|s| (d, s)))
                .collect();
            let snap = DeviceCheckpoint { state, daily };
            cp.devices.push((id, encode(&snap)));
        }
        for (org_id, route, instance) in self.dirty_coverage.drain() {
            let Some(org) = self.orgs.get(&org_id) else {
                continue;
            };
            if let Some(snap) = org.engine.coverage_snapshot(&route, &instance) {
                cp.coverage.push((
                    org_id.clone(),
                    route.as_str().to_owned(),
                    instance.shift.as_str().to_owned(),
                    instance.local_date,
                    encode(&snap),
                ));
            }
        }
        cp
    }

    /// Restores a device from its checkpoint.
    pub(crate) fn restore_device(&mut self, device_id: i32, cp: DeviceCheckpoint) {
        let Some((org_id, key)) = self.keys.get(&device_id).cloned() else {
            return;
        };
        let org = self.orgs.entry(org_id).or_insert_with(OrgEngine::new);
        org.engine.restore_device(&key, cp.state);
        for (date, s) in cp.daily {
            org.engine.restore_summary(&key, date, s);
        }
    }

    pub(crate) fn restore_coverage(&mut self, org_id: &str, snap: geofence::CoverageSnapshot) {
        if let Some(org) = self.orgs.get_mut(org_id)
            && let Err(e) = org.engine.restore_coverage(snap)
        {
            warn!(org = org_id, error = %e, "coverage checkpoint not restored");
        }
    }

    pub(crate) fn restore_clock(
        &mut self,
        org_id: &str,
        watermark: Option<DateTime<Utc>>,
        upto: DateTime<Utc>,
    ) {
        let org = self
            .orgs
            .entry(org_id.to_owned())
            .or_insert_with(OrgEngine::new);
        org.watermark = watermark;
        org.last_tick = watermark.map(|w| w - LATENESS);
        if let Some(wm) = watermark {
            // Snapshots of instances already final are not restored.
            org.engine
                .drop_coverage_ended_before(wm - COVERAGE_FINAL_AFTER);
            org.last_finalize = Some(wm);
        }
        self.received_upto = self.received_upto.max(Some(upto));
    }

    /// Devices with engine state and the engines' estimated bytes (device
    /// state, coverage cells, last-served maps: `Engine::memory_report`), over
    /// every org. One pass over the devices: a millisecond or so for 100,000.
    pub fn memory(&self) -> (usize, usize) {
        self.orgs.values().fold((0, 0), |(n, bytes), o| {
            let m = o.engine.memory_report();
            (
                n + m.devices,
                bytes + m.device_state_bytes + m.coverage_bytes + m.last_served_bytes,
            )
        })
    }

    /// The engine of an org, for read-only views (the API's live coverage).
    pub fn engine(&self, org: &str) -> Option<&Engine> {
        self.orgs.get(org).map(|o| &o.engine)
    }
}

/// A stored fix as the engine sees it. Live evaluation and replay both go
/// through this, from the stored (rounded) values, so they agree exactly.
pub fn engine_fix(r: &store::FixRow) -> geofence::Fix {
    geofence::Fix {
        ts: r.ts,
        lat: r.lat,
        lon: r.lon,
        speed_kmh: r.speed.map(f64::from),
        heading: r.heading.map(f64::from),
        acc_m: r.acc.map(f64::from),
        work: r.work,
        sos: r.sos,
        batt: r.batt.map(f64::from),
    }
}
