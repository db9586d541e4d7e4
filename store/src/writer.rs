//! The batched writer: one transaction per batch, array-bound inserts (one
//! round trip per table, whatever the batch size). Fixes go in with
//! `ON CONFLICT DO NOTHING`; the rows actually inserted come back, so the
//! caller knows which fixes were duplicates.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;

use crate::StoreError;

/// A fix ready for `fixes`.
#[derive(Debug, Clone, PartialEq)]
pub struct FixRow {
    pub device_id: i32,
    pub ts: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub speed: Option<f32>,
    pub heading: Option<f32>,
    pub acc: Option<f32>,
    pub work: Option<bool>,
    pub sos: bool,
    pub batt: Option<f32>,
    pub seq: Option<i64>,
    pub dist_m: Option<f32>,
    pub dt_s: Option<f32>,
    pub received_at: DateTime<Utc>,
}

/// A refused message for `rejected_messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRow {
    pub topic: String,
    pub payload: Vec<u8>,
    pub reason: &'static str,
    pub detail: String,
    pub received_at: DateTime<Utc>,
}

/// A device's retained status message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRow {
    pub device_id: i32,
    pub online: bool,
    pub status: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// Everything one transaction writes.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub fixes: Vec<FixRow>,
    pub rejects: Vec<RejectRow>,
    pub statuses: Vec<StatusRow>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.fixes.is_empty() && self.rejects.is_empty() && self.statuses.is_empty()
    }
}

/// What the database did with a batch.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// `(device_id, ts)` of the fixes inserted; the others were already there.
    pub inserted: HashSet<(i32, DateTime<Utc>)>,
}

const INSERT_FIXES: &str = "
INSERT INTO fixes (device_id, ts, lat, lon, speed, heading, acc, work, sos, batt, seq, dist_m, dt_s, received_at)
SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float4[], $6::float4[],
                     $7::float4[], $8::bool[], $9::bool[], $10::float4[], $11::int8[], $12::float4[],
                     $13::float4[], $14::timestamptz[])
ON CONFLICT (device_id, ts) DO NOTHING
RETURNING device_id, ts";

const INSERT_REJECTS: &str = "
INSERT INTO rejected_messages (topic, payload, reason, detail, received_at)
SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::timestamptz[])";

const UPDATE_STATUS: &str = "
UPDATE devices d SET online = u.online, status = u.status, status_at = u.at
FROM unnest($1::int4[], $2::bool[], $3::jsonb[], $4::timestamptz[]) AS u(id, online, status, at)
WHERE d.id = u.id";

/// Writes a batch inside the caller's transaction (the engine's effects of the
/// same fixes go into it too, before the commit).
pub async fn insert_batch(tx: &Transaction<'_>, batch: &Batch) -> Result<BatchOutcome, StoreError> {
    let mut outcome = BatchOutcome::default();
    if !batch.fixes.is_empty() {
        let f = &batch.fixes;
        let col = |get: fn(&FixRow) -> Option<f32>| f.iter().map(get).collect::<Vec<_>>();
        let stmt = tx.prepare_cached(INSERT_FIXES).await?;
        let rows = tx
            .query(
                &stmt,
                &[
                    &f.iter().map(|r| r.device_id).collect::<Vec<_>>(),
                    &f.iter().map(|r| r.ts).collect::<Vec<_>>(),
                    &f.iter().map(|r| r.lat).collect::<Vec<_>>(),
                    &f.iter().map(|r| r.lon).collect::<Vec<_>>(),
                    &col(|r| r.speed),
                    &col(|r| r.heading),
                    &col(|r| r.acc),
                    &f.iter().map(|r| r.work).collect::<Vec<_>>(),
                    &f.iter().map(|r| r.sos).collect::<Vec<_>>(),
                    &col(|r| r.batt),
                    &f.iter().map(|r| r.seq).collect::<Vec<_>>(),
                    &col(|r| r.dist_m),
                    &col(|r| r.dt_s),
                    &f.iter().map(|r| r.received_at).collect::<Vec<_>>(),
                ],
            )
            .await?;
        outcome.inserted = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    }
    if !batch.rejects.is_empty() {
        let r = &batch.rejects;
        let stmt = tx.prepare_cached(INSERT_REJECTS).await?;
        tx.execute(
            &stmt,
            &[
                &r.iter().map(|x| x.topic.as_str()).collect::<Vec<_>>(),
                &r.iter().map(|x| x.payload.as_slice()).collect::<Vec<_>>(),
                &r.iter().map(|x| x.reason).collect::<Vec<_>>(),
                &r.iter().map(|x| x.detail.as_str()).collect::<Vec<_>>(),
                &r.iter().map(|x| x.received_at).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    if !batch.statuses.is_empty() {
        // The last status of a device in the batch wins.
        let mut last: HashMap<i32, &StatusRow> = HashMap::new();
        for s in &batch.statuses {
            last.insert(s.device_id, s);
        }
        let s: Vec<&StatusRow> = last.into_values().collect();
        let stmt = tx.prepare_cached(UPDATE_STATUS).await?;
        tx.execute(
            &stmt,
            &[
                &s.iter().map(|x| x.device_id).collect::<Vec<_>>(),
                &s.iter().map(|x| x.online).collect::<Vec<_>>(),
                &s.iter().map(|x| &x.status).collect::<Vec<_>>(),
                &s.iter().map(|x| x.received_at).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    Ok(outcome)
}
