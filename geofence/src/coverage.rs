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

use crate::ids::AreaId;
use crate::intervals::{IntervalSet, StepCounts};
use crate::shift::ShiftInstanceKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One removable segment contribution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub device: u32,
    pub t0_ms: i64,
    pub covered: Vec<(f64, f64)>,
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
    pub pending: Vec<Pending>,
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
            pending: Vec::new(),
            counts: StepCounts::default(),
            justified: Vec::new(),
        }
    }

    pub fn add(&mut self, p: Pending) {
        if let Some((a, b)) = p.count {
            self.counts.add(a, b, 1);
        }
        self.pending.push(p);
    }

    /// Remove a pending contribution (a late fix split its segment).
    pub fn remove(&mut self, device: u32, t0_ms: i64) {
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.device == device && p.t0_ms == t0_ms)
        {
            let p = self.pending.swap_remove(i);
            if let Some((a, b)) = p.count {
                self.counts.add(a, b, -1);
            }
        }
    }

    /// Make a contribution permanent (its start fix left the reorder window).
    pub fn settle(&mut self, device: u32, t0_ms: i64) {
        if let Some(i) = self
            .pending
            .iter()
            .position(|p| p.device == device && p.t0_ms == t0_ms)
        {
            let p = self.pending.swap_remove(i);
            for (a, b) in p.covered {
                self.settled.insert(a, b);
            }
        }
    }

    /// The covered set: settled plus pending.
    pub fn covered(&self) -> IntervalSet {
        let mut s = self.settled.clone();
        for p in &self.pending {
            for &(a, b) in &p.covered {
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
            pending: Vec::new(),
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
                .iter()
                .map(|p| 64 + p.covered.capacity() * 16)
                .sum::<usize>()
    }
}
