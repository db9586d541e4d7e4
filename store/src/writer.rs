//! The batched writer: one transaction per batch, array-bound inserts (one
//! round trip per table, whatever the batch size). Fixes go in with a plain
//! insert, and again skipping those already stored only when it meets one
//! (see [`insert_fixes`]), so the caller knows which fixes were duplicates.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::error::SqlState;

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
    /// The fixes inserted; the others were already there.
    pub inserted: Inserted,
}

/// Which fixes of a batch were inserted.
#[derive(Debug, Default)]
pub enum Inserted {
    /// Every fix of the batch (none was there, no two share a key): the
    /// usual case, learnt from the insert's row count alone.
    #[default]
    All,
    /// Only these `(device_id, ts)`: a batch with duplicates (a redelivery),
    /// whose inserted rows were asked for.
    Only(HashSet<(i32, DateTime<Utc>)>),
}

impl Inserted {
    /// Whether the fix `key` was inserted.
    pub fn contains(&self, key: &(i32, DateTime<Utc>)) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.contains(key),
        }
    }

    /// Whether the fix `key` was inserted, once: a batch may carry the same
    /// fix twice and one row was inserted, so a second call for a key of
    /// [`Inserted::Only`] answers `false`.
    pub fn take(&mut self, key: &(i32, DateTime<Utc>)) -> bool {
        match self {
            Self::All => true,
            Self::Only(set) => set.remove(key),
        }
    }
}

/// The fixes, bound as arrays, as a plain insert: a fix already stored makes
/// it fail with a unique violation. Unnested in the select list (the arrays
/// have one length), so PostgreSQL streams the rows instead of materializing
/// a table function's result first.
const INSERT_FIXES: &str = "
INSERT INTO fixes (device_id, ts, lat, lon, speed, heading, acc, work, sos, batt, seq, dist_m, dt_s, received_at)
SELECT unnest($1::int4[]), unnest($2::timestamptz[]), unnest($3::float8[]), unnest($4::float8[]),
       unnest($5::float4[]), unnest($6::float4[]), unnest($7::float4[]), unnest($8::bool[]),
       unnest($9::bool[]), unnest($10::float4[]), unnest($11::int8[]), unnest($12::float4[]),
       unnest($13::float4[]), unnest($14::timestamptz[])";

/// The same fixes skipping those already stored, naming the ones inserted.
const INSERT_NEW_FIXES: &str = "
INSERT INTO fixes (device_id, ts, lat, lon, speed, heading, acc, work, sos, batt, seq, dist_m, dt_s, received_at)
SELECT * FROM unnest($1::int4[], $2::timestamptz[], $3::float8[], $4::float8[], $5::float4[], $6::float4[],
                     $7::float4[], $8::bool[], $9::bool[], $10::float4[], $11::int8[], $12::float4[],
                     $13::float4[], $14::timestamptz[])
ON CONFLICT (device_id, ts) DO NOTHING
RETURNING device_id, ts";

/// The savepoint the plain insert is tried under, so that a batch with
/// duplicates can be inserted again asking for the rows inserted.
const SAVEPOINT: &str = "SAVEPOINT fixes_insert";
const ROLLBACK_TO_SAVEPOINT: &str = "ROLLBACK TO SAVEPOINT fixes_insert";

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
        outcome.inserted = insert_fixes(tx, &batch.fixes).await?;
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

/// Inserts the fixes and says which were new. Nearly every batch is all
/// new, so the fixes go in with a plain insert under a savepoint: it checks
/// each key once, as it inserts the row. `ON CONFLICT DO NOTHING RETURNING`
/// looked each key up in the index before inserting it and sent every row
/// back, half of PostgreSQL's time per fix, and the writer read and hashed
/// them. Only when the plain insert meets a fix already stored (a
/// redelivery; `fixes` has no other unique index) is it rolled back to the
/// savepoint and run again skipping those and naming the rows inserted.
/// (Rows' `xmin` could not tell instead: on TimescaleDB, a conflict in a
/// compressed chunk decompresses the stored rows in this transaction.)
async fn insert_fixes(tx: &Transaction<'_>, f: &[FixRow]) -> Result<Inserted, StoreError> {
    let col = |get: fn(&FixRow) -> Option<f32>| f.iter().map(get).collect::<Vec<_>>();
    let device_id: Vec<i32> = f.iter().map(|r| r.device_id).collect();
    let ts: Vec<DateTime<Utc>> = f.iter().map(|r| r.ts).collect();
    let lat: Vec<f64> = f.iter().map(|r| r.lat).collect();
    let lon: Vec<f64> = f.iter().map(|r| r.lon).collect();
    let (speed, heading, acc) = (col(|r| r.speed), col(|r| r.heading), col(|r| r.acc));
    let work: Vec<Option<bool>> = f.iter().map(|r| r.work).collect();
    let sos: Vec<bool> = f.iter().map(|r| r.sos).collect();
    let batt = col(|r| r.batt);
    let seq: Vec<Option<i64>> = f.iter().map(|r| r.seq).collect();
    let (dist_m, dt_s) = (col(|r| r.dist_m), col(|r| r.dt_s));
    let received_at: Vec<DateTime<Utc>> = f.iter().map(|r| r.received_at).collect();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 14] = [
        &device_id,
        &ts,
        &lat,
        &lon,
        &speed,
        &heading,
        &acc,
        &work,
        &sos,
        &batt,
        &seq,
        &dist_m,
        &dt_s,
        &received_at,
    ];
    let plain = tx.prepare_cached(INSERT_FIXES).await?;
    tx.batch_execute(SAVEPOINT).await?;
    match tx.execute(&plain, &params).await {
        Ok(_) => return Ok(Inserted::All),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {}
        Err(e) => return Err(e.into()),
    }
    tx.batch_execute(ROLLBACK_TO_SAVEPOINT).await?;
    let skipping = tx.prepare_cached(INSERT_NEW_FIXES).await?;
    let rows = tx.query(&skipping, &params).await?;
    Ok(Inserted::Only(
        rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
    ))
}
