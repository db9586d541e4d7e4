//! The alert queue.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};

use crate::StoreError;

/// An alert: what the engine opened, and what operators did with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Alert))]
pub struct AlertRow {
    pub id: i64,
    pub org: String,
    /// `devices.id`; `null` for a route alert (`coverage_at_risk`, see `area_id`).
    pub device_id: Option<i32>,
    /// The device's name (the `{device}` of its MQTT topics); `null` for a route alert.
    pub device: Option<String>,
    /// `idle`, `off_area`, `offline`, `late_start`, `speeding_at_work`, `off_shift_work`,
    /// `sos`, `work_off_route` or `coverage_at_risk` (a route alert: `area_id` is the route).
    pub kind: String,
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub opened_at: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub area_id: Option<String>,
    pub district: Option<String>,
    pub grid: Option<String>,
    pub chief: Option<String>,
    pub shift_id: Option<String>,
    pub shift_date: Option<NaiveDate>,
    pub message: String,
    /// When the engine saw the condition end.
    pub cleared_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub resolution_note: Option<String>,
    /// How many times the condition recurred soon after clearing and re-opened
    /// this case instead of opening a new one.
    pub reopen_count: i32,
    /// For `coverage_at_risk`: the route's covered share (0..1) when raised,
    /// updated when it clears.
    pub covered_fraction: Option<f64>,
    /// For `coverage_at_risk`: the route's coverage in the shift instance
    /// (`/api/v1/coverage?...`), where a dispatcher sees what is still missed.
    pub coverage_url: Option<String>,
}

/// For a `coverage_at_risk` alert: the API URL of its route's coverage in
/// its shift instance.
pub fn coverage_url(
    kind: &str,
    org: &str,
    route: Option<&str>,
    shift: Option<&str>,
    date: Option<NaiveDate>,
) -> Option<String> {
    let (true, Some(route), Some(shift), Some(date)) =
        (kind == "coverage_at_risk", route, shift, date)
    else {
        return None;
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("org", org)
        .append_pair("route", route)
        .append_pair("shift", shift)
        .append_pair("date", &date.to_string())
        .finish();
    Some(format!("/api/v1/coverage?{query}"))
}

/// The columns [`AlertRow::from_row`] reads, for `FROM alerts a LEFT JOIN devices d`
/// (route alerts have no device).
pub const ALERT_COLUMNS: &str = "a.id, a.org, a.device_id, d.name, a.kind, a.state, a.opened_at, \
    a.lat, a.lon, a.area_id, a.district, a.grid, a.chief, a.shift_id, a.shift_date, a.message, \
    a.cleared_at, a.acknowledged_at, a.acknowledged_by, a.resolved_at, a.resolved_by, a.resolution_note, \
    a.reopen_count, a.covered_fraction";

impl AlertRow {
    pub fn from_row(r: &Row) -> Self {
        Self {
            id: r.get(0),
            org: r.get(1),
            device_id: r.get(2),
            device: r.get(3),
            kind: r.get(4),
            state: r.get(5),
            opened_at: r.get(6),
            lat: r.get(7),
            lon: r.get(8),
            area_id: r.get(9),
            district: r.get(10),
            grid: r.get(11),
            chief: r.get(12),
            shift_id: r.get(13),
            shift_date: r.get(14),
            message: r.get(15),
            cleared_at: r.get(16),
            acknowledged_at: r.get(17),
            acknowledged_by: r.get(18),
            resolved_at: r.get(19),
            resolved_by: r.get(20),
            resolution_note: r.get(21),
            reopen_count: r.get(22),
            covered_fraction: r.get(23),
            coverage_url: None,
        }
        .with_links()
    }

    fn with_links(mut self) -> Self {
        self.coverage_url = coverage_url(
            &self.kind,
            &self.org,
            self.area_id.as_deref(),
            self.shift_id.as_deref(),
            self.shift_date,
        );
        self
    }
}

/// Filters of the alert list; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub state: Option<String>,
    pub kind: Option<String>,
    /// Only these orgs (`None`: every org).
    pub orgs: Option<Vec<String>>,
    pub district: Option<String>,
    pub device_id: Option<i32>,
    /// Opened at or after.
    pub from: Option<DateTime<Utc>>,
    /// Opened before.
    pub to: Option<DateTime<Utc>>,
    /// Keyset: only alerts after this (opened_at, id) in newest-first order.
    pub after: Option<(DateTime<Utc>, i64)>,
    pub limit: i64,
}

/// Alerts matching `f`, newest first.
pub async fn list(
    client: &impl GenericClient,
    f: &AlertFilter,
) -> Result<Vec<AlertRow>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN devices d ON d.id = a.device_id
         WHERE ($1::text IS NULL OR a.state = $1)
           AND ($2::text IS NULL OR a.kind = $2)
           AND ($3::text[] IS NULL OR a.org = ANY($3))
           AND ($4::text IS NULL OR a.district = $4)
           AND ($5::int4 IS NULL OR a.device_id = $5)
           AND ($6::timestamptz IS NULL OR a.opened_at >= $6)
           AND ($7::timestamptz IS NULL OR a.opened_at < $7)
           AND ($8::timestamptz IS NULL OR (a.opened_at, a.id) < ($8, $9::int8))
         ORDER BY a.opened_at DESC, a.id DESC
         LIMIT $10"
    );
    let (after_ts, after_id) = match f.after {
        Some((t, id)) => (Some(t), Some(id)),
        None => (None, None),
    };
    let rows = client
        .query(
            &sql,
            &[
                &f.state,
                &f.kind,
                &f.orgs,
                &f.district,
                &f.device_id,
                &f.from,
                &f.to,
                &after_ts,
                &after_id,
                &f.limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(AlertRow::from_row).collect())
}

/// One alert.
pub async fn get(client: &impl GenericClient, id: i64) -> Result<Option<AlertRow>, StoreError> {
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts a LEFT JOIN devices d ON d.id = a.device_id WHERE a.id = $1"
    );
    Ok(client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(AlertRow::from_row))
}

/// A step of an alert's lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Transition))]
pub struct TransitionRow {
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub at: DateTime<Utc>,
    /// `engine`, or the name of the operator's token.
    pub actor: String,
    pub note: Option<String>,
}

/// An alert's transitions, oldest first.
pub async fn transitions(
    client: &impl GenericClient,
    alert_id: i64,
) -> Result<Vec<TransitionRow>, StoreError> {
    let rows = client
        .query(
            "SELECT state, at, actor, note FROM alert_transitions WHERE alert_id = $1 ORDER BY at, id",
            &[&alert_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| TransitionRow {
            state: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            note: r.get(3),
        })
        .collect())
}
