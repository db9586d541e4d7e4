//! Stored coverage reports and the operators' justifications.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::GenericClient;
use tokio_postgres::types::Json;

use crate::StoreError;
use crate::queries::Orgs;

/// A stored coverage report of one route in one shift instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageRow {
    pub org: String,
    pub route_id: String,
    pub shift_id: String,
    pub shift_date: NaiveDate,
    pub report: geofence::CoverageReport,
    pub updated_at: DateTime<Utc>,
}

/// The report of `route` in (`shift`, `date`), in `orgs` (the first org by
/// name when several have such a route).
pub async fn get(
    client: &impl GenericClient,
    orgs: Orgs<'_>,
    route: &str,
    shift: &str,
    date: NaiveDate,
) -> Result<Option<CoverageRow>, StoreError> {
    let row = client
        .query_opt(
            "SELECT org, route_id, shift_id, shift_date, report, updated_at FROM coverage
             WHERE route_id = $1 AND shift_id = $2 AND shift_date = $3 AND ($4::text[] IS NULL OR org = ANY($4))
             ORDER BY org LIMIT 1",
            &[&route, &shift, &date, &orgs],
        )
        .await?;
    row.map(|r| {
        // A report that no longer reads as a `CoverageReport` is an error
        // (naming the column), not a report of zeros.
        let Json(report) = r.try_get(4)?;
        Ok(CoverageRow {
            org: r.get(0),
            route_id: r.get(1),
            shift_id: r.get(2),
            shift_date: r.get(3),
            report,
            updated_at: r.get(5),
        })
    })
    .transpose()
}

/// A stretch an operator marked as justifiably missed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JustificationRow {
    pub id: i64,
    pub from_m: f64,
    pub to_m: f64,
    pub note: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// Justifications of a route in a shift instance, in order along the route.
pub async fn justifications(
    client: &impl GenericClient,
    org: &str,
    route: &str,
    shift: &str,
    date: NaiveDate,
) -> Result<Vec<JustificationRow>, StoreError> {
    let rows = client
        .query(
            "SELECT id, from_m, to_m, note, actor, created_at FROM coverage_justifications
             WHERE org = $1 AND route_id = $2 AND shift_id = $3 AND shift_date = $4
             ORDER BY from_m, id",
            &[&org, &route, &shift, &date],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| JustificationRow {
            id: r.get(0),
            from_m: r.get(1),
            to_m: r.get(2),
            note: r.get(3),
            actor: r.get(4),
            created_at: r.get(5),
        })
        .collect())
}

/// The stored GeoJSON Feature of an area.
pub async fn area_feature(
    client: &impl GenericClient,
    org: &str,
    id: &str,
) -> Result<Option<serde_json::Value>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT feature FROM areas WHERE org = $1 AND id = $2",
            &[&org, &id],
        )
        .await?
        .map(|r| r.get(0)))
}
