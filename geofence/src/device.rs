//! Per-device state: the newest fixes (a small time-sorted reorder window), and
//! the rule state machine's memory. Serialisable as a [`DeviceSnapshot`].

use crate::alert::AlertKind;
use crate::fix::{DeviceKind, Fix};
use crate::shift::ShiftInstance;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// How many of a device's newest fixes are kept to place a late fix between
/// its neighbours. A late fix older than all of them still counts as stored but
/// no longer changes coverage. 12 fixes cover a minute at 5 s reporting and keep
/// the per-device state well under 2 KiB.
pub const REORDER_WINDOW: usize = 12;

/// A fix reduced to what the engine keeps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    /// Epoch milliseconds.
    pub ts_ms: i64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Reported speed (km/h).
    pub speed: Option<f32>,
    /// Work flag as seen by the engine (`None` for no sensor).
    pub work: Option<bool>,
}

impl TrackPoint {
    /// From a fix; devices of kind `Unknown` are treated as having no work sensor.
    pub fn from_fix(fix: &Fix, kind: DeviceKind) -> Self {
        TrackPoint {
            ts_ms: fix.ts.timestamp_millis(),
            lon: fix.lon,
            lat: fix.lat,
            speed: fix.speed_kmh.map(|s| s as f32),
            work: if kind.has_work_sensor() {
                fix.work
            } else {
                None
            },
        }
    }
}

/// Coverage cells a pass segment touched: nearly always none or one.
#[derive(Debug, Clone, Default)]
pub(crate) enum CellRefs {
    #[default]
    None,
    One(u32),
    Many(Box<[u32]>),
}

impl CellRefs {
    pub fn from_slice(s: &[u32]) -> Self {
        match s {
            [] => CellRefs::None,
            [one] => CellRefs::One(*one),
            _ => CellRefs::Many(s.into()),
        }
    }
    pub fn as_slice(&self) -> &[u32] {
        match self {
            CellRefs::None => &[],
            CellRefs::One(one) => std::slice::from_ref(one),
            CellRefs::Many(v) => v,
        }
    }
}

/// A buffered fix and the coverage cells its outgoing pass segment touched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Buffered {
    pub p: TrackPoint,
    #[serde(skip)]
    pub cells: CellRefs,
}

/// A dwell in progress.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Anchor {
    pub ts_ms: i64,
    /// The mean position of the dwell's fixes so far (a single GPS fix is
    /// a poor centre: uniforms' fixes scatter by several metres).
    pub lon: f64,
    pub lat: f64,
    /// Fixes in the mean.
    #[serde(default)]
    pub n: u32,
}

impl Anchor {
    pub fn at(ts_ms: i64, lon: f64, lat: f64) -> Self {
        Self {
            ts_ms,
            lon,
            lat,
            n: 1,
        }
    }

    /// Adds a fix of the dwell to its mean position (the first hundred count;
    /// after that the centre is known well enough).
    pub fn add(&mut self, lon: f64, lat: f64) {
        let n = self.n.max(1);
        if n >= 100 {
            return;
        }
        let w = 1.0 / f64::from(n + 1);
        self.lon += (lon - self.lon) * w;
        self.lat += (lat - self.lat) * w;
        self.n = n + 1;
    }
}

/// Rule memory of one device. Public only as an opaque snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeviceState {
    pub kind: DeviceKind,
    /// Newest fixes, sorted by time, at most [`REORDER_WINDOW`].
    pub buf: VecDeque<Buffered>,
    /// Bit set of open alerts (`AlertKind::bit`).
    pub open: u16,
    /// Shift instance the shift-bound alerts (idle, off_area, offline, late_start) belong to.
    pub bound: Option<Arc<ShiftInstance>>,
    /// Late-start tracking: the instance and whether the device has arrived.
    pub late: Option<(Arc<ShiftInstance>, bool)>,
    pub anchor: Option<Anchor>,
    /// A first fix beyond the dwell radius, not yet confirmed by a second.
    #[serde(default)]
    pub anchor_stray: Option<Anchor>,
    /// Break allowance used in `bound`'s instance, seconds.
    pub allowance_used_s: i64,
    /// Outside every assigned area of the shift since (the transit clock).
    pub outside_since_ms: Option<i64>,
    /// Beyond the working area by more than `off_area_distance_m` since.
    #[serde(default)]
    pub beyond_since_ms: Option<i64>,
    /// Working outside every assigned area since (`work_off_route`).
    #[serde(default)]
    pub work_off_since_ms: Option<i64>,
    /// When each kind's condition last cleared (epoch seconds, 0: never), for
    /// recurrences. Clears at the end of a shift instance do not count.
    #[serde(default)]
    pub cleared_s: [u32; 8],
    pub speeding_since_ms: Option<i64>,
    pub off_shift_since_ms: Option<i64>,
    pub last_sos: bool,
    pub last_sos_open_ms: Option<i64>,
    /// Indices into the engine's assignment table (rebuilt on load/restore).
    #[serde(skip)]
    pub assignments: Vec<u32>,
}

impl DeviceState {
    pub fn new(kind: DeviceKind) -> Self {
        DeviceState {
            kind,
            buf: VecDeque::with_capacity(REORDER_WINDOW + 1),
            open: 0,
            bound: None,
            late: None,
            anchor: None,
            anchor_stray: None,
            allowance_used_s: 0,
            outside_since_ms: None,
            beyond_since_ms: None,
            work_off_since_ms: None,
            cleared_s: [0; 8],
            speeding_since_ms: None,
            off_shift_since_ms: None,
            last_sos: false,
            last_sos_open_ms: None,
            assignments: Vec::new(),
        }
    }

    pub fn newest(&self) -> Option<&TrackPoint> {
        self.buf.back().map(|b| &b.p)
    }

    pub fn is_open(&self, k: AlertKind) -> bool {
        self.open & k.bit() != 0
    }

    pub fn set_open(&mut self, k: AlertKind, open: bool) {
        if open {
            self.open |= k.bit();
        } else {
            self.open &= !k.bit();
        }
    }

    /// Bytes owned by this state, including heap buffers (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        // shift instances are shared with the calendar cache (Arc): not counted here
        self.buf.capacity() * std::mem::size_of::<Buffered>()
            + self
                .buf
                .iter()
                .map(|b| b.cells.as_slice().len().saturating_sub(1) * 4)
                .sum::<usize>()
            + self.assignments.capacity() * 4
    }
}

/// A device's engine state for persistence across restarts (serde).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceSnapshot(pub(crate) DeviceState);
