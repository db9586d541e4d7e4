//! Reports: `GET /api/v1/reports/shift` (coverage per district and route,
//! alert KPIs) and `GET /api/v1/reports/devices` (daily summaries), as JSON
//! or, with `Accept: text/csv`, as CSV.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use store::queries::reports as q;

use crate::AppState;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::extract::Q;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ShiftQuery {
    pub date: NaiveDate,
    pub shift: Option<String>,
    pub org: Option<String>,
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// Coverage per district and route, and alert KPIs, of the shift instances of
/// a date; CSV (routes only) with `Accept: text/csv`.
#[utoipa::path(get, path = "/api/v1/reports/shift", tag = "reports", operation_id = "shift_report",
    params(ShiftQuery),
    responses(
        (status = 200, description = "The report", content((crate::openapi::schemas::ShiftReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter that is missing or does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn shift(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Q(query): Q<ShiftQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let (shift, orgs) = (query.shift.as_deref(), orgs.as_deref());
    let routes = q::route_coverage(&**client, query.date, shift, orgs).await?;
    let alerts = q::alert_kpis(&**client, query.date, shift, orgs).await?;
    if wants_csv(&headers) {
        let mut out = String::from(
            "org,district,route,shift,total_m,covered_m,complete_m,covered_fraction,missed_m,justified_m\n",
        );
        for r in &routes {
            out.push_str(&csv_row(&[
                &r.org,
                r.district.as_deref().unwrap_or(""),
                &r.route_id,
                &r.shift_id,
                &format!("{:.1}", r.total_m),
                &format!("{:.1}", r.covered_m),
                &format!("{:.1}", r.complete_m),
                &format!("{:.4}", r.covered_fraction),
                &format!("{:.1}", r.missed_m),
                &format!("{:.1}", r.justified_m),
            ]));
        }
        return Ok(csv(out));
    }
    let (total, by_kind): (Vec<_>, Vec<_>) = alerts.into_iter().partition(|a| a.kind.is_none());
    Ok(Json(json!({
        "date": query.date, "shift": query.shift, "org": query.org,
        "routes": routes,
        "alerts": {"by_kind": by_kind, "total": total.into_iter().next()},
    }))
    .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DevicesQuery {
    pub date: NaiveDate,
    pub org: Option<String>,
}

/// Each device's daily summary of a date; CSV with `Accept: text/csv`.
#[utoipa::path(get, path = "/api/v1/reports/devices", tag = "reports", operation_id = "devices_report",
    params(DevicesQuery),
    responses(
        (status = 200, description = "The report", content((crate::openapi::schemas::DevicesReport = "application/json"), (String = "text/csv"))),
        (status = 422, description = "A parameter that is missing or does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn devices(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    Q(query): Q<DevicesQuery>,
) -> Result<Response, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let days = q::device_days(&**client, query.date, orgs.as_deref()).await?;
    if wants_csv(&headers) {
        let mut out = String::from(
            "device_id,org,device,kind,date,distance_m,working_s,transit_s,idle_s,deadhead_ratio\n",
        );
        for d in &days {
            out.push_str(&csv_row(&[
                &d.device_id.to_string(),
                &d.org,
                &d.device,
                &d.kind,
                &d.date.to_string(),
                &format!("{:.1}", d.distance_m),
                &format!("{:.0}", d.working_s),
                &format!("{:.0}", d.transit_s),
                &format!("{:.0}", d.idle_s),
                &d.deadhead_ratio
                    .map_or(String::new(), |r| format!("{r:.4}")),
            ]));
        }
        return Ok(csv(out));
    }
    Ok(Json(json!({"date": query.date, "items": days})).into_response())
}

fn csv(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
}

/// One CSV line (RFC 4180 quoting where needed).
fn csv_row(fields: &[&str]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                (*f).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(
            super::csv_row(&["a", "b,c", "say \"hi\""]),
            "a,\"b,c\",\"say \"\"hi\"\"\"\n"
        );
    }
}
