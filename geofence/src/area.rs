//! Areas: routes (a polyline plus a corridor half-width) and zones (polygons with
//! holes, multipolygons), validated on construction.

use crate::error::GeofenceError;
use crate::ids::AreaId;
use geo::{Coord, LineString, MultiPolygon, Validation};
use serde::{Deserialize, Serialize};

/// What a zone is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZonePurpose {
    /// A cleaner's grid beat.
    Beat,
    /// A park.
    Park,
    /// A waste transfer station.
    TransferStation,
    /// A rest zone (city service station): dwelling here never raises `idle`.
    RestZone,
    /// Any other zone.
    Zone,
}

impl ZonePurpose {
    /// The GeoJSON `kind` property value.
    pub fn as_str(self) -> &'static str {
        match self {
            ZonePurpose::Beat => "beat",
            ZonePurpose::Park => "park",
            ZonePurpose::TransferStation => "transfer_station",
            ZonePurpose::RestZone => "rest_zone",
            ZonePurpose::Zone => "zone",
        }
    }

    /// Parse a GeoJSON `kind` property value (`grid` is accepted for `beat`).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "beat" | "grid" => ZonePurpose::Beat,
            "park" => ZonePurpose::Park,
            "transfer_station" => ZonePurpose::TransferStation,
            "rest_zone" => ZonePurpose::RestZone,
            "zone" => ZonePurpose::Zone,
            _ => return None,
        })
    }
}

/// Route or zone.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AreaKind {
    /// A street polyline with a corridor `half_width_m` either side of it.
    Route {
        /// Corridor half-width, metres (> 0).
        half_width_m: f64,
        /// Passes a stretch needs to count as fully served (>= 1).
        passes_required: u32,
    },
    /// A polygonal zone.
    Zone {
        /// What the zone is for.
        purpose: ZonePurpose,
    },
}

/// Area geometry in WGS84 degrees; serialised as a GeoJSON geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "geojson::Geometry", try_from = "geojson::Geometry")]
pub enum AreaGeometry {
    /// A route centre line.
    Line(LineString<f64>),
    /// One or more polygons, possibly with holes.
    Polygons(MultiPolygon<f64>),
}

impl From<AreaGeometry> for geojson::Geometry {
    fn from(g: AreaGeometry) -> Self {
        match &g {
            AreaGeometry::Line(l) => geojson::Geometry::new(geojson::GeometryValue::from(l)),
            AreaGeometry::Polygons(mp) if mp.0.len() == 1 => {
                geojson::Geometry::new(geojson::GeometryValue::from(&mp.0[0]))
            }
            AreaGeometry::Polygons(mp) => geojson::Geometry::new(geojson::GeometryValue::from(mp)),
        }
    }
}

impl TryFrom<geojson::Geometry> for AreaGeometry {
    type Error = GeofenceError;
    fn try_from(g: geojson::Geometry) -> Result<Self, Self::Error> {
        use geojson::GeometryValue as V;
        let bad = |e: geojson::Error| GeofenceError::GeoJson(e.to_string());
        match &g.value {
            V::LineString { .. } => Ok(AreaGeometry::Line(
                LineString::try_from(&g.value).map_err(bad)?,
            )),
            V::Polygon { .. } => {
                let p = geo::Polygon::try_from(&g.value).map_err(bad)?;
                Ok(AreaGeometry::Polygons(MultiPolygon(vec![p])))
            }
            V::MultiPolygon { .. } => Ok(AreaGeometry::Polygons(
                MultiPolygon::try_from(&g.value).map_err(bad)?,
            )),
            other => Err(GeofenceError::GeoJson(format!(
                "unsupported geometry type {}",
                other.type_name()
            ))),
        }
    }
}

/// A work area. Geometry, id and kind are validated and read-only; the
/// descriptive fields (name, org, district, grid, chief) are free text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AreaRepr", into = "AreaRepr")]
pub struct Area {
    id: AreaId,
    kind: AreaKind,
    geometry: AreaGeometry,
    /// Display name.
    pub name: String,
    /// Org (town / tenant).
    pub org: String,
    /// District (片区).
    pub district: Option<String>,
    /// Grid.
    pub grid: Option<String>,
    /// Responsible chief (片长) to route alerts to.
    pub chief: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AreaRepr {
    id: AreaId,
    kind: AreaKind,
    geometry: AreaGeometry,
    #[serde(default)]
    name: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    district: Option<String>,
    #[serde(default)]
    grid: Option<String>,
    #[serde(default)]
    chief: Option<String>,
}

impl TryFrom<AreaRepr> for Area {
    type Error = GeofenceError;
    fn try_from(r: AreaRepr) -> Result<Self, Self::Error> {
        let mut a = Area::new(r.id, r.kind, r.geometry)?;
        (a.name, a.org, a.district, a.grid, a.chief) = (r.name, r.org, r.district, r.grid, r.chief);
        Ok(a)
    }
}

impl From<Area> for AreaRepr {
    fn from(a: Area) -> Self {
        AreaRepr {
            id: a.id,
            kind: a.kind,
            geometry: a.geometry,
            name: a.name,
            org: a.org,
            district: a.district,
            grid: a.grid,
            chief: a.chief,
        }
    }
}

fn check_coord(c: &Coord<f64>) -> Result<(), GeofenceError> {
    let ok = c.x.is_finite() && c.y.is_finite() && c.x.abs() <= 180.0 && c.y.abs() <= 90.0;
    if ok {
        Ok(())
    } else {
        Err(GeofenceError::CoordinateOutOfRange { lon: c.x, lat: c.y })
    }
}

impl Area {
    /// Validate and build an area. Refuses out-of-range coordinates, a route line
    /// with fewer than two distinct points, a half-width <= 0, zero passes, invalid
    /// (e.g. self-intersecting) polygons, and a geometry that does not fit the kind.
    pub fn new(id: AreaId, kind: AreaKind, geometry: AreaGeometry) -> Result<Self, GeofenceError> {
        let sid = || id.to_string();
        match (&kind, &geometry) {
            (
                AreaKind::Route {
                    half_width_m,
                    passes_required,
                },
                AreaGeometry::Line(line),
            ) => {
                if !(half_width_m.is_finite() && *half_width_m > 0.0) {
                    return Err(GeofenceError::InvalidWidth {
                        id: sid(),
                        width: *half_width_m,
                    });
                }
                if *passes_required == 0 {
                    return Err(GeofenceError::InvalidPasses(sid()));
                }
                line.coords().try_for_each(check_coord)?;
                let first = line.0.first();
                if first.is_none_or(|f| line.coords().all(|c| c == f)) {
                    return Err(GeofenceError::DegenerateLine(sid()));
                }
            }
            (AreaKind::Zone { .. }, AreaGeometry::Polygons(mp)) => {
                if mp.0.is_empty() {
                    return Err(GeofenceError::InvalidPolygon {
                        id: sid(),
                        reason: "no polygon".into(),
                    });
                }
                mp.0.iter()
                    .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                    .flat_map(|r| r.coords())
                    .try_for_each(check_coord)?;
                if let Err(e) = mp.check_validation() {
                    return Err(GeofenceError::InvalidPolygon {
                        id: sid(),
                        reason: e.to_string(),
                    });
                }
            }
            (AreaKind::Route { .. }, _) => {
                return Err(GeofenceError::GeometryMismatch {
                    id: sid(),
                    reason: "a route needs a LineString".into(),
                });
            }
            (AreaKind::Zone { .. }, _) => {
                return Err(GeofenceError::GeometryMismatch {
                    id: sid(),
                    reason: "a zone needs a Polygon or MultiPolygon".into(),
                });
            }
        }
        Ok(Area {
            id,
            kind,
            geometry,
            name: String::new(),
            org: String::new(),
            district: None,
            grid: None,
            chief: None,
        })
    }

    /// A route from (lon, lat) points.
    pub fn route(
        id: AreaId,
        points: &[(f64, f64)],
        half_width_m: f64,
        passes_required: u32,
    ) -> Result<Self, GeofenceError> {
        let line = LineString::from(points.to_vec());
        let kind = AreaKind::Route {
            half_width_m,
            passes_required,
        };
        Area::new(id, kind, AreaGeometry::Line(line))
    }

    /// A zone from a multipolygon.
    pub fn zone(
        id: AreaId,
        purpose: ZonePurpose,
        polygons: MultiPolygon<f64>,
    ) -> Result<Self, GeofenceError> {
        Area::new(
            id,
            AreaKind::Zone { purpose },
            AreaGeometry::Polygons(polygons),
        )
    }

    /// The area id.
    pub fn id(&self) -> &AreaId {
        &self.id
    }
    /// Route or zone, with its parameters.
    pub fn kind(&self) -> &AreaKind {
        &self.kind
    }
    /// The geometry, WGS84 degrees.
    pub fn geometry(&self) -> &AreaGeometry {
        &self.geometry
    }
    /// A route's length in metres (the same local metric the coverage uses);
    /// `None` for zones.
    pub fn length_m(&self) -> Option<f64> {
        match &self.geometry {
            AreaGeometry::Line(line) => Some(
                line.0
                    .windows(2)
                    .map(|w| crate::geodesy::local_distance_m(w[0].x, w[0].y, w[1].x, w[1].y))
                    .sum(),
            ),
            AreaGeometry::Polygons(_) => None,
        }
    }
    /// The part of a route from `from_m` to `to_m` metres along it, as
    /// (lon, lat) points, measured as the coverage measures it (so a report's
    /// stretches cut here meet the engine's own); empty for zones.
    pub fn stretch_lonlat(&self, from_m: f64, to_m: f64) -> Vec<(f64, f64)> {
        match &self.geometry {
            AreaGeometry::Line(line) => {
                crate::route_geom::RouteGeom::new(line, 0.0).stretch_lonlat(from_m, to_m)
            }
            AreaGeometry::Polygons(_) => vec![],
        }
    }
    /// Whether this is a rest zone.
    pub fn is_rest_zone(&self) -> bool {
        matches!(
            self.kind,
            AreaKind::Zone {
                purpose: ZonePurpose::RestZone
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stretch_is_cut_on_the_coverage_metres() {
        let r = Area::route(
            AreaId::new("r").unwrap(),
            &[(113.0, 22.0), (113.01, 22.0)],
            8.0,
            1,
        )
        .unwrap();
        let total = r.length_m().unwrap();
        let cut = r.stretch_lonlat(total * 0.25, total * 0.75);
        assert_eq!(cut.len(), 2);
        assert!((cut[0].0 - 113.0025).abs() < 1e-6, "{cut:?}");
        assert!((cut[1].0 - 113.0075).abs() < 1e-6, "{cut:?}");
    }
}
