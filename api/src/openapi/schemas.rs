//! The shapes of answers put together in handlers (pages, reports, GeoJSON),
//! described for the OpenAPI document only: nothing is serialized through the
//! types defined here. Keep them in step with what the handlers
//! return; the Schemathesis run (`tests/schemathesis.sh`) checks they are.

#![allow(dead_code)] // fields are read by the schema derive only

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

// Rows the handlers return as they are: their schemas are derived on the store
// types themselves (store's `openapi` feature), named as below.
pub use crate::tokens::TokenInfo;
pub use store::queries::alerts::{AlertRow as Alert, TransitionRow as Transition};
pub use store::queries::audit::AuditRow as AuditEntry;
pub use store::queries::config::{
    AreaRow as Area, AssignmentRow as Assignment, DeviceRow as Device, ShiftRow as Shift,
};
pub use store::queries::reports::{AlertKpis, DeviceDay, RouteCoverage};

/// An alert with its transitions, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub transitions: Vec<Transition>,
}

/// One page of a list, newest or lowest key first. `next_cursor` is null on the last page.
macro_rules! page {
    ($($name:ident => $item:ty),* $(,)?) => {$(
        #[doc = concat!("A page of ", stringify!($item), "s; pass `next_cursor` as `cursor` for the next (null: no more).")]
        #[derive(Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            pub next_cursor: Option<String>,
        }
    )*};
}

page! {
    AlertPage => Alert,
    DevicePage => Device,
    AreaPage => Area,
    ShiftPage => Shift,
    AssignmentPage => Assignment,
    TokenPage => TokenInfo,
    AuditPage => AuditEntry,
}

/// Coverage of one route in one shift instance, with operators' justifications applied.
#[derive(Serialize, ToSchema)]
pub struct Coverage {
    pub org: String,
    pub route: String,
    pub shift: String,
    pub date: NaiveDate,
    pub updated_at: DateTime<Utc>,
    /// Metres of the route.
    #[schema(value_type = Option<f64>)]
    pub total_m: Value,
    #[schema(value_type = Option<f64>)]
    pub covered_m: Value,
    #[schema(value_type = Option<f64>)]
    pub covered_fraction: Value,
    /// Metres with every required pass.
    #[schema(value_type = Option<f64>)]
    pub complete_m: Value,
    #[schema(value_type = Option<u32>)]
    pub passes_required: Value,
    /// Metres missed, justified stretches excluded.
    pub missed_m: f64,
    /// The engine's passes over the route.
    pub passes: Value,
    /// GeoJSON FeatureCollection of the missed stretches (LineStrings).
    #[schema(value_type = Object)]
    pub missed: Value,
    /// GeoJSON FeatureCollection of the justified stretches (`source`: `operator` or `engine`).
    #[schema(value_type = Object)]
    pub justified: Value,
    pub last_served: Value,
}

/// A stored justification of a missed stretch.
#[derive(Serialize, ToSchema)]
pub struct Justification {
    pub id: i64,
    pub org: String,
    pub route: String,
    pub shift: String,
    pub date: NaiveDate,
    pub from_m: f64,
    pub to_m: f64,
    pub note: String,
    pub actor: String,
}

#[derive(Serialize, ToSchema)]
pub struct AlertSummary {
    pub by_kind: Vec<AlertKpis>,
    /// Null when no alert opened.
    pub total: Option<AlertKpis>,
}

/// The shift report: coverage per route (with its district) and alert KPIs.
#[derive(Serialize, ToSchema)]
pub struct ShiftReport {
    pub date: NaiveDate,
    pub shift: Option<String>,
    pub org: Option<String>,
    pub routes: Vec<RouteCoverage>,
    pub alerts: AlertSummary,
}

#[derive(Serialize, ToSchema)]
pub struct DevicesReport {
    pub date: NaiveDate,
    pub items: Vec<DeviceDay>,
}

/// A GeoJSON FeatureCollection of Point Features, one per device with a fix in
/// the last day; `properties`: `device_id`, `org`, `device`, `kind`, `label`,
/// `districts`, `ts`, `speed`, `heading`, `work`, `batt`, `state` (the display
/// state, first that holds: `sos`, `offline`, `off_area`, `idle`, `working`,
/// `moving`, `stopped`; judged by the device's own `offline_after_s` and
/// `moving_min_kmh` at its org's clock), `sos`, `open_alerts`.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct Positions(Value);

/// A device's track: a GeoJSON Feature with a LineString geometry (null with
/// fewer than two fixes) and `properties.times`, or with `format=points` a
/// FeatureCollection of Point Features, one per fix.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct Track(Value);

/// An area as a GeoJSON Feature, as in a scenario file's `areas`: `id`, a
/// Polygon or LineString geometry, `properties` with `kind` (`route`, `zone`,
/// …), `name`, `district`, `grid`, `chief`, `width_m`, `passes`.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct AreaFeature(Value);

/// A shift calendar as in a scenario file's `shifts`: `id`, `name`, `weekly`
/// windows, dated `extras`, `days_off`, `monthly` extras; times in the org's
/// time zone.
#[derive(Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ShiftSpec(Value);

/// What a device is; it selects the rule defaults.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Sweeper,
    Washer,
    Collector,
    Worker,
    Unknown,
}
