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

/// Back and forth over [0, len]: (position, going forward?).
pub fn shuttle(d: f64, len: f64) -> (f64, bool) {
    let d = d.rem_euclid(2.0 * len);
    if d <= len {
        (d, true)
    } else {
        (2.0 * len - d, false)
    }
}

/// The point `d` metres along a polyline walked back and forth: (x, y, km/h,
/// heading in degrees).
pub fn along(points: &[(f64, f64)], d: f64, kmh: f64) -> (f64, f64, f64, f64) {
    let lengths: Vec<f64> = points
        .windows(2)
        .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
        .collect();
    let (mut d, forward) = shuttle(d, lengths.iter().sum());
    let last = lengths.len().saturating_sub(1);
    for (i, (w, len)) in points.windows(2).zip(&lengths).enumerate() {
        if d <= *len || i == last {
            let f = (d / len).min(1.0);
            let (dx, dy) = (w[1].0 - w[0].0, w[1].1 - w[0].1);
            let heading = dx.atan2(dy).to_degrees() + if forward { 0.0 } else { 180.0 };
            return (w[0].0 + f * dx, w[0].1 + f * dy, kmh, heading);
        }
        d -= len;
    }
    (points[0].0, points[0].1, kmh, 0.0)
}
