//! Alerts as the quality scorer reads them (`sweepwatch score`): every case an org's
//! engine opened in a time range, with its device's name (none for a route alert,
//! `coverage_at_risk`), whatever operators did with it since.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// One case, as much of it as scoring needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoredAlert {
    /// The device's name (`None` for a route alert).
    pub device: Option<String>,
    pub kind: String,
    pub opened_at: DateTime<Utc>,
    /// When the engine saw the condition end.
    pub cleared_at: Option<DateTime<Utc>>,
    /// The area concerned: the route of a route alert.
    pub area_id: Option<String>,
    pub shift_id: Option<String>,
    pub shift_date: Option<NaiveDate>,
    /// How often a recurrence re-opened the case.
    pub reopen_count: i32,
}

/// The cases of `org` opened in `[from, to)`, oldest first.
pub async fn alerts_opened(
    client: &impl GenericClient,
    org: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ScoredAlert>, StoreError> {
    let rows = client
        .query(
            "SELECT d.name, a.kind, a.opened_at, a.cleared_at, a.area_id, a.shift_id,
                    a.shift_date, a.reopen_count
             FROM alerts a LEFT JOIN devices d ON d.id = a.device_id
             WHERE a.org = $1 AND a.opened_at >= $2 AND a.opened_at < $3
             ORDER BY a.opened_at, a.id",
            &[&org, &from, &to],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ScoredAlert {
            device: r.get(0),
            kind: r.get(1),
            opened_at: r.get(2),
            cleared_at: r.get(3),
            area_id: r.get(4),
            shift_id: r.get(5),
            shift_date: r.get(6),
            reopen_count: r.get(7),
        })
        .collect())
}
