//! The scenario file: one org's areas, shifts, devices, assignments and rules,
//! in one JSON document (format `sweepwatch-scenario/1`). `sweepwatch import`
//! loads it, the simulator drives devices from it, and the API validates its
//! edits with the same functions.
//!
//! ```json
//! {
//!   "format": "sweepwatch-scenario/1",
//!   "org": {"id": "humen", "name": "Humen town", "timezone": "Asia/Shanghai"},
//!   "areas": {"type": "FeatureCollection", "features": [
//!     {"type": "Feature", "id": "route-001",
//!      "properties": {"kind": "route", "width_m": 8, "passes": 1, "name": "Humen Rd",
//!                     "district": "D1", "grid": "G1-1", "chief": "Chen Wei"},
//!      "geometry": {"type": "LineString", "coordinates": [[113.67, 22.81], [113.68, 22.81]]}}]},
//!   "shifts": [{"id": "day-sweep", "name": "Day sweep",
//!               "weekly": [{"days": ["Mon","Tue","Wed","Thu","Fri","Sat","Sun"], "start": "06:00:00", "end": "18:00:00"}],
//!               "extras": [], "days_off": ["2026-10-01"],
//!               "monthly": [{"day": {"rule": "last_weekday", "weekday": "Sat"}, "start": "20:00:00", "end": "23:00:00"}]}],
//!   "devices": [{"id": "sw-001", "kind": "sweeper", "label": "Sweeper 1", "owntracks_id": null}],
//!   "assignments": [{"device": "sw-001", "area": "route-001", "shift": "day-sweep",
//!                    "valid_from": "2026-01-01T00:00:00Z", "valid_to": null}],
//!   "rules": {"kinds": {}, "areas": {}, "devices": {}}
//! }
//! ```
//!
//! Validation collects every problem (with its place in the file) rather than
//! stopping at the first, so a user fixes a file in one round.

use crate::{
    Area, AreaId, Assignment, DatedWindow, DeviceKey, DeviceKind, Engine, EngineConfig,
    MonthlyExtra, RuleConfig, Shift, ShiftId, WeeklyWindow,
};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The format tag this version reads.
pub const FORMAT: &str = "sweepwatch-scenario/1";

/// The file as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Must be [`FORMAT`].
    pub format: String,
    /// The org this file configures.
    pub org: OrgSpec,
    /// Areas as a GeoJSON FeatureCollection (see [`Area::from_geojson_feature`]).
    pub areas: geojson::FeatureCollection,
    /// Shift calendars, in the org's time zone.
    #[serde(default)]
    pub shifts: Vec<ShiftSpec>,
    /// Devices.
    #[serde(default)]
    pub devices: Vec<DeviceSpec>,
    /// Who works which area in which shift.
    #[serde(default)]
    pub assignments: Vec<AssignmentSpec>,
    /// Rule overrides (per kind, area, device); defaults from DESIGN.md otherwise.
    #[serde(default)]
    pub rules: RuleConfig,
}

/// The org (town or tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSpec {
    /// `[a-z0-9-]{1,32}`: the `{org}` of MQTT topics.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// IANA time zone of its shifts and daily summaries.
    #[serde(default = "default_tz")]
    pub timezone: String,
}

fn default_tz() -> String {
    crate::DEFAULT_TIME_ZONE.name().into()
}

/// A shift as written: windows in the org's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShiftSpec {
    /// Shift id.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Weekly windows.
    #[serde(default)]
    pub weekly: Vec<WeeklyWindow>,
    /// Dated extra windows.
    #[serde(default)]
    pub extras: Vec<DatedWindow>,
    /// Local dates with no weekly or monthly instance.
    #[serde(default)]
    pub days_off: Vec<NaiveDate>,
    /// Monthly recurring extras (the clean-city day).
    #[serde(default)]
    pub monthly: Vec<MonthlyExtra>,
}

/// A device as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// `[A-Za-z0-9_.-]{1,64}`: the `{device}` of MQTT topics.
    pub id: String,
    /// `sweeper`, `washer`, `collector`, `worker` or `unknown`.
    pub kind: DeviceKind,
    /// Display label.
    #[serde(default)]
    pub label: Option<String>,
    /// `user/device` of an OwnTracks phone that reports for this device.
    #[serde(default)]
    pub owntracks_id: Option<String>,
}

/// An assignment as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// Device id.
    pub device: String,
    /// Area id.
    pub area: String,
    /// Shift id.
    pub shift: String,
    /// Valid from (default: the start of time).
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// Valid until, exclusive (default: open-ended).
    #[serde(default)]
    pub valid_to: Option<DateTime<Utc>>,
}

/// A scenario that passed validation: domain values ready for an [`Engine`].
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The org.
    pub org: OrgSpec,
    /// Its time zone, parsed.
    pub tz: Tz,
    /// Areas.
    pub areas: Vec<Area>,
    /// Shifts.
    pub shifts: Vec<Shift>,
    /// Devices with their kinds (and the file's labels and OwnTracks ids).
    pub devices: Vec<DeviceSpec>,
    /// Assignments.
    pub assignments: Vec<Assignment>,
    /// Rules.
    pub rules: RuleConfig,
}

/// Every problem found in a scenario, each with its place (`areas[3] route-x: ...`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} problem(s) in the scenario:\n  {}", .0.len(), .0.join("\n  "))]
pub struct ScenarioErrors(pub Vec<String>);

/// Whether `s` is a valid org id (`[a-z0-9-]{1,32}`).
pub fn is_org_id(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `s` is a valid device id (`[A-Za-z0-9_.-]{1,64}`).
pub fn is_device_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The start of time for assignments without `valid_from`.
fn beginning() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()
}

impl ScenarioFile {
    /// Parses a scenario from JSON text.
    pub fn from_json(text: &str) -> Result<Self, ScenarioErrors> {
        serde_json::from_str(text)
            .map_err(|e| ScenarioErrors(vec![format!("not a scenario file: {e}")]))
    }

    /// Validates everything and builds the domain values.
    pub fn validate(&self) -> Result<Scenario, ScenarioErrors> {
        let mut errs = Vec::new();
        if self.format != FORMAT {
            errs.push(format!(
                "format: expected {FORMAT:?}, got {:?}",
                self.format
            ));
        }
        if !is_org_id(&self.org.id) {
            errs.push(format!(
                "org.id {:?}: must match [a-z0-9-]{{1,32}}",
                self.org.id
            ));
        }
        // On an unknown zone the rest is still checked (in the default zone),
        // so that one answer lists every error.
        let tz: Tz = crate::org_time_zone(&self.org.id, &self.org.timezone).unwrap_or_else(|e| {
            errs.push(format!("org.timezone: {e}"));
            crate::DEFAULT_TIME_ZONE
        });
        let areas = self.areas(&mut errs);
        let shifts = self.shifts(tz, &mut errs);
        let devices = self.devices(&mut errs);
        let assignments = self.assignments(&mut errs);
        if errs.is_empty() {
            // The engine checks references and ranges the same way it will at run time.
            let mut engine = Engine::new(EngineConfig {
                tz,
                rules: self.rules.clone(),
            });
            engine.set_areas(areas.clone());
            engine.set_shifts(shifts.clone());
            if let Err(e) = engine.set_assignments(assignments.clone()) {
                errs.push(format!("assignments: {e}"));
            }
            let known: HashSet<&str> = self.devices.iter().map(|d| d.id.as_str()).collect();
            for (i, a) in self.assignments.iter().enumerate() {
                if !known.contains(a.device.as_str()) {
                    errs.push(format!("assignments[{i}]: unknown device {:?}", a.device));
                }
            }
        }
        if !errs.is_empty() {
            return Err(ScenarioErrors(errs));
        }
        Ok(Scenario {
            org: self.org.clone(),
            tz,
            areas,
            shifts,
            devices,
            assignments,
            rules: self.rules.clone(),
        })
    }

    fn areas(&self, errs: &mut Vec<String>) -> Vec<Area> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, f) in self.areas.features.iter().enumerate() {
            match Area::from_geojson_feature(f) {
                Ok(a) if !seen.insert(a.id().clone()) => {
                    errs.push(format!("areas[{i}] {}: duplicate id", a.id()));
                }
                Ok(a) => out.push(a),
                Err(e) => errs.push(format!("areas[{i}]: {e}")),
            }
        }
        out
    }

    fn shifts(&self, tz: Tz, errs: &mut Vec<String>) -> Vec<Shift> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, s) in self.shifts.iter().enumerate() {
            match shift_from_spec(s, tz) {
                Ok(shift) if !seen.insert(s.id.clone()) => {
                    errs.push(format!("shifts[{i}] {}: duplicate id", shift.id()));
                }
                Ok(shift) => out.push(shift),
                Err(e) => errs.push(format!("shifts[{i}] {}: {e}", s.id)),
            }
        }
        out
    }

    fn devices(&self, errs: &mut Vec<String>) -> Vec<DeviceSpec> {
        let mut seen = HashSet::new();
        for (i, d) in self.devices.iter().enumerate() {
            if !is_device_id(&d.id) {
                errs.push(format!(
                    "devices[{i}] {:?}: id must match [A-Za-z0-9_.-]{{1,64}}",
                    d.id
                ));
            } else if !seen.insert(d.id.as_str()) {
                errs.push(format!("devices[{i}] {}: duplicate id", d.id));
            }
            if let Some(ot) = &d.owntracks_id {
                let ok = ot
                    .split_once('/')
                    .is_some_and(|(u, dev)| is_device_id(u) && is_device_id(dev));
                if !ok {
                    errs.push(format!(
                        "devices[{i}] {}: owntracks_id {ot:?} must be user/device",
                        d.id
                    ));
                }
            }
        }
        self.devices.clone()
    }

    fn assignments(&self, errs: &mut Vec<String>) -> Vec<Assignment> {
        let mut out = Vec::new();
        for (i, a) in self.assignments.iter().enumerate() {
            let built = (|| -> Result<Assignment, crate::GeofenceError> {
                Ok(Assignment {
                    device: DeviceKey::new(a.device.clone())?,
                    area: AreaId::new(a.area.clone())?,
                    shift: ShiftId::new(a.shift.clone())?,
                    valid_from: a.valid_from.unwrap_or_else(beginning),
                    valid_to: a.valid_to,
                })
            })();
            match built {
                Ok(x) => out.push(x),
                Err(e) => errs.push(format!("assignments[{i}]: {e}")),
            }
        }
        out
    }
}

/// Builds a [`Shift`] from its written form, with the same checks as the constructors.
pub fn shift_from_spec(s: &ShiftSpec, tz: Tz) -> Result<Shift, crate::GeofenceError> {
    let name = if s.name.is_empty() {
        s.id.clone()
    } else {
        s.name.clone()
    };
    let mut shift = Shift::new(ShiftId::new(s.id.clone())?, name, tz);
    if s.weekly.is_empty() && s.extras.is_empty() && s.monthly.is_empty() {
        return Err(crate::GeofenceError::InvalidShift {
            id: s.id.clone(),
            reason: "a shift needs at least one weekly, extra or monthly window".into(),
        });
    }
    for w in &s.weekly {
        shift = shift.with_weekly(w.clone())?;
    }
    for w in &s.extras {
        shift = shift.with_extra(w.clone());
    }
    for d in &s.days_off {
        shift = shift.with_day_off(*d);
    }
    for m in &s.monthly {
        shift = shift.with_monthly(m.clone())?;
    }
    Ok(shift)
}
