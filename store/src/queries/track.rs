//! A device's fixes over a time range.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackPoint {
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed: Option<f32>,
    pub heading: Option<f32>,
    pub work: Option<bool>,
    pub sos: bool,
}

/// Fixes of `device_id` in `[from, to)`, oldest first, at most `limit`.
pub async fn fixes(
    client: &impl GenericClient,
    device_id: i32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<TrackPoint>, StoreError> {
    let rows = client
        .query(
            "SELECT ts, lat, lon, speed, heading, work, sos FROM fixes
             WHERE device_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4",
            &[&device_id, &from, &to, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TrackPoint {
            ts: r.get(0),
            lat: r.get(1),
            lon: r.get(2),
            speed: r.get(3),
            heading: r.get(4),
            work: r.get(5),
            sos: r.get(6),
        })
        .collect())
}
