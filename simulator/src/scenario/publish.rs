//! Publishing a plan to a broker, paced by the clock: QoS 1, one connection per device
//! (each with its last will) or a few shared ones, then wait for every PUBACK.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use geofence::scenario::ScenarioFile;
use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, Packet, QoS};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::options::{Connections, ScenarioRun};
use super::payload::status_json;
use super::planner::{Planner, start_of};
use super::{Counts, RunReport, SimError};
use crate::mqtt::{self, BrokerOptions, Tuning, redact_url};
use crate::terminal::{Terminals, terminal_phones};

/// Simulated time planned at once: small enough to keep a whole city's minute in memory
/// (a few thousand messages), large enough that planning is not the bottleneck.
const WINDOW: Duration = Duration::from_secs(60);
/// Wait for the broker's CONNACK at most this long (rumqttc's own timeout is 5 s).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections opened at the same time: a city's devices connect in seconds without a
/// TLS handshake storm.
const CONNECT_PARALLEL: usize = 32;
/// How long to wait for outstanding PUBACKs at the end (2 s after a cancellation).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
const CANCEL_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A device connection publishes a few messages a second at most; a shared one carries
/// many devices (and a replay at high speed), so it gets a wide window.
const DEVICE_TUNING: Tuning = Tuning {
    inflight: 100,
    request_cap: 64,
};
const SHARED_TUNING: Tuning = Tuning {
    inflight: 1_000,
    request_cap: 2_048,
};

/// Publishes the run described by `file` and `opts` until its end or `cancel`.
pub async fn run_scenario(
    file: &ScenarioFile,
    opts: &ScenarioRun,
    cancel: CancellationToken,
) -> Result<RunReport, SimError> {
    let start = start_of(&opts.clock, Utc::now());
    let mut planner = Planner::new(file, opts, start)?;
    let org = file.org.id.clone();
    let (ids, mut terminals) = split_terminals(file, opts, planner.device_ids(), start);
    let stop = cancel.child_token();
    let acked = Arc::new(AtomicU64::new(0));
    let (conns, route) =
        connect_all(&opts.broker, &org, &ids, opts.connections, &acked, &stop).await?;

    let speed = opts.clock.speed();
    let wall0 = Instant::now();
    let mut counts = Counts::default();
    let (mut published, mut first_at, mut last_at) = (0u64, None, None);
    'run: while let Some(batch) = planner.next_window(WINDOW) {
        for m in batch {
            let sim = (m.at - start).as_seconds_f64().max(0.0);
            let due = wall0 + Duration::from_secs_f64(sim / speed);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.cancelled() => break 'run,
            }
            if let Some(t) = terminals.as_mut().filter(|t| t.has(&m.device)) {
                counts.add(&m);
                tokio::select! {
                    r = t.send(&m) => r?,
                    _ = stop.cancelled() => break 'run,
                }
                continue;
            }
            let Some(&c) = route.get(m.device.as_str()) else {
                continue;
            };
            counts.add(&m);
            let ok = tokio::select! {
                r = conns[c].client.publish(m.topic, QoS::AtLeastOnce, m.retain, m.payload) => r.is_ok(),
                _ = stop.cancelled() => false,
            };
            if !ok {
                break 'run;
            }
            published += 1;
            first_at = first_at.or(Some(m.at));
            last_at = Some(m.at);
        }
    }
    let cancelled = cancel.is_cancelled();
    if let Some(path) = &opts.truth {
        if !planner.finished() {
            planner.close(last_at.unwrap_or(start));
        }
        write_truth(path, &planner)?;
    }
    let terminals = match terminals {
        Some(t) => Some(t.finish().await?),
        None => None,
    };
    let acknowledged = drain(&acked, published, cancelled, &stop).await;
    let elapsed = wall0.elapsed();
    let failure = close_all(conns).await;
    if let Some(e) = failure.filter(|_| !cancelled) {
        return Err(e);
    }
    Ok(RunReport {
        counts,
        published,
        acknowledged,
        start,
        end: planner.end(),
        first_at,
        last_at,
        elapsed,
        cancelled,
        terminals,
    })
}

/// The devices that publish on MQTT, and the terminals (a share of the
/// vehicles) when the run has JT/T 808 terminals.
fn split_terminals(
    file: &ScenarioFile,
    opts: &ScenarioRun,
    ids: Vec<String>,
    start: chrono::DateTime<Utc>,
) -> (Vec<String>, Option<Terminals>) {
    let Some(t) = &opts.terminals else {
        return (ids, None);
    };
    let phones = terminal_phones(file, &ids, t.share);
    for (device, phone) in &phones {
        tracing::info!(device, phone = phone.as_str(), "JT/T 808 terminal");
    }
    let mqtt = ids
        .into_iter()
        .filter(|d| !phones.contains_key(d))
        .collect();
    (mqtt, Some(Terminals::start(t, &phones, start)))
}

/// Writes the run's ground truth (see [`crate::quality::truth`]).
fn write_truth(path: &std::path::Path, planner: &Planner) -> Result<(), SimError> {
    std::fs::write(path, planner.truth().to_jsonl()).map_err(|source| SimError::WriteTruth {
        path: path.display().to_string(),
        source,
    })
}

struct Conn {
    name: String,
    client: AsyncClient,
    driver: JoinHandle<Result<(), SimError>>,
}

type Route = HashMap<String, usize>;

/// Opens the connections and says which device publishes on which.
async fn connect_all(
    broker: &BrokerOptions,
    org: &str,
    ids: &[String],
    mode: Connections,
    acked: &Arc<AtomicU64>,
    stop: &CancellationToken,
) -> Result<(Vec<Conn>, Route), SimError> {
    let prefix = match broker.client_id_prefix.trim() {
        "" => "sweepwatch-sim".to_owned(),
        p => p.to_owned(),
    };
    let pid = std::process::id();
    let specs: Vec<(String, Option<LastWill>, Tuning)> = match mode {
        Connections::PerDevice => ids
            .iter()
            .map(|id| {
                let topic = format!("sweepwatch/v1/{org}/{id}/status");
                let will = LastWill::new(topic, status_json(false), QoS::AtLeastOnce, true);
                (format!("{prefix}-{pid}-{id}"), Some(will), DEVICE_TUNING)
            })
            .collect(),
        Connections::Shared(n) => (0..n.clamp(1, ids.len().max(1) as u32))
            .map(|i| (format!("{prefix}-{pid}-s{i}"), None, SHARED_TUNING))
            .collect(),
    };
    let n = specs.len();
    let mut slots: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut pending = specs.into_iter().enumerate();
    let mut tasks = JoinSet::new();
    let mut failure = None;
    loop {
        while tasks.len() < CONNECT_PARALLEL && failure.is_none() {
            let Some((i, (name, will, tuning))) = pending.next() else {
                break;
            };
            let (broker, acked, stop) = (broker.clone(), acked.clone(), stop.clone());
            tasks.spawn(async move { (i, open(&broker, name, will, tuning, acked, stop).await) });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok((i, Ok(c))) => slots[i] = Some(c),
            Ok((_, Err(e))) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(e.into())),
        }
        if stop.is_cancelled() && failure.is_none() {
            failure = Some(SimError::InvalidOptions(
                "cancelled while connecting".into(),
            ));
        }
    }
    let conns: Vec<Conn> = slots.into_iter().flatten().collect();
    if let Some(e) = failure {
        close_all(conns).await;
        return Err(e);
    }
    let route = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), i % n.max(1)))
        .collect();
    Ok((conns, route))
}

async fn open(
    broker: &BrokerOptions,
    name: String,
    will: Option<LastWill>,
    tuning: Tuning,
    acked: Arc<AtomicU64>,
    stop: CancellationToken,
) -> Result<Conn, SimError> {
    let mut options = mqtt::mqtt_options(broker, &name, tuning)?;
    if let Some(w) = will {
        options.set_last_will(w);
    }
    let (client, mut eventloop) = AsyncClient::new(options, tuning.request_cap);
    let url = redact_url(&broker.url);
    let (tx, rx) = oneshot::channel::<Result<(), ConnectionError>>();
    let (task_url, task_name) = (url.clone(), name.clone());
    let driver = tokio::spawn(async move {
        let mut connected = Some(tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(Ok(()));
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    if let Some(tx) = connected.take() {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                    if matches!(e, ConnectionError::RequestsDone) {
                        return Ok(());
                    }
                    tracing::warn!(connection = %task_name, error = %e, "MQTT connection failed");
                    stop.cancel();
                    return Err(SimError::ConnectionLost {
                        url: task_url,
                        connection: task_name,
                        reason: e.to_string(),
                    });
                }
            }
        }
    });
    let reason = match tokio::time::timeout(CONNECT_TIMEOUT, rx).await {
        Ok(Ok(Ok(()))) => None,
        Ok(Ok(Err(e))) => Some(e.to_string()),
        Ok(Err(_)) => Some("the connection task ended".to_owned()),
        Err(_) => Some(format!("no CONNACK within {CONNECT_TIMEOUT:?}")),
    };
    if let Some(reason) = reason {
        driver.abort();
        return Err(SimError::Connect { url, reason });
    }
    Ok(Conn {
        name,
        client,
        driver,
    })
}

/// Waits until `published` messages are acknowledged, a connection fails or the
/// deadline passes; returns the count acknowledged.
async fn drain(
    acked: &AtomicU64,
    published: u64,
    cancelled: bool,
    stop: &CancellationToken,
) -> u64 {
    let within = if cancelled {
        CANCEL_DRAIN_TIMEOUT
    } else {
        DRAIN_TIMEOUT
    };
    let deadline = Instant::now() + within;
    loop {
        let n = acked.load(Ordering::Relaxed);
        let failed = stop.is_cancelled() && !cancelled;
        if n >= published || failed || Instant::now() >= deadline {
            if n < published && !cancelled {
                tracing::warn!(
                    published,
                    acknowledged = n,
                    "not every publish was acknowledged"
                );
            }
            return n;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Disconnects every connection (bounded); returns the first failure any of them had.
async fn close_all(conns: Vec<Conn>) -> Option<SimError> {
    const CLOSE: Duration = Duration::from_secs(5);
    let mut first = None;
    for mut c in conns {
        if !c.driver.is_finished() {
            let _ = tokio::time::timeout(CLOSE, c.client.disconnect()).await;
        }
        match tokio::time::timeout(CLOSE, &mut c.driver).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => first = first.or(Some(e)),
            Ok(Err(e)) => first = first.or(Some(SimError::Task(e))),
            Err(_) => {
                tracing::warn!(connection = %c.name, "MQTT event loop did not stop; aborting it");
                c.driver.abort();
            }
        }
    }
    first
}
