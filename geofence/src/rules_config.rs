//! Rule parameters: per-kind defaults (DESIGN.md's rule table), overridden per
//! area and then per device.

use crate::fix::DeviceKind;
use crate::ids::{AreaId, DeviceKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Every tunable of the rules and of coverage, fully resolved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RuleParams {
    /// `idle`: staying within this radius counts as a dwell.
    pub idle_radius_m: f64,
    /// `idle`: dwell duration before it opens.
    pub idle_after_s: i64,
    /// `off_area`: time beyond the working area (by more than
    /// `off_area_distance_m`) before it opens.
    pub off_area_after_s: i64,
    /// `off_area`: how far beyond the working area (its assigned areas and the
    /// ways between them) a device may go before the `off_area_after_s` clock
    /// runs. Vehicles: a detour round a blocked street; cleaners: none.
    pub off_area_distance_m: f64,
    /// `off_area`: the longest time outside every assigned area (in transit
    /// between them, on a break trip, or just beside one) before it opens
    /// anyway.
    pub off_area_transit_max_s: i64,
    /// A point is on the way between two areas A and B when
    /// `d(p, A) + d(p, B) <= way_detour * d(A, B) + way_slack_m` (streets are
    /// not straight lines).
    pub way_detour: f64,
    /// See `way_detour`.
    pub way_slack_m: f64,
    /// `work_off_route`: a vehicle working outside its assigned areas this long.
    pub work_off_route_after_s: i64,
    /// The same condition recurring on a device within this time of its clear
    /// re-opens that case (counted) instead of opening a new one.
    pub reopen_within_s: i64,
    /// `coverage_at_risk`: a route below this covered share...
    pub coverage_at_risk_share: f64,
    /// ...when this much of its shift instance remains.
    pub coverage_at_risk_before_s: i64,
    /// Tolerance beyond a route's corridor still counted as "in the area".
    pub area_margin_m: f64,
    /// `offline`: silence during a shift before it opens.
    pub offline_after_s: i64,
    /// `late_start`: grace after shift start.
    pub late_start_after_s: i64,
    /// Working speed band, lower bound (coverage).
    pub work_speed_min_kmh: f64,
    /// Working speed band, upper bound (coverage; `speeding_at_work` above it).
    pub work_speed_max_kmh: f64,
    /// `speeding_at_work`: time above the band before it opens.
    pub speeding_after_s: i64,
    /// `off_shift_work`: time working outside every shift before it opens.
    pub off_shift_work_after_s: i64,
    /// Speed above which a device without a work sensor counts as moving.
    pub moving_min_kmh: f64,
    /// Dwell time per shift instance excused as breaks before `idle` counts.
    pub break_allowance_s: i64,
    /// Consecutive fixes further apart in time are not interpolated.
    pub gap_max_s: i64,
    /// Consecutive fixes further apart in space are not interpolated.
    pub gap_max_m: f64,
    /// Whether this device's working passes sweep routes (count toward route
    /// coverage). Sweepers and washers do; collectors (bin lifts) and street
    /// cleaners on foot, who work beats and cross streets all day, do not.
    /// An area override turns it on for a route swept by hand.
    pub sweeps_routes: bool,
}

impl RuleParams {
    /// The defaults for a device kind (DESIGN.md, Domain, Rules).
    pub fn defaults(kind: DeviceKind) -> Self {
        let vehicle = RuleParams {
            idle_radius_m: 20.0,
            idle_after_s: 600,
            off_area_after_s: 180,
            off_area_distance_m: 200.0,
            off_area_transit_max_s: 1800,
            way_detour: 1.5,
            way_slack_m: 150.0,
            work_off_route_after_s: 60,
            reopen_within_s: 900,
            coverage_at_risk_share: 0.9,
            coverage_at_risk_before_s: 3600,
            area_margin_m: 15.0,
            offline_after_s: 600,
            late_start_after_s: 900,
            work_speed_min_kmh: 0.5,
            work_speed_max_kmh: 15.0,
            speeding_after_s: 60,
            off_shift_work_after_s: 0,
            moving_min_kmh: 2.0,
            break_allowance_s: 0,
            gap_max_s: 120,
            gap_max_m: 500.0,
            sweeps_routes: true,
        };
        match kind {
            DeviceKind::Sweeper | DeviceKind::Unknown => vehicle,
            DeviceKind::Washer => RuleParams {
                work_speed_max_kmh: 25.0,
                ..vehicle
            },
            DeviceKind::Collector => RuleParams {
                work_speed_max_kmh: 30.0,
                sweeps_routes: false,
                ..vehicle
            },
            DeviceKind::Worker => RuleParams {
                idle_after_s: 1200,
                area_margin_m: 10.0,
                // A beat is small: any exit beyond the GPS margin counts, except
                // a rest zone and the way to and from it (a break trip).
                off_area_distance_m: 0.0,
                off_area_transit_max_s: 1200,
                way_slack_m: 60.0,
                work_speed_min_kmh: 0.2,
                work_speed_max_kmh: 7.0,
                moving_min_kmh: 1.0,
                gap_max_s: 300,
                gap_max_m: 200.0,
                sweeps_routes: false,
                ..vehicle
            },
        }
    }
}

/// A partial [`RuleParams`]: only the fields that are `Some` override.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct RuleOverride {
    pub idle_radius_m: Option<f64>,
    pub idle_after_s: Option<i64>,
    pub off_area_after_s: Option<i64>,
    pub off_area_distance_m: Option<f64>,
    pub off_area_transit_max_s: Option<i64>,
    pub way_detour: Option<f64>,
    pub way_slack_m: Option<f64>,
    pub work_off_route_after_s: Option<i64>,
    pub reopen_within_s: Option<i64>,
    pub coverage_at_risk_share: Option<f64>,
    pub coverage_at_risk_before_s: Option<i64>,
    pub area_margin_m: Option<f64>,
    pub offline_after_s: Option<i64>,
    pub late_start_after_s: Option<i64>,
    pub work_speed_min_kmh: Option<f64>,
    pub work_speed_max_kmh: Option<f64>,
    pub speeding_after_s: Option<i64>,
    pub off_shift_work_after_s: Option<i64>,
    pub moving_min_kmh: Option<f64>,
    pub break_allowance_s: Option<i64>,
    pub gap_max_s: Option<i64>,
    pub gap_max_m: Option<f64>,
    pub sweeps_routes: Option<bool>,
}

macro_rules! apply {
    ($p:ident, $o:ident: $($f:ident),*) => { $( if let Some(v) = $o.$f { $p.$f = v; } )* };
}

impl RuleOverride {
    /// Apply the set fields onto `p`.
    pub fn apply(&self, p: &mut RuleParams) {
        let o = self;
        apply!(p, o: idle_radius_m, idle_after_s, off_area_after_s, off_area_distance_m,
            off_area_transit_max_s, way_detour, way_slack_m, work_off_route_after_s,
            reopen_within_s, coverage_at_risk_share, coverage_at_risk_before_s, area_margin_m,
            offline_after_s, late_start_after_s, work_speed_min_kmh, work_speed_max_kmh,
            speeding_after_s, off_shift_work_after_s, moving_min_kmh, break_allowance_s,
            gap_max_s, gap_max_m, sweeps_routes);
    }
}

/// Rule configuration of an org.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleConfig {
    /// Overrides of the built-in per-kind defaults.
    pub kinds: HashMap<DeviceKind, RuleOverride>,
    /// Per-area overrides (applied after the kind).
    pub areas: HashMap<AreaId, RuleOverride>,
    /// Per-device overrides (applied last).
    pub devices: HashMap<DeviceKey, RuleOverride>,
}

impl RuleConfig {
    /// The parameters of a route itself (`coverage_at_risk`): a sweeper's
    /// defaults, the sweeper kind's overrides, then the area's.
    pub fn resolve_route(&self, route: &AreaId) -> RuleParams {
        let mut p = RuleParams::defaults(DeviceKind::Sweeper);
        if let Some(o) = self.kinds.get(&DeviceKind::Sweeper) {
            o.apply(&mut p);
        }
        if let Some(o) = self.areas.get(route) {
            o.apply(&mut p);
        }
        p
    }

    /// Resolve the parameters for a device of `kind`, in `area` if any.
    pub fn resolve(
        &self,
        kind: DeviceKind,
        area: Option<&AreaId>,
        device: &DeviceKey,
    ) -> RuleParams {
        let mut p = RuleParams::defaults(kind);
        if !self.kinds.is_empty()
            && let Some(o) = self.kinds.get(&kind)
        {
            o.apply(&mut p);
        }
        if let (false, Some(a)) = (self.areas.is_empty(), area)
            && let Some(o) = self.areas.get(a)
        {
            o.apply(&mut p);
        }
        if !self.devices.is_empty()
            && let Some(o) = self.devices.get(device)
        {
            o.apply(&mut p);
        }
        p
    }
}
