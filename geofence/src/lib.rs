//! # geofence — the sweepwatch domain core
//!
//! Decides, for every GPS fix of a sanitation device, where it is, whether it is
//! on shift, which alerts open or clear, and how much of each route has been
//! swept. Pure: no IO, no async, no clock — time is always a parameter.
//!
//! ## Parts and how data flows
//!
//! * **Configuration values** — [`Area`] (a route: polyline + corridor half-width;
//!   or a zone: polygons with holes), read from and written to GeoJSON features
//!   ([`Area::from_geojson_feature`]); [`Shift`] calendars in an IANA time zone
//!   with weekly windows, dated extras, days off and a monthly clean-city day,
//!   yielding [`ShiftInstance`]s; [`Assignment`]s of device ↔ area ↔ shift; and
//!   [`RuleConfig`] (per-kind defaults from DESIGN.md, per-area and per-device overrides).
//! * **[`Engine`]** — one per org. Load the configuration with `set_areas`,
//!   `set_shifts`, `set_devices`, `set_assignments`, `set_rules`. Feed it
//!   [`Engine::on_fix`] in per-device arrival order and [`Engine::tick`] with a
//!   watermark; both return [`AlertTransition`]s. Areas are compiled into an
//!   R-tree (degrees) plus per-route local metric frames ([`geodesy`]), so a
//!   fix is tested only against the areas near it.
//! * **Rules** — a per-device state machine (idle, off_area, offline,
//!   late_start, speeding_at_work, off_shift_work, sos) in event time; a late
//!   fix never rewinds it.
//! * **Coverage** — per (route, shift instance): each working pass segment
//!   covers the exact interval set of route positions (metres along the route)
//!   within the corridor half-width of the segment; cells keep the union,
//!   pass counts as a step function, justified stretches, and per route the
//!   last-served time of each stretch. See [`CoverageReport`].
//! * **Display state** — what the live map shows of a device (sos, offline,
//!   off_area, idle, working, moving, stopped) from its latest fix, its
//!   unresolved alerts and its own rule parameters ([`display_state`]).
//! * **Daily summary** — distance, working/transit/idle time and deadhead ratio
//!   per device and local date ([`DailySummary`]).
//! * **Persistence hooks** — dirty sets to drain ([`Engine::drain_dirty_coverage`],
//!   [`Engine::drain_dirty_summaries`]), device and coverage snapshots for restart.
//!
//! ## Where things are
//!
//! `area`, `geojson_io`, `geodesy` (every distance and projection), `route_geom` (exact corridor maths),
//! `spatial` (R-trees) — geometry; `shift`, `calendar` — shift calendars;
//! `rules_config`, `rules`, `timers`, `alert`, `device` — the rule state machine;
//! `display` — a device's display state;
//! `intervals`, `coverage`, `report` — coverage; `summary` — daily summaries;
//! `engine`, `engine_fix`, `engine_cov` — the engine that ties them together;
//! `windows` — when a fix is live and when coverage is final.

mod alert;
mod area;
mod calendar;
mod coverage;
mod device;
mod display;
mod engine;
mod engine_cov;
mod engine_fix;
mod engine_place;
mod engine_risk;
mod error;
mod fix;
mod fxhash;
pub mod geodesy;
mod geojson_io;
mod ids;
mod intervals;
mod reach;
mod report;
mod route_geom;
mod rules;
mod rules_config;
pub mod scenario;
mod shift;
mod spatial;
mod summary;
mod timers;
mod timezone;
pub mod windows;

pub use alert::{AlertKind, AlertTransition, Case, Cases, Change, RouteAlert};
pub use area::{Area, AreaGeometry, AreaKind, ZonePurpose};
pub use coverage::{CoverageSnapshot, Justification};
pub use device::{DeviceSnapshot, REORDER_WINDOW};
pub use display::{DisplayState, LatestFix, display_state, org_clock};
pub use engine::{Assignment, Engine, EngineConfig, MemoryReport};
pub use error::GeofenceError;
pub use fix::{DeviceKind, Fix};
pub use ids::{AreaId, DeviceKey, OrgId, ShiftId};
pub use intervals::{IntervalSet, MaxMap, StepCounts};
pub use report::{
    CoverageReport, JustifiedStretch, MIN_MISSED_M, ServedStretch, Stretch, StretchPasses,
    missed_m, missed_minus_justified,
};
pub use rules_config::{RuleConfig, RuleOverride, RuleParams};
pub use shift::{
    DatedWindow, MonthDay, MonthlyExtra, Shift, ShiftInstance, ShiftInstanceKey, WeeklyWindow,
    local_to_utc,
};
pub use summary::DailySummary;
pub use timezone::{DEFAULT_TIME_ZONE, org_time_zone};

/// Exact corridor geometry, exposed for property tests and benchmarks.
pub mod corridor {
    pub use crate::route_geom::capsule_interval;

    /// Covered stretches `[from_m, to_m]` of a route (points in local metres)
    /// by a pass segment `a`-`b` within half-width `hw`, merged and sorted.
    pub fn covered_stretches(
        route: &[[f64; 2]],
        hw: f64,
        a: [f64; 2],
        b: [f64; 2],
    ) -> Vec<(f64, f64)> {
        let mut cum = 0.0;
        let mut out: Vec<(f64, f64)> = Vec::new();
        for w in route.windows(2) {
            let d = [w[1][0] - w[0][0], w[1][1] - w[0][1]];
            let len = d[0].hypot(d[1]);
            if let Some((lo, hi)) = capsule_interval(w[0], d, a, b, hw)
                && hi > lo
            {
                out.push((cum + lo * len, cum + hi * len));
            }
            cum += len;
        }
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for (f, t) in out {
            match merged.last_mut() {
                Some(l) if f <= l.1 => l.1 = l.1.max(t),
                _ => merged.push((f, t)),
            }
        }
        merged
    }
}
