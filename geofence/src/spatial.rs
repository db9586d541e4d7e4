//! The org's areas compiled for lookup: a global R-tree over area bounding boxes
//! (WGS84 degrees, routes widened by their corridor) so a fix or a pass segment
//! is tested only against the areas near it, then exact tests per area.

use crate::area::{Area, AreaGeometry, AreaKind};
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
                r.half_width + margin_m + EDGE_EPS_M,
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

/// Tolerance for projection rounding, so a point exactly on an edge is inside.
pub(crate) const EDGE_EPS_M: f64 = 1e-6;

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// All areas of an org, indexed.
#[derive(Debug, Default)]
pub(crate) struct AreaIndex {
    pub areas: Vec<CompiledArea>,
    pub by_id: HashMap<AreaId, u32>,
    /// Every area.
    tree: RTree<Entry>,
    /// Routes only (pass segments are tested against these).
    routes: RTree<Entry>,
    /// Rest zones only (every fix is tested against these).
    rest: RTree<Entry>,
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
            let sel = entries
                .iter()
                .filter(|e| f(&compiled[e.data as usize]))
                .cloned()
                .collect();
            RTree::bulk_load(sel)
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
    pub fn near_routes(&self, min: [f64; 2], max: [f64; 2], mut f: impl FnMut(u32)) {
        for e in self
            .routes
            .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
        {
            f(e.data);
        }
    }

    /// Indices of rest zones whose box intersects the given degree box.
    pub fn near_rest(&self, min: [f64; 2], max: [f64; 2], mut f: impl FnMut(u32)) {
        for e in self
            .rest
            .locate_in_envelope_intersecting(&AABB::from_corners(min, max))
        {
            f(e.data);
        }
    }

    /// Whether the point is inside a rest zone.
    pub fn in_rest_zone(&self, lon: f64, lat: f64) -> bool {
        self.rest
            .locate_all_at_point(&[lon, lat])
            .any(|e| self.areas[e.data as usize].contains(lon, lat, 0.0))
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
