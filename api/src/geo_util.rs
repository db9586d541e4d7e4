//! Small geometry helpers for the API: bounding boxes, cutting a route line
//! between two distances along it, and Douglas–Peucker on projected metres.

use geo::{Coord, LineString, SimplifyIdx};

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

/// Metres per degree of latitude and of longitude at `lat`.
fn scale(lat: f64) -> (f64, f64) {
    (110_574.0, 111_320.0 * lat.to_radians().cos())
}

/// Indices of the points Douglas–Peucker keeps with `tolerance_m`, on the
/// points projected to local metres (equirectangular around the first point).
pub fn simplify_indices(lonlat: &[(f64, f64)], tolerance_m: f64) -> Vec<usize> {
    let Some(&(lon0, lat0)) = lonlat.first() else {
        return vec![];
    };
    let (my, mx) = scale(lat0);
    let line: LineString<f64> = lonlat
        .iter()
        .map(|&(lon, lat)| Coord {
            x: (lon - lon0) * mx,
            y: (lat - lat0) * my,
        })
        .collect();
    line.simplify_idx(tolerance_m)
}

/// The part of the line `coords` (lon, lat) from `from_m` to `to_m` along it,
/// where the whole line is `total_m` long (lengths measured locally are
/// scaled to it, so the cut agrees with the engine's metres).
pub fn cut_line(coords: &[(f64, f64)], total_m: f64, from_m: f64, to_m: f64) -> Vec<[f64; 2]> {
    if coords.len() < 2 {
        return vec![];
    }
    let lat0 = coords[0].1;
    let (my, mx) = scale(lat0);
    let seg: Vec<f64> = coords
        .windows(2)
        .map(|w| (((w[1].0 - w[0].0) * mx).powi(2) + ((w[1].1 - w[0].1) * my).powi(2)).sqrt())
        .collect();
    let local: f64 = seg.iter().sum();
    if local <= 0.0 {
        return vec![];
    }
    let k = if total_m > 0.0 { local / total_m } else { 1.0 };
    let (a, b) = ((from_m * k).clamp(0.0, local), (to_m * k).clamp(0.0, local));
    let at = |d: f64| -> [f64; 2] {
        let mut acc = 0.0;
        for (i, len) in seg.iter().enumerate() {
            if acc + len >= d || i == seg.len() - 1 {
                let f = if *len > 0.0 {
                    ((d - acc) / len).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                let (p, q) = (coords[i], coords[i + 1]);
                return [p.0 + f * (q.0 - p.0), p.1 + f * (q.1 - p.1)];
            }
            acc += len;
        }
        [coords[0].0, coords[0].1]
    };
    let mut out = vec![at(a)];
    let mut acc = 0.0;
    for (i, len) in seg.iter().enumerate() {
        acc += len;
        if acc > a && acc < b {
            out.push([coords[i + 1].0, coords[i + 1].1]);
        }
    }
    out.push(at(b));
    out
}

/// Subtracts the intervals `cuts` from `[from, to)`; pieces shorter than
/// half a metre (below GPS precision) are dropped.
pub fn subtract(from: f64, to: f64, cuts: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut pieces = vec![(from, to)];
    for &(c0, c1) in cuts {
        pieces = pieces
            .into_iter()
            .flat_map(|(a, b)| {
                let mut out = Vec::new();
                if c1 <= a || c0 >= b {
                    out.push((a, b));
                } else {
                    if c0 > a {
                        out.push((a, c0));
                    }
                    if c1 < b {
                        out.push((c1, b));
                    }
                }
                out
            })
            .collect();
    }
    pieces.retain(|(a, b)| b - a >= 0.5);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtract_cuts_holes() {
        assert_eq!(
            subtract(0.0, 100.0, &[(10.0, 20.0), (90.0, 200.0)]),
            vec![(0.0, 10.0), (20.0, 90.0)]
        );
        assert!(subtract(10.0, 20.0, &[(0.0, 30.0)]).is_empty());
    }

    #[test]
    fn cut_line_takes_the_middle() {
        let line = [(113.0, 22.0), (113.01, 22.0)];
        let cut = cut_line(&line, 1000.0, 250.0, 750.0);
        assert_eq!(cut.len(), 2);
        assert!((cut[0][0] - 113.0025).abs() < 1e-9);
        assert!((cut[1][0] - 113.0075).abs() < 1e-9);
    }

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
