//! Geodesy: every distance and projection of sweepwatch, in one place.
//!
//! * [`LocalFrame`] and [`local_distance_m`]: city-scale metres, which is what
//!   the engine measures routes, passes, dwells and daily distances in.
//! * [`haversine_m`]: great-circle metres on the mean-radius sphere, the
//!   `dist_m` stored with each fix (summed by the hourly aggregate).
//! * Cutting a route between two distances along it is
//!   [`crate::Area::stretch_lonlat`], on the engine's own metres.
//!
//! Each area gets its own [`LocalFrame`]: an equirectangular projection about the
//! area's centre using the WGS84 meridional (M) and prime-vertical (N) radii of
//! curvature at that latitude. Within a few kilometres of the origin it agrees
//! with geodesic distance to far better than 0.5 % (the error grows as
//! `tan(lat) * dlat`; 0.1 % at 10 km from the origin at Berlin's latitude),
//! and it is affine in (lon, lat), so GeoJSON's straight edges stay straight.

use serde::{Deserialize, Serialize};

const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_141_316e-3;

/// An equirectangular frame about an origin; x east, y north, metres.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalFrame {
    lon0: f64,
    lat0: f64,
    /// metres per degree of longitude at `lat0`
    kx: f64,
    /// metres per degree of latitude at `lat0`
    ky: f64,
}

impl LocalFrame {
    /// A frame centred on (lon0, lat0), degrees.
    pub fn new(lon0: f64, lat0: f64) -> Self {
        let phi = lat0.to_radians();
        let s = phi.sin();
        let w = (1.0 - WGS84_E2 * s * s).sqrt();
        let n = WGS84_A / w;
        let m = WGS84_A * (1.0 - WGS84_E2) / (w * w * w);
        let deg = std::f64::consts::PI / 180.0;
        LocalFrame {
            lon0,
            lat0,
            kx: n * phi.cos() * deg,
            ky: m * deg,
        }
    }

    /// Project (lon, lat) degrees to local metres.
    #[inline]
    pub fn project(&self, lon: f64, lat: f64) -> [f64; 2] {
        [(lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky]
    }

    /// Back from local metres to (lon, lat) degrees.
    #[inline]
    pub fn unproject(&self, p: [f64; 2]) -> (f64, f64) {
        (self.lon0 + p[0] / self.kx, self.lat0 + p[1] / self.ky)
    }

    /// Metres per degree of latitude (used to turn metre margins into degrees).
    pub fn metres_per_deg_lat(&self) -> f64 {
        self.ky
    }

    /// Metres per degree of longitude at the origin.
    pub fn metres_per_deg_lon(&self) -> f64 {
        self.kx
    }
}

/// Distance in metres between two (lon, lat) points using a frame at their midpoint.
pub fn local_distance_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    // LocalFrame::new at the midpoint, with one cosine and one square root
    let c = ((lat1 + lat2) * 0.5).to_radians().cos();
    let w2 = 1.0 - WGS84_E2 * (1.0 - c * c);
    let w = w2.sqrt();
    let deg = std::f64::consts::PI / 180.0;
    let kx = WGS84_A / w * c * deg;
    let ky = WGS84_A * (1.0 - WGS84_E2) / (w2 * w) * deg;
    let (dx, dy) = ((lon2 - lon1) * kx, (lat2 - lat1) * ky);
    (dx * dx + dy * dy).sqrt()
}

/// The mean Earth radius (IUGG), metres.
const MEAN_EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between (lat1, lon1) and (lat2, lon2),
/// degrees (the `dist_m` stored with each fix).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * MEAN_EARTH_RADIUS_M * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Distance, Geodesic, Point};

    #[test]
    fn matches_geodesic_within_half_a_percent_in_a_city() {
        for &(lon0, lat0) in &[(113.67, 22.81), (13.40, 52.52), (-70.0, -60.0)] {
            let f = LocalFrame::new(lon0, lat0);
            for &(dx, dy) in &[(0.05, 0.0), (0.0, 0.05), (0.04, -0.03), (-0.1, 0.08)] {
                let a = (lon0 - dx * 0.3, lat0 + dy * 0.2);
                let b = (lon0 + dx, lat0 + dy);
                let pa = f.project(a.0, a.1);
                let pb = f.project(b.0, b.1);
                let local = (pb[0] - pa[0]).hypot(pb[1] - pa[1]);
                let geod = Geodesic.distance(Point::new(a.0, a.1), Point::new(b.0, b.1));
                assert!((local - geod).abs() / geod < 0.005, "{local} vs {geod}");
            }
        }
    }

    #[test]
    fn haversine_agrees_with_the_local_frame_in_a_city() {
        let (lon, lat) = (113.67, 22.81);
        let h = haversine_m(lat, lon, lat + 0.01, lon + 0.02);
        let l = local_distance_m(lon, lat, lon + 0.02, lat + 0.01);
        assert!((h - l).abs() / l < 0.005, "{h} vs {l}");
        assert_eq!(haversine_m(lat, lon, lat, lon), 0.0);
    }

    #[test]
    fn round_trips() {
        let f = LocalFrame::new(113.6, 22.8);
        let (lon, lat) = f.unproject(f.project(113.61, 22.79));
        assert!((lon - 113.61).abs() < 1e-12 && (lat - 22.79).abs() < 1e-12);
    }
}
