//! Shift KPIs and daily device summaries.

use chrono::NaiveDate;
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// Coverage of one route in one shift instance, with its district.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = RouteCoverage))]
pub struct RouteCoverage {
    pub org: String,
    pub district: Option<String>,
    pub route_id: String,
    pub shift_id: String,
    pub total_m: f64,
    pub covered_m: f64,
    pub complete_m: f64,
    pub covered_fraction: f64,
    /// Length with fewer than the required passes (justified stretches included).
    pub missed_m: f64,
    /// Length operators justified.
    pub justified_m: f64,
}

pub async fn route_coverage(
    client: &impl GenericClient,
    date: NaiveDate,
    shift: Option<&str>,
    org: Option<&str>,
) -> Result<Vec<RouteCoverage>, StoreError> {
    let rows = client
        .query(
            "SELECT c.org, ar.district, c.route_id, c.shift_id, c.total_m, c.covered_m, c.complete_m,
                    c.fraction,
                    COALESCE((SELECT sum(LEAST(j.to_m, c.total_m) - LEAST(j.from_m, c.total_m))
                              FROM coverage_justifications j
                              WHERE j.org = c.org AND j.route_id = c.route_id
                                AND j.shift_id = c.shift_id AND j.shift_date = c.shift_date), 0)
             FROM coverage c LEFT JOIN areas ar ON ar.org = c.org AND ar.id = c.route_id
             WHERE c.shift_date = $1 AND ($2::text IS NULL OR c.shift_id = $2)
               AND ($3::text IS NULL OR c.org = $3)
             ORDER BY c.org, ar.district NULLS LAST, c.route_id, c.shift_id",
            &[&date, &shift, &org],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let total_m: f64 = r.get(4);
            let complete_m: f64 = r.get(6);
            RouteCoverage {
                org: r.get(0),
                district: r.get(1),
                route_id: r.get(2),
                shift_id: r.get(3),
                total_m,
                covered_m: r.get(5),
                complete_m,
                covered_fraction: r.get(7),
                missed_m: (total_m - complete_m).max(0.0),
                justified_m: r.get(8),
            }
        })
        .collect())
}

/// Alert KPIs of one kind (`kind` null: all kinds together).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = AlertKpis))]
pub struct AlertKpis {
    pub kind: Option<String>,
    pub opened: i64,
    pub acknowledged: i64,
    pub resolved: i64,
    pub median_ack_s: Option<f64>,
    pub median_resolve_s: Option<f64>,
    /// resolved / opened; null when nothing opened.
    pub rectification_rate: Option<f64>,
}

/// Alert KPIs per kind, then the total (kind None) last.
pub async fn alert_kpis(
    client: &impl GenericClient,
    date: NaiveDate,
    shift: Option<&str>,
    org: Option<&str>,
) -> Result<Vec<AlertKpis>, StoreError> {
    let rows = client
        .query(
            "SELECT kind, count(*), count(acknowledged_at), count(*) FILTER (WHERE state = 'resolved'),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)::float8),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)::float8)
             FROM alerts
             WHERE shift_date = $1 AND ($2::text IS NULL OR shift_id = $2) AND ($3::text IS NULL OR org = $3)
             GROUP BY ROLLUP (kind)
             ORDER BY kind NULLS LAST",
            &[&date, &shift, &org],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let opened: i64 = r.get(1);
            let resolved: i64 = r.get(3);
            AlertKpis {
                kind: r.get(0),
                opened,
                acknowledged: r.get(2),
                resolved,
                median_ack_s: r.get(4),
                median_resolve_s: r.get(5),
                rectification_rate: (opened > 0).then(|| resolved as f64 / opened as f64),
            }
        })
        .collect())
}

/// A device's summary of one local date.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = DeviceDay))]
pub struct DeviceDay {
    pub device_id: i32,
    pub org: String,
    pub device: String,
    pub kind: String,
    pub date: NaiveDate,
    pub distance_m: f64,
    pub working_s: f64,
    pub transit_s: f64,
    pub idle_s: f64,
    pub deadhead_ratio: Option<f64>,
}

pub async fn device_days(
    client: &impl GenericClient,
    date: NaiveDate,
    org: Option<&str>,
) -> Result<Vec<DeviceDay>, StoreError> {
    let rows = client
        .query(
            "SELECT d.id, d.org, d.name, d.kind, dd.date, dd.distance_m, dd.working_s, dd.transit_s,
                    dd.idle_s, dd.deadhead_ratio
             FROM device_daily dd JOIN devices d ON d.id = dd.device_id
             WHERE dd.date = $1 AND ($2::text IS NULL OR d.org = $2)
             ORDER BY d.org, d.name",
            &[&date, &org],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceDay {
            device_id: r.get(0),
            org: r.get(1),
            device: r.get(2),
            kind: r.get(3),
            date: r.get(4),
            distance_m: r.get(5),
            working_s: r.get(6),
            transit_s: r.get(7),
            idle_s: r.get(8),
            deadhead_ratio: r.get(9),
        })
        .collect())
}
