//! Plane geometry in a town-wide local metric frame (x east, y north, metres).

use geofence::geodesy::LocalFrame;
use geofence::{Area, AreaGeometry};

pub type P = [f64; 2];

pub fn dist(a: P, b: P) -> f64 {
    (b[0] - a[0]).hypot(b[1] - a[1])
}

pub fn lerp(a: P, b: P, f: f64) -> P {
    [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f]
}

/// Compass heading from `a` to `b`, degrees clockwise from north, in `[0, 360)`.
pub fn heading(a: P, b: P) -> f64 {
    let h = (b[0] - a[0]).atan2(b[1] - a[1]).to_degrees();
    if h < 0.0 { h + 360.0 } else { h }
}

/// The closest point of a polyline to `p`: (index of the segment's first vertex, point).
pub fn closest_on_polyline(pts: &[P], p: P) -> (usize, P) {
    let mut best = (0, pts.first().copied().unwrap_or(p), f64::INFINITY);
    for (i, w) in pts.windows(2).enumerate() {
        let d = [w[1][0] - w[0][0], w[1][1] - w[0][1]];
        let len2 = d[0] * d[0] + d[1] * d[1];
        let t = if len2 > 0.0 {
            (((p[0] - w[0][0]) * d[0] + (p[1] - w[0][1]) * d[1]) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let q = lerp(w[0], w[1], t);
        let dq = dist(p, q);
        if dq < best.2 {
            best = (i, q, dq);
        }
    }
    (best.0, best.1)
}

/// Mean of the vertices (the centre of a convex ring is good enough for our loops).
pub fn centroid(pts: &[P]) -> P {
    let n = pts.len().max(1) as f64;
    let s = pts
        .iter()
        .fold([0.0, 0.0], |acc, p| [acc[0] + p[0], acc[1] + p[1]]);
    [s[0] / n, s[1] / n]
}

/// An area's shape in local metres.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A route's centre line.
    Line(Vec<P>),
    /// A zone's first polygon's outer ring, without the closing vertex.
    Ring(Vec<P>),
}

impl Shape {
    pub fn of(area: &Area, frame: &LocalFrame) -> Self {
        match area.geometry() {
            AreaGeometry::Line(l) => {
                Shape::Line(l.0.iter().map(|c| frame.project(c.x, c.y)).collect())
            }
            AreaGeometry::Polygons(mp) => {
                let mut ring: Vec<P> =
                    mp.0.first()
                        .map(|poly| {
                            poly.exterior()
                                .0
                                .iter()
                                .map(|c| frame.project(c.x, c.y))
                                .collect()
                        })
                        .unwrap_or_default();
                if ring.len() > 1 && ring.first() == ring.last() {
                    ring.pop();
                }
                Shape::Ring(ring)
            }
        }
    }

    pub fn points(&self) -> &[P] {
        match self {
            Shape::Line(p) | Shape::Ring(p) => p,
        }
    }

    pub fn centre(&self) -> P {
        centroid(self.points())
    }
}

/// The ring shrunk towards its centre by `factor` (0..1), as a closed loop of points.
pub fn shrunk_loop(ring: &[P], factor: f64) -> Vec<P> {
    let c = centroid(ring);
    ring.iter().map(|&p| lerp(c, p, factor)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_and_closest_points() {
        assert!((heading([0.0, 0.0], [0.0, 1.0]) - 0.0).abs() < 1e-9);
        assert!((heading([0.0, 0.0], [1.0, 0.0]) - 90.0).abs() < 1e-9);
        assert!((heading([0.0, 0.0], [-1.0, 0.0]) - 270.0).abs() < 1e-9);
        let (i, q) = closest_on_polyline(&[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]], [12.0, 5.0]);
        assert_eq!(i, 1);
        assert!(dist(q, [10.0, 5.0]) < 1e-9);
    }
}
