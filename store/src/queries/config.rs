//! Devices, areas, shifts and assignments as stored, keyset-paginated.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::{GenericClient, Row};

use crate::StoreError;
use crate::queries::Orgs;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Device))]
pub struct DeviceRow {
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

pub(crate) const DEVICE_COLUMNS: &str =
    "id, org, name, kind, label, owntracks_id, online, status_at, created_at";

impl DeviceRow {
    pub fn from_row(r: &Row) -> Self {
        Self {
            id: r.get(0),
            org: r.get(1),
            device: r.get(2),
            kind: r.get(3),
            label: r.get(4),
            owntracks_id: r.get(5),
            online: r.get(6),
            status_at: r.get(7),
            created_at: r.get(8),
        }
    }
}

/// Devices with id above `after`, in `orgs`.
pub async fn devices(
    client: &impl GenericClient,
    orgs: Orgs<'_>,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<DeviceRow>, StoreError> {
    let sql = format!(
        "SELECT {DEVICE_COLUMNS} FROM devices WHERE ($1::text[] IS NULL OR org = ANY($1))
         AND ($2::int4 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    let rows = client.query(&sql, &[&orgs, &after, &limit]).await?;
    Ok(rows.iter().map(DeviceRow::from_row).collect())
}

pub async fn device(client: &impl GenericClient, id: i32) -> Result<Option<DeviceRow>, StoreError> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
    Ok(client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(DeviceRow::from_row))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Area))]
pub struct AreaRow {
    pub org: String,
    pub id: String,
    pub name: String,
    /// `route`, `zone`, …
    pub kind: String,
    pub district: Option<String>,
    pub grid: Option<String>,
    pub chief: Option<String>,
    /// The area as a GeoJSON Feature, as in a scenario file's `areas`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub feature: serde_json::Value,
}

pub(crate) fn area_from_row(r: &Row) -> AreaRow {
    AreaRow {
        org: r.get(0),
        id: r.get(1),
        name: r.get(2),
        kind: r.get(3),
        district: r.get(4),
        grid: r.get(5),
        chief: r.get(6),
        feature: r.get(7),
    }
}

/// Areas after the key `after` (org, id), in `orgs`, filtered by district.
pub async fn areas(
    client: &impl GenericClient,
    orgs: Orgs<'_>,
    district: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<AreaRow>, StoreError> {
    let (a_org, a_id) = after.unzip();
    let rows = client
        .query(
            "SELECT org, id, name, kind, district, grid, chief, feature FROM areas
             WHERE ($1::text[] IS NULL OR org = ANY($1)) AND ($2::text IS NULL OR district = $2)
               AND ($3::text IS NULL OR (org, id) > ($3, $4::text))
             ORDER BY org, id LIMIT $5",
            &[&orgs, &district, &a_org, &a_id, &limit],
        )
        .await?;
    Ok(rows.iter().map(area_from_row).collect())
}

pub async fn area(
    client: &impl GenericClient,
    org: &str,
    id: &str,
) -> Result<Option<AreaRow>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT org, id, name, kind, district, grid, chief, feature FROM areas WHERE org = $1 AND id = $2",
            &[&org, &id],
        )
        .await?
        .as_ref()
        .map(area_from_row))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Shift))]
pub struct ShiftRow {
    pub org: String,
    pub id: String,
    pub name: String,
    /// The shift as in a scenario file's `shifts`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub definition: serde_json::Value,
}

/// Shifts after the key `after` (org, id), in `orgs`.
pub async fn shifts(
    client: &impl GenericClient,
    orgs: Orgs<'_>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<ShiftRow>, StoreError> {
    let (a_org, a_id) = after.unzip();
    let rows = client
        .query(
            "SELECT org, id, name, definition FROM shifts
             WHERE ($1::text[] IS NULL OR org = ANY($1)) AND ($2::text IS NULL OR (org, id) > ($2, $3::text))
             ORDER BY org, id LIMIT $4",
            &[&orgs, &a_org, &a_id, &limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ShiftRow {
            org: r.get(0),
            id: r.get(1),
            name: r.get(2),
            definition: r.get(3),
        })
        .collect())
}

pub async fn shift(
    client: &impl GenericClient,
    org: &str,
    id: &str,
) -> Result<Option<ShiftRow>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT org, id, name, definition FROM shifts WHERE org = $1 AND id = $2",
            &[&org, &id],
        )
        .await?
        .map(|r| ShiftRow {
            org: r.get(0),
            id: r.get(1),
            name: r.get(2),
            definition: r.get(3),
        }))
}

/// The org's time zone, if the org exists.
pub async fn org_timezone(
    client: &impl GenericClient,
    org: &str,
) -> Result<Option<String>, StoreError> {
    Ok(client
        .query_opt("SELECT timezone FROM orgs WHERE id = $1", &[&org])
        .await?
        .map(|r| r.get(0)))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Assignment))]
pub struct AssignmentRow {
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

const ASSIGNMENT_SELECT: &str = "SELECT s.id, s.org, s.device_id, d.name, s.area_id, s.shift_id, \
    s.valid_from, s.valid_to FROM assignments s JOIN devices d ON d.id = s.device_id";

pub(crate) fn assignment_from_row(r: &Row) -> AssignmentRow {
    AssignmentRow {
        id: r.get(0),
        org: r.get(1),
        device_id: r.get(2),
        device: r.get(3),
        area_id: r.get(4),
        shift_id: r.get(5),
        valid_from: r.get(6),
        valid_to: r.get(7),
    }
}

/// Assignments with id above `after`, in `orgs`, of `device_id` if given.
pub async fn assignments(
    client: &impl GenericClient,
    orgs: Orgs<'_>,
    device_id: Option<i32>,
    after: Option<i64>,
    limit: i64,
) -> Result<Vec<AssignmentRow>, StoreError> {
    let sql = format!(
        "{ASSIGNMENT_SELECT} WHERE ($1::text[] IS NULL OR s.org = ANY($1))
         AND ($2::int4 IS NULL OR s.device_id = $2) AND ($3::int8 IS NULL OR s.id > $3)
         ORDER BY s.id LIMIT $4"
    );
    let rows = client
        .query(&sql, &[&orgs, &device_id, &after, &limit])
        .await?;
    Ok(rows.iter().map(assignment_from_row).collect())
}

pub async fn assignment(
    client: &impl GenericClient,
    id: i64,
) -> Result<Option<AssignmentRow>, StoreError> {
    let sql = format!("{ASSIGNMENT_SELECT} WHERE s.id = $1");
    Ok(client
        .query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(assignment_from_row))
}
