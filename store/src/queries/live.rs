//! What the positions view needs from the database besides the latest fixes.

use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// A device with the districts of its assigned areas and its unresolved alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    pub device_id: i32,
    pub org: String,
    pub name: String,
    pub kind: String,
    pub label: Option<String>,
    pub districts: Vec<String>,
    /// Kinds of the device's open or acknowledged alerts.
    pub open_alerts: Vec<String>,
}

/// Every device's status, in one statement: hash joins over the assignments
/// and the unresolved alerts rather than two lookups per device.
pub async fn device_statuses(client: &impl GenericClient) -> Result<Vec<DeviceStatus>, StoreError> {
    let rows = client
        .query(
            "WITH districts AS (
                 SELECT s.device_id, array_agg(DISTINCT ar.district) AS districts
                 FROM assignments s JOIN areas ar ON ar.org = s.org AND ar.id = s.area_id
                 WHERE ar.district IS NOT NULL GROUP BY s.device_id),
             open_alerts AS (
                 SELECT device_id, array_agg(kind) AS kinds
                 FROM alerts WHERE state <> 'resolved' GROUP BY device_id)
             SELECT d.id, d.org, d.name, d.kind, d.label,
                    coalesce(x.districts, '{}'), coalesce(a.kinds, '{}')
             FROM devices d
             LEFT JOIN districts x ON x.device_id = d.id
             LEFT JOIN open_alerts a ON a.device_id = d.id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceStatus {
            device_id: r.get(0),
            org: r.get(1),
            name: r.get(2),
            kind: r.get(3),
            label: r.get(4),
            districts: r.get(5),
            open_alerts: r.get(6),
        })
        .collect())
}

/// Districts of each device's assigned areas (for filtering the live stream).
pub async fn device_districts(
    client: &impl GenericClient,
) -> Result<Vec<(i32, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT DISTINCT s.device_id, ar.district FROM assignments s
             JOIN areas ar ON ar.org = s.org AND ar.id = s.area_id WHERE ar.district IS NOT NULL",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
