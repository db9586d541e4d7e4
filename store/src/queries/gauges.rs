//! What the service's gauges read every few seconds: open alerts by kind, the
//! age of the oldest unacknowledged alert by kind, and the coverage of a
//! running shift instance. Each takes the orgs an instance serves (empty:
//! every org), so that sums across instances are right.

use chrono::NaiveDate;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// `(kind, count)` of the alerts not resolved, in `orgs` (empty: every org).
pub async fn unresolved_alerts_by_kind(
    client: &impl GenericClient,
    orgs: &[&str],
) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = client
        .query(
            "SELECT kind, count(*) FROM alerts
             WHERE state <> 'resolved' AND (cardinality($1::text[]) = 0 OR org = ANY($1)) GROUP BY kind",
            &[&orgs],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// `(kind, seconds)` since the oldest open (unacknowledged) alert of each
/// kind was created, in `orgs` (empty: every org).
pub async fn oldest_open_alert_by_kind(
    client: &impl GenericClient,
    orgs: &[&str],
) -> Result<Vec<(String, f64)>, StoreError> {
    let rows = client
        .query(
            "SELECT kind, extract(epoch FROM now() - min(created_at))::float8 FROM alerts
             WHERE state = 'open' AND (cardinality($1::text[]) = 0 OR org = ANY($1)) GROUP BY kind",
            &[&orgs],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Metres covered so far of `routes` in the instance of `shift_id` on `date`.
pub async fn covered_m(
    client: &impl GenericClient,
    org: &str,
    shift_id: &str,
    date: NaiveDate,
    routes: &[&str],
) -> Result<f64, StoreError> {
    Ok(client
        .query_one(
            "SELECT coalesce(sum(covered_m), 0)::float8 FROM coverage
             WHERE org = $1 AND shift_id = $2 AND shift_date = $3 AND route_id = ANY($4)",
            &[&org, &shift_id, &date, &routes],
        )
        .await?
        .get(0))
}
