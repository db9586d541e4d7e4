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
}

impl AlertKind {
    /// The snake_case name used in storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Idle => "idle",
            AlertKind::OffArea => "off_area",
            AlertKind::Offline => "offline",
            AlertKind::LateStart => "late_start",
            AlertKind::SpeedingAtWork => "speeding_at_work",
            AlertKind::OffShiftWork => "off_shift_work",
            AlertKind::Sos => "sos",
        }
    }

    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
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
}
