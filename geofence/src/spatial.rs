//! The org's areas compiled for lookup: a global R-tree over area bounding boxes
//! (WGS84 degrees, routes widened by their corridor) so a fix or a pass segment
//! is tested only against the areas near it, then exact tests per area.

use crate::area::{Area, AreaGeometry, AreaKind};
use crate::fxhash::FxMap;
use crate::ids::AreaId;
use crate::route_geom::RouteGeom;
use geo::{BoundingRect, Intersects, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use std::collections::HashMap;

/// Compiled geometry of one area.
#[derive(Debug)]
pub(crate) enum Shape {
    Route(RouteGeom),
    Zone(MultiPolygon<f64>),
}

/// An area with its compiled shape.
#[derive(Debug)]
pub(crate) struct CompiledArea {
    pub area: Area,
    pub shape: Shape,
}

impl CompiledArea {
    /// Whether (lon, lat) is inside: within half-width + `margin_m` of a route,
    /// or inside (boundary included) a zone.
    pub fn contains(&self, lon: f64, lat: f64, margin_m: f64) -> bool {
        match &self.shape {
            Shape::Route(r) => r.within(
                r.frame.project(lon, lat),
                r.half_width + margin_m + crate::route_geom::EDGE_EPS_M,
            ),
            Shape::Zone(mp) => mp.intersects(&Point::new(lon, lat)),
        }
    }

    /// A representative position (first vertex), (lon, lat).
    pub fn anchor(&self) -> (f64, f64) {
        match self.area.geometry() {
            AreaGeometry::Line(l) => l.0.first().map_or((0.0, 0.0), |c| (c.x, c.y)),
            AreaGeometry::Polygons(mp) => {
                mp.0.first()
                    .and_then(|p| p.exterior().0.first())
                    .map_or((0.0, 0.0), |c| (c.x, c.y))
            }
        }
    }

    pub fn route(&self) -> Option<&RouteGeom> {
        match &self.shape {
            Shape::Route(r) => Some(r),
            Shape::Zone(_) => None,
        }
    }
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Boxes (WGS84 degrees) on a uniform grid: the box queries run on every fix
/// (which routes a pass segment may touch, which rest zones hold a fix) in a
/// hash lookup or two, instead of a walk down an R-tree. A query reports
/// exactly the boxes intersecting it (boundaries included), as the R-tree's
/// `locate_in_envelope_intersecting` does, each once, in no particular order.
#[derive(Debug, Default)]
pub(crate) struct BoxGrid {
    origin: [f64; 2],
    /// Cell size per axis, degrees (> 0).
    size: [f64; 2],
    boxes: Vec<GridBox>,
    /// Per cell: the boxes covering it (indices into `boxes`).
    cells: FxMap<(i32, i32), Vec<u32>>,
    /// Boxes covering more than [`BoxGrid::MAX_CELLS`] cells, when there are
    /// few: tested on every query.
    big: Vec<u32>,
    /// When there are many (an org of short alleys and long arterials): a
    /// grid of their own, with cells sized for them (one level: what is big
    /// even for it is scanned).
    coarse: Option<Box<BoxGrid>>,
}

/// A box of a [`BoxGrid`]: its corners, the first cell it covers, its value.
#[derive(Debug)]
struct GridBox {
    lo: [f64; 2],
    hi: [f64; 2],
    cell: [i32; 2],
    value: u32,
    /// Left to the coarse grid (reported by it, not by this level).
    coarse: bool,
}

impl BoxGrid {
    /// A box covering more cells than this is kept apart (a long arterial route).
    const MAX_CELLS: i64 = 16;
    /// More boxes kept apart than this get a grid of their own.
    const MAX_BIG: usize = 32;

    /// Grid cells twice the median box size, so most boxes cover one to four.
    fn build(boxes: Vec<([f64; 2], [f64; 2], u32)>) -> Self {
        Self::build_level(boxes, true)
    }

    /// `build`; a coarse grid for many big boxes only if `coarse`.
    fn build_level(boxes: Vec<([f64; 2], [f64; 2], u32)>, coarse: bool) -> Self {
        if boxes.is_empty() {
            return BoxGrid::default();
        }
        let n = boxes.len();
        let median = |axis: usize| {
            let mut w: Vec<f64> = boxes.iter().map(|b| b.1[axis] - b.0[axis]).collect();
            w.sort_by(f64::total_cmp);
            (w[w.len() / 2] * 2.0).max(1e-7)
        };
        let origin = [0, 1].map(|a| boxes.iter().map(|b| b.0[a]).fold(f64::INFINITY, f64::min));
        let mut g = BoxGrid {
            origin,
            size: [median(0), median(1)],
            ..BoxGrid::default()
        };
        for (i, (lo, hi, v)) in boxes.into_iter().enumerate() {
            let (c0, c1) = (g.cell(lo), g.cell(hi));
            g.boxes.push(GridBox {
                lo,
                hi,
                cell: c0,
                value: v,
                coarse: false,
            });
            let n = (i64::from(c1[0]) - i64::from(c0[0]) + 1)
                * (i64::from(c1[1]) - i64::from(c0[1]) + 1);
            if n > Self::MAX_CELLS {
                g.big.push(i as u32);
                continue;
            }
            for cx in c0[0]..=c1[0] {
                for cy in c0[1]..=c1[1] {
                    g.cells.entry((cx, cy)).or_default().push(i as u32);
                }
            }
        }
        // Many big boxes get their own grid (its cells sized by their median),
        // unless they are all of them: then no grid fits better than a scan.
        if coarse && g.big.len() > Self::MAX_BIG && g.big.len() < n {
            let big = std::mem::take(&mut g.big);
            let big: Vec<([f64; 2], [f64; 2], u32)> = big
                .iter()
                .map(|&i| {
                    let b = &mut g.boxes[i as usize];
                    b.coarse = true;
                    (b.lo, b.hi, b.value)
                })
                .collect();
            g.coarse = Some(Box::new(BoxGrid::build_level(big, false)));
        }
        g
    }

    /// The cell of a position (monotonic in each coordinate).
    #[inline]
    fn cell(&self, p: [f64; 2]) -> [i32; 2] {
        [0, 1].map(|a| {
            // floor without the library call (this target has no SSE4.1
            // rounding): truncate, then step down below zero; NaN becomes 0
            // and far-off positions the grid's edge cells
            let q = ((p[a] - self.origin[a]) / self.size[a]).clamp(-1e9, 1e9);
            let t = q as i32;
            if f64::from(t) > q { t - 1 } else { t }
        })
    }

    /// Values of the boxes intersecting `[min, max]` (boundaries included).
    pub fn query(&self, min: [f64; 2], max: [f64; 2], mut f: impl FnMut(u32)) {
        self.scan(min, max, &mut f);
        if let Some(coarse) = &self.coarse {
            coarse.scan(min, max, &mut f);
        }
    }

    /// `query` on this level's cells and its big boxes (a coarse grid has no
    /// coarse grid of its own).
    #[inline(always)]
    fn scan(&self, min: [f64; 2], max: [f64; 2], f: &mut impl FnMut(u32)) {
        let hits = |b: &GridBox| {
            b.lo[0] <= max[0] && min[0] <= b.hi[0] && b.lo[1] <= max[1] && min[1] <= b.hi[1]
        };
        if self.boxes.is_empty() {
            return;
        }
        let (q0, q1) = (self.cell(min), self.cell(max));
        let n =
            (i64::from(q1[0]) - i64::from(q0[0]) + 1) * (i64::from(q1[1]) - i64::from(q0[1]) + 1);
        if n > Self::MAX_CELLS * 4 {
            // a wide query: every box once
            for b in self.boxes.iter().filter(|b| !b.coarse && hits(b)) {
                f(b.value);
            }
            return;
        }
        for cx in q0[0]..=q1[0] {
            for cy in q0[1]..=q1[1] {
                let Some(list) = self.cells.get(&(cx, cy)) else {
                    continue;
                };
                for &i in list {
                    let b = &self.boxes[i as usize];
                    // reported from the first cell the box and the query share
                    if cx == b.cell[0].max(q0[0]) && cy == b.cell[1].max(q0[1]) && hits(b) {
                        f(b.value);
                    }
                }
            }
        }
        for &i in &self.big {
            let b = &self.boxes[i as usize];
            if hits(b) {
                f(b.value);
            }
        }
    }
}

/// All areas of an org, indexed.
#[derive(Debug, Default)]
pub(crate) struct AreaIndex {
    pub areas: Vec<CompiledArea>,
    pub by_id: HashMap<AreaId, u32>,
    /// Every area.
    tree: RTree<Entry>,
    /// Routes only (pass segments are tested against these).
    routes: BoxGrid,
    /// Rest zones only (every fix is tested against these).
    rest: BoxGrid,
}

fn envelope(a: &CompiledArea) -> Option<([f64; 2], [f64; 2])> {
    match (&a.shape, a.area.geometry()) {
        (Shape::Route(r), AreaGeometry::Line(l)) => {
            let b = l.bounding_rect()?;
            // containment is tested in the route's own frame, so its scale is exact here
            let pad = r.half_width * (1.0 + 1e-9);
            let dlat = pad / r.frame.metres_per_deg_lat();
            let dlon = pad / r.frame.metres_per_deg_lon();
            Some((
                [b.min().x - dlon, b.min().y - dlat],
                [b.max().x + dlon, b.max().y + dlat],
            ))
        }
        (Shape::Zone(mp), _) => {
            let b = mp.bounding_rect()?;
            Some(([b.min().x, b.min().y], [b.max().x, b.max().y]))
        }
        _ => None,
    }
}

impl AreaIndex {
    /// Compile and index a set of (already validated) areas; a later duplicate id
    /// replaces an earlier one.
    pub fn build(areas: Vec<Area>) -> Self {
        let mut by_id: HashMap<AreaId, u32> = HashMap::new();
        let mut compiled: Vec<CompiledArea> = Vec::with_capacity(areas.len());
        for area in areas {
            let shape = match (area.kind(), area.geometry()) {
                (AreaKind::Route { half_width_m, .. }, AreaGeometry::Line(l)) => {
                    Shape::Route(RouteGeom::new(l, *half_width_m))
                }
                (_, AreaGeometry::Polygons(mp)) => Shape::Zone(mp.clone()),
                // Area::new guarantees kind and geometry agree
                (_, AreaGeometry::Line(_)) => continue,
            };
            let c = CompiledArea { area, shape };
            match by_id.get(c.area.id()) {
                Some(&i) => compiled[i as usize] = c,
                None => {
                    by_id.insert(c.area.id().clone(), compiled.len() as u32);
                    compiled.push(c);
                }
            }
        }
        let entries: Vec<Entry> = compiled
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let (lo, hi) = envelope(c)?;
                Some(GeomWithData::new(Rectangle::from_corners(lo, hi), i as u32))
            })
            .collect();
        let pick = |f: &dyn Fn(&CompiledArea) -> bool| {
            BoxGrid::build(
                entries
                    .iter()
                    .filter(|e| f(&compiled[e.data as usize]))
                    .map(|e| (e.geom().lower(), e.geom().upper(), e.data))
                    .collect(),
            )
        };
        let routes = pick(&|c| c.route().is_some());
        let rest = pick(&|c| c.area.is_rest_zone());
        AreaIndex {
            tree: RTree::bulk_load(entries),
            routes,
            rest,
            areas: compiled,
            by_id,
        }
    }

    /// Indices of areas whose (widened) box intersects the given degree box.
    pub fn near(&self, min: [f64; 2], max: [f64; 2], mut f: impl FnMut(u32)) {
        for e in self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
        {
            f(e.data);
        }
    }

    /// Indices of routes whose (widened) box intersects the given degree box.
    pub fn near_routes(&self, min: [f64; 2], max: [f64; 2], f: impl FnMut(u32)) {
        self.routes.query(min, max, f);
    }

    /// Indices of rest zones whose box intersects the given degree box.
    pub fn near_rest(&self, min: [f64; 2], max: [f64; 2], f: impl FnMut(u32)) {
        self.rest.query(min, max, f);
    }

    /// Whether the point is inside a rest zone.
    pub fn in_rest_zone(&self, lon: f64, lat: f64) -> bool {
        let mut inside = false;
        self.rest.query([lon, lat], [lon, lat], |i| {
            inside = inside || self.areas[i as usize].contains(lon, lat, 0.0);
        });
        inside
    }

    /// The first area (lowest index) containing the point, if any.
    pub fn first_containing(&self, lon: f64, lat: f64) -> Option<u32> {
        let mut first: Option<u32> = None;
        self.near([lon, lat], [lon, lat], |i| {
            if first.is_none_or(|b| i < b) && self.areas[i as usize].contains(lon, lat, 0.0) {
                first = Some(i);
            }
        });
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_cells_are_floors() {
        let g = BoxGrid {
            size: [0.5, 2.0],
            ..BoxGrid::default()
        };
        for x in [
            -3.0, -2.5, -2.25, -0.5, -1e-12, 0.0, 1e-12, 0.5, 0.75, 7.0, 1e12, -1e12,
        ] {
            let want =
                [(x / 0.5f64).floor(), (x / 2.0f64).floor()].map(|c| c.clamp(-1e9, 1e9) as i32);
            assert_eq!(g.cell([x, x]), want, "{x}");
        }
        assert_eq!(g.cell([f64::NAN, f64::NAN]), [0, 0]);
    }

    /// The grid reports what the R-tree it replaced reports: every box
    /// intersecting the query, boundaries included, once; for small, large and
    /// point queries, queries on a box's very corner, and boxes of every size.
    #[test]
    fn box_grid_finds_what_the_r_tree_finds() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut boxes = Vec::new();
        for i in 0..600u32 {
            let (x, y) = (113.5 + rnd() * 0.2, 22.9 + rnd() * 0.2);
            let (w, h) = match i % 10 {
                0 => (rnd() * 0.1, rnd() * 0.1), // long arterials
                1 => (0.0, rnd() * 0.003),       // a north-south street
                _ => (rnd() * 0.004, rnd() * 0.004),
            };
            boxes.push(([x, y], [x + w, y + h], i));
        }
        // and an org of short alleys and, as many, long arterials
        for i in 600..1200u32 {
            let (x, y) = (113.5 + rnd() * 0.2, 22.9 + rnd() * 0.2);
            let (w, h) = if i % 2 == 0 {
                (rnd() * 0.0005, rnd() * 0.0005)
            } else {
                (0.02 + rnd() * 0.05, rnd() * 0.01)
            };
            boxes.push(([x, y], [x + w, y + h], i));
        }
        let grid = BoxGrid::build(boxes.clone());
        assert!(grid.coarse.is_some());
        let tree: RTree<Entry> = RTree::bulk_load(
            boxes
                .iter()
                .map(|&(lo, hi, v)| GeomWithData::new(Rectangle::from_corners(lo, hi), v))
                .collect(),
        );
        let mut queries = Vec::new();
        for k in 0..3000 {
            let (x, y) = (113.48 + rnd() * 0.24, 22.88 + rnd() * 0.24);
            let r = [0.0, 0.0001, 0.001, 0.02, 0.3][k % 5];
            queries.push(([x - r, y - r], [x + r * rnd(), y + r * rnd()]));
        }
        for &(lo, hi, _) in &boxes[..200] {
            queries.push((hi, hi));
            queries.push((lo, lo));
            queries.push(([hi[0], lo[1]], [hi[0] + 0.001, lo[1]]));
        }
        let mut total = 0;
        for (min, max) in queries {
            let mut got = Vec::new();
            grid.query(min, max, |v| got.push(v));
            got.sort_unstable();
            let mut want: Vec<u32> = tree
                .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
                .map(|e| e.data)
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "{min:?} {max:?}");
            total += got.len();
        }
        assert!(total > 5000, "{total}");
        let mut none = Vec::new();
        BoxGrid::default().query([0.0, 0.0], [1.0, 1.0], |v| none.push(v));
        assert!(none.is_empty());
    }
}
