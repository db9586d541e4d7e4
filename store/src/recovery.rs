//! What ingest reads to rebuild its engines after a restart: the registered
//! devices, each org's last checkpoint (the engines' clocks), the device and
//! coverage snapshots written with it (see [`crate::effects`]), and the fixes
//! received after it, to replay.

use chrono::{DateTime, Utc};
use futures_util::{TryStreamExt, pin_mut};
use tokio_postgres::Client;

use crate::{FixRow, StoreError};

/// A registered device: its id and who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredDevice {
    pub id: i32,
    pub org: String,
    pub name: String,
}

/// Every registered device.
pub async fn devices(client: &Client) -> Result<Vec<RegisteredDevice>, StoreError> {
    let rows = client
        .query("SELECT id, org, name FROM devices", &[])
        .await?;
    Ok(rows
        .iter()
        .map(|r| RegisteredDevice {
            id: r.get(0),
            org: r.get(1),
            name: r.get(2),
        })
        .collect())
}

/// An org's engine clock at its last checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub org: String,
    /// Every fix received up to this was evaluated.
    pub received_upto: DateTime<Utc>,
    /// The engine's event-time watermark.
    pub watermark: Option<DateTime<Utc>>,
}

/// Each org's last checkpoint.
pub async fn checkpoints(client: &Client) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = client
        .query(
            "SELECT org, received_upto, watermark FROM engine_checkpoints",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Checkpoint {
            org: r.get(0),
            received_upto: r.get(1),
            watermark: r.get(2),
        })
        .collect())
}

/// Each device's snapshot, as the engine encoded it.
pub async fn device_snapshots(client: &Client) -> Result<Vec<(i32, Vec<u8>)>, StoreError> {
    let rows = client
        .query("SELECT device_id, snapshot FROM device_state", &[])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The coverage snapshots (org, as the engine encoded it) of the shift
/// instances that are not final yet.
pub async fn coverage_snapshots(client: &Client) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let rows = client
        .query(
            // Instances older than the window are final
            // (geofence::windows::oldest_open_shift_date): not worth reading.
            "SELECT s.org, s.snapshot FROM coverage_state s
             LEFT JOIN engine_checkpoints c ON c.org = s.org
             WHERE c.watermark IS NULL
                OR s.shift_date >= ((c.watermark - make_interval(secs => $1)) AT TIME ZONE 'UTC')::date",
            &[&geofence::windows::COVERAGE_STATE_WINDOW.as_seconds_f64()],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Streams every fix received after `after` of devices in `orgs` (empty:
/// every org) to `each`, in the order received; returns how many. The rows
/// carry what evaluation reads (no `seq`, `dist_m`, `dt_s`).
pub async fn replay_fixes(
    client: &Client,
    after: DateTime<Utc>,
    orgs: &[String],
    mut each: impl FnMut(FixRow),
) -> Result<u64, StoreError> {
    let stmt = client
        .prepare(
            "SELECT f.device_id, f.ts, f.lat, f.lon, f.speed, f.heading, f.acc, f.work, f.sos, f.batt, f.received_at
             FROM fixes f JOIN devices d ON d.id = f.device_id
             WHERE f.received_at > $1 AND (cardinality($2::text[]) = 0 OR d.org = ANY($2))
             ORDER BY f.received_at, f.device_id, f.ts",
        )
        .await?;
    let orgs: Vec<&str> = orgs.iter().map(String::as_str).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&after, &orgs];
    let rows = client.query_raw(&stmt, params).await?;
    pin_mut!(rows);
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await? {
        each(FixRow {
            device_id: row.get(0),
            ts: row.get(1),
            lat: row.get(2),
            lon: row.get(3),
            speed: row.get(4),
            heading: row.get(5),
            acc: row.get(6),
            work: row.get(7),
            sos: row.get(8),
            batt: row.get(9),
            seq: None,
            dist_m: None,
            dt_s: None,
            received_at: row.get(10),
        });
        n += 1;
    }
    Ok(n)
}
