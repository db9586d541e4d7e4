//! A subscriber that only counts, and the broker-only ceiling: a load run with nothing
//! but that subscriber consuming it, i.e. what the broker alone delivers on this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{QoS, SubscribeReasonCode};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::{CONNECT_TIMEOUT, Connection, Role};
use super::{
    CANCEL_DRAIN_TIMEOUT, CLOSE_TIMEOUT, DRAIN_POLL, DRAIN_TIMEOUT, LoadError, LoadOptions,
    LoadReport, Plan, per_second, run_load,
};
use crate::mqtt::{BrokerOptions, Tuning, redact_url};

/// What a counting subscriber subscribes to.
#[derive(Debug, Clone)]
pub struct CountOptions {
    pub broker: BrokerOptions,
    /// An MQTT topic filter, e.g. `sweepwatch/v1/humen/+/fix`.
    pub filter: String,
    /// 0, 1 or 2; incoming QoS 1/2 messages are acknowledged automatically.
    pub qos: u8,
}

/// The broker-only ceiling: a load run and what a lone subscriber received of it.
#[derive(Debug, Clone, PartialEq)]
pub struct CeilingReport {
    pub load: LoadReport,
    /// Messages the counting subscriber received.
    pub received: u64,
    /// From just before the load connected until the subscriber had received them all
    /// (or the drain deadline).
    pub elapsed: Duration,
    /// `received / elapsed`, per second.
    pub received_rate: f64,
}

/// A subscribed counting subscriber, running until its cancellation token fires.
pub struct CountHandle {
    conn: Connection,
    cancel: CancellationToken,
    failed: CancellationToken,
}

/// A subscriber's connection tuning: it publishes nothing, and rumqttc writes automatic
/// PUBACKs itself rather than through the request channel, which so carries only the
/// SUBSCRIBE and the DISCONNECT.
const COUNT_TUNING: Tuning = Tuning {
    inflight: 100,
    request_cap: 16,
};

/// Connects, subscribes to `opts.filter` and returns once the broker has granted the
/// subscription: from then on every message on the filter increments `counter`.
pub async fn start_count_subscriber(
    opts: &CountOptions,
    cancel: CancellationToken,
    counter: Arc<AtomicU64>,
) -> Result<CountHandle, LoadError> {
    let qos = match opts.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        q => {
            return Err(LoadError::InvalidOptions(format!(
                "qos {q} is not 0, 1 or 2"
            )));
        }
    };
    let prefix = match opts.broker.client_id_prefix.trim() {
        "" => "sweepwatch-count",
        p => p,
    };
    let id = format!("{prefix}-{}-count", std::process::id());
    let (suback_tx, suback_rx) = oneshot::channel();
    let role = Role {
        publish_qos: QoS::AtMostOnce,
        received: Some(counter),
        suback: Some(suback_tx),
    };
    let failed = CancellationToken::new();
    let conn = Connection::open(&opts.broker, id, COUNT_TUNING, role, failed.clone()).await?;
    let url = redact_url(&opts.broker.url);
    let refused = || LoadError::SubscribeRefused {
        url: url.clone(),
        filter: opts.filter.clone(),
    };
    let subscribed = async {
        conn.client
            .subscribe(opts.filter.clone(), qos)
            .await
            .map_err(|_| refused())?;
        let ack = tokio::select! {
            ack = tokio::time::timeout(CONNECT_TIMEOUT, suback_rx) => ack,
            _ = failed.cancelled() => return Err(refused()),
        };
        match ack {
            Ok(Ok(ack)) if !ack.return_codes.contains(&SubscribeReasonCode::Failure) => Ok(()),
            Ok(_) => Err(refused()),
            Err(_) => Err(LoadError::ConnectTimeout {
                url: url.clone(),
                after: CONNECT_TIMEOUT,
            }),
        }
    }
    .await;
    if let Err(e) = subscribed {
        // The connection's own error, if it failed, says more than "refused".
        return Err(conn.close(CLOSE_TIMEOUT).await.err().unwrap_or(e));
    }
    Ok(CountHandle {
        conn,
        cancel,
        failed,
    })
}

impl CountHandle {
    /// Whether the subscriber's connection has failed.
    pub fn has_failed(&self) -> bool {
        self.failed.is_cancelled()
    }

    /// Counts until the cancellation token fires (then disconnects) or the connection
    /// fails (then returns its error).
    pub async fn join(self) -> Result<(), LoadError> {
        tokio::select! {
            _ = self.cancel.cancelled() => {}
            _ = self.failed.cancelled() => {}
        }
        self.conn.close(CLOSE_TIMEOUT).await
    }
}

/// Counts every message on `opts.filter` into `counter` until `cancel`.
pub async fn count_subscriber(
    opts: &CountOptions,
    cancel: CancellationToken,
    counter: Arc<AtomicU64>,
) -> Result<(), LoadError> {
    start_count_subscriber(opts, cancel, counter)
        .await?
        .join()
        .await
}

/// Subscribes a counting subscriber to the load's fix topics, runs [`run_load`], and
/// waits (bounded) until the subscriber has received every published fix.
pub async fn run_broker_ceiling(
    load: &LoadOptions,
    cancel: CancellationToken,
) -> Result<CeilingReport, LoadError> {
    Plan::check(load)?;
    let counter = Arc::new(AtomicU64::new(0));
    let sub_cancel = cancel.child_token();
    let count = CountOptions {
        broker: load.broker.clone(),
        filter: format!("sweepwatch/v1/{}/+/fix", load.org),
        qos: load.qos,
    };
    let handle = start_count_subscriber(&count, sub_cancel.clone(), counter.clone()).await?;
    let start = Instant::now();
    let report = match run_load(load, cancel.clone()).await {
        Ok(r) => r,
        Err(e) => {
            sub_cancel.cancel();
            let _ = handle.join().await;
            return Err(e);
        }
    };
    let within = if cancel.is_cancelled() {
        CANCEL_DRAIN_TIMEOUT
    } else {
        DRAIN_TIMEOUT
    };
    let deadline = Instant::now() + within;
    let mut seen = (counter.load(Ordering::Relaxed), Instant::now());
    while seen.0 < report.published && !handle.has_failed() && Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
        let n = counter.load(Ordering::Relaxed);
        if n != seen.0 {
            seen = (n, Instant::now());
        }
    }
    sub_cancel.cancel();
    handle.join().await?;
    let received = counter.load(Ordering::Relaxed);
    let elapsed = seen.1 - start;
    Ok(CeilingReport {
        load: report,
        received,
        elapsed,
        received_rate: per_second(received, elapsed),
    })
}
