//! How far a point is from an area, and how far two areas are apart: what the
//! working-area rules need to tell "on the way between two assigned areas" from
//! "gone". Metres, in local frames (see [`crate::geodesy`]).
//!
//! A point p is *on the way* between areas A and B when
//! `d(p, A) + d(p, B) <= detour * d(A, B) + slack`: an ellipse-like region
//! around the gap between them, wide enough for streets that are not straight.

use crate::geodesy::LocalFrame;
use crate::spatial::{CompiledArea, Shape};
use geo::{CoordsIter, Intersects, Point};

fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}

fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// Distance from `p` to the segment `a`-`b`.
pub(crate) fn point_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let ab = sub(b, a);
    let len2 = dot(ab, ab);
    let t = if len2 > 0.0 {
        (dot(sub(p, a), ab) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let q = [a[0] + t * ab[0], a[1] + t * ab[1]];
    dot(sub(p, q), sub(p, q)).sqrt()
}

impl CompiledArea {
    /// Metres from (lon, lat) to the area: to a route's corridor edge, to a
    /// zone's boundary; 0 inside.
    pub(crate) fn distance_m(&self, lon: f64, lat: f64) -> f64 {
        match &self.shape {
            Shape::Route(r) => {
                let p = r.frame.project(lon, lat);
                let d = r
                    .pts
                    .windows(2)
                    .map(|w| point_segment(p, w[0], w[1]))
                    .fold(f64::INFINITY, f64::min);
                let d = if r.pts.len() == 1 {
                    dot(sub(p, r.pts[0]), sub(p, r.pts[0])).sqrt()
                } else {
                    d
                };
                (d - r.half_width).max(0.0)
            }
            Shape::Zone(mp) => {
                if mp.intersects(&Point::new(lon, lat)) {
                    return 0.0;
                }
                let f = LocalFrame::new(lon, lat);
                let mut best = f64::INFINITY;
                for poly in &mp.0 {
                    for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                        for w in ring.0.windows(2) {
                            let a = f.project(w[0].x, w[0].y);
                            let b = f.project(w[1].x, w[1].y);
                            best = best.min(point_segment([0.0, 0.0], a, b));
                        }
                    }
                }
                best
            }
        }
    }

    /// The area's outline as (lon, lat) points: a route's line, a zone's rings.
    fn vertices(&self) -> Vec<(f64, f64)> {
        self.area.geometry().coords().into_iter().collect()
    }
}

/// Metres between two areas (0 when they touch or overlap). Exact for
/// polylines and polygons that do not cross: the nearest points of two
/// disjoint outlines include a vertex of one of them.
pub(crate) fn gap_m(a: &CompiledArea, b: &CompiledArea) -> f64 {
    let ab = a
        .vertices()
        .into_iter()
        .map(|(lon, lat)| b.distance_m(lon, lat))
        .fold(f64::INFINITY, f64::min);
    let ba = b
        .vertices()
        .into_iter()
        .map(|(lon, lat)| a.distance_m(lon, lat))
        .fold(f64::INFINITY, f64::min);
    // A route's vertices lie on its centre line: the corridor reaches further.
    let widen = |c: &CompiledArea| c.route().map_or(0.0, |r| r.half_width);
    (ab - widen(a)).min(ba - widen(b)).max(0.0)
}

/// Whether a point `da` metres from A and `db` from B is on the way between
/// them (see the module docs).
pub(crate) fn on_the_way(da: f64, db: f64, gap: f64, detour: f64, slack: f64) -> bool {
    da + db <= detour * gap + slack
}

/// The outline of an area geometry, for [`gap_m`].
trait Outline {
    fn coords(&self) -> Vec<(f64, f64)>;
}

impl Outline for crate::area::AreaGeometry {
    fn coords(&self) -> Vec<(f64, f64)> {
        match self {
            crate::area::AreaGeometry::Line(l) => l.0.iter().map(|c| (c.x, c.y)).collect(),
            crate::area::AreaGeometry::Polygons(mp) => {
                mp.coords_iter().map(|c| (c.x, c.y)).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::area::{Area, ZonePurpose};
    use crate::ids::AreaId;
    use crate::spatial::AreaIndex;
    use geo::{LineString, MultiPolygon, Polygon};

    /// Metres to degrees near (113.67, 22.81).
    fn m(x: f64, y: f64) -> (f64, f64) {
        let f = LocalFrame::new(113.67, 22.81);
        f.unproject([x, y])
    }

    fn route(id: &str, pts: &[(f64, f64)]) -> Area {
        let pts: Vec<(f64, f64)> = pts.iter().map(|&(x, y)| m(x, y)).collect();
        Area::route(AreaId::new(id).unwrap(), &pts, 8.0, 1).unwrap()
    }

    fn square(id: &str, x: f64, y: f64, side: f64) -> Area {
        let ring = LineString::from(vec![
            m(x, y),
            m(x + side, y),
            m(x + side, y + side),
            m(x, y + side),
            m(x, y),
        ]);
        Area::zone(
            AreaId::new(id).unwrap(),
            ZonePurpose::Beat,
            MultiPolygon(vec![Polygon::new(ring, vec![])]),
        )
        .unwrap()
    }

    #[test]
    fn distances_to_a_route_and_a_zone() {
        let idx = AreaIndex::build(vec![
            route("r", &[(0.0, 0.0), (100.0, 0.0)]),
            square("z", 200.0, 0.0, 50.0),
        ]);
        let (r, z) = (&idx.areas[0], &idx.areas[1]);
        let (lon, lat) = m(50.0, 30.0);
        assert!(
            (r.distance_m(lon, lat) - 22.0).abs() < 0.05,
            "30 m from the line, 8 m corridor"
        );
        let (lon, lat) = m(50.0, 5.0);
        assert_eq!(r.distance_m(lon, lat), 0.0);
        let (lon, lat) = m(225.0, 25.0);
        assert_eq!(z.distance_m(lon, lat), 0.0);
        let (lon, lat) = m(150.0, 25.0);
        assert!((z.distance_m(lon, lat) - 50.0).abs() < 0.05);
        // The corridor has round ends: it reaches x = 108.
        assert!((gap_m(r, z) - 92.0).abs() < 0.05, "{}", gap_m(r, z));
    }

    #[test]
    fn the_way_between_is_an_ellipse_around_the_gap() {
        // A and B 1,000 m apart: the midpoint is on the way, 400 m off to the side is not.
        assert!(on_the_way(500.0, 500.0, 1000.0, 1.5, 150.0));
        // 400 m beside the midpoint: 640 m from each, 1,280 <= 1,650.
        let side = (500.0f64.powi(2) + 400.0f64.powi(2)).sqrt();
        assert!(on_the_way(side, side, 1000.0, 1.5, 150.0));
        // 700 m beside it: 860 m from each, 1,720 > 1,650.
        let far = (500.0f64.powi(2) + 700.0f64.powi(2)).sqrt();
        assert!(!on_the_way(far, far, 1000.0, 1.5, 150.0));
    }
}
