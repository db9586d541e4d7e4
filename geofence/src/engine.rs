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
use crate::ids::{AreaId, DeviceKey, ShiftId};
use crate::intervals::MaxMap;
use crate::rules_config::RuleConfig;
use crate::shift::{Shift, ShiftInstanceKey};
use crate::spatial::AreaIndex;
use crate::summary::DailySummary;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

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
            tz: chrono_tz::Asia::Shanghai,
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

impl Assignment {
    pub(crate) fn valid_at(&self, t_ms: i64) -> bool {
        self.valid_from.timestamp_millis() <= t_ms
            && self.valid_to.is_none_or(|e| t_ms < e.timestamp_millis())
    }
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
    /// Estimated bytes of coverage state (cells and last-served maps).
    pub coverage_bytes: usize,
}

/// Compact key of a coverage cell: (route index, shift index, local date).
pub(crate) type CellKey = (u32, u32, NaiveDate);

/// The geofence engine of one org. See the crate docs.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) index: AreaIndex,
    pub(crate) calendars: Vec<Calendar>,
    pub(crate) shift_ids: HashMap<ShiftId, u32>,
    pub(crate) assignments: Vec<Assignment>,
    /// Per assignment: (area index, shift index) when both exist.
    pub(crate) resolved: Vec<Option<(u32, u32)>>,
    /// Per route index: assignments naming it.
    pub(crate) route_assignments: HashMap<u32, Vec<u32>>,
    pub(crate) kinds: HashMap<DeviceKey, DeviceKind>,
    pub(crate) dev_ids: HashMap<DeviceKey, u32>,
    pub(crate) dev_keys: Vec<DeviceKey>,
    pub(crate) devices: Vec<DeviceState>,
    pub(crate) cells: HashMap<u32, Cell>,
    pub(crate) cell_index: HashMap<CellKey, u32>,
    pub(crate) cell_by_key: HashMap<(AreaId, ShiftInstanceKey), u32>,
    pub(crate) next_cell: u32,
    pub(crate) served: HashMap<AreaId, MaxMap>,
    pub(crate) dirty_cells: HashSet<u32>,
    pub(crate) summaries: HashMap<(u32, NaiveDate), DailySummary>,
    pub(crate) dirty_summaries: HashSet<(u32, NaiveDate)>,
    pub(crate) scratch: Vec<(f64, f64)>,
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
            route_assignments: HashMap::new(),
            kinds: HashMap::new(),
            dev_ids: HashMap::new(),
            dev_keys: Vec::new(),
            devices: Vec::new(),
            cells: HashMap::new(),
            cell_index: HashMap::new(),
            cell_by_key: HashMap::new(),
            next_cell: 0,
            served: HashMap::new(),
            dirty_cells: HashSet::new(),
            summaries: HashMap::new(),
            dirty_summaries: HashSet::new(),
            scratch: Vec::new(),
        }
    }

    /// Replace the rule configuration.
    pub fn set_rules(&mut self, rules: RuleConfig) {
        self.config.rules = rules;
    }

    /// Replace all areas. Coverage of routes that vanished or changed length is dropped.
    pub fn set_areas(&mut self, areas: Vec<Area>) {
        self.index = AreaIndex::build(areas);
        let index = &self.index;
        let keep = |c: &Cell| {
            index
                .by_id
                .get(&c.route)
                .and_then(|&i| index.areas[i as usize].route())
                .is_some_and(|r| (r.total() - c.total_m).abs() < 1e-6)
        };
        self.cells.retain(|_, c| keep(c));
        self.served.retain(|id, _| index.by_id.contains_key(id));
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
        self.kinds = devices.into_iter().collect();
        for (i, key) in self.dev_keys.iter().enumerate() {
            self.devices[i].kind = self.kinds.get(key).copied().unwrap_or(DeviceKind::Unknown);
        }
        let keys: Vec<DeviceKey> = self.kinds.keys().cloned().collect();
        for k in keys {
            self.device_index(&k);
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
                Some((
                    *self.index.by_id.get(&a.area)?,
                    *self.shift_ids.get(&a.shift)?,
                ))
            })
            .collect();
        self.route_assignments.clear();
        for d in &mut self.devices {
            d.assignments.clear();
        }
        for (i, a) in self.assignments.iter().enumerate() {
            let Some((area, _)) = self.resolved[i] else {
                continue;
            };
            if let Some(&d) = self.dev_ids.get(&a.device) {
                self.devices[d as usize].assignments.push(i as u32);
            }
            if self.index.areas[area as usize].route().is_some() {
                self.route_assignments
                    .entry(area)
                    .or_default()
                    .push(i as u32);
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
        let kind = self.kinds.get(key).copied().unwrap_or(DeviceKind::Unknown);
        let mut st = DeviceState::new(kind);
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
            .sum();
        let coverage_bytes = self.cells.values().map(Cell::heap_bytes).sum::<usize>()
            + self.served.values().map(|m| m.len() * 48).sum::<usize>();
        MemoryReport {
            devices: self.devices.len(),
            device_state_bytes,
            coverage_cells: self.cells.len(),
            coverage_bytes,
        }
    }
}
