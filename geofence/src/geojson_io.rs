//! Areas to and from GeoJSON features.
//!
//! Feature properties:
//!
//! | property | meaning |
//! |---|---|
//! | `kind` | `route`, `beat` (or `grid`), `park`, `transfer_station`, `rest_zone`, `zone` |
//! | `width_m` | routes: corridor **half-width** in metres, i.e. the distance either side of the centre line (required, > 0) |
//! | `passes` | routes: passes required per shift instance (default 1) |
//! | `name`, `org`, `district`, `grid`, `chief` | strings, optional |
//!
//! The id is the feature's `id` (string or number) or else an `id` property.

use crate::area::{Area, AreaGeometry, AreaKind, ZonePurpose};
use crate::error::GeofenceError;
use crate::ids::AreaId;
use geojson::{Feature, feature::Id};
use serde_json::Value;

fn prop_str(f: &Feature, key: &str) -> Result<Option<String>, GeofenceError> {
    match f.property(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(GeofenceError::GeoJson(format!(
            "property {key} must be a string, got {other}"
        ))),
    }
}

fn prop_f64(f: &Feature, key: &str) -> Result<Option<f64>, GeofenceError> {
    match f.property(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(GeofenceError::GeoJson(format!(
            "property {key} must be a number, got {other}"
        ))),
    }
}

fn feature_id(f: &Feature) -> Result<AreaId, GeofenceError> {
    let raw = match &f.id {
        Some(Id::String(s)) => s.clone(),
        Some(Id::Number(n)) => n.to_string(),
        None => {
            prop_str(f, "id")?.ok_or_else(|| GeofenceError::GeoJson("feature has no id".into()))?
        }
    };
    AreaId::new(raw)
}

impl Area {
    /// Read an area from a GeoJSON feature (see the module docs for properties).
    pub fn from_geojson_feature(f: &Feature) -> Result<Area, GeofenceError> {
        let id = feature_id(f)?;
        let geometry = f
            .geometry
            .clone()
            .ok_or_else(|| GeofenceError::GeoJson(format!("feature {id} has no geometry")))?;
        let geometry = AreaGeometry::try_from(geometry)?;
        let kind_s = prop_str(f, "kind")?
            .ok_or_else(|| GeofenceError::GeoJson(format!("feature {id} has no kind")))?;
        let kind = if kind_s == "route" {
            let half_width_m = prop_f64(f, "width_m")?.ok_or_else(|| {
                GeofenceError::GeoJson(format!("route {id} has no width_m property"))
            })?;
            let passes = prop_f64(f, "passes")?.unwrap_or(1.0);
            if !(passes.fract() == 0.0 && (0.0..=1000.0).contains(&passes)) {
                return Err(GeofenceError::GeoJson(format!(
                    "route {id}: passes must be a small whole number"
                )));
            }
            AreaKind::Route {
                half_width_m,
                passes_required: passes as u32,
            }
        } else {
            let purpose = ZonePurpose::parse(&kind_s)
                .ok_or_else(|| GeofenceError::GeoJson(format!("unknown kind {kind_s:?}")))?;
            AreaKind::Zone { purpose }
        };
        let mut area = Area::new(id, kind, geometry)?;
        area.name = prop_str(f, "name")?.unwrap_or_default();
        area.org = prop_str(f, "org")?.unwrap_or_default();
        area.district = prop_str(f, "district")?;
        area.grid = prop_str(f, "grid")?;
        area.chief = prop_str(f, "chief")?;
        Ok(area)
    }

    /// Write the area as a GeoJSON feature (inverse of [`Area::from_geojson_feature`]).
    pub fn to_geojson_feature(&self) -> Feature {
        let mut f = Feature {
            bbox: None,
            geometry: Some(self.geometry().clone().into()),
            id: Some(Id::String(self.id().to_string())),
            properties: None,
            foreign_members: None,
        };
        match self.kind() {
            AreaKind::Route {
                half_width_m,
                passes_required,
            } => {
                f.set_property("kind", "route");
                f.set_property("width_m", *half_width_m);
                f.set_property("passes", *passes_required);
            }
            AreaKind::Zone { purpose } => f.set_property("kind", purpose.as_str()),
        }
        f.set_property("name", self.name.clone());
        f.set_property("org", self.org.clone());
        for (k, v) in [
            ("district", &self.district),
            ("grid", &self.grid),
            ("chief", &self.chief),
        ] {
            if let Some(v) = v {
                f.set_property(k, v.clone());
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(json: &str) -> Feature {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn route_round_trip() {
        let f = feature(
            r#"{"type":"Feature","id":"route-hm-012","geometry":{"type":"LineString",
            "coordinates":[[113.67,22.81],[113.68,22.81]]},
            "properties":{"kind":"route","width_m":8,"passes":2,"district":"humen","chief":"Li"}}"#,
        );
        let a = Area::from_geojson_feature(&f).unwrap();
        assert_eq!(a.id().as_str(), "route-hm-012");
        assert_eq!(
            a.kind(),
            &AreaKind::Route {
                half_width_m: 8.0,
                passes_required: 2
            }
        );
        let back = Area::from_geojson_feature(&a.to_geojson_feature()).unwrap();
        assert_eq!(a, back);
    }

    #[test]
    fn zone_with_hole_round_trip_and_serde() {
        let f = feature(
            r#"{"type":"Feature","id":7,"geometry":{"type":"Polygon","coordinates":[
            [[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]],
            [[0.004,0.004],[0.006,0.004],[0.006,0.006],[0.004,0.006],[0.004,0.004]]]},
            "properties":{"kind":"rest_zone","name":"station"}}"#,
        );
        let a = Area::from_geojson_feature(&f).unwrap();
        assert!(a.is_rest_zone());
        let json = serde_json::to_string(&a).unwrap();
        let back: Area = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
    }

    #[test]
    fn refuses_degenerate_input() {
        let cases = [
            // self-intersecting bow tie
            r#"{"type":"Feature","id":"z","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]},"properties":{"kind":"zone"}}"#,
            // one-point line
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[[1,1],[1,1]]},"properties":{"kind":"route","width_m":5}}"#,
            // empty line
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[]},"properties":{"kind":"route","width_m":5}}"#,
            // zero width
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[[1,1],[1,2]]},"properties":{"kind":"route","width_m":0}}"#,
            // negative width
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[[1,1],[1,2]]},"properties":{"kind":"route","width_m":-3}}"#,
            // out of range
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[[1,1],[181,2]]},"properties":{"kind":"route","width_m":3}}"#,
            // wrong geometry for kind
            r#"{"type":"Feature","id":"r","geometry":{"type":"Point","coordinates":[1,1]},"properties":{"kind":"route","width_m":3}}"#,
            // missing kind
            r#"{"type":"Feature","id":"r","geometry":{"type":"LineString","coordinates":[[1,1],[1,2]]},"properties":{}}"#,
            // no id
            r#"{"type":"Feature","geometry":{"type":"LineString","coordinates":[[1,1],[1,2]]},"properties":{"kind":"route","width_m":3}}"#,
        ];
        for c in cases {
            assert!(Area::from_geojson_feature(&feature(c)).is_err(), "{c}");
        }
    }
}
