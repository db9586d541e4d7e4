//! What the engine derives from a batch of fixes, written in the same
//! transaction as the fixes: alert transitions, coverage, daily summaries, and
//! (every few seconds) the engine checkpoint that a restart resumes from.

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::types::Json;

use crate::StoreError;

/// An alert opening or clearing, as the engine reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub org: String,
    /// `None` for a route alert (`coverage_at_risk`): `area_id` names the route.
    pub device_id: Option<i32>,
    pub kind: &'static str,
    pub open: bool,
    /// The same condition cleared on this device moments ago: re-open that
    /// case (counted) rather than opening a new one.
    pub recurrence: bool,
    pub at: DateTime<Utc>,
    pub lat: f64,
    pub lon: f64,
    pub area_id: Option<String>,
    pub district: Option<String>,
    pub grid: Option<String>,
    pub chief: Option<String>,
    pub shift_id: Option<String>,
    pub shift_date: Option<NaiveDate>,
    pub message: String,
    /// For a route alert: the route's covered share when it changed.
    pub covered_fraction: Option<f64>,
}

/// Coverage of one route in one shift instance.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRow {
    pub org: String,
    pub route_id: String,
    pub shift_id: String,
    pub shift_date: NaiveDate,
    pub total_m: f64,
    pub covered_m: f64,
    pub complete_m: f64,
    pub fraction: f64,
    pub report: geofence::CoverageReport,
}

/// A device's summary for one local date.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyRow {
    pub device_id: i32,
    pub date: NaiveDate,
    pub distance_m: f64,
    pub working_s: f64,
    pub transit_s: f64,
    pub idle_s: f64,
    pub deadhead_ratio: f64,
}

/// Everything derived from one batch.
#[derive(Debug, Default, Clone)]
pub struct Effects {
    pub alerts: Vec<AlertChange>,
    pub coverage: Vec<CoverageRow>,
    pub daily: Vec<DailyRow>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty() && self.coverage.is_empty() && self.daily.is_empty()
    }
}

/// The engine's state at the end of a batch: every fix received up to
/// `received_upto` is reflected in it.
#[derive(Debug, Default, Clone)]
pub struct Checkpoint {
    pub received_upto: Option<DateTime<Utc>>,
    /// org → watermark
    pub orgs: Vec<(String, Option<DateTime<Utc>>)>,
    /// device id → encoded snapshot (changed since the last checkpoint)
    pub devices: Vec<(i32, Vec<u8>)>,
    /// (org, route, shift, date) → encoded snapshot (changed since the last checkpoint)
    pub coverage: Vec<(String, String, String, NaiveDate, Vec<u8>)>,
}

/// An alert as stored, for the live stream and the API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTransition {
    pub alert_id: i64,
    /// How many times the case was re-opened, this change included.
    pub reopen_count: i32,
    pub change: AlertChange,
}

// Every statement below answers (alert id, reopen count) of the case it
// changed, and nothing when it changed nothing.

const OPEN_ALERT: &str = "
WITH ins AS (
    INSERT INTO alerts (org, device_id, kind, state, opened_at, lat, lon, area_id, district, grid, chief,
                        shift_id, shift_date, message)
    VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (device_id, kind) WHERE state <> 'resolved' DO NOTHING
    RETURNING id, opened_at, reopen_count
), tr AS (
    INSERT INTO alert_transitions (alert_id, state, at, actor)
    SELECT id, 'open', opened_at, 'engine' FROM ins
)
SELECT id, reopen_count FROM ins";

/// A recurrence re-opens the device's last case of the kind, when the engine
/// closed it (an operator's resolution is final: then a new case opens). It
/// needs attention again, so an earlier acknowledgement no longer stands (the
/// transitions keep it).
const REOPEN_ALERT: &str = "
WITH prev AS (
    SELECT id FROM alerts
    WHERE device_id = $1 AND kind = $2 AND state = 'resolved' AND resolved_by = 'engine'
      AND NOT EXISTS (SELECT 1 FROM alerts o WHERE o.device_id = $1 AND o.kind = $2 AND o.state <> 'resolved')
    ORDER BY opened_at DESC, id DESC
    LIMIT 1
    FOR UPDATE
), upd AS (
    UPDATE alerts a SET state = 'open', cleared_at = NULL, resolved_at = NULL, resolved_by = NULL,
        acknowledged_at = NULL, acknowledged_by = NULL,
        reopen_count = a.reopen_count + 1, lat = $4, lon = $5, message = $6
    FROM prev WHERE a.id = prev.id
    RETURNING a.id, a.reopen_count
), tr AS (
    INSERT INTO alert_transitions (alert_id, state, at, actor, note)
    SELECT id, 'open', $3, 'engine', 'the condition recurred' FROM upd
)
SELECT id, reopen_count FROM upd";

/// Raised at most once per route and shift instance (`alerts_route_instance`).
const OPEN_ROUTE_ALERT: &str = "
WITH ins AS (
    INSERT INTO alerts (org, device_id, kind, state, opened_at, lat, lon, area_id, district, grid, chief,
                        shift_id, shift_date, message, covered_fraction)
    VALUES ($1, NULL, $2, 'open', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (org, area_id, shift_id, shift_date) WHERE kind = 'coverage_at_risk' DO NOTHING
    RETURNING id, opened_at, reopen_count
), tr AS (
    INSERT INTO alert_transitions (alert_id, state, at, actor)
    SELECT id, 'open', opened_at, 'engine' FROM ins
)
SELECT id, reopen_count FROM ins";

const CLEAR_ROUTE_ALERT: &str = "
WITH upd AS (
    UPDATE alerts SET state = 'resolved', cleared_at = $5, resolved_at = $5, resolved_by = 'engine',
        covered_fraction = $6
    WHERE org = $1 AND area_id = $2 AND shift_id = $3 AND shift_date = $4
      AND kind = 'coverage_at_risk' AND state <> 'resolved'
    RETURNING id, reopen_count
), tr AS (
    INSERT INTO alert_transitions (alert_id, state, at, actor, note)
    SELECT id, 'resolved', $5, 'engine', 'condition cleared' FROM upd
)
SELECT id, reopen_count FROM upd";

const CLEAR_ALERT: &str = "
WITH upd AS (
    UPDATE alerts SET state = 'resolved', cleared_at = $3, resolved_at = $3, resolved_by = 'engine'
    WHERE device_id = $1 AND kind = $2 AND state <> 'resolved'
    RETURNING id, reopen_count
), tr AS (
    INSERT INTO alert_transitions (alert_id, state, at, actor, note)
    SELECT id, 'resolved', $3, 'engine', 'condition cleared' FROM upd
)
SELECT id, reopen_count FROM upd";

/// One statement for every route of the batch (a batch of a large city touches
/// a thousand routes: one statement each was most of the writer's time).
const UPSERT_COVERAGE: &str = "
INSERT INTO coverage (org, route_id, shift_id, shift_date, total_m, covered_m, complete_m, fraction, report, updated_at)
SELECT o, r, s, d, t, c, k, f, rep, now()
FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::float8[], $6::float8[], $7::float8[],
            $8::float8[], $9::jsonb[]) AS u(o, r, s, d, t, c, k, f, rep)
ON CONFLICT (org, route_id, shift_id, shift_date) DO UPDATE SET
    total_m = excluded.total_m, covered_m = excluded.covered_m, complete_m = excluded.complete_m,
    fraction = excluded.fraction, report = excluded.report, updated_at = excluded.updated_at";

const UPSERT_DAILY: &str = "
INSERT INTO device_daily (device_id, date, distance_m, working_s, transit_s, idle_s, deadhead_ratio)
SELECT * FROM unnest($1::int4[], $2::date[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[])
ON CONFLICT (device_id, date) DO UPDATE SET
    distance_m = excluded.distance_m, working_s = excluded.working_s, transit_s = excluded.transit_s,
    idle_s = excluded.idle_s, deadhead_ratio = excluded.deadhead_ratio";

/// Writes the effects of a batch. Returns the alert transitions that changed
/// something (an open that was not already open, a clear of an open alert).
pub async fn write_effects(
    tx: &Transaction<'_>,
    fx: &Effects,
) -> Result<Vec<StoredTransition>, StoreError> {
    let mut stored = Vec::new();
    if !fx.alerts.is_empty() {
        for a in &fx.alerts {
            let rows = match a.device_id {
                Some(device_id) => write_device_alert(tx, a, device_id).await?,
                None => write_route_alert(tx, a).await?,
            };
            stored.extend(rows.iter().map(|r| StoredTransition {
                alert_id: r.get(0),
                reopen_count: r.get(1),
                change: a.clone(),
            }));
        }
    }
    if !fx.coverage.is_empty() {
        // A row may not be upserted twice by one statement: the last one of a
        // route's shift instance in the batch wins.
        let c = last_per_key(&fx.coverage, |c| {
            (&c.org, &c.route_id, &c.shift_id, c.shift_date)
        });
        let stmt = tx.prepare_cached(UPSERT_COVERAGE).await?;
        tx.execute(
            &stmt,
            &[
                &c.iter().map(|x| x.org.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.route_id.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.shift_id.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.shift_date).collect::<Vec<_>>(),
                &c.iter().map(|x| x.total_m).collect::<Vec<_>>(),
                &c.iter().map(|x| x.covered_m).collect::<Vec<_>>(),
                &c.iter().map(|x| x.complete_m).collect::<Vec<_>>(),
                &c.iter().map(|x| x.fraction).collect::<Vec<_>>(),
                &c.iter().map(|x| Json(&x.report)).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    if !fx.daily.is_empty() {
        let d = &fx.daily;
        let stmt = tx.prepare_cached(UPSERT_DAILY).await?;
        tx.execute(
            &stmt,
            &[
                &d.iter().map(|x| x.device_id).collect::<Vec<_>>(),
                &d.iter().map(|x| x.date).collect::<Vec<_>>(),
                &d.iter().map(|x| x.distance_m).collect::<Vec<_>>(),
                &d.iter().map(|x| x.working_s).collect::<Vec<_>>(),
                &d.iter().map(|x| x.transit_s).collect::<Vec<_>>(),
                &d.iter().map(|x| x.idle_s).collect::<Vec<_>>(),
                &d.iter().map(|x| x.deadhead_ratio).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    Ok(stored)
}

async fn write_device_alert(
    tx: &Transaction<'_>,
    a: &AlertChange,
    device_id: i32,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    if !a.open {
        let clear = tx.prepare_cached(CLEAR_ALERT).await?;
        return Ok(tx.query(&clear, &[&device_id, &a.kind, &a.at]).await?);
    }
    if a.recurrence {
        let reopen = tx.prepare_cached(REOPEN_ALERT).await?;
        let rows = tx
            .query(
                &reopen,
                &[&device_id, &a.kind, &a.at, &a.lat, &a.lon, &a.message],
            )
            .await?;
        if !rows.is_empty() {
            return Ok(rows);
        }
    }
    let open = tx.prepare_cached(OPEN_ALERT).await?;
    Ok(tx
        .query(
            &open,
            &[
                &a.org,
                &device_id,
                &a.kind,
                &a.at,
                &a.lat,
                &a.lon,
                &a.area_id,
                &a.district,
                &a.grid,
                &a.chief,
                &a.shift_id,
                &a.shift_date,
                &a.message,
            ],
        )
        .await?)
}

async fn write_route_alert(
    tx: &Transaction<'_>,
    a: &AlertChange,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    if a.open {
        let open = tx.prepare_cached(OPEN_ROUTE_ALERT).await?;
        Ok(tx
            .query(
                &open,
                &[
                    &a.org,
                    &a.kind,
                    &a.at,
                    &a.lat,
                    &a.lon,
                    &a.area_id,
                    &a.district,
                    &a.grid,
                    &a.chief,
                    &a.shift_id,
                    &a.shift_date,
                    &a.message,
                    &a.covered_fraction,
                ],
            )
            .await?)
    } else {
        let clear = tx.prepare_cached(CLEAR_ROUTE_ALERT).await?;
        Ok(tx
            .query(
                &clear,
                &[
                    &a.org,
                    &a.area_id,
                    &a.shift_id,
                    &a.shift_date,
                    &a.at,
                    &a.covered_fraction,
                ],
            )
            .await?)
    }
}

/// Devices per statement of a checkpoint (a device's snapshot is a few hundred
/// bytes: about 1 MB per statement).
const CHECKPOINT_CHUNK: usize = 2_500;

/// Writes an engine checkpoint.
pub async fn write_checkpoint(tx: &Transaction<'_>, cp: &Checkpoint) -> Result<(), StoreError> {
    let Some(upto) = cp.received_upto else {
        return Ok(());
    };
    for (org, watermark) in &cp.orgs {
        tx.execute(
            "INSERT INTO engine_checkpoints (org, received_upto, watermark, taken_at) VALUES ($1, $2, $3, now())
             ON CONFLICT (org) DO UPDATE SET received_upto = excluded.received_upto,
                 watermark = excluded.watermark, taken_at = excluded.taken_at",
            &[org, &upto, watermark],
        )
        .await?;
    }
    // In statements of at most CHECKPOINT_CHUNK devices: a connection keeps
    // its buffers at the size of the largest statement it ever sent, and one
    // statement for every changed device of a 100,000-device city was 38 MB,
    // held by every pooled connection in turn (half the service's memory in
    // the city benchmark's heap profile).
    for chunk in cp.devices.chunks(CHECKPOINT_CHUNK) {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO device_state (device_id, snapshot, updated_at)
                 SELECT id, snap, now() FROM unnest($1::int4[], $2::bytea[]) AS u(id, snap)
                 ON CONFLICT (device_id) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &chunk.iter().map(|d| d.0).collect::<Vec<_>>(),
                &chunk.iter().map(|d| d.1.as_slice()).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    if !cp.coverage.is_empty() {
        let c = last_per_key(&cp.coverage, |(o, r, s, d, _)| (o, r, s, *d));
        tx.execute(
            "INSERT INTO coverage_state (org, route_id, shift_id, shift_date, snapshot)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bytea[])
             ON CONFLICT (org, route_id, shift_id, shift_date) DO UPDATE SET snapshot = excluded.snapshot",
            &[
                &c.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.2.as_str()).collect::<Vec<_>>(),
                &c.iter().map(|x| x.3).collect::<Vec<_>>(),
                &c.iter().map(|x| x.4.as_slice()).collect::<Vec<_>>(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// The last item of each key, in the order of their first appearance (an
/// `ON CONFLICT DO UPDATE` statement may not touch one row twice).
fn last_per_key<'a, T, K: std::hash::Hash + Eq>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut index = std::collections::HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match index.entry(key(item)) {
            std::collections::hash_map::Entry::Occupied(e) => out[*e.get()] = item,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(out.len());
                out.push(item);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::last_per_key;

    #[test]
    fn the_last_item_of_a_key_wins_in_first_seen_order() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let got: Vec<_> = last_per_key(&items, |x| x.0).into_iter().copied().collect();
        assert_eq!(got, [("a", 3), ("b", 5), ("c", 4)]);
    }
}
