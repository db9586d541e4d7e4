//! The paced publish loop of one connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use rumqttc::{AsyncClient, QoS};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::conn::ConnStats;
use super::fleet::Fleet;
use super::pacer::Pacer;

/// How often the publisher wakes up to publish a batch: 100 batches a second keeps
/// bursts small (at 60,000/s over 4 connections, 150 fixes per batch) while the timer
/// costs nothing measurable.
pub const TICK: Duration = Duration::from_millis(10);

/// The most a publisher catches up after being held back (see [`Pacer::new`]).
const MAX_BURST: Duration = Duration::from_millis(250);

/// What a publish loop did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Published {
    pub count: u64,
    /// Epoch milliseconds of the first and last fix's `ts`.
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

/// Where and how one publish loop publishes.
pub struct Lane {
    pub client: AsyncClient,
    pub stats: Arc<ConnStats>,
    pub fleet: Fleet,
    /// Fixes per second for this lane.
    pub rate: f64,
    pub qos: QoS,
    /// Fixes after which the lane stops (`u64::MAX`: none).
    pub limit: u64,
}

/// Publishes the lane's fixes at its rate until `until`, `stop` or its limit. Returns early
/// (without error) when the client's event loop has gone away; the connection's own
/// task reports why.
pub async fn publish_loop(lane: Lane, until: Instant, stop: CancellationToken) -> Published {
    let Lane {
        client,
        stats,
        mut fleet,
        rate,
        qos,
        limit,
    } = lane;
    let mut done = Published::default();
    let mut pacer = Pacer::new(rate, MAX_BURST);
    let mut ticker = tokio::time::interval(TICK);
    // After a stall, carry on from now: the pacer already accounts for the lost time.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_tick = Instant::now();
    let mut json = String::with_capacity(256);
    'run: loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        if now >= until {
            break;
        }
        if done.count >= limit {
            break;
        }
        let batch = pacer.take(now - last_tick).min(limit - done.count);
        last_tick = now;
        // One clock read per batch: a batch spans well under a millisecond of work, and
        // the fleet keeps each device's timestamps strictly increasing regardless.
        let wall_ms = Utc::now().timestamp_millis();
        let mut sent = 0;
        for _ in 0..batch {
            let Some(meta) = fleet.next_fix(wall_ms, &mut json) else {
                break 'run;
            };
            let topic = fleet.topic(meta.device).to_owned();
            let payload = Bytes::copy_from_slice(json.as_bytes());
            let published = tokio::select! {
                biased;
                r = client.publish_bytes(topic, qos, false, payload) => r.is_ok(),
                _ = stop.cancelled() => false,
            };
            if !published {
                stats.published.fetch_add(sent, Ordering::Relaxed);
                break 'run;
            }
            sent += 1;
            done.count += 1;
            done.first_ms = Some(done.first_ms.map_or(meta.ts_ms, |f| f.min(meta.ts_ms)));
            done.last_ms = Some(done.last_ms.map_or(meta.ts_ms, |l| l.max(meta.ts_ms)));
        }
        stats.published.fetch_add(sent, Ordering::Relaxed);
    }
    done
}
