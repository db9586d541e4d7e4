//! Small geometry helpers for the API: bounding boxes and Douglas–Peucker on
//! projected metres. Distances, projections and cutting a route are
//! `geofence::geodesy`'s and `geofence::Area`'s.

use geo::{Coord, LineString, SimplifyIdx};
use geofence::geodesy::LocalFrame;

use crate::error::ApiError;

/// `(min_lon, min_lat, max_lon, max_lat)`
pub type BBox = (f64, f64, f64, f64);

pub fn parse_bbox(s: &str) -> Result<BBox, ApiError> {
    let parts: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::invalid("bbox", "must be min_lon,min_lat,max_lon,max_lat"))?;
    match parts[..] {
        [a, b, c, d]
            if parts.iter().all(|x| x.is_finite())
                && (-180.0..=180.0).contains(&a)
                && (-180.0..=180.0).contains(&c)
                && (-90.0..=90.0).contains(&b)
                && (-90.0..=90.0).contains(&d)
                && a <= c
                && b <= d =>
        {
            Ok((a, b, c, d))
        }
        _ => Err(ApiError::invalid(
            "bbox",
            "must be min_lon,min_lat,max_lon,max_lat in degrees, min before max",
        )),
    }
}

pub fn in_bbox(b: BBox, lon: f64, lat: f64) -> bool {
    (b.0..=b.2).contains(&lon) && (b.1..=b.3).contains(&lat)
}

/// Indices of the points Douglas–Peucker keeps with `tolerance_m`, on the
/// points projected to local metres (equirectangular around the first point).
pub fn simplify_indices(lonlat: &[(f64, f64)], tolerance_m: f64) -> Vec<usize> {
    let Some(&(lon0, lat0)) = lonlat.first() else {
        return vec![];
    };
    let frame = LocalFrame::new(lon0, lat0);
    let line: LineString<f64> = lonlat
        .iter()
        .map(|&(lon, lat)| {
            let [x, y] = frame.project(lon, lat);
            Coord { x, y }
        })
        .collect();
    line.simplify_idx(tolerance_m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_drops_collinear_points() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (113.0 + f64::from(i) * 0.0001, 22.0))
            .collect();
        assert_eq!(simplify_indices(&pts, 1.0), vec![0, 9]);
        assert!(parse_bbox("1,2,3").is_err());
        assert_eq!(parse_bbox("1,2,3,4").unwrap(), (1.0, 2.0, 3.0, 4.0));
    }
}
