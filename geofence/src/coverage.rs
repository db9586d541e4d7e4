//! Route coverage per (route, shift instance).
//!
//! Representation: positions along the route in metres. A pass segment (two
//! consecutive working fixes of one device) covers the exact set of route
//! positions within the corridor half-width of the segment (see
//! `route_geom::capsule_interval`), a few `[from, to)` intervals. A cell keeps
//! * `settled`: the union of covered intervals of segments that can no longer change,
//! * `pending`: the intervals of each device's most recent segments, which a late
//!   fix may still split (then the old segment is removed and its two halves added),
//! * `counts`: a step function of pass counts (each segment adds one over its
//!   along-route progress, so a drive end to end counts once and a return drive twice),
//! * justified stretches with their notes.
//!
//! Covered = settled ∪ pending, exact up to floating point.

use crate::fxhash::FxMap;
use crate::ids::AreaId;
use crate::intervals::{IntervalSet, StepCounts};
use crate::shift::ShiftInstanceKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Covered intervals of one segment: nearly always a single one.
#[derive(Debug, Clone)]
pub(crate) enum Spans {
    One((f64, f64)),
    Many(Box<[(f64, f64)]>),
}

impl Spans {
    pub fn from_slice(s: &[(f64, f64)]) -> Self {
        match s {
            [one] => Spans::One(*one),
            _ => Spans::Many(s.into()),
        }
    }
    pub fn as_slice(&self) -> &[(f64, f64)] {
        match self {
            Spans::One(one) => std::slice::from_ref(one),
            Spans::Many(v) => v,
        }
    }
}

/// One removable segment contribution.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub covered: Spans,
    pub count: Option<(f64, f64)>,
}

/// An operator's justification of a stretch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Justification {
    /// Start, metres along the route.
    pub from_m: f64,
    /// End, metres along the route.
    pub to_m: f64,
    /// Why (parked cars, road works).
    pub note: String,
}

/// Coverage state of one (route, shift instance).
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub route: AreaId,
    pub key: ShiftInstanceKey,
    pub instance_end: DateTime<Utc>,
    pub total_m: f64,
    pub settled: IntervalSet,
    /// Pending contributions by (device, start of segment).
    pub pending: FxMap<(u32, i64), Pending>,
    pub counts: StepCounts,
    pub justified: Vec<Justification>,
}

/// Serialisable coverage state of one (route, shift instance), for restart.
/// Pending segments are folded into the settled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageSnapshot {
    /// The route.
    pub route: AreaId,
    /// The shift instance.
    pub instance: ShiftInstanceKey,
    /// End of the shift instance.
    pub instance_end: DateTime<Utc>,
    /// Route length when recorded (a changed route drops the snapshot).
    pub total_m: f64,
    /// Covered intervals.
    pub covered: IntervalSet,
    /// Pass count steps.
    pub counts: StepCounts,
    /// Justified stretches.
    pub justified: Vec<Justification>,
}

impl Cell {
    pub fn new(
        route: AreaId,
        key: ShiftInstanceKey,
        instance_end: DateTime<Utc>,
        total_m: f64,
    ) -> Self {
        Cell {
            route,
            key,
            instance_end,
            total_m,
            settled: IntervalSet::default(),
            pending: FxMap::default(),
            counts: StepCounts::default(),
            justified: Vec::new(),
        }
    }

    pub fn add(&mut self, device: u32, t0_ms: i64, p: Pending) {
        if let Some((a, b)) = p.count {
            self.counts.add(a, b, 1);
        }
        if let Some(old) = self.pending.insert((device, t0_ms), p)
            && let Some((a, b)) = old.count
        {
            self.counts.add(a, b, -1);
        }
    }

    /// Remove a pending contribution (a late fix split its segment).
    pub fn remove(&mut self, device: u32, t0_ms: i64) {
        if let Some(p) = self.pending.remove(&(device, t0_ms))
            && let Some((a, b)) = p.count
        {
            self.counts.add(a, b, -1);
        }
    }

    /// Make a contribution permanent (its start fix left the reorder window).
    pub fn settle(&mut self, device: u32, t0_ms: i64) {
        if let Some(p) = self.pending.remove(&(device, t0_ms)) {
            for &(a, b) in p.covered.as_slice() {
                self.settled.insert(a, b);
            }
        }
    }

    /// The covered set: settled plus pending.
    pub fn covered(&self) -> IntervalSet {
        let mut s = self.settled.clone();
        for p in self.pending.values() {
            for &(a, b) in p.covered.as_slice() {
                s.insert(a, b);
            }
        }
        s
    }

    pub fn snapshot(&self) -> CoverageSnapshot {
        CoverageSnapshot {
            route: self.route.clone(),
            instance: self.key.clone(),
            instance_end: self.instance_end,
            total_m: self.total_m,
            covered: self.covered(),
            counts: self.counts.clone(),
            justified: self.justified.clone(),
        }
    }

    pub fn from_snapshot(s: CoverageSnapshot) -> Self {
        Cell {
            route: s.route,
            key: s.instance,
            instance_end: s.instance_end,
            total_m: s.total_m,
            settled: s.covered,
            pending: FxMap::default(),
            counts: s.counts,
            justified: s.justified,
        }
    }

    /// Approximate bytes held (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.settled.len() * 48
            + self.counts.len() * 40
            + self
                .pending
                .values()
                .map(|p| 64 + p.covered.as_slice().len() * 16)
                .sum::<usize>()
    }
}
