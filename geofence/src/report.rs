//! The coverage report handed to the API and the store.

use crate::coverage::{Cell, Justification};
use crate::ids::AreaId;
use crate::intervals::{IntervalSet, MaxMap};
use crate::route_geom::RouteGeom;
use crate::rules::ts;
use crate::shift::ShiftInstanceKey;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A stretch of route with its GeoJSON geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stretch {
    /// Start, metres along the route.
    pub from_m: f64,
    /// End, metres along the route.
    pub to_m: f64,
    /// The stretch as a GeoJSON LineString.
    pub geometry: geojson::Geometry,
}

/// Pass count over a stretch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StretchPasses {
    /// Start, metres along the route.
    pub from_m: f64,
    /// End, metres along the route.
    pub to_m: f64,
    /// Number of working passes.
    pub passes: u32,
}

/// When a stretch was last served (any shift instance), to the minute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedStretch {
    /// Start, metres along the route.
    pub from_m: f64,
    /// End, metres along the route.
    pub to_m: f64,
    /// Last served at.
    pub at: DateTime<Utc>,
}

/// A justified stretch with its note and geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JustifiedStretch {
    /// The stretch.
    pub stretch: Stretch,
    /// The operator's note.
    pub note: String,
}

/// Pieces of a missed stretch shorter than this, left where a justification
/// ends, are not reported: they are below GPS precision.
pub const MIN_MISSED_M: f64 = 0.5;

/// The one "missed minus justified" of sweepwatch: the parts of the `missed`
/// stretches (from, to metres along a route) that no `justified` stretch
/// covers, merged and in order, without pieces shorter than [`MIN_MISSED_M`].
/// The engine applies it to its own justifications when it builds a
/// [`CoverageReport`]; the API and the shift reports apply it to the
/// operators' (DESIGN.md: a shift report's missed length is net of them).
pub fn missed_minus_justified(missed: &[(f64, f64)], justified: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let missed = IntervalSet::from(missed.to_vec());
    let justified = IntervalSet::from(justified.to_vec());
    let mut out = Vec::new();
    for (a, b) in missed.iter() {
        let mut cursor = a;
        for (ja, jb) in justified.iter() {
            if jb <= cursor || ja >= b {
                continue;
            }
            if ja > cursor {
                out.push((cursor, ja));
            }
            cursor = cursor.max(jb);
        }
        if cursor < b {
            out.push((cursor, b));
        }
    }
    out.retain(|(a, b)| b - a >= MIN_MISSED_M);
    out
}

/// The length of [`missed_minus_justified`], metres (`+0.0` when nothing is
/// missed, never `-0.0`).
pub fn missed_m(missed: &[(f64, f64)], justified: &[(f64, f64)]) -> f64 {
    missed_minus_justified(missed, justified)
        .iter()
        .fold(0.0, |acc, (a, b)| acc + (b - a))
}

/// Coverage of one route in one shift instance, as the engine reports it and
/// the store keeps it (JSON in `coverage.report`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageReport {
    /// The route.
    pub route: AreaId,
    /// The shift instance.
    pub instance: ShiftInstanceKey,
    /// Route length, metres.
    pub total_m: f64,
    /// Length with at least one pass, metres.
    pub covered_m: f64,
    /// `covered_m / total_m`, in [0, 1].
    pub covered_fraction: f64,
    /// Passes the route requires.
    pub passes_required: u32,
    /// Length with at least `passes_required` passes, metres.
    pub complete_m: f64,
    /// Pass counts along the whole route (maximal runs of equal count, zeros included).
    #[serde(default)]
    pub passes: Vec<StretchPasses>,
    /// Stretches with fewer than the required passes, not justified.
    #[serde(default)]
    pub missed: Vec<Stretch>,
    /// Justified stretches, reported apart.
    #[serde(default)]
    pub justified: Vec<JustifiedStretch>,
    /// When each stretch was last served, across instances.
    #[serde(default)]
    pub last_served: Vec<ServedStretch>,
}

fn stretch(route: &RouteGeom, from_m: f64, to_m: f64) -> Stretch {
    let pts: Vec<Vec<f64>> = route
        .stretch_lonlat(from_m, to_m)
        .into_iter()
        .map(|(x, y)| vec![x, y])
        .collect();
    Stretch {
        from_m,
        to_m,
        geometry: geojson::Geometry::new(geojson::GeometryValue::new_line_string(pts)),
    }
}

/// Effective pass count runs over `[0, total)`: the step counts, at least 1
/// wherever the covered set is (a pass's round cap before its first fix covers
/// but is not along its progress).
fn pass_runs(cell: &Cell, covered: &IntervalSet) -> Vec<(f64, f64, u32)> {
    let mut cuts: Vec<f64> = vec![0.0, cell.total_m];
    let runs = cell.counts.runs();
    cuts.extend(runs.iter().flat_map(|r| [r.0, r.1]));
    cuts.extend(covered.iter().flat_map(|r| [r.0, r.1]));
    cuts.retain(|x| (0.0..=cell.total_m).contains(x));
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let count_at = |x: f64| {
        runs.iter()
            .find(|r| r.0 <= x && x < r.1)
            .map_or(0, |r| r.2.max(0))
    };
    let covered_at = |x: f64| covered.iter().any(|r| r.0 <= x && x < r.1);
    let mut out: Vec<(f64, f64, u32)> = Vec::new();
    for w in cuts.windows(2) {
        let mid = (w[0] + w[1]) * 0.5;
        let mut n = count_at(mid) as u32;
        if n == 0 && covered_at(mid) {
            n = 1;
        }
        match out.last_mut() {
            Some(l) if l.2 == n && l.1 == w[0] => l.1 = w[1],
            _ => out.push((w[0], w[1], n)),
        }
    }
    out
}

pub(crate) fn build(
    cell: &Cell,
    route: &RouteGeom,
    passes_required: u32,
    served: Option<&MaxMap>,
) -> CoverageReport {
    let covered = cell.covered();
    let covered_m = covered.measure().min(cell.total_m);
    let runs = pass_runs(cell, &covered);
    let below: Vec<(f64, f64)> = runs
        .iter()
        .filter(|r| r.2 < passes_required)
        .map(|r| (r.0, r.1))
        .collect();
    let justified: Vec<(f64, f64)> = cell.justified.iter().map(|j| (j.from_m, j.to_m)).collect();
    let merged = missed_minus_justified(&below, &justified);
    CoverageReport {
        route: cell.route.clone(),
        instance: cell.key.clone(),
        total_m: cell.total_m,
        covered_m,
        covered_fraction: if cell.total_m > 0.0 {
            (covered_m / cell.total_m).clamp(0.0, 1.0)
        } else {
            0.0
        },
        passes_required,
        complete_m: runs
            .iter()
            .filter(|r| r.2 >= passes_required)
            .map(|r| r.1 - r.0)
            .sum(),
        passes: runs
            .iter()
            .map(|&(from_m, to_m, passes)| StretchPasses {
                from_m,
                to_m,
                passes,
            })
            .collect(),
        missed: merged
            .into_iter()
            .map(|(a, b)| stretch(route, a, b))
            .collect(),
        justified: cell
            .justified
            .iter()
            .map(|j: &Justification| JustifiedStretch {
                stretch: stretch(route, j.from_m, j.to_m),
                note: j.note.clone(),
            })
            .collect(),
        last_served: served
            .map(|m| {
                m.iter()
                    .map(|(from_m, to_m, t)| ServedStretch {
                        from_m,
                        to_m,
                        at: ts(t * 1000),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_minus_justified_cuts_holes_and_drops_slivers() {
        let missed = [(0.0, 10.0), (20.0, 30.0), (25.0, 40.0)];
        assert_eq!(
            missed_minus_justified(&missed, &[]),
            vec![(0.0, 10.0), (20.0, 40.0)]
        );
        assert_eq!(
            missed_minus_justified(&missed, &[(5.0, 22.0), (21.0, 23.0)]),
            vec![(0.0, 5.0), (23.0, 40.0)]
        );
        // A justification ending 0.3 m short leaves no sliver (the API's rule,
        // now also the engine's and the shift report's).
        assert!(missed_minus_justified(&[(10.0, 20.0)], &[(10.3, 20.0)]).is_empty());
        assert_eq!(missed_m(&missed, &[(5.0, 22.0), (21.0, 23.0)]), 22.0);
        assert_eq!(missed_m(&missed, &[(-5.0, 50.0)]), 0.0);
        assert!(missed_m(&[], &[(1.0, 2.0)]).is_sign_positive());
    }
}
