//! A route compiled for fast queries: vertices in a local metric frame, cumulative
//! lengths, a segment index, and the exact "which part of the route lies within
//! the corridor half-width of this pass segment" computation coverage is built on.

use crate::geodesy::LocalFrame;
use geo::LineString;
use rstar::primitives::{GeomWithData, Line};
use rstar::{AABB, RTree};

/// Tolerance for projection rounding, so a point exactly on an edge is inside
/// (also of the spatial index's search boxes).
pub(crate) const EDGE_EPS_M: f64 = 1e-6;

/// Routes with more segments than this get an R-tree over their segments;
/// shorter ones are scanned linearly (a bounding-box test per segment), which
/// measured faster than an R-tree query below this size.
const LINEAR_SCAN_MAX: usize = 64;

type SegEntry = GeomWithData<Line<[f64; 2]>, u32>;

/// A route line in local metres.
#[derive(Debug)]
pub(crate) struct RouteGeom {
    pub frame: LocalFrame,
    pub pts: Vec<[f64; 2]>,
    cum: Vec<f64>,
    pub half_width: f64,
    tree: Option<RTree<SegEntry>>,
    /// Routes scanned linearly: the bounding box (min, max) of each run of
    /// [`CHUNK`] segments, so a scan skips the runs nowhere near.
    chunks: Vec<([f64; 2], [f64; 2])>,
}

/// Segments per bounding box of a linearly scanned route.
const CHUNK: usize = 8;

#[inline]
fn sub(a: [f64; 2], b: [f64; 2]) -> [f64; 2] {
    [a[0] - b[0], a[1] - b[1]]
}
#[inline]
fn dot(a: [f64; 2], b: [f64; 2]) -> f64 {
    a[0] * b[0] + a[1] * b[1]
}

/// Whether the bounding box of segment `a`-`b` meets the box `[min, max]`:
/// `max(a, b) >= min && min(a, b) <= max` on both axes, written as the
/// comparisons it amounts to (`f64::max`/`min` would also be NaN-aware, which
/// this is too: a NaN coordinate simply compares false) for the linear scan
/// of a route's segments, which runs twice per fix.
#[inline]
fn seg_box_meets(a: [f64; 2], b: [f64; 2], min: [f64; 2], max: [f64; 2]) -> bool {
    (a[0] >= min[0] || b[0] >= min[0])
        && (a[0] <= max[0] || b[0] <= max[0])
        && (a[1] >= min[1] || b[1] >= min[1])
        && (a[1] <= max[1] || b[1] <= max[1])
}

/// Parameter interval `t` in [0,1] where `p + t d` lies in the disk (c, r).
fn disk_interval(p: [f64; 2], d: [f64; 2], c: [f64; 2], r: f64) -> Option<(f64, f64)> {
    let pc = sub(p, c);
    let a = dot(d, d);
    let b = 2.0 * dot(d, pc);
    let cc = dot(pc, pc) - r * r;
    let disc = b * b - 4.0 * a * cc;
    if disc < 0.0 {
        return None;
    }
    let sq = disc.sqrt();
    let (lo, hi) = ((-b - sq) / (2.0 * a), (-b + sq) / (2.0 * a));
    let (lo, hi) = (lo.max(0.0), hi.min(1.0));
    (lo <= hi).then_some((lo, hi))
}

/// Liang-Barsky: clip `t` in [lo,hi] to `v0 + t dv` in [min,max].
fn clip_slab(lo: &mut f64, hi: &mut f64, v0: f64, dv: f64, min: f64, max: f64) -> bool {
    if dv.abs() < 1e-15 {
        return v0 >= min && v0 <= max;
    }
    let (mut t1, mut t2) = ((min - v0) / dv, (max - v0) / dv);
    if t1 > t2 {
        std::mem::swap(&mut t1, &mut t2);
    }
    *lo = lo.max(t1);
    *hi = hi.min(t2);
    lo <= hi
}

/// Parameter interval where `p + t d` (`t` in `[0, 1]`) is within `r` of segment ab.
pub fn capsule_interval(
    p: [f64; 2],
    d: [f64; 2],
    a: [f64; 2],
    b: [f64; 2],
    r: f64,
) -> Option<(f64, f64)> {
    let mut best: Option<(f64, f64)> = None;
    let mut add = |iv: Option<(f64, f64)>| {
        if let Some((lo, hi)) = iv {
            best = Some(match best {
                None => (lo, hi),
                Some((l, h)) => (l.min(lo), h.max(hi)),
            });
        }
    };
    if dot(d, d) == 0.0 {
        return None;
    }
    add(disk_interval(p, d, a, r));
    let ab = sub(b, a);
    let len = dot(ab, ab).sqrt();
    if len > 0.0 {
        add(disk_interval(p, d, b, r));
        let e = [ab[0] / len, ab[1] / len];
        let n = [-e[1], e[0]];
        let pa = sub(p, a);
        let (mut lo, mut hi) = (0.0, 1.0);
        if clip_slab(&mut lo, &mut hi, dot(pa, e), dot(d, e), 0.0, len)
            && clip_slab(&mut lo, &mut hi, dot(pa, n), dot(d, n), -r, r)
        {
            add(Some((lo, hi)));
        }
    }
    best
}

impl RouteGeom {
    /// Compile a validated route line (degrees) with its corridor half-width.
    pub fn new(line: &LineString<f64>, half_width: f64) -> Self {
        let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for c in line.coords() {
            (minx, miny, maxx, maxy) = (minx.min(c.x), miny.min(c.y), maxx.max(c.x), maxy.max(c.y));
        }
        let frame = LocalFrame::new((minx + maxx) * 0.5, (miny + maxy) * 0.5);
        let mut pts: Vec<[f64; 2]> = Vec::with_capacity(line.0.len());
        for c in line.coords() {
            let p = frame.project(c.x, c.y);
            if pts.last() != Some(&p) {
                pts.push(p);
            }
        }
        let mut cum = Vec::with_capacity(pts.len());
        let mut acc = 0.0;
        cum.push(0.0);
        for w in pts.windows(2) {
            let d = sub(w[1], w[0]);
            acc += dot(d, d).sqrt();
            cum.push(acc);
        }
        let nseg = pts.len().saturating_sub(1);
        let tree = (nseg > LINEAR_SCAN_MAX).then(|| {
            let segs = pts
                .windows(2)
                .enumerate()
                .map(|(i, w)| GeomWithData::new(Line::new(w[0], w[1]), i as u32))
                .collect();
            RTree::bulk_load(segs)
        });
        let chunks = if tree.is_some() {
            Vec::new()
        } else {
            (0..nseg)
                .step_by(CHUNK)
                .map(|i| {
                    // the points of segments i..i+CHUNK; f64::min/max skip a NaN
                    // as the per-segment test does
                    let run = &pts[i..=(i + CHUNK).min(nseg)];
                    let lo = run
                        .iter()
                        .fold([f64::INFINITY; 2], |m, p| [m[0].min(p[0]), m[1].min(p[1])]);
                    let hi = run.iter().fold([f64::NEG_INFINITY; 2], |m, p| {
                        [m[0].max(p[0]), m[1].max(p[1])]
                    });
                    (lo, hi)
                })
                .collect()
        };
        RouteGeom {
            chunks,
            frame,
            pts,
            cum,
            half_width,
            tree,
        }
    }

    /// Route length, metres.
    pub fn total(&self) -> f64 {
        *self.cum.last().unwrap_or(&0.0)
    }

    /// Number of segments.
    pub fn segments(&self) -> usize {
        self.pts.len().saturating_sub(1)
    }

    fn for_candidates(&self, min: [f64; 2], max: [f64; 2], mut f: impl FnMut(usize)) {
        match &self.tree {
            Some(tree) => {
                for s in tree.locate_in_envelope_intersecting(&AABB::from_corners(min, max)) {
                    f(s.data as usize);
                }
            }
            None => {
                for i in self.linear_candidates(min, max) {
                    f(i);
                }
            }
        }
    }

    /// Segments (in order) whose bounding box meets `[min, max]`, of a
    /// linearly scanned route: those of the runs whose box meets it (a
    /// segment's box lies in its run's, so none is missed).
    #[inline]
    fn linear_candidates(&self, min: [f64; 2], max: [f64; 2]) -> impl Iterator<Item = usize> + '_ {
        let nseg = self.segments();
        self.chunks
            .iter()
            .enumerate()
            .filter(move |(_, (lo, hi))| {
                lo[0] <= max[0] && hi[0] >= min[0] && lo[1] <= max[1] && hi[1] >= min[1]
            })
            .flat_map(move |(c, _)| c * CHUNK..((c + 1) * CHUNK).min(nseg))
            .filter(move |&i| seg_box_meets(self.pts[i], self.pts[i + 1], min, max))
    }

    /// Distance from `p` to segment `i` and the along-route position of the nearest point.
    #[inline]
    fn nearest_on(&self, i: usize, p: [f64; 2]) -> (f64, f64) {
        let (a, b) = (self.pts[i], self.pts[i + 1]);
        let ab = sub(b, a);
        let t = (dot(sub(p, a), ab) / dot(ab, ab)).clamp(0.0, 1.0);
        let q = [a[0] + t * ab[0], a[1] + t * ab[1]];
        let d = dot(sub(p, q), sub(p, q)).sqrt();
        (d, self.cum[i] + t * (self.cum[i + 1] - self.cum[i]))
    }

    /// Nearest point on the route: (distance, along-route position), or `None`
    /// if nothing is within `reach` metres.
    #[cfg(test)]
    pub fn locate(&self, p: [f64; 2], reach: f64) -> Option<(f64, f64)> {
        let mut best: Option<(f64, f64)> = None;
        let min = [p[0] - reach, p[1] - reach];
        let max = [p[0] + reach, p[1] + reach];
        self.for_candidates(min, max, |i| {
            let (d, s) = self.nearest_on(i, p);
            if d <= reach && best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, s));
            }
        });
        best
    }

    /// Whether some point of the route is within `reach` metres of `p`:
    /// `locate(p, reach).is_some()`, stopping at the first segment that is.
    pub fn within(&self, p: [f64; 2], reach: f64) -> bool {
        let min = [p[0] - reach, p[1] - reach];
        let max = [p[0] + reach, p[1] + reach];
        let near = |i: usize| self.nearest_on(i, p).0 <= reach;
        match &self.tree {
            Some(tree) => tree
                .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
                .any(|s| near(s.data as usize)),
            None => self.linear_candidates(min, max).any(near),
        }
    }

    /// The stretches `[from_m, to_m]` of the route lying within the corridor
    /// half-width of the pass segment `a`-`b` (local metres), merged and sorted
    /// into `out`. Also returns the along-route positions of `a` and `b` (their
    /// nearest route points among the segments near the pass), for pass counting.
    pub fn covered_by_segment(
        &self,
        a: [f64; 2],
        b: [f64; 2],
        out: &mut Vec<(f64, f64)>,
    ) -> (f64, f64) {
        out.clear();
        // a micrometre of slack so a pass exactly on the corridor edge counts
        let r = self.half_width + EDGE_EPS_M;
        let min = [a[0].min(b[0]) - r, a[1].min(b[1]) - r];
        let max = [a[0].max(b[0]) + r, a[1].max(b[1]) + r];
        let (mut na, mut nb) = ((f64::INFINITY, 0.0), (f64::INFINITY, 0.0));
        self.for_candidates(min, max, |i| {
            let (p, q) = (self.pts[i], self.pts[i + 1]);
            if let Some((lo, hi)) = capsule_interval(p, sub(q, p), a, b, r) {
                let len = self.cum[i + 1] - self.cum[i];
                let (f, t) = (self.cum[i] + lo * len, self.cum[i] + hi * len);
                if t > f {
                    out.push((f, t));
                }
                let (da, sa) = self.nearest_on(i, a);
                if da < na.0 {
                    na = (da, sa);
                }
                let (db, sb) = self.nearest_on(i, b);
                if db < nb.0 {
                    nb = (db, sb);
                }
            }
        });
        if out.len() > 1 {
            out.sort_by(|x, y| x.0.total_cmp(&y.0));
            let mut w = 0;
            for k in 1..out.len() {
                if out[k].0 <= out[w].1 {
                    out[w].1 = out[w].1.max(out[k].1);
                } else {
                    w += 1;
                    out[w] = out[k];
                }
            }
            out.truncate(w + 1);
        }
        (na.1, nb.1)
    }

    /// The route between two along-route positions, as (lon, lat) points.
    pub fn stretch_lonlat(&self, from: f64, to: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let at = |i: usize, s: f64| {
            let len = self.cum[i + 1] - self.cum[i];
            let t = if len > 0.0 {
                (s - self.cum[i]) / len
            } else {
                0.0
            };
            let (a, b) = (self.pts[i], self.pts[i + 1]);
            self.frame
                .unproject([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])])
        };
        for i in 0..self.segments() {
            let (s0, s1) = (self.cum[i], self.cum[i + 1]);
            if s1 < from || s0 > to {
                continue;
            }
            if out.is_empty() {
                out.push(at(i, from.max(s0)));
            }
            out.push(at(i, to.min(s1)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The comparisons are `max(a, b) >= min && min(a, b) <= max`, NaN included.
    #[test]
    fn seg_box_meets_is_the_min_max_test() {
        let vals = [f64::NAN, -1.0, 0.0, 0.5, 1.0, 2.0];
        for &a0 in &vals {
            for &b0 in &vals {
                for &lo in &vals[1..] {
                    for &hi in &vals[1..] {
                        let want = a0.max(b0) >= lo && a0.min(b0) <= hi;
                        let got = seg_box_meets([a0, 0.0], [b0, 0.0], [lo, -1.0], [hi, 1.0]);
                        assert_eq!(got, want, "{a0} {b0} {lo} {hi}");
                        let got = seg_box_meets([0.0, a0], [0.0, b0], [-1.0, lo], [1.0, hi]);
                        assert_eq!(got, want, "{a0} {b0} {lo} {hi}");
                    }
                }
            }
        }
    }

    /// A wavy street of `nseg` 9-metre steps east of a point in Humen.
    fn wavy(nseg: usize) -> LineString<f64> {
        let f = LocalFrame::new(113.67, 22.81);
        (0..=nseg)
            .map(|i| {
                let x = i as f64 * 9.0;
                f.unproject([x, 25.0 * (x / 40.0).sin()])
            })
            .collect::<Vec<_>>()
            .into()
    }

    /// The runs' boxes leave out no segment whose own box meets a query.
    #[test]
    fn linear_candidates_are_every_segment_meeting_the_box() {
        for nseg in [1usize, 7, 8, 9, 31, 32, 64] {
            let r = RouteGeom::new(&wavy(nseg), 8.0);
            assert!(r.tree.is_none());
            for ix in -10..(nseg as i32 * 3 + 10) {
                for iy in -12..=12 {
                    let p = [f64::from(ix) * 3.0, f64::from(iy) * 2.5];
                    for reach in [0.0, 4.0, 30.0] {
                        let (min, max) =
                            ([p[0] - reach, p[1] - reach], [p[0] + reach, p[1] + reach]);
                        let got: Vec<usize> = r.linear_candidates(min, max).collect();
                        let want: Vec<usize> = (0..r.segments())
                            .filter(|&i| seg_box_meets(r.pts[i], r.pts[i + 1], min, max))
                            .collect();
                        assert_eq!(got, want, "{nseg} {p:?} {reach}");
                    }
                }
            }
        }
    }

    /// `within` is `locate(..).is_some()`, for routes scanned linearly and
    /// through their segment tree, on points inside, outside and on the edge.
    #[test]
    fn within_is_locate_found() {
        for nseg in [3usize, 40, 200] {
            let r = RouteGeom::new(&wavy(nseg), 8.0);
            let mut found = 0;
            for ix in -40..(nseg as i32 * 9 / 3 + 40) {
                for iy in -30..=30 {
                    let p = [f64::from(ix) * 3.0 + 0.37, f64::from(iy) * 1.51];
                    for reach in [0.0, 8.0, 8.0 + 1e-6, 23.0] {
                        let expect = r.locate(p, reach).is_some();
                        assert_eq!(r.within(p, reach), expect, "{nseg} {p:?} {reach}");
                        found += usize::from(expect);
                    }
                }
            }
            assert!(found > 100, "{found}");
        }
    }

    #[test]
    fn capsule_of_crossing_segment() {
        // route along x axis from 0..100, pass crossing perpendicular at x=50
        let iv = capsule_interval([0.0, 0.0], [100.0, 0.0], [50.0, -20.0], [50.0, 20.0], 8.0);
        let (lo, hi) = iv.unwrap();
        assert!((lo * 100.0 - 42.0).abs() < 1e-9 && (hi * 100.0 - 58.0).abs() < 1e-9);
        // a pass exactly on the corridor edge touches in a zero-length interval or more
        let iv = capsule_interval([0.0, 0.0], [100.0, 0.0], [10.0, 8.0], [90.0, 8.0], 8.0);
        let (lo, hi) = iv.unwrap();
        assert!((lo - 0.1).abs() < 1e-9 && (hi - 0.9).abs() < 1e-9);
        // further away than r: nothing
        assert!(
            capsule_interval([0.0, 0.0], [100.0, 0.0], [10.0, 8.01], [90.0, 8.01], 8.0).is_none()
        );
    }
}
