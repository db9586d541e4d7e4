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

/// [`Buffered::cell`]: the outgoing pass segment touched no coverage cell.
pub(crate) const NO_CELL: u32 = u32::MAX;
/// [`Buffered::cell`]: it touched several; the engine keeps their list by
/// (device, fix time) in `Engine::many_cells` (a crossing, or two shifts).
/// Cell ids count up from 0 and never reach these two values.
pub(crate) const MANY_CELLS: u32 = u32::MAX - 1;

/// The bit pattern of a [`Buffered`] speed that was not reported: a
/// signalling NaN, which no reported speed is stored as (a reported NaN is
/// stored as the quiet `f32::NAN`), so `None` and `Some(NaN)` stay apart.
const NO_SPEED: u32 = 0x7fa0_0001;

/// Work flag codes in the low two bits of [`Buffered`]'s packed time.
const WORK_NONE: i64 = 0;
const WORK_OFF: i64 = 1;
const WORK_ON: i64 = 2;

/// Fix times are chrono instants (within ±2^53 ms); the packed time keeps them
/// all exactly (a snapshot's time beyond ±2^60 ms is clamped to that).
const TS_LIMIT: i64 = 1 << 60;

/// A buffered fix, packed into 32 bytes (a device keeps 13 of them, so this is
/// most of its state): the [`TrackPoint`] with its time and work flag in one
/// word and its speed as an `f32` with a `None` pattern, and the coverage
/// cells its outgoing pass segment touched.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(from = "BufferedRepr", into = "BufferedRepr")]
pub(crate) struct Buffered {
    /// `ts_ms * 4 + work code`: orders like `ts_ms`.
    ts_work: i64,
    lon: f64,
    lat: f64,
    /// `f32` bits, or [`NO_SPEED`].
    speed: u32,
    /// A cell id, [`NO_CELL`] or [`MANY_CELLS`]; not persisted (a restored
    /// device's fixes come back without their pending coverage links).
    pub cell: u32,
}

/// How a buffered fix is (de)serialised in a [`DeviceSnapshot`]: as it always was.
#[derive(Serialize, Deserialize)]
struct BufferedRepr {
    p: TrackPoint,
}

impl From<BufferedRepr> for Buffered {
    fn from(r: BufferedRepr) -> Self {
        Buffered::new(r.p, NO_CELL)
    }
}

impl From<Buffered> for BufferedRepr {
    fn from(b: Buffered) -> Self {
        BufferedRepr { p: b.p() }
    }
}

impl Buffered {
    pub fn new(p: TrackPoint, cell: u32) -> Self {
        let work = match p.work {
            None => WORK_NONE,
            Some(false) => WORK_OFF,
            Some(true) => WORK_ON,
        };
        let speed = match p.speed {
            None => NO_SPEED,
            Some(s) if s.is_nan() => f32::NAN.to_bits(),
            Some(s) => s.to_bits(),
        };
        Buffered {
            ts_work: p.ts_ms.clamp(-TS_LIMIT, TS_LIMIT) * 4 + work,
            lon: p.lon,
            lat: p.lat,
            speed,
            cell,
        }
    }

    /// The fix's time, epoch milliseconds.
    #[inline]
    pub fn ts_ms(&self) -> i64 {
        self.ts_work >> 2
    }

    /// The fix as a track point.
    #[inline]
    pub fn p(&self) -> TrackPoint {
        TrackPoint {
            ts_ms: self.ts_ms(),
            lon: self.lon,
            lat: self.lat,
            speed: (self.speed != NO_SPEED).then(|| f32::from_bits(self.speed)),
            work: match self.ts_work & 3 {
                WORK_OFF => Some(false),
                WORK_ON => Some(true),
                _ => None,
            },
        }
    }
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

    pub fn newest(&self) -> Option<TrackPoint> {
        self.buf.back().map(Buffered::p)
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

    /// Bytes owned by this state, including heap buffers (for memory reports;
    /// the engine counts the lists of [`MANY_CELLS`]).
    pub fn heap_bytes(&self) -> usize {
        // shift instances are shared with the calendar cache (Arc): not counted here
        self.buf.capacity() * std::mem::size_of::<Buffered>() + self.assignments.capacity() * 4
    }
}

/// A device's engine state for persistence across restarts (serde).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceSnapshot(pub(crate) DeviceState);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a track point comes back from the packed form, and a
    /// snapshot's buffered fix is written as before (`{"p": {...}}`).
    #[test]
    fn buffered_fixes_pack_and_unpack_exactly() {
        let mut points = Vec::new();
        for ts_ms in [
            0,
            1,
            -1,
            1_764_201_600_123,
            -62_135_596_800_000,
            8_210_266_876_799_999,
        ] {
            for speed in [None, Some(0.0), Some(-0.0), Some(12.5), Some(f32::INFINITY)] {
                for work in [None, Some(false), Some(true)] {
                    points.push(TrackPoint {
                        ts_ms,
                        lon: 113.672_123_456_789,
                        lat: -22.814_3,
                        speed,
                        work,
                    });
                }
            }
        }
        for p in points {
            let b = Buffered::new(p, 7);
            assert_eq!(b.p(), p);
            assert_eq!(b.ts_ms(), p.ts_ms);
            assert_eq!(b.p().speed.map(f32::to_bits), p.speed.map(f32::to_bits));
            let json = serde_json::to_value(b).unwrap();
            assert_eq!(json, serde_json::json!({ "p": p }));
            let back: Buffered = serde_json::from_value(json.clone()).unwrap();
            // (JSON has no infinity: it reads back as no speed, as it always did)
            let plain: TrackPoint = serde_json::from_value(json["p"].clone()).unwrap();
            assert_eq!(back.p(), plain);
            assert_eq!(back.cell, NO_CELL);
        }
        // a reported speed that is NaN stays a reported speed
        let p = TrackPoint {
            ts_ms: 5,
            lon: 0.0,
            lat: 0.0,
            speed: Some(f32::NAN),
            work: Some(true),
        };
        assert!(Buffered::new(p, NO_CELL).p().speed.is_some_and(f32::is_nan));
        assert_eq!(std::mem::size_of::<Buffered>(), 32);
    }
}
