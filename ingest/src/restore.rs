//! Rebuilding the engines after a restart: configuration, the last checkpoint,
//! then a replay of every fix received after it (outputs discarded: they were
//! stored with their batches). Because evaluation is a pure function of the
//! fixes in arrival order (see [`crate::host`]), the rebuilt state is the state
//! the engines had when the process stopped.

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::{TryStreamExt, pin_mut};
use store::StoreError;
use store::effects::Effects;
use tokio_postgres::Client;
use tracing::info;

use crate::host::{DeviceCheckpoint, EngineHost, decode};
use crate::writer::engine_fix;

/// Without any checkpoint, replay at most this far back.
const REPLAY_WITHOUT_CHECKPOINT: TimeDelta = TimeDelta::days(1);

pub async fn rebuild(client: &Client, orgs: &[String]) -> Result<EngineHost, StoreError> {
    let started = std::time::Instant::now();
    let mut host = EngineHost::serving(orgs);
    for cfg in store::orgconfig::load_all(client).await? {
        host.configure(cfg);
    }
    for row in client
        .query("SELECT id, org, name FROM devices", &[])
        .await?
    {
        host.register(row.get(0), row.get(1), row.get(2));
    }
    let mut upto: Option<DateTime<Utc>> = None;
    for row in client
        .query(
            "SELECT org, received_upto, watermark FROM engine_checkpoints",
            &[],
        )
        .await?
    {
        let org: String = row.get(0);
        let at: DateTime<Utc> = row.get(1);
        host.restore_clock(&org, row.get(2), at);
        upto = Some(upto.map_or(at, |u| u.min(at)));
    }
    let mut devices = 0;
    for row in client
        .query("SELECT device_id, snapshot FROM device_state", &[])
        .await?
    {
        match decode::<DeviceCheckpoint>(row.get(1)) {
            Ok(cp) => {
                host.restore_device(row.get(0), cp);
                devices += 1;
            }
            Err(e) => {
                tracing::warn!(device_id = row.get::<_, i32>(0), error = %e, "unreadable device checkpoint")
            }
        }
    }
    let mut cells = 0;
    for row in client
        .query(
            // Instances older than the window are final
            // (geofence::windows::oldest_open_shift_date): not worth reading.
            "SELECT s.org, s.snapshot FROM coverage_state s
             LEFT JOIN engine_checkpoints c ON c.org = s.org
             WHERE c.watermark IS NULL
                OR s.shift_date >= ((c.watermark - make_interval(secs => $1)) AT TIME ZONE 'UTC')::date",
            &[&geofence::windows::COVERAGE_STATE_WINDOW.as_seconds_f64()],
        )
        .await?
    {
        match decode::<geofence::CoverageSnapshot>(row.get(1)) {
            Ok(snap) if host.serves(&row.get::<_, String>(0)) => {
                host.restore_coverage(&row.get::<_, String>(0), snap);
                cells += 1;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable coverage checkpoint"),
        }
    }
    let from = upto.unwrap_or_else(|| Utc::now() - REPLAY_WITHOUT_CHECKPOINT);
    let replayed = replay(client, &mut host, from, orgs).await?;
    host.discard_pending();
    info!(devices, coverage_cells = cells, replayed, since = %from, took = ?started.elapsed(), "engine state rebuilt");
    Ok(host)
}

async fn replay(
    client: &Client,
    host: &mut EngineHost,
    after: DateTime<Utc>,
    orgs: &[String],
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
    let mut sink = Effects::default();
    let mut n = 0u64;
    while let Some(row) = rows.try_next().await? {
        // The stored row, through the same conversion live evaluation uses.
        let stored = store::FixRow {
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
        };
        host.on_fix(
            stored.device_id,
            &engine_fix(&stored),
            stored.received_at,
            &mut sink,
        );
        n += 1;
        if n.is_multiple_of(10_000) {
            sink = Effects::default();
            host.discard_pending();
        }
    }
    Ok(n)
}
