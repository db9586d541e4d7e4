//! Rebuilding the engines after a restart: configuration, the last checkpoint,
//! then a replay of every fix received after it (outputs discarded: they were
//! stored with their batches). Because evaluation is a pure function of the
//! fixes in arrival order (see [`crate::host`]), the rebuilt state is the state
//! the engines had when the process stopped.

use chrono::{DateTime, TimeDelta, Utc};
use store::StoreError;
use store::effects::Effects;
use store::recovery;
use tokio_postgres::Client;
use tracing::info;

use crate::host::engine_fix;
use crate::host::{DeviceCheckpoint, EngineHost, decode};

/// Without any checkpoint, replay at most this far back.
const REPLAY_WITHOUT_CHECKPOINT: TimeDelta = TimeDelta::days(1);

pub async fn rebuild(client: &Client, orgs: &[String]) -> Result<EngineHost, StoreError> {
    let started = std::time::Instant::now();
    let mut host = EngineHost::serving(orgs);
    for cfg in store::orgconfig::load_all(client).await? {
        host.configure(cfg);
    }
    for d in recovery::devices(client).await? {
        host.register(d.id, &d.org, &d.name);
    }
    let mut upto: Option<DateTime<Utc>> = None;
    for c in recovery::checkpoints(client).await? {
        host.restore_clock(&c.org, c.watermark, c.received_upto);
        upto = Some(upto.map_or(c.received_upto, |u| u.min(c.received_upto)));
    }
    let mut devices = 0;
    for (device_id, snapshot) in recovery::device_snapshots(client).await? {
        match decode::<DeviceCheckpoint>(&snapshot) {
            Ok(cp) => {
                host.restore_device(device_id, cp);
                devices += 1;
            }
            Err(e) => {
                tracing::warn!(device_id, error = %e, "unreadable device checkpoint")
            }
        }
    }
    let mut cells = 0;
    for (org, snapshot) in recovery::coverage_snapshots(client).await? {
        match decode::<geofence::CoverageSnapshot>(&snapshot) {
            Ok(snap) if host.serves(&org) => {
                host.restore_coverage(&org, snap);
                cells += 1;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "unreadable coverage checkpoint"),
        }
    }
    let from = upto.unwrap_or_else(|| Utc::now() - REPLAY_WITHOUT_CHECKPOINT);
    // What the replay changed in coverage and daily summaries stays pending
    // and is written with the next batch: under load the writer defers those
    // rollups (see `Writer::try_commit`), so the replayed fixes' may never
    // have been written. Rewriting the ones that were is harmless (whole rows).
    let replayed = replay(client, &mut host, from, orgs).await?;
    info!(devices, coverage_cells = cells, replayed, since = %from, took = ?started.elapsed(), "engine state rebuilt");
    Ok(host)
}

async fn replay(
    client: &Client,
    host: &mut EngineHost,
    after: DateTime<Utc>,
    orgs: &[String],
) -> Result<u64, StoreError> {
    let mut sink = Effects::default();
    let mut n = 0u64;
    recovery::replay_fixes(client, after, orgs, |stored| {
        // The stored row, through the same conversion live evaluation uses.
        host.on_fix(
            stored.device_id,
            &engine_fix(&stored),
            stored.received_at,
            &mut sink,
        );
        n += 1;
        if n.is_multiple_of(10_000) {
            // Its alerts were stored when the fixes were (they go with their batch).
            sink = Effects::default();
        }
    })
    .await
}
