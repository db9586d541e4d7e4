//! The shapes of answers built elsewhere (`store::queries` rows, JSON put
//! together in handlers), described for the OpenAPI document only: nothing is
//! serialized through these types. Keep them in step with what the handlers
//! return; the Schemathesis run (`tests/schemathesis.sh`) checks they are.

#![allow(dead_code)] // fields are read by the schema derive only

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An alert: what the engine opened, and what operators did with it.
#[derive(Serialize, ToSchema)]
pub struct Alert {
    pub id: i64,
    pub org: String,
    /// `devices.id`
    pub device_id: i32,
    /// The device's name (the `{device}` of its MQTT topics).
    pub device: String,
    /// `idle`, `off_area`, `offline`, `late_start`, `speeding_at_work`, `off_shift_work` or `sos`.
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
}

/// A step of an alert's lifecycle.
#[derive(Serialize, ToSchema)]
pub struct Transition {
    /// `open`, `acknowledged` or `resolved`.
    pub state: String,
    pub at: DateTime<Utc>,
    /// `engine`, or the name of the operator's token.
    pub actor: String,
    pub note: Option<String>,
}

/// An alert with its transitions, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: Alert,
    pub transitions: Vec<Transition>,
}

#[derive(Serialize, ToSchema)]
pub struct Device {
    pub id: i32,
    pub org: String,
    /// The `{device}` of its MQTT topics.
    pub device: String,
    pub kind: String,
    pub label: Option<String>,
    pub owntracks_id: Option<String>,
    /// From the device's last status message.
    pub online: Option<bool>,
    pub status_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct Area {
    pub org: String,
    pub id: String,
    pub name: String,
    /// `route`, `zone`, …
    pub kind: String,
    pub district: Option<String>,
    pub grid: Option<String>,
    pub chief: Option<String>,
    /// The area as a GeoJSON Feature, as in a scenario file's `areas`.
    #[schema(value_type = Object)]
    pub feature: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Shift {
    pub org: String,
    pub id: String,
    pub name: String,
    /// The shift as in a scenario file's `shifts`.
    #[schema(value_type = Object)]
    pub definition: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Assignment {
    pub id: i64,
    pub org: String,
    /// `devices.id`
    pub device_id: i32,
    pub device: String,
    pub area_id: String,
    pub shift_id: String,
    pub valid_from: DateTime<Utc>,
    /// Exclusive; null: open-ended.
    pub valid_to: Option<DateTime<Utc>>,
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

/// Coverage of one route in one shift instance, with its district.
#[derive(Serialize, ToSchema)]
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

/// Alert KPIs of one kind (`kind` null: all kinds together).
#[derive(Serialize, ToSchema)]
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

/// A device's summary of one local date.
#[derive(Serialize, ToSchema)]
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

#[derive(Serialize, ToSchema)]
pub struct DevicesReport {
    pub date: NaiveDate,
    pub items: Vec<DeviceDay>,
}

/// A GeoJSON FeatureCollection of Point Features, one per device with a fix in
/// the last day; `properties`: `device_id`, `org`, `device`, `kind`, `label`,
/// `districts`, `ts`, `speed`, `heading`, `work`, `batt`, `state` (`offline`,
/// `off_area`, `idle`, `working`, `moving`, `stopped`), `sos`, `open_alerts`.
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
