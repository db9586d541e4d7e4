//! Input values: a GPS fix and the kind of device that sent it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a device is; it selects the rule defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// Street sweeper (broom down = working).
    Sweeper,
    /// Wash truck (pump on = working).
    Washer,
    /// Garbage collector / compactor (PTO running = working).
    Collector,
    /// Street cleaner in a smart uniform (on duty = working).
    Worker,
    /// Auto-registered device: no work sensor assumed, vehicle thresholds,
    /// never raises work-related alerts.
    Unknown,
}

impl DeviceKind {
    /// All kinds, for iterating rule tables.
    pub const ALL: [DeviceKind; 5] = [
        DeviceKind::Sweeper,
        DeviceKind::Washer,
        DeviceKind::Collector,
        DeviceKind::Worker,
        DeviceKind::Unknown,
    ];

    /// Whether the device reports a work flag we may raise work alerts from.
    pub fn has_work_sensor(self) -> bool {
        !matches!(self, DeviceKind::Unknown)
    }
}

/// One GPS fix, already validated by the ingest layer (finite, in range).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Fix time (event time).
    pub ts: DateTime<Utc>,
    /// WGS84 latitude, degrees.
    pub lat: f64,
    /// WGS84 longitude, degrees.
    pub lon: f64,
    /// Speed over ground, km/h; derived from the previous fix when absent.
    #[serde(default)]
    pub speed_kmh: Option<f64>,
    /// Heading, degrees.
    #[serde(default)]
    pub heading: Option<f64>,
    /// Horizontal accuracy, metres.
    #[serde(default)]
    pub acc_m: Option<f64>,
    /// Broom down / pump on / uniform on duty; `None` when the device has no sensor.
    #[serde(default)]
    pub work: Option<bool>,
    /// SOS button pressed.
    #[serde(default)]
    pub sos: bool,
    /// Battery, percent.
    #[serde(default)]
    pub batt: Option<f64>,
}

impl Fix {
    /// A minimal fix at a position and time (no speed, no work flag).
    pub fn at(ts: DateTime<Utc>, lat: f64, lon: f64) -> Self {
        Fix {
            ts,
            lat,
            lon,
            speed_kmh: None,
            heading: None,
            acc_m: None,
            work: None,
            sos: false,
            batt: None,
        }
    }

    /// Builder: set the work flag.
    pub fn working(mut self, work: bool) -> Self {
        self.work = Some(work);
        self
    }

    /// Builder: set the reported speed.
    pub fn speed(mut self, kmh: f64) -> Self {
        self.speed_kmh = Some(kmh);
        self
    }
}
