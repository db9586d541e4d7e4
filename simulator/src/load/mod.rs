//! Load mode: many simulated devices publishing fixes as fast as asked, to measure what
//! the broker and the ingest service sustain.
//!
//! [`run_load`] spreads `devices` over `connections` MQTT clients. Each connection has an
//! event loop task (counting acknowledgements) and a publish task that wakes every
//! [`publisher::TICK`] and publishes the batch a token bucket allows. At the end it waits
//! (bounded) for every publish to be acknowledged, then disconnects; [`run_load_with`]
//! can also stop each device after a number of fixes and share live totals. [`count_subscriber`]
//! and [`run_broker_ceiling`] measure what the broker alone delivers.

mod conn;
mod count;
mod error;
pub mod fleet;
mod pacer;
mod publisher;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rumqttc::QoS;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use count::{
    CeilingReport, CountHandle, CountOptions, count_subscriber, run_broker_ceiling,
    start_count_subscriber,
};
pub use error::LoadError;

use crate::mqtt::{BrokerOptions, Tuning};
use conn::{ConnStats, Connection, Role};
use fleet::Fleet;
use publisher::{Lane, Published};

/// What to publish, where, how fast and for how long.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub broker: BrokerOptions,
    /// Topic org segment, `[a-z0-9-]{1,32}`.
    pub org: String,
    /// Simulated devices, with ids `load-000001`, `load-000002`, ...
    pub devices: u32,
    /// Target fixes per second across all devices; at most 1,000 per device, since a
    /// device's timestamps must be at least 1 ms apart.
    pub rate: u32,
    pub duration: Duration,
    /// MQTT connections to spread the devices over (capped at `devices`).
    pub connections: u32,
    /// 0, 1 (the contract's) or 2.
    pub qos: u8,
    /// Print a progress line to stderr every second.
    pub progress: bool,
    /// Seeds the devices' start positions and movement.
    pub seed: u64,
}

/// What a load run achieved.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Fixes handed to the MQTT clients.
    pub published: u64,
    /// Fixes the broker acknowledged (PUBACK at QoS 1, PUBCOMP at QoS 2; at QoS 0, fixes
    /// written to the socket).
    pub acknowledged: u64,
    /// From the first publish until the last acknowledgement (or the drain deadline).
    pub elapsed: Duration,
    /// `acknowledged / elapsed`, per second.
    pub rate: f64,
    /// The `ts` of the earliest and latest fix published; `None` if none was.
    pub first_ts: Option<DateTime<Utc>>,
    pub last_ts: Option<DateTime<Utc>>,
}

/// Most devices one run simulates: bounds the per-device state (~150 bytes each).
pub const MAX_DEVICES: u32 = 1_000_000;
/// Most connections one run opens.
pub const MAX_CONNECTIONS: u32 = 1_000;
/// Longest run: keeps the end instant representable (no overflow) and is far beyond any
/// benchmark.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long to wait for outstanding acknowledgements after publishing stops.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// The same after a cancellation: the caller wants out, so only a short grace.
const CANCEL_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long each connection gets to send DISCONNECT and end its event loop.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the drain checks the counters.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// A publisher connection's tuning.
const PUBLISH_TUNING: Tuning = Tuning {
    // Unacknowledged QoS 1 publishes per connection. Loopback round trips are well under
    // a millisecond, but on 2 cores the broker can be descheduled for several: 4,096 at
    // 15,000/s per connection (60,000/s over 4) rides out ~270 ms of broker stall, and
    // costs rumqttc one `Option<Publish>` slot (~100 bytes) per packet id.
    inflight: 4_096,
    // Fixes queued between the publish task and the event loop. At 15,000/s per
    // connection that is about half a second: enough to absorb a stall of the event loop
    // task, small enough (~2 MB of ~250-byte requests) that a broker falling behind
    // pushes back on the publisher at once instead of piling up memory.
    request_cap: 8_192,
};

/// What a caller can add to a load run beyond [`LoadOptions`] (kept apart so that the
/// options stay a plain struct literal everywhere they are built).
#[derive(Debug, Clone, Default)]
pub struct LoadExtras {
    /// Stop each device after this many fixes (the run ends when every device has
    /// published them, or at `duration`, whichever comes first): an exact total of
    /// `devices × fixes_per_device`, e.g. a backlog of a known size.
    pub fixes_per_device: Option<u64>,
    /// Live totals over all connections, updated every [`COUNTERS_EVERY`] and once
    /// more at the end, for a caller that watches the run while it goes.
    pub counters: Option<Arc<LoadCounters>>,
    /// Where each device is at each fix (e.g. on its assigned route), instead of
    /// the random walk around Humen.
    pub track: Option<fleet::Track>,
}

/// Running totals of a load (see [`LoadExtras::counters`]).
#[derive(Debug, Default)]
pub struct LoadCounters {
    /// Fixes handed to the MQTT clients so far.
    pub published: AtomicU64,
    /// Fixes the broker has acknowledged so far.
    pub acknowledged: AtomicU64,
}

/// How often [`LoadCounters`] are refreshed: fine enough to time a catch-up to a tenth
/// of a second, cheap (a handful of atomic loads).
pub const COUNTERS_EVERY: Duration = Duration::from_millis(20);

/// Runs a load: connects, publishes for `opts.duration` (or until `cancel`), drains the
/// acknowledgements, disconnects. A connection that fails mid-run fails the whole run.
pub async fn run_load(
    opts: &LoadOptions,
    cancel: CancellationToken,
) -> Result<LoadReport, LoadError> {
    run_load_with(opts, &LoadExtras::default(), cancel).await
}

/// [`run_load`] with [`LoadExtras`]: a per-device fix limit and live counters.
pub async fn run_load_with(
    opts: &LoadOptions,
    extras: &LoadExtras,
    cancel: CancellationToken,
) -> Result<LoadReport, LoadError> {
    let plan = Plan::check(opts)?;
    // Cancelled by the caller's token, or by any connection that fails.
    let stop = cancel.child_token();
    let mut conns = Vec::with_capacity(plan.connections as usize);
    for i in 0..plan.connections {
        let id = format!("{}-{}-p{i}", plan.prefix, std::process::id());
        let role = Role {
            publish_qos: plan.qos,
            received: None,
            suback: None,
        };
        let opened = tokio::select! {
            c = Connection::open(&opts.broker, id, PUBLISH_TUNING, role, stop.clone()) => c,
            _ = stop.cancelled() => break,
        };
        match opened {
            Ok(c) => conns.push(c),
            Err(e) => {
                close_all(conns).await.ok();
                return Err(e);
            }
        }
    }

    let start = Instant::now();
    let stats: Vec<Arc<ConnStats>> = conns.iter().map(|c| c.stats.clone()).collect();
    let progress_stop = CancellationToken::new();
    if opts.progress {
        tokio::spawn(progress(stats.clone(), start, progress_stop.clone()));
    }
    if let Some(counters) = &extras.counters {
        tokio::spawn(share_counters(
            stats.clone(),
            counters.clone(),
            progress_stop.clone(),
        ));
    }
    let mut lanes = JoinSet::new();
    for (i, c) in conns.iter().enumerate() {
        let mut lane = plan.lane(opts, i as u32, c, extras.fixes_per_device);
        lane.fleet = lane.fleet.with_track(extras.track.clone());
        lanes.spawn(publisher::publish_loop(
            lane,
            start + opts.duration,
            stop.clone(),
        ));
    }
    let mut published = Published::default();
    let mut task_error = None;
    while let Some(joined) = lanes.join_next().await {
        match joined {
            Ok(p) => published = merge(published, p),
            Err(e) => task_error = task_error.or(Some(e)),
        }
    }

    let acknowledged = drain(&stats, published.count, &cancel, &stop).await;
    let elapsed = start.elapsed();
    progress_stop.cancel();
    if let Some(counters) = &extras.counters {
        store_counters(&stats, counters);
    }
    close_all(conns).await?;
    if let Some(e) = task_error {
        return Err(e.into());
    }
    let to_ts = |ms: Option<i64>| ms.and_then(DateTime::from_timestamp_millis);
    Ok(LoadReport {
        published: published.count,
        acknowledged,
        elapsed,
        rate: per_second(acknowledged, elapsed),
        first_ts: to_ts(published.first_ms),
        last_ts: to_ts(published.last_ms),
    })
}

/// `count / elapsed`, 0 for no time.
fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// Options checked and resolved into what the run needs.
struct Plan {
    qos: QoS,
    connections: u32,
    prefix: String,
}

impl Plan {
    fn check(opts: &LoadOptions) -> Result<Self, LoadError> {
        let invalid = |m: String| Err(LoadError::InvalidOptions(m));
        let org_ok = (1..=32).contains(&opts.org.len())
            && opts
                .org
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !org_ok {
            return invalid(format!("org {:?} must match [a-z0-9-]{{1,32}}", opts.org));
        }
        if !(1..=MAX_DEVICES).contains(&opts.devices) {
            return invalid(format!("devices must be 1..={MAX_DEVICES}"));
        }
        if !(1..=MAX_CONNECTIONS).contains(&opts.connections) {
            return invalid(format!("connections must be 1..={MAX_CONNECTIONS}"));
        }
        if opts.duration > MAX_DURATION {
            return invalid(format!("duration must be at most {MAX_DURATION:?}"));
        }
        if opts.rate == 0 {
            return invalid("rate must be at least 1 fix/s".into());
        }
        if u64::from(opts.rate) > u64::from(opts.devices) * 1_000 {
            return invalid(format!(
                "rate {} over {} devices is more than 1,000 fixes/s per device, so their \
                 timestamps could not stay 1 ms apart; add devices",
                opts.rate, opts.devices
            ));
        }
        let qos = match opts.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            q => return invalid(format!("qos {q} is not 0, 1 or 2")),
        };
        let prefix = match opts.broker.client_id_prefix.trim() {
            "" => "sweepwatch-load".to_owned(),
            p => p.to_owned(),
        };
        Ok(Self {
            qos,
            connections: opts.connections.min(opts.devices),
            prefix,
        })
    }

    /// Connection `i` publishes for devices `i+1`, `i+1+connections`, ... at their share
    /// of the rate, so every device publishes at the same rate.
    /// With `per_device`, the lane stops after that many fixes of each of its devices
    /// (round robin, so every device gets exactly that many).
    fn lane(&self, opts: &LoadOptions, i: u32, conn: &Connection, per_device: Option<u64>) -> Lane {
        let numbers = (i + 1..=opts.devices).step_by(self.connections as usize);
        let seed = opts.seed ^ u64::from(i).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let fleet = Fleet::new(&opts.org, numbers, seed);
        let share = fleet.len() as f64 / f64::from(opts.devices);
        let limit = per_device.map_or(u64::MAX, |n| n.saturating_mul(fleet.len() as u64));
        Lane {
            client: conn.client.clone(),
            stats: conn.stats.clone(),
            fleet,
            rate: f64::from(opts.rate) * share,
            qos: self.qos,
            limit,
        }
    }
}

fn merge(a: Published, b: Published) -> Published {
    let pick = |x: Option<i64>, y: Option<i64>, f: fn(i64, i64) -> i64| match (x, y) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    };
    Published {
        count: a.count + b.count,
        first_ms: pick(a.first_ms, b.first_ms, i64::min),
        last_ms: pick(a.last_ms, b.last_ms, i64::max),
    }
}

fn acked(stats: &[Arc<ConnStats>]) -> u64 {
    stats.iter().map(|s| s.acked.load(Ordering::Relaxed)).sum()
}

/// Waits until `published` fixes are acknowledged, a connection fails, or the drain
/// deadline passes; returns the acknowledged count.
async fn drain(
    stats: &[Arc<ConnStats>],
    published: u64,
    cancel: &CancellationToken,
    stop: &CancellationToken,
) -> u64 {
    let within = if cancel.is_cancelled() {
        CANCEL_DRAIN_TIMEOUT
    } else {
        DRAIN_TIMEOUT
    };
    let deadline = Instant::now() + within;
    loop {
        let n = acked(stats);
        // `stop` without `cancel` means a connection failed: its acks will not come.
        let failed = stop.is_cancelled() && !cancel.is_cancelled();
        if n >= published || failed || Instant::now() >= deadline {
            if n < published && !failed {
                tracing::warn!(
                    published,
                    acknowledged = n,
                    "not every publish was acknowledged"
                );
            }
            return n;
        }
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// Closes every connection; returns the first error any of them failed with.
async fn close_all(conns: Vec<Connection>) -> Result<(), LoadError> {
    let mut first = None;
    for c in conns {
        let name = c.name().to_owned();
        if let Err(e) = c.close(CLOSE_TIMEOUT).await {
            tracing::debug!(connection = %name, error = %e, "connection ended with an error");
            first = first.or(Some(e));
        }
    }
    first.map_or(Ok(()), Err)
}

fn store_counters(stats: &[Arc<ConnStats>], counters: &LoadCounters) {
    let published = stats.iter().map(|s| s.published.load(Ordering::Relaxed));
    counters.published.store(published.sum(), Ordering::Relaxed);
    counters.acknowledged.store(acked(stats), Ordering::Relaxed);
}

/// Copies the connections' totals into `counters` every [`COUNTERS_EVERY`] until `stop`.
async fn share_counters(
    stats: Vec<Arc<ConnStats>>,
    counters: Arc<LoadCounters>,
    stop: CancellationToken,
) {
    let mut ticker = tokio::time::interval(COUNTERS_EVERY);
    loop {
        store_counters(&stats, &counters);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
    }
}

/// One line a second on stderr until `stop`.
async fn progress(stats: Vec<Arc<ConnStats>>, start: Instant, stop: CancellationToken) {
    let mut ticker =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    let mut last = (start, 0u64);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let published: u64 = stats
            .iter()
            .map(|s| s.published.load(Ordering::Relaxed))
            .sum();
        let acknowledged = acked(&stats);
        let rate = per_second(acknowledged.saturating_sub(last.1), now - last.0);
        last = (now, acknowledged);
        eprintln!(
            "load: {:.1}s published {published} acked {acknowledged} ({rate:.0}/s)",
            (now - start).as_secs_f64()
        );
    }
}
