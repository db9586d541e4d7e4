//! What the whole database holds, in one statement: the demo's progress line.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::StoreError;

/// Counts over every org.
#[derive(Debug, Clone, PartialEq)]
pub struct Totals {
    pub fixes: i64,
    pub rejects: i64,
    /// Open or acknowledged.
    pub unresolved_alerts: i64,
    pub alerts: i64,
    /// The mean covered fraction of the stored coverage rows (0 when none).
    pub mean_coverage: f64,
    /// The time of the newest fix.
    pub newest_fix: Option<DateTime<Utc>>,
}

pub async fn totals(client: &impl GenericClient) -> Result<Totals, StoreError> {
    let r = client
        .query_one(
            "SELECT (SELECT count(*) FROM fixes),
                    (SELECT count(*) FROM rejected_messages),
                    (SELECT count(*) FROM alerts WHERE state <> 'resolved'),
                    (SELECT count(*) FROM alerts),
                    (SELECT coalesce(avg(fraction), 0)::float8 FROM coverage),
                    (SELECT max(ts) FROM fixes)",
            &[],
        )
        .await?;
    Ok(Totals {
        fixes: r.get(0),
        rejects: r.get(1),
        unresolved_alerts: r.get(2),
        alerts: r.get(3),
        mean_coverage: r.get(4),
        newest_fix: r.get(5),
    })
}
