//! The engine of one org: areas, shifts, devices and assignments as loaded
//! configuration, per-device state, coverage cells and daily summaries.
//! Inputs: `on_fix` and `tick`; outputs: alert transitions, coverage reports,
//! daily summaries, and dirty sets for the pipeline to persist.

use crate::area::Area;
use crate::calendar::Calendar;
use crate::coverage::Cell;
use crate::device::DeviceState;
use crate::error::GeofenceError;
use crate::fix::DeviceKind;
use crate::fxhash::{FxMap, FxSet};
use crate::ids::{AreaId, DeviceKey, ShiftId};
use crate::intervals::MaxMap;
use crate::rules_config::RuleConfig;
use crate::shift::{Shift, ShiftInstanceKey};
use crate::spatial::AreaIndex;
use crate::summary::DailySummary;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Org-level configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The org's time zone (daily summaries are per local date in it).
    pub tz: Tz,
    /// Rule defaults and overrides.
    pub rules: RuleConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            tz: crate::DEFAULT_TIME_ZONE,
            rules: RuleConfig::default(),
        }
    }
}

/// A device works an area in a shift over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The device.
    pub device: DeviceKey,
    /// The area.
    pub area: AreaId,
    /// The shift.
    pub shift: ShiftId,
    /// Valid from (inclusive).
    pub valid_from: DateTime<Utc>,
    /// Valid until (exclusive); open-ended if `None`.
    pub valid_to: Option<DateTime<Utc>>,
}

/// Sizes of the engine's state, for memory reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// Devices with state.
    pub devices: usize,
    /// Estimated bytes of per-device state (struct, buffers, index entries).
    pub device_state_bytes: usize,
    /// Coverage cells held.
    pub coverage_cells: usize,
    /// Estimated bytes of coverage cells.
    pub coverage_bytes: usize,
    /// Estimated bytes of the per-route last-served maps.
    pub last_served_bytes: usize,
}

/// An assignment resolved to table indices, validity in epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Link {
    pub area: u32,
    pub shift: u32,
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Link {
    #[inline]
    pub fn valid_at(&self, t_ms: i64) -> bool {
        self.from_ms <= t_ms && t_ms < self.to_ms
    }
}

/// Compact key of a coverage cell: (route index, shift index, local date).
pub(crate) type CellKey = (u32, u32, NaiveDate);

/// Reused buffers of the hot path (no allocation per fix).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub spans: Vec<(f64, f64)>,
    pub routes: Vec<u32>,
    pub cells: Vec<u32>,
    pub touched: Vec<u32>,
    /// The areas of a device's running assignments.
    pub active: Vec<u32>,
    /// The last `local_distance_m` asked for by the hot path: its inputs'
    /// bits and its result. An in-order fix asks for the same segment's
    /// length twice, for coverage and for the daily summary.
    pub last_distance: Option<([u64; 4], f64)>,
}

impl Scratch {
    /// `local_distance_m(lon1, lat1, lon2, lat2)`, the last one remembered.
    #[inline]
    pub fn distance_m(&mut self, lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
        let key = [lon1, lat1, lon2, lat2].map(f64::to_bits);
        if let Some((k, d)) = self.last_distance
            && k == key
        {
            return d;
        }
        let d = crate::geodesy::local_distance_m(lon1, lat1, lon2, lat2);
        self.last_distance = Some((key, d));
        d
    }
}

/// The local date of the org's time zone for instants in `[lo_ms, hi_ms)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DayCache {
    pub lo_ms: i64,
    pub hi_ms: i64,
    pub date: NaiveDate,
}

/// The geofence engine of one org. See the crate docs.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) index: AreaIndex,
    pub(crate) calendars: Vec<Calendar>,
    pub(crate) shift_ids: HashMap<ShiftId, u32>,
    pub(crate) assignments: Vec<Assignment>,
    /// Per assignment: its links to the area and shift tables, when both exist.
    pub(crate) resolved: Vec<Option<Link>>,
    /// Per route index: the shifts it is assigned in, with validity (deduplicated).
    pub(crate) route_shifts: FxMap<u32, Vec<Link>>,
    pub(crate) dev_ids: FxMap<DeviceKey, u32>,
    pub(crate) dev_keys: Vec<DeviceKey>,
    pub(crate) devices: Vec<DeviceState>,
    pub(crate) cells: FxMap<u32, Cell>,
    pub(crate) cell_index: FxMap<CellKey, u32>,
    pub(crate) cell_by_key: HashMap<(AreaId, ShiftInstanceKey), u32>,
    pub(crate) next_cell: u32,
    /// The cells of the buffered fixes whose outgoing pass segment touched
    /// more than one (`device::MANY_CELLS`), by (device, fix time).
    pub(crate) many_cells: FxMap<(u32, i64), Box<[u32]>>,
    /// Coverage of shift instances that ended before this is final: their
    /// cells were dropped and late fixes no longer reopen them.
    pub(crate) coverage_final_before: Option<DateTime<Utc>>,
    /// Per area index (routes only are ever filled): when each stretch was last served.
    pub(crate) served: Vec<MaxMap>,
    pub(crate) dirty_cells: FxSet<u32>,
    /// Daily summaries by (device, local date), each with whether it changed
    /// since the last `drain_dirty_summaries` (one lookup per fix, not two).
    pub(crate) summaries: FxMap<(u32, NaiveDate), (DailySummary, bool)>,
    /// The keys whose changed flag was set since the last drain (a key may
    /// repeat after `drop_summaries_before`; the flag reports it once).
    pub(crate) dirty_summaries: Vec<(u32, NaiveDate)>,
    pub(crate) day: Option<DayCache>,
    pub(crate) scratch: Scratch,
    /// Metres between two areas (by index, smaller first), computed on demand.
    pub(crate) gaps: FxMap<(u32, u32), f32>,
    /// Route alerts raised by `tick`, waiting for `drain_route_alerts`.
    pub(crate) route_alerts: Vec<crate::alert::RouteAlert>,
    /// (route index, shift instance) whose `coverage_at_risk` was raised, and
    /// whether it is still open. Raised at most once per route and instance.
    pub(crate) at_risk: FxMap<(u32, crate::shift::ShiftInstanceKey), crate::engine_risk::Risk>,
}

impl Engine {
    /// An engine with no areas, shifts, devices or assignments.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            config,
            index: AreaIndex::default(),
            calendars: Vec::new(),
            shift_ids: HashMap::new(),
            assignments: Vec::new(),
            resolved: Vec::new(),
            route_shifts: FxMap::default(),
            dev_ids: FxMap::default(),
            dev_keys: Vec::new(),
            devices: Vec::new(),
            cells: FxMap::default(),
            cell_index: FxMap::default(),
            cell_by_key: HashMap::new(),
            next_cell: 0,
            many_cells: FxMap::default(),
            coverage_final_before: None,
            served: Vec::new(),
            dirty_cells: FxSet::default(),
            summaries: FxMap::default(),
            dirty_summaries: Vec::new(),
            day: None,
            scratch: Scratch::default(),
            gaps: FxMap::default(),
            route_alerts: Vec::new(),
            at_risk: FxMap::default(),
        }
    }

    /// Route alerts (`coverage_at_risk`) raised since the last call, in order.
    pub fn drain_route_alerts(&mut self) -> Vec<crate::alert::RouteAlert> {
        std::mem::take(&mut self.route_alerts)
    }

    /// Replace the rule configuration.
    pub fn set_rules(&mut self, rules: RuleConfig) {
        self.config.rules = rules;
    }

    /// Set the org's time zone (daily summaries are per local date in it).
    pub fn set_time_zone(&mut self, tz: Tz) {
        if tz != self.config.tz {
            self.config.tz = tz;
            self.day = None;
        }
    }

    /// Replace all areas. Coverage of routes that vanished or changed length is dropped.
    pub fn set_areas(&mut self, areas: Vec<Area>) {
        let mut old_served: HashMap<AreaId, MaxMap> = HashMap::new();
        for (i, m) in std::mem::take(&mut self.served).into_iter().enumerate() {
            if let Some(c) = self.index.areas.get(i) {
                old_served.insert(c.area.id().clone(), m);
            }
        }
        let old_len: HashMap<AreaId, f64> = self
            .index
            .areas
            .iter()
            .filter_map(|c| Some((c.area.id().clone(), c.route()?.total())))
            .collect();
        self.index = AreaIndex::build(areas);
        self.gaps.clear();
        let index = &self.index;
        let same_route = |id: &AreaId, total: f64| {
            index
                .by_id
                .get(id)
                .and_then(|&i| index.areas[i as usize].route())
                .is_some_and(|r| (r.total() - total).abs() < 1e-6)
        };
        self.cells.retain(|_, c| same_route(&c.route, c.total_m));
        self.served = index
            .areas
            .iter()
            .map(|c| {
                let id = c.area.id();
                match old_len.get(id) {
                    Some(&len) if same_route(id, len) => old_served.remove(id).unwrap_or_default(),
                    _ => MaxMap::default(),
                }
            })
            .collect();
        self.resolve();
    }

    /// Replace all shifts.
    pub fn set_shifts(&mut self, shifts: Vec<Shift>) {
        self.shift_ids.clear();
        self.calendars.clear();
        for s in shifts {
            match self.shift_ids.get(s.id()) {
                Some(&i) => self.calendars[i as usize] = Calendar::new(s),
                None => {
                    self.shift_ids
                        .insert(s.id().clone(), self.calendars.len() as u32);
                    self.calendars.push(Calendar::new(s));
                }
            }
        }
        self.resolve();
    }

    /// Replace the device registry (key and kind). Devices not listed keep their
    /// state but become `Unknown`.
    pub fn set_devices(&mut self, devices: Vec<(DeviceKey, DeviceKind)>) {
        // The registry is loaded whole: room for exactly its new devices, not
        // the up to twice as much that growing one push at a time leaves.
        let new = devices
            .iter()
            .filter(|(k, _)| !self.dev_ids.contains_key(k))
            .count();
        self.devices.reserve_exact(new);
        self.dev_keys.reserve_exact(new);
        self.dev_ids.reserve(new);
        let mut listed = vec![false; self.devices.len()];
        for (key, kind) in devices {
            let d = self.device_index(&key) as usize;
            self.devices[d].kind = kind;
            if d >= listed.len() {
                listed.resize(d + 1, false);
            }
            listed[d] = true;
        }
        for (d, st) in self.devices.iter_mut().enumerate() {
            if !listed.get(d).copied().unwrap_or(false) {
                st.kind = DeviceKind::Unknown;
            }
        }
    }

    /// Replace all assignments. Refuses (changing nothing) an assignment naming an
    /// unknown area or shift, or with `valid_to <= valid_from`.
    pub fn set_assignments(&mut self, assignments: Vec<Assignment>) -> Result<(), GeofenceError> {
        for a in &assignments {
            let err = |reason: &str| GeofenceError::InvalidAssignment {
                device: a.device.to_string(),
                area: a.area.to_string(),
                reason: reason.into(),
            };
            if !self.index.by_id.contains_key(&a.area) {
                return Err(err("unknown area"));
            }
            if !self.shift_ids.contains_key(&a.shift) {
                return Err(err("unknown shift"));
            }
            if a.valid_to.is_some_and(|e| e <= a.valid_from) {
                return Err(err("valid_to must be after valid_from"));
            }
        }
        self.assignments = assignments;
        for a in self.assignments.clone() {
            self.device_index(&a.device);
        }
        self.resolve();
        Ok(())
    }

    /// Re-link assignments, devices and coverage cells to the current tables.
    fn resolve(&mut self) {
        self.resolved = self
            .assignments
            .iter()
            .map(|a| {
                Some(Link {
                    area: *self.index.by_id.get(&a.area)?,
                    shift: *self.shift_ids.get(&a.shift)?,
                    from_ms: a.valid_from.timestamp_millis(),
                    to_ms: a.valid_to.map_or(i64::MAX, |t| t.timestamp_millis()),
                })
            })
            .collect();
        self.route_shifts.clear();
        for d in &mut self.devices {
            d.assignments.clear();
        }
        for (i, a) in self.assignments.iter().enumerate() {
            let Some(link) = self.resolved[i] else {
                continue;
            };
            if let Some(&d) = self.dev_ids.get(&a.device) {
                self.devices[d as usize].assignments.push(i as u32);
            }
            if self.index.areas[link.area as usize].route().is_some() {
                let shifts = self.route_shifts.entry(link.area).or_default();
                if !shifts.contains(&link) {
                    shifts.push(link);
                }
            }
        }
        self.cell_index.clear();
        self.cell_by_key.clear();
        for (&id, c) in &self.cells {
            self.cell_by_key
                .insert((c.route.clone(), c.key.clone()), id);
            if let (Some(&r), Some(&s)) = (
                self.index.by_id.get(&c.route),
                self.shift_ids.get(&c.key.shift),
            ) {
                self.cell_index.insert((r, s, c.key.local_date), id);
            }
        }
    }

    /// The state index of a device, creating its state (kind from the registry,
    /// else `Unknown`) if needed.
    pub(crate) fn device_index(&mut self, key: &DeviceKey) -> u32 {
        if let Some(&i) = self.dev_ids.get(key) {
            return i;
        }
        let i = self.devices.len() as u32;
        let mut st = DeviceState::new(DeviceKind::Unknown);
        for (ai, a) in self.assignments.iter().enumerate() {
            if &a.device == key && self.resolved.get(ai).is_some_and(Option::is_some) {
                st.assignments.push(ai as u32);
            }
        }
        self.devices.push(st);
        self.dev_keys.push(key.clone());
        self.dev_ids.insert(key.clone(), i);
        i
    }

    /// The areas loaded.
    pub fn areas(&self) -> impl Iterator<Item = &Area> {
        self.index.areas.iter().map(|c| &c.area)
    }

    /// Estimated memory held (see `docs/PERFORMANCE.md` for measured figures).
    pub fn memory_report(&self) -> MemoryReport {
        let per_key = |k: &DeviceKey| k.as_str().len() + 2 * std::mem::size_of::<DeviceKey>() + 16;
        let device_state_bytes = self
            .devices
            .iter()
            .zip(&self.dev_keys)
            .map(|(d, k)| std::mem::size_of::<DeviceState>() + d.heap_bytes() + per_key(k))
            .sum::<usize>()
            + self
                .many_cells
                .values()
                .map(|v| 32 + v.len() * 4)
                .sum::<usize>();
        let coverage_bytes = self.cells.values().map(Cell::heap_bytes).sum::<usize>();
        let last_served_bytes = self.served.iter().map(|m| m.len() * 48).sum::<usize>();
        MemoryReport {
            devices: self.devices.len(),
            device_state_bytes,
            coverage_cells: self.cells.len(),
            coverage_bytes,
            last_served_bytes,
        }
    }
}
