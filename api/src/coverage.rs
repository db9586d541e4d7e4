//! Coverage of a route in a shift instance, and operators' justifications of
//! missed stretches.
//!
//! Justifications are stored by the API (`coverage_justifications`) and
//! applied to the stored report (a typed `geofence::CoverageReport`) when it
//! is read, by geofence's one `missed_minus_justified`: justified stretches
//! are subtracted from `missed` and reported apart. (The engine does not see
//! them.)

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};
use store::queries::coverage as q;

use crate::AppState;
use crate::auth::{Caller, Operator, Role};
use crate::error::ApiError;
use crate::extract::{J, Q};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CoverageQuery {
    pub route: String,
    pub shift: String,
    /// Local date the shift instance started on.
    pub date: NaiveDate,
    pub org: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/coverage", tag = "coverage", operation_id = "coverage",
    params(CoverageQuery),
    responses(
        (status = 200, description = "Coverage of the route in the shift instance", body = crate::openapi::schemas::Coverage),
        (status = 404, description = "No coverage of that route in that shift instance", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter that is missing or does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(query): Q<CoverageQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let orgs = caller.orgs_for(query.org.as_deref())?;
    let client = state.pool.get().await?;
    let row = q::get(
        &**client,
        orgs.as_deref(),
        &query.route,
        &query.shift,
        query.date,
    )
    .await?
    .ok_or_else(|| {
        ApiError::not_found(format!(
            "coverage of route {} in shift {} of {}",
            query.route, query.shift, query.date
        ))
    })?;
    let justs = q::justifications(
        &**client,
        &row.org,
        &row.route_id,
        &row.shift_id,
        row.shift_date,
    )
    .await?;
    let route = route_area(q::area_feature(&**client, &row.org, &row.route_id).await?);
    let r = &row.report;
    let (missed, missed_m) = missed_features(&r.missed, &justs, route.as_ref());
    let justified = justified_features(&justs, &r.justified, route.as_ref());
    Ok(Json(json!({
        "org": row.org, "route": row.route_id, "shift": row.shift_id, "date": row.shift_date,
        "updated_at": row.updated_at,
        "total_m": r.total_m, "covered_m": r.covered_m, "covered_fraction": r.covered_fraction,
        "complete_m": r.complete_m, "passes_required": r.passes_required,
        "missed_m": missed_m,
        "passes": r.passes,
        "missed": {"type": "FeatureCollection", "features": missed},
        "justified": {"type": "FeatureCollection", "features": justified},
        "last_served": r.last_served,
    })))
}

/// The missed stretches less what operators justified, as features, and
/// their length. A stretch cut by a justification is drawn along the route.
fn missed_features(
    missed: &[geofence::Stretch],
    justs: &[q::JustificationRow],
    route: Option<&geofence::Area>,
) -> (Vec<Value>, f64) {
    let cuts: Vec<(f64, f64)> = justs.iter().map(|j| (j.from_m, j.to_m)).collect();
    let mut features = Vec::new();
    let mut missed_m = 0.0;
    for s in missed {
        let pieces = geofence::missed_minus_justified(&[(s.from_m, s.to_m)], &cuts);
        missed_m += pieces.iter().map(|(a, b)| b - a).sum::<f64>();
        if pieces == [(s.from_m, s.to_m)] {
            features.push(stretch_feature(
                s.from_m,
                s.to_m,
                json!(s.geometry),
                json!({}),
            ));
        } else {
            for (a, b) in pieces {
                features.push(stretch_feature(a, b, geometry(route, a, b), json!({})));
            }
        }
    }
    (features, missed_m)
}

/// The justified stretches as features: the operators', then the engine's.
fn justified_features(
    justs: &[q::JustificationRow],
    by_engine: &[geofence::JustifiedStretch],
    route: Option<&geofence::Area>,
) -> Vec<Value> {
    let mut features: Vec<Value> = justs
        .iter()
        .map(|j| {
            stretch_feature(
                j.from_m,
                j.to_m,
                geometry(route, j.from_m, j.to_m),
                json!({"id": j.id, "note": j.note, "actor": j.actor, "at": j.created_at, "source": "operator"}),
            )
        })
        .collect();
    for js in by_engine {
        let s = &js.stretch;
        features.push(stretch_feature(
            s.from_m,
            s.to_m,
            json!(s.geometry),
            json!({"note": js.note, "source": "engine"}),
        ));
    }
    features
}

fn stretch_feature(from_m: f64, to_m: f64, geometry: Value, mut props: Value) -> Value {
    props["from_m"] = json!(from_m);
    props["to_m"] = json!(to_m);
    props["length_m"] = json!(to_m - from_m);
    json!({"type": "Feature", "geometry": geometry, "properties": props})
}

/// The route, from its stored Feature (`None` when it is gone or no longer
/// validates: stretches then have no geometry).
fn route_area(feature: Option<Value>) -> Option<geofence::Area> {
    let f: geojson::Feature = serde_json::from_value(feature?).ok()?;
    geofence::Area::from_geojson_feature(&f).ok()
}

/// A stretch of the route as a GeoJSON LineString, cut where the engine
/// measures it.
fn geometry(route: Option<&geofence::Area>, a: f64, b: f64) -> Value {
    let coords: Vec<[f64; 2]> = route
        .map(|r| r.stretch_lonlat(a, b))
        .unwrap_or_default()
        .into_iter()
        .map(|(lon, lat)| [lon, lat])
        .collect();
    if coords.len() < 2 {
        return Value::Null;
    }
    json!({"type": "LineString", "coordinates": coords})
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JustifyBody {
    pub route: String,
    pub shift: String,
    pub date: NaiveDate,
    pub org: Option<String>,
    pub from_m: f64,
    pub to_m: f64,
    pub note: String,
}

/// Justifies a missed stretch of a route (operators): it is then reported apart from `missed`.
#[utoipa::path(post, path = "/api/v1/coverage/justify", tag = "coverage", operation_id = "justify_coverage",
    request_body = JustifyBody,
    responses(
        (status = 201, description = "The justification as stored", body = crate::openapi::schemas::Justification),
        (status = 403, description = "The token lacks the operator role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No coverage of that route in that shift instance", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The same justification exists", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn justify(
    State(state): State<Arc<AppState>>,
    Operator(caller): Operator,
    J(b): J<JustifyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(Role::Operator)?;
    let mut errs = Vec::new();
    if !b.from_m.is_finite() || b.from_m < 0.0 {
        errs.push(crate::error::InvalidParam::new(
            "from_m",
            "must be a number >= 0",
        ));
    }
    if !b.to_m.is_finite() || b.to_m <= b.from_m {
        errs.push(crate::error::InvalidParam::new(
            "to_m",
            "must be greater than from_m",
        ));
    }
    if b.note.trim().is_empty() || b.note.len() > 4000 {
        errs.push(crate::error::InvalidParam::new(
            "note",
            "must be 1 to 4000 bytes",
        ));
    }
    if !errs.is_empty() {
        return Err(ApiError::Invalid(errs));
    }
    let orgs = caller.orgs_for(b.org.as_deref())?;
    let client = state.pool.get().await?;
    let row = q::get(&**client, orgs.as_deref(), &b.route, &b.shift, b.date)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "coverage of route {} in shift {} of {}",
                b.route, b.shift, b.date
            ))
        })?;
    let total_m = row.report.total_m;
    if b.to_m > total_m + 0.5 {
        return Err(ApiError::invalid(
            "to_m",
            format!("beyond the end of the route ({total_m:.1} m)"),
        ));
    }
    let justification = store::operator::NewJustification {
        org: &row.org,
        route_id: &row.route_id,
        shift_id: &row.shift_id,
        shift_date: row.shift_date,
        from_m: b.from_m,
        to_m: b.to_m,
        note: &b.note,
        actor: &caller.name,
    };
    let id = store::operator::justify(&**client, &justification).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id, "org": row.org, "route": row.route_id, "shift": row.shift_id,
            "date": row.shift_date, "from_m": b.from_m, "to_m": b.to_m, "note": b.note,
            "actor": caller.name,
        })),
    ))
}
