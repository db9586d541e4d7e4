//! What the service will count as swept: the simulator's estimate of route coverage
//! from the working fixes a device publishes, so the truth knows which routes are
//! behind an hour before their shift ends (`coverage_at_risk`), whatever the cause: a
//! skipped route, a silent device, a late start.
//!
//! The rule it follows is DESIGN.md's: a pass is the segment between two consecutive
//! working fixes of a device that sweeps routes, within the gap limits and the
//! working speed band; it covers the route positions within the corridor's
//! half-width. Here a segment counts when both its fixes are within the half-width
//! of the route, and covers the stretch between their projections: exact for a
//! device driving along its route, which is what the simulator does.

use chrono::{DateTime, Utc};
use geofence::{RuleParams, ShiftInstance};

use super::geom::{P, closest_on_polyline, dist};

/// A stretch of a route covered at an instant.
#[derive(Debug, Clone)]
pub struct Pass {
    /// Area index of the route.
    pub route: usize,
    pub inst: ShiftInstance,
    pub at: DateTime<Utc>,
    pub from_m: f64,
    pub to_m: f64,
}

/// A published working fix.
#[derive(Debug, Clone, Copy)]
pub struct WorkFix {
    pub at: DateTime<Utc>,
    pub pos: P,
    pub kmh: f64,
}

/// Metres from `p` to the polyline, and how far along it the nearest point is.
pub fn project(pts: &[P], p: P) -> (f64, f64) {
    let (seg, q) = closest_on_polyline(pts, p);
    let along: f64 = pts
        .windows(2)
        .take(seg)
        .map(|w| dist(w[0], w[1]))
        .sum::<f64>()
        + pts.get(seg).map_or(0.0, |s| dist(*s, q));
    (dist(p, q), along)
}

/// Length of a polyline.
pub fn length(pts: &[P]) -> f64 {
    pts.windows(2).map(|w| dist(w[0], w[1])).sum()
}

/// The passes the segment `a`-`b` makes on `routes` (area index, line, half-width):
/// as the engine, the segment's speed is the mean of its fixes' and must be in the
/// working band.
pub fn passes(
    a: WorkFix,
    b: WorkFix,
    p: &RuleParams,
    routes: &[(usize, &[P], f64)],
    inst: &ShiftInstance,
    out: &mut Vec<Pass>,
) {
    let dt = (b.at - a.at).as_seconds_f64();
    let kmh = (a.kmh + b.kmh) / 2.0;
    if dt <= 0.0
        || dt > p.gap_max_s as f64
        || dist(a.pos, b.pos) > p.gap_max_m
        || kmh < p.work_speed_min_kmh
        || kmh > p.work_speed_max_kmh
    {
        return;
    }
    for &(route, pts, hw) in routes {
        let (da, sa) = project(pts, a.pos);
        let (db, sb) = project(pts, b.pos);
        if da <= hw && db <= hw {
            out.push(Pass {
                route,
                inst: inst.clone(),
                at: b.at,
                from_m: sa.min(sb),
                to_m: sa.max(sb),
            });
        }
    }
}

/// Metres covered by the union of the stretches.
pub fn covered(mut stretches: Vec<(f64, f64)>) -> f64 {
    stretches.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for (a, b) in stretches {
        cur = match cur {
            Some((x, y)) if a <= y => Some((x, y.max(b))),
            Some((x, y)) => {
                total += y - x;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + cur.map_or(0.0, |(x, y)| y - x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_and_union() {
        let line = [[0.0, 0.0], [100.0, 0.0], [100.0, 100.0]];
        let (d, s) = project(&line, [100.0, 50.0]);
        assert!(d.abs() < 1e-9 && (s - 150.0).abs() < 1e-9);
        assert_eq!(covered(vec![(0.0, 10.0), (5.0, 20.0), (30.0, 40.0)]), 30.0);
    }
}
