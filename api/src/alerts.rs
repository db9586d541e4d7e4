//! The alert queue: list (filtered, newest first, paginated), one alert with
//! its transitions, and the operators' `ack` and `resolve`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use live::AlertUpdate;
use serde::Deserialize;
use serde_json::{Value, json};
use store::operator::{self, AlertAction as Action};
use store::queries::alerts::{self, AlertFilter, AlertRow};

use crate::AppState;
use crate::auth::{Caller, Operator, Role};
use crate::error::ApiError;
use crate::extract::{P, Q, RawBody, optional_json};
use crate::page::{self, Page};
use axum::body::Bytes;

const STATES: &[&str] = &["open", "acknowledged", "resolved"];
/// Every alert kind, as the domain names them (geofence owns the list).
pub const KINDS: [&str; geofence::AlertKind::ALL.len()] = {
    let mut out = [""; geofence::AlertKind::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = geofence::AlertKind::ALL[i].as_str();
        i += 1;
    }
    out
};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    /// `open`, `acknowledged` or `resolved`.
    pub state: Option<String>,
    /// `idle`, `off_area`, `offline`, `late_start`, `speeding_at_work`, `off_shift_work`,
    /// `sos`, `work_off_route` or `coverage_at_risk`.
    pub kind: Option<String>,
    pub org: Option<String>,
    pub district: Option<String>,
    /// `devices.id`
    pub device: Option<i32>,
    /// Opened at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Opened before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn one_of(field: &str, value: &Option<String>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(ApiError::invalid(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
        _ => Ok(()),
    }
}

fn alert_cursor(a: &AlertRow) -> String {
    page::pair(&a.opened_at.to_rfc3339(), &a.id.to_string())
}

fn parse_alert_cursor(c: &str) -> Result<(DateTime<Utc>, i64), ApiError> {
    let (t, id) = page::decode_pair(c)?;
    let bad = || ApiError::invalid("cursor", "not a cursor returned by this API");
    let t = DateTime::parse_from_rfc3339(&t).map_err(|_| bad())?;
    Ok((t.with_timezone(&Utc), id.parse().map_err(|_| bad())?))
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", operation_id = "list_alerts",
    params(AlertQuery),
    responses(
        (status = 200, description = "Alerts, newest first", body = crate::openapi::schemas::AlertPage),
        (status = 422, description = "A filter, limit or cursor that does not validate", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Q(q): Q<AlertQuery>,
) -> Result<Json<Page<AlertRow>>, ApiError> {
    caller.require(Role::Viewer)?;
    one_of("state", &q.state, STATES)?;
    one_of("kind", &q.kind, &KINDS)?;
    let limit = page::limit(q.limit)?;
    let after = q.cursor.as_deref().map(parse_alert_cursor).transpose()?;
    let filter = AlertFilter {
        orgs: caller.orgs_for(q.org.as_deref())?,
        state: q.state,
        kind: q.kind,
        district: q.district,
        device_id: q.device,
        from: q.from,
        to: q.to,
        after,
        limit: limit + 1,
    };
    let client = state.pool.get().await?;
    let rows = alerts::list(&**client, &filter).await?;
    Ok(Json(Page::from_rows(rows, limit, alert_cursor)))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts", operation_id = "get_alert",
    params(("id" = i64, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert with its transitions", body = crate::openapi::schemas::AlertDetail),
        (status = 404, description = "No such alert", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P(id): P<i64>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Viewer)?;
    let client = state.pool.get().await?;
    let alert = alerts::get(&**client, id)
        .await?
        .filter(|a| caller.sees(&a.org))
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    let transitions = alerts::transitions(&**client, id).await?;
    let mut v = serde_json::to_value(alert).map_err(|e| ApiError::Internal(Box::new(e)))?;
    v["transitions"] = json!(transitions);
    Ok(Json(v))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// At most 4000 bytes; blank is none.
    pub note: Option<String>,
}

/// Acknowledges an alert (operators). The optional note is stored with the transition.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts", operation_id = "ack_alert",
    params(("id" = i64, Path, description = "The alert's id")),
    request_body(content = Option<NoteBody>, description = "Optional; an empty body is no note"),
    responses(
        (status = 200, description = "The alert as updated", body = crate::openapi::schemas::Alert),
        (status = 403, description = "The token lacks the operator role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is already in that state, or resolved", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that is not a note object, or a note over 4000 bytes", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn ack(
    state: State<Arc<AppState>>,
    Operator(caller): Operator,
    id: P<i64>,
    RawBody(body): RawBody,
) -> Result<Json<AlertRow>, ApiError> {
    act(state, caller, id, body, Action::Acknowledge).await
}

/// Resolves an alert (operators). The optional note is stored with the transition.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts", operation_id = "resolve_alert",
    params(("id" = i64, Path, description = "The alert's id")),
    request_body(content = Option<NoteBody>, description = "Optional; an empty body is no note"),
    responses(
        (status = 200, description = "The alert as updated", body = crate::openapi::schemas::Alert),
        (status = 403, description = "The token lacks the operator role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such alert", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The alert is already in that state, or resolved", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A body that is not a note object, or a note over 4000 bytes", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve(
    state: State<Arc<AppState>>,
    Operator(caller): Operator,
    id: P<i64>,
    RawBody(body): RawBody,
) -> Result<Json<AlertRow>, ApiError> {
    act(state, caller, id, body, Action::Resolve).await
}

async fn act(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    P(id): P<i64>,
    body: Bytes,
    action: Action,
) -> Result<Json<AlertRow>, ApiError> {
    caller.require(Role::Operator)?;
    // No body, `null` and `{}` all mean no note.
    let note = optional_json::<Option<NoteBody>>(&body)?
        .flatten()
        .and_then(|b| b.note)
        .filter(|n| !n.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.len() > 4000) {
        return Err(ApiError::invalid("note", "at most 4000 bytes"));
    }
    let mut client = state.pool.get().await?;
    let tx = client.transaction().await?;
    // An alert of an org the token does not see is one that does not exist.
    let current = operator::lock_alert(&*tx, id)
        .await?
        .filter(|a| caller.sees(&a.org))
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?
        .state;
    match (action, current.as_str()) {
        (_, "resolved") => {
            return Err(ApiError::Conflict(format!(
                "alert {id} is already resolved"
            )));
        }
        (Action::Acknowledge, "acknowledged") => {
            return Err(ApiError::Conflict(format!(
                "alert {id} is already acknowledged"
            )));
        }
        _ => {}
    }
    let new_state = action.state();
    operator::act_on_alert(&*tx, id, action, &caller.name, note.as_deref()).await?;
    let row = alerts::get(&*tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id}")))?;
    tx.commit().await?;
    let at = match action {
        Action::Acknowledge => row.acknowledged_at,
        Action::Resolve => row.resolved_at,
    };
    state.live.announce_update(AlertUpdate {
        alert_id: id,
        org: row.org.clone(),
        device_id: row.device_id,
        kind: row.kind.clone(),
        state: new_state,
        at: at.unwrap_or_else(Utc::now),
        actor: caller.name.clone(),
        note,
        district: row.district.clone(),
    });
    tracing::info!(
        alert = id,
        actor = caller.name,
        state = new_state,
        "alert updated by an operator"
    );
    Ok(Json(row))
}
