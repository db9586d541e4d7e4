//! What the live view and the positions view read: each device's newest fix
//! (to fill the live view at start), and who each device is.

use serde::Serialize;
use tokio_postgres::GenericClient;

use crate::StoreError;

/// What the positions view shows of a device besides its fix: who it is and
/// the districts of its assigned areas. It changes only with the
/// configuration, so the API keeps it in memory (see [`directory_version`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceInfo {
    pub device_id: i32,
    pub org: String,
    pub name: String,
    pub kind: String,
    pub label: Option<String>,
    pub districts: Vec<String>,
}

/// Every device with its districts, in one statement.
pub async fn device_directory(client: &impl GenericClient) -> Result<Vec<DeviceInfo>, StoreError> {
    let rows = client
        .query(
            "WITH districts AS (
                 SELECT s.device_id, array_agg(DISTINCT ar.district) AS districts
                 FROM assignments s JOIN areas ar ON ar.org = s.org AND ar.id = s.area_id
                 WHERE ar.district IS NOT NULL GROUP BY s.device_id)
             SELECT d.id, d.org, d.name, d.kind, d.label, coalesce(x.districts, '{}')
             FROM devices d LEFT JOIN districts x ON x.device_id = d.id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| DeviceInfo {
            device_id: r.get(0),
            org: r.get(1),
            name: r.get(2),
            kind: r.get(3),
            label: r.get(4),
            districts: r.get(5),
        })
        .collect())
}

/// Changes whenever [`device_directory`] or [`org_rules`] may: a device
/// registered, deleted, or its org, name, kind or label edited; an
/// assignment, area or org written (triggers of migration 7 bump it in the
/// writing statement's transaction). One row.
pub async fn directory_version(
    client: &impl GenericClient,
) -> Result<DirectoryVersion, StoreError> {
    let r = client
        .query_one("SELECT version FROM directory_version", &[])
        .await?;
    Ok(DirectoryVersion(r.get(0)))
}

/// See [`directory_version`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectoryVersion(i64);

/// The kinds of every device's open or acknowledged alerts.
pub async fn unresolved_alert_kinds(
    client: &impl GenericClient,
) -> Result<Vec<(i32, String)>, StoreError> {
    let rows = client
        .query(
            "SELECT device_id, kind FROM alerts WHERE state <> 'resolved' AND device_id IS NOT NULL",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// A device's newest fix, with who the device is: what the live view starts from.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestFix {
    pub org: String,
    pub device: String,
    pub fix: crate::FixRow,
}

/// Each device's newest fix of the last day (devices silent for longer have none).
pub async fn latest_fixes(client: &impl GenericClient) -> Result<Vec<LatestFix>, StoreError> {
    let rows = client
        .query(
            "SELECT d.org, d.name, f.device_id, f.ts, f.lat, f.lon, f.speed, f.heading, f.acc, f.work,
                    f.sos, f.batt, f.seq, f.dist_m, f.dt_s, f.received_at
             FROM devices d CROSS JOIN LATERAL (
                 SELECT * FROM fixes WHERE device_id = d.id AND ts > now() - interval '1 day'
                 ORDER BY ts DESC LIMIT 1) f",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| LatestFix {
            org: r.get(0),
            device: r.get(1),
            fix: crate::FixRow {
                device_id: r.get(2),
                ts: r.get(3),
                lat: r.get(4),
                lon: r.get(5),
                speed: r.get(6),
                heading: r.get(7),
                acc: r.get(8),
                work: r.get(9),
                sos: r.get(10),
                batt: r.get(11),
                seq: r.get(12),
                dist_m: r.get(13),
                dt_s: r.get(14),
                received_at: r.get(15),
            },
        })
        .collect())
}

/// Every org's rule configuration (the thresholds a device's display state
/// is judged by). Rules that no longer read are the defaults, with a
/// warning, as the engine loads them.
pub async fn org_rules(
    client: &impl GenericClient,
) -> Result<Vec<(String, geofence::RuleConfig)>, StoreError> {
    let rows = client.query("SELECT id, rules FROM orgs", &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let org: String = r.get(0);
            let rules = serde_json::from_value(r.get(1)).unwrap_or_else(|e| {
                tracing::warn!(org, error = %e, "unreadable rules; using the defaults");
                geofence::RuleConfig::default()
            });
            (org, rules)
        })
        .collect())
}
