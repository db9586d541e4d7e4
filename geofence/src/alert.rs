//! Alert kinds and the transitions the engine emits.

use crate::ids::{AreaId, DeviceKey};
use crate::shift::ShiftInstance;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The alerts of DESIGN.md's rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Dwell within a small radius during the shift, not working, outside rest zones.
    Idle,
    /// Outside the assigned area during the shift.
    OffArea,
    /// No fix during the shift (timer-driven).
    Offline,
    /// Not in the area some time after shift start (timer-driven).
    LateStart,
    /// Working above the kind's working speed.
    SpeedingAtWork,
    /// Working outside every assigned shift instance.
    OffShiftWork,
    /// SOS button; opened by the engine, resolved by an operator.
    Sos,
    /// A vehicle working (broom down, pump on) outside its assigned areas.
    WorkOffRoute,
    /// A route's coverage in the running shift instance is behind with little
    /// time left (a route alert: [`RouteAlert`], not a device's).
    CoverageAtRisk,
}

impl AlertKind {
    /// The snake_case name used in storage and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::Idle => "idle",
            AlertKind::OffArea => "off_area",
            AlertKind::Offline => "offline",
            AlertKind::LateStart => "late_start",
            AlertKind::SpeedingAtWork => "speeding_at_work",
            AlertKind::OffShiftWork => "off_shift_work",
            AlertKind::Sos => "sos",
            AlertKind::WorkOffRoute => "work_off_route",
            AlertKind::CoverageAtRisk => "coverage_at_risk",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [AlertKind; 9] = [
        AlertKind::Idle,
        AlertKind::OffArea,
        AlertKind::Offline,
        AlertKind::LateStart,
        AlertKind::SpeedingAtWork,
        AlertKind::OffShiftWork,
        AlertKind::Sos,
        AlertKind::WorkOffRoute,
        AlertKind::CoverageAtRisk,
    ];

    /// The kind named `s` (its [`AlertKind::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Open or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The condition started.
    Open,
    /// The condition ended.
    Clear,
}

/// One alert transition, in event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    /// The device.
    pub device: DeviceKey,
    /// Which alert.
    pub kind: AlertKind,
    /// Open or clear.
    pub change: Change,
    /// When: the fix time for fix-driven changes, the deadline that passed for
    /// timer-driven ones (offline, late start, end of shift).
    pub at: DateTime<Utc>,
    /// Latitude of the device (last known for timer-driven changes).
    pub lat: f64,
    /// Longitude of the device.
    pub lon: f64,
    /// The assigned area concerned, or else the area the device is in.
    pub area: Option<AreaId>,
    /// The shift instance the alert belongs to.
    pub shift_instance: Option<ShiftInstance>,
    /// Human-readable text (welfare wording for worker dwell alerts).
    pub message: String,
    /// For an open: the same condition cleared on this device less than the
    /// kind's `reopen_within_s` ago, so it re-opens that case (with a count)
    /// instead of opening a new one. See [`Cases`].
    #[serde(default)]
    pub recurrence: bool,
}

/// An alert about a route rather than a device (`coverage_at_risk`), routed to
/// the route's grid chief. At most one per route and shift instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteAlert {
    /// The route.
    pub route: AreaId,
    /// Which alert (`CoverageAtRisk`).
    pub kind: AlertKind,
    /// Open or clear.
    pub change: Change,
    /// The instant the condition was met (a deadline, for timer-driven changes).
    pub at: DateTime<Utc>,
    /// The route's anchor (for the map).
    pub lat: f64,
    /// Longitude of the anchor.
    pub lon: f64,
    /// The shift instance concerned.
    pub shift_instance: ShiftInstance,
    /// The route's covered share when the change happened.
    pub fraction: f64,
    /// Human-readable text.
    pub message: String,
}

/// One case as an operator sees it: opened, maybe cleared and re-opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The device (`None` for route alerts).
    pub device: Option<DeviceKey>,
    /// The route of a route alert.
    pub route: Option<AreaId>,
    /// Which alert.
    pub kind: AlertKind,
    /// When it first opened.
    pub opened_at: DateTime<Utc>,
    /// When the condition last cleared (`None` while open).
    pub cleared_at: Option<DateTime<Utc>>,
    /// How many times a recurrence re-opened it.
    pub reopened: u32,
}

/// Folds transitions into cases the way the store does when no operator acts:
/// an open that is a recurrence re-opens the device's last case of that kind;
/// any other open starts a new case; a clear closes the open case.
#[derive(Debug, Default, Clone)]
pub struct Cases {
    /// Every case, in the order opened.
    pub cases: Vec<Case>,
}

impl Cases {
    /// Applies a device transition.
    pub fn apply(&mut self, t: &AlertTransition) {
        self.fold(Some(&t.device), None, t.kind, t.change, t.at, t.recurrence);
    }

    /// Applies a route alert.
    pub fn apply_route(&mut self, r: &RouteAlert) {
        self.fold(None, Some(&r.route), r.kind, r.change, r.at, false);
    }

    fn fold(
        &mut self,
        device: Option<&DeviceKey>,
        route: Option<&AreaId>,
        kind: AlertKind,
        change: Change,
        at: DateTime<Utc>,
        recurrence: bool,
    ) {
        let last =
            self.cases.iter_mut().rev().find(|c| {
                c.kind == kind && c.device.as_ref() == device && c.route.as_ref() == route
            });
        match (change, last) {
            (Change::Open, Some(c)) if c.cleared_at.is_none() => {}
            (Change::Open, Some(c)) if recurrence => {
                c.cleared_at = None;
                c.reopened += 1;
            }
            (Change::Open, _) => self.cases.push(Case {
                device: device.cloned(),
                route: route.cloned(),
                kind,
                opened_at: at,
                cleared_at: None,
                reopened: 0,
            }),
            (Change::Clear, Some(c)) if c.cleared_at.is_none() => c.cleared_at = Some(at),
            (Change::Clear, _) => {}
        }
    }
}
