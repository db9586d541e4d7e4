//! The generated cities of the API and city benchmarks: local metres east and
//! north of one south-west corner, turned into degrees.

use serde_json::{Value, json};

/// The city's south-west corner.
pub const LAT0: f64 = 22.70;
pub const LON0: f64 = 113.55;

/// Local metres east/north of the city corner to (lat, lon).
pub fn to_deg(x: f64, y: f64) -> (f64, f64) {
    let lat = LAT0 + y / 111_320.0;
    let lon = LON0 + x / (111_320.0 * LAT0.to_radians().cos());
    (lat, lon)
}

/// A GeoJSON position (lon, lat at 1e-7 degree) of local metres.
pub fn point(x: f64, y: f64) -> Value {
    let (lat, lon) = to_deg(x, y);
    json!([(lon * 1e7).round() / 1e7, (lat * 1e7).round() / 1e7])
}
