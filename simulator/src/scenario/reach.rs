//! A device's working area as the rules define it (DESIGN.md, Domain, Rules), in the
//! simulator's metres: its assigned areas of the running shift (with the rule's
//! margin) and the ways between them; for a street cleaner, also the rest zones and
//! the ways between her beat and them.
//!
//! The simulator uses it twice: to place behaviours so that they are unambiguous
//! under the rules (a driver who takes the truck away leaves the working area in
//! one clean departure; a sweeper working off its routes stays near enough not to
//! be "gone"), and to write the ground truth at the fix where a condition starts.
//! A point `p` is on the way between areas A and B when
//! `d(p, A) + d(p, B) <= way_detour * gap(A, B) + way_slack_m`, with `d` measured
//! to a route's corridor edge or a zone's boundary (0 inside).

use geofence::{DeviceKind, RuleParams};

use super::geom::{P, Shape, closest_on_polyline, dist};

/// How far a break trip may reach (the engine's limit): rest zones further away
/// than this, in either axis, are not considered.
const REST_TRIP_REACH_M: f64 = 1_500.0;

/// One area in metres.
#[derive(Debug, Clone)]
pub enum Geom {
    /// A route's centre line and corridor half-width.
    Route { pts: Vec<P>, hw: f64 },
    /// A zone's outer ring (no closing vertex).
    Zone { ring: Vec<P> },
}

impl Geom {
    pub fn of(shape: &Shape, hw: f64) -> Self {
        match shape {
            Shape::Line(pts) => Geom::Route {
                pts: pts.clone(),
                hw,
            },
            Shape::Ring(ring) => Geom::Zone { ring: ring.clone() },
        }
    }

    /// Metres to the corridor edge or the zone boundary; 0 inside.
    pub fn distance(&self, p: P) -> f64 {
        match self {
            Geom::Route { pts, hw } => (dist(closest_on_polyline(pts, p).1, p) - hw).max(0.0),
            Geom::Zone { ring } => {
                if contains(ring, p) {
                    0.0
                } else {
                    dist(closest_on_polyline(&closed(ring), p).1, p)
                }
            }
        }
    }

    fn vertices(&self) -> &[P] {
        match self {
            Geom::Route { pts, .. } => pts,
            Geom::Zone { ring } => ring,
        }
    }

    fn widen(&self) -> f64 {
        match self {
            Geom::Route { hw, .. } => *hw,
            Geom::Zone { .. } => 0.0,
        }
    }

    /// The box around the area.
    fn bbox(&self) -> (P, P) {
        let v = self.vertices();
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for p in v {
            lo = [lo[0].min(p[0]), lo[1].min(p[1])];
            hi = [hi[0].max(p[0]), hi[1].max(p[1])];
        }
        let w = self.widen();
        ([lo[0] - w, lo[1] - w], [hi[0] + w, hi[1] + w])
    }
}

/// The ring with its first vertex repeated at the end.
pub fn closed(ring: &[P]) -> Vec<P> {
    let mut c = ring.to_vec();
    if let Some(f) = ring.first() {
        c.push(*f);
    }
    c
}

/// Point in polygon (even-odd), boundary included within a millimetre.
pub fn contains(ring: &[P], p: P) -> bool {
    if ring.len() < 3 {
        return false;
    }
    if dist(closest_on_polyline(&closed(ring), p).1, p) < 1e-3 {
        return true;
    }
    let mut inside = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[j]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Metres between two areas (0 when they touch): the nearest points of two
/// outlines that do not cross include a vertex of one of them.
fn gap(a: &Geom, b: &Geom) -> f64 {
    let ab = a
        .vertices()
        .iter()
        .map(|&p| b.distance(p))
        .fold(f64::INFINITY, f64::min);
    let ba = b
        .vertices()
        .iter()
        .map(|&p| a.distance(p))
        .fold(f64::INFINITY, f64::min);
    (ab - a.widen()).min(ba - b.widen()).max(0.0)
}

/// A device's working area in one shift instance.
#[derive(Debug, Clone)]
pub struct WorkingArea {
    worker: bool,
    areas: Vec<Geom>,
    /// Gaps between assigned areas (vehicles), row-major.
    gaps: Vec<f64>,
    rests: Vec<Geom>,
    /// Gaps between each assigned area and each rest zone (workers), row-major.
    rest_gaps: Vec<f64>,
    pub params: RuleParams,
}

impl WorkingArea {
    pub fn new(kind: DeviceKind, areas: Vec<Geom>, rests: Vec<Geom>, params: RuleParams) -> Self {
        let worker = kind == DeviceKind::Worker;
        let mut gaps = Vec::new();
        for a in &areas {
            for b in &areas {
                gaps.push(gap(a, b));
            }
        }
        let (rests, rest_gaps) = if worker {
            let mut g = Vec::new();
            for a in &areas {
                for r in &rests {
                    g.push(gap(a, r));
                }
            }
            (rests, g)
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            worker,
            areas,
            gaps,
            rests,
            rest_gaps,
            params,
        }
    }

    /// Inside one of the assigned areas, with the rule's margin.
    pub fn in_assigned(&self, p: P) -> bool {
        self.areas
            .iter()
            .any(|a| a.distance(p) <= self.params.area_margin_m)
    }

    /// Inside a rest zone (cleaners only look at them).
    pub fn in_rest(&self, p: P) -> bool {
        self.rests.iter().any(|r| r.distance(p) <= 0.0)
    }

    /// Metres beyond the working area: 0 in an assigned area, in a rest zone
    /// (cleaners) or on the way between two parts of it; else the distance to the
    /// nearest assigned area.
    pub fn beyond(&self, p: P) -> f64 {
        if self.in_assigned(p) || (self.worker && self.in_rest(p)) {
            return 0.0;
        }
        let d: Vec<f64> = self.areas.iter().map(|a| a.distance(p)).collect();
        let nearest = d.iter().copied().fold(f64::INFINITY, f64::min);
        let (k, slack) = (self.params.way_detour, self.params.way_slack_m);
        let n = self.areas.len();
        let on_way = if self.worker {
            let m = self.rests.len();
            (0..n).any(|i| {
                (0..m).any(|j| {
                    let (lo, hi) = self.rests[j].bbox();
                    let reach = REST_TRIP_REACH_M;
                    let near = lo[0] <= p[0] + reach
                        && hi[0] >= p[0] - reach
                        && lo[1] <= p[1] + reach
                        && hi[1] >= p[1] - reach;
                    near && d[i] + self.rests[j].distance(p)
                        <= k * self.rest_gaps[i * m + j] + slack
                })
            })
        } else {
            (0..n).any(|i| ((i + 1)..n).any(|j| d[i] + d[j] <= k * self.gaps[i * n + j] + slack))
        };
        if on_way { 0.0 } else { nearest }
    }

    /// Gone from the working area, by the rule: not in an assigned area (nor a rest
    /// zone, for a cleaner) and more than `off_area_distance_m` beyond it.
    pub fn is_off(&self, p: P) -> bool {
        self.beyond(p) > self.params.off_area_distance_m
            && !self.in_assigned(p)
            && !(self.worker && self.in_rest(p))
    }

    /// The assigned areas.
    pub fn areas(&self) -> &[Geom] {
        &self.areas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vehicle(areas: Vec<Geom>) -> WorkingArea {
        WorkingArea::new(
            DeviceKind::Sweeper,
            areas,
            vec![],
            RuleParams::defaults(DeviceKind::Sweeper),
        )
    }

    #[test]
    fn a_route_with_its_margin_and_the_way_to_another() {
        let a = Geom::Route {
            pts: vec![[0.0, 0.0], [1000.0, 0.0]],
            hw: 8.0,
        };
        let b = Geom::Route {
            pts: vec![[0.0, 1000.0], [1000.0, 1000.0]],
            hw: 8.0,
        };
        let wa = vehicle(vec![a.clone()]);
        assert!(wa.in_assigned([500.0, 22.0]) && !wa.in_assigned([500.0, 24.0]));
        assert!((wa.beyond([500.0, 308.0]) - 300.0).abs() < 1e-9);
        assert!(wa.is_off([500.0, 300.0]) && !wa.is_off([500.0, 200.0]));
        // Between two parallel routes 984 m apart, the midpoint is on the way.
        let both = vehicle(vec![a, b]);
        assert_eq!(both.beyond([500.0, 500.0]), 0.0);
        assert!(both.is_off([500.0, -400.0]) || both.beyond([500.0, -400.0]) == 0.0);
        assert!(both.is_off([3000.0, 500.0]));
    }

    #[test]
    fn a_cleaner_on_the_way_to_a_rest_zone_is_not_off() {
        let beat = Geom::Zone {
            ring: vec![[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [0.0, 100.0]],
        };
        let rest = Geom::Zone {
            ring: vec![[300.0, 40.0], [330.0, 40.0], [330.0, 70.0], [300.0, 70.0]],
        };
        let wa = WorkingArea::new(
            DeviceKind::Worker,
            vec![beat],
            vec![rest],
            RuleParams::defaults(DeviceKind::Worker),
        );
        assert!(wa.in_assigned([105.0, 50.0]) && !wa.in_assigned([115.0, 50.0]));
        assert_eq!(wa.beyond([200.0, 55.0]), 0.0, "on the way to the rest zone");
        assert_eq!(wa.beyond([310.0, 55.0]), 0.0, "in the rest zone");
        assert!(wa.is_off([50.0, -100.0]), "south, away from the rest zone");
    }
}
