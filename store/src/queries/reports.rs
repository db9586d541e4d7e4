//! Shift KPIs and daily device summaries.

use chrono::NaiveDate;
use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;
use crate::queries::Orgs;

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
    /// Length with fewer than the required passes that no operator justified
    /// (as `missed_m` of `GET /api/v1/coverage`).
    pub missed_m: f64,
    /// Length operators justified, within the route.
    pub justified_m: f64,
}

pub async fn route_coverage(
    client: &impl GenericClient,
    date: NaiveDate,
    shift: Option<&str>,
    orgs: Orgs<'_>,
) -> Result<Vec<RouteCoverage>, StoreError> {
    let rows = client
        .query(
            "SELECT c.org, ar.district, c.route_id, c.shift_id, c.total_m, c.covered_m, c.complete_m,
                    c.fraction,
                    ARRAY(SELECT j.from_m FROM coverage_justifications j
                          WHERE j.org = c.org AND j.route_id = c.route_id
                            AND j.shift_id = c.shift_id AND j.shift_date = c.shift_date ORDER BY j.id),
                    ARRAY(SELECT j.to_m FROM coverage_justifications j
                          WHERE j.org = c.org AND j.route_id = c.route_id
                            AND j.shift_id = c.shift_id AND j.shift_date = c.shift_date ORDER BY j.id),
                    ARRAY(SELECT (m->>'from_m')::float8 FROM jsonb_array_elements(c.report->'missed') m),
                    ARRAY(SELECT (m->>'to_m')::float8 FROM jsonb_array_elements(c.report->'missed') m)
             FROM coverage c LEFT JOIN areas ar ON ar.org = c.org AND ar.id = c.route_id
             WHERE c.shift_date = $1 AND ($2::text IS NULL OR c.shift_id = $2)
               AND ($3::text[] IS NULL OR c.org = ANY($3))
             ORDER BY c.org, ar.district NULLS LAST, c.route_id, c.shift_id",
            &[&date, &shift, &orgs],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let total_m: f64 = r.get(4);
            let complete_m: f64 = r.get(6);
            let justified = pairs(r.get(8), r.get(9), total_m);
            let missed = pairs(r.get(10), r.get(11), total_m);
            RouteCoverage {
                org: r.get(0),
                district: r.get(1),
                route_id: r.get(2),
                shift_id: r.get(3),
                total_m,
                covered_m: r.get(5),
                complete_m,
                covered_fraction: r.get(7),
                missed_m: geofence::missed_m(&missed, &justified),
                justified_m: geofence::IntervalSet::from(justified).measure(),
            }
        })
        .collect())
}

/// `(from, to)` pairs, clipped to `[0, total]`.
fn pairs(from: Vec<f64>, to: Vec<f64>, total: f64) -> Vec<(f64, f64)> {
    from.into_iter()
        .zip(to)
        .map(|(f, t)| (f.clamp(0.0, total), t.clamp(0.0, total)))
        .filter(|(f, t)| t > f)
        .collect()
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
    orgs: Orgs<'_>,
) -> Result<Vec<AlertKpis>, StoreError> {
    let rows = client
        .query(
            "SELECT kind, count(*), count(acknowledged_at), count(*) FILTER (WHERE state = 'resolved'),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - opened_at)::float8),
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)::float8)
             FROM alerts
             WHERE shift_date = $1 AND ($2::text IS NULL OR shift_id = $2) AND ($3::text[] IS NULL OR org = ANY($3))
             GROUP BY ROLLUP (kind)
             ORDER BY kind NULLS LAST",
            &[&date, &shift, &orgs],
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
    orgs: Orgs<'_>,
) -> Result<Vec<DeviceDay>, StoreError> {
    let rows = client
        .query(
            "SELECT d.id, d.org, d.name, d.kind, dd.date, dd.distance_m, dd.working_s, dd.transit_s,
                    dd.idle_s, dd.deadhead_ratio
             FROM device_daily dd JOIN devices d ON d.id = dd.device_id
             WHERE dd.date = $1 AND ($2::text[] IS NULL OR d.org = ANY($2))
             ORDER BY d.org, d.name",
            &[&date, &orgs],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_are_clipped_to_the_route() {
        assert_eq!(
            pairs(vec![-1.0, 8.0, 3.0], vec![5.0, 120.0, 2.0], 100.0),
            vec![(0.0, 5.0), (8.0, 100.0)]
        );
    }
}
